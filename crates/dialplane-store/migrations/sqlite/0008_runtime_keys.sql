-- A third key scope, `runtime`, for voice runtimes. SQLite cannot change a CHECK constraint in
-- place: the table is made again with the new one and its rows copied (same columns, same order).
CREATE TABLE api_keys_new (
    key_id      TEXT PRIMARY KEY NOT NULL,
    key_hash    BLOB NOT NULL UNIQUE,
    workspace   TEXT NOT NULL,
    scope       TEXT NOT NULL CHECK (scope IN ('read', 'write', 'runtime')),
    user_id     TEXT NOT NULL,
    user_email  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT,
    expires_at  TEXT
);

INSERT INTO api_keys_new (key_id, key_hash, workspace, scope, user_id, user_email, created_at,
                          revoked_at, expires_at)
SELECT key_id, key_hash, workspace, scope, user_id, user_email, created_at, revoked_at, expires_at
FROM api_keys;

DROP TABLE api_keys;
ALTER TABLE api_keys_new RENAME TO api_keys;

-- dialplane's SQLite schema. Migrations are add-only: never edit a released one.

CREATE TABLE api_keys (
    key_id      TEXT PRIMARY KEY NOT NULL,
    key_hash    BLOB NOT NULL UNIQUE,
    workspace   TEXT NOT NULL,
    scope       TEXT NOT NULL CHECK (scope IN ('read', 'write')),
    user_id     TEXT NOT NULL,
    user_email  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);

CREATE TABLE agents (
    workspace    TEXT NOT NULL,
    agent_id     TEXT NOT NULL,
    name         TEXT NOT NULL,
    name_folded  TEXT NOT NULL,
    direction    TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    revision     INTEGER NOT NULL,
    document     TEXT NOT NULL,
    PRIMARY KEY (workspace, agent_id)
);

CREATE INDEX agents_by_created_at ON agents (workspace, created_at, agent_id);
CREATE INDEX agents_by_name ON agents (workspace, name_folded, agent_id);

CREATE TABLE agent_tags (
    workspace  TEXT NOT NULL,
    agent_id   TEXT NOT NULL,
    tag        TEXT NOT NULL,
    PRIMARY KEY (workspace, tag, agent_id)
) WITHOUT ROWID;

CREATE INDEX agent_tags_by_agent ON agent_tags (workspace, agent_id);

CREATE TABLE agent_transfers (
    workspace  TEXT NOT NULL,
    agent_id   TEXT NOT NULL,
    target_id  TEXT NOT NULL,
    PRIMARY KEY (workspace, target_id, agent_id)
) WITHOUT ROWID;

CREATE INDEX agent_transfers_by_agent ON agent_transfers (workspace, agent_id);

CREATE TABLE idempotency_keys (
    workspace    TEXT NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    agent_id     TEXT NOT NULL,
    response     TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (workspace, key)
) WITHOUT ROWID;

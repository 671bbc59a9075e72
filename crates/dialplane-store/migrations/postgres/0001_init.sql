-- dialplane's PostgreSQL schema. Migrations are add-only: never edit a released one.
-- Sort keys use the "C" collation so that names and timestamps order exactly as on SQLite.

CREATE TABLE api_keys (
    key_id      TEXT PRIMARY KEY,
    key_hash    BYTEA NOT NULL UNIQUE,
    workspace   TEXT NOT NULL,
    scope       TEXT NOT NULL CHECK (scope IN ('read', 'write')),
    user_id     TEXT NOT NULL,
    user_email  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);

CREATE TABLE agents (
    workspace    TEXT NOT NULL,
    agent_id     TEXT COLLATE "C" NOT NULL,
    name         TEXT NOT NULL,
    name_folded  TEXT COLLATE "C" NOT NULL,
    direction    TEXT NOT NULL,
    created_at   TEXT COLLATE "C" NOT NULL,
    revision     BIGINT NOT NULL,
    document     JSONB NOT NULL,
    PRIMARY KEY (workspace, agent_id)
);

CREATE INDEX agents_by_created_at ON agents (workspace, created_at, agent_id);
CREATE INDEX agents_by_name ON agents (workspace, name_folded, agent_id);

CREATE TABLE agent_tags (
    workspace  TEXT NOT NULL,
    agent_id   TEXT NOT NULL,
    tag        TEXT NOT NULL,
    PRIMARY KEY (workspace, tag, agent_id)
);

CREATE INDEX agent_tags_by_agent ON agent_tags (workspace, agent_id);

CREATE TABLE agent_transfers (
    workspace  TEXT NOT NULL,
    agent_id   TEXT NOT NULL,
    target_id  TEXT NOT NULL,
    PRIMARY KEY (workspace, target_id, agent_id)
);

CREATE INDEX agent_transfers_by_agent ON agent_transfers (workspace, agent_id);

CREATE TABLE idempotency_keys (
    workspace    TEXT NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    agent_id     TEXT NOT NULL,
    response     TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (workspace, key)
);

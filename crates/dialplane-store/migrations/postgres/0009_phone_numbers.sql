-- A workspace's phone numbers; a number belongs to one workspace of the whole server.
CREATE TABLE phone_numbers (
    phone_number_id TEXT PRIMARY KEY,
    workspace       TEXT NOT NULL,
    number          TEXT COLLATE "C" NOT NULL UNIQUE,
    provider        TEXT NOT NULL,
    label           TEXT NOT NULL,
    label_folded    TEXT NOT NULL,
    agent_id        TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    user_email      TEXT NOT NULL
);
CREATE INDEX phone_numbers_by_workspace ON phone_numbers (workspace, number);
CREATE INDEX phone_numbers_by_agent ON phone_numbers (workspace, agent_id, number);

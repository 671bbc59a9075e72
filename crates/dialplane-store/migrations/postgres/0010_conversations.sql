-- The calls voice runtimes record: the record whole in `document`, and beside it the columns the
-- list filters and sorts on, and the full-text vector of summary and transcript.
CREATE TABLE conversations (
    conversation_id TEXT COLLATE "C" PRIMARY KEY,
    workspace       TEXT NOT NULL,
    agent_id        TEXT NOT NULL,
    agent_name      TEXT NOT NULL,
    direction       TEXT NOT NULL,
    status          TEXT NOT NULL,
    start_time      BIGINT NOT NULL,
    end_time        BIGINT,
    duration        BIGINT,
    summary         TEXT NOT NULL,
    external_id     TEXT,
    contact_number  TEXT,
    created_at      TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    user_email      TEXT NOT NULL,
    revision        BIGINT NOT NULL,
    transcript_sent BOOLEAN NOT NULL,
    create_digest   TEXT,
    document        JSONB NOT NULL,
    search          tsvector GENERATED ALWAYS AS (
        to_tsvector('english', summary || ' ' || coalesce(document->>'transcript', ''))
    ) STORED
);
CREATE UNIQUE INDEX conversations_by_external ON conversations (workspace, external_id)
    WHERE external_id IS NOT NULL;
CREATE INDEX conversations_by_start ON conversations (workspace, start_time, conversation_id);
CREATE INDEX conversations_by_agent
    ON conversations (workspace, agent_id, start_time, conversation_id);
-- Retention deletes by age, across workspaces. BRIN, not a B-tree: a B-tree on start_time alone is
-- an order the planner would take for the list's pages too, filtering its way past other agents'
-- recent calls (measured: a first page filtered by agentId at 573 a second instead of 5 000).
CREATE INDEX conversations_by_age ON conversations USING BRIN (start_time);
CREATE INDEX conversations_by_contact
    ON conversations (workspace, contact_number, start_time, conversation_id);
CREATE INDEX conversations_search ON conversations USING GIN (search);

-- The calls voice runtimes record: the record whole in `document`, and beside it the columns the
-- list filters and sorts on. `seq` is the full-text index's rowid.
CREATE TABLE conversations (
    seq             INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL UNIQUE,
    workspace       TEXT NOT NULL,
    agent_id        TEXT NOT NULL,
    agent_name      TEXT NOT NULL,
    direction       TEXT NOT NULL,
    status          TEXT NOT NULL,
    start_time      INTEGER NOT NULL,
    end_time        INTEGER,
    duration        INTEGER,
    summary         TEXT NOT NULL,
    external_id     TEXT,
    contact_number  TEXT,
    created_at      TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    user_email      TEXT NOT NULL,
    revision        INTEGER NOT NULL,
    transcript_sent INTEGER NOT NULL,
    create_digest   TEXT,
    document        TEXT NOT NULL
);
CREATE UNIQUE INDEX conversations_by_external ON conversations (workspace, external_id)
    WHERE external_id IS NOT NULL;
CREATE INDEX conversations_by_start ON conversations (workspace, start_time, conversation_id);
CREATE INDEX conversations_by_agent
    ON conversations (workspace, agent_id, start_time, conversation_id);
-- Retention deletes by age, across workspaces.
CREATE INDEX conversations_by_age ON conversations (start_time);
CREATE INDEX conversations_by_contact
    ON conversations (workspace, contact_number, start_time, conversation_id);

-- Summary and transcript, searchable; the text itself is not kept twice (contentless: a row is
-- taken out by the 'delete' command with the values it was indexed with).
CREATE VIRTUAL TABLE conversations_fts USING fts5(
    summary, transcript, content = '',
    tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TRIGGER conversations_indexed AFTER INSERT ON conversations BEGIN
    INSERT INTO conversations_fts (rowid, summary, transcript)
    VALUES (new.seq, new.summary, json_extract(new.document, '$.transcript'));
END;

CREATE TRIGGER conversations_reindexed AFTER UPDATE OF document ON conversations BEGIN
    INSERT INTO conversations_fts (conversations_fts, rowid, summary, transcript)
    VALUES ('delete', old.seq, old.summary, json_extract(old.document, '$.transcript'));
    INSERT INTO conversations_fts (rowid, summary, transcript)
    VALUES (new.seq, new.summary, json_extract(new.document, '$.transcript'));
END;

CREATE TRIGGER conversations_unindexed AFTER DELETE ON conversations BEGIN
    INSERT INTO conversations_fts (conversations_fts, rowid, summary, transcript)
    VALUES ('delete', old.seq, old.summary, json_extract(old.document, '$.transcript'));
END;

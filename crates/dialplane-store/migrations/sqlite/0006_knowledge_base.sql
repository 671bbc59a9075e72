-- The knowledge base: groups, documents, their original bytes and extracted text, and the text cut
-- into passages with a full-text index (FTS5, bm25).

CREATE TABLE kb_groups (
    workspace    TEXT NOT NULL,
    group_id     TEXT NOT NULL,
    name         TEXT NOT NULL,
    name_folded  TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    user_email   TEXT NOT NULL,
    PRIMARY KEY (workspace, group_id)
);

CREATE UNIQUE INDEX kb_groups_by_name ON kb_groups (workspace, name_folded);

CREATE TABLE kb_documents (
    workspace       TEXT NOT NULL,
    document_id     TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('url', 'file')),
    name            TEXT NOT NULL,
    name_folded     TEXT NOT NULL,
    url             TEXT,
    file_type       TEXT,
    size_bytes      INTEGER NOT NULL,
    group_id        TEXT,
    status          TEXT NOT NULL CHECK (status IN ('processing', 'ready', 'failed')),
    status_message  TEXT,
    text_chars      INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    user_email      TEXT NOT NULL,
    PRIMARY KEY (workspace, document_id)
);

CREATE INDEX kb_documents_by_created_at ON kb_documents (workspace, created_at, document_id);
CREATE INDEX kb_documents_by_name ON kb_documents (workspace, name_folded, document_id);
CREATE INDEX kb_documents_by_group ON kb_documents (workspace, group_id);

-- Original bytes, in the same transaction as their document (the blob seam: see knowledge::blobs).
CREATE TABLE kb_blobs (
    workspace    TEXT NOT NULL,
    document_id  TEXT NOT NULL,
    content      BLOB NOT NULL,
    PRIMARY KEY (workspace, document_id)
);

CREATE TABLE kb_texts (
    workspace    TEXT NOT NULL,
    document_id  TEXT NOT NULL,
    text         TEXT NOT NULL,
    PRIMARY KEY (workspace, document_id)
);

-- `scope` is the passage's workspace and document as two tokens (`w<hex of the workspace>
-- d<document id>`), indexed beside the text: a search matches them in the index with the words, so
-- bm25 ranks one workspace's (or one agent's documents') passages without reading any other's.
CREATE TABLE kb_passages (
    passage_id   INTEGER PRIMARY KEY,
    workspace    TEXT NOT NULL,
    document_id  TEXT NOT NULL,
    ordinal      INTEGER NOT NULL,
    scope        TEXT NOT NULL,
    text         TEXT NOT NULL
);

CREATE INDEX kb_passages_by_document ON kb_passages (workspace, document_id);

CREATE VIRTUAL TABLE kb_passages_fts USING fts5(
    scope, text, content = 'kb_passages', content_rowid = 'passage_id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TRIGGER kb_passages_indexed AFTER INSERT ON kb_passages BEGIN
    INSERT INTO kb_passages_fts (rowid, scope, text) VALUES (new.passage_id, new.scope, new.text);
END;

CREATE TRIGGER kb_passages_unindexed AFTER DELETE ON kb_passages BEGIN
    INSERT INTO kb_passages_fts (kb_passages_fts, rowid, scope, text)
    VALUES ('delete', old.passage_id, old.scope, old.text);
END;

-- The documents each agent names (conversationConfig.agent.prompt.knowledgeBase), at the first
-- index it names each: what a delete of a document is checked against.
CREATE TABLE agent_documents (
    workspace    TEXT NOT NULL,
    agent_id     TEXT NOT NULL,
    document_id  TEXT NOT NULL,
    position     INTEGER NOT NULL,
    PRIMARY KEY (workspace, document_id, agent_id)
) WITHOUT ROWID;

CREATE INDEX agent_documents_by_agent ON agent_documents (workspace, agent_id);

INSERT OR IGNORE INTO agent_documents (workspace, agent_id, document_id, position)
SELECT a.workspace, a.agent_id, j.value, CAST(j.key AS INTEGER)
FROM agents a, json_each(a.document, '$.conversationConfig.agent.prompt.knowledgeBase') j
WHERE j.type = 'text'
ORDER BY CAST(j.key AS INTEGER);

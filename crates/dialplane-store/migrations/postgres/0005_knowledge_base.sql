-- The knowledge base: groups, documents, their original bytes and extracted text, and the text cut
-- into passages with a full-text index (tsvector, GIN).

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
    size_bytes      BIGINT NOT NULL,
    group_id        TEXT,
    status          TEXT NOT NULL CHECK (status IN ('processing', 'ready', 'failed')),
    status_message  TEXT,
    text_chars      BIGINT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    user_email      TEXT NOT NULL,
    PRIMARY KEY (workspace, document_id)
);

CREATE INDEX kb_documents_by_created_at ON kb_documents (workspace, created_at, document_id);
CREATE INDEX kb_documents_by_name ON kb_documents (workspace, name_folded, document_id);
CREATE INDEX kb_documents_by_group ON kb_documents (workspace, group_id);

CREATE TABLE kb_blobs (
    workspace    TEXT NOT NULL,
    document_id  TEXT NOT NULL,
    content      BYTEA NOT NULL,
    PRIMARY KEY (workspace, document_id)
);

CREATE TABLE kb_texts (
    workspace    TEXT NOT NULL,
    document_id  TEXT NOT NULL,
    text         TEXT NOT NULL,
    PRIMARY KEY (workspace, document_id)
);

CREATE TABLE kb_passages (
    passage_id   BIGSERIAL PRIMARY KEY,
    workspace    TEXT NOT NULL,
    document_id  TEXT NOT NULL,
    ordinal      INTEGER NOT NULL,
    text         TEXT NOT NULL,
    tsv          tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED
);

CREATE INDEX kb_passages_by_document ON kb_passages (workspace, document_id);
CREATE INDEX kb_passages_search ON kb_passages USING GIN (tsv);

-- The documents each agent names (conversationConfig.agent.prompt.knowledgeBase), at the first
-- index it names each: what a delete of a document is checked against.
CREATE TABLE agent_documents (
    workspace    TEXT NOT NULL,
    agent_id     TEXT NOT NULL,
    document_id  TEXT NOT NULL,
    position     INTEGER NOT NULL,
    PRIMARY KEY (workspace, document_id, agent_id)
);

CREATE INDEX agent_documents_by_agent ON agent_documents (workspace, agent_id);

INSERT INTO agent_documents (workspace, agent_id, document_id, position)
SELECT a.workspace, a.agent_id, e.value, CAST(e.ordinality - 1 AS INTEGER)
FROM agents a,
     jsonb_array_elements_text(
         CASE WHEN jsonb_typeof(a.document #> '{conversationConfig,agent,prompt,knowledgeBase}') = 'array'
              THEN a.document #> '{conversationConfig,agent,prompt,knowledgeBase}' ELSE '[]'::jsonb END
     ) WITH ORDINALITY AS e (value, ordinality)
ORDER BY e.ordinality
ON CONFLICT DO NOTHING;

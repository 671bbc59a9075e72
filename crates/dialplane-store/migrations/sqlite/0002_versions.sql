-- Version history: every stored change of an agent, immutable, numbered from 1 per agent.

CREATE TABLE agent_versions (
    workspace      TEXT NOT NULL,
    agent_id       TEXT NOT NULL,
    version        INTEGER NOT NULL,
    created_at     TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    user_email     TEXT NOT NULL,
    changed_paths  TEXT NOT NULL,
    restored_from  INTEGER,
    document       TEXT NOT NULL,
    PRIMARY KEY (workspace, agent_id, version)
);

-- Agents stored before history existed start it with their current state.
INSERT INTO agent_versions
SELECT workspace, agent_id, revision, json_extract(document, '$.metadata.updatedAt'),
       json_extract(document, '$.metadata.createdBy.userId'),
       json_extract(document, '$.metadata.createdBy.userEmail'), '[]', NULL, document
FROM agents;

-- Version history: every stored change of an agent, immutable, numbered from 1 per agent.

CREATE TABLE agent_versions (
    workspace      TEXT NOT NULL,
    agent_id       TEXT NOT NULL,
    version        BIGINT NOT NULL,
    created_at     TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    user_email     TEXT NOT NULL,
    changed_paths  JSONB NOT NULL,
    restored_from  BIGINT,
    document       JSONB NOT NULL,
    PRIMARY KEY (workspace, agent_id, version)
);

-- Agents stored before history existed start it with their current state.
INSERT INTO agent_versions
SELECT workspace, agent_id, revision, document->'metadata'->>'updatedAt',
       document->'metadata'->'createdBy'->>'userId',
       document->'metadata'->'createdBy'->>'userEmail', '[]'::jsonb, NULL, document
FROM agents;

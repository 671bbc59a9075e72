-- Each workspace's passages get rowids of a range of their own (its slot times 2^32, plus one for
-- each passage), so that a search finds the workspace's passages by a rowid range. A workspace
-- token in the FTS5 query did the same, but bm25 counts every passage that each phrase of the query
-- matches, and that phrase matched every passage of the workspace on every query.
CREATE TABLE kb_workspaces (
    slot       INTEGER PRIMARY KEY,
    workspace  TEXT NOT NULL UNIQUE
);

INSERT INTO kb_workspaces (workspace) SELECT DISTINCT workspace FROM kb_passages ORDER BY workspace;

UPDATE kb_passages
SET passage_id = (SELECT slot FROM kb_workspaces w WHERE w.workspace = kb_passages.workspace) * 4294967296
                 + passage_id;

INSERT INTO kb_passages_fts (kb_passages_fts) VALUES ('rebuild');

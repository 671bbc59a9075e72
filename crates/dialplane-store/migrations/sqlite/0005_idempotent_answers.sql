-- Idempotency keys for any route: the answer is kept as it was sent (status, headers, body), not as
-- an agent to render again. Keys recorded before (creates of agents) are carried over with the
-- answer they were given; the old table is no longer read.

CREATE TABLE idempotent_answers (
    workspace    TEXT NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    status       INTEGER NOT NULL,
    headers      TEXT NOT NULL,
    body         BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (workspace, key)
) WITHOUT ROWID;

CREATE INDEX idempotent_answers_by_created_at ON idempotent_answers (created_at);

INSERT INTO idempotent_answers (workspace, key, fingerprint, status, headers, body, created_at)
SELECT workspace, key, fingerprint, 201,
       json_array(json_array('content-type', 'application/json'),
                  json_array('etag', '"1"'),
                  json_array('location', '/api/public/v1/agents/' || agent_id)),
       CAST('{"success":true,"data":' || response || '}' AS BLOB),
       created_at
FROM idempotency_keys;

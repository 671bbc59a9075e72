-- The outbox proper: what a write's transaction stores of the webhook events it emitted, one row
-- for a batch of writes (a JSON array of events, each with its deliveries' ids and targets). The
-- events and deliveries tables are filled from it later, outside the writes that caused them
-- (`webhooks::unpack`), so that a write pays for one row with no index instead of two rows and
-- their five indexes. `deliveries` counts the deliveries in `body`; `created_at` is its oldest
-- event's time (Unix ms), for the pending metrics.
CREATE TABLE webhook_outbox (
    seq INTEGER PRIMARY KEY,
    created_at INTEGER NOT NULL,
    deliveries INTEGER NOT NULL,
    body TEXT NOT NULL
);

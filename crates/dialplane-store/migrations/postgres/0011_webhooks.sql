-- Webhooks: endpoints, the workspace secret for postCallWebhook URLs, the outbox of events, their
-- deliveries and every attempt. Times are Unix milliseconds.
CREATE TABLE webhook_secrets (
    workspace TEXT PRIMARY KEY,
    secrets TEXT NOT NULL
);

CREATE TABLE webhook_endpoints (
    workspace TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    -- The subscribed types, each between spaces: ' agent.updated conversation.completed '.
    event_types TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (workspace, endpoint_id)
);

CREATE TABLE webhook_events (
    event_id TEXT PRIMARY KEY,
    workspace TEXT NOT NULL,
    event_type TEXT NOT NULL,
    conversation_id TEXT,
    created_at BIGINT NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX webhook_events_by_conversation ON webhook_events (conversation_id)
    WHERE conversation_id IS NOT NULL;

CREATE TABLE webhook_deliveries (
    delivery_id TEXT PRIMARY KEY,
    workspace TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    endpoint_id TEXT,
    agent_id TEXT,
    url TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    max_attempts BIGINT NOT NULL,
    next_attempt_at BIGINT,
    last_status_code BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    first_attempt_at BIGINT,
    finished_at BIGINT,
    lease_token TEXT,
    lease_until BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_workspace ON webhook_deliveries (workspace, delivery_id);
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (event_id);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, status)
    WHERE endpoint_id IS NOT NULL;
CREATE INDEX webhook_deliveries_ended ON webhook_deliveries (finished_at)
    WHERE finished_at IS NOT NULL;

CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    at BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    status_code BIGINT,
    error TEXT,
    response_body TEXT,
    PRIMARY KEY (delivery_id, attempt)
);

//! The webhook statements both backends run as they are (`$N` parameters, numbered in order of
//! first appearance, which SQLite binds by position too), and reading a delivery from a row of
//! either driver.

use super::deliveries::{DeliveryStatus, StoredDelivery};
use crate::{parse_id, Result, StoreError};
use dialplane_core::webhooks::EventType;

pub const PUT_ENDPOINT: &str = "INSERT INTO webhook_endpoints
        (workspace, endpoint_id, enabled, event_types, document) VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (workspace, endpoint_id) DO UPDATE SET
        enabled = excluded.enabled, event_types = excluded.event_types, document = excluded.document";

pub const ENDPOINT: &str =
    "SELECT document FROM webhook_endpoints WHERE workspace = $1 AND endpoint_id = $2";

pub const DELETE_ENDPOINT: &str =
    "DELETE FROM webhook_endpoints WHERE workspace = $1 AND endpoint_id = $2";

pub const SUBSCRIBED: &str = "SELECT document FROM webhook_endpoints
    WHERE workspace = $1 AND enabled = 1 AND event_types LIKE $2 ORDER BY endpoint_id";

pub const ENABLED_ENDPOINTS: &str = "SELECT document FROM webhook_endpoints
    WHERE workspace = $1 AND enabled = 1 ORDER BY endpoint_id";

pub const WORKSPACE_SECRETS: &str = "SELECT secrets FROM webhook_secrets WHERE workspace = $1";

pub const PUT_WORKSPACE_SECRETS: &str = "INSERT INTO webhook_secrets (workspace, secrets)
    VALUES ($1, $2) ON CONFLICT (workspace) DO UPDATE SET secrets = excluded.secrets";

pub const INSERT_EVENT: &str = "INSERT INTO webhook_events
        (event_id, workspace, event_type, conversation_id, created_at, payload)
    VALUES ($1, $2, $3, $4, $5, $6)";

/// PostgreSQL: an event (`$1`…`$6` as [`INSERT_EVENT`]) and its deliveries (`$7`, a JSON array of
/// objects), one statement.
pub const INSERT_EVENT_WITH_DELIVERIES_PG: &str = "WITH event AS (INSERT INTO webhook_events
        (event_id, workspace, event_type, conversation_id, created_at, payload)
        VALUES ($1, $2, $3, $4, $5, $6))
    INSERT INTO webhook_deliveries (delivery_id, workspace, event_id, event_type, endpoint_id,
        agent_id, url, status, attempts, max_attempts, next_attempt_at, last_status_code,
        last_error, created_at, first_attempt_at, finished_at, lease_token, lease_until)
    SELECT delivery_id, workspace, event_id, event_type, endpoint_id, agent_id, url, status,
        attempts, max_attempts, next_attempt_at, last_status_code, last_error, created_at,
        first_attempt_at, finished_at, lease_token, lease_until
    FROM jsonb_to_recordset($7::jsonb) AS r(delivery_id text, workspace text, event_id text,
        event_type text, endpoint_id text, agent_id text, url text, status text, attempts bigint,
        max_attempts bigint, next_attempt_at bigint, last_status_code bigint, last_error text,
        created_at bigint, first_attempt_at bigint, finished_at bigint, lease_token text,
        lease_until bigint)";

/// An outbox row: `$1` its oldest event's time, `$2` its deliveries, `$3` its body
/// ([`super::unpack`]).
pub const LOG_EVENTS: &str =
    "INSERT INTO webhook_outbox (created_at, deliveries, body) VALUES ($1, $2, $3)";

/// PostgreSQL: an outbox row of one event (`$1`…`$6` as [`INSERT_EVENT`]) with a pending delivery
/// of `$8` attempts to each enabled endpoint of its workspace whose types match `$7`
/// ([`subscribed_pattern`]), and nothing if none does: the fan-out and the outbox in one
/// statement, in the shape [`super::unpack`] reads. A delivery's id is a UUIDv7 of the event's
/// creation time (`$5`), made the way `uuid_generate_v7` snippets make it: a random UUID with the
/// time over its first 48 bits and the version nibble set to 7.
pub const LOG_EVENT_FOR_SUBSCRIBERS_PG: &str = "WITH subscribed AS (
        SELECT endpoint_id, document::jsonb ->> 'url' AS url FROM webhook_endpoints
        WHERE workspace = $2 AND enabled = 1 AND event_types LIKE $7)
    INSERT INTO webhook_outbox (created_at, deliveries, body)
    SELECT $5, count(*), json_build_array(json_build_object('id', $1::text, 'ws', $2::text,
        'type', $3::text, 'conv', $4::text, 'at', $5::bigint, 'n', $8::bigint, 'payload', $6::json,
        'to', json_agg(json_build_object(
            'id', encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
                PLACING substring(int8send($5::bigint) FROM 3) FROM 1 FOR 6), 52, 1), 53, 1),
                'hex')::uuid::text,
            'endpoint', endpoint_id, 'url', url))))::text
    FROM subscribed HAVING count(*) > 0";

/// SQLite: takes up to `$2` outbox rows, oldest first, none after `$1`: their bodies (SQLite
/// numbers the arguments in the order they first appear).
pub const UNPACK_OUTBOX_SQLITE: &str = "DELETE FROM webhook_outbox WHERE seq IN
    (SELECT seq FROM webhook_outbox WHERE seq <= $1 ORDER BY seq LIMIT $2) RETURNING body";

/// PostgreSQL: takes up to `$2` outbox rows, oldest first, none after `$1`, and stores their
/// events and deliveries, in one statement: the deliveries stored. It waits for rows another
/// instance is unpacking (and then finds them gone). The `json` type keeps each payload's text as it was written, byte for byte.
pub const UNPACK_OUTBOX_PG: &str = "WITH taken AS (
        DELETE FROM webhook_outbox WHERE seq IN (SELECT seq FROM webhook_outbox WHERE seq <= $1
            ORDER BY seq LIMIT $2 FOR UPDATE) RETURNING body),
    entries AS (SELECT e FROM taken, json_array_elements(body::json) AS e),
    events AS (INSERT INTO webhook_events
        (event_id, workspace, event_type, conversation_id, created_at, payload)
        SELECT e->>'id', e->>'ws', e->>'type', e->>'conv', (e->>'at')::bigint, (e->'payload')::text
        FROM entries)
    INSERT INTO webhook_deliveries (delivery_id, workspace, event_id, event_type, endpoint_id,
        agent_id, url, status, attempts, max_attempts, next_attempt_at, created_at)
    SELECT d->>'id', e->>'ws', e->>'id', e->>'type', d->>'endpoint', d->>'agent', d->>'url',
        'pending', 0, (e->>'n')::bigint, (e->>'at')::bigint, (e->>'at')::bigint
    FROM entries, json_array_elements(e->'to') AS d";

/// The newest outbox row's number (NULL if there is none).
pub const OUTBOX_LAST: &str = "SELECT MAX(seq) FROM webhook_outbox";

/// The number of the outbox row with which its oldest rows make `$1` deliveries or more (the
/// newest row if they make fewer in all; NULL if there is none): the last row a claim of `$1`
/// unpacks.
pub const OUTBOX_LAST_OF: &str = "SELECT MAX(seq) FROM (
        SELECT seq, SUM(deliveries) OVER (ORDER BY seq) - deliveries AS before
        FROM (SELECT seq, deliveries FROM webhook_outbox ORDER BY seq LIMIT $1) AS oldest) AS counted
    WHERE before < $1";

/// Whether the outbox holds a row numbered `$1` or before.
pub const OUTBOX_WAITING: &str = "SELECT seq FROM webhook_outbox WHERE seq <= $1 LIMIT 1";

/// Whether the outbox holds a row at all.
pub const OUTBOX_ANY: &str = "SELECT seq FROM webhook_outbox LIMIT 1";

pub const EVENT_PAYLOAD: &str = "SELECT payload FROM webhook_events WHERE event_id = $1";

pub const DELIVERY_COLUMNS: &str = "delivery_id, workspace, event_id, event_type, endpoint_id, \
    agent_id, url, status, attempts, max_attempts, next_attempt_at, last_status_code, last_error, \
    created_at, first_attempt_at, finished_at, lease_token, lease_until";

/// How many columns [`DELIVERY_COLUMNS`] names.
pub const DELIVERY_COLUMN_COUNT: usize = 18;

pub const PUT_DELIVERY: &str = "INSERT INTO webhook_deliveries (delivery_id, workspace, event_id,
        event_type, endpoint_id, agent_id, url, status, attempts, max_attempts, next_attempt_at,
        last_status_code, last_error, created_at, first_attempt_at, finished_at, lease_token,
        lease_until)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
    ON CONFLICT (delivery_id) DO UPDATE SET url = excluded.url, status = excluded.status,
        attempts = excluded.attempts, max_attempts = excluded.max_attempts,
        next_attempt_at = excluded.next_attempt_at, last_status_code = excluded.last_status_code,
        last_error = excluded.last_error, first_attempt_at = excluded.first_attempt_at,
        finished_at = excluded.finished_at, lease_token = excluded.lease_token,
        lease_until = excluded.lease_until";

pub const NEXT_DUE: &str = "SELECT MIN(next_attempt_at) FROM webhook_deliveries
    WHERE status = 'pending' AND next_attempt_at > $1";

pub const INSERT_ATTEMPT: &str = "INSERT INTO webhook_attempts
        (delivery_id, attempt, at, duration_ms, status_code, error, response_body)
    VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// PostgreSQL: the attempts of a JSON array of objects, one statement.
pub const INSERT_ATTEMPTS_PG: &str = "INSERT INTO webhook_attempts
        (delivery_id, attempt, at, duration_ms, status_code, error, response_body)
    SELECT delivery_id, attempt, at, duration_ms, status_code, error, response_body
    FROM jsonb_to_recordset($1::jsonb) AS r(delivery_id text, attempt bigint, at bigint,
        duration_ms bigint, status_code bigint, error text, response_body text)";

/// PostgreSQL: deliveries as they now stand, from a JSON array of objects, one statement.
pub const UPDATE_DELIVERIES_PG: &str = "UPDATE webhook_deliveries AS d
    SET url = r.url, status = r.status, attempts = r.attempts, max_attempts = r.max_attempts,
        next_attempt_at = r.next_attempt_at, last_status_code = r.last_status_code,
        last_error = r.last_error, first_attempt_at = r.first_attempt_at,
        finished_at = r.finished_at, lease_token = r.lease_token, lease_until = r.lease_until
    FROM jsonb_to_recordset($1::jsonb) AS r(delivery_id text, url text, status text,
        attempts bigint, max_attempts bigint, next_attempt_at bigint, last_status_code bigint,
        last_error text, first_attempt_at bigint, finished_at bigint, lease_token text,
        lease_until bigint)
    WHERE d.delivery_id = r.delivery_id";

pub const END_PENDING: &str = "UPDATE webhook_deliveries
    SET status = $1, last_error = $2, finished_at = $3, next_attempt_at = NULL
    WHERE endpoint_id = $4 AND workspace = $5 AND status = 'pending'";

pub const ERASE_CANCEL: &str = "UPDATE webhook_deliveries
    SET status = 'cancelled', finished_at = $1, next_attempt_at = NULL,
        last_error = 'the conversation was erased'
    WHERE status = 'pending' AND event_id IN
        (SELECT event_id FROM webhook_events WHERE conversation_id = $2 AND workspace = $3)";

pub const ERASE_BODIES: &str = "UPDATE webhook_attempts SET response_body = NULL
    WHERE delivery_id IN (SELECT d.delivery_id FROM webhook_deliveries d
        JOIN webhook_events e ON e.event_id = d.event_id
        WHERE e.conversation_id = $1 AND e.workspace = $2)";

pub const ERASE_PAYLOADS: &str = "UPDATE webhook_events SET payload = ''
    WHERE conversation_id = $1 AND workspace = $2";

pub const RELEASE_LEASES: &str = "UPDATE webhook_deliveries
    SET lease_token = NULL, lease_until = NULL WHERE lease_token IS NOT NULL";

/// The deliveries a purge takes: ended before `$1`, walked in the order of their ids from the oldest
/// up to `$2` ([`created_before`] `$1`: none created since can have ended before it), at most `$3`.
/// (SQLite numbers `$N` parameters in the order they first appear: they appear in order.)
pub const PURGE_ATTEMPTS: &str = "DELETE FROM webhook_attempts WHERE delivery_id IN
    (SELECT delivery_id FROM webhook_deliveries WHERE finished_at < $1 AND delivery_id < $2
     ORDER BY delivery_id LIMIT $3)";

pub const PURGE_DELIVERIES: &str = "DELETE FROM webhook_deliveries WHERE delivery_id IN
    (SELECT delivery_id FROM webhook_deliveries WHERE finished_at < $1 AND delivery_id < $2
     ORDER BY delivery_id LIMIT $3)";

pub const PURGE_EVENTS: &str = "DELETE FROM webhook_events WHERE created_at < $1
    AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.event_id)";

/// The least id (UUIDv7, as text) of anything created at Unix millisecond `ms`: every id created
/// before it is less, every id created at or after it is not.
pub fn created_before(ms: i64) -> String {
    let ms = u64::try_from(ms).unwrap_or(0) & 0xffff_ffff_ffff;
    format!(
        "{:08x}-{:04x}-7000-8000-000000000000",
        ms >> 16,
        ms & 0xffff
    )
}

/// The `LIKE` pattern of endpoints subscribed to `t`.
pub fn subscribed_pattern(t: EventType) -> String {
    format!("% {} %", t.as_str())
}

/// Reads columns of a row by position, whatever the driver.
pub trait Columns {
    fn text(&self, i: usize) -> Result<Option<String>>;
    fn int(&self, i: usize) -> Result<Option<i64>>;
}

impl Columns for rusqlite::Row<'_> {
    fn text(&self, i: usize) -> Result<Option<String>> {
        self.get(i).map_err(|e| StoreError::Internal(e.to_string()))
    }

    fn int(&self, i: usize) -> Result<Option<i64>> {
        self.get(i).map_err(|e| StoreError::Internal(e.to_string()))
    }
}

macro_rules! sqlx_columns {
    ($row:ty) => {
        impl Columns for $row {
            fn text(&self, i: usize) -> Result<Option<String>> {
                Ok(sqlx::Row::try_get(self, i)?)
            }

            fn int(&self, i: usize) -> Result<Option<i64>> {
                Ok(sqlx::Row::try_get(self, i)?)
            }
        }
    };
}

sqlx_columns!(sqlx::postgres::PgRow);
sqlx_columns!(sqlx::sqlite::SqliteRow);

fn required<T>(value: Option<T>, column: &str) -> Result<T> {
    value.ok_or_else(|| StoreError::Internal(format!("a delivery's {column} is NULL")))
}

fn count(value: Option<i64>, column: &str) -> Result<u32> {
    u32::try_from(required(value, column)?)
        .map_err(|_| StoreError::Internal(format!("a delivery's {column} is out of range")))
}

/// A delivery from a row with [`DELIVERY_COLUMNS`].
pub fn delivery(row: &impl Columns) -> Result<StoredDelivery> {
    let event_type = required(row.text(3)?, "event_type")?;
    let status = required(row.text(7)?, "status")?;
    let lease = match (row.text(16)?, row.int(17)?) {
        (Some(token), Some(until)) => Some((token, until)),
        _ => None,
    };
    Ok(StoredDelivery {
        id: parse_id(&required(row.text(0)?, "delivery_id")?)?,
        workspace: required(row.text(1)?, "workspace")?,
        event_id: parse_id(&required(row.text(2)?, "event_id")?)?,
        event_type: EventType::parse(&event_type)
            .ok_or_else(|| StoreError::Internal(format!("stored event type {event_type:?}")))?,
        target: super::target_from(row.text(4)?.as_deref(), row.text(5)?.as_deref())?,
        url: required(row.text(6)?, "url")?,
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| StoreError::Internal(format!("stored status {status:?}")))?,
        attempts: count(row.int(8)?, "attempts")?,
        max_attempts: count(row.int(9)?, "max_attempts")?,
        next_attempt_at: row.int(10)?,
        last_status_code: row.int(11)?.and_then(|c| u16::try_from(c).ok()),
        last_error: row.text(12)?,
        created_at: required(row.int(13)?, "created_at")?,
        first_attempt_at: row.int(14)?,
        finished_at: row.int(15)?,
        lease,
    })
}

#[cfg(test)]
mod tests {
    use super::created_before;
    use uuid::{timestamp::Timestamp, NoContext, Uuid};

    #[test]
    fn created_before_parts_ids_at_their_millisecond() {
        let at = 1_764_930_000_123_u64;
        let id = |ms: u64| {
            Uuid::new_v7(Timestamp::from_unix(
                NoContext,
                ms / 1000,
                (ms % 1000) as u32 * 1_000_000,
            ))
            .hyphenated()
            .to_string()
        };
        let floor = created_before(at as i64);
        for _ in 0..100 {
            assert!(id(at - 1) < floor);
            assert!(id(at) >= floor);
            assert!(id(at + 1) > floor);
        }
        assert_eq!(created_before(0), "00000000-0000-7000-8000-000000000000");
    }
}

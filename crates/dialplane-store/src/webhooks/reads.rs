//! The webhook reads, one SQL text for both backends: endpoints, deliveries with their attempts,
//! and the figures the metrics show.

use super::deliveries::{Attempt, DeliveryStatus, StoredDelivery};
use super::sql::{self, Columns};
use super::StoredEndpoint;
use crate::reads::{on_pool, Reads};
use crate::Result;
use dialplane_core::webhooks::EventType;
use dialplane_core::{AgentId, DeliveryId, EndpointId};
use sqlx::QueryBuilder;

/// Unix milliseconds as RFC 3339 UTC, to the millisecond.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// One page of a workspace's deliveries, newest first.
#[derive(Debug, Clone, Default)]
pub struct DeliveryQuery {
    pub status: Option<DeliveryStatus>,
    pub event_type: Option<EventType>,
    pub endpoint_id: Option<EndpointId>,
    pub agent_id: Option<AgentId>,
    /// Deliveries older than this one.
    pub before: Option<DeliveryId>,
    pub limit: u32,
}

/// What the metrics show of the deliveries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookStats {
    pub pending: u64,
    /// When the oldest pending delivery was created (Unix ms).
    pub oldest_pending: Option<i64>,
    /// Each endpoint that is failing: its id and how many attempts failed in a row.
    pub failing: Vec<(String, u32)>,
}

impl Reads {
    pub async fn get_webhook_endpoint(
        &self,
        workspace: &str,
        id: EndpointId,
    ) -> Result<Option<StoredEndpoint>> {
        on_pool!(self, |pool| {
            let document: Option<String> = sqlx::query_scalar(sql::ENDPOINT)
                .bind(workspace)
                .bind(id.to_string())
                .fetch_optional(pool)
                .await?;
            document
                .map(|d| StoredEndpoint::from_document(&d))
                .transpose()
        })
    }

    /// The workspace's endpoints, newest first, older than `before`.
    pub async fn list_webhook_endpoints(
        &self,
        workspace: &str,
        before: Option<EndpointId>,
        limit: u32,
    ) -> Result<Vec<StoredEndpoint>> {
        on_pool!(self, |pool| {
            let mut q =
                QueryBuilder::new("SELECT document FROM webhook_endpoints WHERE workspace = ");
            q.push_bind(workspace);
            if let Some(before) = before {
                q.push(" AND endpoint_id < ").push_bind(before.to_string());
            }
            q.push(" ORDER BY endpoint_id DESC LIMIT ")
                .push_bind(i64::from(limit));
            let documents: Vec<String> = q.build_query_scalar().fetch_all(pool).await?;
            documents
                .iter()
                .map(|d| StoredEndpoint::from_document(d))
                .collect()
        })
    }

    pub async fn list_webhook_deliveries(
        &self,
        workspace: &str,
        query: &DeliveryQuery,
    ) -> Result<Vec<StoredDelivery>> {
        on_pool!(self, |pool| {
            let mut q = QueryBuilder::new(format!(
                "SELECT {} FROM webhook_deliveries WHERE workspace = ",
                sql::DELIVERY_COLUMNS
            ));
            q.push_bind(workspace);
            if let Some(status) = query.status {
                q.push(" AND status = ").push_bind(status.as_str());
            }
            if let Some(t) = query.event_type {
                q.push(" AND event_type = ").push_bind(t.as_str());
            }
            if let Some(e) = query.endpoint_id {
                q.push(" AND endpoint_id = ").push_bind(e.to_string());
            }
            if let Some(a) = query.agent_id {
                q.push(" AND agent_id = ").push_bind(a.to_string());
            }
            if let Some(before) = query.before {
                q.push(" AND delivery_id < ").push_bind(before.to_string());
            }
            q.push(" ORDER BY delivery_id DESC LIMIT ")
                .push_bind(i64::from(query.limit));
            q.build()
                .fetch_all(pool)
                .await?
                .iter()
                .map(sql::delivery)
                .collect()
        })
    }

    /// The delivery and its attempts, oldest first.
    pub async fn get_webhook_delivery(
        &self,
        workspace: &str,
        id: DeliveryId,
    ) -> Result<Option<(StoredDelivery, Vec<Attempt>)>> {
        let select = format!(
            "SELECT {} FROM webhook_deliveries WHERE delivery_id = $1 AND workspace = $2",
            sql::DELIVERY_COLUMNS
        );
        let attempts = "SELECT attempt, at, duration_ms, status_code, error, response_body
            FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt";
        on_pool!(self, |pool| {
            let Some(row) = sqlx::query(&select)
                .bind(id.to_string())
                .bind(workspace)
                .fetch_optional(pool)
                .await?
            else {
                return Ok(None);
            };
            let delivery = sql::delivery(&row)?;
            let log = sqlx::query(attempts)
                .bind(id.to_string())
                .fetch_all(pool)
                .await?
                .iter()
                .map(attempt)
                .collect::<Result<Vec<_>>>()?;
            Ok(Some((delivery, log)))
        })
    }

    /// SQLite: up to `limit` pending deliveries due at `now` with their payloads, leaving out the
    /// targets and deliveries in the JSON arrays `busy` and `in_flight` (the claim of the only
    /// instance, which leases nothing).
    pub(crate) async fn due_webhook_deliveries(
        &self,
        now: i64,
        limit: u32,
        busy: &str,
        in_flight: &str,
    ) -> Result<Vec<(StoredDelivery, Option<String>)>> {
        let query = format!(
            "SELECT {}, (SELECT payload FROM webhook_events e
                         WHERE e.event_id = webhook_deliveries.event_id)
             FROM webhook_deliveries
             WHERE status = 'pending' AND next_attempt_at <= $1
               AND COALESCE(endpoint_id, url) NOT IN (SELECT value FROM json_each($2))
               AND delivery_id NOT IN (SELECT value FROM json_each($3))
             ORDER BY next_attempt_at LIMIT $4",
            sql::DELIVERY_COLUMNS
        );
        let Reads::Sqlite(pool) = self else {
            return Err(crate::StoreError::Internal(
                "a claim without leases is for SQLite".into(),
            ));
        };
        sqlx::query(&query)
            .bind(now)
            .bind(busy)
            .bind(in_flight)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| {
                let payload: Option<String> = sqlx::Row::try_get(row, sql::DELIVERY_COLUMN_COUNT)?;
                Ok((sql::delivery(row)?, payload))
            })
            .collect()
    }

    /// When the next pending delivery after `now` falls due.
    pub(crate) async fn next_webhook_due(&self, now: i64) -> Result<Option<i64>> {
        on_pool!(self, |pool| {
            let next: Option<i64> = sqlx::query_scalar(sql::NEXT_DUE)
                .bind(now)
                .fetch_one(pool)
                .await?;
            Ok(next)
        })
    }

    pub(crate) async fn webhook_workspace_secrets(
        &self,
        workspace: &str,
    ) -> Result<Option<super::Secrets>> {
        on_pool!(self, |pool| {
            let stored: Option<String> = sqlx::query_scalar(sql::WORKSPACE_SECRETS)
                .bind(workspace)
                .fetch_optional(pool)
                .await?;
            stored
                .map(|s| {
                    serde_json::from_str(&s)
                        .map_err(|e| crate::StoreError::Internal(format!("stored secrets: {e}")))
                })
                .transpose()
        })
    }

    /// Whether the outbox holds events not yet unpacked ([`super::unpack`]).
    pub(crate) async fn webhook_outbox_waiting(&self) -> Result<bool> {
        on_pool!(self, |pool| {
            let any: Option<i64> = sqlx::query_scalar(sql::OUTBOX_ANY)
                .fetch_optional(pool)
                .await?;
            Ok(any.is_some())
        })
    }

    /// Pending deliveries (those still in the outbox too), the oldest's age, and failing
    /// endpoints, over every workspace.
    pub async fn webhook_stats(&self) -> Result<WebhookStats> {
        let pending = "SELECT COUNT(*), MIN(created_at) FROM webhook_deliveries
            WHERE status = 'pending'";
        let packed = "SELECT CAST(COALESCE(SUM(deliveries), 0) AS BIGINT), MIN(created_at)
            FROM webhook_outbox";
        on_pool!(self, |pool| {
            let (count, oldest): (i64, Option<i64>) =
                sqlx::query_as(pending).fetch_one(pool).await?;
            let (packed, packed_oldest): (i64, Option<i64>) =
                sqlx::query_as(packed).fetch_one(pool).await?;
            let count = count + packed;
            let oldest = oldest.into_iter().chain(packed_oldest).min();
            let documents: Vec<String> =
                sqlx::query_scalar("SELECT document FROM webhook_endpoints WHERE enabled = 1")
                    .fetch_all(pool)
                    .await?;
            let mut failing = Vec::new();
            for d in documents {
                let endpoint = StoredEndpoint::from_document(&d)?;
                if endpoint.failure_streak > 0 {
                    failing.push((endpoint.id.to_string(), endpoint.failure_streak));
                }
            }
            Ok(WebhookStats {
                pending: u64::try_from(count).unwrap_or(0),
                oldest_pending: oldest,
                failing,
            })
        })
    }
}

fn attempt(row: &impl Columns) -> Result<Attempt> {
    Ok(Attempt {
        number: u32::try_from(row.int(0)?.unwrap_or(0)).unwrap_or(0),
        at: row.int(1)?.unwrap_or(0),
        duration_ms: u64::try_from(row.int(2)?.unwrap_or(0)).unwrap_or(0),
        status_code: row.int(3)?.and_then(|c| u16::try_from(c).ok()),
        error: row.text(4)?,
        response_body: row.text(5)?,
    })
}

impl crate::Store {
    pub async fn get_webhook_endpoint(
        &self,
        workspace: &str,
        id: EndpointId,
    ) -> Result<Option<StoredEndpoint>> {
        self.timed(
            "get_webhook_endpoint",
            self.reads().get_webhook_endpoint(workspace, id),
        )
        .await
    }

    pub async fn list_webhook_endpoints(
        &self,
        workspace: &str,
        before: Option<EndpointId>,
        limit: u32,
    ) -> Result<Vec<StoredEndpoint>> {
        self.timed(
            "list_webhook_endpoints",
            self.reads()
                .list_webhook_endpoints(workspace, before, limit),
        )
        .await
    }

    pub async fn list_webhook_deliveries(
        &self,
        workspace: &str,
        query: &DeliveryQuery,
    ) -> Result<Vec<StoredDelivery>> {
        self.unpack_webhook_outbox(None).await?;
        self.timed(
            "list_webhook_deliveries",
            self.reads().list_webhook_deliveries(workspace, query),
        )
        .await
    }

    pub async fn get_webhook_delivery(
        &self,
        workspace: &str,
        id: DeliveryId,
    ) -> Result<Option<(StoredDelivery, Vec<Attempt>)>> {
        self.unpack_webhook_outbox(None).await?;
        self.timed(
            "get_webhook_delivery",
            self.reads().get_webhook_delivery(workspace, id),
        )
        .await
    }

    /// Unpacks the outbox ([`super::unpack`]) if it holds anything: everything (`None`), so that
    /// a read of the log that follows sees every delivery committed before it, or the oldest rows
    /// up to `Some(n)` deliveries, a claim's share ([`super::UnpackOutbox`]).
    pub async fn unpack_webhook_outbox(&self, deliveries: Option<u32>) -> Result<u64> {
        if deliveries == Some(0) || !self.reads().webhook_outbox_waiting().await? {
            return Ok(0);
        }
        self.write(super::UnpackOutbox { deliveries }).await
    }

    pub async fn webhook_stats(&self) -> Result<WebhookStats> {
        self.timed("webhook_stats", self.reads().webhook_stats())
            .await
    }
}

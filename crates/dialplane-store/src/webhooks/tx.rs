//! [`WebhookTx`] written once for both backends: each backend only runs a statement with its
//! arguments ([`Statements`]); the SQL is [`super::sql`]'s, the same text on both but for the
//! claim of due deliveries and PostgreSQL's row locks.

use super::deliveries::{Attempt, DeliveryStatus, StoredDelivery, StoredEvent, Target};
use super::outbox::new_delivery;
use super::sql::{self, subscribed_pattern};
use super::subscriptions::{subscribed, Subscription, SubscriptionCache};
use super::unpack::{self, BatchOutbox};
use super::{target_columns, Secrets, StoredEndpoint, WebhookTx};
use crate::{Result, StoreError};
use async_trait::async_trait;
use dialplane_core::webhooks::EventType;
use dialplane_core::{ConversationId, DeliveryId, EndpointId, EventId};
use std::sync::Arc;

/// An argument of a statement.
#[derive(Debug, Clone)]
pub enum Value {
    Text(Option<String>),
    Int(Option<i64>),
}

fn text(s: impl Into<String>) -> Value {
    Value::Text(Some(s.into()))
}

fn int(i: impl Into<i64>) -> Value {
    Value::Int(Some(i.into()))
}

/// Runs one statement in the backend's open transaction.
#[async_trait]
pub trait Statements: Send {
    /// Whether this is PostgreSQL (row locks, its claim statement).
    const POSTGRES: bool;
    /// Rows changed.
    async fn exec(&mut self, sql: &str, args: &[Value]) -> Result<u64>;
    /// The first column of each row, as text (NULL as `None`).
    async fn texts(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Option<String>>>;
    /// The first column of each row, as bytes (text or a blob).
    async fn bytes(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Vec<u8>>> {
        let texts = self.texts(sql, args).await?;
        Ok(texts
            .into_iter()
            .flatten()
            .map(String::into_bytes)
            .collect())
    }
    /// The first column of the first row, as an integer.
    async fn integer(&mut self, sql: &str, args: &[Value]) -> Result<Option<i64>>;
    /// The workspaces' endpoints kept in memory, by a backend that is the only writer of its
    /// database (none: they are read in every transaction).
    fn subscription_cache(&mut self) -> Option<&mut SubscriptionCache> {
        None
    }
    /// The outbox entries of the running batch, by a backend that stores a batch's as one row
    /// once its writes have run (none: each write stores its own).
    fn batch_outbox(&mut self) -> Option<&mut BatchOutbox> {
        None
    }
    /// Rows of [`sql::DELIVERY_COLUMNS`], and the text of a column after them if the row has one.
    async fn deliveries(
        &mut self,
        sql: &str,
        args: &[Value],
    ) -> Result<Vec<(StoredDelivery, Option<String>)>>;
}

/// The endpoints `sql` selects (their documents), as the outbox fans out to them.
async fn endpoints<S: Statements>(
    tx: &mut S,
    sql: &str,
    args: &[Value],
) -> Result<Vec<Subscription>> {
    tx.texts(sql, args)
        .await?
        .into_iter()
        .flatten()
        .map(|d| {
            StoredEndpoint::from_document(&d).map(|e| Subscription {
                id: e.id,
                url: e.url,
                event_types: e.event_types,
            })
        })
        .collect()
}

/// A delivery as a JSON object of its columns (PostgreSQL's statements over many rows).
fn delivery_row(d: &StoredDelivery) -> serde_json::Value {
    let (endpoint, agent) = target_columns(&d.target);
    let (token, until) = d.lease.clone().unzip();
    serde_json::json!({
        "delivery_id": d.id.to_string(), "workspace": d.workspace, "event_id": d.event_id.to_string(),
        "event_type": d.event_type.as_str(), "endpoint_id": endpoint, "agent_id": agent,
        "url": d.url, "status": d.status.as_str(), "attempts": d.attempts,
        "max_attempts": d.max_attempts, "next_attempt_at": d.next_attempt_at,
        "last_status_code": d.last_status_code, "last_error": d.last_error,
        "created_at": d.created_at, "first_attempt_at": d.first_attempt_at,
        "finished_at": d.finished_at, "lease_token": token, "lease_until": until,
    })
}

fn lock_clause<S: Statements>(lock: bool) -> &'static str {
    if S::POSTGRES && lock {
        " FOR UPDATE"
    } else {
        ""
    }
}

fn delivery_args(d: &StoredDelivery) -> Vec<Value> {
    let (endpoint, agent) = target_columns(&d.target);
    let (token, until) = match &d.lease {
        Some((token, until)) => (Some(token.clone()), Some(*until)),
        None => (None, None),
    };
    vec![
        text(d.id.to_string()),
        text(d.workspace.clone()),
        text(d.event_id.to_string()),
        text(d.event_type.as_str()),
        Value::Text(endpoint),
        Value::Text(agent),
        text(d.url.clone()),
        text(d.status.as_str()),
        int(d.attempts),
        int(d.max_attempts),
        Value::Int(d.next_attempt_at),
        Value::Int(d.last_status_code.map(i64::from)),
        Value::Text(d.last_error.clone()),
        int(d.created_at),
        Value::Int(d.first_attempt_at),
        Value::Int(d.finished_at),
        Value::Text(token),
        Value::Int(until),
    ]
}

/// An event's columns, as [`sql::INSERT_EVENT`] takes them.
fn event_args(e: &StoredEvent) -> Vec<Value> {
    vec![
        text(e.id.to_string()),
        text(e.workspace.clone()),
        text(e.event_type.as_str()),
        Value::Text(e.conversation_id.map(|c| c.to_string())),
        int(e.created_at),
        text(e.payload.clone()),
    ]
}

/// Outbox rows taken at a time.
const UNPACK_ROWS: i64 = 64;

fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Internal(format!("a JSON argument: {e}")))
}

/// Ids as the JSON array argument [`json_elements`] reads.
fn ids_json(ids: &[DeliveryId]) -> Result<String> {
    to_json(&ids.iter().map(ToString::to_string).collect::<Vec<_>>())
}

/// A subquery of the texts in the JSON array argument `$n`, in the backend's dialect.
fn json_elements<S: Statements>(n: usize) -> String {
    if S::POSTGRES {
        format!("SELECT jsonb_array_elements_text(${n}::jsonb)")
    } else {
        format!("SELECT value FROM json_each(${n})")
    }
}

#[async_trait]
impl<S: Statements> WebhookTx for S {
    async fn put_endpoint(&mut self, workspace: &str, e: &StoredEndpoint) -> Result<()> {
        let args = [
            text(workspace),
            text(e.id.to_string()),
            int(i64::from(!e.disabled)),
            text(e.subscribed()),
            text(e.to_document()?),
        ];
        if let Some(cache) = self.subscription_cache() {
            cache.changed(workspace);
        }
        self.exec(sql::PUT_ENDPOINT, &args).await.map(drop)
    }

    async fn endpoint(
        &mut self,
        workspace: &str,
        id: EndpointId,
        lock: bool,
    ) -> Result<Option<StoredEndpoint>> {
        let query = format!("{}{}", sql::ENDPOINT, lock_clause::<S>(lock));
        let rows = self
            .texts(&query, &[text(workspace), text(id.to_string())])
            .await?;
        rows.into_iter()
            .flatten()
            .next()
            .map(|d| StoredEndpoint::from_document(&d))
            .transpose()
    }

    async fn delete_endpoint(&mut self, workspace: &str, id: EndpointId) -> Result<bool> {
        let args = [text(workspace), text(id.to_string())];
        if let Some(cache) = self.subscription_cache() {
            cache.changed(workspace);
        }
        Ok(self.exec(sql::DELETE_ENDPOINT, &args).await? > 0)
    }

    async fn subscribed_endpoints(
        &mut self,
        workspace: &str,
        event_type: EventType,
    ) -> Result<Vec<Subscription>> {
        let Some(cache) = self.subscription_cache() else {
            let args = [text(workspace), text(subscribed_pattern(event_type))];
            return endpoints(self, sql::SUBSCRIBED, &args).await;
        };
        if let Some(all) = cache.get(workspace) {
            return Ok(subscribed(&all, event_type));
        }
        let all: Arc<[Subscription]> = endpoints(self, sql::ENABLED_ENDPOINTS, &[text(workspace)])
            .await?
            .into();
        if let Some(cache) = self.subscription_cache() {
            cache.read(workspace, all.clone());
        }
        Ok(subscribed(&all, event_type))
    }

    async fn workspace_secrets(&mut self, workspace: &str, lock: bool) -> Result<Option<Secrets>> {
        let query = format!("{}{}", sql::WORKSPACE_SECRETS, lock_clause::<S>(lock));
        let rows = self.texts(&query, &[text(workspace)]).await?;
        rows.into_iter()
            .flatten()
            .next()
            .map(|s| Secrets::from_json(&s))
            .transpose()
    }

    async fn put_workspace_secrets(&mut self, workspace: &str, secrets: &Secrets) -> Result<()> {
        let args = [text(workspace), text(secrets.to_json()?)];
        self.exec(sql::PUT_WORKSPACE_SECRETS, &args).await.map(drop)
    }

    async fn insert_event(&mut self, e: &StoredEvent, deliveries: &[StoredDelivery]) -> Result<()> {
        let mut args = event_args(e);
        if S::POSTGRES && !deliveries.is_empty() {
            let rows: Vec<serde_json::Value> = deliveries.iter().map(delivery_row).collect();
            args.push(text(to_json(&rows)?));
            return self
                .exec(sql::INSERT_EVENT_WITH_DELIVERIES_PG, &args)
                .await
                .map(drop);
        }
        self.exec(sql::INSERT_EVENT, &args).await?;
        for delivery in deliveries {
            self.put_delivery(delivery).await?;
        }
        Ok(())
    }

    async fn log_event(&mut self, e: &StoredEvent, deliveries: &[StoredDelivery]) -> Result<()> {
        let body = unpack::entry(e, deliveries)?;
        if let Some(batch) = self.batch_outbox() {
            batch.push(body, deliveries.len(), e.created_at);
            return Ok(());
        }
        let count = i64::try_from(deliveries.len()).unwrap_or(i64::MAX);
        let args = [int(e.created_at), int(count), text(format!("[{body}]"))];
        self.exec(sql::LOG_EVENTS, &args).await.map(drop)
    }

    async fn log_event_for_subscribers(&mut self, e: &StoredEvent, attempts: u32) -> Result<bool> {
        if !S::POSTGRES {
            let deliveries: Vec<StoredDelivery> = self
                .subscribed_endpoints(&e.workspace, e.event_type)
                .await?
                .into_iter()
                .map(|s| new_delivery(e, Target::Endpoint(s.id), &s.url, attempts))
                .collect();
            if !deliveries.is_empty() {
                self.log_event(e, &deliveries).await?;
            }
            return Ok(!deliveries.is_empty());
        }
        let mut args = event_args(e);
        args.extend([text(subscribed_pattern(e.event_type)), int(attempts.max(1))]);
        Ok(self.exec(sql::LOG_EVENT_FOR_SUBSCRIBERS_PG, &args).await? > 0)
    }

    async fn unpack_outbox(&mut self, deliveries: Option<u32>) -> Result<u64> {
        // Rows stored after the first look are left to the next unpacking: under a stream of
        // writes, this one ends.
        let last = match deliveries {
            None => self.integer(sql::OUTBOX_LAST, &[]).await?,
            Some(n) => self.integer(sql::OUTBOX_LAST_OF, &[int(n)]).await?,
        };
        if S::POSTGRES {
            // The rows' events and deliveries stored in SQL, a statement at a time.
            let mut made = 0;
            while let Some(last) = last {
                let n = self
                    .exec(sql::UNPACK_OUTBOX_PG, &[int(last), int(UNPACK_ROWS)])
                    .await?;
                made += n;
                // None taken: the rows left may have been another instance's, unpacked while
                // this waited. Look again for any it did not take.
                if n == 0
                    && self
                        .integer(sql::OUTBOX_WAITING, &[int(last)])
                        .await?
                        .is_none()
                {
                    break;
                }
            }
            return Ok(made);
        }
        let mut bodies: Vec<Vec<u8>> = self
            .batch_outbox()
            .map(BatchOutbox::unpack)
            .unwrap_or_default()
            .into_iter()
            .map(String::into_bytes)
            .collect();
        let mut made = 0;
        loop {
            for body in bodies.drain(..) {
                for (event, deliveries) in unpack::events(&unpack::body_text(&body)?)? {
                    made += deliveries.len() as u64;
                    self.insert_event(&event, &deliveries).await?;
                }
            }
            let Some(last) = last else { break };
            let args = [int(last), int(UNPACK_ROWS)];
            let taken = self.bytes(sql::UNPACK_OUTBOX_SQLITE, &args).await?;
            if taken.is_empty() {
                break;
            }
            bodies.extend(taken);
        }
        Ok(made)
    }

    async fn event_payload(&mut self, id: EventId) -> Result<Option<String>> {
        self.unpack_outbox(None).await?;
        let rows = self
            .texts(sql::EVENT_PAYLOAD, &[text(id.to_string())])
            .await?;
        Ok(rows.into_iter().flatten().next())
    }

    async fn put_delivery(&mut self, delivery: &StoredDelivery) -> Result<()> {
        self.exec(sql::PUT_DELIVERY, &delivery_args(delivery))
            .await
            .map(drop)
    }

    async fn lock_delivery(
        &mut self,
        workspace: Option<&str>,
        id: DeliveryId,
    ) -> Result<Option<StoredDelivery>> {
        self.unpack_outbox(None).await?;
        let query = format!(
            "SELECT {} FROM webhook_deliveries WHERE delivery_id = $1{}",
            sql::DELIVERY_COLUMNS,
            lock_clause::<S>(true)
        );
        let found = self.deliveries(&query, &[text(id.to_string())]).await?;
        Ok(found
            .into_iter()
            .map(|(d, _)| d)
            .next()
            .filter(|d| workspace.is_none_or(|w| w == d.workspace)))
    }

    async fn due_deliveries(
        &mut self,
        now: i64,
        limit: u32,
        busy: &[String],
        in_flight: &[DeliveryId],
    ) -> Result<Vec<(StoredDelivery, Option<String>)>> {
        self.unpack_outbox(Some(limit)).await?;
        let locks = if S::POSTGRES {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let query = format!(
            "SELECT {}, (SELECT payload FROM webhook_events e
                         WHERE e.event_id = webhook_deliveries.event_id)
             FROM webhook_deliveries
             WHERE status = 'pending' AND next_attempt_at <= $1
               AND (lease_until IS NULL OR lease_until <= $1)
               AND COALESCE(endpoint_id, url) NOT IN ({})
               AND delivery_id NOT IN ({})
             ORDER BY next_attempt_at LIMIT $4{locks}",
            sql::DELIVERY_COLUMNS,
            json_elements::<S>(2),
            json_elements::<S>(3),
        );
        let args = [
            int(now),
            text(to_json(busy)?),
            text(ids_json(in_flight)?),
            int(limit),
        ];
        self.deliveries(&query, &args).await
    }

    async fn lease_deliveries(
        &mut self,
        ids: &[DeliveryId],
        token: &str,
        until: i64,
    ) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let query = format!(
            "UPDATE webhook_deliveries SET lease_token = $1, lease_until = $2
             WHERE delivery_id IN ({})",
            json_elements::<S>(3)
        );
        self.exec(&query, &[text(token), int(until), text(ids_json(ids)?)])
            .await
            .map(drop)
    }

    fn only_instance(&self) -> bool {
        !S::POSTGRES
    }

    async fn next_due(&mut self, now: i64) -> Result<Option<i64>> {
        self.integer(sql::NEXT_DUE, &[int(now)]).await
    }

    async fn insert_attempt(&mut self, delivery: DeliveryId, a: &Attempt) -> Result<()> {
        let args = [
            text(delivery.to_string()),
            int(a.number),
            int(a.at),
            int(i64::try_from(a.duration_ms).unwrap_or(i64::MAX)),
            Value::Int(a.status_code.map(i64::from)),
            Value::Text(a.error.clone()),
            Value::Text(a.response_body.clone()),
        ];
        self.exec(sql::INSERT_ATTEMPT, &args).await.map(drop)
    }

    async fn lock_deliveries(&mut self, ids: &[DeliveryId]) -> Result<Vec<StoredDelivery>> {
        let query = format!(
            "SELECT {} FROM webhook_deliveries WHERE delivery_id IN ({})
             ORDER BY delivery_id{}",
            sql::DELIVERY_COLUMNS,
            json_elements::<S>(1),
            lock_clause::<S>(true)
        );
        let found = self.deliveries(&query, &[text(ids_json(ids)?)]).await?;
        Ok(found.into_iter().map(|(d, _)| d).collect())
    }

    async fn record_attempts(
        &mut self,
        attempts: &[(DeliveryId, Attempt)],
        deliveries: &[StoredDelivery],
    ) -> Result<()> {
        if !S::POSTGRES {
            for (id, attempt) in attempts {
                self.insert_attempt(*id, attempt).await?;
            }
            for delivery in deliveries {
                self.put_delivery(delivery).await?;
            }
            return Ok(());
        }
        if !attempts.is_empty() {
            let rows: Vec<serde_json::Value> = attempts
                .iter()
                .map(|(id, a)| {
                    serde_json::json!({
                        "delivery_id": id.to_string(), "attempt": a.number, "at": a.at,
                        "duration_ms": a.duration_ms, "status_code": a.status_code,
                        "error": a.error, "response_body": a.response_body,
                    })
                })
                .collect();
            self.exec(sql::INSERT_ATTEMPTS_PG, &[text(to_json(&rows)?)])
                .await?;
        }
        if !deliveries.is_empty() {
            let rows: Vec<serde_json::Value> = deliveries.iter().map(delivery_row).collect();
            self.exec(sql::UPDATE_DELIVERIES_PG, &[text(to_json(&rows)?)])
                .await?;
        }
        Ok(())
    }

    async fn end_pending_deliveries(
        &mut self,
        workspace: &str,
        endpoint: EndpointId,
        status: DeliveryStatus,
        error: &str,
        now: i64,
    ) -> Result<u64> {
        self.unpack_outbox(None).await?;
        let args = [
            text(status.as_str()),
            text(error),
            int(now),
            text(endpoint.to_string()),
            text(workspace),
        ];
        self.exec(sql::END_PENDING, &args).await
    }

    async fn erase_conversation_deliveries(
        &mut self,
        workspace: &str,
        conversation: ConversationId,
        now: i64,
    ) -> Result<()> {
        self.unpack_outbox(None).await?;
        let (id, ws) = (text(conversation.to_string()), text(workspace));
        self.exec(sql::ERASE_CANCEL, &[int(now), id.clone(), ws.clone()])
            .await?;
        self.exec(sql::ERASE_BODIES, &[id.clone(), ws.clone()])
            .await?;
        self.exec(sql::ERASE_PAYLOADS, &[id, ws]).await.map(drop)
    }

    async fn release_leases(&mut self) -> Result<u64> {
        self.exec(sql::RELEASE_LEASES, &[]).await
    }

    async fn purge_deliveries(&mut self, before: i64, limit: u32) -> Result<u64> {
        self.unpack_outbox(None).await?;
        let args = [int(before), text(sql::created_before(before)), int(limit)];
        self.exec(sql::PURGE_ATTEMPTS, &args).await?;
        let purged = self.exec(sql::PURGE_DELIVERIES, &args).await?;
        self.exec(sql::PURGE_EVENTS, &[int(before)]).await?;
        Ok(purged)
    }
}

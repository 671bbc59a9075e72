//! Deliveries: one event to one target, attempted until it succeeds, fails for good, or is
//! cancelled. A worker claims due deliveries ([`super::claims`]), sends them, and
//! records each attempt ([`RecordAttempt`]) with what follows from it: the next attempt, the end, an
//! endpoint disabled.

use super::claims::Claimed;
use super::now_ms;
use crate::write::{Event, Tx, WriteOp};
use crate::{Kind, Result, StoreError};
use async_trait::async_trait;
use dialplane_core::webhooks::EventType;
use dialplane_core::{AgentId, ConversationId, DeliveryId, EndpointId, EventId};

/// Where a delivery goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Endpoint(EndpointId),
    /// The agent's `postCallWebhook` (signed with the workspace secret).
    PostCallWebhook(AgentId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Succeeded,
    Failed,
    Cancelled,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Succeeded,
            Self::Failed,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// An event as the outbox stores it: the body every delivery of it sends, frozen at commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub id: EventId,
    pub workspace: String,
    pub event_type: EventType,
    /// The conversation it tells of, so that erasing the conversation can blank it.
    pub conversation_id: Option<ConversationId>,
    pub created_at: i64,
    pub payload: String,
}

/// One delivery as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDelivery {
    pub id: DeliveryId,
    pub workspace: String,
    pub event_id: EventId,
    pub event_type: EventType,
    pub target: Target,
    pub url: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// Attempts it may have in all (the schedule's; one more for each redelivery).
    pub max_attempts: u32,
    pub next_attempt_at: Option<i64>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub first_attempt_at: Option<i64>,
    /// When it ended (succeeded, failed, cancelled): the log's retention counts from here.
    pub finished_at: Option<i64>,
    /// Who holds it, and until when: an attempt is under way.
    pub lease: Option<(String, i64)>,
}

impl StoredDelivery {
    /// The key of its target for the per-target limit: the endpoint, or the URL.
    pub fn target_key(&self) -> String {
        match self.target {
            Target::Endpoint(id) => id.to_string(),
            Target::PostCallWebhook(_) => self.url.clone(),
        }
    }

    pub(crate) fn end(&mut self, status: DeliveryStatus, at: i64) {
        self.status = status;
        self.next_attempt_at = None;
        self.finished_at = Some(at);
    }
}

/// One attempt, as its log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub number: u32,
    pub at: i64,
    pub duration_ms: u64,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    /// At most 4 KiB of what the receiver answered.
    pub response_body: Option<String>,
}

/// How an attempt ended, and what the worker decided follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    /// Failed; try again at this time.
    RetryAt(i64),
    /// Failed, and it was the last attempt.
    Failed,
    /// The receiver answered 410: the endpoint is disabled, a `postCallWebhook` delivery ends.
    Gone,
}

/// Records an attempt of a claimed delivery and what follows: its next attempt or its end; for an
/// endpoint, its failure streak, and disabling it (410, or failing for `disable_after_ms`), which
/// sends `endpoint.disabled` to the workspace's other endpoints.
#[derive(Debug, Clone)]
pub struct RecordAttempt {
    pub id: DeliveryId,
    /// The claim's token: a delivery whose lease was lost (and taken by another worker) is left be.
    pub token: String,
    /// Where the attempt went: the endpoint's URL when it was claimed (the log shows it).
    pub url: String,
    pub attempt: Attempt,
    pub outcome: Outcome,
    pub disable_after_ms: i64,
    /// As the claim saw its endpoint: failing (a success resets the streak) or not.
    pub endpoint_failing: bool,
}

/// Records attempts in `tx`, in order: each delivery as it now stands, or `None` for one another
/// worker took (its lease has another token) or that is gone. The deliveries are read together,
/// attempts and new states written together (one statement each on PostgreSQL), and only then are
/// the endpoints' failure streaks kept, in order: disabling an endpoint ends its pending
/// deliveries, those just recorded with a retry included, as it would one record at a time.
async fn record_all(
    tx: &mut dyn Tx,
    records: &[RecordAttempt],
) -> Result<Vec<Option<StoredDelivery>>> {
    let ids: Vec<DeliveryId> = records.iter().map(|r| r.id).collect();
    let mut found: std::collections::HashMap<DeliveryId, StoredDelivery> = tx
        .lock_deliveries(&ids)
        .await?
        .into_iter()
        .map(|d| (d.id, d))
        .collect();
    let mut attempts = Vec::with_capacity(records.len());
    let mut changed: Vec<DeliveryId> = Vec::with_capacity(records.len());
    let mut tracked = Vec::new();
    let mut out = Vec::with_capacity(records.len());
    for record in records {
        let Some(delivery) = found
            .get_mut(&record.id)
            .filter(|d| d.lease.as_ref().is_none_or(|(t, _)| *t == record.token))
        else {
            out.push(None);
            continue;
        };
        let at = record.attempt.at;
        let mut attempt = record.attempt.clone();
        attempt.number = delivery.attempts + 1;
        delivery.attempts = attempt.number;
        delivery.first_attempt_at.get_or_insert(at);
        delivery.last_status_code = attempt.status_code;
        delivery.last_error = attempt.error.clone();
        delivery.lease = None;
        delivery.url.clone_from(&record.url);
        if delivery.status == DeliveryStatus::Pending {
            match record.outcome {
                Outcome::Succeeded => delivery.end(DeliveryStatus::Succeeded, at),
                Outcome::RetryAt(next) if delivery.attempts < delivery.max_attempts => {
                    delivery.next_attempt_at = Some(next);
                }
                Outcome::RetryAt(_) | Outcome::Failed | Outcome::Gone => {
                    delivery.end(DeliveryStatus::Failed, at)
                }
            }
        }
        attempts.push((delivery.id, attempt));
        if !changed.contains(&delivery.id) {
            changed.push(delivery.id);
        }
        let unchanged = record.outcome == Outcome::Succeeded && !record.endpoint_failing;
        if let (Target::Endpoint(endpoint), false) = (delivery.target, unchanged) {
            tracked.push((delivery.workspace.clone(), endpoint, record));
        }
        out.push(Some(delivery.clone()));
    }
    let deliveries: Vec<StoredDelivery> = changed.iter().map(|id| found[id].clone()).collect();
    tx.record_attempts(&attempts, &deliveries).await?;
    for (workspace, endpoint, record) in tracked {
        track_endpoint(tx, &workspace, endpoint, record, record.attempt.at).await?;
    }
    Ok(out)
}

#[async_trait]
impl WriteOp for RecordAttempt {
    type Output = Option<StoredDelivery>;
    const NAME: &'static str = "record_webhook_attempt";

    async fn run(self, tx: &mut dyn Tx) -> Result<Option<StoredDelivery>> {
        Ok(record_all(tx, std::slice::from_ref(&self))
            .await?
            .pop()
            .flatten())
    }
}

/// Several attempts recorded in one write (the worker's, as they finish).
#[derive(Debug, Clone)]
pub struct RecordAttempts(pub Vec<RecordAttempt>);

#[async_trait]
impl WriteOp for RecordAttempts {
    type Output = ();
    const NAME: &'static str = "record_webhook_attempts";

    async fn run(self, tx: &mut dyn Tx) -> Result<()> {
        record_all(tx, &self.0).await.map(drop)
    }
}

/// Keeps the endpoint's failure streak; disables it on a 410, or once it has failed every attempt
/// for `disable_after_ms`.
async fn track_endpoint(
    tx: &mut dyn Tx,
    workspace: &str,
    id: EndpointId,
    record: &RecordAttempt,
    at: i64,
) -> Result<()> {
    let Some(mut endpoint) = tx.endpoint(workspace, id, true).await? else {
        return Ok(());
    };
    let before = endpoint.clone();
    if record.outcome == Outcome::Succeeded {
        endpoint.failing_since = None;
        endpoint.failure_streak = 0;
    } else {
        let since = *endpoint.failing_since.get_or_insert(at);
        endpoint.failure_streak += 1;
        let reason = if record.outcome == Outcome::Gone {
            Some("the endpoint answered 410 Gone".to_owned())
        } else if at - since >= record.disable_after_ms {
            Some(format!(
                "every attempt failed for {} since {}",
                dialplane_core::webhooks::display_duration(std::time::Duration::from_millis(
                    u64::try_from(record.disable_after_ms).unwrap_or(0)
                )),
                crate::webhooks::reads::rfc3339(since)
            ))
        } else {
            None
        };
        if let Some(reason) = reason.filter(|_| !endpoint.disabled) {
            endpoint.disabled = true;
            endpoint.disabled_reason = Some(reason.clone());
            endpoint.updated_at = crate::now();
            tx.end_pending_deliveries(
                workspace,
                id,
                DeliveryStatus::Failed,
                &format!("the endpoint was disabled: {reason}"),
                at,
            )
            .await?;
            tx.emit(Event::EndpointDisabled {
                workspace: workspace.to_owned(),
                endpoint_id: id,
                reason,
            });
        }
    }
    if endpoint != before {
        tx.put_endpoint(workspace, &endpoint).await?;
    }
    Ok(())
}

/// One more attempt, now, of a delivery that succeeded or failed (same event, same `webhook-id`).
#[derive(Debug, Clone)]
pub struct Redeliver {
    pub workspace: String,
    pub id: DeliveryId,
}

#[async_trait]
impl WriteOp for Redeliver {
    type Output = StoredDelivery;
    const NAME: &'static str = "redeliver_webhook";

    async fn run(self, tx: &mut dyn Tx) -> Result<StoredDelivery> {
        let mut delivery = tx
            .lock_delivery(Some(&self.workspace), self.id)
            .await?
            .ok_or(StoreError::NotFound {
                kind: Kind::WebhookDelivery,
            })?;
        match delivery.status {
            DeliveryStatus::Pending => {
                return Err(StoreError::Conflict(
                    "the delivery is pending: its next attempt is scheduled already".into(),
                ))
            }
            DeliveryStatus::Cancelled => {
                return Err(StoreError::Conflict(
                    "the delivery was cancelled (its endpoint deleted, or its conversation erased)"
                        .into(),
                ))
            }
            DeliveryStatus::Succeeded | DeliveryStatus::Failed => {}
        }
        if let Target::Endpoint(id) = delivery.target {
            match tx.endpoint(&self.workspace, id, false).await? {
                Some(endpoint) if endpoint.disabled => {
                    return Err(StoreError::Conflict(
                        "the endpoint is disabled: enable it with a PATCH first".into(),
                    ))
                }
                Some(_) => {}
                None => {
                    return Err(StoreError::Conflict("the endpoint was deleted".into()));
                }
            }
        }
        if tx
            .event_payload(delivery.event_id)
            .await?
            .is_none_or(|p| p.is_empty())
        {
            return Err(StoreError::Conflict(
                "the delivery's conversation was erased: nothing of it is left to send".into(),
            ));
        }
        let now = now_ms();
        delivery.status = DeliveryStatus::Pending;
        delivery.max_attempts = delivery.attempts + 1;
        delivery.next_attempt_at = Some(now);
        delivery.finished_at = None;
        delivery.lease = None;
        tx.put_delivery(&delivery).await?;
        tx.emit(Event::DeliveriesDue);
        Ok(delivery)
    }
}

/// Stores a `ping` to an endpoint and claims it at once for the caller, who sends it now.
#[derive(Debug, Clone)]
pub struct SendPing {
    pub workspace: String,
    pub endpoint: EndpointId,
    pub token: String,
    pub lease_ms: i64,
}

#[async_trait]
impl WriteOp for SendPing {
    type Output = Claimed;
    const NAME: &'static str = "send_webhook_ping";

    async fn run(self, tx: &mut dyn Tx) -> Result<Claimed> {
        let endpoint = tx
            .endpoint(&self.workspace, self.endpoint, false)
            .await?
            .ok_or(StoreError::NotFound {
                kind: Kind::WebhookEndpoint,
            })?;
        let now = now_ms();
        let event = super::outbox::new_event(
            &self.workspace,
            EventType::Ping,
            None,
            serde_json::json!({ "endpointId": endpoint.id }),
            now,
        )?;
        let mut delivery =
            super::outbox::new_delivery(&event, Target::Endpoint(endpoint.id), &endpoint.url, 1);
        delivery.lease = Some((self.token, now + self.lease_ms));
        tx.insert_event(&event, std::slice::from_ref(&delivery))
            .await?;
        Ok(Claimed {
            delivery,
            payload: event.payload,
            secrets: endpoint.secrets.signing(now),
            endpoint_failing: endpoint.failure_streak > 0,
        })
    }
}

/// Clears every lease: for the only instance of a database, as it starts.
#[derive(Debug, Clone)]
pub struct ReleaseLeases;

#[async_trait]
impl WriteOp for ReleaseLeases {
    type Output = u64;
    const NAME: &'static str = "release_webhook_leases";

    async fn run(self, tx: &mut dyn Tx) -> Result<u64> {
        tx.release_leases().await
    }
}

/// Forgets a batch of deliveries that ended before `before` (the log's retention).
#[derive(Debug, Clone)]
pub struct PurgeDeliveryLog {
    pub before: i64,
    pub limit: u32,
}

#[async_trait]
impl WriteOp for PurgeDeliveryLog {
    type Output = u64;
    const NAME: &'static str = "purge_webhook_log";

    async fn run(self, tx: &mut dyn Tx) -> Result<u64> {
        tx.purge_deliveries(self.before, self.limit).await
    }
}

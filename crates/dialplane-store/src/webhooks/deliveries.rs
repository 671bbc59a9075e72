//! Deliveries: one event to one target, attempted until it succeeds, fails for good, or is
//! cancelled. A worker claims due deliveries under a lease ([`ClaimDeliveries`]), sends them, and
//! records each attempt ([`RecordAttempt`]) with what follows from it: the next attempt, the end, an
//! endpoint disabled.

use super::{now_ms, Secrets};
use crate::write::{Event, Tx, WriteOp};
use crate::{Kind, Result, StoreError};
use async_trait::async_trait;
use dialplane_core::webhooks::EventType;
use dialplane_core::{AgentId, ConversationId, DeliveryId, EndpointId, EventId};
use std::collections::HashMap;

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

    fn end(&mut self, status: DeliveryStatus, at: i64) {
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

/// A delivery a worker may now attempt: what it sends, and the secrets that sign it.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery: StoredDelivery,
    pub payload: String,
    pub secrets: Vec<String>,
    /// Whether its endpoint's last attempts failed (a success must then reset its streak).
    pub endpoint_failing: bool,
}

/// What a claim got, and when the next delivery not yet due falls due.
#[derive(Debug, Clone, Default)]
pub struct Claims {
    pub claimed: Vec<Claimed>,
    pub next_due: Option<i64>,
}

/// Up to `limit` due deliveries for a worker: leased for `lease_ms` under `token` where other
/// instances share the database (the only instance of a SQLite file leases nothing: the worker
/// keeps its own deliveries under way out of the claim, `in_flight`).
#[derive(Debug, Clone)]
pub struct ClaimDeliveries {
    pub token: String,
    pub limit: u32,
    pub lease_ms: i64,
    /// Targets this worker has as many attempts under way to as it allows.
    pub busy: Vec<String>,
    /// Deliveries this worker is attempting or recording.
    pub in_flight: Vec<DeliveryId>,
}

#[async_trait]
impl WriteOp for ClaimDeliveries {
    type Output = Claims;
    const NAME: &'static str = "claim_webhook_deliveries";

    async fn run(self, tx: &mut dyn Tx) -> Result<Claims> {
        let now = now_ms();
        let due = if self.limit == 0 {
            Vec::new()
        } else {
            tx.due_deliveries(now, self.limit, &self.busy, &self.in_flight)
                .await?
        };
        let mut claimed = Vec::with_capacity(due.len());
        // Each target's URL and secrets, read once for all its deliveries in this claim.
        let mut targets: HashMap<String, Option<ClaimTarget>> = HashMap::new();
        for (mut delivery, payload) in due {
            let key = target_key(&delivery);
            if !targets.contains_key(&key) {
                let found = target_of(tx, &delivery).await?;
                targets.insert(key.clone(), found);
            }
            let Some(target) = targets.get(&key).cloned().flatten() else {
                // Gone or disabled since: nothing more goes to it.
                delivery.end(DeliveryStatus::Cancelled, now);
                delivery.last_error = Some("the endpoint is disabled or deleted".into());
                tx.put_delivery(&delivery).await?;
                continue;
            };
            if let Some(url) = target.url {
                delivery.url = url;
            }
            if !tx.only_instance() {
                delivery.lease = Some((self.token.clone(), now + self.lease_ms));
            }
            claimed.push(Claimed {
                delivery,
                payload: payload.unwrap_or_default(),
                secrets: target.secrets.signing(now),
                endpoint_failing: target.failing,
            });
        }
        if !tx.only_instance() {
            let ids: Vec<DeliveryId> = claimed.iter().map(|c| c.delivery.id).collect();
            tx.lease_deliveries(&ids, &self.token, now + self.lease_ms)
                .await?;
        }
        let next_due = tx.next_due(now).await?;
        Ok(Claims { claimed, next_due })
    }
}

impl crate::Store {
    /// Claims due deliveries for a worker. Where other instances share the database, a write that
    /// leases them ([`ClaimDeliveries`]); the only instance of a database (SQLite) leases nothing,
    /// so its claim is a read beside the writer, which it leaves to the writes that matter.
    pub async fn claim_webhook_deliveries(&self, claim: ClaimDeliveries) -> Result<Claims> {
        if !self.single_writer() {
            return self.write(claim).await;
        }
        self.timed("claim_webhook_deliveries", self.claim_by_reading(claim))
            .await
    }

    async fn claim_by_reading(&self, claim: ClaimDeliveries) -> Result<Claims> {
        let now = now_ms();
        let json = |v: Vec<String>| {
            serde_json::to_string(&v).map_err(|e| StoreError::Internal(format!("claim: {e}")))
        };
        let busy = json(claim.busy)?;
        let in_flight = json(claim.in_flight.iter().map(ToString::to_string).collect())?;
        let due = if claim.limit == 0 {
            Vec::new()
        } else {
            self.reads()
                .due_webhook_deliveries(now, claim.limit, &busy, &in_flight)
                .await?
        };
        let mut targets: HashMap<String, Option<ClaimTarget>> = HashMap::new();
        let mut claimed = Vec::with_capacity(due.len());
        let mut gone = Vec::new();
        for (mut delivery, payload) in due {
            let key = target_key(&delivery);
            if !targets.contains_key(&key) {
                let found = match delivery.target {
                    Target::Endpoint(id) => self
                        .reads()
                        .get_webhook_endpoint(&delivery.workspace, id)
                        .await?
                        .filter(|e| !e.disabled)
                        .map(|e| ClaimTarget {
                            url: Some(e.url),
                            secrets: e.secrets,
                            failing: e.failure_streak > 0,
                        }),
                    Target::PostCallWebhook(_) => Some(ClaimTarget {
                        url: None,
                        secrets: match self
                            .reads()
                            .webhook_workspace_secrets(&delivery.workspace)
                            .await?
                        {
                            Some(secrets) => secrets,
                            None => {
                                self.write(super::WorkspaceSecret {
                                    workspace: delivery.workspace.clone(),
                                    rotate: false,
                                })
                                .await?
                            }
                        },
                        failing: false,
                    }),
                };
                targets.insert(key.clone(), found);
            }
            let Some(target) = targets.get(&key).cloned().flatten() else {
                gone.push(delivery.id);
                continue;
            };
            if let Some(url) = target.url {
                delivery.url = url;
            }
            claimed.push(Claimed {
                delivery,
                payload: payload.unwrap_or_default(),
                secrets: target.secrets.signing(now),
                endpoint_failing: target.failing,
            });
        }
        if !gone.is_empty() {
            self.write(CancelDeliveries { ids: gone }).await?;
        }
        let next_due = self.reads().next_webhook_due(now).await?;
        Ok(Claims { claimed, next_due })
    }
}

/// Cancels pending deliveries whose endpoint was disabled or deleted since they were queued.
#[derive(Debug, Clone)]
pub struct CancelDeliveries {
    pub ids: Vec<DeliveryId>,
}

#[async_trait]
impl WriteOp for CancelDeliveries {
    type Output = ();
    const NAME: &'static str = "cancel_webhook_deliveries";

    async fn run(self, tx: &mut dyn Tx) -> Result<()> {
        let now = now_ms();
        for id in self.ids {
            if let Some(mut delivery) = tx.lock_delivery(None, id).await? {
                if delivery.status == DeliveryStatus::Pending {
                    delivery.end(DeliveryStatus::Cancelled, now);
                    delivery.last_error = Some("the endpoint is disabled or deleted".into());
                    tx.put_delivery(&delivery).await?;
                }
            }
        }
        Ok(())
    }
}

/// The key under which a claim reads a delivery's target once.
fn target_key(delivery: &StoredDelivery) -> String {
    match delivery.target {
        Target::Endpoint(id) => id.to_string(),
        Target::PostCallWebhook(_) => format!("workspace {}", delivery.workspace),
    }
}

/// Where a claimed delivery goes now and what signs it.
#[derive(Debug, Clone)]
struct ClaimTarget {
    /// An endpoint's URL as it is now (a `postCallWebhook` keeps the one stored).
    url: Option<String>,
    secrets: Secrets,
    failing: bool,
}

/// Its [`ClaimTarget`]; `None` for an endpoint disabled or deleted since.
async fn target_of(tx: &mut dyn Tx, delivery: &StoredDelivery) -> Result<Option<ClaimTarget>> {
    Ok(match delivery.target {
        Target::Endpoint(id) => tx
            .endpoint(&delivery.workspace, id, false)
            .await?
            .filter(|e| !e.disabled)
            .map(|e| ClaimTarget {
                url: Some(e.url),
                secrets: e.secrets,
                failing: e.failure_streak > 0,
            }),
        Target::PostCallWebhook(_) => Some(ClaimTarget {
            url: None,
            secrets: match tx.workspace_secrets(&delivery.workspace, false).await? {
                Some(secrets) => secrets,
                None => {
                    let made = Secrets::generate();
                    tx.put_workspace_secrets(&delivery.workspace, &made).await?;
                    made
                }
            },
            failing: false,
        }),
    })
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
    pub attempt: Attempt,
    pub outcome: Outcome,
    pub disable_after_ms: i64,
    /// As the claim saw its endpoint: failing (a success resets the streak) or not.
    pub endpoint_failing: bool,
}

impl RecordAttempt {
    /// Records it in `tx`: the delivery as it now stands, or `None` if another worker took it.
    async fn record(&self, tx: &mut dyn Tx) -> Result<Option<StoredDelivery>> {
        let Some(mut delivery) = tx.lock_delivery(None, self.id).await? else {
            return Ok(None);
        };
        if delivery
            .lease
            .as_ref()
            .is_some_and(|(t, _)| *t != self.token)
        {
            return Ok(None);
        }
        let at = self.attempt.at;
        let mut attempt = self.attempt.clone();
        attempt.number = delivery.attempts + 1;
        tx.insert_attempt(delivery.id, &attempt).await?;
        delivery.attempts = attempt.number;
        delivery.first_attempt_at.get_or_insert(at);
        delivery.last_status_code = attempt.status_code;
        delivery.last_error = attempt.error.clone();
        delivery.lease = None;
        if delivery.status == DeliveryStatus::Pending {
            match self.outcome {
                Outcome::Succeeded => delivery.end(DeliveryStatus::Succeeded, at),
                Outcome::RetryAt(next) if delivery.attempts < delivery.max_attempts => {
                    delivery.next_attempt_at = Some(next);
                }
                Outcome::RetryAt(_) | Outcome::Failed | Outcome::Gone => {
                    delivery.end(DeliveryStatus::Failed, at)
                }
            }
        }
        tx.put_delivery(&delivery).await?;
        let unchanged = self.outcome == Outcome::Succeeded && !self.endpoint_failing;
        if let (Target::Endpoint(endpoint), false) = (delivery.target, unchanged) {
            track_endpoint(tx, &delivery.workspace, endpoint, self, at).await?;
        }
        Ok(Some(delivery))
    }
}

#[async_trait]
impl WriteOp for RecordAttempt {
    type Output = Option<StoredDelivery>;
    const NAME: &'static str = "record_webhook_attempt";

    async fn run(self, tx: &mut dyn Tx) -> Result<Option<StoredDelivery>> {
        self.record(tx).await
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
        for record in &self.0 {
            record.record(tx).await?;
        }
        Ok(())
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
                humanize_ms(record.disable_after_ms),
                crate::webhooks::reads::rfc3339(since)
            ))
        } else {
            None
        };
        if let Some(reason) = reason.filter(|_| !endpoint.disabled) {
            endpoint.disabled = true;
            endpoint.disabled_reason = Some(reason.clone());
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

fn humanize_ms(ms: i64) -> String {
    let d = std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    dialplane_core::webhooks::RetrySchedule::new(vec![d]).to_string()
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
        tx.insert_event(&event).await?;
        let mut delivery =
            super::outbox::new_delivery(&event, Target::Endpoint(endpoint.id), &endpoint.url, 1);
        delivery.lease = Some((self.token, now + self.lease_ms));
        tx.put_delivery(&delivery).await?;
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

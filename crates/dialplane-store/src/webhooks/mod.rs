//! Webhooks: a workspace's endpoints and secrets, the outbox of events ([`outbox`]: written in the
//! transaction of the change that causes them), and each event's deliveries with their attempts
//! ([`deliveries`]: claimed under a lease, recorded, retried, redelivered).
//!
//! Times here are Unix milliseconds. An endpoint is stored as one JSON document beside the columns
//! its queries need (whether it is enabled, the event types it subscribes to).

pub mod claims;
pub mod deliveries;
pub mod outbox;
pub(crate) mod reads;
pub(crate) mod sql;
pub mod subscriptions;
pub(crate) mod tx;
pub mod unpack;

use crate::write::{Tx, WriteOp};
use crate::{Kind, Result, StoreError};
use async_trait::async_trait;
use dialplane_core::webhooks::{generate_secret, EventType};
use dialplane_core::{AgentId, ConversationId, CreatedBy, DeliveryId, EndpointId, EventId};
use serde::{Deserialize, Serialize};

pub use claims::{CancelDeliveries, ClaimDeliveries, Claimed, Claims};
pub use deliveries::{
    Attempt, DeliveryStatus, Outcome, PurgeDeliveryLog, RecordAttempt, RecordAttempts, Redeliver,
    ReleaseLeases, SendPing, StoredDelivery, Target,
};
pub use outbox::{DocumentPayload, OutboxSettings};
pub use reads::{rfc3339, DeliveryQuery, WebhookStats};

/// How long a replaced secret keeps signing beside the new one.
pub const ROTATION_OVERLAP_MS: i64 = 24 * 3600 * 1000;

/// Replaced secrets kept signing at most, beside the current one: past it, the oldest stops early.
pub const MAX_SIGNING_SECRETS: usize = 16;

/// The secrets that sign one target's deliveries: the current one, and during a rotation the one
/// it replaced, until `previous_until`, and any replaced before it whose own 24 h have not run out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secrets {
    pub current: String,
    pub previous: Option<String>,
    pub previous_until: Option<i64>,
    /// Secrets replaced before `previous`, each with the end of its overlap, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier: Vec<(String, i64)>,
}

impl Secrets {
    pub fn generate() -> Self {
        Self {
            current: generate_secret(),
            previous: None,
            previous_until: None,
            earlier: Vec::new(),
        }
    }

    /// The secrets that sign at `now`: the current one first, then the replaced ones, newest first.
    pub fn signing(&self, now: i64) -> Vec<String> {
        let mut all = vec![self.current.clone()];
        if let (Some(previous), Some(until)) = (&self.previous, self.previous_until) {
            if now < until {
                all.push(previous.clone());
            }
        }
        let earlier = self.earlier.iter().rev().filter(|(_, until)| now < *until);
        all.extend(earlier.map(|(secret, _)| secret.clone()));
        all
    }

    pub(crate) fn from_json(stored: &str) -> Result<Self> {
        serde_json::from_str(stored)
            .map_err(|e| StoreError::Internal(format!("stored secrets: {e}")))
    }

    pub(crate) fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| StoreError::Internal(format!("secrets: {e}")))
    }

    /// A new current secret; the old one signs beside it for [`ROTATION_OVERLAP_MS`], as do those
    /// replaced before it until their own overlaps end (at most [`MAX_SIGNING_SECRETS`] in all).
    pub fn rotate(&mut self, now: i64) {
        if let (Some(previous), Some(until)) = (self.previous.take(), self.previous_until.take()) {
            self.earlier.push((previous, until));
        }
        self.earlier.retain(|(_, until)| now < *until);
        let keep = MAX_SIGNING_SECRETS - 2;
        if self.earlier.len() > keep {
            self.earlier.drain(..self.earlier.len() - keep);
        }
        let old = std::mem::replace(&mut self.current, generate_secret());
        self.previous = Some(old);
        self.previous_until = Some(now + ROTATION_OVERLAP_MS);
    }
}

/// A workspace endpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredEndpoint {
    pub id: EndpointId,
    pub url: String,
    pub event_types: Vec<EventType>,
    pub description: String,
    pub disabled: bool,
    pub disabled_reason: Option<String>,
    pub secrets: Secrets,
    /// When the attempts to it started failing, every one since (none while the last succeeded).
    pub failing_since: Option<i64>,
    /// Attempts failed in a row.
    pub failure_streak: u32,
    pub created_at: String,
    pub updated_at: String,
    pub created_by: CreatedBy,
}

impl StoredEndpoint {
    /// The column its fan-out query matches: each type between spaces.
    pub(crate) fn subscribed(&self) -> String {
        let mut s = String::from(" ");
        for t in &self.event_types {
            s.push_str(t.as_str());
            s.push(' ');
        }
        s
    }

    pub(crate) fn to_document(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| StoreError::Internal(format!("endpoint: {e}")))
    }

    pub(crate) fn from_document(document: &str) -> Result<Self> {
        serde_json::from_str(document)
            .map_err(|e| StoreError::Internal(format!("stored endpoint: {e}")))
    }
}

/// The webhook statements of a write's transaction.
#[async_trait]
pub trait WebhookTx: Send {
    /// Stores the endpoint, new or changed.
    async fn put_endpoint(&mut self, workspace: &str, endpoint: &StoredEndpoint) -> Result<()>;
    /// The endpoint; `lock`: against concurrent writers until the transaction ends.
    async fn endpoint(
        &mut self,
        workspace: &str,
        id: EndpointId,
        lock: bool,
    ) -> Result<Option<StoredEndpoint>>;
    async fn delete_endpoint(&mut self, workspace: &str, id: EndpointId) -> Result<bool>;
    /// The enabled endpoints of the workspace that subscribe to `event_type`.
    async fn subscribed_endpoints(
        &mut self,
        workspace: &str,
        event_type: EventType,
    ) -> Result<Vec<subscriptions::Subscription>>;
    /// The workspace's secrets for `postCallWebhook` deliveries; `lock` as for endpoints.
    async fn workspace_secrets(&mut self, workspace: &str, lock: bool) -> Result<Option<Secrets>>;
    async fn put_workspace_secrets(&mut self, workspace: &str, secrets: &Secrets) -> Result<()>;
    /// Stores a new event and its new deliveries (one statement on PostgreSQL) in the tables the
    /// log and the worker read.
    async fn insert_event(
        &mut self,
        event: &deliveries::StoredEvent,
        deliveries: &[StoredDelivery],
    ) -> Result<()>;
    /// Puts a new event and its new deliveries in the outbox, to be unpacked into the log's tables
    /// later ([`unpack`]).
    async fn log_event(
        &mut self,
        event: &deliveries::StoredEvent,
        deliveries: &[StoredDelivery],
    ) -> Result<()>;
    /// Puts `event` in the outbox with a delivery (of `attempts` attempts) to each enabled
    /// endpoint of its workspace subscribed to its type, if there is one: whether there is. On
    /// PostgreSQL the fan-out and the outbox in one statement.
    async fn log_event_for_subscribers(
        &mut self,
        event: &deliveries::StoredEvent,
        attempts: u32,
    ) -> Result<bool>;
    /// Moves the outbox's rows into the log's tables (as [`Self::insert_event`] stores): every row
    /// (`None`), or the oldest rows up to the first that makes `Some(n)` deliveries in all (a
    /// claim of `n` takes no longer than its own share); how many deliveries. Every statement
    /// below that reads or changes stored events or deliveries unpacks first, once a transaction:
    /// a claim its share, the others everything.
    async fn unpack_outbox(&mut self, deliveries: Option<u32>) -> Result<u64>;
    /// The body an event's deliveries send (empty once its conversation was erased).
    async fn event_payload(&mut self, id: EventId) -> Result<Option<String>>;
    /// Stores the delivery, new or changed (its lease included).
    async fn put_delivery(&mut self, delivery: &StoredDelivery) -> Result<()>;
    /// The delivery, locked against concurrent writers until the transaction ends.
    async fn lock_delivery(
        &mut self,
        workspace: Option<&str>,
        id: DeliveryId,
    ) -> Result<Option<StoredDelivery>>;
    /// Up to `limit` pending deliveries due at `now` and not leased, oldest due first, with their
    /// payloads, leaving out targets in `busy` and deliveries in `in_flight`; on PostgreSQL,
    /// skipping rows other transactions hold.
    async fn due_deliveries(
        &mut self,
        now: i64,
        limit: u32,
        busy: &[String],
        in_flight: &[DeliveryId],
    ) -> Result<Vec<(StoredDelivery, Option<String>)>>;
    /// Leases the deliveries to `token` until `until`.
    async fn lease_deliveries(&mut self, ids: &[DeliveryId], token: &str, until: i64)
        -> Result<()>;
    /// Whether this database has no other instance writing to it (SQLite): nothing needs a lease.
    fn only_instance(&self) -> bool;
    /// When the next pending delivery after `now` falls due.
    async fn next_due(&mut self, now: i64) -> Result<Option<i64>>;
    async fn insert_attempt(&mut self, delivery: DeliveryId, attempt: &Attempt) -> Result<()>;
    /// The deliveries there are of `ids`, each locked as [`Self::lock_delivery`] locks one.
    async fn lock_deliveries(&mut self, ids: &[DeliveryId]) -> Result<Vec<StoredDelivery>>;
    /// Stores `attempts`, and `deliveries` as they now stand (on PostgreSQL in one statement each,
    /// whatever their number).
    async fn record_attempts(
        &mut self,
        attempts: &[(DeliveryId, Attempt)],
        deliveries: &[StoredDelivery],
    ) -> Result<()>;
    /// Ends the endpoint's pending deliveries with `status` and `error`: how many.
    async fn end_pending_deliveries(
        &mut self,
        workspace: &str,
        endpoint: EndpointId,
        status: DeliveryStatus,
        error: &str,
        now: i64,
    ) -> Result<u64>;
    /// Cancels the pending deliveries of the conversation's events and blanks their payloads and
    /// the response bodies of their attempts.
    async fn erase_conversation_deliveries(
        &mut self,
        workspace: &str,
        conversation: ConversationId,
        now: i64,
    ) -> Result<()>;
    /// Clears every lease (the only instance, starting: no attempt is under way).
    async fn release_leases(&mut self) -> Result<u64>;
    /// Forgets up to `limit` deliveries that ended before `before`, their attempts, and events left
    /// without deliveries: how many deliveries.
    async fn purge_deliveries(&mut self, before: i64, limit: u32) -> Result<u64>;
}

/// Moves what the outbox holds into the log's tables ([`unpack`]): everything, or the oldest rows
/// up to the first that makes `deliveries` in all (as [`WebhookTx::unpack_outbox`]); how many
/// deliveries.
#[derive(Debug, Clone, Copy)]
pub struct UnpackOutbox {
    pub deliveries: Option<u32>,
}

#[async_trait]
impl WriteOp for UnpackOutbox {
    type Output = u64;
    const NAME: &'static str = "unpack_webhook_outbox";

    async fn run(self, tx: &mut dyn Tx) -> Result<u64> {
        tx.unpack_outbox(self.deliveries).await
    }
}

/// The current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Adds an endpoint to the workspace, with a new secret.
#[derive(Debug, Clone)]
pub struct CreateEndpoint {
    pub workspace: String,
    pub url: String,
    pub event_types: Vec<EventType>,
    pub description: String,
    pub user: CreatedBy,
}

#[async_trait]
impl WriteOp for CreateEndpoint {
    type Output = StoredEndpoint;
    const NAME: &'static str = "create_webhook_endpoint";

    async fn run(self, tx: &mut dyn Tx) -> Result<StoredEndpoint> {
        let at = crate::now();
        let endpoint = StoredEndpoint {
            id: EndpointId::generate(),
            url: self.url,
            event_types: self.event_types,
            description: self.description,
            disabled: false,
            disabled_reason: None,
            secrets: Secrets::generate(),
            failing_since: None,
            failure_streak: 0,
            created_at: at.clone(),
            updated_at: at,
            created_by: self.user,
        };
        tx.put_endpoint(&self.workspace, &endpoint).await?;
        Ok(endpoint)
    }
}

/// A merge patch of an endpoint's `url`, `eventTypes`, `description` and `disabled`.
#[derive(Debug, Clone)]
pub struct UpdateEndpoint {
    pub workspace: String,
    pub id: EndpointId,
    pub url: Option<String>,
    pub event_types: Option<Vec<EventType>>,
    pub description: Option<String>,
    pub disabled: Option<bool>,
}

#[async_trait]
impl WriteOp for UpdateEndpoint {
    type Output = StoredEndpoint;
    const NAME: &'static str = "update_webhook_endpoint";

    async fn run(self, tx: &mut dyn Tx) -> Result<StoredEndpoint> {
        let current = locked_endpoint(tx, &self.workspace, self.id).await?;
        let mut next = current.clone();
        if let Some(url) = self.url {
            next.url = url;
        }
        if let Some(types) = self.event_types {
            next.event_types = types;
        }
        if let Some(description) = self.description {
            next.description = description;
        }
        match self.disabled {
            Some(true) if !current.disabled => {
                next.disabled = true;
                next.disabled_reason = Some("disabled by a PATCH".into());
            }
            Some(false) if current.disabled => {
                // Enabled again: it starts afresh.
                next.disabled = false;
                next.disabled_reason = None;
                next.failing_since = None;
                next.failure_streak = 0;
            }
            _ => {}
        }
        if next == current {
            return Ok(current);
        }
        next.updated_at = crate::now();
        tx.put_endpoint(&self.workspace, &next).await?;
        if next.disabled && !current.disabled {
            tx.end_pending_deliveries(
                &self.workspace,
                self.id,
                DeliveryStatus::Failed,
                "the endpoint was disabled by a PATCH",
                now_ms(),
            )
            .await?;
        }
        Ok(next)
    }
}

/// Removes an endpoint; its pending deliveries are cancelled.
#[derive(Debug, Clone)]
pub struct DeleteEndpoint {
    pub workspace: String,
    pub id: EndpointId,
}

#[async_trait]
impl WriteOp for DeleteEndpoint {
    type Output = ();
    const NAME: &'static str = "delete_webhook_endpoint";

    async fn run(self, tx: &mut dyn Tx) -> Result<()> {
        if !tx.delete_endpoint(&self.workspace, self.id).await? {
            return Err(StoreError::NotFound {
                kind: Kind::WebhookEndpoint,
            });
        }
        tx.end_pending_deliveries(
            &self.workspace,
            self.id,
            DeliveryStatus::Cancelled,
            "the endpoint was deleted",
            now_ms(),
        )
        .await?;
        Ok(())
    }
}

/// A new secret for an endpoint; the old one keeps signing beside it for 24 h.
#[derive(Debug, Clone)]
pub struct RotateEndpointSecret {
    pub workspace: String,
    pub id: EndpointId,
}

#[async_trait]
impl WriteOp for RotateEndpointSecret {
    type Output = StoredEndpoint;
    const NAME: &'static str = "rotate_webhook_endpoint_secret";

    async fn run(self, tx: &mut dyn Tx) -> Result<StoredEndpoint> {
        let mut endpoint = locked_endpoint(tx, &self.workspace, self.id).await?;
        endpoint.secrets.rotate(now_ms());
        endpoint.updated_at = crate::now();
        tx.put_endpoint(&self.workspace, &endpoint).await?;
        Ok(endpoint)
    }
}

/// The workspace's secret for `postCallWebhook` deliveries, made if it has none yet; with
/// `rotate`, a new one (the old one signs beside it for 24 h).
#[derive(Debug, Clone)]
pub struct WorkspaceSecret {
    pub workspace: String,
    pub rotate: bool,
}

#[async_trait]
impl WriteOp for WorkspaceSecret {
    type Output = Secrets;
    const NAME: &'static str = "webhook_workspace_secret";

    async fn run(self, tx: &mut dyn Tx) -> Result<Secrets> {
        let (mut secrets, stored) = match tx.workspace_secrets(&self.workspace, true).await? {
            Some(secrets) => (secrets, true),
            None => (Secrets::generate(), false),
        };
        if self.rotate {
            secrets.rotate(now_ms());
        }
        if self.rotate || !stored {
            tx.put_workspace_secrets(&self.workspace, &secrets).await?;
        }
        Ok(secrets)
    }
}

async fn locked_endpoint(
    tx: &mut dyn Tx,
    workspace: &str,
    id: EndpointId,
) -> Result<StoredEndpoint> {
    tx.endpoint(workspace, id, true)
        .await?
        .ok_or(StoreError::NotFound {
            kind: Kind::WebhookEndpoint,
        })
}

/// A delivery's target as stored: an endpoint, or an agent's `postCallWebhook`.
pub(crate) fn target_columns(target: &Target) -> (Option<String>, Option<String>) {
    match target {
        Target::Endpoint(id) => (Some(id.to_string()), None),
        Target::PostCallWebhook(agent) => (None, Some(agent.to_string())),
    }
}

/// A target from its stored columns.
pub(crate) fn target_from(endpoint: Option<&str>, agent: Option<&str>) -> Result<Target> {
    match (endpoint, agent) {
        (Some(e), _) => Ok(Target::Endpoint(crate::parse_id(e)?)),
        (None, Some(a)) => Ok(Target::PostCallWebhook(crate::parse_id::<AgentId>(a)?)),
        (None, None) => Err(StoreError::Internal("a delivery without a target".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::{Secrets, MAX_SIGNING_SECRETS, ROTATION_OVERLAP_MS};

    #[test]
    fn each_replaced_secret_signs_for_its_own_day() {
        let day = ROTATION_OVERLAP_MS;
        let mut secrets = Secrets::generate();
        let first = secrets.current.clone();
        secrets.rotate(0);
        let second = secrets.current.clone();
        secrets.rotate(60_000);
        let third = secrets.current.clone();
        assert_eq!(
            secrets.signing(60_000),
            [third.clone(), second.clone(), first]
        );
        assert_eq!(
            secrets.signing(day),
            [third.clone(), second],
            "the first's day is over"
        );
        assert_eq!(secrets.signing(day + 60_000), [third]);
        secrets.rotate(day + 60_000);
        assert_eq!(secrets.earlier, [], "ended overlaps are dropped");
    }

    #[test]
    fn rotations_keep_a_bounded_number_signing() {
        let mut secrets = Secrets::generate();
        for at in 0..40 {
            secrets.rotate(at);
        }
        let signing = secrets.signing(40);
        assert_eq!(signing.len(), MAX_SIGNING_SECRETS);
        assert_eq!(signing[0], secrets.current);
    }

    #[test]
    fn secrets_stored_before_earlier_existed_still_read() {
        let stored = r#"{"current":"whsec_a","previous":"whsec_b","previous_until":5}"#;
        let secrets = Secrets::from_json(stored).unwrap();
        assert_eq!(secrets.signing(4), ["whsec_a", "whsec_b"]);
        assert!(!secrets.to_json().unwrap().contains("earlier"));
    }
}

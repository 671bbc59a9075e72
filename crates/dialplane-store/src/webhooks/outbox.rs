//! The outbox: the events a write emitted, stored in its own transaction with a delivery for each
//! target (the enabled endpoints subscribed to the type; for a conversation's events, its agent's
//! `postCallWebhook`), so that nothing is sent before the commit and a crash loses nothing. They
//! are stored compactly, in the outbox's table, and unpacked into the log's later ([`super::unpack`]).
//!
//! [`record`] runs for every write that stands (never for a dry run), inside its transaction,
//! after the write's own statements ([`crate::write`]).

use super::deliveries::{DeliveryStatus, StoredDelivery, StoredEvent, Target};
use super::now_ms;
use crate::write::{Event, Tx};
use crate::{Result, StoreError, StoredDocument};
use dialplane_core::webhooks::EventType;
use dialplane_core::{ConversationId, DeliveryId, EventId};
use serde_json::{json, Value};
use std::sync::Arc;

/// Renders a document as the API answers it (its links need the server's public address).
pub type DocumentPayload = Arc<dyn Fn(&StoredDocument) -> Value + Send + Sync>;

/// What the outbox needs to know of the server.
#[derive(Clone)]
pub struct OutboxSettings {
    /// Attempts a new delivery gets (the retry schedule's).
    pub attempts: u32,
    pub document: Option<DocumentPayload>,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            attempts: dialplane_core::webhooks::RetrySchedule::default().attempts(),
            document: None,
        }
    }
}

/// Stores the webhook events among `events` with their deliveries.
pub(crate) async fn record(
    tx: &mut dyn Tx,
    events: &[Event],
    settings: &OutboxSettings,
) -> Result<()> {
    let mut due = false;
    for event in events {
        let Some((workspace, event_type, post_call_webhook)) = described(event) else {
            continue;
        };
        if !tx.only_instance() && post_call_webhook.is_none() && told_without_reading(event) {
            // The endpoints are read in every transaction (other instances change them): one
            // statement reads them and stores the event for them, if any.
            let Some((data, conversation)) = data(tx, event, settings).await? else {
                continue;
            };
            let stored = new_event(workspace, event_type, conversation, data, now_ms())?;
            due |= tx
                .log_event_for_subscribers(&stored, settings.attempts)
                .await?;
            continue;
        }
        let mut targets: Vec<(Target, String)> = tx
            .subscribed_endpoints(workspace, event_type)
            .await?
            .into_iter()
            .map(|e| (Target::Endpoint(e.id), e.url))
            .collect();
        if let Some((agent, url)) = post_call_webhook.filter(|(_, url)| !url.is_empty()) {
            targets.push((Target::PostCallWebhook(agent), url.to_owned()));
        }
        if targets.is_empty() {
            continue;
        }
        let Some((data, conversation)) = data(tx, event, settings).await? else {
            continue;
        };
        let stored = new_event(workspace, event_type, conversation, data, now_ms())?;
        let deliveries: Vec<_> = targets
            .into_iter()
            .map(|(target, url)| new_delivery(&stored, target, &url, settings.attempts))
            .collect();
        tx.log_event(&stored, &deliveries).await?;
        due = true;
    }
    if due {
        tx.emit(Event::DeliveriesDue);
    }
    Ok(())
}

/// An agent and its `postCallWebhook`.
type PostCallWebhook<'e> = Option<(dialplane_core::AgentId, &'e str)>;

/// A webhook event's workspace and type, and for a conversation's, its agent's `postCallWebhook`.
fn described(event: &Event) -> Option<(&str, EventType, PostCallWebhook<'_>)> {
    Some(match event {
        Event::AgentCreated { workspace, .. } => (workspace, EventType::AgentCreated, None),
        Event::AgentUpdated { workspace, .. } => (workspace, EventType::AgentUpdated, None),
        Event::AgentDeleted { workspace, .. } => (workspace, EventType::AgentDeleted, None),
        Event::ConversationCompleted {
            workspace,
            agent_id,
            post_call_webhook,
            ..
        } => (
            workspace,
            EventType::ConversationCompleted,
            Some((*agent_id, post_call_webhook.as_str())),
        ),
        Event::ConversationAnalyzed {
            workspace,
            agent_id,
            post_call_webhook,
            ..
        } => (
            workspace,
            EventType::ConversationAnalyzed,
            Some((*agent_id, post_call_webhook.as_str())),
        ),
        Event::DocumentSettled {
            workspace, ready, ..
        } => (
            workspace,
            if *ready {
                EventType::DocumentReady
            } else {
                EventType::DocumentFailed
            },
            None,
        ),
        Event::EndpointDisabled { workspace, .. } => (workspace, EventType::EndpointDisabled, None),
        Event::KeysChanged
        | Event::DocumentCreated { .. }
        | Event::DocumentUpdated { .. }
        | Event::DocumentDeleted { .. }
        | Event::OptOutsChanged { .. }
        | Event::DeliveriesDue => return None,
    })
}

/// Whether the event's `data` is all in the event (nothing to read in the transaction).
fn told_without_reading(event: &Event) -> bool {
    matches!(
        event,
        Event::AgentCreated { .. }
            | Event::AgentUpdated { .. }
            | Event::AgentDeleted { .. }
            | Event::EndpointDisabled { .. }
    )
}

/// The event's `data`, as of this transaction, and the conversation it tells of; `None` if what
/// it tells of is gone already.
async fn data(
    tx: &mut dyn Tx,
    event: &Event,
    settings: &OutboxSettings,
) -> Result<Option<(Value, Option<ConversationId>)>> {
    Ok(Some(match event {
        Event::AgentCreated {
            agent_id, version, ..
        }
        | Event::AgentDeleted {
            agent_id, version, ..
        } => (
            json!({ "agentId": agent_id, "version": version, "changedPaths": [] }),
            None,
        ),
        Event::AgentUpdated {
            agent_id,
            version,
            changed_paths,
            ..
        } => (
            json!({ "agentId": agent_id, "version": version, "changedPaths": changed_paths }),
            None,
        ),
        Event::ConversationCompleted {
            workspace,
            conversation_id,
            ..
        }
        | Event::ConversationAnalyzed {
            workspace,
            conversation_id,
            ..
        } => {
            let Some(stored) = tx.lock_conversation(workspace, *conversation_id).await? else {
                return Ok(None);
            };
            let detail = serde_json::to_value(stored.conversation())
                .map_err(|e| StoreError::Internal(format!("a conversation's payload: {e}")))?;
            (detail, Some(*conversation_id))
        }
        Event::DocumentSettled {
            workspace,
            document_id,
            ..
        } => {
            let Some(document) = tx.lock_document(workspace, document_id).await? else {
                return Ok(None);
            };
            let rendered = match &settings.document {
                Some(render) => render(&document),
                None => json!({
                    "documentId": document.document_id,
                    "name": document.name,
                    "status": document.status.as_str(),
                    "statusMessage": document.status_message,
                }),
            };
            (rendered, None)
        }
        Event::EndpointDisabled {
            endpoint_id,
            reason,
            ..
        } => (json!({ "endpointId": endpoint_id, "reason": reason }), None),
        _ => return Ok(None),
    }))
}

/// An event with its body: `{"type", "timestamp", "data"}`.
pub(crate) fn new_event(
    workspace: &str,
    event_type: EventType,
    conversation_id: Option<ConversationId>,
    data: Value,
    now: i64,
) -> Result<StoredEvent> {
    let body = json!({
        "type": event_type.as_str(),
        "timestamp": super::reads::rfc3339(now),
        "data": data,
    });
    Ok(StoredEvent {
        id: EventId::generate(),
        workspace: workspace.to_owned(),
        event_type,
        conversation_id,
        created_at: now,
        payload: serde_json::to_string(&body)
            .map_err(|e| StoreError::Internal(format!("an event's payload: {e}")))?,
    })
}

/// A delivery of `event` to `target`, due now.
pub(crate) fn new_delivery(
    event: &StoredEvent,
    target: Target,
    url: &str,
    attempts: u32,
) -> StoredDelivery {
    StoredDelivery {
        id: DeliveryId::generate(),
        workspace: event.workspace.clone(),
        event_id: event.id,
        event_type: event.event_type,
        target,
        url: url.to_owned(),
        status: DeliveryStatus::Pending,
        attempts: 0,
        max_attempts: attempts.max(1),
        next_attempt_at: Some(event.created_at),
        last_status_code: None,
        last_error: None,
        created_at: event.created_at,
        first_attempt_at: None,
        finished_at: None,
        lease: None,
    }
}

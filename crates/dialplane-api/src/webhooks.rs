//! Webhooks' wire types: endpoints (with their secret, shown once), the workspace secret, and
//! deliveries with their attempt log.

use crate::envelope::schema_ref;
use crate::knowledge_base::CursorPagination;
use crate::named_envelope;
use dialplane_core::webhooks::EventType;
use dialplane_core::{AgentId, DeliveryId, EndpointId, EventId, Metadata};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A workspace endpoint: where events of the types it subscribes to are delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEndpoint {
    pub endpoint_id: EndpointId,
    #[schema(example = "https://hooks.example.com/dialplane")]
    pub url: String,
    pub event_types: Vec<EventType>,
    pub description: String,
    /// A disabled endpoint receives nothing; enable it again with a PATCH.
    pub disabled: bool,
    /// Why it was disabled (a 410, days of failure, a PATCH); `null` while enabled.
    pub disabled_reason: Option<String>,
    pub metadata: Metadata,
}

/// An endpoint with its secret: answered at creation and by `rotate-secret`, never again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEndpointWithSecret {
    pub endpoint_id: EndpointId,
    pub url: String,
    pub event_types: Vec<EventType>,
    pub description: String,
    pub disabled: bool,
    pub disabled_reason: Option<String>,
    pub metadata: Metadata,
    /// `whsec_` and standard base64 of 32 random bytes: what receivers verify signatures with.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

/// What `POST /webhook-endpoints` takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookEndpointCreate {
    /// `https`, or `http` to a loopback host (any host with `--allow-private-urls`); at most 2048
    /// characters.
    #[schema(example = "https://hooks.example.com/dialplane", max_length = 2048)]
    pub url: String,
    /// One or more subscribable types (not `ping`).
    #[schema(min_items = 1)]
    pub event_types: Vec<EventType>,
    /// At most 500 characters; default `""`.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub description: Option<String>,
}

/// What `PATCH /webhook-endpoints/{endpointId}` takes (JSON Merge Patch); `secret` is read-only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookEndpointPatch {
    #[serde(default)]
    #[schema(max_length = 2048)]
    pub url: Option<String>,
    #[serde(default)]
    #[schema(min_items = 1)]
    pub event_types: Option<Vec<EventType>>,
    /// `null` sets `""`.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// `false` enables a disabled endpoint again.
    #[serde(default)]
    pub disabled: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEndpointDeleted {
    pub endpoint_id: EndpointId,
    pub deleted: bool,
}

/// The workspace secret that signs agents' `postCallWebhook` deliveries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSecret {
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
    /// Until when the secret it replaced still signs beside it (RFC 3339); `null` if none does.
    #[schema(format = DateTime)]
    pub previous_secret_expires_at: Option<String>,
}

/// What a delivery goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum TargetKind {
    Endpoint,
    PostCallWebhook,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryTarget {
    pub kind: TargetKind,
    /// For `endpoint`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<EndpointId>,
    /// For `postCallWebhook`: the agent whose URL it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    pub url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Succeeded,
    Failed,
    Cancelled,
}

/// One event's delivery to one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDelivery {
    pub delivery_id: DeliveryId,
    /// The `webhook-id` header of every attempt.
    pub event_id: EventId,
    pub event_type: EventType,
    pub target: DeliveryTarget,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// RFC 3339; `null` unless pending.
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptLogEntry {
    #[schema(format = DateTime)]
    pub at: String,
    pub duration_ms: u64,
    /// `null` when no answer came (refused, unreachable, timed out).
    pub status_code: Option<u16>,
    pub error: Option<String>,
    /// At most 4 KiB of the answer; `null` once its conversation was erased.
    pub response_body: Option<String>,
}

/// A delivery with every attempt, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDeliveryDetail {
    pub delivery_id: DeliveryId,
    pub event_id: EventId,
    pub event_type: EventType,
    pub target: DeliveryTarget,
    pub status: DeliveryStatus,
    pub attempts: u32,
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    pub attempt_log: Vec<AttemptLogEntry>,
}

named_envelope! {
    WebhookEndpointEnvelope = Envelope<WebhookEndpoint>, data: schema_ref::<WebhookEndpoint>(), needs: [WebhookEndpoint]
}

named_envelope! {
    WebhookEndpointWithSecretEnvelope = Envelope<WebhookEndpointWithSecret>, data: schema_ref::<WebhookEndpointWithSecret>(), needs: [WebhookEndpointWithSecret]
}

named_envelope! {
    WebhookEndpointListEnvelope = ListEnvelope<WebhookEndpoint, CursorPagination>
}

named_envelope! {
    WebhookEndpointDeletedEnvelope = Envelope<WebhookEndpointDeleted>, data: schema_ref::<WebhookEndpointDeleted>(), needs: [WebhookEndpointDeleted]
}

named_envelope! {
    WebhookSecretEnvelope = Envelope<WebhookSecret>, data: schema_ref::<WebhookSecret>(), needs: [WebhookSecret]
}

named_envelope! {
    WebhookDeliveryListEnvelope = ListEnvelope<WebhookDelivery, CursorPagination>
}

named_envelope! {
    WebhookDeliveryDetailEnvelope = Envelope<WebhookDeliveryDetail>, data: schema_ref::<WebhookDeliveryDetail>(), needs: [WebhookDeliveryDetail]
}

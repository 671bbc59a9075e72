//! The runtime configuration: what a voice runtime needs at call start, resolved in one document.

use crate::envelope::schema_ref;
use crate::named_envelope;
use dialplane_core::agent::{ConversationConfig, Direction, PhoneNumber, PlatformSettings};
use dialplane_core::AgentId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An agent as a runtime runs it: its configuration with every default filled in, the documents
/// it draws on, the agents it may transfer to, its numbers, and (with `?to=`) whether it may dial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeConfig {
    pub agent_id: AgentId,
    /// The version this is: record it as the conversation's `agentVersion`.
    pub agent_version: u64,
    pub name: String,
    pub direction: Direction,
    pub conversation_config: ConversationConfig,
    pub platform_settings: PlatformSettings,
    pub knowledge_base: Vec<ConfigDocument>,
    pub transfer_targets: Vec<TransferTarget>,
    /// The agent's numbers now.
    pub phone_numbers: Vec<PhoneNumber>,
    /// Only with `?to=`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dial: Option<Dial>,
}

/// A knowledge-base document the agent names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigDocument {
    pub document_id: String,
    pub name: String,
    /// `processing`, `ready` or `failed`.
    pub status: String,
    /// Where its extracted text is read (`GET …/documents/{documentId}/text`).
    pub text_url: String,
}

/// An agent this one may transfer a call to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransferTarget {
    pub agent_id: AgentId,
    pub name: String,
    pub phone_numbers: Vec<PhoneNumber>,
}

/// Whether the runtime may dial the number of `?to=`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Dial {
    pub allowed: bool,
    /// `opted_out` (the number is on the opt-out list) or `inbound_only` (the agent's direction);
    /// absent when allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

named_envelope! {
    RuntimeConfigEnvelope = Envelope<RuntimeConfig>, data: schema_ref::<RuntimeConfig>(), needs: [RuntimeConfig]
}

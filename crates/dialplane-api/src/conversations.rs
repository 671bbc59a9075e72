//! Conversations' wire types: Callin's list item and detail (the detail is
//! [`dialplane_core::conversation::Conversation`]), what runtimes send, and the envelopes.

use crate::envelope::schema_ref;
use crate::knowledge_base::CursorPagination;
use crate::named_envelope;
use dialplane_core::calls::{CallDirection, ConversationStatus, Turn};
use dialplane_core::conversation::{Conversation, KeyMoment, Sentiment};
use dialplane_core::{AgentId, ConversationId, CreatedBy};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// One item of `GET /conversations`, as Callin answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationItem {
    pub conversation_id: ConversationId,
    pub agent_id: AgentId,
    pub start_time_unix: i64,
    pub end_time_unix: Option<i64>,
    pub conversation_duration: Option<i64>,
    pub status: ConversationStatus,
    pub agent_name: String,
    pub direction: CallDirection,
    pub summary: String,
    pub metadata: ItemMetadata,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemMetadata {
    #[schema(format = DateTime)]
    pub created_at: String,
    pub created_by: CreatedBy,
}

/// What `POST /conversations` takes. Times are Unix seconds or milliseconds (a value ≥ 10^11 is
/// milliseconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConversationCreate {
    /// An agent of the workspace.
    pub agent_id: AgentId,
    /// The agent's version the runtime ran (from its runtime config); default its current one.
    #[schema(minimum = 1)]
    pub agent_version: Option<u64>,
    pub direction: CallDirection,
    /// Default `in_progress`.
    pub status: Option<ConversationStatus>,
    /// Default now.
    #[schema(minimum = 0)]
    pub start_time_unix: Option<i64>,
    /// Only for a finished call (default: when it was reported finished).
    #[schema(minimum = 0)]
    pub end_time_unix: Option<i64>,
    /// The runtime's own id of the call (1..=200 characters), unique in the workspace: the same
    /// body again answers the same record.
    #[schema(min_length = 1, max_length = 200)]
    pub external_id: Option<String>,
    #[schema(pattern = r"^\+[1-9][0-9]{1,14}$")]
    pub contact_number: Option<String>,
    #[schema(pattern = r"^\+[1-9][0-9]{1,14}$")]
    pub caller_number: Option<String>,
    /// At most 500.
    pub turns: Option<Vec<Turn>>,
    /// At most 100 000 characters.
    pub summary: Option<String>,
    /// At most 1 000 000 characters; kept as sent. Without it, the turns rendered as lines.
    pub transcript: Option<String>,
    pub sentiment: Option<Sentiment>,
    /// At most 1 000.
    pub key_moments: Option<Vec<KeyMoment>>,
    #[schema(value_type = Option<Object>)]
    pub appointment_scheduled: Option<Map<String, Value>>,
    /// Entity name (of the agent's `platformSettings.dataCollection.entities`) to value; dropped
    /// (and named in `Dropped-Fields`) when the agent has `storeData: false`.
    #[schema(value_type = Option<Object>)]
    pub data_collected: Option<Map<String, Value>>,
    pub voice_mail_detected: Option<bool>,
    /// At most 10 000 characters.
    pub error_message: Option<String>,
    pub call_transferred: Option<bool>,
    /// An http(s) URL; dropped (and named in `Dropped-Fields`) when the agent has `recordVoice: false`.
    pub recording_url: Option<String>,
    /// With `smartOptOut` on the agent, a finished call's `contactNumber` joins the opt-out list.
    pub opted_out: Option<bool>,
}

/// What `PATCH /conversations/{conversationId}` takes: a JSON Merge Patch under the lifecycle rules
/// (`null` resets a field to its default). The fields set when the call was recorded may be sent
/// only as they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConversationPatch {
    /// Forward only: `scheduled` → `in_progress` → `completed`, `failed` or `cancelled`.
    pub status: Option<ConversationStatus>,
    #[schema(minimum = 0)]
    pub start_time_unix: Option<i64>,
    /// Only for a finished call (default: when it was reported finished).
    #[schema(minimum = 0)]
    pub end_time_unix: Option<i64>,
    #[schema(pattern = r"^\+[1-9][0-9]{1,14}$")]
    pub contact_number: Option<String>,
    #[schema(pattern = r"^\+[1-9][0-9]{1,14}$")]
    pub caller_number: Option<String>,
    /// At most 100 000 characters.
    pub summary: Option<String>,
    /// At most 1 000 000 characters; kept as sent. Without it, the turns rendered as lines.
    pub transcript: Option<String>,
    pub sentiment: Option<Sentiment>,
    /// At most 1 000.
    pub key_moments: Option<Vec<KeyMoment>>,
    #[schema(value_type = Option<Object>)]
    pub appointment_scheduled: Option<Map<String, Value>>,
    /// Entity name (of the agent's `platformSettings.dataCollection.entities`) to value; dropped
    /// (and named in `Dropped-Fields`) when the agent has `storeData: false`.
    #[schema(value_type = Option<Object>)]
    pub data_collected: Option<Map<String, Value>>,
    pub voice_mail_detected: Option<bool>,
    /// At most 10 000 characters.
    pub error_message: Option<String>,
    pub call_transferred: Option<bool>,
    /// An http(s) URL; dropped (and named in `Dropped-Fields`) when the agent has `recordVoice: false`.
    pub recording_url: Option<String>,
    /// With `smartOptOut` on the agent, a finished call's `contactNumber` joins the opt-out list.
    pub opted_out: Option<bool>,
}

/// What `POST /conversations/{conversationId}/turns` takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TurnsAppend {
    /// 1..=500 turns.
    #[schema(min_items = 1, max_items = 500)]
    pub turns: Vec<Turn>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationDeleted {
    pub conversation_id: ConversationId,
    pub deleted: bool,
}

named_envelope! {
    ConversationEnvelope = Envelope<Conversation>, data: schema_ref::<Conversation>(),
    needs: [Conversation]
}

named_envelope! {
    ConversationListEnvelope = ListEnvelope<ConversationItem, CursorPagination>
}

named_envelope! {
    ConversationDeletedEnvelope = Envelope<ConversationDeleted>, data: schema_ref::<ConversationDeleted>(),
    needs: [ConversationDeleted]
}

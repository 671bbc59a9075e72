//! Phone numbers' wire types: a workspace's numbers, which agent answers each, and the envelopes.

use crate::envelope::schema_ref;
use crate::knowledge_base::CursorPagination;
use crate::named_envelope;
use dialplane_core::calls::NumberProvider;
use dialplane_core::{AgentId, Metadata, PhoneNumberId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A phone number of the workspace. A number belongs to at most one workspace of the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PhoneNumber {
    pub phone_number_id: PhoneNumberId,
    /// E.164.
    #[schema(example = "+14155550123")]
    pub number: String,
    pub provider: NumberProvider,
    pub label: String,
    /// The agent it is assigned to; `null` if none.
    pub agent_id: Option<AgentId>,
    pub metadata: Metadata,
}

/// What `POST /phone-numbers` takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PhoneNumberCreate {
    /// E.164; unique in the whole server.
    #[schema(example = "+14155550123", pattern = r"^\+[1-9][0-9]{1,14}$")]
    pub number: String,
    pub provider: NumberProvider,
    /// At most 200 characters; default `""`.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub label: Option<String>,
    /// The agent that answers it (an agent of the workspace); default none.
    #[serde(default)]
    pub agent_id: Option<AgentId>,
}

/// What `PATCH /phone-numbers/{phoneNumberId}` takes (JSON Merge Patch): `number` and `provider` are
/// read-only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PhoneNumberPatch {
    /// At most 200 characters; `null` sets `""`.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub label: Option<String>,
    /// `null` unassigns it.
    #[serde(default)]
    pub agent_id: Option<AgentId>,
}

/// Who answers an inbound call to a number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedNumber {
    pub phone_number_id: PhoneNumberId,
    pub number: String,
    pub agent_id: AgentId,
    /// Where the runtime fetches the agent's configuration.
    #[schema(
        example = "https://dialplane.internal/api/public/v1/agents/0193a5b2-7c1d-7e3f-9a4b-5c6d7e8f9a0b/runtime-config"
    )]
    pub runtime_config_url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PhoneNumberDeleted {
    pub phone_number_id: PhoneNumberId,
    pub deleted: bool,
}

named_envelope! {
    PhoneNumberEnvelope = Envelope<PhoneNumber>, data: schema_ref::<PhoneNumber>(), needs: [PhoneNumber]
}

named_envelope! {
    PhoneNumberListEnvelope = ListEnvelope<PhoneNumber, CursorPagination>
}

named_envelope! {
    ResolvedNumberEnvelope = Envelope<ResolvedNumber>, data: schema_ref::<ResolvedNumber>(), needs: [ResolvedNumber]
}

named_envelope! {
    PhoneNumberDeletedEnvelope = Envelope<PhoneNumberDeleted>, data: schema_ref::<PhoneNumberDeleted>(), needs: [PhoneNumberDeleted]
}

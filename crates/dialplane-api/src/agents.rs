//! The agent resource's wire types beside the agent itself: list items and pages, deletions,
//! versions and diffs, and the envelopes that carry them.

use crate::envelope::schema_ref;
use crate::named_envelope;
use crate::views::Views;
use dialplane_core::{Agent, AgentId, AgentSpec, CreatedBy, Metadata};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A list item: the agent's summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentListItem {
    pub agent_id: AgentId,
    pub name: String,
    pub tags: Vec<String>,
    pub metadata: Metadata,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    pub page_size: u32,
    pub has_more: bool,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// `name` or `created_at`.
    pub sort_by: String,
    /// `asc` or `desc`.
    pub sort_direction: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Deleted {
    pub agent_id: AgentId,
    pub deleted: bool,
}

/// One entry of an agent's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionItem {
    pub version: u64,
    #[schema(format = DateTime)]
    pub created_at: String,
    pub created_by: CreatedBy,
    /// JSON Pointers of the fields this version changed (empty for version 1).
    pub changed_paths: Vec<String>,
    /// The version a restore brought back.
    pub restored_from: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionPagination {
    pub page_size: u32,
    pub has_more: bool,
    pub next_cursor: Option<String>,
}

/// An RFC 6902 operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = JsonPatchOperation)]
pub struct PatchOperationDoc {
    pub op: JsonPatchOp,
    /// A JSON Pointer into the agent.
    #[schema(pattern = "^(/.*)?$")]
    pub path: String,
    /// For `move` and `copy`: the JSON Pointer (a string) of the value to move or copy. Other
    /// operations ignore it, whatever it holds (RFC 6902 §4), so it is typed only in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<serde_json::Value>)]
    pub from: Option<String>,
    /// Any JSON value (for `add`, `replace` and `test`).
    pub value: Option<serde_json::Value>,
}

/// What an RFC 6902 operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JsonPatchOp {
    Add,
    Remove,
    Replace,
    Move,
    Copy,
    Test,
}

named_envelope! {
    /// `{"success": true, "data": <agent>}`.
    AgentEnvelope = Envelope<Agent>, data: schema_ref::<Agent>(), needs: [Agent]
}

named_envelope! {
    AgentListEnvelope = ListEnvelope<AgentListItem, Pagination>
}

named_envelope! {
    DeletedEnvelope = Envelope<Deleted>, data: schema_ref::<Deleted>(), needs: [Deleted]
}

named_envelope! {
    VersionListEnvelope = ListEnvelope<VersionItem, VersionPagination>
}

named_envelope! {
    DiffEnvelope = Envelope<Vec<json_patch::PatchOperation>>,
    data: utoipa::openapi::schema::ArrayBuilder::new()
        .items(schema_ref::<PatchOperationDoc>())
        .description(Some("The operations that turn version `from` into the requested version."))
        .build(),
    needs: [PatchOperationDoc]
}

/// The agent's three views in the document: `Agent` as answered, `AgentCreate` and `AgentPatch`.
pub const AGENT_VIEWS: Views = Views {
    response: "Agent",
    writable: "AgentSpec",
    create: "AgentCreate",
    patch: "AgentPatch",
    create_description: "A new agent: `name` and `conversationConfig.agent.prompt.prompt` are required; \
        every other field the server fills with its default.",
    patch_description: "A JSON Merge Patch (RFC 7396) of the agent: every member is optional and an \
        absent one keeps its value; `null` sets a field back to its default (not allowed on `name` and \
        the prompt's `prompt`); objects merge member by member; arrays are replaced whole.",
    required: &[
        ("AgentSpec", &["name", "conversationConfig"]),
        ("ConversationConfig", &["agent"]),
        ("AgentConfig", &["prompt"]),
        ("Prompt", &["prompt"]),
        ("AgentTransfer", &["agentId", "condition"]),
        ("NumberTransfer", &["condition", "transferDestination"]),
        ("Voice", &["label", "voiceId", "language"]),
        ("AudioTag", &["tag"]),
        ("Entity", &["type", "description"]),
    ],
};

/// Declares a request body schema that [`AGENT_VIEWS`] makes from [`AgentSpec`]: in a route's
/// `request_body`, it names the view and brings `AgentSpec`'s schemas into the document for it.
macro_rules! agent_view {
    ($(#[doc = $doc:literal])* $name:ident) => {
        $(#[doc = $doc])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                // Replaced by the view when the document is finished.
                utoipa::openapi::schema::Object::new().into()
            }
        }

        impl ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn schemas(
                schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>,
            ) {
                schemas.push((AgentSpec::name().into(), <AgentSpec as utoipa::PartialSchema>::schema()));
                AgentSpec::schemas(schemas);
            }
        }
    };
}

agent_view! {
    /// The create body (`POST /agents`).
    AgentCreate
}

agent_view! {
    /// The merge-patch body (`PATCH /agents/{agentId}`).
    AgentPatch
}

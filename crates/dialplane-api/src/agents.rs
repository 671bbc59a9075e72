//! The agent resource's wire types beside the agent itself: list items and pages, deletions,
//! versions and diffs, and the envelopes that carry them.

use crate::envelope::schema_ref;
use crate::named_envelope;
use dialplane_core::{Agent, AgentId, CreatedBy, Metadata};
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
    /// `add`, `remove`, `replace`, `move`, `copy` or `test`.
    pub op: String,
    pub path: String,
    /// Any JSON value (for `add`, `replace` and `test`).
    pub value: Option<serde_json::Value>,
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

//! Opt-outs' wire types: a number a workspace must not call, and the envelopes that carry it.

use crate::envelope::schema_ref;
use crate::knowledge_base::CursorPagination;
use crate::named_envelope;
use dialplane_core::CreatedBy;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A number on the workspace's opt-out list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OptOut {
    /// E.164.
    #[schema(example = "+14155550123")]
    pub number: String,
    /// Why, as given when it was added (`""` if none was).
    pub reason: String,
    pub metadata: OptOutMetadata,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OptOutMetadata {
    #[schema(format = DateTime)]
    pub created_at: String,
    pub created_by: CreatedBy,
}

/// What `POST /opt-outs` takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OptOutCreate {
    /// E.164.
    #[schema(example = "+14155550123", pattern = r"^\+[1-9][0-9]{1,14}$")]
    pub number: String,
    /// Why (at most 500 characters); default `""`.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OptOutDeleted {
    pub number: String,
    pub deleted: bool,
}

named_envelope! {
    OptOutEnvelope = Envelope<OptOut>, data: schema_ref::<OptOut>(), needs: [OptOut]
}

named_envelope! {
    OptOutListEnvelope = ListEnvelope<OptOut, CursorPagination>
}

named_envelope! {
    OptOutDeletedEnvelope = Envelope<OptOutDeleted>, data: schema_ref::<OptOutDeleted>(), needs: [OptOutDeleted]
}

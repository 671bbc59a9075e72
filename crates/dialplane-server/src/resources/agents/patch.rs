//! Updating an agent: a JSON Merge Patch, or a JSON Patch (RFC 6902) on its own operation or by
//! media type; both validated as a whole, atomically, as a new version.

use super::crud::{changed_agent, update, HEAVY_BODY_BYTES, HEAVY_PATCH_OPERATIONS};
use crate::auth::Writer;
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{AgentPath, JsonPatchBody, Patch, PatchBody};
use crate::query::{dry_run, Query};
use crate::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use dialplane_api::agents::AgentEnvelope;
use dialplane_core::json_patch::Failure;
use dialplane_core::validate::{validate_document, validate_patch};
use dialplane_core::AgentId;
use dialplane_store::{Change, Principal, Rejection, StoredAgent, Transform};
use std::sync::Arc;

/// Update an agent
///
/// A JSON Merge Patch (RFC 7396) on the stored agent: absent keys are kept, `null` resets a field to
/// its default, objects merge, arrays replace. The merged agent is validated as a whole; nothing is
/// stored unless it is valid, and a patch that changes nothing stores nothing. `If-Match` makes it
/// conditional. A JSON Patch (RFC 6902) sent here with `Content-Type: application/json-patch+json` is
/// applied too; it is documented on its own as `PATCH /agents/{agentId}/json-patch`.
#[utoipa::path(
    patch,
    path = "/api/public/v1/agents/{agentId}",
    operation_id = "updateAgent",
    tag = "agents",
    params(
        ("agentId" = String, Path, pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", description = "The agent's id"),
        ("If-Match" = Option<String>, Header, description = "Only apply if the agent's ETag matches"),
        ("dryRun" = Option<bool>, Query, description = "Run every check and answer what would be stored, storing nothing"),
    ),
    request_body(
        description = "A JSON Merge Patch (`application/json` or `application/merge-patch+json`; `{}` is valid)",
        content(
            (dialplane_api::agents::AgentPatch = "application/json", example = json!({"conversationConfig": {"agent": {"prompt": {"temperature": 0.4}}}, "tags": ["sales", "emea"]})),
            (dialplane_api::agents::AgentPatch = "application/merge-patch+json"),
        )
    ),
    responses(
        (status = 200, description = "The updated agent", body = AgentEnvelope),
        (status = 400, description = "`invalid_json`, `validation_error` or `invalid_parameter`", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: a JSON Patch `test` operation failed (nothing is applied)", body = ErrorEnvelope),
        (status = 412, description = "`precondition_failed`: If-Match does not match", body = ErrorEnvelope),
        (status = 413, description = "`payload_too_large`", body = ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`", body = ErrorEnvelope),
    ),
    security(("apiKey" = []))
)]
pub async fn patch(
    State(state): State<AppState>,
    Writer(principal): Writer,
    AgentPath(id): AgentPath,
    query: Query,
    headers: HeaderMap,
    body: PatchBody,
) -> Result<Response, ApiError> {
    apply_patch(state, principal, id, query, headers, body).await
}

/// Update an agent with a JSON Patch
///
/// A JSON Patch (RFC 6902): operations applied in order to the stored agent, all or nothing; a failed
/// `test` answers 409 and applies nothing. The result is validated as a whole, as for a merge patch.
/// `If-Match` makes it conditional. The body is read as a JSON Patch whether it is sent as
/// `application/json-patch+json` or `application/json`.
#[utoipa::path(
    patch,
    path = "/api/public/v1/agents/{agentId}/json-patch",
    operation_id = "jsonPatchAgent",
    tag = "agents",
    params(
        ("agentId" = String, Path, pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", description = "The agent's id"),
        ("If-Match" = Option<String>, Header, description = "Only apply if the agent's ETag matches"),
        ("dryRun" = Option<bool>, Query, description = "Run every check and answer what would be stored, storing nothing"),
    ),
    request_body(
        description = "A JSON Patch: at most `--max-patch-operations` operations (1000 by default)",
        content(
            (Vec<dialplane_api::agents::PatchOperationDoc> = "application/json-patch+json", example = json!([{"op": "add", "path": "/tags/-", "value": "emea"}, {"op": "test", "path": "/name", "value": "Front desk"}])),
        )
    ),
    responses(
        (status = 200, description = "The updated agent", body = AgentEnvelope),
        (status = 400, description = "`invalid_json`, `validation_error` or `invalid_parameter`", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: a `test` operation failed (nothing is applied)", body = ErrorEnvelope),
        (status = 412, description = "`precondition_failed`: If-Match does not match", body = ErrorEnvelope),
        (status = 413, description = "`payload_too_large`", body = ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`", body = ErrorEnvelope),
    ),
    security(("apiKey" = []))
)]
pub async fn json_patch(
    State(state): State<AppState>,
    Writer(principal): Writer,
    AgentPath(id): AgentPath,
    query: Query,
    headers: HeaderMap,
    JsonPatchBody(body): JsonPatchBody,
) -> Result<Response, ApiError> {
    apply_patch(state, principal, id, query, headers, body).await
}

async fn apply_patch(
    state: AppState,
    principal: Principal,
    id: AgentId,
    query: Query,
    headers: HeaderMap,
    body: PatchBody,
) -> Result<Response, ApiError> {
    let dry_run = dry_run(query)?;
    let rules = state.rules.clone();
    let heavy = body.bytes >= HEAVY_BODY_BYTES
        || matches!(&body.patch, Patch::JsonPatch(ops) if ops.len() >= HEAVY_PATCH_OPERATIONS);
    let transform: Transform = match body.patch {
        Patch::Merge(body) => Arc::new(move |current: &StoredAgent| {
            changed_agent(current, validate_patch(&current.agent, &body, &rules))
        }),
        Patch::JsonPatch(ops) => Arc::new(move |current: &StoredAgent| {
            let mut doc = serde_json::to_value(&current.agent).unwrap_or_default();
            dialplane_core::json_patch::apply(&mut doc, &ops).map_err(|f| match f {
                Failure::TestFailed(p) => Rejection::TestFailed(p),
                Failure::Invalid(p) => Rejection::Invalid(p),
            })?;
            changed_agent(current, validate_document(&current.agent, doc, &rules))
        }),
    };
    let change = Change {
        heavy,
        ..state.change(principal.user.clone(), dry_run, None)
    };
    update(&state, principal, id, &headers, change, transform).await
}

//! Version history: every stored change of an agent is an immutable version. List them, read one,
//! diff two, or restore one as a new version.

use crate::auth::{Caller, Writer};
use crate::error::{ApiError, ErrorCode, ErrorEnvelope};
use crate::extract::{etag, only_known, AgentPath, OptionalJsonObject};
use crate::query::{dry_run, Query};
use crate::resources::agents::crud::{changed_agent, update};
use crate::AppState;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use dialplane_api::agents::{
    AgentEnvelope, DiffEnvelope, VersionItem, VersionListEnvelope, VersionPagination,
};
use dialplane_core::validate::validate_document;
use dialplane_core::AgentId;
use dialplane_store::Kind;
use dialplane_store::{Change, StoredAgent, Transform};
use std::sync::Arc;

const DEFAULT_PAGE_SIZE: u32 = 30;
const MAX_PAGE_SIZE: u32 = 100;

/// The `{agentId}` and `{version}` (a whole number from 1) of a path.
pub struct VersionPath {
    pub id: AgentId,
    pub version: u64,
}

impl<S: Send + Sync> FromRequestParts<S> for VersionPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path((raw_id, raw_version)) =
            Path::<(String, String)>::from_request_parts(parts, state)
                .await
                .map_err(|e| {
                    // The segment that is not UTF-8 once percent-decoded, by its name.
                    let name = match &e {
                        PathRejection::FailedToDeserializePathParams(inner) => match inner.kind() {
                            ErrorKind::InvalidUtf8InPathParam { key } => key.clone(),
                            _ => "path".to_owned(),
                        },
                        _ => "path".to_owned(),
                    };
                    ApiError::parameter(&name, e.body_text())
                })?;
        Ok(VersionPath {
            id: crate::extract::parse_agent_id(&raw_id)?,
            version: version_number("version", &raw_version)?,
        })
    }
}

/// A version number as we write it: `1`, never `01` or `+1` (as ids, one spelling per version).
fn version_number(name: &str, raw: &str) -> Result<u64, ApiError> {
    let canonical = |v: &u64| *v >= 1 && v.to_string() == raw;
    raw.parse::<u64>().ok().filter(canonical).ok_or_else(|| {
        ApiError::parameter(
            name,
            format!("must be a version number from 1, got {raw:?}"),
        )
    })
}

fn no_such_version() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such version of this agent")
}

/// The version's page cursor: opaque to clients.
fn encode_cursor(version: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{version}"))
}

fn decode_cursor(cursor: &str) -> Result<u64, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("v1:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| ApiError::parameter("cursor", "is not a cursor from a previous page"))
}

fn parse_list_query(query: Query) -> Result<(Option<u64>, u32), ApiError> {
    let query = query.known(&["cursor", "pageSize"], &[])?;
    let before = query.get("cursor").map(decode_cursor).transpose()?;
    let page_size = query
        .integer("pageSize", 1..=MAX_PAGE_SIZE)?
        .unwrap_or(DEFAULT_PAGE_SIZE);
    Ok((before, page_size))
}

/// List an agent's versions
///
/// Every stored change, newest first, a page at a time.
#[utoipa::path(get, path = "/api/public/v1/agents/{agentId}/versions", operation_id = "listVersions", tag = "history",
    params(
        ("agentId" = String, Path, pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", description = "The agent's id"),
        ("cursor" = Option<String>, Query, min_length = 1, description = "`nextCursor` of the previous page"),
        ("pageSize" = Option<u32>, Query, description = "1..=100, default 30", minimum = 1, maximum = 100),
    ),
    responses(
        (status = 200, description = "A page of history", body = VersionListEnvelope,
            example = json!({"success": true, "data": [{"version": 2, "createdAt": "2026-11-23T10:05:00.000000Z", "createdBy": {"userId": "admin", "userEmail": "admin@localhost"}, "changedPaths": ["/conversationConfig/agent/prompt/temperature"], "restoredFrom": null}], "pagination": {"pageSize": 30, "hasMore": true, "nextCursor": "djE6Mg"}})),
        (status = 400, description = "`invalid_parameter`", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    AgentPath(id): AgentPath,
    query: Query,
) -> Result<Response, ApiError> {
    let (before, page_size) = parse_list_query(query)?;
    let page = state
        .store
        .list_versions(&principal.workspace, id, before, page_size)
        .await?
        .ok_or_else(|| ApiError::not_found(Kind::Agent))?;
    let next_cursor = match page.items.last() {
        Some(last) if page.has_more => Some(encode_cursor(last.version)),
        _ => None,
    };
    Ok(Json(VersionListEnvelope {
        success: true,
        data: page
            .items
            .into_iter()
            .map(|v| VersionItem {
                version: v.version,
                created_at: v.created_at,
                created_by: v.created_by,
                changed_paths: v.changed_paths,
                restored_from: v.restored_from,
            })
            .collect(),
        pagination: VersionPagination {
            page_size,
            has_more: page.has_more,
            next_cursor,
        },
    })
    .into_response())
}

async fn load_version(
    state: &AppState,
    workspace: &str,
    id: AgentId,
    version: u64,
) -> Result<StoredAgent, ApiError> {
    match state.store.get_version(workspace, id, version).await? {
        Some(v) => Ok(v),
        None if state.store.get_agent(workspace, id).await?.is_none() => {
            Err(ApiError::not_found(Kind::Agent))
        }
        None => Err(no_such_version()),
    }
}

/// Get a version
///
/// The full agent as it was at that version.
#[utoipa::path(get, path = "/api/public/v1/agents/{agentId}/versions/{version}", operation_id = "getVersion", tag = "history",
    params(("agentId" = String, Path, pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", description = "The agent's id"), ("version" = u64, Path, minimum = 1, description = "A version number, from 1")),
    responses(
        (status = 200, description = "The agent at that version; `ETag` names the version", body = AgentEnvelope),
        (status = 400, description = "`invalid_parameter`", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such agent or version", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Caller(principal): Caller,
    VersionPath { id, version }: VersionPath,
) -> Result<Response, ApiError> {
    let stored = load_version(&state, &principal.workspace, id, version).await?;
    let mut response = Json(AgentEnvelope {
        success: true,
        data: stored.agent,
    })
    .into_response();
    if let Ok(tag) = HeaderValue::from_str(&etag(version)) {
        response.headers_mut().insert(header::ETAG, tag);
    }
    Ok(response)
}

/// Diff two versions
///
/// The RFC 6902 operations that turn version `from` (default: the one before) into this version;
/// for the oldest version without `from`, the operations that build it from an empty document.
#[utoipa::path(get, path = "/api/public/v1/agents/{agentId}/versions/{version}/diff", operation_id = "diffVersions", tag = "history",
    params(
        ("agentId" = String, Path, pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", description = "The agent's id"),
        ("version" = u64, Path, minimum = 1, description = "The version to reach"),
        ("from" = Option<u64>, Query, minimum = 1, description = "The version to start from (default: the one before)"),
    ),
    responses(
        (status = 200, description = "JSON Patch operations", body = DiffEnvelope,
            example = json!({"success": true, "data": [{"op": "replace", "path": "/conversationConfig/agent/prompt/temperature", "value": 0.4}]})),
        (status = 400, description = "`invalid_parameter`", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such agent or version", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn diff(
    State(state): State<AppState>,
    Caller(principal): Caller,
    VersionPath { id, version }: VersionPath,
    query: Query,
) -> Result<Response, ApiError> {
    let query = query.known(&["from"], &[])?;
    let from = query
        .get("from")
        .map(|v| version_number("from", v))
        .transpose()?;
    let to = load_version(&state, &principal.workspace, id, version).await?;
    let before = match from {
        Some(from) => Some(load_version(&state, &principal.workspace, id, from).await?),
        // The one before, if there is one: the oldest stored version is built from an empty
        // document, version 1 as well as the first of an agent stored before history existed
        // (its history starts at the revision it had then).
        None if version > 1 => {
            state
                .store
                .get_version(&principal.workspace, id, version - 1)
                .await?
        }
        None => None,
    };
    // Two whole documents compared: off the async workers.
    let data = dialplane_store::cpu::run(true, || {
        let before = before.map_or_else(
            || serde_json::json!({}),
            |v| serde_json::to_value(v.agent).unwrap_or_default(),
        );
        let after = serde_json::to_value(to.agent).unwrap_or_default();
        dialplane_core::json_patch::diff(&before, &after)
    });
    Ok(Json(DiffEnvelope {
        success: true,
        data,
    })
    .into_response())
}

/// Restore a version
///
/// Stores a new version whose content equals that version's, validated against today's rules and
/// references. Restoring content equal to the current one stores nothing. Honours `If-Match` and
/// `dryRun`.
#[utoipa::path(post, path = "/api/public/v1/agents/{agentId}/versions/{version}/restore", operation_id = "restoreVersion", tag = "history",
    params(
        ("agentId" = String, Path, pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", description = "The agent's id"),
        ("version" = u64, Path, minimum = 1, description = "The version to bring back"),
        ("If-Match" = Option<String>, Header, description = "Only restore if the agent's ETag matches"),
        ("dryRun" = Option<bool>, Query, description = "Run every check and answer what would be stored, storing nothing"),
    ),
    responses(
        (status = 200, description = "The agent after the restore", body = AgentEnvelope),
        (status = 400, description = "`validation_error` (the old content breaks today's rules, or a body with members: none are known), `invalid_json` or `invalid_parameter`", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such agent or version", body = ErrorEnvelope),
        (status = 412, description = "`precondition_failed`", body = ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`: a body that is not JSON (none is needed)", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn restore(
    State(state): State<AppState>,
    Writer(principal): Writer,
    VersionPath { id, version }: VersionPath,
    query: Query,
    headers: HeaderMap,
    OptionalJsonObject(body): OptionalJsonObject,
) -> Result<Response, ApiError> {
    let dry_run = dry_run(query)?;
    only_known(body, &[])?;
    // Versions never change, so reading this one outside the write is safe.
    let old = load_version(&state, &principal.workspace, id, version).await?;
    let rules = state.rules.clone();
    let transform: Transform = Arc::new(move |current: &StoredAgent| {
        let mut candidate = current.agent.clone();
        candidate.spec = old.agent.spec.clone();
        let doc = serde_json::to_value(candidate).unwrap_or_default();
        changed_agent(current, validate_document(&current.agent, doc, &rules))
    });
    // A restore validates a whole document: worked on off the async workers, whatever its size.
    let change = Change {
        heavy: true,
        ..state.change(principal.user.clone(), dry_run, Some(version))
    };
    update(&state, principal, id, &headers, change, transform).await
}

//! The agent resource: create, list, get, patch and delete.

use crate::auth::{Caller, Writer};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{etag, idempotency_key, if_match, AgentPath, JsonObject};
use crate::listing::{encode_cursor, parse_query, sort_by_name, sort_direction_name};
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use dialplane_core::validate::{validate_create, validate_patch};
use dialplane_core::{Agent, AgentId, Metadata};
use dialplane_store::{Created, Idempotency, StoredAgent, Transform, Updated};
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

/// `{"success": true, "data": <agent>}`.
#[derive(Serialize, ToSchema)]
pub struct AgentEnvelope {
    pub success: bool,
    pub data: Agent,
}

/// A list item: the agent's summary.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentListItem {
    pub agent_id: AgentId,
    pub name: String,
    pub tags: Vec<String>,
    pub metadata: Metadata,
}

#[derive(Serialize, ToSchema)]
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

#[derive(Serialize, ToSchema)]
pub struct AgentListEnvelope {
    pub success: bool,
    pub data: Vec<AgentListItem>,
    pub pagination: Pagination,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Deleted {
    pub agent_id: AgentId,
    pub deleted: bool,
}

#[derive(Serialize, ToSchema)]
pub struct DeletedEnvelope {
    pub success: bool,
    pub data: Deleted,
}

/// The full agent with its `ETag`.
fn agent_response(status: StatusCode, stored: StoredAgent) -> Response {
    let mut response = (
        status,
        Json(AgentEnvelope {
            success: true,
            data: stored.agent,
        }),
    )
        .into_response();
    if let Ok(tag) = HeaderValue::from_str(&etag(stored.revision)) {
        response.headers_mut().insert(header::ETAG, tag);
    }
    response
}

/// Create an agent
///
/// Creates an agent from `name` and `conversationConfig` (everything else optional) and answers with
/// the full agent, every default filled in. Also served at `POST /agents/create`. With an
/// `Idempotency-Key`, a retried request replays the first answer instead of creating a second agent.
#[utoipa::path(
    post,
    path = "/api/public/v1/agents",
    operation_id = "createAgent",
    tag = "agents",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the same key and body replay the first answer")),
    request_body(content = dialplane_core::AgentSpec, content_type = "application/json",
        example = crate::examples::create_body),
    responses(
        (status = 201, description = "Created; `ETag` names its revision", body = AgentEnvelope),
        (status = 400, description = "`invalid_json` or `validation_error` (every problem in `details`)", body = ErrorEnvelope),
        (status = 401, description = "`unauthorized`", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: a read-only key", body = ErrorEnvelope),
        (status = 413, description = "`payload_too_large`", body = ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`", body = ErrorEnvelope),
        (status = 422, description = "`idempotency_key_reused`", body = ErrorEnvelope),
    ),
    security(("apiKey" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    Writer(principal): Writer,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let idempotency = idempotency_key(&headers)?.map(|key| Idempotency {
        key,
        fingerprint: dialplane_core::json::fingerprint(&serde_json::Value::Object(body.clone())),
    });
    let spec = validate_create(&body, &state.rules).map_err(ApiError::validation)?;
    let now = dialplane_core::agent::timestamp(chrono::Utc::now());
    let agent = Agent {
        agent_id: AgentId::generate(),
        spec,
        phone_numbers: Vec::new(),
        metadata: Metadata {
            created_at: now.clone(),
            updated_at: now,
            created_by: principal.user,
        },
    };
    let created = state
        .store
        .create_agent(&principal.workspace, agent, idempotency)
        .await?;
    let (stored, replayed) = match created {
        Created::New(stored) => (stored, false),
        Created::Replayed(stored) => (stored, true),
    };
    let location = format!("/api/public/v1/agents/{}", stored.agent.agent_id);
    let mut response = agent_response(StatusCode::CREATED, stored);
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// `POST /agents/create`, the hosted API's path for [`create`] (documented by copying its operation).
pub async fn create_hosted(
    state: State<AppState>,
    writer: Writer,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, ApiError> {
    create(state, writer, headers, body).await
}

/// List agents
///
/// Summaries of the workspace's agents, a page at a time, with exact cursors.
#[utoipa::path(
    get,
    path = "/api/public/v1/agents",
    operation_id = "listAgents",
    tag = "agents",
    params(
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page, or a plain RFC 3339 timestamp (created_at) or name (name)"),
        ("pageSize" = Option<u32>, Query, description = "1..=100, default 30", minimum = 1, maximum = 100),
        ("sortBy" = Option<String>, Query, description = "`name` or `created_at` (default)"),
        ("sortDirection" = Option<String>, Query, description = "`asc` or `desc` (default)"),
        ("search" = Option<String>, Query, description = "Case-insensitive part of the name"),
        ("tag" = Option<Vec<String>>, Query, description = "Repeatable: agents having all given tags"),
        ("direction" = Option<String>, Query, description = "`outbound`, `inbound` or `both`"),
    ),
    responses(
        (status = 200, description = "A page of summaries", body = AgentListEnvelope,
            example = json!({"success": true, "data": [{"agentId": "0193a5b2-7c1d-7e3f-9a4b-5c6d7e8f9a0b", "name": "Appointment setter", "tags": ["sales"], "metadata": {"createdAt": "2026-11-23T10:00:00.000000Z", "updatedAt": "2026-11-23T10:00:00.000000Z", "createdBy": {"userId": "admin", "userEmail": "admin@localhost"}}}], "pagination": {"pageSize": 30, "hasMore": false, "nextCursor": null, "sortBy": "created_at", "sortDirection": "desc"}})),
        (status = 400, description = "`invalid_parameter`", body = ErrorEnvelope),
        (status = 401, description = "`unauthorized`", body = ErrorEnvelope),
    ),
    security(("apiKey" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = parse_query(raw.as_deref())?;
    let page = state
        .store
        .list_agents(&principal.workspace, &query)
        .await?;
    let next_cursor = match page.items.last() {
        Some(last) if page.has_more => Some(encode_cursor(
            &query,
            &last.sort_key(query.sort_by),
            last.agent_id,
        )),
        _ => None,
    };
    let body = AgentListEnvelope {
        success: true,
        data: page
            .items
            .into_iter()
            .map(|s| AgentListItem {
                agent_id: s.agent_id,
                name: s.name,
                tags: s.tags,
                metadata: s.metadata,
            })
            .collect(),
        pagination: Pagination {
            page_size: query.page_size,
            has_more: page.has_more,
            next_cursor,
            sort_by: sort_by_name(query.sort_by).into(),
            sort_direction: sort_direction_name(query.sort_direction).into(),
        },
    };
    Ok(Json(body).into_response())
}

/// Get an agent
///
/// The full agent, every field present, with its `ETag`.
#[utoipa::path(
    get,
    path = "/api/public/v1/agents/{agentId}",
    operation_id = "getAgent",
    tag = "agents",
    params(("agentId" = String, Path, description = "The agent's id")),
    responses(
        (status = 200, description = "The agent; `ETag` names its revision", body = AgentEnvelope),
        (status = 400, description = "`invalid_parameter`: not an agent id", body = ErrorEnvelope),
        (status = 401, description = "`unauthorized`", body = ErrorEnvelope),
        (status = 404, description = "`not_found`, also for another workspace's agent", body = ErrorEnvelope),
    ),
    security(("apiKey" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    Caller(principal): Caller,
    AgentPath(id): AgentPath,
) -> Result<Response, ApiError> {
    let stored = state
        .store
        .get_agent(&principal.workspace, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(agent_response(StatusCode::OK, stored))
}

/// Update an agent
///
/// A JSON Merge Patch (RFC 7396) on the stored agent: absent keys are kept, `null` resets a field to
/// its default, objects merge, arrays replace. The merged agent is validated as a whole; nothing is
/// stored unless it is valid, and a patch that changes nothing stores nothing. `If-Match` makes it
/// conditional.
#[utoipa::path(
    patch,
    path = "/api/public/v1/agents/{agentId}",
    operation_id = "updateAgent",
    tag = "agents",
    params(
        ("agentId" = String, Path, description = "The agent's id"),
        ("If-Match" = Option<String>, Header, description = "Only apply if the agent's ETag matches"),
    ),
    request_body(content = Object, content_type = "application/json", description = "A partial agent (JSON Merge Patch); `{}` is valid",
        example = json!({"conversationConfig": {"agent": {"prompt": {"temperature": 0.4}}}, "tags": ["sales", "emea"]})),
    responses(
        (status = 200, description = "The updated agent", body = AgentEnvelope),
        (status = 400, description = "`invalid_json`, `validation_error` or `invalid_parameter`", body = ErrorEnvelope),
        (status = 401, description = "`unauthorized`", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: a read-only key", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
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
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let rules = state.rules.clone();
    let transform: Transform = Arc::new(move |current: &StoredAgent| {
        let Some(spec) = validate_patch(&current.agent, &body, &rules)? else {
            return Ok(None);
        };
        let mut agent = current.agent.clone();
        agent.spec = spec;
        agent.metadata.updated_at = dialplane_core::agent::timestamp(chrono::Utc::now());
        Ok(Some(agent))
    });
    let updated = state
        .store
        .update_agent(&principal.workspace, id, if_match(&headers), transform)
        .await?;
    let (Updated::Changed(stored) | Updated::Unchanged(stored)) = updated;
    Ok(agent_response(StatusCode::OK, stored))
}

/// Delete an agent
///
/// Removes the agent. Refused with 409 `conflict` while another agent transfers to it (the referrers
/// are listed in `details`). `If-Match` makes it conditional.
#[utoipa::path(
    delete,
    path = "/api/public/v1/agents/{agentId}",
    operation_id = "deleteAgent",
    tag = "agents",
    params(
        ("agentId" = String, Path, description = "The agent's id"),
        ("If-Match" = Option<String>, Header, description = "Only delete if the agent's ETag matches"),
    ),
    responses(
        (status = 200, description = "Deleted", body = DeletedEnvelope,
            example = json!({"success": true, "data": {"agentId": "0193a5b2-7c1d-7e3f-9a4b-5c6d7e8f9a0b", "deleted": true}})),
        (status = 400, description = "`invalid_parameter`", body = ErrorEnvelope),
        (status = 401, description = "`unauthorized`", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: other agents transfer to it", body = ErrorEnvelope),
        (status = 412, description = "`precondition_failed`", body = ErrorEnvelope),
    ),
    security(("apiKey" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    Writer(principal): Writer,
    AgentPath(id): AgentPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state
        .store
        .delete_agent(&principal.workspace, id, if_match(&headers))
        .await?;
    Ok(Json(DeletedEnvelope {
        success: true,
        data: Deleted {
            agent_id: id,
            deleted: true,
        },
    })
    .into_response())
}

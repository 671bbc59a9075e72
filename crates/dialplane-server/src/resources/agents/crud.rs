//! The agent resource: create, list, get, patch and delete.

use crate::auth::{Caller, Writer};
use crate::cache::CachedAgent;
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{
    etag, idempotency, if_match, only_known, AgentPath, JsonObject, OptionalJsonObject,
};
use crate::query::{dry_run, Query};
use crate::resources::agents::listing::{
    encode_cursor, parse_query, sort_by_name, sort_direction_name,
};
use crate::resources::write_answered;
use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
pub use dialplane_api::agents::{
    AgentEnvelope, AgentListEnvelope, AgentListItem, Deleted, DeletedEnvelope, Pagination,
};
use dialplane_core::validate::validate_create;
use dialplane_core::{Agent, AgentId, AgentSpec, CreatedBy, Metadata, Problems};
use dialplane_store::Kind;
use dialplane_store::{
    Change, CreateAgent, DeleteAgent, Idempotency, Principal, Recorded, Rejection, StoredAgent,
    Transform, UpdateAgent, Updated,
};
use std::sync::Arc;

/// `{"success":true,"data":<document>}` around an agent's stored JSON document: what serialising
/// an [`AgentEnvelope`] writes, without serialising the agent again.
fn envelope(document: &str) -> Vec<u8> {
    const HEAD: &[u8] = br#"{"success":true,"data":"#;
    let mut body = Vec::with_capacity(HEAD.len() + document.len() + 1);
    body.extend_from_slice(HEAD);
    body.extend_from_slice(document.as_bytes());
    body.push(b'}');
    body
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
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the same key and body within 24 hours replay the first answer"),
        ("dryRun" = Option<bool>, Query, description = "Run every check and answer (200) what would be stored, storing nothing"),
    ),
    request_body(content = dialplane_api::agents::AgentCreate, content_type = "application/json",
        example = crate::resources::agents::examples::create_body),
    responses(
        (status = 201, description = "Created; `ETag` names its revision", body = AgentEnvelope),
        (status = 200, description = "A dry run (`dryRun=true`): the agent that would be created, marked `Dry-Run: true`; nothing is stored", body = AgentEnvelope),
        (status = 400, description = "`invalid_json` or `validation_error` (every problem in `details`)", body = ErrorEnvelope),
        (status = 413, description = "`payload_too_large`", body = ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`", body = ErrorEnvelope),
        (status = 422, description = "`idempotency_key_reused`", body = ErrorEnvelope),
    ),
    security(("apiKey" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    Writer(principal): Writer,
    query: Query,
    headers: HeaderMap,
    JsonObject { body, bytes }: JsonObject,
) -> Result<Response, ApiError> {
    let dry_run = dry_run(query)?;
    let request = serde_json::Value::Object(body.clone());
    let idempotency = idempotency(&headers, &request, state.idempotency_ttl)?;
    let validated = dialplane_store::cpu::run(bytes >= HEAVY_BODY_BYTES, || {
        validate_create(&body, &state.rules)
    });
    let spec = match validated {
        Ok(spec) => spec,
        Err(problems) => return Err(invalid(&state, &principal.workspace, problems).await),
    };
    store_new(&state, principal, spec, idempotency, dry_run).await
}

/// The validation error for `problems`, with the agents and documents the faulty document names
/// looked up too, so that every problem is reported at once.
pub async fn invalid(state: &AppState, workspace: &str, mut problems: Problems) -> ApiError {
    let references = problems.take_references();
    let mut agents = Vec::new();
    for id in dialplane_core::validate::referenced(&references) {
        match state.store.get_agent(workspace, id).await {
            Ok(Some(_)) => agents.push(id),
            Ok(None) => {}
            Err(e) => return e.into(),
        }
    }
    let mut documents = Vec::new();
    for id in dialplane_core::validate::referenced_documents(&references) {
        match state.store.get_document(workspace, &id).await {
            Ok(Some(_)) => documents.push(id),
            Ok(None) => {}
            Err(e) => return e.into(),
        }
    }
    dialplane_core::validate::report_missing(&mut problems, &references, &agents, &documents);
    ApiError::validation(problems)
}

/// Stores a new agent made of `spec` and answers 201 with it (200 for a dry run, which stores
/// nothing).
pub async fn store_new(
    state: &AppState,
    principal: Principal,
    spec: AgentSpec,
    idempotency: Option<Idempotency>,
    dry_run: bool,
) -> Result<Response, ApiError> {
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
    let workspace = principal.workspace;
    let create = CreateAgent::new(&workspace, agent, dry_run);
    if dry_run {
        let stored = state.store.write(create).await?;
        return Ok(written(StatusCode::OK, stored, true));
    }
    let (response, _) = write_answered(
        state,
        &workspace,
        create,
        idempotency,
        Arc::new(created_answer),
    )
    .await?;
    Ok(response)
}

/// The answer to a create: 201 with the agent, its `ETag` and its `Location`. It is recorded with
/// the request's `Idempotency-Key`: a retry gets it again, byte for byte.
pub fn created_answer(stored: &StoredAgent) -> Recorded {
    let body = serde_json::to_vec(&dialplane_api::Envelope::of(&stored.agent)).unwrap_or_default();
    Recorded {
        status: StatusCode::CREATED.as_u16(),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("etag".into(), etag(stored.revision)),
            (
                "location".into(),
                format!("/api/public/v1/agents/{}", stored.agent.agent_id),
            ),
        ],
        body,
    }
}

/// The answer to a write: the agent with its `ETag`, or, for a dry run, what would be stored, marked
/// `Dry-Run: true` and without an ETag (no such revision exists).
pub fn written(status: StatusCode, stored: StoredAgent, dry_run: bool) -> Response {
    let body = AgentEnvelope {
        success: true,
        data: stored.agent,
    };
    match serde_json::to_vec(&body) {
        Ok(body) => written_body(status, stored.revision, body, dry_run),
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
}

/// [`written`] with the answer's body already encoded.
fn written_body(status: StatusCode, revision: u64, body: Vec<u8>, dry_run: bool) -> Response {
    let mut response = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    let headers = response.headers_mut();
    if dry_run {
        headers.insert("dry-run", HeaderValue::from_static("true"));
    } else if let Ok(tag) = HeaderValue::from_str(&etag(revision)) {
        headers.insert(header::ETAG, tag);
    }
    response
}

/// The agent `current` becomes with `spec` (`None`: no change), stamped with the time of the change.
pub fn changed_agent(
    current: &StoredAgent,
    spec: Result<Option<AgentSpec>, Problems>,
) -> Result<Option<Agent>, Rejection> {
    let Some(spec) = spec.map_err(Rejection::Invalid)? else {
        return Ok(None);
    };
    // Built field by field: cloning the whole agent would copy the old spec only to drop it.
    let current = &current.agent;
    Ok(Some(Agent {
        agent_id: current.agent_id,
        spec,
        phone_numbers: current.phone_numbers.clone(),
        metadata: Metadata {
            updated_at: dialplane_core::agent::timestamp(chrono::Utc::now()),
            ..current.metadata.clone()
        },
    }))
}

/// Bodies from this size on are worked on off the async workers (see [`dialplane_store::cpu`]).
pub const HEAVY_BODY_BYTES: usize = 64 * 1024;
/// JSON Patches with this many operations or more are applied off the async workers.
pub const HEAVY_PATCH_OPERATIONS: usize = 64;

impl AppState {
    /// A change by `actor` under this server's rules.
    pub fn change(&self, actor: CreatedBy, dry_run: bool, restored_from: Option<u64>) -> Change {
        Change {
            actor,
            restored_from,
            dry_run,
            max_document_bytes: self.rules.max_agent_bytes,
            heavy: false,
        }
    }
}

/// Applies `transform` to the agent as one new version (`change`) and answers with the result.
pub async fn update(
    state: &AppState,
    principal: Principal,
    id: AgentId,
    headers: &HeaderMap,
    change: Change,
    transform: Transform,
) -> Result<Response, ApiError> {
    let dry_run = change.dry_run;
    let updated = state
        .store
        .write(UpdateAgent::new(
            &principal.workspace,
            id,
            if_match(headers),
            change,
            transform,
        ))
        .await?;
    Ok(match updated {
        Updated::Changed {
            stored, document, ..
        } => written_body(
            StatusCode::OK,
            stored.revision,
            envelope(&document),
            dry_run,
        ),
        // A dry run is marked as one even when it would change nothing.
        Updated::Unchanged(stored) => written(StatusCode::OK, stored, dry_run),
    })
}

/// `POST /agents/create`, the hosted API's path for [`create`] (documented by copying its operation).
pub async fn create_hosted(
    state: State<AppState>,
    writer: Writer,
    query: Query,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, ApiError> {
    create(state, writer, query, headers, body).await
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
        ("cursor" = Option<String>, Query, min_length = 1, description = "`nextCursor` of the previous page, or a plain RFC 3339 timestamp (created_at) or name (name)"),
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
    ),
    security(("apiKey" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    query: Query,
) -> Result<Response, ApiError> {
    let query = parse_query(query)?;
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
    params(("agentId" = String, Path, pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", description = "The agent's id")),
    responses(
        (status = 200, description = "The agent; `ETag` names its revision", body = AgentEnvelope),
        (status = 400, description = "`invalid_parameter`: not an agent id", body = ErrorEnvelope),
        (status = 404, description = "`not_found`, also for another workspace's agent", body = ErrorEnvelope),
    ),
    security(("apiKey" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    Caller(principal): Caller,
    AgentPath(id): AgentPath,
) -> Result<Response, ApiError> {
    let workspace = &principal.workspace;
    let cached = match state.cache.agent(workspace, id) {
        Some(cached) => cached,
        None => {
            let sequence = state.cache.write_sequence();
            let stored = state
                .store
                .get_agent(workspace, id)
                .await?
                .ok_or_else(|| ApiError::not_found(Kind::Agent))?;
            let answer = Arc::new(CachedAgent {
                etag: HeaderValue::from_str(&etag(stored.revision))
                    .map_err(|e| ApiError::internal(e.to_string()))?,
                body: serde_json::to_vec(&AgentEnvelope {
                    success: true,
                    data: stored.agent,
                })
                .map_err(|e| ApiError::internal(e.to_string()))?
                .into(),
            });
            state
                .cache
                .remember_agent(workspace, id, sequence, answer.clone());
            answer
        }
    };
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::ETAG, cached.etag.clone()),
        ],
        cached.body.clone(),
    )
        .into_response())
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
        ("agentId" = String, Path, pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", description = "The agent's id"),
        ("If-Match" = Option<String>, Header, description = "Only delete if the agent's ETag matches"),
        ("dryRun" = Option<bool>, Query, description = "Run every check of the delete (404, 409, 412) and delete nothing; answers `deleted: false` with `Dry-Run: true`"),
    ),
    responses(
        (status = 200, description = "Deleted", body = DeletedEnvelope,
            example = json!({"success": true, "data": {"agentId": "0193a5b2-7c1d-7e3f-9a4b-5c6d7e8f9a0b", "deleted": true}})),
        (status = 400, description = "`invalid_parameter`, or `invalid_json` / `validation_error` for a body with members (none are known)", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: other agents transfer to it", body = ErrorEnvelope),
        (status = 412, description = "`precondition_failed`", body = ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`: a body that is not JSON (none is needed)", body = ErrorEnvelope),
    ),
    security(("apiKey" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    Writer(principal): Writer,
    AgentPath(id): AgentPath,
    query: Query,
    headers: HeaderMap,
    OptionalJsonObject(body): OptionalJsonObject,
) -> Result<Response, ApiError> {
    let dry_run = dry_run(query)?;
    only_known(body, &[])?;
    state
        .store
        .write(DeleteAgent {
            workspace: principal.workspace.clone(),
            id,
            if_match: if_match(&headers),
            dry_run,
        })
        .await?;
    let mut response = Json(DeletedEnvelope {
        success: true,
        data: Deleted {
            agent_id: id,
            deleted: !dry_run,
        },
    })
    .into_response();
    if dry_run {
        response
            .headers_mut()
            .insert("dry-run", HeaderValue::from_static("true"));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An update answers with the stored document inside the envelope instead of serialising the
    /// agent again: the bytes must be what serialising the envelope writes.
    #[test]
    fn the_envelope_around_a_stored_document_is_the_serialised_envelope() {
        let body = serde_json::json!({"name": "Front desk", "tags": ["a/b", "ü"],
            "conversationConfig": {"agent": {"prompt": {"prompt": "Say \"hi\"\n"}}}});
        let spec =
            validate_create(body.as_object().unwrap(), &dialplane_core::Rules::default()).unwrap();
        let agent = Agent {
            agent_id: AgentId::generate(),
            spec,
            phone_numbers: Vec::new(),
            metadata: Metadata {
                created_at: "2026-12-02T00:00:00.000000Z".into(),
                updated_at: "2026-12-02T00:00:00.000000Z".into(),
                created_by: dialplane_core::CreatedBy {
                    user_id: "u".into(),
                    user_email: "u@example.com".into(),
                },
            },
        };
        let document = serde_json::to_string(&agent).unwrap();
        let serialised = serde_json::to_vec(&AgentEnvelope {
            success: true,
            data: agent,
        })
        .unwrap();
        assert_eq!(
            String::from_utf8(envelope(&document)).unwrap(),
            String::from_utf8(serialised).unwrap()
        );
    }
}

//! Recording calls: a runtime (`runtime` or `write` key) creates a conversation, changes it under the
//! lifecycle rules and appends its turns; a `write` key erases one. The agent's settings are enforced
//! by the store, inside the write.

use super::body::{self, CHANGE_KEYS};
use super::{answer, conversation_id};
use crate::auth::{Recorder, Writer};
use crate::error::{ApiError, ErrorCode, ErrorEnvelope};
use crate::extract::{if_match, JsonObject};
use crate::resources::fields::Fields;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use dialplane_api::conversations::{
    ConversationDeleted, ConversationDeletedEnvelope, ConversationEnvelope,
};
use dialplane_api::Envelope;
use dialplane_core::calls::{unix_seconds, CallDirection};
use dialplane_core::conversation::over;
use dialplane_core::{AgentId, Pointer, ProblemCode, Problems};
use dialplane_store::conversations::{
    AppendTurns, CreateConversation, DeleteConversation, UpdateConversation,
};
use dialplane_store::Kind;
use serde_json::Value;

/// The most characters of an `externalId`.
const MAX_EXTERNAL_ID_CHARS: usize = 200;

/// Record a conversation
///
/// A runtime starts (or reports whole) the record of a call. Safe to retry by `externalId`: the
/// same body again answers the record (200), another body is `409 conflict`. What the agent's
/// settings keep out is named in `Dropped-Fields`.
#[utoipa::path(post, path = "/api/public/v1/conversations", operation_id = "createConversation", tag = "conversations",
    request_body(content = dialplane_api::conversations::ConversationCreate, content_type = "application/json",
        example = json!({"agentId": "0193a5b2-7c1d-7e3f-9a4b-5c6d7e8f9a0b", "direction": "inbound",
            "status": "in_progress", "startTimeUnix": 1764930000, "callerNumber": "+14155550123",
            "contactNumber": "+14155550123", "externalId": "CA1234"})),
    responses(
        (status = 201, description = "Recorded", body = ConversationEnvelope,
            headers(("ETag" = String), ("Dropped-Fields" = String, description = "JSON Pointers of fields the agent's settings dropped"))),
        (status = 200, description = "The record of this `externalId`, recorded by the same body before", body = ConversationEnvelope),
        (status = 400, description = "`invalid_json` or `validation_error`", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: a `read` key", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: the `externalId` was recorded with another body", body = ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`: not JSON", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Recorder(principal): Recorder,
    JsonObject { body, .. }: JsonObject,
) -> Result<Response, ApiError> {
    let mut problems = Problems::new();
    let mut known = CHANGE_KEYS.to_vec();
    known.extend([
        "agentId",
        "agentVersion",
        "direction",
        "externalId",
        "turns",
    ]);
    let mut f = Fields::new(&body, Pointer::root(), &known, &mut problems);
    f.required("agentId");
    let agent_id = f.id::<AgentId>("agentId");
    f.required("direction");
    let direction = f.choice::<CallDirection>("direction");
    let agent_version = f.integer("agentVersion", 1..=i64::MAX);
    let external_id = f.text("externalId", MAX_EXTERNAL_ID_CHARS);
    if external_id.as_deref() == Some("") {
        f.problem("externalId", ProblemCode::TooShort, "must not be empty");
    }
    let turns = if f.has("turns") {
        body::turns(&mut f, "turns")
    } else {
        None
    };
    let changes = body::changes(&mut f);
    let (Some(agent_id), Some(direction), true) = (agent_id, direction, problems.is_empty()) else {
        return Err(ApiError::validation(problems));
    };
    let started = std::time::Instant::now();
    let written = state
        .store
        .write(CreateConversation {
            workspace: principal.workspace,
            agent_id,
            agent_version: agent_version.map(i64::unsigned_abs),
            direction,
            external_id,
            turns: turns.unwrap_or_default(),
            changes,
            digest: digest(body),
            user: principal.user,
        })
        .await?;
    let took = started.elapsed();
    state
        .metrics
        .ingested("create", written.stored.conversation().status, took);
    let status = if written.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(answer(status, written.stored, &written.dropped))
}

/// What tells a retried `POST` from another body: the body with its keys in any order and its
/// times in seconds (a runtime may send milliseconds one time and seconds the next: the same record).
fn digest(mut body: serde_json::Map<String, Value>) -> String {
    for key in ["startTimeUnix", "endTimeUnix"] {
        if let Some(time) = body.get_mut(key) {
            if let Some(t) = time.as_i64() {
                *time = unix_seconds(t).into();
            }
        }
    }
    dialplane_core::json::fingerprint(&Value::Object(body))
}

/// The fields set when a conversation is recorded, that a `PATCH` may send only as they are.
const READ_ONLY: [&str; 9] = [
    "conversationId",
    "agentId",
    "agentName",
    "agentVersion",
    "direction",
    "externalId",
    "conversationDuration",
    "turns",
    "metadata",
];

/// Change a conversation
///
/// A JSON Merge Patch under the lifecycle rules: `status` moves forward only (backward is `409`); a
/// finished call takes only its analysis (`summary`, `sentiment`, `keyMoments`, `dataCollected`,
/// `appointmentScheduled`, `optedOut`). `If-Match` is honoured.
#[utoipa::path(patch, path = "/api/public/v1/conversations/{conversationId}", operation_id = "updateConversation", tag = "conversations",
    params(("conversationId" = String, Path),
        ("If-Match" = Option<String>, Header, description = "Change it only if its ETag still matches")),
    request_body(content = dialplane_api::conversations::ConversationPatch, content_type = "application/merge-patch+json",
        example = json!({"status": "completed", "endTimeUnix": 1764930095, "summary": "Booked a table for four"})),
    responses(
        (status = 200, description = "Changed (or already so)", body = ConversationEnvelope,
            headers(("ETag" = String), ("Dropped-Fields" = String, description = "JSON Pointers of fields the agent's settings dropped"))),
        (status = 400, description = "`invalid_json`, `invalid_parameter` or `validation_error`", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: a `read` key", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: a backward status, or a finished call's non-analysis field", body = ErrorEnvelope),
        (status = 412, description = "`precondition_failed`: the ETag no longer matches", body = ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`: not JSON", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Recorder(principal): Recorder,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonObject { body, .. }: JsonObject,
) -> Result<Response, ApiError> {
    let id = conversation_id(&id)?;
    let mut problems = Problems::new();
    let mut known = CHANGE_KEYS.to_vec();
    known.extend(READ_ONLY);
    let mut f = Fields::new(&body, Pointer::root(), &known, &mut problems);
    // Sent as they are, the fields set at recording change nothing. Changed, they are refused: as
    // `read_only` while the call runs, and as the `409` of any change outside the analysis once it
    // is over (calls-api.md: a finished conversation is immutable but for its analysis).
    let mut finished = None;
    if READ_ONLY.iter().any(|k| f.has(k)) {
        let current = state
            .store
            .get_conversation(&principal.workspace, id)
            .await?
            .ok_or_else(|| ApiError::not_found(Kind::Conversation))?;
        let current = current.conversation();
        let stored = serde_json::to_value(current).unwrap_or_default();
        let changed = READ_ONLY
            .iter()
            .filter(|k| body.contains_key(**k) && body.get(**k) != stored.get(**k));
        for key in changed {
            if current.status.is_finished() {
                finished.get_or_insert((*key, current.status));
            } else {
                f.problem(
                    key,
                    ProblemCode::ReadOnly,
                    "is set when the call is recorded",
                );
            }
        }
    }
    let changes = body::changes(&mut f);
    problems.into_result(()).map_err(ApiError::validation)?;
    if let Some((field, status)) = finished {
        return Err(ApiError::new(ErrorCode::Conflict, over(status, field)));
    }
    let started = std::time::Instant::now();
    let written = state
        .store
        .write(UpdateConversation {
            workspace: principal.workspace,
            id,
            if_match: if_match(&headers),
            changes,
            user: principal.user,
        })
        .await?;
    let took = started.elapsed();
    state
        .metrics
        .ingested("update", written.stored.conversation().status, took);
    Ok(answer(StatusCode::OK, written.stored, &written.dropped))
}

/// Append turns
///
/// Appends 1..=500 turns to a call in progress (else `409`); turns are kept in order of `startMs`,
/// and the transcript, unless the runtime sent its own, is rendered from them.
#[utoipa::path(post, path = "/api/public/v1/conversations/{conversationId}/turns", operation_id = "appendTurns", tag = "conversations",
    params(("conversationId" = String, Path)),
    request_body(content = dialplane_api::conversations::TurnsAppend, content_type = "application/json",
        example = json!({"turns": [{"role": "agent", "text": "Hello, how can I help?", "startMs": 0, "endMs": 1800},
            {"role": "user", "text": "A table for four, please.", "startMs": 2100, "endMs": 3900}]})),
    responses(
        (status = 200, description = "Appended", body = ConversationEnvelope, headers(("ETag" = String))),
        (status = 400, description = "`invalid_json`, `invalid_parameter` or `validation_error` (`too_short`/`too_long` at `/turns`)", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: a `read` key", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: the call is not in progress", body = ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`: not JSON", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn append_turns(
    State(state): State<AppState>,
    Recorder(principal): Recorder,
    Path(id): Path<String>,
    JsonObject { body, .. }: JsonObject,
) -> Result<Response, ApiError> {
    let id = conversation_id(&id)?;
    let mut problems = Problems::new();
    let mut f = Fields::new(&body, Pointer::root(), &["turns"], &mut problems);
    f.required("turns");
    let turns = body::turns(&mut f, "turns");
    let (Some(turns), true) = (turns, problems.is_empty()) else {
        return Err(ApiError::validation(problems));
    };
    let started = std::time::Instant::now();
    let stored = state
        .store
        .write(AppendTurns {
            workspace: principal.workspace,
            id,
            turns,
        })
        .await?;
    let took = started.elapsed();
    state
        .metrics
        .ingested("turns", stored.conversation().status, took);
    Ok(answer(StatusCode::OK, stored, &[]))
}

/// Erase a conversation
///
/// A caller's data-deletion request (a `write` key): the record is gone, and its `externalId` free.
#[utoipa::path(delete, path = "/api/public/v1/conversations/{conversationId}", operation_id = "deleteConversation", tag = "conversations",
    params(("conversationId" = String, Path)),
    responses(
        (status = 200, description = "Erased", body = ConversationDeletedEnvelope),
        (status = 400, description = "`invalid_parameter`: not a conversation id", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: not a `write` key", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    Writer(principal): Writer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = conversation_id(&id)?;
    state
        .store
        .write(DeleteConversation {
            workspace: principal.workspace,
            id,
        })
        .await?;
    Ok(Json(Envelope::of(ConversationDeleted {
        conversation_id: id,
        deleted: true,
    }))
    .into_response())
}

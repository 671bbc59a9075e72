//! Conversations: Callin's two read routes (the list with its filters, the detail in its shape),
//! and ours for voice runtimes to record calls ([`ingest`]).

mod body;
mod ingest;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{etag, parse_agent_id, parse_path_id};
use crate::query::{Known, Query};
use crate::resources::cursor_list;
use crate::resources::knowledge_base::listing::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use crate::resources::knowledge_base::{decode_cursor, encode_cursor};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use dialplane_api::conversations::{
    ConversationEnvelope, ConversationItem, ConversationListEnvelope, ItemMetadata,
};
use dialplane_api::Envelope;
use dialplane_core::agent::Choice;
use dialplane_core::calls::{unix_seconds, ConversationStatus};
use dialplane_core::ConversationId;
use dialplane_store::conversations::{
    ConversationQuery, ConversationSummary, Cursor, StoredConversation,
};
use dialplane_store::Kind;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The conversation routes, each with its documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, ingest::create))
        .routes(routes!(get, ingest::update, ingest::remove))
        .routes(routes!(ingest::append_turns))
}

/// A conversation's answer: the detail, with its ETag and the fields the agent's settings dropped.
fn answer(status: StatusCode, stored: StoredConversation, dropped: &[&str]) -> Response {
    let mut response = (status, Json(Envelope::of(stored.recorded.conversation))).into_response();
    let headers = response.headers_mut();
    if let Ok(tag) = HeaderValue::from_str(&etag(stored.revision)) {
        headers.insert(header::ETAG, tag);
    }
    if !dropped.is_empty() {
        if let Ok(value) = HeaderValue::from_str(&dropped.join(",")) {
            headers.insert("dropped-fields", value);
        }
    }
    response
}

fn conversation_id(raw: &str) -> Result<ConversationId, ApiError> {
    parse_path_id(raw, "conversationId", "a conversation id")
}

fn item(s: ConversationSummary) -> ConversationItem {
    ConversationItem {
        conversation_id: s.conversation_id,
        agent_id: s.agent_id,
        start_time_unix: s.start_time_unix,
        end_time_unix: s.end_time_unix,
        conversation_duration: s.conversation_duration,
        status: s.status,
        agent_name: s.agent_name,
        direction: s.direction,
        summary: s.summary,
        metadata: ItemMetadata {
            created_at: s.created_at,
            created_by: s.created_by,
        },
    }
}

/// The order of the list, named in its cursors.
const ORDER: &str = "conversations";

/// A cursor: ours (exact), or Callin's ISO timestamp (conversations that started before it).
fn cursor(raw: &str) -> Result<Cursor, ApiError> {
    if let Ok((start, id)) = decode_cursor(raw, ORDER) {
        if let (Ok(start), Ok(id)) = (start.parse(), id.parse()) {
            return Ok(Cursor::After { start, id });
        }
    }
    let at = chrono::DateTime::parse_from_rfc3339(raw).map_err(|_| {
        ApiError::parameter(
            "cursor",
            "is neither a nextCursor of this list nor an ISO 8601 timestamp",
        )
    })?;
    // Stored times are whole seconds: one that started before 10.5 s is stored as 10 at most.
    let whole = at.timestamp() + i64::from(at.timestamp_subsec_nanos() > 0);
    Ok(Cursor::StartedBefore(whole))
}

/// A Unix time parameter in seconds or milliseconds, as seconds.
fn unix_parameter(q: &Known, name: &str) -> Result<Option<i64>, ApiError> {
    Ok(q.integer::<i64>(name, 0..=i64::MAX)?.map(unix_seconds))
}

/// List conversations
///
/// Newest first (by `startTimeUnix`, ties by `conversationId`, both descending), with exact keyset
/// paging: no call is skipped or repeated while new calls arrive. Callin's filters, plus ours
/// (`externalId`, `contactNumber`, `search`).
#[utoipa::path(get, path = "/api/public/v1/conversations", operation_id = "listConversations", tag = "conversations",
    params(
        ("agentId" = Option<String>, Query, description = "Only this agent's conversations (also those of a deleted agent)"),
        ("status" = Option<ConversationStatus>, Query),
        ("startBeforeUnix" = Option<i64>, Query, minimum = 0, description = "Started before this (exclusive); seconds, or milliseconds from 10^11"),
        ("startAfterUnix" = Option<i64>, Query, minimum = 0, description = "Started after this (exclusive); seconds, or milliseconds from 10^11"),
        ("minCallDuration" = Option<i64>, Query, minimum = 0, description = "Lasted at least this many seconds (inclusive)"),
        ("maxCallDuration" = Option<i64>, Query, minimum = 0, description = "Lasted at most this many seconds (inclusive)"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page, or an ISO 8601 timestamp (conversations that started before it)"),
        ("pageSize" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..=100, default 30"),
        ("externalId" = Option<String>, Query, description = "The runtime's own id of the call"),
        ("contactNumber" = Option<String>, Query, description = "E.164 (send `+` as `%2B`)"),
        ("search" = Option<String>, Query, description = "Full text over summary and transcript (web-search syntax: `\"a phrase\"`, `-word`, `or`)"),
    ),
    responses(
        (status = 200, description = "A page of conversations", body = ConversationListEnvelope),
        (status = 400, description = "`invalid_parameter` (also `minCallDuration` > `maxCallDuration`)", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    query: Query,
) -> Result<Response, ApiError> {
    let q = query.known(
        &[
            "agentId",
            "status",
            "startBeforeUnix",
            "startAfterUnix",
            "minCallDuration",
            "maxCallDuration",
            "cursor",
            "pageSize",
            "externalId",
            "contactNumber",
            "search",
        ],
        &[],
    )?;
    let page_size = q
        .integer("pageSize", 1..=MAX_PAGE_SIZE)?
        .unwrap_or(DEFAULT_PAGE_SIZE);
    let status = q
        .get("status")
        .map(|raw| {
            ConversationStatus::from_wire(raw).ok_or_else(|| {
                let allowed = ConversationStatus::allowed();
                ApiError::parameter("status", format!("must be {allowed}, got {raw:?}"))
            })
        })
        .transpose()?;
    let min_duration = q.integer::<i64>("minCallDuration", 0..=i64::MAX)?;
    let max_duration = q.integer::<i64>("maxCallDuration", 0..=i64::MAX)?;
    if let (Some(min), Some(max)) = (min_duration, max_duration) {
        if min > max {
            return Err(ApiError::parameter(
                "minCallDuration",
                format!("must not be more than maxCallDuration ({max}), got {min}"),
            ));
        }
    }
    let contact_number = q
        .get("contactNumber")
        .map(|n| {
            dialplane_core::validate::check_e164(n)
                .map(|()| n.to_owned())
                .map_err(|(_, why)| ApiError::parameter("contactNumber", why))
        })
        .transpose()?;
    let query = ConversationQuery {
        agent_id: q.get("agentId").map(parse_agent_id).transpose()?,
        status,
        start_after: unix_parameter(&q, "startAfterUnix")?,
        start_before: unix_parameter(&q, "startBeforeUnix")?,
        min_duration,
        max_duration,
        external_id: q.get("externalId").map(str::to_owned),
        contact_number,
        search: q
            .get("search")
            .filter(|s| !s.trim().is_empty())
            .map(str::to_owned),
        cursor: q.get("cursor").map(cursor).transpose()?,
        limit: page_size + 1,
    };
    let items = state
        .store
        .list_conversations(&principal.workspace, &query)
        .await?;
    let cursor = |c: &ConversationSummary| {
        let start = c.start_time_unix.to_string();
        encode_cursor(ORDER, &start, &c.conversation_id.to_string())
    };
    Ok(cursor_list(items, page_size, cursor, item))
}

/// Get a conversation
///
/// Callin's detail (snake_case inside `sentiment`, one `transcript` string), plus ours:
/// `conversationId`, `agentVersion`, `turns`, `optedOut`, `recordingUrl`, `externalId`.
#[utoipa::path(get, path = "/api/public/v1/conversations/{conversationId}", operation_id = "getConversation", tag = "conversations",
    params(("conversationId" = String, Path)),
    responses(
        (status = 200, description = "The conversation", body = ConversationEnvelope,
            headers(("ETag" = String, description = "Its revision, for `If-Match`"))),
        (status = 400, description = "`invalid_parameter`: not a conversation id", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = conversation_id(&id)?;
    let stored = state
        .store
        .get_conversation(&principal.workspace, id)
        .await?
        .ok_or_else(|| ApiError::not_found(Kind::Conversation))?;
    Ok(answer(StatusCode::OK, stored, &[]))
}

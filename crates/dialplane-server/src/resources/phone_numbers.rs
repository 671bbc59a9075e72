//! Phone numbers: a workspace's numbers, the agent that answers each (its `phoneNumbers` kept
//! current by the store), and `resolve` for a runtime routing an inbound call.

use crate::auth::{Caller, Writer};
use crate::error::{ApiError, ErrorCode, ErrorEnvelope};
use crate::extract::{parse_agent_id, parse_path_id, JsonObject};
use crate::query::Query;
use crate::resources::cursor_list;
use crate::resources::fields::Fields;
use crate::resources::knowledge_base::listing::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use crate::resources::knowledge_base::{base_url, decode_cursor, encode_cursor};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use dialplane_api::phone_numbers::{
    PhoneNumber, PhoneNumberDeleted, PhoneNumberDeletedEnvelope, PhoneNumberEnvelope,
    PhoneNumberListEnvelope, ResolvedNumber, ResolvedNumberEnvelope,
};
use dialplane_api::Envelope;
use dialplane_core::agent::{Choice, Direction};
use dialplane_core::calls::NumberProvider;
use dialplane_core::{AgentId, PhoneNumberId, Pointer, Problems};
use dialplane_store::phone_numbers::{
    CreateNumber, DeleteNumber, NumberQuery, StoredNumber, UpdateNumber,
};
use dialplane_store::Kind;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The most characters of a number's `label`.
const MAX_LABEL_CHARS: usize = 200;

/// The phone-number routes, each with its documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(resolve))
        .routes(routes!(get, update, remove))
}

fn wire(n: StoredNumber) -> PhoneNumber {
    PhoneNumber {
        phone_number_id: n.id,
        number: n.number,
        provider: n.provider,
        label: n.label,
        agent_id: n.agent_id,
        metadata: n.metadata,
    }
}

fn answer(status: StatusCode, n: StoredNumber) -> Response {
    (status, Json(Envelope::of(wire(n)))).into_response()
}

fn number_id(raw: &str) -> Result<PhoneNumberId, ApiError> {
    parse_path_id(raw, "phoneNumberId", "a phone number id")
}

/// The order of the list, named in its cursors.
const ORDER: &str = "phone-number";

/// List phone numbers
///
/// The workspace's numbers in order of number, a page at a time.
#[utoipa::path(get, path = "/api/public/v1/phone-numbers", operation_id = "listPhoneNumbers", tag = "phone-numbers",
    params(
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
        ("pageSize" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..=100, default 30"),
        ("agentId" = Option<String>, Query, description = "Only the numbers of this agent"),
        ("provider" = Option<NumberProvider>, Query, description = "Only numbers of this provider"),
        ("search" = Option<String>, Query, description = "A part of the number, or of the label (any case)"),
    ),
    responses(
        (status = 200, description = "A page of numbers", body = PhoneNumberListEnvelope),
        (status = 400, description = "`invalid_parameter`", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    query: Query,
) -> Result<Response, ApiError> {
    let q = query.known(
        &["cursor", "pageSize", "agentId", "provider", "search"],
        &[],
    )?;
    let page_size = q
        .integer("pageSize", 1..=MAX_PAGE_SIZE)?
        .unwrap_or(DEFAULT_PAGE_SIZE);
    let agent_id = q.get("agentId").map(parse_agent_id).transpose()?;
    let provider = q
        .get("provider")
        .map(|raw| {
            NumberProvider::from_wire(raw).ok_or_else(|| {
                ApiError::parameter(
                    "provider",
                    format!("must be {}, got {raw:?}", NumberProvider::allowed()),
                )
            })
        })
        .transpose()?;
    let after = q
        .get("cursor")
        .map(|c| decode_cursor(c, ORDER).map(|(number, _)| number))
        .transpose()?;
    let items = state
        .store
        .list_phone_numbers(
            &principal.workspace,
            &NumberQuery {
                agent_id,
                provider,
                search: q.get("search").filter(|s| !s.is_empty()).map(str::to_owned),
                after,
                limit: page_size + 1,
            },
        )
        .await?;
    Ok(cursor_list(
        items,
        page_size,
        |n| encode_cursor(ORDER, &n.number, ""),
        wire,
    ))
}

/// Add a phone number
///
/// Registers a number with the workspace, assigned to an agent or not. A number belongs to one
/// workspace of the whole server: one registered anywhere already is `409 conflict`. Assigning it
/// stores a new version of the agent (its `phoneNumbers`).
#[utoipa::path(post, path = "/api/public/v1/phone-numbers", operation_id = "createPhoneNumber", tag = "phone-numbers",
    request_body(content = dialplane_api::phone_numbers::PhoneNumberCreate, content_type = "application/json",
        example = json!({"number": "+14155550123", "provider": "twilio", "label": "Support line"})),
    responses(
        (status = 201, description = "Added", body = PhoneNumberEnvelope),
        (status = 400, description = "`invalid_json` or `validation_error` (an `agentId` not of the workspace is `not_found` at `/agentId`)", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: not a `write` key", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: the number is registered already", body = ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`: not JSON", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Writer(principal): Writer,
    JsonObject { body, .. }: JsonObject,
) -> Result<Response, ApiError> {
    let mut problems = Problems::new();
    let known = ["number", "provider", "label", "agentId"];
    let mut fields = Fields::new(&body, Pointer::root(), &known, &mut problems);
    fields.required("number");
    let number = fields.e164("number");
    fields.required("provider");
    let provider = fields.choice::<NumberProvider>("provider");
    let label = fields.text("label", MAX_LABEL_CHARS).unwrap_or_default();
    let agent_id = fields.id::<AgentId>("agentId");
    let (Some(number), Some(provider), true) = (number, provider, problems.is_empty()) else {
        return Err(ApiError::validation(problems));
    };
    let created = state
        .store
        .write(CreateNumber {
            workspace: principal.workspace,
            number,
            provider,
            label,
            agent_id,
            user: principal.user,
        })
        .await?;
    Ok(answer(StatusCode::CREATED, created))
}

/// Get a phone number
#[utoipa::path(get, path = "/api/public/v1/phone-numbers/{phoneNumberId}", operation_id = "getPhoneNumber", tag = "phone-numbers",
    params(("phoneNumberId" = String, Path)),
    responses(
        (status = 200, description = "The number", body = PhoneNumberEnvelope),
        (status = 400, description = "`invalid_parameter`: not a phone number id", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = number_id(&id)?;
    let found = state
        .store
        .get_phone_number(&principal.workspace, id)
        .await?
        .ok_or_else(|| ApiError::not_found(Kind::PhoneNumber))?;
    Ok(answer(StatusCode::OK, found))
}

/// Change a phone number
///
/// A JSON Merge Patch of `label` and `agentId` (`null` unassigns it); `number` and `provider` are
/// read-only. The agents it leaves and joins each get a new version.
#[utoipa::path(patch, path = "/api/public/v1/phone-numbers/{phoneNumberId}", operation_id = "updatePhoneNumber", tag = "phone-numbers",
    params(("phoneNumberId" = String, Path)),
    request_body(content = dialplane_api::phone_numbers::PhoneNumberPatch, content_type = "application/merge-patch+json",
        example = json!({"agentId": null})),
    responses(
        (status = 200, description = "Changed", body = PhoneNumberEnvelope),
        (status = 400, description = "`invalid_json`, `invalid_parameter` or `validation_error`", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: not a `write` key", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`: not JSON", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Writer(principal): Writer,
    Path(id): Path<String>,
    JsonObject { body, .. }: JsonObject,
) -> Result<Response, ApiError> {
    let id = number_id(&id)?;
    let mut problems = Problems::new();
    let known = ["label", "agentId", "number", "provider"];
    let mut fields = Fields::new(&body, Pointer::root(), &known, &mut problems);
    if fields.has("number") || fields.has("provider") {
        // Read-only: the stored value again is no change, anything else is refused.
        let current = state
            .store
            .get_phone_number(&principal.workspace, id)
            .await?
            .ok_or_else(|| ApiError::not_found(Kind::PhoneNumber))?;
        if fields.has("number") && body.get("number") != Some(&current.number.as_str().into()) {
            fields.problem(
                "number",
                dialplane_core::ProblemCode::ReadOnly,
                "is read-only",
            );
        }
        if fields.has("provider") && body.get("provider") != Some(&current.provider.wire().into()) {
            fields.problem(
                "provider",
                dialplane_core::ProblemCode::ReadOnly,
                "is read-only",
            );
        }
    }
    let label = if fields.is_null("label") {
        Some(String::new())
    } else {
        fields.text("label", MAX_LABEL_CHARS)
    };
    let agent_id = if fields.is_null("agentId") {
        Some(None)
    } else {
        fields.id::<AgentId>("agentId").map(Some)
    };
    problems.into_result(()).map_err(ApiError::validation)?;
    let updated = state
        .store
        .write(UpdateNumber {
            workspace: principal.workspace,
            id,
            label,
            agent_id,
            user: principal.user,
        })
        .await?;
    Ok(answer(StatusCode::OK, updated))
}

/// Remove a phone number
///
/// Its agent, if any, gets a new version without it.
#[utoipa::path(delete, path = "/api/public/v1/phone-numbers/{phoneNumberId}", operation_id = "deletePhoneNumber", tag = "phone-numbers",
    params(("phoneNumberId" = String, Path)),
    responses(
        (status = 200, description = "Removed", body = PhoneNumberDeletedEnvelope),
        (status = 400, description = "`invalid_parameter`: not a phone number id", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: not a `write` key", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    Writer(principal): Writer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = number_id(&id)?;
    state
        .store
        .write(DeleteNumber {
            workspace: principal.workspace,
            id,
            user: principal.user,
        })
        .await?;
    Ok(Json(Envelope::of(PhoneNumberDeleted {
        phone_number_id: id,
        deleted: true,
    }))
    .into_response())
}

/// Resolve an inbound number
///
/// Which agent answers a call to `number`, and where the runtime fetches its configuration. 404 when
/// the number is not the workspace's or is not assigned; 409 when its agent is outbound-only.
#[utoipa::path(get, path = "/api/public/v1/phone-numbers/resolve", operation_id = "resolvePhoneNumber", tag = "phone-numbers",
    params(("number" = String, Query, description = "E.164 (send `+` as `%2B`)", example = "+14155550123")),
    responses(
        (status = 200, description = "The agent that answers", body = ResolvedNumberEnvelope),
        (status = 400, description = "`invalid_parameter`: missing or not E.164", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: unknown or unassigned", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: its agent makes outbound calls only", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn resolve(
    State(state): State<AppState>,
    Caller(principal): Caller,
    headers: HeaderMap,
    query: Query,
) -> Result<Response, ApiError> {
    let q = query.known(&["number"], &[])?;
    let number = q
        .get("number")
        .ok_or_else(|| ApiError::parameter("number", "is required"))?;
    dialplane_core::validate::check_e164(number)
        .map_err(|(_, why)| ApiError::parameter("number", why))?;
    let unknown = || {
        ApiError::new(
            ErrorCode::NotFound,
            "no agent of this workspace answers this number",
        )
    };
    let found = state
        .store
        .find_phone_number(&principal.workspace, number)
        .await?
        .ok_or_else(unknown)?;
    let agent_id = found.agent_id.ok_or_else(unknown)?;
    let agent = state
        .store
        .get_agent(&principal.workspace, agent_id)
        .await?
        .ok_or_else(unknown)?;
    if agent.agent.spec.direction == Direction::Outbound {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "the number's agent makes outbound calls only (direction: outbound)",
        ));
    }
    Ok(Json(Envelope::of(ResolvedNumber {
        phone_number_id: found.id,
        number: found.number,
        agent_id,
        runtime_config_url: format!(
            "{}/api/public/v1/agents/{agent_id}/runtime-config",
            base_url(&state, &headers)
        ),
    }))
    .into_response())
}

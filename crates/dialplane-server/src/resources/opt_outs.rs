//! Opt-outs: the numbers a workspace must not call. A voice runtime (`runtime` key) or a `write`
//! key adds them; only a `write` key removes one.

use crate::auth::{Caller, Recorder, Writer};
use crate::error::{ApiError, ErrorCode, ErrorEnvelope};
use crate::extract::JsonObject;
use crate::query::Query;
use crate::resources::cursor_list;
use crate::resources::fields::Fields;
use crate::resources::knowledge_base::listing::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use dialplane_api::opt_outs::{
    OptOut, OptOutDeleted, OptOutDeletedEnvelope, OptOutEnvelope, OptOutListEnvelope,
    OptOutMetadata,
};
use dialplane_api::Envelope;
use dialplane_core::{Pointer, Problems};
use dialplane_store::opt_outs::{AddOptOut, RemoveOptOut};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The most characters of an opt-out's `reason`.
const MAX_REASON_CHARS: usize = 500;

/// The opt-out routes, each with its documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, add))
        .routes(routes!(get, remove))
}

fn wire(o: dialplane_store::opt_outs::OptOut) -> OptOut {
    OptOut {
        number: o.number,
        reason: o.reason,
        metadata: OptOutMetadata {
            created_at: o.created_at,
            created_by: o.created_by,
        },
    }
}

/// The number of a path, checked: E.164, else `400 invalid_parameter`.
fn path_number(number: &str) -> Result<&str, ApiError> {
    dialplane_core::validate::check_e164(number)
        .map(|()| number)
        .map_err(|(_, why)| ApiError::parameter("number", why))
}

/// List opt-outs
///
/// The workspace's opt-out list in order of number, a page at a time.
#[utoipa::path(get, path = "/api/public/v1/opt-outs", operation_id = "listOptOuts", tag = "opt-outs",
    params(
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
        ("pageSize" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..=100, default 30"),
    ),
    responses(
        (status = 200, description = "A page of opt-outs", body = OptOutListEnvelope),
        (status = 400, description = "`invalid_parameter`", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    query: Query,
) -> Result<Response, ApiError> {
    let q = query.known(&["cursor", "pageSize"], &[])?;
    let page_size = q
        .integer("pageSize", 1..=MAX_PAGE_SIZE)?
        .unwrap_or(DEFAULT_PAGE_SIZE);
    let after = q.get("cursor").map(decode_cursor).transpose()?;
    let items = state
        .store
        .list_opt_outs(&principal.workspace, after.as_deref(), page_size + 1)
        .await?;
    Ok(cursor_list(
        items,
        page_size,
        |o| encode_cursor(&o.number),
        wire,
    ))
}

/// The order of the list, named in its cursors (see `knowledge_base::encode_cursor`).
const ORDER: &str = "number";

fn encode_cursor(number: &str) -> String {
    crate::resources::knowledge_base::encode_cursor(ORDER, number, "")
}

fn decode_cursor(cursor: &str) -> Result<String, ApiError> {
    crate::resources::knowledge_base::decode_cursor(cursor, ORDER).map(|(number, _)| number)
}

/// Get an opt-out
///
/// 200 if the number is on the list, 404 if not. In a path, `+` may be sent as is or as `%2B`.
#[utoipa::path(get, path = "/api/public/v1/opt-outs/{number}", operation_id = "getOptOut", tag = "opt-outs",
    params(("number" = String, Path, description = "E.164", example = "+14155550123", pattern = r"^\+[1-9][0-9]{1,14}$")),
    responses(
        (status = 200, description = "On the list", body = OptOutEnvelope),
        (status = 400, description = "`invalid_parameter`: not E.164", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: not on the list", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(number): Path<String>,
) -> Result<Response, ApiError> {
    let number = path_number(&number)?;
    match state
        .store
        .get_opt_out(&principal.workspace, number)
        .await?
    {
        Some(entry) => Ok(Json(Envelope::of(wire(entry))).into_response()),
        None => Err(not_listed()),
    }
}

fn not_listed() -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        "the number is not on this workspace's opt-out list",
    )
}

/// Add an opt-out
///
/// Puts a number on the list: 201 with the entry, or 200 with the entry already there (unchanged).
/// A `runtime` key may add one, as a `write` key may.
#[utoipa::path(post, path = "/api/public/v1/opt-outs", operation_id = "addOptOut", tag = "opt-outs",
    request_body(content = dialplane_api::opt_outs::OptOutCreate, content_type = "application/json",
        example = json!({"number": "+14155550123", "reason": "asked not to be called again"})),
    responses(
        (status = 201, description = "Added", body = OptOutEnvelope),
        (status = 200, description = "Already on the list", body = OptOutEnvelope),
        (status = 400, description = "`invalid_json` or `validation_error`", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: a `read` key", body = ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`: not JSON", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn add(
    State(state): State<AppState>,
    Recorder(principal): Recorder,
    JsonObject { body, .. }: JsonObject,
) -> Result<Response, ApiError> {
    let mut problems = Problems::new();
    let mut fields = Fields::new(&body, Pointer::root(), &["number", "reason"], &mut problems);
    fields.required("number");
    let number = fields.e164("number").unwrap_or_default();
    let reason = fields.text("reason", MAX_REASON_CHARS).unwrap_or_default();
    problems.into_result(()).map_err(ApiError::validation)?;
    let add = AddOptOut {
        workspace: principal.workspace,
        number,
        reason,
        user: principal.user,
    };
    let (entry, added) = state.store.write(add).await?;
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(Envelope::of(wire(entry)))).into_response())
}

/// Remove an opt-out
///
/// Takes a number off the list (a `write` key only); 404 if it is not on it.
#[utoipa::path(delete, path = "/api/public/v1/opt-outs/{number}", operation_id = "removeOptOut", tag = "opt-outs",
    params(("number" = String, Path, description = "E.164", example = "+14155550123", pattern = r"^\+[1-9][0-9]{1,14}$")),
    responses(
        (status = 200, description = "Removed", body = OptOutDeletedEnvelope),
        (status = 400, description = "`invalid_parameter`: not E.164", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: not a `write` key", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: not on the list", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    Writer(principal): Writer,
    Path(number): Path<String>,
) -> Result<Response, ApiError> {
    let number = path_number(&number)?.to_owned();
    let remove = RemoveOptOut {
        workspace: principal.workspace,
        number: number.clone(),
    };
    if !state.store.write(remove).await? {
        return Err(not_listed());
    }
    Ok(Json(Envelope::of(OptOutDeleted {
        number,
        deleted: true,
    }))
    .into_response())
}

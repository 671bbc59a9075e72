//! Workspace endpoints: create (its secret shown once), list, read, merge-patch, delete, rotate
//! the secret, and send a `ping` now.

use super::{delivery_detail, MAX_DESCRIPTION_CHARS, MAX_URL_CHARS};
use crate::auth::{Caller, Writer};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{parse_path_id, JsonObject, NoBody};
use crate::query::Query;
use crate::resources::fields::Fields;
use crate::resources::knowledge_base::encode_cursor;
use crate::resources::knowledge_base::listing::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use crate::resources::{cursor_list, id_cursor};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use dialplane_api::webhooks::{
    WebhookDeliveryDetailEnvelope, WebhookEndpoint, WebhookEndpointDeleted,
    WebhookEndpointDeletedEnvelope, WebhookEndpointEnvelope, WebhookEndpointListEnvelope,
    WebhookEndpointWithSecret, WebhookEndpointWithSecretEnvelope,
};
use dialplane_api::Envelope;
use dialplane_core::webhooks::EventType;
use dialplane_core::{EndpointId, Metadata, Pointer, ProblemCode, Problems};
use dialplane_store::webhooks::{
    CreateEndpoint, DeleteEndpoint, RotateEndpointSecret, SendPing, StoredEndpoint, UpdateEndpoint,
};
use dialplane_store::Kind;

fn metadata(e: &StoredEndpoint) -> Metadata {
    Metadata {
        created_at: e.created_at.clone(),
        updated_at: e.updated_at.clone(),
        created_by: e.created_by.clone(),
    }
}

fn wire(e: StoredEndpoint) -> WebhookEndpoint {
    WebhookEndpoint {
        metadata: metadata(&e),
        endpoint_id: e.id,
        url: e.url,
        event_types: e.event_types,
        description: e.description,
        disabled: e.disabled,
        disabled_reason: e.disabled_reason,
    }
}

fn with_secret(status: StatusCode, e: StoredEndpoint) -> Response {
    let shown = WebhookEndpointWithSecret {
        metadata: metadata(&e),
        endpoint_id: e.id,
        url: e.url,
        event_types: e.event_types,
        description: e.description,
        disabled: e.disabled,
        disabled_reason: e.disabled_reason,
        secret: e.secrets.current,
    };
    (status, Json(Envelope::of(shown))).into_response()
}

fn endpoint_id(raw: &str) -> Result<EndpointId, ApiError> {
    parse_path_id(raw, "endpointId", "an endpoint id")
}

/// A delivery URL, by the rule of an agent's `postCallWebhook`: `https`, or `http` to a loopback
/// host (to any host with `--allow-private-urls`). Where it resolves is checked at each delivery.
fn url(fields: &mut Fields<'_>, allow_private_urls: bool) -> Option<String> {
    let text = fields.text("url", MAX_URL_CHARS)?;
    match dialplane_core::validate::check_webhook_url(&text, allow_private_urls) {
        Ok(()) => Some(text),
        Err((code, why)) => {
            fields.problem("url", code, why);
            None
        }
    }
}

/// The fields an endpoint's answers show that no request sets.
const READ_ONLY: [&str; 4] = ["endpointId", "secret", "disabledReason", "metadata"];

/// Reports each of [`READ_ONLY`] the body holds.
fn read_only(fields: &mut Fields<'_>) {
    for key in READ_ONLY {
        if fields.has(key) {
            let why = if key == "secret" {
                "is read-only: POST /webhook-endpoints/{endpointId}/rotate-secret makes a new one"
            } else {
                "is read-only"
            };
            fields.problem(key, ProblemCode::ReadOnly, why);
        }
    }
}

/// A non-empty list of subscribable event types, each once.
fn event_types(fields: &mut Fields<'_>) -> Option<Vec<EventType>> {
    let value = fields.value("eventTypes")?;
    let Some(items) = value.as_array() else {
        fields.problem("eventTypes", ProblemCode::InvalidType, "must be an array");
        return None;
    };
    if items.is_empty() {
        fields.problem(
            "eventTypes",
            ProblemCode::TooShort,
            "must name at least one event type",
        );
        return None;
    }
    let allowed = EventType::SUBSCRIBABLE.map(EventType::as_str).join(", ");
    let mut types = Vec::new();
    let at = fields.pointer("eventTypes");
    for (i, item) in items.iter().enumerate() {
        if !item.is_string() {
            let why = format!(
                "must be a string, got {}",
                dialplane_core::json::type_name(item)
            );
            fields
                .problems
                .push(&at.index(i), ProblemCode::InvalidType, why);
            continue;
        }
        match item.as_str().and_then(EventType::parse) {
            Some(t) if t != EventType::Ping => {
                if !types.contains(&t) {
                    types.push(t);
                }
            }
            _ => fields.problems.push(
                &at.index(i),
                ProblemCode::InvalidValue,
                format!("must be one of {allowed}, got {item}"),
            ),
        }
    }
    Some(types)
}

/// Add a webhook endpoint
///
/// Events of the types it subscribes to are delivered to it, signed with its secret (Standard
/// Webhooks). The answer shows the secret, this once.
#[utoipa::path(post, path = "/api/public/v1/webhook-endpoints", operation_id = "createWebhookEndpoint", tag = "webhooks",
    request_body(content = dialplane_api::webhooks::WebhookEndpointCreate, content_type = "application/json",
        example = json!({"url": "https://hooks.example.com/dialplane", "eventTypes": ["conversation.completed", "agent.updated"]})),
    responses(
        (status = 201, description = "Added, with its secret", body = WebhookEndpointWithSecretEnvelope),
        (status = 400, description = "`invalid_json` or `validation_error`", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: not a `write` key", body = ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`: not JSON", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Writer(principal): Writer,
    JsonObject { body, .. }: JsonObject,
) -> Result<Response, ApiError> {
    let mut problems = Problems::new();
    let known = [&["url", "eventTypes", "description"][..], &READ_ONLY].concat();
    let mut fields = Fields::new(&body, Pointer::root(), &known, &mut problems);
    read_only(&mut fields);
    fields.required("url");
    let url = url(&mut fields, state.webhooks.options.allow_private_urls);
    fields.required("eventTypes");
    let event_types = event_types(&mut fields);
    let description = fields
        .text("description", MAX_DESCRIPTION_CHARS)
        .unwrap_or_default();
    let (Some(url), Some(event_types), true) = (url, event_types, problems.is_empty()) else {
        return Err(ApiError::validation(problems));
    };
    let created = state
        .store
        .write(CreateEndpoint {
            workspace: principal.workspace,
            url,
            event_types,
            description,
            user: principal.user,
        })
        .await?;
    Ok(with_secret(StatusCode::CREATED, created))
}

/// The order of the list, named in its cursors.
const ORDER: &str = "webhook-endpoint";

/// List webhook endpoints
///
/// Newest first, a page at a time; secrets are not shown.
#[utoipa::path(get, path = "/api/public/v1/webhook-endpoints", operation_id = "listWebhookEndpoints", tag = "webhooks",
    params(
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
        ("pageSize" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..=100, default 30"),
    ),
    responses(
        (status = 200, description = "A page of endpoints", body = WebhookEndpointListEnvelope),
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
    let before = q
        .get("cursor")
        .map(|c| id_cursor::<EndpointId>(c, ORDER))
        .transpose()?;
    let items = state
        .store
        .list_webhook_endpoints(&principal.workspace, before, page_size + 1)
        .await?;
    Ok(cursor_list(
        items,
        page_size,
        |e| encode_cursor(ORDER, &e.id.to_string(), ""),
        wire,
    ))
}

/// Get a webhook endpoint
#[utoipa::path(get, path = "/api/public/v1/webhook-endpoints/{endpointId}", operation_id = "getWebhookEndpoint", tag = "webhooks",
    params(("endpointId" = String, Path)),
    responses(
        (status = 200, description = "The endpoint (without its secret)", body = WebhookEndpointEnvelope),
        (status = 400, description = "`invalid_parameter`: not an endpoint id", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = endpoint_id(&id)?;
    let found = state
        .store
        .get_webhook_endpoint(&principal.workspace, id)
        .await?
        .ok_or_else(|| ApiError::not_found(Kind::WebhookEndpoint))?;
    Ok(Json(Envelope::of(wire(found))).into_response())
}

/// Change a webhook endpoint
///
/// A JSON Merge Patch of `url`, `eventTypes`, `description` and `disabled` (`false` enables a
/// disabled endpoint again); `secret` is read-only (rotate it instead). Disabling it fails its
/// pending deliveries, which can be redelivered once it is enabled.
#[utoipa::path(patch, path = "/api/public/v1/webhook-endpoints/{endpointId}", operation_id = "updateWebhookEndpoint", tag = "webhooks",
    params(("endpointId" = String, Path)),
    request_body(content = dialplane_api::webhooks::WebhookEndpointPatch, content_type = "application/merge-patch+json",
        example = json!({"disabled": false})),
    responses(
        (status = 200, description = "Changed", body = WebhookEndpointEnvelope),
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
    let id = endpoint_id(&id)?;
    let mut problems = Problems::new();
    let known = [
        &["url", "eventTypes", "description", "disabled"][..],
        &READ_ONLY,
    ]
    .concat();
    let mut fields = Fields::new(&body, Pointer::root(), &known, &mut problems);
    read_only(&mut fields);
    for key in ["url", "eventTypes", "disabled"] {
        if fields.is_null(key) {
            fields.problem(key, ProblemCode::InvalidType, "cannot be null");
        }
    }
    let url = url(&mut fields, state.webhooks.options.allow_private_urls);
    let event_types = event_types(&mut fields);
    let description = if fields.is_null("description") {
        Some(String::new())
    } else {
        fields.text("description", MAX_DESCRIPTION_CHARS)
    };
    let disabled = fields.boolean("disabled");
    problems.into_result(()).map_err(ApiError::validation)?;
    let updated = state
        .store
        .write(UpdateEndpoint {
            workspace: principal.workspace,
            id,
            url,
            event_types,
            description,
            disabled,
        })
        .await?;
    Ok(Json(Envelope::of(wire(updated))).into_response())
}

/// Remove a webhook endpoint
///
/// Its pending deliveries are cancelled.
#[utoipa::path(delete, path = "/api/public/v1/webhook-endpoints/{endpointId}", operation_id = "deleteWebhookEndpoint", tag = "webhooks",
    params(("endpointId" = String, Path)),
    responses(
        (status = 200, description = "Removed", body = WebhookEndpointDeletedEnvelope),
        (status = 400, description = "`invalid_parameter`: not an endpoint id", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: not a `write` key", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    Writer(principal): Writer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = endpoint_id(&id)?;
    state
        .store
        .write(DeleteEndpoint {
            workspace: principal.workspace,
            id,
        })
        .await?;
    Ok(Json(Envelope::of(WebhookEndpointDeleted {
        endpoint_id: id,
        deleted: true,
    }))
    .into_response())
}

/// Rotate an endpoint's secret
///
/// A new secret, shown this once; the old one keeps signing beside it for 24 hours (each delivery
/// then carries two signatures), so receivers can switch without missing one.
#[utoipa::path(post, path = "/api/public/v1/webhook-endpoints/{endpointId}/rotate-secret", operation_id = "rotateWebhookEndpointSecret", tag = "webhooks",
    params(("endpointId" = String, Path)),
    responses(
        (status = 200, description = "The endpoint with its new secret", body = WebhookEndpointWithSecretEnvelope),
        (status = 400, description = "`invalid_parameter`: not an endpoint id; `invalid_json` or `validation_error` (`unknown_field`): a body, which none is needed", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: not a `write` key", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`: a body that is not JSON (none is needed)", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Writer(principal): Writer,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<Response, ApiError> {
    let id = endpoint_id(&id)?;
    let rotated = state
        .store
        .write(RotateEndpointSecret {
            workspace: principal.workspace,
            id,
        })
        .await?;
    Ok(with_secret(StatusCode::OK, rotated))
}

/// Send a test event
///
/// Sends a `ping` (`{"endpointId": …}`) to the endpoint now, enabled or not, and answers the
/// delivery with its one attempt: the status the receiver answered, or why it could not be reached.
#[utoipa::path(post, path = "/api/public/v1/webhook-endpoints/{endpointId}/test", operation_id = "testWebhookEndpoint", tag = "webhooks",
    params(("endpointId" = String, Path)),
    responses(
        (status = 200, description = "The ping's delivery and its attempt", body = WebhookDeliveryDetailEnvelope),
        (status = 400, description = "`invalid_parameter`: not an endpoint id; `invalid_json` or `validation_error` (`unknown_field`): a body, which none is needed", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: not a `write` key", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`: a body that is not JSON (none is needed)", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn test(
    State(state): State<AppState>,
    Writer(principal): Writer,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<Response, ApiError> {
    let id = endpoint_id(&id)?;
    let options = &state.webhooks.options;
    let claimed = state
        .store
        .write(SendPing {
            workspace: principal.workspace.clone(),
            endpoint: id,
            token: state.webhooks.token().to_owned(),
            lease_ms: i64::try_from(options.lease().as_millis()).unwrap_or(i64::MAX),
        })
        .await?;
    crate::webhooks::deliver(&state, &claimed).await;
    let (delivery, attempts) = state
        .store
        .get_webhook_delivery(&principal.workspace, claimed.delivery.id)
        .await?
        .ok_or_else(|| ApiError::not_found(Kind::WebhookDelivery))?;
    Ok(Json(Envelope::of(delivery_detail(delivery, attempts))).into_response())
}

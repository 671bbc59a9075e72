//! The delivery log: the list with its filters, one delivery with every attempt, and redelivery.

use super::{delivery_detail, delivery_item};
use crate::auth::{Caller, Writer};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{parse_agent_id, parse_path_id, NoBody};
use crate::query::Query;
use crate::resources::knowledge_base::encode_cursor;
use crate::resources::knowledge_base::listing::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use crate::resources::{cursor_list, id_cursor};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use dialplane_api::webhooks::{
    DeliveryStatus, WebhookDeliveryDetailEnvelope, WebhookDeliveryListEnvelope,
};
use dialplane_api::Envelope;
use dialplane_core::webhooks::EventType;
use dialplane_core::{DeliveryId, EndpointId};
use dialplane_store::webhooks::{self as store, DeliveryQuery, Redeliver};
use dialplane_store::Kind;

fn delivery_id(raw: &str) -> Result<DeliveryId, ApiError> {
    parse_path_id(raw, "deliveryId", "a delivery id")
}

/// The order of the list, named in its cursors.
const ORDER: &str = "webhook-delivery";

/// List webhook deliveries
///
/// Every delivery of the workspace's events, newest first, a page at a time: to its endpoints and to
/// its agents' `postCallWebhook` URLs. Kept for `--webhook-log-days` after they end.
#[utoipa::path(get, path = "/api/public/v1/webhook-deliveries", operation_id = "listWebhookDeliveries", tag = "webhooks",
    params(
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
        ("pageSize" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..=100, default 30"),
        ("status" = Option<DeliveryStatus>, Query, description = "Only deliveries in this status"),
        ("eventType" = Option<EventType>, Query, description = "Only events of this type"),
        ("endpointId" = Option<String>, Query, description = "Only deliveries to this endpoint"),
        ("agentId" = Option<String>, Query, description = "Only deliveries to this agent's `postCallWebhook`"),
    ),
    responses(
        (status = 200, description = "A page of deliveries", body = WebhookDeliveryListEnvelope),
        (status = 400, description = "`invalid_parameter`", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    query: Query,
) -> Result<Response, ApiError> {
    let q = query.known(
        &[
            "cursor",
            "pageSize",
            "status",
            "eventType",
            "endpointId",
            "agentId",
        ],
        &[],
    )?;
    let page_size = q
        .integer("pageSize", 1..=MAX_PAGE_SIZE)?
        .unwrap_or(DEFAULT_PAGE_SIZE);
    let status = q
        .get("status")
        .map(|raw| {
            store::DeliveryStatus::parse(raw).ok_or_else(|| {
                ApiError::parameter(
                    "status",
                    format!("must be pending, succeeded, failed or cancelled, got {raw:?}"),
                )
            })
        })
        .transpose()?;
    let event_type = q
        .get("eventType")
        .map(|raw| {
            EventType::parse(raw).ok_or_else(|| {
                ApiError::parameter("eventType", format!("is not an event type: {raw:?}"))
            })
        })
        .transpose()?;
    let endpoint_id = q
        .get("endpointId")
        .map(|raw| parse_path_id::<EndpointId>(raw, "endpointId", "an endpoint id"))
        .transpose()?;
    let agent_id = q.get("agentId").map(parse_agent_id).transpose()?;
    let before = q
        .get("cursor")
        .map(|c| id_cursor::<DeliveryId>(c, ORDER))
        .transpose()?;
    let items = state
        .store
        .list_webhook_deliveries(
            &principal.workspace,
            &DeliveryQuery {
                status,
                event_type,
                endpoint_id,
                agent_id,
                before,
                limit: page_size + 1,
            },
        )
        .await?;
    Ok(cursor_list(
        items,
        page_size,
        |d| encode_cursor(ORDER, &d.id.to_string(), ""),
        delivery_item,
    ))
}

/// Get a webhook delivery
///
/// The delivery and its attempt log, oldest first: when, how long, the status answered (or why
/// there was none), and up to 4 KiB of the answer.
#[utoipa::path(get, path = "/api/public/v1/webhook-deliveries/{deliveryId}", operation_id = "getWebhookDelivery", tag = "webhooks",
    params(("deliveryId" = String, Path)),
    responses(
        (status = 200, description = "The delivery", body = WebhookDeliveryDetailEnvelope),
        (status = 400, description = "`invalid_parameter`: not a delivery id", body = ErrorEnvelope),
        (status = 404, description = "`not_found` (or its log has expired)", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = delivery_id(&id)?;
    let (delivery, attempts) = state
        .store
        .get_webhook_delivery(&principal.workspace, id)
        .await?
        .ok_or_else(|| ApiError::not_found(Kind::WebhookDelivery))?;
    Ok(Json(Envelope::of(delivery_detail(delivery, attempts))).into_response())
}

/// Redeliver a webhook
///
/// One more attempt, now, of a delivery that succeeded or failed: the same event, body and
/// `webhook-id`. 409 while it is pending, or when its endpoint is disabled or gone.
#[utoipa::path(post, path = "/api/public/v1/webhook-deliveries/{deliveryId}/redeliver", operation_id = "redeliverWebhook", tag = "webhooks",
    params(("deliveryId" = String, Path)),
    responses(
        (status = 202, description = "Queued: the delivery, pending", body = WebhookDeliveryDetailEnvelope),
        (status = 400, description = "`invalid_parameter`: not a delivery id; `invalid_json` or `validation_error` (`unknown_field`): a body, which none is needed", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: not a `write` key", body = ErrorEnvelope),
        (status = 404, description = "`not_found` (or its log has expired)", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: pending, cancelled, its endpoint disabled or deleted, or its conversation erased", body = ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`: a body that is not JSON (none is needed)", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn redeliver(
    State(state): State<AppState>,
    Writer(principal): Writer,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<Response, ApiError> {
    let id = delivery_id(&id)?;
    state
        .store
        .write(Redeliver {
            workspace: principal.workspace.clone(),
            id,
        })
        .await?;
    let (delivery, attempts) = state
        .store
        .get_webhook_delivery(&principal.workspace, id)
        .await?
        .ok_or_else(|| ApiError::not_found(Kind::WebhookDelivery))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Envelope::of(delivery_detail(delivery, attempts))),
    )
        .into_response())
}

//! The webhooks API: workspace endpoints ([`endpoints`]), the workspace secret that signs agents'
//! `postCallWebhook` deliveries, and the delivery log with redelivery ([`deliveries`]). The worker
//! that sends is [`crate::webhooks`].

pub mod deliveries;
pub mod endpoints;

use crate::auth::Writer;
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::NoBody;
use crate::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use dialplane_api::webhooks::{
    AttemptLogEntry, DeliveryStatus, DeliveryTarget, TargetKind, WebhookDelivery,
    WebhookDeliveryDetail, WebhookSecret, WebhookSecretEnvelope,
};
use dialplane_api::Envelope;
use dialplane_store::webhooks::{
    self as store, rfc3339, Attempt, Secrets, StoredDelivery, Target, WorkspaceSecret,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The most characters of an endpoint's URL.
pub const MAX_URL_CHARS: usize = 2048;
/// The most characters of an endpoint's description.
pub const MAX_DESCRIPTION_CHARS: usize = 500;

/// The webhook routes, each with its documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(endpoints::list, endpoints::create))
        .routes(routes!(
            endpoints::get,
            endpoints::update,
            endpoints::remove
        ))
        .routes(routes!(endpoints::rotate_secret))
        .routes(routes!(endpoints::test))
        .routes(routes!(get_secret))
        .routes(routes!(rotate_secret))
        .routes(routes!(deliveries::list))
        .routes(routes!(deliveries::get))
        .routes(routes!(deliveries::redeliver))
}

fn status(s: store::DeliveryStatus) -> DeliveryStatus {
    match s {
        store::DeliveryStatus::Pending => DeliveryStatus::Pending,
        store::DeliveryStatus::Succeeded => DeliveryStatus::Succeeded,
        store::DeliveryStatus::Failed => DeliveryStatus::Failed,
        store::DeliveryStatus::Cancelled => DeliveryStatus::Cancelled,
    }
}

fn target(d: &StoredDelivery) -> DeliveryTarget {
    let (kind, endpoint_id, agent_id) = match d.target {
        Target::Endpoint(id) => (TargetKind::Endpoint, Some(id), None),
        Target::PostCallWebhook(agent) => (TargetKind::PostCallWebhook, None, Some(agent)),
    };
    DeliveryTarget {
        kind,
        endpoint_id,
        agent_id,
        url: d.url.clone(),
    }
}

/// A delivery as the list shows it.
pub fn delivery_item(d: StoredDelivery) -> WebhookDelivery {
    WebhookDelivery {
        target: target(&d),
        delivery_id: d.id,
        event_id: d.event_id,
        event_type: d.event_type,
        status: status(d.status),
        attempts: d.attempts,
        next_attempt_at: d.next_attempt_at.map(rfc3339),
        last_status_code: d.last_status_code,
        last_error: d.last_error,
        created_at: rfc3339(d.created_at),
    }
}

/// A delivery with its attempt log.
pub fn delivery_detail(d: StoredDelivery, attempts: Vec<Attempt>) -> WebhookDeliveryDetail {
    let item = delivery_item(d);
    WebhookDeliveryDetail {
        delivery_id: item.delivery_id,
        event_id: item.event_id,
        event_type: item.event_type,
        target: item.target,
        status: item.status,
        attempts: item.attempts,
        next_attempt_at: item.next_attempt_at,
        last_status_code: item.last_status_code,
        last_error: item.last_error,
        created_at: item.created_at,
        attempt_log: attempts
            .into_iter()
            .map(|a| AttemptLogEntry {
                at: rfc3339(a.at),
                duration_ms: a.duration_ms,
                status_code: a.status_code,
                error: a.error,
                response_body: a.response_body,
            })
            .collect(),
    }
}

fn secret_answer(secrets: Secrets) -> Response {
    let expires = match (secrets.previous, secrets.previous_until) {
        (Some(_), Some(until)) if until > store::now_ms() => Some(rfc3339(until)),
        _ => None,
    };
    Json(Envelope::of(WebhookSecret {
        secret: secrets.current,
        previous_secret_expires_at: expires,
    }))
    .into_response()
}

/// Get the workspace webhook secret
///
/// The secret that signs deliveries to agents' `postCallWebhook` URLs (endpoints have their own),
/// made with the workspace's first use of webhooks. Shown to `write` keys only.
#[utoipa::path(get, path = "/api/public/v1/webhook-secret", operation_id = "getWebhookSecret", tag = "webhooks",
    responses(
        (status = 200, description = "The workspace secret", body = WebhookSecretEnvelope,
            example = json!({"success": true, "data": {"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "previousSecretExpiresAt": null}})),
        (status = 403, description = "`forbidden`: not a `write` key", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn get_secret(
    State(state): State<AppState>,
    Writer(principal): Writer,
) -> Result<Response, ApiError> {
    let secrets = state
        .store
        .write(WorkspaceSecret {
            workspace: principal.workspace,
            rotate: false,
        })
        .await?;
    Ok(secret_answer(secrets))
}

/// Rotate the workspace webhook secret
///
/// A new secret; the old one keeps signing `postCallWebhook` deliveries beside it for 24 hours.
#[utoipa::path(post, path = "/api/public/v1/webhook-secret/rotate", operation_id = "rotateWebhookSecret", tag = "webhooks",
    responses(
        (status = 200, description = "The new secret", body = WebhookSecretEnvelope,
            example = json!({"success": true, "data": {"secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", "previousSecretExpiresAt": "2026-12-06T10:00:00.000Z"}})),
        (status = 403, description = "`forbidden`: not a `write` key", body = ErrorEnvelope),
        (status = 400, description = "`invalid_json` or `validation_error` (`unknown_field`): a body, which none is needed", body = ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`: a body that is not JSON (none is needed)", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Writer(principal): Writer,
    _: NoBody,
) -> Result<Response, ApiError> {
    let secrets = state
        .store
        .write(WorkspaceSecret {
            workspace: principal.workspace,
            rotate: true,
        })
        .await?;
    Ok(secret_answer(secrets))
}

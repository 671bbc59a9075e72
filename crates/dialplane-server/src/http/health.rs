//! Liveness and readiness.

use crate::error::{ApiError, ErrorEnvelope};
use crate::AppState;
use axum::extract::State;
use axum::Json;
pub use dialplane_api::Health;

/// Liveness
///
/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "healthz",
    responses((status = 200, description = "Up", body = Health, example = json!({"status": "ok"}))))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// Readiness
///
/// Storage answers.
#[utoipa::path(get, path = "/readyz", tag = "operations", operation_id = "readyz",
    responses(
        (status = 200, description = "Ready", body = Health, example = json!({"status": "ready"})),
        (status = 503, description = "`unavailable`: storage does not answer", body = ErrorEnvelope),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.store.ready().await?;
    Ok(Json(Health {
        status: "ready".into(),
    }))
}

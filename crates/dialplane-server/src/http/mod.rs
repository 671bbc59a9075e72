//! The HTTP plumbing every resource shares: authentication, limits, extractors, errors, caches,
//! metrics, health, and the OpenAPI document that the routes feed.

pub mod auth;
pub mod cache;
pub mod error;
pub mod extract;
pub mod health;
pub mod limits;
pub mod metrics;
pub mod observe;
pub mod openapi;
pub mod query;
pub mod ratelimit;
pub mod serve;

use crate::AppState;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The prefix of every route of the public API.
pub const API: &str = "/api/public/v1";

/// Every route with its documentation, declared once: the router and the OpenAPI document both
/// come from here. `guard` wraps the resources' routes (in authentication, for the router).
pub fn api(
    guard: impl FnOnce(OpenApiRouter<AppState>) -> OpenApiRouter<AppState>,
) -> OpenApiRouter<AppState> {
    let resources = OpenApiRouter::new()
        .merge(crate::resources::agents::routes())
        .merge(crate::resources::knowledge_base::routes())
        .merge(crate::resources::opt_outs::routes())
        .merge(crate::resources::phone_numbers::routes())
        .merge(crate::resources::conversations::routes())
        .merge(crate::resources::runtime_config::routes())
        .merge(crate::resources::webhooks::routes());
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(guard(resources))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(openapi::openapi_json))
}

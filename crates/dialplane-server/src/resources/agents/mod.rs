//! Agents: CRUD (Callin's API and ours), patches, duplication, version history.

pub mod crud;
pub mod duplicate;
pub mod examples;
pub mod history;
pub mod listing;
pub mod patch;

use crate::AppState;
use axum::routing::post;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The agent routes, each with its documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(crud::create, crud::list))
        // Callin's path for a create: the same operation, documented by the OpenAPI modifier.
        .route(
            &format!("{}/agents/create", crate::http::API),
            post(crud::create_hosted),
        )
        .routes(routes!(crud::get, patch::patch, crud::delete))
        .routes(routes!(patch::json_patch))
        .routes(routes!(duplicate::duplicate))
        .routes(routes!(history::list))
        .routes(routes!(history::get))
        .routes(routes!(history::diff))
        .routes(routes!(history::restore))
}

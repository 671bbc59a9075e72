//! Search: the best passages of a workspace's ready documents for a query, optionally among one
//! agent's documents only. What a voice runtime calls mid-call.

use crate::auth::Caller;
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::parse_agent_id;
use crate::query::Query;
use crate::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use dialplane_api::knowledge_base::{SearchEnvelope, SearchHit};
use dialplane_store::Kind;

/// Search documents
///
/// Full-text search over the extracted text of `ready` documents, cut into passages of about 1 000
/// characters; `q` is read as web-search syntax (`"a phrase"`, `-word`, `or`) and is never a syntax
/// error. Best first: a higher `score` is a better match.
#[utoipa::path(get, path = "/api/public/v1/knowledge-base/search", operation_id = "searchDocuments",
    tag = "knowledge-base",
    params(
        ("q" = String, Query, description = "What to look for"),
        ("agentId" = Option<String>, Query, description = "Only the documents this agent names (404 if no such agent)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 50, description = "1..=50, default 5"),
    ),
    responses(
        (status = 200, description = "The best passages", body = SearchEnvelope),
        (status = 400, description = "`invalid_parameter`", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such agent", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn search(
    State(state): State<AppState>,
    Caller(principal): Caller,
    query: Query,
) -> Result<Response, ApiError> {
    let query = query.known(&["q", "agentId", "limit"], &[])?;
    let q = query
        .get("q")
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| ApiError::parameter("q", "is required: what to look for"))?;
    let limit = query.integer("limit", 1..=50)?.unwrap_or(5);
    let workspace = &principal.workspace;
    let within = match query.get("agentId") {
        None => None,
        Some(raw) => {
            let id = parse_agent_id(raw)?;
            let agent = state
                .store
                .get_agent(workspace, id)
                .await?
                .ok_or_else(|| ApiError::not_found(Kind::Agent))?;
            Some(
                agent
                    .agent
                    .spec
                    .conversation_config
                    .agent
                    .prompt
                    .knowledge_base,
            )
        }
    };
    let hits = state
        .store
        .search(workspace, q, within.as_deref(), limit)
        .await?;
    Ok(Json(SearchEnvelope {
        success: true,
        data: hits
            .into_iter()
            .map(|h| SearchHit {
                document_id: h.document_id,
                name: h.name,
                passage: h.passage,
                score: h.score,
            })
            .collect(),
    })
    .into_response())
}

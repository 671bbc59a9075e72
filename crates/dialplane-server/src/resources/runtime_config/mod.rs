//! `GET /agents/{agentId}/runtime-config`: what a voice runtime needs at call start, resolved in one
//! document (the agent with every default, its documents, transfer targets, numbers, and with `?to=`
//! whether it may dial), with an `ETag` and `304` for cheap polling; answered from memory while
//! current ([`cache`]).

pub mod cache;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode, ErrorEnvelope};
use crate::extract::AgentPath;
use crate::query::Query;
use crate::resources::knowledge_base::base_url;
use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cache::{CachedConfig, ConfigKey};
use dialplane_api::runtime_config::{
    ConfigDocument, Dial, RuntimeConfig, RuntimeConfigEnvelope, TransferTarget,
};
use dialplane_api::Envelope;
use dialplane_core::agent::Direction;
use dialplane_store::runtime::{ConfigInputs, Fingerprint};
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get))
}

/// Get an agent's runtime configuration
///
/// What a voice runtime needs at call start: the agent (every default filled in), its
/// knowledge-base documents, the agents it may transfer to with their numbers, its own numbers,
/// and with `?to=` whether it may dial that number. Any key scope. Poll it with `If-None-Match`:
/// `304` while nothing in it changed.
#[utoipa::path(get, path = "/api/public/v1/agents/{agentId}/runtime-config", operation_id = "getRuntimeConfig", tag = "agents",
    params(
        ("agentId" = String, Path),
        ("version" = Option<u64>, Query, minimum = 1, description = "A past version from the history (default the current one)"),
        ("to" = Option<String>, Query, description = "The E.164 number about to be dialled (send `+` as `%2B`): adds `dial`"),
        ("If-None-Match" = Option<String>, Header, description = "The ETag of a configuration held: `304` if it is still this"),
    ),
    responses(
        (status = 200, description = "The configuration", body = RuntimeConfigEnvelope,
            headers(("ETag" = String, description = "Changes whenever anything in the configuration does"))),
        (status = 304, description = "Not modified: the `If-None-Match` ETag is current"),
        (status = 400, description = "`invalid_parameter`: a malformed id, `version` or `to`", body = ErrorEnvelope),
        (status = 404, description = "`not_found`: no such agent, or it never had that version", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Caller(principal): Caller,
    AgentPath(agent): AgentPath,
    headers: HeaderMap,
    query: Query,
) -> Result<Response, ApiError> {
    let q = query.known(&["version", "to"], &[])?;
    let version = q.integer::<u64>("version", 1..=u64::MAX)?;
    let to = q.get("to").map(str::to_owned);
    if let Some(to) = &to {
        dialplane_core::validate::check_e164(to)
            .map_err(|(_, why)| ApiError::parameter("to", why))?;
    }
    let host = match state.knowledge.public_url {
        Some(_) => None,
        None => headers.get(header::HOST).cloned(),
    };
    let key = ConfigKey {
        workspace: principal.workspace,
        agent,
        version,
        to,
        host,
    };
    let configs = &state.runtime_configs;
    let remembered = configs.current(&state, &key).await?;
    if remembered.is_some() {
        state.metrics.runtime_configs_from_memory.inc();
    } else {
        state.metrics.runtime_configs_from_storage.inc();
    }
    let config = match remembered {
        Some(config) => config,
        None => {
            let generation = configs.generation();
            let base = base_url(&state, &headers);
            let config = Arc::new(build(&state, &key, &base, generation).await?);
            configs.remember(key, config.clone());
            config
        }
    };
    if not_modified(&headers, &config.etag) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response
            .headers_mut()
            .insert(header::ETAG, config.etag.clone());
        return Ok(response);
    }
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::ETAG, config.etag.clone()),
        ],
        config.body.clone(),
    )
        .into_response())
}

/// Whether `If-None-Match` names `etag` (or is `*`).
fn not_modified(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let Ok(etag) = etag.to_str() else {
        return false;
    };
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

fn not_found(why: &str) -> ApiError {
    ApiError::new(ErrorCode::NotFound, why)
}

/// Resolves the configuration `key` asks for from storage, noting what it read for its fingerprint.
async fn build(
    state: &AppState,
    key: &ConfigKey,
    base: &str,
    generation: u64,
) -> Result<CachedConfig, ApiError> {
    let store = &state.store;
    let workspace = key.workspace.as_str();
    let current = store
        .get_agent(workspace, key.agent)
        .await?
        .ok_or_else(|| not_found("no such agent"))?;
    let mut read = Fingerprint::default();
    read.agent(key.agent, current.revision);
    let stored = match key.version {
        None => current.clone(),
        Some(v) => store
            .get_version(workspace, key.agent, v)
            .await?
            .ok_or_else(|| not_found(&format!("the agent never had version {v}")))?,
    };
    let spec = &stored.agent.spec;
    let mut inputs = ConfigInputs {
        agents: vec![key.agent],
        documents: dialplane_core::validate::named_documents(spec),
        to: key.to.clone(),
    };
    let mut knowledge_base = Vec::new();
    for id in &inputs.documents {
        if let Some(d) = store.get_document(workspace, id).await? {
            read.document(id, d.status.as_str(), &d.updated_at, &d.name);
            knowledge_base.push(ConfigDocument {
                text_url: format!("{base}/api/public/v1/knowledge-base/documents/{id}/text"),
                document_id: d.document_id,
                name: d.name,
                status: d.status.as_str().to_owned(),
            });
        }
    }
    let mut transfer_targets = Vec::new();
    for target in dialplane_core::validate::transfer_targets(spec) {
        inputs.agents.push(target);
        // A past version may name an agent deleted since: it is left out.
        if let Some(t) = store.get_agent(workspace, target).await? {
            read.agent(target, t.revision);
            transfer_targets.push(TransferTarget {
                agent_id: target,
                name: t.agent.spec.name,
                phone_numbers: t.agent.phone_numbers,
            });
        }
    }
    let dial = match &key.to {
        None => None,
        Some(to) => {
            let opted_out = store.get_opt_out(workspace, to).await?.is_some();
            if opted_out {
                read.opt_out(to);
            }
            let reason = if opted_out {
                Some("opted_out")
            } else if spec.direction == Direction::Inbound {
                Some("inbound_only")
            } else {
                None
            };
            Some(Dial {
                allowed: reason.is_none(),
                reason: reason.map(str::to_owned),
            })
        }
    };
    let config = RuntimeConfig {
        agent_id: key.agent,
        agent_version: stored.revision,
        name: spec.name.clone(),
        direction: spec.direction,
        conversation_config: spec.conversation_config.clone(),
        platform_settings: spec.platform_settings.clone(),
        knowledge_base,
        transfer_targets,
        phone_numbers: current.agent.phone_numbers,
        dial,
    };
    let body =
        serde_json::to_vec(&Envelope::of(config)).map_err(|e| ApiError::internal(e.to_string()))?;
    let digest = dialplane_core::json::digest(&body);
    let etag = HeaderValue::from_str(&format!("\"{}-{}\"", stored.revision, &digest[..16]))
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(CachedConfig {
        generation,
        inputs,
        fingerprint: read.finish(),
        etag,
        body: body.into(),
    })
}

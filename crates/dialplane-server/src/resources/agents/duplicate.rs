//! `POST /agents/{agentId}/duplicate`: a new agent with the same configuration and a fresh history.

use crate::auth::Writer;
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{idempotency, only_known, AgentPath, OptionalJsonObject};
use crate::query::{dry_run, Query};
use crate::resources::agents::crud::{invalid, store_new, AgentEnvelope};
use crate::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use dialplane_store::Kind;
use serde_json::Value;

/// The longest name an agent may have.
const NAME_MAX: usize = 200;
const SUFFIX: &str = " (copy)";

/// `name`, trimmed, with ` (copy)` appended, shortened first if the result would be too long (the
/// limit counts the trimmed name; the padding of a name is not worth keeping in its copy's).
fn copy_name(name: &str) -> String {
    let room = NAME_MAX - SUFFIX.chars().count();
    let kept: String = name.trim().chars().take(room).collect();
    format!("{}{SUFFIX}", kept.trim_end())
}

/// The optional body of a duplicate.
// For the document only: `options` reads the body, to report every problem with a pointer.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct DuplicateOptions {
    /// The copy's name; default: the original's name plus ` (copy)`.
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
}

/// Duplicate an agent
///
/// Creates a new agent with the same configuration, named `name` (default: the original's name plus
/// ` (copy)`), with a fresh history. Honours `Idempotency-Key` and `dryRun`.
#[utoipa::path(post, path = "/api/public/v1/agents/{agentId}/duplicate", operation_id = "duplicateAgent", tag = "agents",
    params(
        ("agentId" = String, Path, pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", description = "The agent to copy"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the same key and body within 24 hours replay the first answer"),
        ("dryRun" = Option<bool>, Query, description = "Run every check and answer (200) what would be stored, storing nothing"),
    ),
    request_body(content = DuplicateOptions, content_type = "application/json", description = "Optional: `{\"name\": ...}`",
        example = json!({"name": "Front desk (EMEA)"})),
    responses(
        (status = 201, description = "The new agent", body = AgentEnvelope),
        (status = 200, description = "A dry run (`dryRun=true`): the agent that would be created, marked `Dry-Run: true`; nothing is stored", body = AgentEnvelope),
        (status = 400, description = "`validation_error`, `invalid_json` or `invalid_parameter`", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`", body = ErrorEnvelope),
        (status = 422, description = "`idempotency_key_reused`", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn duplicate(
    State(state): State<AppState>,
    Writer(principal): Writer,
    AgentPath(id): AgentPath,
    query: Query,
    headers: HeaderMap,
    OptionalJsonObject(body): OptionalJsonObject,
) -> Result<Response, ApiError> {
    let dry_run = dry_run(query)?;
    let options = only_known(body, &["name"])?;
    let request = serde_json::json!({"duplicate": id.to_string(), "body": options});
    let idempotency = idempotency(&headers, &request, state.idempotency_ttl)?;
    // A retry gets the first answer even if the source has been deleted or today's rules refuse it
    // since: the copy was made then.
    if let Some(idempotency) = idempotency.as_ref().filter(|_| !dry_run) {
        if let Some(first) = state
            .store
            .idempotent_answer(&principal.workspace, idempotency)
            .await?
        {
            return Ok(crate::resources::recorded_response(first, true));
        }
    }
    let source = state
        .store
        .get_agent(&principal.workspace, id)
        .await?
        .ok_or_else(|| ApiError::not_found(Kind::Agent))?;
    // The copy is a new agent: it is checked against today's rules like any create.
    let mut body = serde_json::to_value(&source.agent.spec)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    let name = match options.get("name") {
        None | Some(Value::Null) => Value::String(copy_name(&source.agent.spec.name)),
        Some(name) => name.clone(),
    };
    body.insert("name".into(), name);
    let spec = match dialplane_core::validate::validate_create(&body, &state.rules) {
        Ok(spec) => spec,
        Err(problems) => return Err(invalid(&state, &principal.workspace, problems).await),
    };
    store_new(&state, principal, spec, idempotency, dry_run).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_names_fit_the_name_limit() {
        assert_eq!(copy_name("Front desk"), "Front desk (copy)");
        let long = "x".repeat(200);
        let copy = copy_name(&long);
        assert_eq!(copy.chars().count(), 200);
        assert!(copy.ends_with(" (copy)"));
        // A padded name is counted and kept trimmed: 250 spaces do not push the name out.
        let padded = format!("{}Front desk  ", " ".repeat(250));
        assert_eq!(copy_name(&padded), "Front desk (copy)");
    }
}

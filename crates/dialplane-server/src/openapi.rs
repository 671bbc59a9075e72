//! The OpenAPI 3.1 document, generated from the handlers and types.

use crate::agents;
use crate::error::{Detail, ErrorBody, ErrorCode, ErrorEnvelope};
use crate::health;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "dialplane Agents API",
        description = "A self-hosted control plane for voice-AI agents, wire-compatible with the Callin public v1 Agents API.",
        license(name = "Apache-2.0")
    ),
    paths(
        agents::create,
        agents::create_hosted,
        agents::list,
        agents::get,
        agents::patch,
        agents::delete,
        health::healthz,
        health::readyz,
    ),
    components(schemas(ErrorEnvelope, ErrorBody, ErrorCode, Detail)),
    modifiers(&ApiKeyAuth),
    tags((name = "agents", description = "Voice-AI agent configuration"), (name = "operations", description = "Health and readiness"))
)]
pub struct ApiDoc;

struct ApiKeyAuth;

impl Modify for ApiKeyAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-api-key",
                "An API key (dp_...) created by `dialplane keys create` or printed at first start",
            ))),
        );
    }
}

/// The document as pretty JSON with a trailing newline, exactly as committed in `openapi.json`.
pub fn document() -> String {
    let mut json = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    json.push('\n');
    json
}

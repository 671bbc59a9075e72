//! The OpenAPI 3.1 document, generated from the handlers and types.

//!
//! The paths come from the routes ([`super::api`]); this module holds what is not a route: the
//! document's info, tags, shared schemas and security scheme, and the modifiers that run once every
//! path is in.

use crate::error::{Detail, ErrorBody, ErrorCode, ErrorEnvelope};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "dialplane Agents API",
        description = "A self-hosted control plane for voice-AI agents, wire-compatible with the Callin public v1 Agents API.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    components(schemas(ErrorEnvelope, ErrorBody, ErrorCode, Detail)),
    tags((name = "agents", description = "Voice-AI agent configuration"),
        (name = "history", description = "Every stored change of an agent, as immutable versions"), (name = "operations", description = "Health and readiness"),
        (name = "knowledge-base", description = "Documents agents draw on mid-call, and search over them"),
        (name = "opt-outs", description = "Numbers a workspace must not call"),
        (name = "phone-numbers", description = "A workspace's numbers and the agents that answer them"),
        (name = "conversations", description = "Calls as voice runtimes report them, read back in Callin's shape"),
        (name = "webhooks", description = "Signed, retried, logged and replayable deliveries of events (Standard Webhooks)"))
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

/// Links from each answer that creates an agent to the operations on it, so that clients and tools
/// (schemathesis' stateful tests among them) know where a new `agentId` leads.
struct AgentLinks;

impl Modify for AgentLinks {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::link::LinkBuilder;
        use utoipa::openapi::RefOr;
        const FOLLOW: [&str; 6] = [
            "getAgent",
            "updateAgent",
            "jsonPatchAgent",
            "deleteAgent",
            "duplicateAgent",
            "listVersions",
        ];
        for item in openapi.paths.paths.values_mut() {
            let Some(op) = item.post.as_mut() else {
                continue;
            };
            let creates = matches!(
                op.operation_id.as_deref(),
                Some("createAgent" | "duplicateAgent")
            );
            let Some(RefOr::T(created)) = op.responses.responses.get_mut("201") else {
                continue;
            };
            if !creates {
                continue;
            }
            for target in FOLLOW {
                let link = LinkBuilder::new()
                    .operation_id(target)
                    .parameter("agentId", "$response.body#/data/agentId")
                    .build();
                created.links.insert(target.to_owned(), RefOr::T(link));
            }
        }
    }
}

/// `POST /agents/create` is `POST /agents` at the hosted API's path: the same operation, documented once.
struct HostedCreatePath;

impl Modify for HostedCreatePath {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(mut op) = openapi
            .paths
            .paths
            .get("/api/public/v1/agents")
            .and_then(|item| item.post.clone())
        else {
            return;
        };
        op.operation_id = Some("createAgentHosted".into());
        op.summary = Some("Create an agent (hosted-API path)".into());
        op.description =
            Some("The same operation as `POST /agents`, at the path the hosted API uses.".into());
        let item = utoipa::openapi::path::PathItem::new(utoipa::openapi::HttpMethod::Post, op);
        openapi
            .paths
            .paths
            .insert("/api/public/v1/agents/create".into(), item);
    }
}

/// Adds an error response in the envelope, unless the operation documents that status already.
fn add_error(op: &mut utoipa::openapi::path::Operation, status: &str, description: &str) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    if op.responses.responses.contains_key(status) {
        return;
    }
    let response = ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
                .build(),
        )
        .build();
    op.responses
        .responses
        .insert(status.to_owned(), response.into());
}

/// Adds the error responses every route behind a key shares, and fills in examples the attribute macros
/// cannot build: full agents and error bodies, made from the real types.
struct ResponsesAndExamples;

impl Modify for ResponsesAndExamples {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                (&mut item.get, false),
                (&mut item.post, true),
                (&mut item.patch, true),
                (&mut item.delete, true),
            ];
            for (op, writes) in operations {
                let Some(op) = op else { continue };
                let has_body = op.request_body.is_some();
                // The answers every route behind a key can give, documented once here.
                if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    add_error(op, "401", "`unauthorized`: the API key is missing, malformed, unknown, revoked or expired");
                    if writes {
                        add_error(op, "403", "`forbidden`: a read-only key");
                    }
                    add_error(
                        op,
                        "429",
                        "`rate_limited`: over the key's limit; see `Retry-After`",
                    );
                    add_error(
                        op,
                        "503",
                        "`unavailable`: storage does not answer; retry shortly",
                    );
                }
                // The HTTP layer's limits apply to every route.
                add_error(
                    op,
                    "431",
                    "`headers_too_large`: the request line and headers are over the limit",
                );
                if has_body {
                    add_error(
                        op,
                        "408",
                        "`request_timeout`: the body did not arrive within the body read timeout",
                    );
                    add_error(
                        op,
                        "413",
                        "`payload_too_large`: the body is over the size limit",
                    );
                }
                for (status, response) in op.responses.responses.iter_mut() {
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    for content in response.content.values_mut() {
                        if content.example.is_some() {
                            continue;
                        }
                        let schema = match &content.schema {
                            Some(RefOr::Ref(r)) => r.ref_location.as_str(),
                            _ => "",
                        };
                        content.example = match schema.rsplit('/').next() {
                            Some("AgentEnvelope") => {
                                Some(crate::resources::agents::examples::agent_envelope())
                            }
                            Some("ErrorEnvelope") if status == "400" && has_body => {
                                Some(crate::resources::agents::examples::validation_error())
                            }
                            Some("ErrorEnvelope") if status == "400" => {
                                Some(crate::resources::agents::examples::invalid_parameter())
                            }
                            _ => None,
                        };
                    }
                }
            }
        }
    }
}

/// What strict validators ask of every document: `servers`, a `security` entry on every operation
/// (an empty one where no key is needed), and headers typed as what they are (`If-Match`,
/// `Idempotency-Key`: a string, or absent; never `null`).
struct Completeness;

impl Modify for Completeness {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        use utoipa::openapi::{Required, ServerBuilder};
        openapi.servers = Some(vec![ServerBuilder::new()
            .url("/")
            .description(Some("The server that serves this document"))
            .build()]);
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                op.security.get_or_insert_with(Vec::new);
                for param in op.parameters.iter_mut().flatten() {
                    // A header is a string or absent; utoipa types an optional one `string | null`.
                    if param.parameter_in == ParameterIn::Header {
                        param.schema = Some(ObjectBuilder::new().schema_type(Type::String).into());
                        param.required = Required::False;
                    }
                }
            }
        }
    }
}

/// The document as this server serves it: the committed one for the default settings, else with
/// this server's model list (`--llm-models`) and default model in it.
pub fn served_document(rules: &dialplane_core::Rules) -> String {
    if rules.llm_models == dialplane_core::Rules::default().llm_models {
        return document();
    }
    document_for(rules)
}

/// The models `prompt.llm` may name on this server, as the enum `LlmModel` that the request views
/// use (an answer says `llm` as a plain string: an agent stored before the list changed keeps its
/// model).
fn name_models(doc: &mut utoipa::openapi::OpenApi, rules: &dialplane_core::Rules) {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    use utoipa::openapi::Ref;
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    let default = rules.default_llm();
    components.schemas.insert(
        "LlmModel".into(),
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(format!(
                "A model this server allows (`--llm-models`); an agent that names none gets `{default}`."
            )))
            .enum_values(Some(rules.llm_models.clone()))
            .into(),
    );
    let model = || Ref::from_schema_name("LlmModel");
    let mut with_default = model();
    with_default.description = format!("Default: `{default}`.");
    let views = [
        ("PromptInput", with_default.into()),
        (
            "PromptPatch",
            OneOfBuilder::new()
                .item(model())
                .item(ObjectBuilder::new().schema_type(Type::Null))
                .into(),
        ),
    ];
    for (view, llm) in views {
        if let Some(utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(prompt))) =
            components.schemas.get_mut(view)
        {
            prompt.properties.insert("llm".into(), llm);
        }
    }
}

/// OpenAPI document
///
/// This document, as JSON. Needs no API key.
#[utoipa::path(get, path = "/api/public/v1/openapi.json", tag = "operations", operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object,
        example = json!({"openapi": "3.1.0", "info": {"title": "dialplane Agents API"}}))))]
pub async fn openapi_json(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
) -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        state.openapi.to_string(),
    )
}

/// The document as pretty JSON with a trailing newline, exactly as committed in `openapi.json`.
pub fn document() -> String {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOCUMENT
        .get_or_init(|| document_for(&dialplane_core::Rules::default()))
        .clone()
}

/// The document for a server with these settings.
fn document_for(rules: &dialplane_core::Rules) -> String {
    let mut doc = generated().clone();
    name_models(&mut doc, rules);
    let json = doc
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    // utoipa 5 writes a link's `operationId` as `operation_id`; no other key of ours is
    // spelled so (every schema is camelCase), so the fix can be this plain.
    json.replace("\"operation_id\": ", "\"operationId\": ") + "\n"
}

/// The document as the routes and types generate it, finished by the modifiers.
fn generated() -> &'static utoipa::openapi::OpenApi {
    static GENERATED: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    GENERATED.get_or_init(|| {
        let mut doc = super::api(|resources| resources).into_openapi();
        let modifiers: [&dyn Modify; 5] = [
            &AgentLinks,
            &HostedCreatePath,
            &ApiKeyAuth,
            &ResponsesAndExamples,
            &Completeness,
        ];
        for modifier in modifiers {
            modifier.modify(&mut doc);
        }
        if let Some(components) = doc.components.as_mut() {
            dialplane_api::agents::AGENT_VIEWS.apply(&mut components.schemas);
        }
        // utoipa marks every request body required; a duplicate's is optional (no body at all
        // is a plain copy), as its description says and the server does.
        if let Some(body) = doc
            .paths
            .paths
            .get_mut("/api/public/v1/agents/{agentId}/duplicate")
            .and_then(|item| item.post.as_mut())
            .and_then(|operation| operation.request_body.as_mut())
        {
            body.required = Some(utoipa::openapi::Required::False);
        }
        doc
    })
}

//! The OpenAPI document: generated from the code, committed, served, and complete.

use crate::support::*;
use reqwest::Method;
use serde_json::{json, Value};

const COMMITTED: &str = include_str!("../../../../openapi.json");

#[tokio::test]
async fn the_committed_openapi_json_is_what_the_code_generates() {
    assert!(
        dialplane_server::openapi::document() == COMMITTED,
        "openapi.json is stale: run `cargo run -- openapi > openapi.json`"
    );
}

#[tokio::test]
async fn the_server_serves_the_committed_document_without_a_key() {
    let app = TestApp::spawn().await;
    let r = app
        .send(Method::GET, "/api/public/v1/openapi.json", None, &[], None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text, COMMITTED);
    assert!(r.body["openapi"].as_str().unwrap().starts_with("3.1"));
}

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            ops.push((method.clone(), path.clone(), op));
        }
    }
    ops
}

fn has_example(op: &Value) -> bool {
    let in_contents = |contents: &Value| {
        contents
            .as_object()
            .is_some_and(|c| c.values().any(|m| m.get("example").is_some()))
    };
    in_contents(&op["requestBody"]["content"])
        || op["responses"]
            .as_object()
            .unwrap()
            .values()
            .any(|r| in_contents(&r["content"]))
}

#[test]
fn every_operation_has_a_summary_an_example_and_its_error_responses() {
    let doc: Value = serde_json::from_str(COMMITTED).unwrap();
    let ops = operations(&doc);
    assert!(ops.len() >= 9, "{} operations", ops.len());
    for (method, path, op) in ops {
        let name = format!("{method} {path}");
        assert!(
            op["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{name} has no summary"
        );
        assert!(has_example(op), "{name} has no example");
        let statuses: Vec<&String> = op["responses"].as_object().unwrap().keys().collect();
        if path.starts_with("/api/public/v1/agents") {
            for must in ["400", "401"] {
                assert!(statuses.iter().any(|s| *s == must), "{name} lacks {must}");
            }
            assert!(
                op["security"].is_array(),
                "{name} does not declare the API key"
            );
        }
        if path.contains("{agentId}") {
            assert!(statuses.iter().any(|s| *s == "404"), "{name} lacks 404");
        }
        if method != "get" {
            assert!(
                statuses.iter().any(|s| *s == "403"),
                "{name} lacks 403 for read-only keys"
            );
        }
    }
}

#[test]
fn the_agent_example_is_a_valid_agent_of_the_document() {
    let example = dialplane_server::resources::agents::examples::agent();
    let agent: dialplane_core::Agent = serde_json::from_value(example.clone()).unwrap();
    assert_eq!(serde_json::to_value(&agent).unwrap(), example);
    assert_eq!(agent.spec.name, "Appointment setter");
}

#[tokio::test]
async fn a_request_body_is_marked_required_exactly_where_the_server_needs_one() {
    let doc: Value = serde_json::from_str(COMMITTED).unwrap();
    let required =
        |method: &str, path: &str| doc["paths"][path][method]["requestBody"]["required"].clone();
    // A duplicate with no body at all is a plain copy, so the document must not demand one.
    assert_eq!(
        required("post", "/api/public/v1/agents/{agentId}/duplicate"),
        Value::Bool(false)
    );
    assert_eq!(required("post", "/api/public/v1/agents"), Value::Bool(true));
    let app = TestApp::spawn().await;
    let id = app.create_named("Source").await;
    let r = app
        .send(
            Method::POST,
            &format!("/api/public/v1/agents/{id}/duplicate"),
            Some(&app.key),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[test]
fn the_document_has_servers_a_security_entry_everywhere_typed_headers_and_date_times() {
    let doc: Value = serde_json::from_str(COMMITTED).unwrap();
    assert!(
        doc["servers"].as_array().is_some_and(|s| !s.is_empty()),
        "servers"
    );
    for (method, path, op) in operations(&doc) {
        let security = op["security"]
            .as_array()
            .unwrap_or_else(|| panic!("{method} {path}: no security entry"));
        let public =
            ["/healthz", "/readyz", "/api/public/v1/openapi.json"].contains(&path.as_str());
        assert_eq!(security.is_empty(), public, "{method} {path}: {security:?}");
        for param in op["parameters"].as_array().into_iter().flatten() {
            if param["in"] == "header" {
                assert_eq!(
                    param["schema"]["type"], "string",
                    "{method} {path}: {param}"
                );
                assert_ne!(param["required"], true, "{method} {path}: {param}");
            }
        }
    }
    let schemas = &doc["components"]["schemas"];
    for pointer in [
        "/Metadata/properties/createdAt",
        "/Metadata/properties/updatedAt",
        "/VersionItem/properties/createdAt",
    ] {
        let field = schemas.pointer(pointer).unwrap();
        assert_eq!(field["format"], "date-time", "{pointer}: {field}");
    }
}

#[tokio::test]
async fn the_served_document_lists_the_models_this_server_allows_and_its_default() {
    let app = TestApp::spawn_with(TestOptions {
        rules: dialplane_core::Rules {
            llm_models: vec!["gpt-4o".into(), "gpt-5".into()],
            ..Default::default()
        },
        ..TestOptions::default()
    })
    .await;
    let r = app
        .send(Method::GET, "/api/public/v1/openapi.json", None, &[], None)
        .await;
    assert_eq!(r.status, 200);
    let schemas = &r.body["components"]["schemas"];
    assert_eq!(schemas["LlmModel"]["enum"], json!(["gpt-4o", "gpt-5"]));
    let llm = &schemas["PromptInput"]["properties"]["llm"];
    assert_eq!(llm["$ref"], "#/components/schemas/LlmModel");
    assert!(
        llm["description"].as_str().unwrap().contains("`gpt-4o`"),
        "{llm}"
    );
    // The committed document is the one for the default list.
    let committed: Value = serde_json::from_str(COMMITTED).unwrap();
    let defaults = dialplane_core::Rules::default().llm_models;
    assert_eq!(
        committed["components"]["schemas"]["LlmModel"]["enum"],
        json!(defaults)
    );
    // Each listed model is accepted, and the first is what an agent that names none gets.
    for model in ["gpt-4o", "gpt-5"] {
        let body = agent_with("/conversationConfig/agent/prompt/llm", json!(model));
        assert_eq!(app.create_agent(&body).await.status, 201, "{model}");
    }
    let refused = agent_with("/conversationConfig/agent/prompt/llm", json!(defaults[0]));
    app.create_agent(&refused)
        .await
        .assert_problem("/conversationConfig/agent/prompt/llm", "invalid_value");
    let created = app.create_agent(&minimal_agent("Default model")).await;
    assert_eq!(
        created.data()["conversationConfig"]["agent"]["prompt"]["llm"],
        "gpt-4o"
    );
}

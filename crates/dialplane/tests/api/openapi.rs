//! The OpenAPI document: generated from the code, committed, served, and complete.

use crate::support::*;
use reqwest::Method;
use serde_json::Value;

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

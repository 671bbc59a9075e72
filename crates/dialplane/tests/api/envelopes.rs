//! The error envelope of each kind of error, whole, as a client reads it: inline snapshots, with
//! request ids and agent ids redacted.

use crate::support::*;
use insta::assert_json_snapshot;
use serde_json::json;

#[tokio::test]
async fn a_missing_key_is_unauthorized() {
    let app = TestApp::spawn().await;
    let r = app
        .send(
            reqwest::Method::GET,
            "/api/public/v1/agents",
            None,
            &[],
            None,
        )
        .await;
    assert_json_snapshot!(r.body, {".error.requestId" => "[request-id]"}, @r#"
    {
      "error": {
        "code": "unauthorized",
        "message": "a valid API key is required in the x-api-key header",
        "requestId": "[request-id]"
      },
      "success": false
    }
    "#);
}

#[tokio::test]
async fn an_unknown_agent_is_not_found() {
    let app = TestApp::spawn().await;
    let r = app.get_agent("0193a5b2-7c1d-7e3f-9a4b-5c6d7e8f9a0b").await;
    assert_json_snapshot!(r.body, {".error.requestId" => "[request-id]"}, @r#"
    {
      "error": {
        "code": "not_found",
        "message": "no such agent",
        "requestId": "[request-id]"
      },
      "success": false
    }
    "#);
}

#[tokio::test]
async fn a_missing_resource_is_not_found_by_its_kind() {
    let app = TestApp::spawn().await;
    let id = "0193a5b2-7c1d-7e3f-9a4b-5c6d7e8f9a0b";
    for (path, kind) in [
        ("conversations", "conversation"),
        ("phone-numbers", "phone number"),
        ("webhook-endpoints", "webhook endpoint"),
        ("webhook-deliveries", "webhook delivery"),
    ] {
        let r = app.get(&format!("/api/public/v1/{path}/{id}")).await;
        assert_eq!(r.status, 404, "{path}: {}", r.text);
        assert_eq!(r.error_code(), "not_found", "{path}: {}", r.text);
        assert_eq!(
            r.body["error"]["message"],
            format!("no such {kind}"),
            "{path}: {}",
            r.text
        );
    }
}

#[tokio::test]
async fn a_malformed_id_is_an_invalid_parameter() {
    let app = TestApp::spawn().await;
    let r = app.get_agent("not-an-id").await;
    assert_json_snapshot!(r.body, {".error.requestId" => "[request-id]"}, @r#"
    {
      "error": {
        "code": "invalid_parameter",
        "details": [
          {
            "code": "invalid_value",
            "message": "is not an agent id: \"not-an-id\"",
            "parameter": "agentId"
          }
        ],
        "message": "agentId: is not an agent id: \"not-an-id\"",
        "requestId": "[request-id]"
      },
      "success": false
    }
    "#);
}

#[tokio::test]
async fn an_invalid_body_lists_every_problem_at_its_pointer() {
    let app = TestApp::spawn().await;
    let mut body = agent_with("/conversationConfig/agent/prompt/temperature", json!(7));
    body["tags"] = json!(["a", "a"]);
    body["unknown"] = json!(true);
    let r = app.create_agent(&body).await;
    assert_json_snapshot!(r.body, {".error.requestId" => "[request-id]"}, @r#"
    {
      "error": {
        "code": "validation_error",
        "details": [
          {
            "code": "duplicate",
            "message": "\"a\" is listed twice",
            "path": "/tags/1"
          },
          {
            "code": "out_of_range",
            "message": "must be between 0 and 2, got 7",
            "path": "/conversationConfig/agent/prompt/temperature"
          },
          {
            "code": "unknown_field",
            "message": "is not a known field",
            "path": "/unknown"
          }
        ],
        "message": "3 fields are invalid",
        "requestId": "[request-id]"
      },
      "success": false
    }
    "#);
}

#[tokio::test]
async fn a_referenced_agent_is_a_conflict_naming_who_refers_to_it() {
    let app = TestApp::spawn().await;
    let target = app.create_named("Target").await;
    let referrer = agent_with(
        "/conversationConfig/agent/prompt/builtInTools/transferToAgent",
        json!({"enabled": true, "transfers": [{"agentId": target, "condition": "c"}]}),
    );
    assert_eq!(app.create_agent(&referrer).await.status, 201);
    let r = app.delete_agent(&target).await;
    assert_json_snapshot!(r.body, {
        ".error.requestId" => "[request-id]",
        ".error.details[].agentId" => "[agent-id]",
        ".error.details[].message" => "[message naming the agent]",
    }, @r#"
    {
      "error": {
        "code": "conflict",
        "details": [
          {
            "agentId": "[agent-id]",
            "code": "referenced_by",
            "message": "[message naming the agent]"
          }
        ],
        "message": "1 other agent(s) transfer to this agent; remove those transfers first",
        "requestId": "[request-id]"
      },
      "success": false
    }
    "#);
}

#[tokio::test]
async fn a_stale_etag_is_a_failed_precondition() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Etag").await;
    let r = app
        .patch_agent_if(&id, "\"7\"", &json!({"name": "x"}))
        .await;
    assert_json_snapshot!(r.body, {".error.requestId" => "[request-id]"}, @r#"
    {
      "error": {
        "code": "precondition_failed",
        "message": "the agent has changed: its ETag no longer matches If-Match",
        "requestId": "[request-id]"
      },
      "success": false
    }
    "#);
}

#[tokio::test]
async fn an_encoded_body_is_an_unsupported_media_type() {
    let app = TestApp::spawn().await;
    let r = app
        .send(
            reqwest::Method::POST,
            "/api/public/v1/agents",
            Some(&app.key),
            &[("content-encoding", "gzip")],
            Some(b"{}".to_vec()),
        )
        .await;
    assert_json_snapshot!(r.body, {".error.requestId" => "[request-id]"}, @r#"
    {
      "error": {
        "code": "unsupported_media_type",
        "message": "Content-Encoding \"gzip\" is not supported: send the body unencoded (identity)",
        "requestId": "[request-id]"
      },
      "success": false
    }
    "#);
}

/// What the server answers decodes into the wire types of `dialplane-api`, as a client would read it.
#[tokio::test]
async fn answers_decode_into_the_wire_types_of_the_api_crate() {
    use dialplane_api::agents::{
        AgentEnvelope, AgentListEnvelope, DeletedEnvelope, VersionListEnvelope,
    };
    let app = TestApp::spawn().await;
    let created = app.create_agent(&minimal_agent("Wire")).await;
    let agent: AgentEnvelope = serde_json::from_value(created.body.clone()).unwrap();
    assert!(agent.success);
    assert_eq!(agent.data.spec.name, "Wire");
    let id = agent.data.agent_id.to_string();
    let list: AgentListEnvelope = serde_json::from_value(app.list_agents("").await.body).unwrap();
    assert_eq!(list.data.len(), 1);
    assert!(!list.pagination.has_more);
    let versions: VersionListEnvelope =
        serde_json::from_value(app.get(&agent_path(&id, "/versions")).await.body).unwrap();
    assert_eq!(versions.data[0].version, 1);
    let error: dialplane_api::ErrorEnvelope =
        serde_json::from_value(app.get_agent("nope").await.body).unwrap();
    assert_eq!(error.error.code, dialplane_api::ErrorCode::InvalidParameter);
    assert_eq!(error.error.code.http_status(), 400);
    let deleted: DeletedEnvelope =
        serde_json::from_value(app.delete_agent(&id).await.body).unwrap();
    assert!(deleted.data.deleted);
}

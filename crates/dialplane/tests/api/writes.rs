//! References between agents, DELETE, idempotent creates and the hosted create path.

use crate::support::*;
use dialplane_core::Scope;
use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

const TRANSFER_ID: &str =
    "/conversationConfig/agent/prompt/builtInTools/transferToAgent/transfers/0/agentId";

fn transfers_to(ids: &[&str]) -> Value {
    let transfers: Vec<Value> = ids
        .iter()
        .map(|id| json!({"agentId": id, "condition": "the caller asks for sales"}))
        .collect();
    json!({"conversationConfig": {"agent": {"prompt": {"builtInTools": {"transferToAgent": {
        "enabled": true, "transfers": transfers}}}}}})
}

#[tokio::test]
async fn transfers_must_name_another_agent_of_the_same_workspace() {
    let app = TestApp::spawn().await;
    let sales = app.create_named("Sales").await;
    let front = app.create_named("Front").await;
    let ok = app.patch_agent(&front, &transfers_to(&[&sales])).await;
    assert_eq!(ok.status, 200, "{}", ok.text);

    let other_ws = app.new_key("elsewhere", Scope::Write, "eve").await;
    let foreign = app
        .create_agent_as(&other_ws, &minimal_agent("Foreign"))
        .await;
    let foreign = foreign.data()["agentId"].as_str().unwrap().to_owned();
    let missing = dialplane_core::AgentId::generate().to_string();
    for target in [missing.as_str(), "not-a-uuid", foreign.as_str()] {
        app.patch_agent(&front, &transfers_to(&[target]))
            .await
            .assert_problem(TRANSFER_ID, "not_found");
        let mut body = transfers_to(&[target]);
        body["name"] = json!("New");
        body["conversationConfig"]["agent"]["prompt"]["prompt"] = json!("p");
        app.create_agent(&body)
            .await
            .assert_problem(TRANSFER_ID, "not_found");
    }
    app.patch_agent(&front, &transfers_to(&[&front]))
        .await
        .assert_problem(TRANSFER_ID, "self_reference");
}

#[tokio::test]
async fn delete_removes_the_agent_everywhere() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Gone").await;
    let r = app.delete_agent(&id).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.data(), &json!({"agentId": id, "deleted": true}));
    app.get_agent(&id).await.assert_error(404, "not_found");
    app.patch_agent(&id, &json!({}))
        .await
        .assert_error(404, "not_found");
    app.delete_agent(&id).await.assert_error(404, "not_found");
    assert!(app
        .list_agents("")
        .await
        .data()
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn an_agent_others_transfer_to_cannot_be_deleted_until_they_stop() {
    let app = TestApp::spawn().await;
    let target = app.create_named("Target").await;
    let a = app.create_named("A").await;
    let b = app.create_named("B").await;
    for referrer in [&a, &b] {
        assert_eq!(
            app.patch_agent(referrer, &transfers_to(&[&target]))
                .await
                .status,
            200
        );
    }
    let refused = app.delete_agent(&target).await;
    refused.assert_error(409, "conflict");
    let mut referrers: Vec<&str> = refused.body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["agentId"].as_str().unwrap())
        .collect();
    referrers.sort();
    let mut expected = vec![a.as_str(), b.as_str()];
    expected.sort();
    assert_eq!(referrers, expected);
    assert_eq!(app.get_agent(&target).await.status, 200, "still there");

    for referrer in [&a, &b] {
        let r = app
            .patch_agent(referrer, &json!({"conversationConfig": {"agent": {"prompt": {"builtInTools": {"transferToAgent": {"transfers": []}}}}}}))
            .await;
        assert_eq!(r.status, 200);
    }
    assert_eq!(app.delete_agent(&target).await.status, 200);
}

#[tokio::test]
async fn if_match_makes_a_delete_conditional() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Careful").await;
    app.patch_agent(&id, &json!({"name": "Careful 2"})).await;
    let path = format!("/api/public/v1/agents/{id}");
    let stale = app
        .send(
            Method::DELETE,
            &path,
            Some(&app.key),
            &[("if-match", "\"1\"")],
            None,
        )
        .await;
    stale.assert_error(412, "precondition_failed");
    assert_eq!(app.get_agent(&id).await.status, 200);
    let ok = app
        .send(
            Method::DELETE,
            &path,
            Some(&app.key),
            &[("if-match", "\"2\"")],
            None,
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
}

async fn create_with_key(app: &TestApp, path: &str, key: &str, body: &Value) -> Resp {
    app.send(
        Method::POST,
        path,
        Some(&app.key),
        &[("idempotency-key", key)],
        Some(body.to_string().into_bytes()),
    )
    .await
}

#[tokio::test]
async fn a_repeated_idempotency_key_replays_the_first_answer() {
    let app = TestApp::spawn().await;
    for path in ["/api/public/v1/agents", "/api/public/v1/agents/create"] {
        let key = format!("retry-{path}");
        let body = minimal_agent("Once");
        let first = create_with_key(&app, path, &key, &body).await;
        assert_eq!(first.status, 201, "{}", first.text);
        assert!(first.header("idempotent-replayed").is_none());
        let again = create_with_key(&app, path, &key, &body).await;
        assert_eq!(again.status, 201);
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(again.data(), first.data(), "the same body");
        let other = create_with_key(&app, path, &key, &minimal_agent("Twice")).await;
        other.assert_error(422, "idempotency_key_reused");
    }
    assert_eq!(
        app.list_agents("").await.data().as_array().unwrap().len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_creates_with_one_key_store_one_agent() {
    let app = TestApp::spawn().await;
    let body = minimal_agent("Concurrent");
    let answers =
        join_all((0..8).map(|_| create_with_key(&app, "/api/public/v1/agents", "k", &body))).await;
    let ids: std::collections::HashSet<&str> = answers
        .iter()
        .map(|r| {
            assert_eq!(r.status, 201, "{}", r.text);
            r.data()["agentId"].as_str().unwrap()
        })
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(
        app.list_agents("").await.data().as_array().unwrap().len(),
        1
    );
}

#[tokio::test]
async fn both_create_paths_answer_201_with_etag_and_location() {
    let app = TestApp::spawn().await;
    for path in ["/api/public/v1/agents", "/api/public/v1/agents/create"] {
        let r = app
            .json(Method::POST, path, &app.key, &minimal_agent("Path"))
            .await;
        assert_eq!(r.status, 201, "{path}: {}", r.text);
        let id = r.data()["agentId"].as_str().unwrap();
        assert_eq!(r.etag(), "\"1\"");
        assert_eq!(
            r.header("location"),
            Some(format!("/api/public/v1/agents/{id}").as_str())
        );
        let got = app.get_agent(id).await;
        assert_eq!(got.data(), r.data());
    }
}

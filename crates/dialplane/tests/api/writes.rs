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
    assert_eq!(agent_count(&app).await, 0, "nothing was created again");
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
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    assert_eq!(refused.conflicting_agents(), expected);
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

#[tokio::test]
async fn a_repeated_idempotency_key_replays_the_first_answer() {
    let app = TestApp::spawn().await;
    for path in ["/api/public/v1/agents", "/api/public/v1/agents/create"] {
        let key = format!("retry-{path}");
        let body = minimal_agent("Once");
        let first = app.post_idempotent(path, &key, &body).await;
        assert_eq!(first.status, 201, "{}", first.text);
        assert!(first.header("idempotent-replayed").is_none());
        let again = app.post_idempotent(path, &key, &body).await;
        assert_eq!(again.status, 201);
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(again.data(), first.data(), "the same body");
        let other = app
            .post_idempotent(path, &key, &minimal_agent("Twice"))
            .await;
        other.assert_error(422, "idempotency_key_reused");
    }
    assert_eq!(
        app.list_agents("").await.data().as_array().unwrap().len(),
        2
    );
}

/// A replay answers what the first request was answered, whatever happened to the agent since: a
/// deleted agent is not created again, and its `Location` then answers 404.
#[tokio::test]
async fn a_replay_after_the_agent_was_deleted_answers_the_same_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let body = minimal_agent("Deleted later");
    let first = app
        .post_idempotent("/api/public/v1/agents", "gone", &body)
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let id = first.data()["agentId"].as_str().unwrap().to_owned();
    assert_eq!(app.delete_agent(&id).await.status, 200);
    let again = app
        .post_idempotent("/api/public/v1/agents", "gone", &body)
        .await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.data(), first.data());
    let location = first.header("location").expect("a Location").to_owned();
    assert!(location.ends_with(&id), "{location}");
    assert_eq!(again.header("location"), Some(location.as_str()));
    assert_eq!(app.get(&location).await.status, 404);
    assert_eq!(agent_count(&app).await, 0, "nothing was created again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_creates_with_one_key_store_one_agent() {
    let app = TestApp::spawn().await;
    let body = minimal_agent("Concurrent");
    let answers =
        join_all((0..8).map(|_| app.post_idempotent("/api/public/v1/agents", "k", &body))).await;
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

fn agent_path(id: &str) -> String {
    format!("/api/public/v1/agents/{id}")
}

/// `DELETE` with an `If-Match` header.
async fn delete_if(app: &TestApp, id: &str, if_match: &str) -> Resp {
    app.send(
        Method::DELETE,
        &agent_path(id),
        Some(&app.key),
        &[("if-match", if_match)],
        None,
    )
    .await
}

/// The number of agents the app's default workspace lists.
async fn agent_count(app: &TestApp) -> usize {
    let list = app.list_agents("pageSize=100").await;
    assert_eq!(list.status, 200, "{}", list.text);
    list.data().as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn a_create_may_transfer_to_an_agent_of_the_same_workspace() {
    let app = TestApp::spawn().await;
    let sales = app.create_named("Sales").await;
    let mut body = transfers_to(&[&sales]);
    crate::support::set_pointer(&mut body, "/name", json!("Front"));
    crate::support::set_pointer(
        &mut body,
        "/conversationConfig/agent/prompt/prompt",
        json!("Route calls."),
    );
    let r = app.create_agent(&body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.data().pointer(TRANSFER_ID), Some(&json!(sales)));
    // The target is now protected from deletion.
    let refused = app.delete_agent(&sales).await;
    refused.assert_error(409, "conflict");
    assert_eq!(
        refused.body["error"]["details"][0]["agentId"],
        r.data()["agentId"],
        "{}",
        refused.text
    );
}

#[tokio::test]
async fn a_referrer_with_several_transfers_to_one_agent_is_listed_once() {
    let app = TestApp::spawn().await;
    let target = app.create_named("Target").await;
    let other = app.create_named("Other").await;
    let referrer = app.create_named("Referrer").await;
    let r = app
        .patch_agent(&referrer, &transfers_to(&[&target, &other, &target]))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let refused = app.delete_agent(&target).await;
    refused.assert_error(409, "conflict");
    let details = refused.body["error"]["details"].as_array().unwrap();
    assert_eq!(details.len(), 1, "{}", refused.text);
    assert_eq!(details[0]["agentId"], json!(referrer));
}

#[tokio::test]
async fn if_match_on_delete_accepts_star_and_weak_tags_and_refuses_garbage() {
    let app = TestApp::spawn().await;
    // (If-Match for an agent at ETag "1", whether it matches)
    let cases = [
        ("\"1\"", true),
        ("*", true),
        ("W/\"1\"", true),
        ("\"2\"", false),
        ("garbage", false),
    ];
    let mut failures = Vec::new();
    for (if_match, matches) in cases {
        let id = app.create_named(if_match).await;
        let r = delete_if(&app, &id, if_match).await;
        let still_there = app.get_agent(&id).await.status == 200;
        let ok = if matches {
            r.status == 200 && !still_there
        } else {
            r.status == 412 && r.error_code() == "precondition_failed" && still_there
        };
        if !ok {
            failures.push(format!(
                "If-Match {if_match}: got {} {} (still there: {still_there})",
                r.status, r.text
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn idempotency_keys_belong_to_one_workspace() {
    let app = TestApp::spawn().await;
    let other_key = app.new_key("elsewhere", Scope::Write, "bob").await;
    let body = minimal_agent("Twin").to_string().into_bytes();
    let path = "/api/public/v1/agents";
    let headers = [("idempotency-key", "shared-key")];
    let mine = app
        .send(
            Method::POST,
            path,
            Some(&app.key),
            &headers,
            Some(body.clone()),
        )
        .await;
    let theirs = app
        .send(Method::POST, path, Some(&other_key), &headers, Some(body))
        .await;
    assert_eq!(mine.status, 201, "{}", mine.text);
    assert_eq!(theirs.status, 201, "{}", theirs.text);
    assert!(
        theirs.header("idempotent-replayed").is_none(),
        "{}",
        theirs.text
    );
    assert_ne!(mine.data()["agentId"], theirs.data()["agentId"]);
    assert_eq!(theirs.data()["metadata"]["createdBy"]["userId"], "bob");
    let id = theirs.data()["agentId"].as_str().unwrap();
    assert_eq!(app.get_agent_as(&other_key, id).await.status, 200);
    assert_eq!(agent_count(&app).await, 1);
}

#[tokio::test]
async fn an_idempotent_retry_is_recognised_whatever_the_key_order_and_spacing() {
    let app = TestApp::spawn().await;
    let path = "/api/public/v1/agents";
    let headers = [("idempotency-key", "order")];
    let first = br#"{"name":"Ordered","tags":["a"],"conversationConfig":{"agent":{"prompt":{"prompt":"p","temperature":1}}}}"#;
    let again =
        br#"{ "conversationConfig": { "agent": { "prompt": { "temperature": 1, "prompt": "p" } } },
                      "tags": ["a"], "name": "Ordered" }"#;
    let a = app
        .send(
            Method::POST,
            path,
            Some(&app.key),
            &headers,
            Some(first.to_vec()),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let b = app
        .send(
            Method::POST,
            path,
            Some(&app.key),
            &headers,
            Some(again.to_vec()),
        )
        .await;
    assert_eq!(b.status, 201, "{}", b.text);
    assert_eq!(b.header("idempotent-replayed"), Some("true"));
    assert_eq!(b.data(), a.data());
    assert_eq!(agent_count(&app).await, 1);
}

#[tokio::test]
async fn a_create_refused_as_invalid_does_not_use_up_its_idempotency_key() {
    let app = TestApp::spawn().await;
    let path = "/api/public/v1/agents";
    let headers = [("idempotency-key", "try-again")];
    // Refused by the schema, and refused by the store (the transfer target does not exist).
    let missing = dialplane_core::AgentId::generate().to_string();
    let mut dangling = transfers_to(&[&missing]);
    crate::support::set_pointer(&mut dangling, "/name", json!("Dangling"));
    crate::support::set_pointer(
        &mut dangling,
        "/conversationConfig/agent/prompt/prompt",
        json!("p"),
    );
    for (label, invalid) in [("schema", json!({"name": ""})), ("store", dangling)] {
        let r = app
            .send(
                Method::POST,
                path,
                Some(&app.key),
                &headers,
                Some(invalid.to_string().into_bytes()),
            )
            .await;
        assert_eq!(r.status, 400, "{label}: {}", r.text);
        assert_eq!(r.error_code(), "validation_error", "{label}: {}", r.text);
    }
    let ok = app
        .send(
            Method::POST,
            path,
            Some(&app.key),
            &headers,
            Some(minimal_agent("Fixed").to_string().into_bytes()),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    assert!(ok.header("idempotent-replayed").is_none(), "{}", ok.text);
    assert_eq!(agent_count(&app).await, 1);
}

#[tokio::test]
async fn the_two_create_paths_share_idempotency_keys() {
    let app = TestApp::spawn().await;
    let body = minimal_agent("Either path");
    let first = app
        .post_idempotent("/api/public/v1/agents", "both", &body)
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = app
        .post_idempotent("/api/public/v1/agents/create", "both", &body)
        .await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.data(), first.data());
    assert_eq!(agent_count(&app).await, 1);
}

#[tokio::test]
async fn every_successful_agent_response_names_its_revision_in_an_etag() {
    let app = TestApp::spawn().await;
    let created = app.create_agent(&minimal_agent("Tagged")).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.etag(), "\"1\"");
    let location = created.header("location").expect("a Location").to_owned();
    let id = created.data()["agentId"].as_str().unwrap().to_owned();

    let via_location = app
        .send(Method::GET, &location, Some(&app.key), &[], None)
        .await;
    assert_eq!(
        via_location.status, 200,
        "{location}: {}",
        via_location.text
    );
    assert_eq!(via_location.data(), created.data());
    assert_eq!(via_location.etag(), "\"1\"");

    let unchanged = app.patch_agent(&id, &json!({})).await;
    assert_eq!(unchanged.etag(), "\"1\"", "{}", unchanged.text);
    let changed = app.patch_agent(&id, &json!({"name": "Retagged"})).await;
    assert_eq!(changed.etag(), "\"2\"", "{}", changed.text);
    assert_eq!(app.get_agent(&id).await.etag(), "\"2\"");
    let replay = app
        .post_idempotent("/api/public/v1/agents/create", "e", &minimal_agent("R"))
        .await;
    assert_eq!(replay.etag(), "\"1\"", "{}", replay.text);
    let replayed = app
        .post_idempotent("/api/public/v1/agents/create", "e", &minimal_agent("R"))
        .await;
    assert_eq!(replayed.etag(), "\"1\"", "{}", replayed.text);
    assert!(
        replayed.header("location").is_some(),
        "{:?}",
        replayed.headers
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_and_a_new_transfer_to_the_same_agent_never_both_succeed() {
    let app = TestApp::spawn().await;
    let mut failures = Vec::new();
    for round in 0..20 {
        let target = app.create_named(&format!("Target {round}")).await;
        let referrer = app.create_named(&format!("Referrer {round}")).await;
        let transfer = transfers_to(&[&target]);
        let (deleted, patched) = tokio::join!(
            app.delete_agent(&target),
            app.patch_agent(&referrer, &transfer)
        );
        let outcome = (deleted.status.as_u16(), patched.status.as_u16());
        // Delete first: the transfer names no agent. Transfer first: the delete is a conflict.
        if outcome != (200, 400) && outcome != (409, 200) {
            failures.push(format!(
                "round {round}: delete {} {}, patch {} {}",
                deleted.status, deleted.text, patched.status, patched.text
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn a_missing_transfer_target_is_reported_together_with_every_other_problem() {
    let app = TestApp::spawn().await;
    let missing = dialplane_core::AgentId::generate().to_string();
    let existing = app.create_named("Existing").await;
    let mut body = transfers_to(&[&missing, &existing]);
    body["name"] = json!("Faulty");
    body["direction"] = json!("sideways");
    body["conversationConfig"]["agent"]["prompt"]["prompt"] = json!("p");
    let second =
        "/conversationConfig/agent/prompt/builtInTools/transferToAgent/transfers/1/agentId";
    let expected = vec![
        ("/direction".to_owned(), "invalid_value".to_owned()),
        (TRANSFER_ID.to_owned(), "not_found".to_owned()),
    ];
    let created = app.create_agent(&body).await;
    created.assert_error(400, "validation_error");
    assert_eq!(created.detail_paths(), expected, "{}", created.text);
    assert!(
        !created.text.contains(second),
        "the existing target is fine"
    );

    let id = app.create_named("Patched").await;
    let mut patch = transfers_to(&[&missing, &existing]);
    patch["direction"] = json!("sideways");
    let patched = app.patch_agent(&id, &patch).await;
    assert_eq!(patched.detail_paths(), expected, "{}", patched.text);
    assert_eq!(app.get_agent(&id).await.etag(), "\"1\"", "nothing stored");
}

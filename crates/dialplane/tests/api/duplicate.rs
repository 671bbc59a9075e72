//! `POST /agents/{id}/duplicate`: a new agent with the same configuration, the caller as its creator,
//! and a fresh history.

use crate::support::*;
use dialplane_core::Scope;
use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

/// `agent` without what a copy does not share: `agentId`, `name` and `metadata`.
fn configuration(agent: &Value) -> Value {
    let mut v = agent.clone();
    let map = v.as_object_mut().expect("an agent");
    for key in ["agentId", "name", "metadata"] {
        assert!(map.remove(key).is_some(), "{key} missing from {agent}");
    }
    v
}

async fn duplicate(
    app: &TestApp,
    key: &str,
    id: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> Resp {
    app.send(
        Method::POST,
        &agent_path(id, "/duplicate"),
        Some(key),
        headers,
        body.map(|b| b.to_string().into_bytes()),
    )
    .await
}

/// An agent with much of its configuration set, changed once after creation.
async fn configured(app: &TestApp) -> String {
    let target = app.create_named("Sales").await;
    let mut body = minimal_agent("Front desk");
    for (pointer, value) in [
        ("/tags", json!(["reception", "emea"])),
        ("/direction", json!("inbound")),
        ("/conversationConfig/agent/prompt/temperature", json!(0.6)),
        (
            "/conversationConfig/agent/prompt/builtInTools/transferToAgent",
            json!({"enabled": true, "transfers": [{"agentId": target, "condition": "sales", "delayMs": 100}]}),
        ),
        (
            "/conversationConfig/agent/dynamicVariables",
            json!({"company": "Acme", "floor": 3}),
        ),
        (
            "/conversationConfig/tts/supportedVoices",
            json!([{"label": "A", "voiceId": "v", "language": "en", "speed": 1.1}]),
        ),
        (
            "/platformSettings/widget",
            json!({"theme": {"color": "#fff"}}),
        ),
        ("/workflow/nodes", json!({"s": {"type": "start", "x": 1}})),
    ] {
        set_pointer(&mut body, pointer, value);
    }
    let r = app.create_agent(&body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.data()["agentId"].as_str().unwrap().to_owned();
    let r = app
        .patch_agent(
            &id,
            &json!({"conversationConfig": {"agent": {"greetingMessage": "Hello"}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    id
}

#[tokio::test]
async fn a_duplicate_is_a_new_agent_with_the_same_configuration_and_a_fresh_history() {
    let app = TestApp::spawn().await;
    let bob = app.new_key("default", Scope::Write, "bob").await;
    let id = configured(&app).await;
    let original = app.get_agent(&id).await;

    let r = duplicate(&app, &bob, &id, None, &[]).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let copy_id = r.data()["agentId"].as_str().expect("an agentId").to_owned();
    assert_ne!(copy_id, id);
    assert_eq!(
        r.header("location"),
        Some(agent_path(&copy_id, "").as_str())
    );
    assert_eq!(r.etag(), "\"1\"");
    assert_eq!(r.header("idempotent-replayed"), None);
    assert_eq!(r.data()["name"], json!("Front desk (copy)"));
    assert_eq!(
        configuration(r.data()),
        configuration(original.data()),
        "the same configuration"
    );
    let meta = &r.data()["metadata"];
    assert_eq!(
        meta["createdBy"],
        json!({"userId": "bob", "userEmail": "bob@example.com"})
    );
    assert_eq!(meta["createdAt"], meta["updatedAt"]);
    assert!(meta["createdAt"].as_str() > original.data()["metadata"]["createdAt"].as_str());

    let stored = app.get_agent(&copy_id).await;
    assert_eq!(stored.text, r.text, "stored as answered");
    let history = app.get(&agent_path(&copy_id, "/versions")).await;
    assert_eq!(
        history.data(),
        &json!([{"version": 1, "createdAt": meta["createdAt"],
                 "createdBy": {"userId": "bob", "userEmail": "bob@example.com"},
                 "changedPaths": [], "restoredFrom": null}]),
        "{}",
        history.text
    );
    assert_eq!(
        app.get(&agent_path(&copy_id, "/versions/1")).await.text,
        r.text
    );

    // The original is untouched, and the two now change independently.
    assert_eq!(app.get_agent(&id).await.text, original.text);
    let p = app.patch_agent(&copy_id, &json!({"tags": ["copy"]})).await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(
        app.get_agent(&id).await.data()["tags"],
        json!(["reception", "emea"])
    );
    assert_eq!(app.version_numbers(&id).await, [2, 1]);
}

#[tokio::test]
async fn a_duplicate_takes_the_name_it_is_given() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Original").await;
    for (body, headers, name) in [
        (
            Some(json!({"name": "Front desk (EMEA)"})),
            vec![],
            "Front desk (EMEA)",
        ),
        (Some(json!({})), vec![], "Original (copy)"),
        (Some(json!({"name": null})), vec![], "Original (copy)"),
        (
            Some(json!({"name": "Spaced"})),
            vec![("content-type", "application/json; charset=utf-8")],
            "Spaced",
        ),
        (
            None,
            vec![("content-type", "application/json")],
            "Original (copy)",
        ),
    ] {
        let r = duplicate(&app, &app.key, &id, body.as_ref(), &headers).await;
        assert_eq!(r.status, 201, "{body:?}: {}", r.text);
        assert_eq!(r.data()["name"], json!(name), "{body:?}");
    }
    // A name at the length limit is shortened to make room for the suffix.
    let long = "n".repeat(200);
    let r = app.create_agent(&minimal_agent(&long)).await;
    let long_id = r.data()["agentId"].as_str().unwrap().to_owned();
    let r = duplicate(&app, &app.key, &long_id, None, &[]).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let name = r.data()["name"].as_str().unwrap();
    assert_eq!(name.chars().count(), 200);
    assert!(name.ends_with(" (copy)"), "{name}");
}

#[tokio::test]
async fn a_bad_duplicate_body_is_refused_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Original").await;
    let cases = [
        (json!({"nam": "x"}), vec![("/nam", "unknown_field")]),
        (
            json!({"name": "x", "tags": ["a"], "agentId": "y"}),
            vec![("/agentId", "unknown_field"), ("/tags", "unknown_field")],
        ),
        (json!({"name": ""}), vec![("/name", "too_short")]),
        (json!({"name": "   "}), vec![("/name", "too_short")]),
        (json!({"name": 5}), vec![("/name", "invalid_type")]),
        (
            json!({"name": "n".repeat(201)}),
            vec![("/name", "too_long")],
        ),
    ];
    for (body, expected) in cases {
        let r = duplicate(&app, &app.key, &id, Some(&body), &[]).await;
        r.assert_error(400, "validation_error");
        let mut got = r.detail_paths();
        got.sort();
        let want: Vec<(String, String)> = expected
            .iter()
            .map(|(p, c)| ((*p).to_owned(), (*c).to_owned()))
            .collect();
        assert_eq!(got, want, "{body}: {}", r.text);
    }
    for raw in [
        &b"[]"[..],
        b"{",
        b"\"name\"",
        b"{\"name\": \"a\", \"name\": \"b\"}",
    ] {
        let r = app
            .send(
                Method::POST,
                &agent_path(&id, "/duplicate"),
                Some(&app.key),
                &[],
                Some(raw.to_vec()),
            )
            .await;
        r.assert_error(400, "invalid_json");
    }
    let r = app
        .send(
            Method::POST,
            &agent_path(&id, "/duplicate"),
            Some(&app.key),
            &[("content-type", "text/plain")],
            Some(b"{\"name\": \"x\"}".to_vec()),
        )
        .await;
    r.assert_error(415, "unsupported_media_type");
    let list = app.list_agents("").await;
    assert_eq!(list.data().as_array().unwrap().len(), 1, "{}", list.text);
}

#[tokio::test]
async fn a_missing_or_foreign_source_is_not_found_and_a_read_key_is_forbidden() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Mine").await;
    let eve = app.new_key("elsewhere", Scope::Write, "eve").await;
    duplicate(&app, &eve, &id, None, &[])
        .await
        .assert_error(404, "not_found");
    duplicate(&app, &eve, &id, Some(&json!({"name": "Stolen"})), &[])
        .await
        .assert_error(404, "not_found");
    let missing = dialplane_core::AgentId::generate().to_string();
    duplicate(&app, &app.key, &missing, None, &[])
        .await
        .assert_error(404, "not_found");
    duplicate(&app, &app.key, "not-an-id", None, &[])
        .await
        .assert_error(400, "invalid_parameter");
    let reader = app.new_key("default", Scope::Read, "rita").await;
    duplicate(&app, &reader, &id, None, &[])
        .await
        .assert_error(403, "forbidden");

    let mine = app.list_agents("").await;
    assert_eq!(mine.data().as_array().unwrap().len(), 1, "{}", mine.text);
    let theirs = app.list_agents_as(&eve, "").await;
    assert_eq!(theirs.data(), &json!([]), "{}", theirs.text);
}

#[tokio::test]
async fn a_duplicate_honours_idempotency_keys() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Original").await;
    let other = app.create_named("Other").await;
    let named = json!({"name": "Once"});

    let named_once = || {
        duplicate(
            &app,
            &app.key,
            &id,
            Some(&named),
            &[("idempotency-key", "dup-1")],
        )
    };
    let first = named_once().await;
    assert_eq!(first.status, 201, "{}", first.text);
    // The first answer again, whole, marked replayed.
    let assert_replayed = |again: &Resp| {
        assert_eq!(again.status, 201, "{}", again.text);
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(again.data(), first.data(), "the first answer, replayed");
        assert_eq!(again.header("location"), first.header("location"));
    };
    assert_replayed(&named_once().await);

    // Another body, another source, or a create with the same key: 422.
    for (source, body) in [
        (&id, Some(json!({"name": "Twice"}))),
        (&id, None),
        (&other, Some(named.clone())),
    ] {
        duplicate(
            &app,
            &app.key,
            source,
            body.as_ref(),
            &[("idempotency-key", "dup-1")],
        )
        .await
        .assert_error(422, "idempotency_key_reused");
    }
    let r = app
        .send(
            Method::POST,
            "/api/public/v1/agents",
            Some(&app.key),
            &[("idempotency-key", "dup-1")],
            Some(minimal_agent("Once").to_string().into_bytes()),
        )
        .await;
    r.assert_error(422, "idempotency_key_reused");

    // No body at all is a body too: replayed when repeated.
    let bare = duplicate(&app, &app.key, &id, None, &[("idempotency-key", "dup-2")]).await;
    assert_eq!(bare.status, 201, "{}", bare.text);
    let bare_again = duplicate(&app, &app.key, &id, None, &[("idempotency-key", "dup-2")]).await;
    assert_eq!(
        bare_again.header("idempotent-replayed"),
        Some("true"),
        "{}",
        bare_again.text
    );
    assert_eq!(bare_again.data()["agentId"], bare.data()["agentId"]);

    // A refused duplicate does not use its key.
    duplicate(
        &app,
        &app.key,
        &id,
        Some(&json!({"name": ""})),
        &[("idempotency-key", "dup-3")],
    )
    .await
    .assert_error(400, "validation_error");
    let ok = duplicate(
        &app,
        &app.key,
        &id,
        Some(&json!({"name": "Later"})),
        &[("idempotency-key", "dup-3")],
    )
    .await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    assert_eq!(ok.header("idempotent-replayed"), None);

    let list = app.list_agents("").await;
    assert_eq!(list.data().as_array().unwrap().len(), 5, "{}", list.text);

    // A retry after the source was deleted still gets the first answer: the copy was made.
    assert_eq!(app.delete_agent(&id).await.status, 200);
    assert_replayed(&named_once().await);
    // Without the key, the source is simply gone.
    duplicate(&app, &app.key, &id, Some(&named), &[])
        .await
        .assert_error(404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_duplicates_with_one_key_make_one_copy() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Original").await;
    let answers = join_all(
        (0..8).map(|_| duplicate(&app, &app.key, &id, None, &[("idempotency-key", "same")])),
    )
    .await;
    let ids: std::collections::HashSet<&str> = answers
        .iter()
        .map(|r| {
            assert_eq!(r.status, 201, "{}", r.text);
            r.data()["agentId"].as_str().unwrap()
        })
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let list = app.list_agents("").await;
    assert_eq!(list.data().as_array().unwrap().len(), 2, "{}", list.text);
}

#[tokio::test]
async fn a_copy_keeps_its_transfers_and_holds_its_target_like_the_original() {
    let app = TestApp::spawn().await;
    let id = configured(&app).await;
    let target = app.get_agent(&id).await.data()["conversationConfig"]["agent"]["prompt"]
        ["builtInTools"]["transferToAgent"]["transfers"][0]["agentId"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = duplicate(&app, &app.key, &id, None, &[]).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let copy_id = r.data()["agentId"].as_str().unwrap().to_owned();

    // Both refer to the target now: deleting it is refused, naming both.
    let refused = app.delete_agent(&target).await;
    refused.assert_error(409, "conflict");
    let mut expected = vec![id.clone(), copy_id.clone()];
    expected.sort();
    assert_eq!(refused.conflicting_agents(), expected);
}

#[tokio::test]
async fn a_copy_is_checked_against_todays_rules_with_or_without_a_name() {
    // Yesterday's server allowed a model that today's no longer does.
    let db = std::sync::Arc::new(TestDb::new().await);
    let yesterday = TestOptions {
        rules: dialplane_core::Rules {
            llm_models: vec!["legacy-model".into()],
            ..dialplane_core::Rules::default()
        },
        ..TestOptions::default()
    };
    let mut old = TestApp::start_on(yesterday, db.clone(), &db.url).await;
    old.key = old
        .new_key("default", dialplane_core::Scope::Write, "alice")
        .await;
    let r = old
        .create_agent(&agent_with(
            "/conversationConfig/agent/prompt/llm",
            serde_json::json!("legacy-model"),
        ))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.data()["agentId"].as_str().unwrap().to_owned();
    let mut today = TestApp::start_on(TestOptions::default(), db.clone(), &db.url).await;
    today.key = old.key.clone();
    let path = format!("/api/public/v1/agents/{id}/duplicate");
    for body in [None, Some(br#"{"name": "Renamed"}"#.to_vec())] {
        let r = today
            .send(reqwest::Method::POST, &path, Some(&today.key), &[], body)
            .await;
        r.assert_problem("/conversationConfig/agent/prompt/llm", "invalid_value");
    }
    assert_eq!(
        today.list_agents("").await.data().as_array().unwrap().len(),
        1
    );
}

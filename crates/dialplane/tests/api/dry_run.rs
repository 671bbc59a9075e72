//! `?dryRun=true` on every write: the same checks and the answer that would be stored, storing nothing.

use crate::support::*;
use reqwest::Method;
use serde_json::{json, Value};

const TRANSFERS: &str = "/conversationConfig/agent/prompt/builtInTools/transferToAgent";
const TRANSFER_ID: &str =
    "/conversationConfig/agent/prompt/builtInTools/transferToAgent/transfers/0/agentId";

/// `body` with a transfer to agent `id`.
fn transferring(mut body: Value, id: &str) -> Value {
    set_pointer(
        &mut body,
        TRANSFERS,
        json!({"enabled": true, "transfers": [{"agentId": id, "condition": "sales"}]}),
    );
    body
}

/// Panics unless `r` is a dry run's answer: 200, `dry-run: true`, no ETag, no Location.
fn assert_dry(r: &Resp) {
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["success"], json!(true), "{}", r.text);
    assert_eq!(r.header("dry-run"), Some("true"), "{}", r.text);
    assert_eq!(r.header("etag"), None, "a dry run has no revision");
    assert_eq!(r.header("location"), None, "a dry run creates nothing");
}

/// `value` without `metadata.updatedAt`, which a dry run and the real write stamp separately.
fn timeless(value: &Value) -> Value {
    let mut v = value.clone();
    v["metadata"]
        .as_object_mut()
        .expect("metadata")
        .remove("updatedAt");
    v
}

/// `(status, code, details)` of an answer, to compare a dry run's with the real write's.
fn outcome(r: &Resp) -> (u16, String, Vec<(String, String)>) {
    (
        r.status.as_u16(),
        r.error_code().to_owned(),
        r.detail_paths(),
    )
}

/// A write to `path` (with `query`), as each route takes its body.
async fn write(app: &TestApp, method: &Method, path: &str, query: &str, body: &Body) -> Resp {
    let uri = format!("{path}{query}");
    match body {
        Body::None => {
            app.send(method.clone(), &uri, Some(&app.key), &[], None)
                .await
        }
        Body::Json(v) => app.json(method.clone(), &uri, &app.key, v).await,
        Body::Patch(v) => {
            app.send(
                method.clone(),
                &uri,
                Some(&app.key),
                &[("content-type", JSON_PATCH)],
                Some(v.to_string().into_bytes()),
            )
            .await
        }
        Body::IfMatch(tag, v) => {
            app.send(
                method.clone(),
                &uri,
                Some(&app.key),
                &[("if-match", tag)],
                Some(v.to_string().into_bytes()),
            )
            .await
        }
    }
}

enum Body {
    None,
    Json(Value),
    Patch(Value),
    IfMatch(&'static str, Value),
}

#[tokio::test]
async fn a_dry_run_create_answers_the_agent_it_would_store_and_stores_nothing() {
    let app = TestApp::spawn().await;
    for path in ["/api/public/v1/agents", "/api/public/v1/agents/create"] {
        let mut body = minimal_agent("Rehearsal");
        set_pointer(&mut body, "/tags", json!(["x"]));
        let r = app
            .json(
                Method::POST,
                &format!("{path}?dryRun=true"),
                &app.key,
                &body,
            )
            .await;
        assert_dry(&r);
        let agent = r.data();
        assert_eq!(agent["name"], json!("Rehearsal"));
        assert_eq!(agent["tags"], json!(["x"]));
        assert_eq!(
            agent["conversationConfig"]["agent"]["prompt"]["llm"],
            json!("gemini-2.5-flash"),
            "defaults are filled in as for a real create"
        );
        assert_eq!(
            agent["metadata"]["createdBy"],
            json!({"userId": "alice", "userEmail": "alice@example.com"})
        );
        let id = agent["agentId"].as_str().expect("an agentId");
        app.get_agent(id).await.assert_error(404, "not_found");
        app.get(&agent_path(id, "/versions"))
            .await
            .assert_error(404, "not_found");

        // The real create answers the same agent (but its own id and times).
        let real = app.json(Method::POST, path, &app.key, &body).await;
        assert_eq!(real.status, 201, "{}", real.text);
        let mut expected = timeless(agent);
        expected["agentId"] = real.data()["agentId"].clone();
        expected["metadata"]["createdAt"] = real.data()["metadata"]["createdAt"].clone();
        assert_eq!(timeless(real.data()), expected);
        assert_eq!(
            app.delete_agent(real.data()["agentId"].as_str().unwrap())
                .await
                .status,
            200
        );
    }
    assert_no_agents(&app).await;
}

#[tokio::test]
async fn a_dry_run_does_not_use_up_its_idempotency_key() {
    let app = TestApp::spawn().await;
    let source = app.create_named("Source").await;
    for (path, first, second) in [
        (
            "/api/public/v1/agents".to_owned(),
            minimal_agent("A"),
            minimal_agent("B"),
        ),
        (
            agent_path(&source, "/duplicate"),
            json!({"name": "Copy A"}),
            json!({"name": "Copy B"}),
        ),
    ] {
        let key = format!("key-for-{path}");
        let dry = format!("{path}?dryRun=true");
        assert_dry(&app.post_idempotent(&dry, &key, &first).await);
        assert_dry(&app.post_idempotent(&dry, &key, &first).await);
        // The key is still free: a real request with another body takes it.
        let real = app.post_idempotent(&path, &key, &second).await;
        assert_eq!(real.status, 201, "{}", real.text);
        assert_eq!(real.header("idempotent-replayed"), None);
        let again = app.post_idempotent(&path, &key, &second).await;
        assert_eq!(again.status, 201, "{}", again.text);
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(again.data()["agentId"], real.data()["agentId"]);
    }
    let list = app.list_agents("").await;
    assert_eq!(list.data().as_array().unwrap().len(), 3, "{}", list.text);
}

#[tokio::test]
async fn a_dry_run_patch_of_either_kind_answers_the_result_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let target = app.create_named("Target").await;
    let id = app.create_named("Patched").await;
    let before = app.get_agent(&id).await;
    let merge = transferring(json!({"name": "Renamed"}), &target);
    let kinds = [
        Body::Json(merge),
        Body::Patch(json!([
            {"op": "replace", "path": "/name", "value": "Renamed"},
            {"op": "add", "path": TRANSFERS,
             "value": {"enabled": true, "transfers": [{"agentId": target, "condition": "sales"}]}}
        ])),
    ];
    let path = agent_path(&id, "");
    for body in &kinds {
        let dry = write(&app, &Method::PATCH, &path, "?dryRun=true", body).await;
        assert_dry(&dry);
        assert_eq!(dry.data()["name"], json!("Renamed"));
        assert_eq!(
            dry.data().pointer(TRANSFER_ID),
            Some(&json!(target)),
            "{}",
            dry.text
        );
        let after = app.get_agent(&id).await;
        assert_eq!(after.text, before.text, "nothing was stored");
        assert_eq!(after.etag(), "\"1\"");
        assert_eq!(app.version_numbers(&id).await, [1]);
    }
    // No transfer was recorded either: the target can still be deleted.
    assert_eq!(app.delete_agent(&target).await.status, 200);

    // The dry run's answer is what the real write then stores.
    let other = app.create_named("Other").await;
    let body = Body::Json(json!({"name": "Renamed", "tags": ["t"]}));
    let dry = write(&app, &Method::PATCH, &path, "?dryRun=true", &body).await;
    assert_dry(&dry);
    let real = write(&app, &Method::PATCH, &path, "?dryRun=false", &body).await;
    assert_eq!(real.status, 200, "{}", real.text);
    assert_eq!(real.etag(), "\"2\"");
    assert_eq!(timeless(dry.data()), timeless(real.data()));
    assert_eq!(app.get_agent(&other).await.status, 200);
}

#[tokio::test]
async fn a_dry_run_that_changes_nothing_is_still_marked_as_a_dry_run() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Still").await;
    let before = app.get_agent(&id).await;
    let path = agent_path(&id, "");
    for body in [
        Body::Json(json!({})),
        Body::Json(json!({"name": "Still"})),
        Body::Patch(json!([{"op": "test", "path": "/name", "value": "Still"}])),
    ] {
        let r = write(&app, &Method::PATCH, &path, "?dryRun=true", &body).await;
        assert_dry(&r);
        assert_eq!(r.data(), before.data());
    }
    let r = app
        .post_empty(&agent_path(&id, "/versions/1/restore?dryRun=true"), &[])
        .await;
    assert_dry(&r);
    assert_eq!(r.data(), before.data());
    assert_eq!(app.version_numbers(&id).await, [1]);
}

#[tokio::test]
async fn a_dry_run_restore_answers_the_restored_agent_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Restorable").await;
    let r = app
        .patch_agent(&id, &json!({"name": "Changed", "tags": ["t"]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let before = app.get_agent(&id).await;
    let restore = agent_path(&id, "/versions/1/restore");

    let dry = app.post_empty(&format!("{restore}?dryRun=true"), &[]).await;
    assert_dry(&dry);
    assert_eq!(dry.data()["name"], json!("Restorable"));
    assert_eq!(dry.data()["tags"], json!([]));
    assert_eq!(
        app.get_agent(&id).await.text,
        before.text,
        "nothing was stored"
    );
    assert_eq!(app.version_numbers(&id).await, [2, 1]);

    let real = app.post_empty(&restore, &[("if-match", "\"2\"")]).await;
    assert_eq!(real.status, 200, "{}", real.text);
    assert_eq!(real.etag(), "\"3\"", "the dry run took no revision");
    assert_eq!(timeless(dry.data()), timeless(real.data()));
}

#[tokio::test]
async fn a_dry_run_duplicate_answers_the_copy_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Original").await;
    let dup = agent_path(&id, "/duplicate");
    let r = app.post_empty(&format!("{dup}?dryRun=true"), &[]).await;
    assert_dry(&r);
    assert_eq!(r.data()["name"], json!("Original (copy)"));
    let copy_id = r.data()["agentId"].as_str().unwrap();
    assert_ne!(copy_id, id);
    app.get_agent(copy_id).await.assert_error(404, "not_found");
    let r = app
        .json(
            Method::POST,
            &format!("{dup}?dryRun=true"),
            &app.key,
            &json!({"name": "Named"}),
        )
        .await;
    assert_dry(&r);
    assert_eq!(r.data()["name"], json!("Named"));
    let list = app.list_agents("").await;
    let ids: Vec<&str> = list
        .data()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["agentId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str()], "only the original exists");
}

#[tokio::test]
async fn invalid_input_in_a_dry_run_gets_the_same_errors_as_without_it() {
    let app = TestApp::spawn().await;
    let gone = app.create_named("Gone").await;
    let r = app
        .create_agent(&transferring(minimal_agent("Referrer"), &gone))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.data()["agentId"].as_str().unwrap().to_owned();
    let r = app
        .patch_agent(
            &id,
            &json!({"conversationConfig": {"agent": {"prompt": {"builtInTools": null}}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.delete_agent(&gone).await.status, 200);
    let missing = dialplane_core::AgentId::generate().to_string();
    let before = app.get_agent(&id).await;

    let agent = agent_path(&id, "");
    let post = Method::POST;
    let patch = Method::PATCH;
    let cases: Vec<(&str, &Method, String, Body)> = vec![
        (
            "create, invalid",
            &post,
            "/api/public/v1/agents".into(),
            Body::Json(json!({"name": "", "direction": "up", "colour": 1})),
        ),
        (
            "hosted create, missing prompt",
            &post,
            "/api/public/v1/agents/create".into(),
            Body::Json(json!({"name": "x"})),
        ),
        (
            "create, missing transfer target",
            &post,
            "/api/public/v1/agents".into(),
            Body::Json(transferring(minimal_agent("T"), &missing)),
        ),
        (
            "merge patch, out of range",
            &patch,
            agent.clone(),
            Body::Json(
                json!({"conversationConfig": {"agent": {"prompt": {"temperature": 9}}}, "agentId": missing}),
            ),
        ),
        (
            "merge patch, self reference",
            &patch,
            agent.clone(),
            Body::Json(transferring(json!({}), &id)),
        ),
        (
            "merge patch, stale If-Match",
            &patch,
            agent.clone(),
            Body::IfMatch("\"1\"", json!({"name": "x"})),
        ),
        (
            "JSON Patch, failing test",
            &patch,
            agent.clone(),
            Body::Patch(json!([{"op": "test", "path": "/name", "value": "nope"}])),
        ),
        (
            "JSON Patch, bad path",
            &patch,
            agent.clone(),
            Body::Patch(json!([{"op": "remove", "path": "/nothing"}])),
        ),
        (
            "JSON Patch, read-only",
            &patch,
            agent.clone(),
            Body::Patch(json!([{"op": "remove", "path": "/metadata"}])),
        ),
        (
            "JSON Patch, not an array",
            &patch,
            agent.clone(),
            Body::Patch(json!({})),
        ),
        (
            "patch of a missing agent",
            &patch,
            agent_path(&missing, ""),
            Body::Json(json!({"name": "x"})),
        ),
        (
            "restore naming a deleted agent",
            &post,
            agent_path(&id, "/versions/1/restore"),
            Body::None,
        ),
        (
            "restore of a missing version",
            &post,
            agent_path(&id, "/versions/9/restore"),
            Body::None,
        ),
        (
            "duplicate, unknown field",
            &post,
            agent_path(&id, "/duplicate"),
            Body::Json(json!({"nam": "x"})),
        ),
        (
            "duplicate, bad name",
            &post,
            agent_path(&id, "/duplicate"),
            Body::Json(json!({"name": ""})),
        ),
        (
            "duplicate of a missing agent",
            &post,
            agent_path(&missing, "/duplicate"),
            Body::None,
        ),
    ];
    let mut failures = Vec::new();
    for (label, method, path, body) in &cases {
        let real = write(&app, method, path, "", body).await;
        let dry = write(&app, method, path, "?dryRun=true", body).await;
        if real.status.is_success() {
            failures.push(format!(
                "{label}: the real write did not fail: {}",
                real.text
            ));
        } else if outcome(&dry) != outcome(&real) || dry.header("dry-run").is_some() {
            failures.push(format!("{label}: dry {} vs real {}", dry.text, real.text));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(app.get_agent(&id).await.text, before.text);
    assert_eq!(app.version_numbers(&id).await, [2, 1]);
    let list = app.list_agents("").await;
    assert_eq!(list.data().as_array().unwrap().len(), 1, "{}", list.text);
}

#[tokio::test]
async fn dry_run_must_be_true_or_false() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Strict").await;
    let cases: Vec<(Method, String, Body)> = vec![
        (
            Method::POST,
            "/api/public/v1/agents".into(),
            Body::Json(minimal_agent("x")),
        ),
        (
            Method::POST,
            "/api/public/v1/agents/create".into(),
            Body::Json(minimal_agent("x")),
        ),
        (
            Method::PATCH,
            agent_path(&id, ""),
            Body::Json(json!({"name": "x"})),
        ),
        (Method::PATCH, agent_path(&id, ""), Body::Patch(json!([]))),
        (
            Method::POST,
            agent_path(&id, "/versions/1/restore"),
            Body::None,
        ),
        (Method::POST, agent_path(&id, "/duplicate"), Body::None),
    ];
    for (method, path, body) in &cases {
        for query in [
            "?dryRun=maybe",
            "?dryRun=",
            "?dryRun=TRUE",
            "?dryRun=1",
            "?dry_run=true",
            // Given twice, even to the same value: the last must not turn a dry run into a write.
            "?dryRun=true&dryRun=false",
            "?dryRun=true&dryRun=true",
        ] {
            let r = write(&app, method, path, query, body).await;
            assert_eq!(r.status, 400, "{method} {path}{query}: {}", r.text);
            r.assert_error(400, "invalid_parameter");
            let parameter = if query.starts_with("?dry_run") {
                "dry_run"
            } else {
                "dryRun"
            };
            assert_eq!(
                r.body["error"]["details"][0]["parameter"],
                json!(parameter),
                "{}",
                r.text
            );
        }
    }
    assert_eq!(app.version_numbers(&id).await, [1]);
    let list = app.list_agents("").await;
    assert_eq!(list.data().as_array().unwrap().len(), 1, "{}", list.text);
}

#[tokio::test]
async fn a_dry_run_delete_runs_every_check_and_deletes_nothing() {
    let app = TestApp::spawn().await;
    let target = app.create_named("Target").await;
    let referrer = app
        .create_agent(&transferring(minimal_agent("Referrer"), &target))
        .await;
    assert_eq!(referrer.status, 201, "{}", referrer.text);
    let referrer = referrer.data()["agentId"].as_str().unwrap().to_owned();
    let dry_delete = |id: &str, headers: &'static [(&'static str, &'static str)]| {
        let path = format!("{}?dryRun=true", agent_path(id, ""));
        let app = &app;
        async move {
            app.send(Method::DELETE, &path, Some(&app.key), headers, None)
                .await
        }
    };

    // The same refusals as the real delete.
    dry_delete(&target, &[]).await.assert_error(409, "conflict");
    dry_delete(&referrer, &[("if-match", "\"7\"")])
        .await
        .assert_error(412, "precondition_failed");
    let missing = dialplane_core::AgentId::generate().to_string();
    dry_delete(&missing, &[])
        .await
        .assert_error(404, "not_found");

    // A delete that would succeed answers so, and deletes nothing.
    let before = app.get_agent(&referrer).await;
    let dry = dry_delete(&referrer, &[("if-match", "\"1\"")]).await;
    assert_eq!(dry.status, 200, "{}", dry.text);
    assert_eq!(dry.header("dry-run"), Some("true"));
    assert_eq!(
        dry.data(),
        &json!({"agentId": referrer, "deleted": false}),
        "{}",
        dry.text
    );
    let after = app.get_agent(&referrer).await;
    assert_eq!(after.text, before.text, "still there, unchanged");
    dry_delete(&target, &[]).await.assert_error(409, "conflict");

    // The real delete then does it.
    let real = app.delete_agent(&referrer).await;
    assert_eq!(real.data(), &json!({"agentId": referrer, "deleted": true}));
    assert_eq!(real.header("dry-run"), None);
    app.get_agent(&referrer)
        .await
        .assert_error(404, "not_found");
}

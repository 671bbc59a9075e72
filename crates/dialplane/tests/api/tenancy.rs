//! Authentication, scopes and workspaces: who may call, who may write, and that one workspace never
//! sees or touches another's agents.

use crate::support::*;
use dialplane_core::{AgentId, ApiKey, Scope};
use reqwest::Method;
use serde_json::{json, Value};

const AGENTS: &str = "/api/public/v1/agents";

fn agent_path(id: &str) -> String {
    format!("{AGENTS}/{id}")
}

/// Every agents route, as `(method, path, body)`, aimed at the agent `id`.
fn agents_routes(id: &str) -> Vec<(Method, String, Option<Vec<u8>>)> {
    let create = Some(minimal_agent("Intruder").to_string().into_bytes());
    vec![
        (Method::POST, AGENTS.to_owned(), create.clone()),
        (Method::POST, format!("{AGENTS}/create"), create),
        (Method::GET, AGENTS.to_owned(), None),
        (Method::GET, agent_path(id), None),
        (
            Method::PATCH,
            agent_path(id),
            Some(br#"{"name": "Hijacked"}"#.to_vec()),
        ),
        (Method::DELETE, agent_path(id), None),
    ]
}

/// Revokes the key of `user` through the store.
async fn revoke(app: &TestApp, user: &str) {
    let keys = app.store.list_keys().await.expect("keys listed");
    let key = keys
        .iter()
        .find(|k| k.user.user_id == user)
        .unwrap_or_else(|| panic!("a key of {user} in {keys:?}"));
    assert!(app
        .store
        .write(dialplane_store::RevokeKey(key.key_id))
        .await
        .expect("revoked"));
}

/// The `data` array of a list answer, as agent ids.
fn listed_ids(r: &Resp) -> Vec<String> {
    assert_eq!(r.status, 200, "{}", r.text);
    r.data()
        .as_array()
        .unwrap_or_else(|| panic!("a list: {}", r.text))
        .iter()
        .map(|a| a["agentId"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test]
async fn missing_malformed_unknown_and_revoked_keys_get_the_same_401_on_every_agents_route() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Front desk").await;
    let before = app.get_agent(&id).await;
    let revoked = app.new_key("default", Scope::Write, "mallory").await;
    revoke(&app, "mallory").await;
    let unknown = ApiKey::generate().expose().to_owned();
    let keys: [(&str, Option<&str>); 6] = [
        ("missing", None),
        ("malformed", Some("not-a-key")),
        ("prefix only", Some("dp_")),
        ("empty", Some("")),
        ("unknown", Some(&unknown)),
        ("revoked", Some(&revoked)),
    ];
    let mut messages = Vec::new();
    for (label, key) in keys {
        for (method, path, body) in agents_routes(&id) {
            let r = app.send(method.clone(), &path, key, &[], body).await;
            assert_eq!(
                r.error_code(),
                "unauthorized",
                "{label} key, {method} {path}: {}",
                r.text
            );
            r.assert_error(401, "unauthorized");
            messages.push((label, r.body["error"]["message"].clone()));
        }
    }
    let first = &messages[0].1;
    for (label, message) in &messages {
        assert_eq!(message, first, "the {label} key gets the same message");
    }
    let after = app.get_agent(&id).await;
    assert_eq!(
        after.data(),
        before.data(),
        "agent unchanged: {}",
        after.text
    );
    assert_eq!(listed_ids(&app.list_agents("").await), vec![id]);
}

#[tokio::test]
async fn a_revoked_key_stops_working_within_the_key_cache_time_and_at_once_without_it() {
    for key_ttl in [
        std::time::Duration::from_millis(100),
        std::time::Duration::ZERO,
    ] {
        let app = TestApp::spawn_with(TestOptions {
            cache: Some(dialplane_server::cache::CacheOptions {
                key_ttl,
                ..dialplane_server::cache::CacheOptions::default()
            }),
            ..TestOptions::default()
        })
        .await;
        revoked_key_stops_working(&app, key_ttl).await;
    }
}

async fn revoked_key_stops_working(app: &TestApp, key_ttl: std::time::Duration) {
    let key = app.new_key("default", Scope::Write, "bob").await;
    let ok = app.list_agents_as(&key, "").await;
    assert_eq!(ok.status, 200, "before revocation: {}", ok.text);
    let created = app.create_agent_as(&key, &minimal_agent("Bob's")).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.data()["agentId"].as_str().unwrap().to_owned();

    revoke(app, "bob").await;
    if key_ttl.is_zero() {
        app.list_agents_as(&key, "")
            .await
            .assert_error(401, "unauthorized");
    } else {
        let took = until_refused(app, &key).await;
        assert!(
            took <= key_ttl + std::time::Duration::from_millis(250),
            "refused after {took:?}, with keys trusted for {key_ttl:?}"
        );
    }
    app.get_agent_as(&key, &id)
        .await
        .assert_error(401, "unauthorized");
    app.create_agent_as(&key, &minimal_agent("After"))
        .await
        .assert_error(401, "unauthorized");
    let other = app.list_agents("").await;
    assert_eq!(listed_ids(&other), vec![id], "other keys still work");
}

#[tokio::test]
async fn a_read_key_can_get_and_list_but_every_write_is_forbidden_and_changes_nothing() {
    reads_but_never_writes_an_agent(Scope::Read).await;
}

#[tokio::test]
async fn a_runtime_key_reads_agents_as_a_read_key_does_and_writes_none() {
    reads_but_never_writes_an_agent(Scope::Runtime).await;
}

async fn reads_but_never_writes_an_agent(scope: Scope) {
    let app = TestApp::spawn().await;
    let id = app.create_named("Front desk").await;
    let before = app.get_agent(&id).await;
    let reader = app.new_key("default", scope, "rita").await;

    let got = app.get_agent_as(&reader, &id).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.data(), before.data());
    assert_eq!(
        listed_ids(&app.list_agents_as(&reader, "").await),
        vec![id.clone()]
    );

    for (method, path, body) in agents_routes(&id) {
        if method == Method::GET {
            continue;
        }
        let r = app
            .send(method.clone(), &path, Some(&reader), &[], body)
            .await;
        assert_eq!(r.error_code(), "forbidden", "{method} {path}: {}", r.text);
        r.assert_error(403, "forbidden");
    }
    let after = app.get_agent(&id).await;
    assert_eq!(
        after.data(),
        before.data(),
        "agent unchanged: {}",
        after.text
    );
    assert_eq!(after.etag(), before.etag());
    assert_eq!(
        listed_ids(&app.list_agents("").await),
        vec![id],
        "nothing created or deleted"
    );
}

/// An app with a write key for `acme` (user `carol`) and one for `globex` (user `gus`).
async fn two_workspaces() -> (TestApp, String, String) {
    let app = TestApp::spawn().await;
    let acme = app.new_key("acme", Scope::Write, "carol").await;
    let globex = app.new_key("globex", Scope::Write, "gus").await;
    (app, acme, globex)
}

async fn create_as(app: &TestApp, key: &str, name: &str) -> String {
    let r = app.create_agent_as(key, &minimal_agent(name)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.data()["agentId"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_route_answers_404_for_another_workspaces_agent_and_changes_nothing() {
    let (app, acme, globex) = two_workspaces().await;
    let id = create_as(&app, &acme, "Acme desk").await;
    let renamed = app
        .patch_agent_as(&acme, &id, &json!({"name": "Acme front desk"}))
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    let before = app.get_agent_as(&acme, &id).await;
    let versions = agent_path(&format!("{id}/versions"));

    let merge = Some(br#"{"name": "Globex owns this"}"#.to_vec());
    type Route = (
        Method,
        String,
        &'static [(&'static str, &'static str)],
        Option<Vec<u8>>,
    );
    let routes: Vec<Route> = vec![
        (Method::GET, agent_path(&id), &[], None),
        (Method::PATCH, agent_path(&id), &[], merge.clone()),
        (
            Method::PATCH,
            agent_path(&id),
            &[("content-type", JSON_PATCH)],
            Some(br#"[{"op": "replace", "path": "/name", "value": "Globex"}]"#.to_vec()),
        ),
        (
            Method::PATCH,
            format!("{}?dryRun=true", agent_path(&id)),
            &[],
            merge,
        ),
        (Method::DELETE, agent_path(&id), &[], None),
        (
            Method::DELETE,
            format!("{}?dryRun=true", agent_path(&id)),
            &[],
            None,
        ),
        (
            Method::POST,
            agent_path(&format!("{id}/duplicate")),
            &[],
            None,
        ),
        (Method::GET, versions.clone(), &[], None),
        (Method::GET, format!("{versions}/1"), &[], None),
        (Method::GET, format!("{versions}/1/diff"), &[], None),
        (Method::GET, format!("{versions}/1/diff?from=2"), &[], None),
        (Method::POST, format!("{versions}/1/restore"), &[], None),
    ];
    for (method, path, headers, body) in routes {
        let r = app
            .send(method.clone(), &path, Some(&globex), headers, body)
            .await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.text);
        r.assert_error(404, "not_found");
    }

    let after = app.get_agent_as(&acme, &id).await;
    assert_eq!(after.status, 200, "still exists: {}", after.text);
    assert_eq!(after.data(), before.data(), "unchanged: {}", after.text);
    assert_eq!(after.etag(), before.etag());
    let listed = listed_ids(&app.list_agents_as(&globex, "").await);
    assert!(listed.is_empty(), "globex sees nothing: {listed:?}");
    let history = app
        .send(Method::GET, &versions, Some(&acme), &[], None)
        .await;
    assert_eq!(
        history.data().as_array().map(Vec::len),
        Some(2),
        "{}",
        history.text
    );
}

#[tokio::test]
async fn a_list_shows_only_the_callers_workspace() {
    let (app, acme, globex) = two_workspaces().await;
    let a1 = create_as(&app, &acme, "Shared name").await;
    let a2 = create_as(&app, &acme, "Acme only").await;
    let g1 = create_as(&app, &globex, "Shared name").await;
    let d1 = app.create_named("Shared name").await;

    let cases = [
        ("acme", &acme, "sortDirection=asc", vec![&a1, &a2]),
        ("acme search", &acme, "search=shared", vec![&a1]),
        ("globex", &globex, "", vec![&g1]),
        ("globex search", &globex, "search=acme", vec![]),
        ("default", &app.key, "", vec![&d1]),
    ];
    for (label, key, query, expected) in cases {
        let ids = listed_ids(&app.list_agents_as(key, query).await);
        let expected: Vec<String> = expected.into_iter().cloned().collect();
        assert_eq!(ids, expected, "{label}: ?{query}");
    }
}

#[tokio::test]
async fn the_404_for_another_workspaces_agent_is_indistinguishable_from_a_random_id() {
    let (app, acme, globex) = two_workspaces().await;
    let theirs = create_as(&app, &acme, "Acme desk").await;
    let random = AgentId::generate().to_string();

    let strip = |r: Resp| -> (u16, Value) {
        let mut body = r.body.clone();
        body["error"]
            .as_object_mut()
            .unwrap_or_else(|| panic!("an error: {}", r.text))
            .remove("requestId");
        (r.status.as_u16(), body)
    };
    let patch = Some(br#"{"name": "Mine now"}"#.to_vec());
    for method in [Method::GET, Method::PATCH, Method::DELETE] {
        let body = (method == Method::PATCH).then(|| patch.clone().unwrap());
        let for_theirs = app
            .send(
                method.clone(),
                &agent_path(&theirs),
                Some(&globex),
                &[],
                body.clone(),
            )
            .await;
        let for_random = app
            .send(
                method.clone(),
                &agent_path(&random),
                Some(&globex),
                &[],
                body,
            )
            .await;
        for_theirs.assert_error(404, "not_found");
        let (a, b) = (strip(for_theirs), strip(for_random));
        assert_eq!(
            a, b,
            "{method}: another workspace's agent leaks through the 404"
        );
    }
}

#[tokio::test]
async fn a_transfer_to_another_workspaces_agent_is_a_validation_error_not_found() {
    let (app, acme, globex) = two_workspaces().await;
    let theirs = create_as(&app, &acme, "Acme desk").await;
    let ours = create_as(&app, &globex, "Globex desk").await;
    let pointer = "/conversationConfig/agent/prompt/builtInTools/transferToAgent/transfers";
    let transfers = |id: &str| json!([{"agentId": id, "condition": "the caller asks for Acme"}]);
    let patch_to = |id: &str| {
        let mut patch = json!({});
        set_pointer(&mut patch, pointer, transfers(id));
        patch
    };

    let r = app
        .create_agent_as(&globex, &agent_with(pointer, transfers(&theirs)))
        .await;
    r.assert_problem(&format!("{pointer}/0/agentId"), "not_found");
    let list = app.list_agents_as(&globex, "").await;
    assert_eq!(listed_ids(&list), vec![ours.clone()], "nothing created");

    let before = app.get_agent_as(&globex, &ours).await;
    let r = app.patch_agent_as(&globex, &ours, &patch_to(&theirs)).await;
    r.assert_problem(&format!("{pointer}/0/agentId"), "not_found");
    let after = app.get_agent_as(&globex, &ours).await;
    assert_eq!(after.data(), before.data(), "unchanged: {}", after.text);

    // The problem reads exactly as it does for an id that exists nowhere.
    let random = AgentId::generate().to_string();
    let for_random = app.patch_agent_as(&globex, &ours, &patch_to(&random)).await;
    let anonymised = |r: &Resp, id: &str| {
        r.text
            .replace(id, "ID")
            .replace(r.header("x-request-id").unwrap_or("?"), "RID")
    };
    assert_eq!(anonymised(&r, &theirs), anonymised(&for_random, &random));

    // Acme may delete its agent: globex's refused transfer left no reference behind.
    let r = app
        .send(Method::DELETE, &agent_path(&theirs), Some(&acme), &[], None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn the_same_idempotency_key_in_two_workspaces_creates_two_agents() {
    let (app, acme, globex) = two_workspaces().await;
    let body = Some(minimal_agent("Same request").to_string().into_bytes());
    let headers = [("idempotency-key", "order-42")];
    let a = app
        .send(Method::POST, AGENTS, Some(&acme), &headers, body.clone())
        .await;
    let g = app
        .send(Method::POST, AGENTS, Some(&globex), &headers, body)
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(g.status, 201, "{}", g.text);
    assert_eq!(
        g.header("idempotent-replayed"),
        None,
        "not a replay of acme's"
    );
    let (a_id, g_id) = (a.data()["agentId"].clone(), g.data()["agentId"].clone());
    assert_ne!(a_id, g_id, "globex got acme's agent: {}", g.text);
    assert_eq!(g.data()["metadata"]["createdBy"]["userId"], "gus");
    let g_list = listed_ids(&app.list_agents_as(&globex, "").await);
    assert_eq!(g_list, vec![g_id.as_str().unwrap().to_owned()]);
}

#[tokio::test]
async fn created_by_is_the_user_of_the_creating_key() {
    let (app, acme, _) = two_workspaces().await;
    let created = app.create_agent_as(&acme, &minimal_agent("Carol's")).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let carol = json!({"userId": "carol", "userEmail": "carol@example.com"});
    assert_eq!(
        created.data()["metadata"]["createdBy"],
        carol,
        "{}",
        created.text
    );
    let id = created.data()["agentId"].as_str().unwrap();
    let got = app.get_agent_as(&acme, id).await;
    assert_eq!(got.data()["metadata"]["createdBy"], carol, "{}", got.text);
    let list = app.list_agents_as(&acme, "").await;
    assert_eq!(
        list.data()[0]["metadata"]["createdBy"],
        carol,
        "{}",
        list.text
    );
}

#[tokio::test]
async fn a_patch_by_another_user_of_the_workspace_keeps_created_by() {
    let (app, acme, _) = two_workspaces().await;
    let dave = app.new_key("acme", Scope::Write, "dave").await;
    let id = create_as(&app, &acme, "Carol's").await;
    let before = app.get_agent_as(&acme, &id).await;

    let r = app
        .patch_agent_as(&dave, &id, &json!({"name": "Dave renamed it"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.data()["name"], "Dave renamed it");
    assert_ne!(r.etag(), before.etag(), "the PATCH was stored");
    let carol = json!({"userId": "carol", "userEmail": "carol@example.com"});
    let after = app.get_agent_as(&dave, &id).await;
    for (label, resp) in [("PATCH answer", &r), ("GET after", &after)] {
        assert_eq!(
            resp.data()["metadata"]["createdBy"],
            carol,
            "{label}: {}",
            resp.text
        );
    }

    // Sending createdBy as dave is a read-only violation, not a way to take the agent over.
    let r = app
        .patch_agent_as(
            &dave,
            &id,
            &json!({"metadata": {"createdBy": {"userId": "dave", "userEmail": "dave@example.com"}}}),
        )
        .await;
    r.assert_error(400, "validation_error");
    assert!(
        r.detail_paths()
            .iter()
            .any(|(p, c)| p.starts_with("/metadata") && c == "read_only"),
        "{}",
        r.text
    );
    let last = app.get_agent_as(&acme, &id).await;
    assert_eq!(last.data()["metadata"]["createdBy"], carol, "{}", last.text);
}

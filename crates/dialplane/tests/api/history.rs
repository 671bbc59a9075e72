//! Version history: every stored change is a version; list and read them. Diffs are in
//! `history_diff.rs`, restores in `history_restore.rs`.

use crate::support::*;
use dialplane_core::Scope;
use reqwest::Method;
use serde_json::{json, Value};

pub const TEMPERATURE: &str = "/conversationConfig/agent/prompt/temperature";

/// The `data` of `GET /agents/{id}/versions{query}`, checked to be a 200.
async fn history(app: &TestApp, id: &str, query: &str) -> Resp {
    let r = app.get(&agent_path(id, &format!("/versions{query}"))).await;
    assert_eq!(r.status, 200, "versions{query}: {}", r.text);
    r
}

/// The history entry of `version`.
async fn entry(app: &TestApp, id: &str, version: u64) -> Value {
    let r = history(app, id, "?pageSize=100").await;
    r.data()
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == json!(version))
        .unwrap_or_else(|| panic!("no version {version} in {}", r.text))
        .clone()
}

/// The agent at `version`, checked to be a 200.
pub async fn version(app: &TestApp, id: &str, version: u64) -> Resp {
    let r = app
        .get(&agent_path(id, &format!("/versions/{version}")))
        .await;
    assert_eq!(r.status, 200, "version {version}: {}", r.text);
    r
}

/// Creates an agent and changes it with a merge PATCH and a JSON Patch: three versions.
pub async fn three_versions(app: &TestApp) -> String {
    let id = app.create_named("Versioned").await;
    let r = app
        .patch_agent(
            &id,
            &json!({"conversationConfig": {"agent": {"prompt": {"temperature": 0.4}}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .json_patch(
            &id,
            "",
            &json!([{"op": "replace", "path": "/name", "value": "Renamed"}]),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    id
}

#[tokio::test]
async fn every_stored_change_is_a_version_numbered_from_one_and_a_no_op_stores_none() {
    let app = TestApp::spawn().await;
    let created = app.create_agent(&minimal_agent("Counted")).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.etag(), "\"1\"");
    let id = created.data()["agentId"].as_str().unwrap().to_owned();
    assert_eq!(app.version_numbers(&id).await, [1]);

    let merge = app.patch_agent(&id, &json!({"tags": ["a"]})).await;
    assert_eq!(merge.etag(), "\"2\"", "{}", merge.text);
    let patch = app
        .json_patch(
            &id,
            "",
            &json!([{"op": "add", "path": "/tags/-", "value": "b"}]),
            &[],
        )
        .await;
    assert_eq!(patch.etag(), "\"3\"", "{}", patch.text);

    // No-ops of every kind store nothing.
    let same = app.patch_agent(&id, &json!({"tags": ["a", "b"]})).await;
    assert_eq!(
        (same.status.as_u16(), same.etag()),
        (200, "\"3\"".into()),
        "{}",
        same.text
    );
    let empty = app.patch_agent(&id, &json!({})).await;
    assert_eq!(empty.etag(), "\"3\"", "{}", empty.text);
    let test_only = app
        .json_patch(
            &id,
            "",
            &json!([{"op": "test", "path": "/tags", "value": ["a", "b"]}]),
            &[],
        )
        .await;
    assert_eq!(test_only.etag(), "\"3\"", "{}", test_only.text);
    assert_eq!(app.version_numbers(&id).await, [3, 2, 1]);

    let restore = app
        .post_empty(&agent_path(&id, "/versions/1/restore"), &[])
        .await;
    assert_eq!(restore.status, 200, "{}", restore.text);
    assert_eq!(restore.etag(), "\"4\"");
    assert_eq!(app.version_numbers(&id).await, [4, 3, 2, 1]);
    assert_eq!(
        app.get_agent(&id).await.etag(),
        "\"4\"",
        "the ETag is the current version"
    );
}

#[tokio::test]
async fn a_version_entry_says_when_who_what_and_from_where() {
    let app = TestApp::spawn().await;
    let bob = app.new_key("default", Scope::Write, "bob").await;
    let carol = app.new_key("default", Scope::Write, "carol").await;
    let id = app.create_named("Audited").await;
    let r = app
        .patch_agent_as(
            &bob,
            &id,
            &json!({"conversationConfig": {"agent": {"prompt": {"temperature": 0.4}}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let after_bob = r.data()["metadata"]["updatedAt"].clone();
    let r = app
        .send(
            Method::POST,
            &agent_path(&id, "/versions/1/restore"),
            Some(&carol),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let agent = app.get_agent(&id).await;

    let page = history(&app, &id, "").await;
    let items = page.data().as_array().unwrap();
    let by = |user: &str| json!({"userId": user, "userEmail": format!("{user}@example.com")});
    assert_eq!(
        items[0],
        json!({"version": 3, "createdAt": agent.data()["metadata"]["updatedAt"], "createdBy": by("carol"),
               "changedPaths": [TEMPERATURE], "restoredFrom": 1}),
        "{}",
        page.text
    );
    assert_eq!(
        items[1],
        json!({"version": 2, "createdAt": after_bob, "createdBy": by("bob"),
               "changedPaths": [TEMPERATURE], "restoredFrom": null}),
        "{}",
        page.text
    );
    assert_eq!(
        items[2],
        json!({"version": 1, "createdAt": agent.data()["metadata"]["createdAt"], "createdBy": by("alice"),
               "changedPaths": [], "restoredFrom": null}),
        "{}",
        page.text
    );
    assert_eq!(
        agent.data()["metadata"]["createdBy"],
        by("alice"),
        "the agent's creator stays"
    );
}

#[tokio::test]
async fn changed_paths_name_each_changed_field_once() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Paths").await;
    let r = app
        .patch_agent(
            &id,
            &json!({
                "name": "Paths 2",
                "direction": "inbound",
                "conversationConfig": {"agent": {"greetingMessage": "Hello",
                    "prompt": {"temperature": 0.4, "prompt": "You are helpful."}}},
                "platformSettings": {"callRetry": {"retryCount": 3}}
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut paths: Vec<String> =
        serde_json::from_value(entry(&app, &id, 2).await["changedPaths"].clone()).unwrap();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/conversationConfig/agent/greetingMessage",
            TEMPERATURE,
            "/direction",
            "/name",
            "/platformSettings/callRetry/retryCount",
        ],
        "the unchanged prompt and metadata.updatedAt are not listed"
    );

    // Several changes inside one array are one entry each, never repeated.
    let r = app
        .patch_agent(&id, &json!({"tags": ["a", "b", "c"]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.patch_agent(&id, &json!({"tags": ["c", "d"]})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let paths: Vec<String> =
        serde_json::from_value(entry(&app, &id, 4).await["changedPaths"].clone()).unwrap();
    assert!(!paths.is_empty(), "no paths for a tag change");
    for (i, p) in paths.iter().enumerate() {
        assert!(
            p == "/tags" || p.starts_with("/tags/"),
            "{p} is not inside /tags: {paths:?}"
        );
        assert!(!paths[..i].contains(p), "{p} listed twice: {paths:?}");
    }
}

#[tokio::test]
async fn the_history_pages_newest_first_thirty_by_default_with_exact_cursors() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Paged").await;
    for i in 1..=31 {
        let r = app
            .patch_agent(&id, &json!({"name": format!("Paged {i}")}))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let numbers = |r: &Resp| -> Vec<u64> {
        r.data()
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_u64().unwrap())
            .collect()
    };

    let first = history(&app, &id, "").await;
    assert_eq!(numbers(&first), (3..=32).rev().collect::<Vec<_>>());
    assert_eq!(first.body["pagination"]["pageSize"], json!(30));
    assert_eq!(first.body["pagination"]["hasMore"], json!(true));
    let cursor = first.body["pagination"]["nextCursor"].as_str().unwrap();
    let rest = history(&app, &id, &format!("?cursor={cursor}")).await;
    assert_eq!(numbers(&rest), [2, 1]);
    assert_eq!(
        rest.body["pagination"],
        json!({"pageSize": 30, "hasMore": false, "nextCursor": null})
    );

    // Small pages cover every version exactly once, in order.
    let mut seen = Vec::new();
    let mut query = "?pageSize=7".to_owned();
    loop {
        let page = history(&app, &id, &query).await;
        let got = numbers(&page);
        assert!(got.len() <= 7, "{}", page.text);
        seen.extend(got);
        match page.body["pagination"]["nextCursor"].as_str() {
            Some(c) => query = format!("?pageSize=7&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, (1..=32).rev().collect::<Vec<_>>());

    let full = history(&app, &id, "?pageSize=100").await;
    assert_eq!(numbers(&full).len(), 32);
    let one = history(&app, &id, "?pageSize=1").await;
    assert_eq!(numbers(&one), [32]);
}

#[tokio::test]
async fn bad_history_parameters_are_invalid_parameter() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Params").await;
    for (query, parameter) in [
        ("?pageSize=0", "pageSize"),
        ("?pageSize=101", "pageSize"),
        ("?pageSize=ten", "pageSize"),
        ("?pageSize=-1", "pageSize"),
        ("?cursor=not-a-cursor", "cursor"),
        ("?page_size=10", "page_size"),
        ("?pageSize=10&pageSize=20", "pageSize"),
    ] {
        let r = app
            .get(&agent_path(&id, &format!("/versions{query}")))
            .await;
        r.assert_error(400, "invalid_parameter");
        assert_eq!(
            r.body["error"]["details"][0]["parameter"],
            json!(parameter),
            "{query}: {}",
            r.text
        );
    }
    for query in ["?from=0", "?from=two", "?to=1", "?from=1&from=1"] {
        let r = app
            .get(&agent_path(&id, &format!("/versions/1/diff{query}")))
            .await;
        r.assert_error(400, "invalid_parameter");
    }
    for path in [
        "/versions/0",
        "/versions/one",
        "/versions/-1",
        "/versions/0/diff",
    ] {
        app.get(&agent_path(&id, path))
            .await
            .assert_error(400, "invalid_parameter");
    }
    app.post_empty(&agent_path(&id, "/versions/0/restore"), &[])
        .await
        .assert_error(400, "invalid_parameter");
    app.get(&agent_path("not-an-id", "/versions"))
        .await
        .assert_error(400, "invalid_parameter");
}

#[tokio::test]
async fn a_version_reads_as_the_agent_was_with_its_number_as_etag() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Snapshot").await;
    let at_one = app.get_agent(&id).await;
    let r = app
        .patch_agent(&id, &json!({"tags": ["later"], "name": "Snapshot 2"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let at_two = app.get_agent(&id).await;

    let one = version(&app, &id, 1).await;
    assert_eq!(one.text, at_one.text, "version 1 is the agent as created");
    assert_eq!(one.etag(), "\"1\"");
    let two = version(&app, &id, 2).await;
    assert_eq!(two.text, at_two.text, "version 2 is the current agent");
    assert_eq!(two.etag(), "\"2\"");
}

#[tokio::test]
async fn a_missing_version_or_agent_is_not_found_on_every_history_route() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Short").await;
    let missing = dialplane_core::AgentId::generate().to_string();
    let cases = [
        (Method::GET, agent_path(&id, "/versions/2")),
        (Method::GET, agent_path(&id, "/versions/2/diff")),
        (Method::GET, agent_path(&id, "/versions/1/diff?from=2")),
        (Method::POST, agent_path(&id, "/versions/2/restore")),
        (Method::GET, agent_path(&missing, "/versions")),
        (Method::GET, agent_path(&missing, "/versions/1")),
        (Method::GET, agent_path(&missing, "/versions/1/diff")),
        (Method::POST, agent_path(&missing, "/versions/1/restore")),
    ];
    for (method, path) in cases {
        let r = app
            .send(method.clone(), &path, Some(&app.key), &[], None)
            .await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.text);
        r.assert_error(404, "not_found");
    }
    assert_eq!(app.version_numbers(&id).await, [1], "nothing was stored");
}

#[tokio::test]
async fn another_workspaces_key_gets_404_on_every_history_route() {
    let app = TestApp::spawn().await;
    let id = three_versions(&app).await;
    let eve = app.new_key("elsewhere", Scope::Write, "eve").await;
    let reader = app.new_key("default", Scope::Read, "rita").await;
    let routes = [
        (Method::GET, agent_path(&id, "/versions")),
        (Method::GET, agent_path(&id, "/versions/1")),
        (Method::GET, agent_path(&id, "/versions/2/diff")),
        (Method::GET, agent_path(&id, "/versions/3/diff?from=1")),
        (Method::POST, agent_path(&id, "/versions/1/restore")),
    ];
    for (method, path) in &routes {
        let r = app.send(method.clone(), path, Some(&eve), &[], None).await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.text);
        r.assert_error(404, "not_found");
    }
    // A read key of the agent's own workspace reads history but cannot restore.
    for (method, path) in &routes {
        let r = app
            .send(method.clone(), path, Some(&reader), &[], None)
            .await;
        if method == Method::GET {
            assert_eq!(r.status, 200, "{path}: {}", r.text);
        } else {
            r.assert_error(403, "forbidden");
        }
    }
    assert_eq!(
        app.version_numbers(&id).await,
        [3, 2, 1],
        "nothing was restored"
    );
}

#[tokio::test]
async fn deleting_an_agent_deletes_its_history() {
    let app = TestApp::spawn().await;
    let id = three_versions(&app).await;
    assert_eq!(app.delete_agent(&id).await.status, 200);
    for path in [
        "/versions",
        "/versions/1",
        "/versions/3",
        "/versions/2/diff",
    ] {
        app.get(&agent_path(&id, path))
            .await
            .assert_error(404, "not_found");
    }
}

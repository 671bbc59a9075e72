//! Diffs between versions: the RFC 6902 operations that turn one version into another, checked by
//! applying them.

use crate::history::{three_versions, version, TEMPERATURE};
use crate::support::*;
use serde_json::{json, Value};

/// `GET /agents/{id}/versions/{version}/diff{query}`, checked to be a 200; its operations.
async fn diff(app: &TestApp, id: &str, version: u64, query: &str) -> Vec<Value> {
    let r = app
        .get(&agent_path(id, &format!("/versions/{version}/diff{query}")))
        .await;
    assert_eq!(r.status, 200, "diff {version}{query}: {}", r.text);
    assert_eq!(r.body["success"], json!(true), "{}", r.text);
    r.data().as_array().expect("an array of operations").clone()
}

/// Applies the RFC 6902 operations a diff may hold (`add`, `remove`, `replace`) to `doc`: written
/// here, independently of the server, so a diff is checked by what it does.
fn apply_ops(doc: &mut Value, ops: &[Value]) {
    for op in ops {
        let path = op["path"].as_str().expect("a path");
        let mut tokens: Vec<String> = path
            .split('/')
            .skip(1)
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect();
        let Some(last) = tokens.pop() else {
            *doc = op["value"].clone();
            continue;
        };
        let mut parent = &mut *doc;
        for t in &tokens {
            parent = match parent {
                Value::Object(m) => m.get_mut(t.as_str()),
                Value::Array(a) => t.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
                _ => None,
            }
            .unwrap_or_else(|| panic!("{path} names nothing in the document"));
        }
        match (op["op"].as_str().unwrap(), parent) {
            ("add" | "replace", Value::Object(m)) => {
                m.insert(last, op["value"].clone());
            }
            ("remove", Value::Object(m)) => {
                m.remove(&last).expect("remove names a member");
            }
            ("add", Value::Array(a)) if last == "-" => a.push(op["value"].clone()),
            ("add", Value::Array(a)) => a.insert(last.parse().unwrap(), op["value"].clone()),
            ("replace", Value::Array(a)) => a[last.parse::<usize>().unwrap()] = op["value"].clone(),
            ("remove", Value::Array(a)) => {
                a.remove(last.parse().unwrap());
            }
            (other, _) => panic!("unexpected operation {other} at {path}"),
        }
    }
}

#[tokio::test]
async fn a_diff_is_the_operations_from_the_version_before() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Diffed").await;
    let r = app
        .patch_agent(
            &id,
            &json!({"conversationConfig": {"agent": {"prompt": {"temperature": 0.4}}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let updated_at = r.data()["metadata"]["updatedAt"].clone();

    let mut ops = diff(&app, &id, 2, "").await;
    ops.sort_by_key(|op| op["path"].as_str().unwrap_or("").to_owned());
    assert_eq!(
        ops,
        [
            json!({"op": "replace", "path": TEMPERATURE, "value": 0.4}),
            json!({"op": "replace", "path": "/metadata/updatedAt", "value": updated_at}),
        ]
    );
    assert_eq!(
        diff(&app, &id, 2, "?from=1").await,
        diff(&app, &id, 2, "").await
    );
    assert_eq!(
        diff(&app, &id, 2, "?from=2").await,
        Vec::<Value>::new(),
        "a version against itself"
    );
}

#[tokio::test]
async fn the_diff_of_version_one_builds_it_from_an_empty_document() {
    let app = TestApp::spawn().await;
    let id = three_versions(&app).await;
    let ops = diff(&app, &id, 1, "").await;
    assert!(!ops.is_empty());
    assert!(
        ops.iter().all(|op| op["op"] == "add"),
        "only adds onto {{}}: {ops:?}"
    );
    let mut doc = json!({});
    apply_ops(&mut doc, &ops);
    assert_eq!(&doc, version(&app, &id, 1).await.data());
}

#[tokio::test]
async fn the_diff_of_a_history_that_starts_above_one_builds_its_oldest_version_from_nothing() {
    let app = TestApp::spawn().await;
    let id = three_versions(&app).await;
    // What migration 0002 leaves for an agent stored before history existed: its history starts
    // at the revision the agent had then.
    app.execute_sql(&format!(
        "DELETE FROM agent_versions WHERE agent_id = '{id}' AND version < 3"
    ))
    .await;
    assert_eq!(app.version_numbers(&id).await, [3]);
    let ops = diff(&app, &id, 3, "").await;
    assert!(ops.iter().all(|op| op["op"] == "add"), "{ops:?}");
    let mut doc = json!({});
    apply_ops(&mut doc, &ops);
    assert_eq!(&doc, version(&app, &id, 3).await.data());
    // A version named with `from` must still exist.
    let r = app.get(&agent_path(&id, "/versions/3/diff?from=2")).await;
    r.assert_error(404, "not_found");
}

#[tokio::test]
async fn a_diff_turns_version_from_into_version_in_both_directions() {
    let app = TestApp::spawn().await;
    let other = app.create_named("Other").await;
    let mut body = minimal_agent("Many");
    set_pointer(&mut body, "/tags", json!(["a", "b", "c"]));
    set_pointer(
        &mut body,
        "/conversationConfig/agent/dynamicVariables",
        json!({"x": 1, "y": "two"}),
    );
    let r = app.create_agent(&body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.data()["agentId"].as_str().unwrap().to_owned();
    for patch in [
        json!({"tags": ["c", "a"], "conversationConfig": {"agent": {"dynamicVariables": {"x": null, "z": true}}}}),
        json!({"conversationConfig": {"agent": {"prompt": {"builtInTools": {"transferToAgent": {"enabled": true,
            "transfers": [{"agentId": other, "condition": "sales"}]}}}}}}),
        json!({"tags": [], "direction": "both", "conversationConfig": {"tts": {"supportedVoices": [
            {"label": "A", "voiceId": "v", "language": "en", "speed": 1.1}]}}}),
    ] {
        let r = app.patch_agent(&id, &patch).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let docs: Vec<Value> = {
        let mut docs = vec![Value::Null];
        for v in 1..=4 {
            docs.push(version(&app, &id, v).await.data().clone());
        }
        docs
    };
    for (from, to) in [(1, 2), (2, 3), (3, 4), (1, 4), (4, 1), (3, 1), (2, 4)] {
        let ops = diff(&app, &id, to, &format!("?from={from}")).await;
        let mut doc = docs[from as usize].clone();
        apply_ops(&mut doc, &ops);
        assert_eq!(doc, docs[to as usize], "diff {from} -> {to}: {ops:?}");
    }
    for to in 2..=4u64 {
        let ops = diff(&app, &id, to, "").await;
        let mut doc = docs[to as usize - 1].clone();
        apply_ops(&mut doc, &ops);
        assert_eq!(doc, docs[to as usize], "default diff of {to}");
    }
}

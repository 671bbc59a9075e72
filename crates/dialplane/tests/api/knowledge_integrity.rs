//! Agents and the documents they name: every write names only documents of the workspace, a
//! document an agent names cannot be deleted, and agents stored before the check keep working
//! until their next write.

use crate::support::*;
use reqwest::Method;
use serde_json::json;

const KB: &str = "/conversationConfig/agent/prompt/knowledgeBase";

fn naming(documents: &[&str]) -> serde_json::Value {
    agent_with(KB, json!(documents))
}

fn document(id: &str, rest: &str) -> String {
    format!("/api/public/v1/knowledge-base/documents/{id}{rest}")
}

#[tokio::test]
async fn every_write_names_only_documents_of_the_workspace() {
    let app = TestApp::spawn().await;
    let known = app.text_document("Known", "Known text.").await;
    let missing = "01931c1e-7b1a-7f00-8000-00000000abcd";
    let r = app
        .create_agent(&naming(&[&known, missing, "not-even-an-id"]))
        .await;
    r.assert_error(400, "validation_error");
    assert_eq!(
        r.detail_paths(),
        [
            (format!("{KB}/1"), "not_found".to_owned()),
            (format!("{KB}/2"), "not_found".to_owned()),
        ]
    );
    // Another workspace's document is no document of this one.
    let other = app
        .new_key("elsewhere", dialplane_core::Scope::Write, "eve")
        .await;
    let theirs = app
        .json(
            Method::POST,
            "/api/public/v1/knowledge-base/documents/text",
            &other,
            &json!({"name": "Theirs", "text": "x"}),
        )
        .await;
    let theirs = theirs.data()["documentId"].as_str().unwrap().to_owned();
    app.create_agent(&naming(&[&theirs]))
        .await
        .assert_problem(&format!("{KB}/0"), "not_found");
    // Create, PATCH, JSON Patch, duplicate and restore all check.
    let created = app.create_agent(&naming(&[&known])).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.data()["agentId"].as_str().unwrap().to_owned();
    let patch =
        json!({"conversationConfig": {"agent": {"prompt": {"knowledgeBase": [known, missing]}}}});
    app.patch_agent(&id, &patch)
        .await
        .assert_problem(&format!("{KB}/1"), "not_found");
    let ops = json!([{"op": "add", "path": format!("{KB}/-"), "value": missing}]);
    app.json_patch(&id, "", &ops, &[])
        .await
        .assert_problem(&format!("{KB}/1"), "not_found");
    let copy = app.post_empty(&agent_path(&id, "/duplicate"), &[]).await;
    assert_eq!(copy.status, 201, "{}", copy.text);
    let listed = app.get(&document(&known, "/agents")).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let mut named_by: Vec<&str> = listed
        .data()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["agentId"].as_str().unwrap())
        .collect();
    named_by.sort();
    let mut expected = vec![id.as_str(), copy.data()["agentId"].as_str().unwrap()];
    expected.sort();
    assert_eq!(named_by, expected);
    // Version 1 names `known`; once the agent names another document and `known` is gone, a
    // restore of version 1 is refused for it.
    let second = app.text_document("Second", "Second text.").await;
    let patch = json!({"conversationConfig": {"agent": {"prompt": {"knowledgeBase": [second]}}}});
    assert_eq!(app.patch_agent(&id, &patch).await.status, 200);
    let copy_id = copy.data()["agentId"].as_str().unwrap();
    assert_eq!(app.delete_agent(copy_id).await.status, 200);
    let r = app
        .send(
            Method::DELETE,
            &document(&known, ""),
            Some(&app.key),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .post_empty(&agent_path(&id, "/versions/1/restore"), &[])
        .await;
    r.assert_problem(&format!("{KB}/0"), "not_found");
}

#[tokio::test]
async fn a_document_an_agent_names_cannot_be_deleted_and_the_conflict_names_each_agent() {
    let app = TestApp::spawn().await;
    let a = app.text_document("A", "Alpha.").await;
    let b = app.text_document("B", "Bravo.").await;
    let first = app.create_agent(&naming(&[&a, &b])).await.data()["agentId"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = app.create_agent(&naming(&[&b])).await.data()["agentId"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .send(Method::DELETE, &document(&b, ""), Some(&app.key), &[], None)
        .await;
    r.assert_error(409, "conflict");
    let mut details: Vec<(String, String, String)> = r.body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["agentId"].as_str().unwrap().to_owned(),
                d["path"].as_str().unwrap().to_owned(),
                d["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    details.sort();
    let mut expected = vec![
        (first.clone(), format!("{KB}/1"), "referenced".to_owned()),
        (second.clone(), format!("{KB}/0"), "referenced".to_owned()),
    ];
    expected.sort();
    assert_eq!(details, expected);
    assert_eq!(app.get(&document(&b, "")).await.status, 200, "still there");
    // Once no agent names it, it goes; deleting an agent lets go of its documents.
    assert_eq!(app.delete_agent(&second).await.status, 200);
    let patch = json!({"conversationConfig": {"agent": {"prompt": {"knowledgeBase": [a]}}}});
    assert_eq!(app.patch_agent(&first, &patch).await.status, 200);
    assert_eq!(app.get(&document(&b, "/agents")).await.data(), &json!([]));
    let r = app
        .send(Method::DELETE, &document(&b, ""), Some(&app.key), &[], None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.get(&document(&b, "/agents"))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn an_agent_stored_before_documents_were_checked_works_until_its_next_write() {
    let db = std::sync::Arc::new(TestDb::new().await);
    let mut app = TestApp::start_on(TestOptions::default(), db.clone(), &db.url).await;
    app.key = app
        .new_key("default", dialplane_core::Scope::Write, "alice")
        .await;
    let doc = app.text_document("Handbook", "Handbook text.").await;
    let created = app.create_agent(&naming(&[&doc])).await;
    let id = created.data()["agentId"].as_str().unwrap().to_owned();
    let key = app.key.clone();
    app.stop().await;
    // The database as it was before the knowledge base: its tables and migration gone; the agent
    // still names the document.
    let (drop, version) = if db.url.starts_with("sqlite:") {
        ("DROP TABLE kb_passages_fts; DROP TABLE kb_passages; DROP TABLE kb_texts; DROP TABLE kb_blobs;
          DROP TABLE kb_documents; DROP TABLE kb_groups; DROP TABLE agent_documents;", 6)
    } else {
        (
            "DROP TABLE kb_passages, kb_texts, kb_blobs, kb_documents, kb_groups, agent_documents;",
            5,
        )
    };
    execute_sql(&db.url, drop).await;
    execute_sql(
        &db.url,
        &format!("DELETE FROM _sqlx_migrations WHERE version = {version}"),
    )
    .await;
    // The upgrade records which documents each agent names.
    let mut app = TestApp::start_on(TestOptions::default(), db.clone(), &db.url).await;
    app.key = key;
    let got = app.get_agent(&id).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(
        got.data()["conversationConfig"]["agent"]["prompt"]["knowledgeBase"],
        json!([doc])
    );
    // Its next write must name only documents that exist.
    app.patch_agent(&id, &json!({"name": "Renamed"}))
        .await
        .assert_problem(&format!("{KB}/0"), "not_found");
    let fresh = app.text_document("Fresh", "Fresh text.").await;
    let patch = json!({"name": "Renamed", "conversationConfig": {"agent": {"prompt": {"knowledgeBase": [fresh]}}}});
    let r = app.patch_agent(&id, &patch).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let listed = app.get(&document(&fresh, "/agents")).await;
    assert_eq!(listed.data()[0]["agentId"], id.as_str());
}

#[tokio::test]
async fn a_missing_document_is_reported_beside_the_bodys_other_problems() {
    let app = TestApp::spawn().await;
    let known = app.text_document("Known", "Known text.").await;
    let missing = "01931c1e-7b1a-7f00-8000-00000000abcd";
    let mut body = naming(&[missing, &known]);
    body["conversationConfig"]["turn"] = json!({"turnTimeout": "soon"});
    // Create: found by the request, before the store.
    let r = app.create_agent(&body).await;
    assert_missing_beside_the_rest(&r, 0);
    // PATCH: found by the store's write, which validates the merged document.
    let created = app.create_agent(&naming(&[&known])).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.data()["agentId"].as_str().unwrap().to_owned();
    let patch = json!({"conversationConfig": {
        "agent": {"prompt": {"knowledgeBase": [known, missing]}},
        "turn": {"turnTimeout": "soon"}
    }});
    let r = app.patch_agent(&id, &patch).await;
    assert_missing_beside_the_rest(&r, 1);
}

/// A 400 with the document missing at `KB/<index>` and the faulty `turnTimeout`, and nothing else.
fn assert_missing_beside_the_rest(r: &Resp, index: usize) {
    r.assert_error(400, "validation_error");
    let mut paths = r.detail_paths();
    paths.sort();
    let turn_timeout = "/conversationConfig/turn/turnTimeout".to_owned();
    assert_eq!(
        paths,
        [
            (format!("{KB}/{index}"), "not_found".to_owned()),
            (turn_timeout, "invalid_type".to_owned()),
        ]
    );
}

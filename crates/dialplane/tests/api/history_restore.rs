//! Restoring a version: a new version with the old content, checked against today's rules and
//! references, conditional on `If-Match`.

use crate::support::*;
use dialplane_core::Rules;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;

const TRANSFER_ID: &str =
    "/conversationConfig/agent/prompt/builtInTools/transferToAgent/transfers/0/agentId";

async fn restore(app: &TestApp, id: &str, version: u64, headers: &[(&str, &str)]) -> Resp {
    app.post_empty(
        &agent_path(id, &format!("/versions/{version}/restore")),
        headers,
    )
    .await
}

/// `text` with the value of every `"updatedAt"` replaced by `…`.
fn without_updated_at(text: &str) -> String {
    let key = "\"updatedAt\":\"";
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(key) {
        out.push_str(&rest[..at + key.len()]);
        out.push('…');
        rest = &rest[at + key.len()..];
        rest = &rest[rest.find('"').expect("a closing quote")..];
    }
    out.push_str(rest);
    out
}

/// An agent that sets a value, not the default, in most of the document's fields.
fn rich_agent(transfer_to: &str, document: &str) -> Value {
    json!({
        "name": "Front desk",
        "direction": "both",
        "tags": ["reception", "emea"],
        "conversationConfig": {
            "agent": {
                "prompt": {
                    "prompt": "You greet callers and book visits.",
                    "llm": "gpt-4o",
                    "temperature": 0.7,
                    "toolIds": ["t1", "t2"],
                    "knowledgeBase": [document],
                    "timezone": "Europe/Paris",
                    "ignoreDefaultPersonality": true,
                    "builtInTools": {
                        "endCall": {"enabled": false, "description": "hang up"},
                        "transferToAgent": {"enabled": true, "transfers": [
                            {"agentId": transfer_to, "condition": "sales", "delayMs": 250,
                             "transferMessage": "One moment"}]},
                        "transferToNumber": {"enabled": true, "transfers": [
                            {"condition": "billing", "transferDestination": {"phoneNumber": "+14155550100"}}]},
                        "voicemailDetection": {"enabled": true, "voicemailMessage": "Call us back"}
                    }
                },
                "greetingMessage": "Hello!",
                "primaryLanguage": "pt-BR",
                "hinglishMode": true,
                "dynamicVariables": {"company": "Acme", "floor": 3, "open": true, "ratio": 0.25}
            },
            "asr": {"userInputAudioFormat": "ulaw_8000", "keywords": ["Acme"]},
            "turn": {"turnTimeout": 12.5, "silenceEndCallTimeout": 60, "turnEagerness": "eager"},
            "tts": {"voiceId": "v1", "expressiveMode": true, "supportedVoices": [
                {"label": "Ana", "voiceId": "v2", "language": "pt-BR", "stability": 0.3, "speed": 1.1}],
                "suggestedAudioTags": [{"tag": "laughs"}]}
        },
        "platformSettings": {
            "callActions": {"smartOptOut": true, "postCallWebhook": "https://example.com/hook",
                "postCallEmail": {"enabled": true, "emailConfiguration": {"recipients": ["ops@example.com"], "x": [1]}}},
            "widget": {"theme": {"color": "#fff"}, "sizes": [1, 2.5]},
            "dataCollection": {"entities": {"reason": {"type": "string", "description": "why they call"}}, "storeData": true},
            "callRetry": {"retryCount": 2, "retryDelay": 15},
            "summaryLanguage": "en",
            "telephony": {"numberRotationEnabled": true, "rotationNumbers": ["+14155550101", "+14155550102"]}
        },
        "workflow": {
            "nodes": {"start": {"type": "start", "label": "Begin"}, "bye": {"type": "end"}},
            "edges": {"e1": {"source": "start", "target": "bye", "weight": 2}},
            "preventSubagentLoops": true
        }
    })
}

#[tokio::test]
async fn restoring_version_one_after_several_changes_reproduces_it_exactly() {
    let app = TestApp::spawn().await;
    let sales = app.create_named("Sales").await;
    let document = app.text_document("Handbook", "Text.").await;
    let created = app.create_agent(&rich_agent(&sales, &document)).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.data()["agentId"].as_str().unwrap().to_owned();
    let v1 = app.get(&agent_path(&id, "/versions/1")).await;
    assert_eq!(v1.status, 200, "{}", v1.text);

    // Merge patches that change, reset (null) and remove things, then JSON Patches.
    let merges = [
        json!({"name": "Renamed", "tags": ["other"], "direction": null,
               "conversationConfig": {"agent": {"prompt": {"temperature": 1.5, "llm": null, "builtInTools": null},
                   "dynamicVariables": {"floor": null, "extra": "x"}},
                   "turn": null, "tts": {"supportedVoices": []}}}),
        json!({"platformSettings": null, "workflow": {"nodes": null, "edges": null}}),
    ];
    for patch in merges {
        let r = app.patch_agent(&id, &patch).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let ops = json!([
        {"op": "add", "path": "/tags/-", "value": "more"},
        {"op": "replace", "path": "/conversationConfig/agent/greetingMessage", "value": "Bye"},
        {"op": "remove", "path": "/conversationConfig/asr/keywords"}
    ]);
    let r = app.json_patch(&id, "", &ops, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.etag(), "\"4\"");
    let changed = app.get_agent(&id).await;
    assert_ne!(
        without_updated_at(&changed.text),
        without_updated_at(&v1.text)
    );

    let restored = app
        .post_empty(&agent_path(&id, "/versions/1/restore"), &[])
        .await;
    assert_eq!(restored.status, 200, "{}", restored.text);
    assert_eq!(restored.etag(), "\"5\"");
    let now = app.get_agent(&id).await;
    assert_eq!(
        now.text, restored.text,
        "the restore answers with the stored agent"
    );
    // Byte for byte, the agent is version 1 again: agentId, createdAt and createdBy included; only
    // updatedAt moves on.
    assert_eq!(without_updated_at(&now.text), without_updated_at(&v1.text));
    assert_ne!(
        now.data()["metadata"]["updatedAt"],
        v1.data()["metadata"]["updatedAt"]
    );
    let v5 = app.get(&agent_path(&id, "/versions/5")).await;
    assert_eq!(v5.text, now.text, "version 5 is what was stored");
}

#[tokio::test]
async fn a_restore_is_a_new_version_marked_with_where_it_came_from() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Restorable").await;
    for name in ["Two", "Three"] {
        let r = app
            .patch_agent(&id, &json!({"name": name, "tags": [name]}))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = restore(&app, &id, 2, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.etag(), "\"4\"");
    assert_eq!(r.data()["name"], json!("Two"));
    assert_eq!(r.data()["tags"], json!(["Two"]));

    let page = app.get(&agent_path(&id, "/versions?pageSize=2")).await;
    let newest = &page.data()[0];
    assert_eq!(newest["version"], json!(4), "{}", page.text);
    assert_eq!(newest["restoredFrom"], json!(2), "{}", page.text);
    let mut paths: Vec<&str> = newest["changedPaths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    paths.sort();
    assert!(paths.contains(&"/name"), "{paths:?}");
    assert!(
        paths
            .iter()
            .all(|p| *p == "/name" || p.starts_with("/tags")),
        "{paths:?}"
    );
    assert_eq!(page.data()[1]["restoredFrom"], Value::Null);
}

#[tokio::test]
async fn restoring_the_current_content_stores_nothing() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Same").await;
    let r = app.patch_agent(&id, &json!({"name": "Other"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let before = app.get_agent(&id).await;

    // Version 2 is the current content.
    let r = restore(&app, &id, 2, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.etag(), "\"2\"");
    assert_eq!(r.text, before.text, "the agent, untouched");

    // Back to version 1's content by hand: restoring version 1 then changes nothing either.
    let r = app.patch_agent(&id, &json!({"name": "Same"})).await;
    assert_eq!(r.etag(), "\"3\"", "{}", r.text);
    let r = restore(&app, &id, 1, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.etag(), "\"3\"");
    assert_eq!(app.version_numbers(&id).await, [3, 2, 1]);
}

#[tokio::test]
async fn a_restore_honours_if_match() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Guarded").await;
    let r = app.patch_agent(&id, &json!({"name": "Guarded 2"})).await;
    assert_eq!(r.status, 200, "{}", r.text);

    for stale in ["\"1\"", "\"3\"", "\"x\"", "W/\"1\""] {
        restore(&app, &id, 1, &[("if-match", stale)])
            .await
            .assert_error(412, "precondition_failed");
    }
    assert_eq!(app.version_numbers(&id).await, [2, 1], "nothing was stored");
    assert_eq!(app.get_agent(&id).await.data()["name"], json!("Guarded 2"));

    let r = restore(&app, &id, 1, &[("if-match", "\"2\"")]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.etag(), "\"3\"");
    assert_eq!(r.data()["name"], json!("Guarded"));
    let r = restore(&app, &id, 2, &[("if-match", "*")]).await;
    assert_eq!(r.etag(), "\"4\"", "{}", r.text);
}

#[tokio::test]
async fn a_restore_naming_a_since_deleted_agent_is_refused() {
    let app = TestApp::spawn().await;
    let target = app.create_named("Target").await;
    let mut body = minimal_agent("Referrer");
    set_pointer(
        &mut body,
        "/conversationConfig/agent/prompt/builtInTools/transferToAgent",
        json!({"enabled": true, "transfers": [{"agentId": target, "condition": "sales"}]}),
    );
    let r = app.create_agent(&body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.data()["agentId"].as_str().unwrap().to_owned();
    let r = app
        .patch_agent(&id, &json!({"conversationConfig": {"agent": {"prompt": {"builtInTools": {"transferToAgent": null}}}}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.delete_agent(&target).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let r = restore(&app, &id, 1, &[]).await;
    r.assert_problem(TRANSFER_ID, "not_found");
    assert_eq!(r.detail_paths().len(), 1, "{}", r.text);
    assert_eq!(app.version_numbers(&id).await, [2, 1]);
    assert_eq!(app.get_agent(&id).await.etag(), "\"2\"");
}

#[tokio::test]
async fn a_restore_is_checked_against_todays_rules() {
    // Yesterday's server allowed a model that today's no longer does.
    let db = Arc::new(TestDb::new().await);
    let old_rules = Rules {
        llm_models: vec!["legacy-model".into(), "gpt-4o".into()],
        ..Rules::default()
    };
    let yesterday = TestOptions {
        rules: old_rules,
        ..TestOptions::default()
    };
    let mut old = TestApp::start_on(yesterday, db.clone(), &db.url).await;
    old.key = old
        .new_key("default", dialplane_core::Scope::Write, "alice")
        .await;
    let r = old
        .create_agent(&agent_with(
            "/conversationConfig/agent/prompt/llm",
            json!("legacy-model"),
        ))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.data()["agentId"].as_str().unwrap().to_owned();
    let r = old
        .patch_agent(
            &id,
            &json!({"conversationConfig": {"agent": {"prompt": {"llm": "gpt-4o"}}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let key = old.key.clone();
    old.stop().await;

    let mut today = TestApp::start_on(TestOptions::default(), db.clone(), &db.url).await;
    today.key = key;
    let v1 = today.get(&agent_path(&id, "/versions/1")).await;
    assert_eq!(v1.status, 200, "old versions stay readable: {}", v1.text);
    let r = restore(&today, &id, 1, &[]).await;
    r.assert_problem("/conversationConfig/agent/prompt/llm", "invalid_value");
    assert_eq!(today.version_numbers(&id).await, [2, 1]);
}

#[tokio::test]
async fn a_restore_keeps_the_agents_identity_and_takes_only_the_versions_content() {
    // Read-only fields keep their stored values; the writable content is the version's, sent here
    // as merge patches with the merge-patch media type.
    let app = TestApp::spawn().await;
    let id = app.create_named("Latest").await;
    for i in 0..3 {
        let r = app
            .send(
                Method::PATCH,
                &agent_path(&id, ""),
                Some(&app.key),
                &[("content-type", "application/merge-patch+json")],
                Some(json!({"tags": [format!("t{i}")]}).to_string().into_bytes()),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let current = app.get_agent(&id).await;
    let r = restore(&app, &id, 2, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.data()["tags"], json!(["t0"]));
    assert_eq!(r.data()["agentId"], current.data()["agentId"]);
    assert_eq!(
        r.data()["metadata"]["createdAt"],
        current.data()["metadata"]["createdAt"]
    );
    assert_eq!(
        r.data()["metadata"]["createdBy"],
        current.data()["metadata"]["createdBy"]
    );
}

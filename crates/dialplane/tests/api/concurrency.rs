//! Concurrent PATCHes of one agent: each is an atomic read-merge-write, so none is lost.

use crate::patch::{patch_with, PROMPT};
use crate::support::*;
use futures::future::join_all;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_patches_of_different_fields_all_land() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Busy").await;
    let patches = (0..100).map(|i| {
        let (app, id) = (&app, id.clone());
        async move {
            let vars = json!({format!("v{i}"): i});
            let r = app
                .patch_agent(
                    &id,
                    &json!({"conversationConfig": {"agent": {"dynamicVariables": vars}}}),
                )
                .await;
            (i, r)
        }
    });
    let failed: Vec<String> = join_all(patches)
        .await
        .into_iter()
        .filter(|(_, r)| r.status != 200)
        .map(|(i, r)| format!("v{i}: {} {}", r.status, r.text))
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));

    let got = app.get_agent(&id).await;
    let vars = got.data()["conversationConfig"]["agent"]["dynamicVariables"].clone();
    let expected: Value = (0..100).map(|i| (format!("v{i}"), json!(i))).collect();
    assert_eq!(json_difference(&vars, &expected), None);
    assert_eq!(got.etag(), "\"101\"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_patches_of_mixed_fields_lose_nothing() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Mixed").await;
    let bodies = vec![
        json!({"tags": ["t"]}),
        json!({"direction": "both"}),
        patch_with(&format!("{PROMPT}/temperature"), json!(1.1)),
        patch_with(&format!("{PROMPT}/llm"), json!("gpt-4o")),
        patch_with("/conversationConfig/agent/greetingMessage", json!("Hello")),
        patch_with("/conversationConfig/turn/turnTimeout", json!(12)),
        patch_with("/platformSettings/callRetry/retryCount", json!(4)),
        patch_with("/platformSettings/privacy/recordVoice", json!(true)),
        patch_with("/workflow/preventSubagentLoops", json!(true)),
        patch_with("/conversationConfig/tts/expressiveMode", json!(true)),
    ];
    let sends = bodies.iter().map(|b| app.patch_agent(&id, b));
    for r in join_all(sends).await {
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let got = app.get_agent(&id).await;
    let mut failures = Vec::new();
    for body in &bodies {
        if let Some(diff) = json_missing(got.data(), body) {
            failures.push(diff);
        }
    }
    assert!(
        failures.is_empty(),
        "lost changes: {failures:?}\n{}",
        got.text
    );
    assert_eq!(got.etag(), format!("\"{}\"", bodies.len() + 1));
}

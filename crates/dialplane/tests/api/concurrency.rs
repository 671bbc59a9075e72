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

/// Clients that give up mid-write (timeouts, closed connections) must leave nothing half done: each
/// write is whole or absent, the history has no gap, and no database connection is left inside a
/// transaction for the next request to inherit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_whose_clients_go_away_are_whole_or_absent_and_leave_no_open_transaction() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Abandoned").await;
    let url = app.url(&agent_path(&id, ""));
    let mut abandoned = Vec::new();
    for i in 0..150u64 {
        let (url, key) = (url.clone(), app.key.clone());
        abandoned.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(std::time::Duration::from_micros(200 + (i % 10) * 300))
                .build()
                .unwrap();
            let _ = client
                .patch(url)
                .header("x-api-key", key)
                .json(&json!({"tags": [format!("t{i}")]}))
                .send()
                .await;
        }));
    }
    for task in abandoned {
        task.await.unwrap();
    }
    for i in 0..10 {
        let r = app
            .patch_agent(&id, &json!({"name": format!("Kept {i}")}))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let got = app.get_agent(&id).await;
    let versions = app.version_numbers(&id).await;
    let newest = versions[0];
    assert_eq!(got.etag(), format!("\"{newest}\""));
    let expected: Vec<u64> = (1..=newest).rev().collect();
    assert_eq!(
        versions, expected,
        "every stored version is whole and numbered without a gap"
    );
    if let Some(admin) = postgres_url() {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
            .await
            .unwrap();
        let stuck: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE state LIKE 'idle in transaction%' AND state_change < now() - interval '1 second'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(stuck, 0, "a connection was left inside a transaction");
    }
}

//! Retention: conversations that started more than `--conversation-retention-days` ago are erased
//! by the background task, in bounded batches, and the rest are kept; on PostgreSQL, instances
//! purging at once share the work.

use crate::support::*;
use serde_json::json;
use std::time::{Duration, Instant};

/// The conversations listed, once their number is `expected` (within a few seconds).
async fn until_listed(app: &TestApp, expected: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = app.get(&format!("{CONVERSATIONS}?pageSize=100")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let ids: Vec<String> = r
            .data()
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["conversationId"].as_str().unwrap().to_owned())
            .collect();
        if ids.len() == expected || Instant::now() > deadline {
            return ids;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_past_retention_are_erased_in_batches_and_the_rest_kept() {
    let app = TestApp::spawn().await;
    let agent = app.keeping_agent("Front desk", false).await;
    let day = 86_400;
    let now = chrono::Utc::now().timestamp();
    // Seven that started 31 to 37 days ago, and two within 30 days.
    for age in 31..38 {
        app.call_started(&agent, now - age * day).await;
    }
    let mut kept = vec![
        app.call_started(&agent, now - 29 * day).await,
        app.call_started(&agent, now - 3600).await,
    ];
    kept.reverse();
    assert_eq!(
        until_listed(&app, 9).await.len(),
        9,
        "nothing erased without retention"
    );
    // Restarted with 30 days' retention, 3 a batch: erased at start.
    let options = TestOptions {
        retention: dialplane_server::Retention {
            days: Some(30),
            batch: 3,
        },
        ..TestOptions::default()
    };
    let app = app.restarted_with(options).await;
    assert_eq!(until_listed(&app, 2).await, kept);
    if postgres_url().is_some() {
        // Two purges at once (as two instances would run them): every old one goes, once.
        for age in 31..71 {
            app.record(&json!({"agentId": agent, "direction": "inbound", "startTimeUnix": now - age * day}))
                .await;
        }
        let (a, b) = tokio::join!(app.purge_old_conversations(), app.purge_old_conversations());
        assert_eq!(a + b, 40, "each erased once");
        assert_eq!(until_listed(&app, 2).await, kept);
    }
}

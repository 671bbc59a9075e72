//! Prometheus metrics on their own listener: requests by method, matched route and status, latency
//! histograms, storage timing and rate-limit decisions.

use crate::rate_limit::{metric_value, scrape};
use crate::support::*;

#[tokio::test]
async fn metrics_count_requests_by_method_route_and_status() {
    let app = TestApp::spawn_with(TestOptions {
        rate_limit_per_minute: 100,
        ..TestOptions::default()
    })
    .await;
    let id = app.create_named("Counted").await;
    for _ in 0..3 {
        assert_eq!(app.get_agent(&id).await.status, 200);
    }
    app.get_agent("nope")
        .await
        .assert_error(400, "invalid_parameter");
    let metrics = scrape(&app).await;
    let get_ok = r#"dialplane_http_requests_total{method="GET",route="/api/public/v1/agents/{agentId}",status="200"}"#;
    assert_eq!(metric_value(&metrics, get_ok), 3.0, "{metrics}");
    let created = r#"dialplane_http_requests_total{method="POST",route="/api/public/v1/agents",status="201"}"#;
    assert_eq!(metric_value(&metrics, created), 1.0);
    let bad = r#"dialplane_http_requests_total{method="GET",route="/api/public/v1/agents/{agentId}",status="400"}"#;
    assert_eq!(metric_value(&metrics, bad), 1.0);
    let latency = r#"dialplane_http_request_duration_seconds_count{method="GET",route="/api/public/v1/agents/{agentId}",status="200"}"#;
    assert_eq!(metric_value(&metrics, latency), 3.0);
    assert!(metrics.contains("dialplane_http_request_duration_seconds_bucket{"));
    let storage =
        r#"dialplane_storage_operation_duration_seconds_count{operation="get_agent",outcome="ok"}"#;
    // With the agent cache (SQLite), storage is asked once; without it (PostgreSQL), every time.
    let loads = if app.db_url.starts_with("sqlite:") {
        1.0
    } else {
        3.0
    };
    assert_eq!(metric_value(&metrics, storage), loads);
    let allowed = r#"dialplane_rate_limit_decisions_total{decision="allowed"}"#;
    assert_eq!(
        metric_value(&metrics, allowed),
        5.0,
        "every authenticated request is decided"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_share_one_label_so_scanners_cannot_grow_the_metrics() {
    let app = TestApp::spawn().await;
    for path in ["/a", "/b", "/c/d"] {
        app.send(reqwest::Method::GET, path, None, &[], None).await;
    }
    for i in 0..5 {
        let method = reqwest::Method::from_bytes(format!("SCAN{i}").as_bytes()).unwrap();
        app.send(method, "/healthz", None, &[], None).await;
    }
    let metrics = scrape(&app).await;
    assert!(
        !metrics.contains("SCAN"),
        "methods are not free-form labels"
    );
    assert!(metrics.contains(r#"method="other""#), "{metrics}");
    let unmatched = r#"dialplane_http_requests_total{method="GET",route="unmatched",status="404"}"#;
    assert_eq!(metric_value(&metrics, unmatched), 3.0);
    assert!(!metrics.contains("route=\"/a\""));
}

#[tokio::test]
async fn on_sqlite_the_metrics_count_the_writes_and_the_commits_they_share() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(app.create_named(&format!("Batched {i}")).await);
    }
    let before = scrape(&app).await;
    let patches = ids.iter().cycle().take(32).enumerate().map(|(n, id)| {
        let body =
            serde_json::json!({"conversationConfig": {"tts": {"voiceId": format!("voice-{n}")}}});
        let app = &app;
        async move { app.patch_agent(id, &body).await.status }
    });
    let statuses = futures::future::join_all(patches).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let after = scrape(&app).await;
    if !app.db_url.starts_with("sqlite:") {
        // Every PostgreSQL write commits on its own: there is nothing to report.
        assert!(!after.contains("dialplane_sqlite_"), "{after}");
        return;
    }
    let grew = |name: &str| metric_value(&after, name) - metric_value(&before, name);
    assert_eq!(grew("dialplane_sqlite_writes_total"), 32.0, "{after}");
    let commits = grew("dialplane_sqlite_commits_total");
    assert!((1.0..=32.0).contains(&commits), "{commits} commits");
    // Every one of them was worked out beside the writer, on an agent it had just written.
    let prepared = grew("dialplane_sqlite_prepared_updates_used_total")
        + grew("dialplane_sqlite_prepared_updates_redone_total");
    assert_eq!(prepared, 32.0, "{after}");
    assert!(after.contains("# HELP dialplane_sqlite_commits Commits of the SQLite writer"));
}

#[tokio::test]
async fn conversation_writes_and_runtime_configurations_are_counted() {
    let app = TestApp::spawn().await;
    let agent = app.keeping_agent("Counted", false).await;
    let id = app.call_started(&agent, 1_000).await;
    let turn = serde_json::json!([{"role": "user", "text": "hi", "startMs": 0, "endMs": 1}]);
    for _ in 0..2 {
        assert_eq!(app.append_turns(&id, &turn).await.status, 200);
    }
    let done = serde_json::json!({"status": "completed"});
    assert_eq!(app.patch_conversation(&id, &done).await.status, 200);
    let config = agent_path(&agent, "/runtime-config");
    for _ in 0..3 {
        assert_eq!(app.get(&config).await.status, 200);
    }
    let metrics = scrape(&app).await;
    for (labels, count) in [
        (r#"operation="create",status="in_progress""#, 1.0),
        (r#"operation="turns",status="in_progress""#, 2.0),
        (r#"operation="update",status="completed""#, 1.0),
    ] {
        let counted = format!("dialplane_conversations_ingested_total{{{labels}}}");
        assert_eq!(metric_value(&metrics, &counted), count, "{labels}");
        let timed = format!("dialplane_conversation_ingestion_duration_seconds_count{{{labels}}}");
        assert_eq!(metric_value(&metrics, &timed), count, "{labels}");
    }
    // Built, then answered from memory (on PostgreSQL the instance may build it once more as it
    // starts listening for the other instances' changes).
    let answers = "dialplane_runtime_config_answers_total";
    let storage = metric_value(&metrics, &format!("{answers}{{source=\"storage\"}}"));
    let memory = metric_value(&metrics, &format!("{answers}{{source=\"memory\"}}"));
    assert_eq!(storage + memory, 3.0);
    assert!(
        storage >= 1.0 && memory >= 1.0,
        "storage {storage}, memory {memory}"
    );
}

#[tokio::test]
async fn webhook_attempts_pending_deliveries_and_failing_endpoints_are_measured() {
    use std::sync::Arc;
    let app = TestApp::spawn_with(TestOptions {
        webhooks: Some(webhook_options("1h")),
        ..TestOptions::default()
    })
    .await;
    let ok = Receiver::ok().await;
    let failing = Receiver::start("127.0.0.1:0", Arc::new(|_| Reply::Status(500))).await;
    app.create_endpoint(&ok.url("/"), &["agent.created"]).await;
    let (bad, _) = app
        .create_endpoint(&failing.url("/"), &["agent.created"])
        .await;
    app.create_named("Measured").await;
    ok.wait_for(1, std::time::Duration::from_secs(20)).await;
    failing
        .wait_for(1, std::time::Duration::from_secs(20))
        .await;
    let streak = format!("dialplane_webhook_endpoint_failure_streak{{endpoint=\"{bad}\"}}");
    let started = std::time::Instant::now();
    let metrics = loop {
        let metrics = scrape(&app).await;
        if metrics.contains(&streak)
            && metric_value(&metrics, "dialplane_webhook_deliveries_pending") == 1.0
        {
            break metrics;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{metrics}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(metric_value(&metrics, &streak), 1.0);
    let succeeded = r#"dialplane_webhook_attempts_total{result="succeeded"}"#;
    assert_eq!(metric_value(&metrics, succeeded), 1.0, "{metrics}");
    let rejected = r#"dialplane_webhook_attempts_total{result="rejected"}"#;
    assert_eq!(metric_value(&metrics, rejected), 1.0);
    assert_eq!(
        metric_value(
            &metrics,
            "dialplane_webhook_first_attempt_delay_seconds_count"
        ),
        2.0
    );
    // One delivery waits an hour for its next attempt: its age shows.
    assert!(metric_value(&metrics, "dialplane_webhook_oldest_pending_age_seconds") > 0.0);
}

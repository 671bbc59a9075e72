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

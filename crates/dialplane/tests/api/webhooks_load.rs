//! Deliveries under load: events stored compactly in the outbox and unpacked later, however many
//! rows they fill, and a worker (`--webhook-priority low`) that waits for a lull in the API's
//! requests, or `--webhook-max-lag`, before it claims.

use crate::rate_limit::{metric_value, scrape};
use crate::support::*;
use crate::webhooks_api::WAIT;
use dialplane_server::webhooks::WebhookOptions;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A request that stays under way: its head is sent, and only part of its body, until dropped.
async fn held_request(app: &TestApp) -> TcpStream {
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /api/public/v1/agents HTTP/1.1\r\nhost: {}\r\nx-api-key: {}\r\n\
         content-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"name\":",
        app.addr, app.key
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    stream
}

/// Waits until the app counts `n` requests under way (the held one is counted once its head is
/// read).
async fn until_under_way(app: &TestApp, n: usize) {
    let deadline = Instant::now() + WAIT;
    while app.state.webhooks.load().under_way() != n {
        assert!(Instant::now() < deadline, "never {n} requests under way");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// An app whose worker claims nothing: what writes store stays in the outbox.
async fn paused_app() -> TestApp {
    TestApp::spawn_with(TestOptions {
        webhooks: Some(WebhookOptions {
            paused: true,
            ..webhook_options("1s")
        }),
        ..TestOptions::default()
    })
    .await
}

fn options(max_lag: Duration) -> TestOptions {
    TestOptions {
        webhooks: Some(WebhookOptions {
            max_lag,
            ..webhook_options("1s")
        }),
        ..TestOptions::default()
    }
}

#[tokio::test]
async fn deliveries_wait_while_a_request_is_under_way_and_go_at_the_lull_after_it() {
    let app = TestApp::spawn_with(options(Duration::from_secs(600))).await;
    let receiver = Receiver::ok().await;
    app.create_endpoint(&receiver.url("/"), &["agent.created"])
        .await;
    let held = held_request(&app).await;
    until_under_way(&app, 1).await;
    app.create_named("Waits").await;
    // The event is stored and pending; nothing is sent while the held request is under way.
    let deadline = Instant::now() + Duration::from_millis(500);
    while Instant::now() < deadline {
        assert!(receiver.received().is_empty(), "delivered under load");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The metrics see it waiting, still in the outbox, while the worker yields.
    let deadline = Instant::now() + WAIT;
    loop {
        let metrics = scrape(&app).await;
        if metric_value(&metrics, "dialplane_webhook_deliveries_pending") == 1.0
            && metric_value(&metrics, "dialplane_webhook_oldest_pending_age_seconds") > 0.0
        {
            break;
        }
        assert!(Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // And the log shows it (reading the log unpacks the outbox first).
    assert_eq!(app.deliveries("?status=pending").await.len(), 1);
    until_under_way(&app, 1).await;
    assert!(receiver.received().is_empty());
    // The request ends: the lull after it lets the delivery go, long before the lag.
    drop(held);
    let got = receiver.wait_for(1, WAIT).await;
    assert_eq!(got[0].json()["type"], "agent.created");
}

#[tokio::test]
async fn deliveries_go_beside_requests_that_never_stop_once_they_are_max_lag_late() {
    let lag = Duration::from_millis(1500);
    let app = TestApp::spawn_with(options(lag)).await;
    let receiver = Receiver::ok().await;
    app.create_endpoint(&receiver.url("/"), &["agent.created"])
        .await;
    let _held = held_request(&app).await;
    until_under_way(&app, 1).await;
    let created = Instant::now();
    app.create_named("Late").await;
    receiver.wait_for(1, WAIT).await;
    assert!(
        created.elapsed() >= lag - Duration::from_millis(100),
        "delivered after {:?}, before the lag",
        created.elapsed()
    );
    // The held request is still under way: the delivery did not wait for it to end.
    assert_eq!(app.state.webhooks.load().under_way(), 1);
}

#[tokio::test]
async fn many_outbox_rows_are_all_unpacked_and_delivered() {
    let app = paused_app().await;
    let receiver = Receiver::ok().await;
    app.create_endpoint(&receiver.url("/"), &["agent.created"])
        .await;
    // One write at a time: a row each, more than one unpacking statement takes.
    for n in 0..150 {
        app.create_named(&format!("Row {n}")).await;
    }
    // Every page of the pending log (reading it unpacks the outbox first).
    let listed = app.all_deliveries("status=pending", 100).await;
    assert_eq!(listed.len(), 150);
    // And a worker delivers them all.
    let app = app
        .restarted_with(TestOptions {
            webhooks: Some(webhook_options("1s")),
            ..TestOptions::default()
        })
        .await;
    let got = receiver.wait_for(150, WAIT).await;
    assert_eq!(got.len(), 150);
    let deadline = Instant::now() + WAIT;
    while !app.deliveries("?status=pending").await.is_empty() {
        assert!(Instant::now() < deadline, "deliveries still pending");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The outbox's rows, counted in the database.
async fn outbox_rows(app: &TestApp) -> String {
    let rows = query_strings(
        &app.db_url,
        "SELECT CAST(COUNT(*) AS TEXT) FROM webhook_outbox",
    )
    .await;
    rows.concat()
}

#[tokio::test]
async fn a_claim_unpacks_its_share_of_the_outbox_oldest_first_and_a_read_of_the_log_the_rest() {
    let app = paused_app().await;
    let receiver = Receiver::ok().await;
    app.create_endpoint(&receiver.url("/"), &["agent.created"])
        .await;
    // One write at a time: a row of one delivery each.
    let mut created = Vec::new();
    for n in 0..30 {
        created.push(app.create_named(&format!("Row {n}")).await);
    }
    assert_eq!(outbox_rows(&app).await, "30");
    let claim = dialplane_store::webhooks::ClaimDeliveries {
        token: "test".into(),
        limit: 10,
        lease_ms: 60_000,
        busy: Vec::new(),
        in_flight: Vec::new(),
    };
    let claims = app
        .state
        .store
        .claim_webhook_deliveries(claim)
        .await
        .unwrap();
    // The claim took ten, those of the ten oldest rows (in whatever order), and left the rest
    // packed.
    let mut agents: Vec<String> = claims
        .claimed
        .iter()
        .map(|c| {
            let payload: serde_json::Value = serde_json::from_str(&c.payload).unwrap();
            payload["data"]["agentId"].as_str().unwrap().to_owned()
        })
        .collect();
    agents.sort();
    let mut oldest = created[..10].to_vec();
    oldest.sort();
    assert_eq!(agents, oldest);
    assert_eq!(outbox_rows(&app).await, "20");
    // A read of the log sees every delivery: it unpacks everything first.
    assert_eq!(
        app.deliveries("?status=pending&pageSize=100").await.len(),
        30
    );
    assert_eq!(outbox_rows(&app).await, "0");
}

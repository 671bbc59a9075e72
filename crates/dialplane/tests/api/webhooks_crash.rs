//! Deliveries survive what servers go through: a SIGKILL between commits and their deliveries and
//! during attempts (every acknowledged change is delivered after the restart, on either backend),
//! a graceful stop that lets an attempt under way finish, and three instances over one PostgreSQL
//! database delivering every event once.

use crate::cli::{minimal, Server};
use crate::support::*;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_before_and_during_attempts_loses_no_event() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    // Until the kill, every attempt hangs past its time limit: two are under way when it comes,
    // and the rest were committed and never attempted.
    let answering = Arc::new(AtomicBool::new(false));
    let open = answering.clone();
    let receiver = Receiver::start(
        "127.0.0.1:0",
        Arc::new(move |_| {
            if open.load(Ordering::SeqCst) {
                Reply::Status(200)
            } else {
                Reply::Hang
            }
        }),
    )
    .await;
    let args = [
        "--database",
        db.url.as_str(),
        "--allow-private-urls",
        "--webhook-timeout-ms",
        "1000",
        "--webhook-retry-schedule",
        "100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms",
        "--webhook-concurrency",
        "2",
        "--webhook-poll-ms",
        "50",
    ];
    let client = reqwest::Client::new();
    let mut server = Server::start_with(dir.path(), &args, &[]).await;
    let key = server.bootstrap_key().await;
    let r = client
        .post(server.url("/api/public/v1/webhook-endpoints"))
        .header("x-api-key", &key)
        .json(&serde_json::json!({"url": receiver.url("/"), "eventTypes": ["agent.created"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let mut acknowledged = HashSet::new();
    for _ in 0..20 {
        let r = client
            .post(server.url("/api/public/v1/agents"))
            .header("x-api-key", &key)
            .json(&minimal())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.unwrap();
        acknowledged.insert(body["data"]["agentId"].as_str().unwrap().to_owned());
    }
    // Two attempts are hanging at the receiver: kill now.
    receiver.wait_for(2, WAIT).await;
    server.child.start_kill().unwrap();
    server.child.wait().await.unwrap();
    answering.store(true, Ordering::SeqCst);

    let server = Server::start_with(dir.path(), &args, &[]).await;
    let started = Instant::now();
    loop {
        // Read the log first: a delivery is recorded succeeded only after the receiver had it.
        let succeeded = server
            .get_json(
                "/api/public/v1/webhook-deliveries?status=succeeded&pageSize=100",
                &key,
            )
            .await;
        let delivered: HashSet<String> = receiver
            .received()
            .iter()
            .filter_map(|r| serde_json::from_str::<Value>(&r.body).ok())
            .filter_map(|b| b["data"]["agentId"].as_str().map(str::to_owned))
            .collect();
        if succeeded["data"].as_array().unwrap().len() == acknowledged.len() {
            let missing: Vec<_> = acknowledged.difference(&delivered).collect();
            assert!(
                missing.is_empty(),
                "succeeded but never received: {missing:?}; {succeeded}"
            );
            break;
        }
        assert!(
            started.elapsed() < WAIT,
            "{} of {} acknowledged changes delivered",
            acknowledged.intersection(&delivered).count(),
            acknowledged.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Each event kept one id through the kill: its deliveries name the ids the receiver saw.
    let ids: HashSet<String> = receiver.received().into_iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), acknowledged.len());
}

#[tokio::test]
async fn a_graceful_stop_lets_an_attempt_under_way_finish_and_records_it() {
    let options = TestOptions {
        webhooks: Some(webhook_options("1h")),
        ..TestOptions::default()
    };
    let app = TestApp::spawn_with(options.clone()).await;
    let receiver = Receiver::start("127.0.0.1:0", Arc::new(|_| Reply::Slow(500, 200))).await;
    app.create_endpoint(&receiver.url("/"), &["agent.created"])
        .await;
    app.create_named("Slow goodbye").await;
    receiver.wait_for(1, WAIT).await;
    // The attempt is under way: stop, then look through a new instance.
    let app = app.restarted_with(options).await;
    let d = &app.deliveries("").await[0];
    assert_eq!(d["status"], "succeeded", "{d}");
    assert_eq!(d["attempts"], 1);
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set DIALPLANE_TEST_POSTGRES_URL and pass --include-ignored"]
async fn three_instances_deliver_every_event_once() {
    assert!(
        postgres_url().is_some(),
        "this test needs PostgreSQL: set {POSTGRES_URL_VAR}"
    );
    let options = TestOptions {
        webhooks: Some(webhook_options("100ms")),
        ..TestOptions::default()
    };
    let a = TestApp::spawn_with(options).await;
    let apps = [a.another_instance().await, a.another_instance().await, a];
    let receiver = Receiver::start("127.0.0.1:0", Arc::new(|_| Reply::Slow(20, 200))).await;
    apps[0]
        .create_endpoint(&receiver.url("/"), &["agent.created", "agent.updated"])
        .await;
    let mut writes = Vec::new();
    for i in 0..60 {
        let app = &apps[i % 3];
        writes.push(async move {
            let id = app.create_named(&format!("Agent {i}")).await;
            app.patch_agent(&id, &serde_json::json!({"tags": ["t"]}))
                .await;
        });
    }
    futures::future::join_all(writes).await;
    receiver.wait_for(120, WAIT).await;
    // Every delivery is recorded once it is answered; a second sending of one would have been on
    // its way by then. Allow it a moment to arrive.
    let started = Instant::now();
    while !apps[0].deliveries("?status=pending").await.is_empty() {
        assert!(started.elapsed() < WAIT, "deliveries still pending");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = receiver.received();
    let mut per_event: HashMap<String, usize> = HashMap::new();
    for r in &got {
        *per_event.entry(r.id.clone()).or_default() += 1;
    }
    assert_eq!(per_event.len(), 120, "every event");
    let twice: Vec<_> = per_event.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
}

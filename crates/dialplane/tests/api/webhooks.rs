//! Webhook delivery against real local receivers: what is sent and how it is signed, retries on
//! the schedule with one event id, the end of retries and redelivery, 410, Retry-After, a hanging
//! receiver, an endless answer, a redirect, and endpoints disabled after failing for long enough.

use crate::support::*;
use dialplane_server::webhooks::{Priority, WebhookOptions};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

async fn app_with(schedule: &str) -> TestApp {
    TestApp::spawn_with(TestOptions {
        webhooks: Some(webhook_options(schedule)),
        ..TestOptions::default()
    })
    .await
}

#[tokio::test]
async fn agent_changes_reach_a_subscribed_endpoint_signed_with_its_secret() {
    let app = app_with("1s").await;
    let receiver = Receiver::ok().await;
    let (endpoint, secret) = app
        .create_endpoint(
            &receiver.url("/hooks"),
            &["agent.created", "agent.updated", "agent.deleted"],
        )
        .await;
    let id = app.create_named("Front desk").await;
    let r = app.patch_agent(&id, &json!({"tags": ["reception"]})).await;
    assert_eq!(r.status, 200);
    assert_eq!(app.delete_agent(&id).await.status, 200);

    let got = receiver.wait_for(3, WAIT).await;
    let mut bodies: Vec<Value> = got.iter().map(Received::json).collect();
    bodies.sort_by_key(|b| b["data"]["version"].as_u64());
    let types: Vec<&str> = bodies.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(types.len(), 3);
    for got in &got {
        assert_signed(&secret, got);
        assert_eq!(got.path, "/hooks");
        // The event's time, RFC 3339.
        let body = got.json();
        assert!(chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap()).is_ok());
    }
    let updated = bodies
        .iter()
        .find(|b| b["type"] == "agent.updated")
        .expect("agent.updated");
    assert_eq!(
        updated["data"],
        json!({"agentId": id, "version": 2, "changedPaths": ["/tags/0"]})
    );
    let created = bodies
        .iter()
        .find(|b| b["type"] == "agent.created")
        .unwrap();
    assert_eq!(
        created["data"],
        json!({"agentId": id, "version": 1, "changedPaths": []})
    );
    let deleted = bodies
        .iter()
        .find(|b| b["type"] == "agent.deleted")
        .unwrap();
    assert_eq!(deleted["data"]["version"], 2);

    // The log shows each delivery, succeeded at the first attempt, to that endpoint.
    let mut listed = Vec::new();
    for _ in 0..100 {
        listed = app.deliveries(&format!("?endpointId={endpoint}")).await;
        if listed.iter().all(|d| d["status"] == "succeeded") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(listed.len(), 3);
    for d in &listed {
        assert_eq!(d["status"], "succeeded", "{d}");
        assert_eq!(d["attempts"], 1);
        assert_eq!(d["lastStatusCode"], 200);
        assert_eq!(
            d["target"],
            json!({"kind": "endpoint", "endpointId": endpoint, "url": receiver.url("/hooks")})
        );
        assert!(got.iter().any(|g| g.id == d["eventId"]));
    }
    // Newest first.
    assert_eq!(listed[0]["eventType"], "agent.deleted");
}

/// The nice value of each of this process's threads named `name`.
fn nice_of_threads(name: &str) -> Vec<i64> {
    let mut nice = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").expect("/proc") {
        let dir = task.expect("a thread").path();
        let (Ok(comm), Ok(stat)) = (
            std::fs::read_to_string(dir.join("comm")),
            std::fs::read_to_string(dir.join("stat")),
        ) else {
            continue; // It ended meanwhile.
        };
        if comm.trim() == name {
            // After the command's closing parenthesis: state, then 15 fields, then the nice value.
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .unwrap()
                .1
                .split_whitespace()
                .collect();
            nice.push(fields[16].parse().unwrap());
        }
    }
    nice
}

/// `--webhook-priority low` (the default): the worker and its sends run on threads of their own at
/// nice 19, and deliver; `normal` delivers too. (Which threads a `normal` worker runs on is not
/// told apart here: the tests running beside it have low-priority workers of their own.)
#[tokio::test]
async fn deliveries_run_at_the_lowest_cpu_priority_and_normal_ones_deliver_too() {
    for priority in [Priority::Low, Priority::Normal] {
        let app = TestApp::spawn_with(TestOptions {
            webhooks: Some(WebhookOptions {
                priority,
                ..webhook_options("1s")
            }),
            ..TestOptions::default()
        })
        .await;
        let receiver = Receiver::ok().await;
        let (_, secret) = app
            .create_endpoint(&receiver.url("/p"), &["agent.created"])
            .await;
        app.create_named("Prioritised").await;
        assert_signed(&secret, &receiver.wait_for(1, WAIT).await[0]);
        let nice = nice_of_threads("webhooks");
        if priority == Priority::Low {
            assert!(
                !nice.is_empty(),
                "this app's worker runs on a thread of its own"
            );
        }
        // Every worker thread of the tests running now is at nice 19 (the others are `low` too).
        assert!(nice.iter().all(|n| *n == 19), "{nice:?}");
    }
}

#[tokio::test]
async fn endpoints_get_only_the_types_they_subscribe_to_and_dry_runs_and_no_ops_send_nothing() {
    let app = app_with("1s").await;
    let receiver = Receiver::ok().await;
    app.create_endpoint(&receiver.url("/"), &["agent.updated"])
        .await;
    let id = app.create_named("Quiet").await;
    // Nothing changed: no event.
    let r = app.patch_agent(&id, &json!({"name": "Quiet"})).await;
    assert_eq!(r.status, 200);
    // A dry run: no event.
    let r = app
        .json(
            Method::PATCH,
            &format!("/api/public/v1/agents/{id}?dryRun=true"),
            &app.key.clone(),
            &json!({"name": "Dry"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // This one changes the agent.
    app.patch_agent(&id, &json!({"name": "Loud"})).await;
    let got = receiver.wait_for(1, WAIT).await;
    assert_eq!(got[0].json()["type"], "agent.updated");
    assert_eq!(got[0].json()["data"]["changedPaths"], json!(["/name"]));
    // Give the worker every chance to send anything else it had.
    let delivered = app.deliveries("").await;
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn a_receiver_failing_twice_gets_three_attempts_of_one_event_on_the_schedule() {
    let app = app_with("300ms,600ms").await;
    let receiver = Receiver::start(
        "127.0.0.1:0",
        Arc::new(|n| Reply::Status(if n < 2 { 500 } else { 200 })),
    )
    .await;
    app.create_endpoint(&receiver.url("/"), &["agent.created"])
        .await;
    app.create_named("Retried").await;
    let got = receiver.wait_for(3, WAIT).await;
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|g| g.id == got[0].id), "one event id");
    let gaps = [got[1].at - got[0].at, got[2].at - got[1].at];
    for (gap, delay) in gaps.iter().zip([300u64, 600]) {
        let delay = Duration::from_millis(delay);
        assert!(
            *gap >= delay.mul_f64(0.9),
            "{gap:?} is shorter than {delay:?} - 10 %"
        );
        assert!(
            *gap < delay.mul_f64(1.1) + Duration::from_millis(400),
            "{gap:?} is late"
        );
    }
    let delivery = app.newest_delivery("").await;
    let detail = app.delivery_reaches(&delivery, "succeeded", WAIT).await;
    assert_eq!(detail["attempts"], 3);
    let codes: Vec<&Value> = detail["attemptLog"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["statusCode"])
        .collect();
    assert_eq!(codes, [&json!(500), &json!(500), &json!(200)]);
    assert_eq!(detail["attemptLog"][0]["error"], "answered 500");
    assert_eq!(detail["nextAttemptAt"], Value::Null);
}

#[tokio::test]
async fn after_its_last_attempt_a_delivery_is_failed_and_can_be_redelivered_by_hand() {
    let app = app_with("100ms").await;
    let receiver = Receiver::start(
        "127.0.0.1:0",
        Arc::new(|n| Reply::Status(if n < 2 { 503 } else { 204 })),
    )
    .await;
    app.create_endpoint(&receiver.url("/"), &["agent.created"])
        .await;
    app.create_named("Dead letter").await;
    receiver.wait_for(2, WAIT).await;
    let id = app.newest_delivery("").await;
    let failed = app.delivery_reaches(&id, "failed", WAIT).await;
    assert_eq!(
        (failed["attempts"].clone(), failed["lastStatusCode"].clone()),
        (json!(2), json!(503))
    );
    assert_eq!(app.deliveries("?status=failed").await.len(), 1);
    assert_eq!(app.deliveries("?status=pending").await.len(), 0);

    let redeliver = format!("/api/public/v1/webhook-deliveries/{id}/redeliver");
    let r = app
        .json(Method::POST, &redeliver, &app.key.clone(), &json!({}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let got = receiver.wait_for(3, WAIT).await;
    assert_eq!(got[2].id, got[0].id, "the same webhook-id");
    assert_eq!(got[2].body, got[0].body, "the same body");
    let done = app.delivery_reaches(&id, "succeeded", WAIT).await;
    assert_eq!(done["attempts"], 3);
    assert_eq!(done["lastStatusCode"], 204);
    // Read keys cannot redeliver.
    let reader = app
        .new_key("default", dialplane_core::Scope::Read, "rita")
        .await;
    let r = app
        .json(Method::POST, &redeliver, &reader, &json!({}))
        .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn a_pending_delivery_is_not_redelivered_twice() {
    let app = app_with("10m").await;
    let receiver = Receiver::start("127.0.0.1:0", Arc::new(|_| Reply::Status(500))).await;
    app.create_endpoint(&receiver.url("/"), &["agent.created"])
        .await;
    app.create_named("Pending").await;
    receiver.wait_for(1, WAIT).await;
    let id = app.newest_delivery("").await;
    let pending = app.delivery_reaches(&id, "pending", WAIT).await;
    assert!(pending["nextAttemptAt"].is_string());
    let r = app
        .json(
            Method::POST,
            &format!("/api/public/v1/webhook-deliveries/{id}/redeliver"),
            &app.key.clone(),
            &json!({}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code()),
        (409, "conflict"),
        "{}",
        r.text
    );
    let r = app
        .json(
            Method::POST,
            "/api/public/v1/webhook-deliveries/0193a5b2-7c1d-7e3f-9a4b-5c6d7e8f9a0b/redeliver",
            &app.key.clone(),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn a_410_disables_the_endpoint_and_tells_the_workspaces_other_endpoints() {
    let app = app_with("100ms,100ms").await;
    let gone = Receiver::start("127.0.0.1:0", Arc::new(|_| Reply::Status(410))).await;
    let watcher = Receiver::ok().await;
    let (gone_id, _) = app
        .create_endpoint(&gone.url("/"), &["agent.created"])
        .await;
    let (_, secret) = app
        .create_endpoint(&watcher.url("/"), &["endpoint.disabled"])
        .await;
    app.create_named("One").await;
    let told = watcher.wait_for(1, WAIT).await;
    assert_signed(&secret, &told[0]);
    let body = told[0].json();
    assert_eq!(body["type"], "endpoint.disabled");
    assert_eq!(body["data"]["endpointId"], gone_id.as_str());
    assert!(body["data"]["reason"].as_str().unwrap().contains("410"));
    let endpoint = app
        .send(
            Method::GET,
            &format!("/api/public/v1/webhook-endpoints/{gone_id}"),
            Some(&app.key),
            &[],
            None,
        )
        .await;
    assert_eq!(endpoint.data()["disabled"], true);
    assert!(endpoint.data()["disabledReason"]
        .as_str()
        .unwrap()
        .contains("410"));
    let metadata = &endpoint.data()["metadata"];
    assert!(
        metadata["updatedAt"].as_str() > metadata["createdAt"].as_str(),
        "disabling it is a change of it: {metadata}"
    );
    // One attempt only, and nothing more goes to it.
    app.create_named("Two").await;
    let failed = app.deliveries(&format!("?endpointId={gone_id}")).await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["status"], "failed");
    assert_eq!(gone.received().len(), 1);
    // A PATCH enables it again.
    let r = app
        .json(
            Method::PATCH,
            &format!("/api/public/v1/webhook-endpoints/{gone_id}"),
            &app.key.clone(),
            &json!({"disabled": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (
            r.data()["disabled"].clone(),
            r.data()["disabledReason"].clone()
        ),
        (json!(false), Value::Null)
    );
}

#[tokio::test]
async fn an_endpoint_failing_every_attempt_for_the_set_time_is_disabled() {
    let app = TestApp::spawn_with(TestOptions {
        webhooks: Some(dialplane_server::webhooks::WebhookOptions {
            disable_after: Duration::from_millis(400),
            ..webhook_options("100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms")
        }),
        ..TestOptions::default()
    })
    .await;
    let failing = Receiver::start("127.0.0.1:0", Arc::new(|_| Reply::Status(500))).await;
    let (id, _) = app
        .create_endpoint(&failing.url("/"), &["agent.created"])
        .await;
    app.create_named("Doomed").await;
    let started = Instant::now();
    let path = format!("/api/public/v1/webhook-endpoints/{id}");
    loop {
        let r = app
            .send(Method::GET, &path, Some(&app.key), &[], None)
            .await;
        if r.data()["disabled"] == true {
            let reason = r.data()["disabledReason"].as_str().unwrap().to_owned();
            assert!(
                reason.contains("every attempt failed for 400ms"),
                "{reason}"
            );
            break;
        }
        assert!(started.elapsed() < WAIT, "never disabled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Disabled at the first attempt past 400 ms of failures: far fewer than all nine.
    let attempts = failing.received().len();
    assert!((4..9).contains(&attempts), "{attempts} attempts");
    let d = &app.deliveries("").await[0];
    assert_eq!(d["status"], "failed");
}

#[tokio::test]
async fn retry_after_on_429_replaces_the_scheduled_delay() {
    let app = app_with("30s").await;
    let receiver = Receiver::start(
        "127.0.0.1:0",
        Arc::new(|n| {
            if n == 0 {
                Reply::RetryAfter(429, 1)
            } else {
                Reply::Status(200)
            }
        }),
    )
    .await;
    app.create_endpoint(&receiver.url("/"), &["agent.created"])
        .await;
    app.create_named("Throttled").await;
    let got = receiver.wait_for(2, WAIT).await;
    let gap = got[1].at - got[0].at;
    assert!(
        gap >= Duration::from_millis(900) && gap < Duration::from_secs(5),
        "{gap:?}"
    );
}

#[tokio::test]
async fn a_receiver_that_hangs_times_out_and_an_endless_answer_is_cut_at_4_kib() {
    let app = TestApp::spawn_with(TestOptions {
        webhooks: Some(dialplane_server::webhooks::WebhookOptions {
            timeout: Duration::from_millis(500),
            ..webhook_options("1h")
        }),
        ..TestOptions::default()
    })
    .await;
    let hanging = Receiver::start("127.0.0.1:0", Arc::new(|_| Reply::Hang)).await;
    let endless = Receiver::start("127.0.0.1:0", Arc::new(|_| Reply::Endless)).await;
    let (hang_id, _) = app
        .create_endpoint(&hanging.url("/"), &["agent.created"])
        .await;
    let (endless_id, _) = app
        .create_endpoint(&endless.url("/"), &["agent.created"])
        .await;
    let started = Instant::now();
    app.create_named("Slow receivers").await;

    let hung = app.newest_delivery(&format!("?endpointId={hang_id}")).await;
    let ok = app
        .newest_delivery(&format!("?endpointId={endless_id}"))
        .await;
    let done = app.delivery_reaches(&ok, "succeeded", WAIT).await;
    let log = &done["attemptLog"][0];
    assert_eq!(log["statusCode"], 200);
    assert_eq!(log["responseBody"].as_str().unwrap().len(), 4096);
    // The hanging one: one attempt, failed by the time limit, next one scheduled.
    let d = app.delivery_after(&hung, 1, WAIT).await;
    assert_eq!(d["attempts"], 1);
    let error = d["lastError"].as_str().unwrap();
    assert!(error.contains("no answer within 500 ms"), "{error}");
    assert_eq!(d["status"], "pending");
    assert_eq!(d["lastStatusCode"], Value::Null);
    assert!(d["attemptLog"][0]["durationMs"].as_u64().unwrap() >= 450);
    assert!(started.elapsed() >= Duration::from_millis(450));
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let app = app_with("1h").await;
    let receiver =
        Receiver::start("127.0.0.1:0", Arc::new(|_| Reply::Redirect("/elsewhere"))).await;
    app.create_endpoint(&receiver.url("/first"), &["agent.created"])
        .await;
    app.create_named("Redirected").await;
    receiver.wait_for(1, WAIT).await;
    let id = app.newest_delivery("").await;
    let d = app.delivery_after(&id, 1, WAIT).await;
    assert_eq!(d["lastStatusCode"], 302);
    assert_eq!(d["lastError"], "redirects are not followed");
    let paths: Vec<String> = receiver.received().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/first"]);
}

/// An answer of bytes that are not text (invalid UTF-8, NUL, which PostgreSQL's text refuses) is
/// logged with U+FFFD in their place, and the attempt is recorded like any other.
#[tokio::test]
async fn an_answer_that_is_not_text_is_logged_readable() {
    let app = app_with("1h").await;
    let receiver = Receiver::start(
        "127.0.0.1:0",
        Arc::new(|_| Reply::Body(200, b"ok\0\xff done")),
    )
    .await;
    app.create_endpoint(&receiver.url("/bytes"), &["agent.created"])
        .await;
    app.create_named("Binary answer").await;
    receiver.wait_for(1, WAIT).await;
    let id = app.newest_delivery("").await;
    let d = app.delivery_after(&id, 1, WAIT).await;
    assert_eq!(d["status"], "succeeded", "{d}");
    assert_eq!(
        d["attemptLog"][0]["responseBody"],
        "ok\u{FFFD}\u{FFFD} done"
    );
}

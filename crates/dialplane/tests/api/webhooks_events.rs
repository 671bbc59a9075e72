//! Which events reach whom: a conversation's to its agent's `postCallWebhook` (signed with the
//! workspace secret) and to subscribed endpoints, the detail as `GET` answered it then; a document
//! that became ready; erasing a conversation cancels its deliveries and blanks what was kept.

use crate::support::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

async fn app() -> TestApp {
    TestApp::spawn_with(TestOptions {
        webhooks: Some(webhook_options("100ms")),
        ..TestOptions::default()
    })
    .await
}

/// An agent whose `postCallWebhook` is `url`.
async fn agent_posting_to(app: &TestApp, url: &str) -> String {
    let id = app.keeping_agent("Calls", false).await;
    let r = app
        .patch_agent(
            &id,
            &json!({"platformSettings": {"callActions": {"postCallWebhook": url}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    id
}

#[tokio::test]
async fn a_finished_call_reaches_its_agents_post_call_webhook_then_its_analysis() {
    let app = app().await;
    let hook = Receiver::ok().await;
    let agent = agent_posting_to(&app, &hook.url("/post-call")).await;
    let secret = app.workspace_secret().await;
    let id = app.call_started(&agent, 1_764_930_000).await;
    // In progress: nothing yet.
    let r = app
        .patch_conversation(
            &id,
            &json!({"status": "completed", "endTimeUnix": 1_764_930_095, "summary": "Booked"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let got = hook.wait_for(1, WAIT).await;
    assert_signed(&secret, &got[0]);
    let body = got[0].json();
    assert_eq!(body["type"], "conversation.completed");
    // The detail exactly as GET answered it when the call finished.
    let detail = app
        .send(
            Method::GET,
            &conversation_path(&id, ""),
            Some(&app.key),
            &[],
            None,
        )
        .await;
    assert_eq!(body["data"], *detail.data());

    let r = app
        .patch_conversation(&id, &json!({"summary": "Booked for four"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let got = hook.wait_for(2, WAIT).await;
    let analyzed = got[1].json();
    assert_eq!(analyzed["type"], "conversation.analyzed");
    assert_eq!(analyzed["data"]["summary"], "Booked for four");
    assert_ne!(got[0].id, got[1].id, "two events");
    assert_signed(&secret, &got[1]);

    let listed = app.deliveries(&format!("?agentId={agent}")).await;
    assert_eq!(listed.len(), 2);
    assert_eq!(
        listed[0]["target"],
        json!({"kind": "postCallWebhook", "agentId": agent, "url": hook.url("/post-call")})
    );
    assert_eq!(
        app.deliveries("?eventType=conversation.completed")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn the_workspace_secret_rotates_and_both_secrets_sign_for_a_day() {
    let app = app().await;
    let hook = Receiver::ok().await;
    let agent = agent_posting_to(&app, &hook.url("/")).await;
    let old = app.workspace_secret().await;
    assert!(old.starts_with("whsec_"));
    assert_eq!(app.workspace_secret().await, old, "the same until rotated");
    let r = app
        .json(
            Method::POST,
            "/api/public/v1/webhook-secret/rotate",
            &app.key.clone(),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new = r.data()["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    let until =
        chrono::DateTime::parse_from_rfc3339(r.data()["previousSecretExpiresAt"].as_str().unwrap())
            .unwrap();
    let hours = (until.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes();
    assert!((23 * 60..=24 * 60).contains(&hours), "{hours} minutes");
    let id = app.call_started(&agent, 1_764_930_000).await;
    app.patch_conversation(
        &id,
        &json!({"status": "failed", "endTimeUnix": 1_764_930_010}),
    )
    .await;
    let got = hook.wait_for(1, WAIT).await;
    assert_eq!(
        got[0].signature.split(' ').count(),
        2,
        "{}",
        got[0].signature
    );
    assert_signed(&new, &got[0]);
    assert_signed(&old, &got[0]);
    // Read keys do not see the secret.
    let reader = app
        .new_key("default", dialplane_core::Scope::Read, "rita")
        .await;
    let r = app
        .send(
            Method::GET,
            "/api/public/v1/webhook-secret",
            Some(&reader),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn endpoints_subscribed_to_conversation_events_get_them_too() {
    let app = app().await;
    let endpoint = Receiver::ok().await;
    let (_, secret) = app
        .create_endpoint(&endpoint.url("/"), &["conversation.completed"])
        .await;
    let agent = app.keeping_agent("No hook", false).await;
    let id = app.call_started(&agent, 1_764_930_000).await;
    app.patch_conversation(
        &id,
        &json!({"status": "cancelled", "endTimeUnix": 1_764_930_001}),
    )
    .await;
    let got = endpoint.wait_for(1, WAIT).await;
    assert_signed(&secret, &got[0]);
    assert_eq!(got[0].json()["data"]["conversationId"], id.as_str());
    assert_eq!(got[0].json()["data"]["status"], "cancelled");
    // The agent has no postCallWebhook: one delivery only.
    assert_eq!(app.deliveries("").await.len(), 1);
}

#[tokio::test]
async fn a_document_that_becomes_ready_is_announced() {
    let app = app().await;
    let receiver = Receiver::ok().await;
    app.create_endpoint(&receiver.url("/"), &["document.ready", "document.failed"])
        .await;
    let document = app
        .text_document("Parking", "Park behind the building.")
        .await;
    let got = receiver.wait_for(1, WAIT).await;
    let body = got[0].json();
    assert_eq!(body["type"], "document.ready");
    assert_eq!(body["data"]["documentId"], document.as_str());
    assert_eq!(body["data"]["status"], "ready");
    assert_eq!(body["data"]["name"], "Parking");
}

/// A call of an agent posting to `receiver`, finished, with its delivery's first attempt recorded
/// (retries an hour apart): the app, the conversation's id, the delivery's id and detail.
async fn finished_call_attempted(receiver: &Receiver) -> (TestApp, String, String, Value) {
    let app = TestApp::spawn_with(TestOptions {
        webhooks: Some(webhook_options("1h")),
        ..TestOptions::default()
    })
    .await;
    let agent = agent_posting_to(&app, &receiver.url("/")).await;
    let id = app.call_started(&agent, 1_764_930_000).await;
    app.patch_conversation(
        &id,
        &json!({"status": "completed", "endTimeUnix": 1_764_930_095}),
    )
    .await;
    receiver.wait_for(1, WAIT).await;
    let delivery = app.newest_delivery("").await;
    let detail = app.delivery_after(&delivery, 1, WAIT).await;
    (app, id, delivery, detail)
}

/// Erases the conversation, then asks for its delivery again: the answer to that.
async fn erase_then_redeliver(app: &TestApp, conversation: &str, delivery: &str) -> Resp {
    let r = app
        .send(
            Method::DELETE,
            &conversation_path(conversation, ""),
            Some(&app.key),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.json(
        Method::POST,
        &format!("/api/public/v1/webhook-deliveries/{delivery}/redeliver"),
        &app.key.clone(),
        &json!({}),
    )
    .await
}

#[tokio::test]
async fn erasing_a_conversation_cancels_its_deliveries_and_blanks_what_was_kept() {
    let failing = Receiver::start("127.0.0.1:0", Arc::new(|_| Reply::Status(500))).await;
    let (app, id, delivery, detail) = finished_call_attempted(&failing).await;
    // Its one attempt is recorded, the next an hour away.
    assert_eq!(detail["status"], "pending");
    let r = erase_then_redeliver(&app, &id, &delivery).await;
    assert_eq!(r.status, 409, "{}", r.text);
    let detail = app.delivery(&delivery).await;
    assert_eq!(detail.data()["status"], "cancelled");
    assert_eq!(detail.data()["attemptLog"][0]["responseBody"], Value::Null);
    // The payload is blank in storage too.
    let payloads = app.stored_payloads().await;
    assert_eq!(payloads, vec![String::new()]);
}

#[tokio::test]
async fn a_delivery_of_an_erased_conversation_is_not_redelivered() {
    let receiver = Receiver::ok().await;
    let (app, id, delivery, detail) = finished_call_attempted(&receiver).await;
    assert_eq!(detail["status"], "succeeded");
    let r = erase_then_redeliver(&app, &id, &delivery).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.text.contains("erased"), "{}", r.text);
    let detail = app.delivery(&delivery).await;
    assert_eq!(detail.data()["status"], "succeeded", "unchanged");
    assert_eq!(detail.data()["attemptLog"].as_array().unwrap().len(), 1);
    assert_eq!(receiver.received().len(), 1, "nothing more was sent");
}

#[tokio::test]
async fn duplicate_restore_json_patch_and_a_number_assignment_are_agent_events() {
    let app = app().await;
    let receiver = Receiver::ok().await;
    app.create_endpoint(&receiver.url("/"), &["agent.created", "agent.updated"])
        .await;
    let id = app.create_named("Original").await;
    app.patch_agent(&id, &json!({"name": "Renamed"})).await;
    let r = app.post_empty(&agent_path(&id, "/duplicate"), &[]).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let copy = r.data()["agentId"].as_str().unwrap().to_owned();
    let r = app
        .post_empty(&agent_path(&id, "/versions/1/restore"), &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .send(
            Method::PATCH,
            &agent_path(&id, ""),
            Some(&app.key),
            &[("content-type", "application/json-patch+json")],
            Some(br#"[{"op": "add", "path": "/tags/-", "value": "patched"}]"#.to_vec()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .json(
            Method::POST,
            "/api/public/v1/phone-numbers",
            &app.key.clone(),
            &json!({"number": "+14155550123", "provider": "twilio", "agentId": id}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // created, renamed, duplicated, restored, JSON-patched, given a number.
    let got = receiver.wait_for(6, WAIT).await;
    let mut events: Vec<(String, String, Value)> = got
        .iter()
        .map(|g| {
            let b = g.json();
            (
                b["data"]["agentId"].as_str().unwrap().to_owned(),
                b["type"].as_str().unwrap().to_owned(),
                b["data"]["changedPaths"].clone(),
            )
        })
        .collect();
    events.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let of = |agent: &str| -> Vec<(String, Value)> {
        events
            .iter()
            .filter(|e| e.0 == agent)
            .map(|e| (e.1.clone(), e.2.clone()))
            .collect()
    };
    assert_eq!(of(&copy), [("agent.created".to_owned(), json!([]))]);
    let original = of(&id);
    assert_eq!(original.len(), 5, "{original:?}");
    assert_eq!(
        original.iter().filter(|e| e.0 == "agent.created").count(),
        1
    );
    assert!(
        original.contains(&("agent.updated".to_owned(), json!(["/phoneNumbers"]))),
        "{original:?}"
    );
    assert!(
        original.contains(&("agent.updated".to_owned(), json!(["/tags/0"]))),
        "{original:?}"
    );
}

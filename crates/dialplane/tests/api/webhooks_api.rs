//! The endpoints API: what a create takes and refuses (every problem at its pointer), the secret
//! shown once, listing, merge patches, deletion (pending deliveries cancelled), rotation, the test
//! ping, and the routes that take no body. The delivery log is `webhooks_log`.

use crate::support::*;
use dialplane_core::webhooks::verify;
use dialplane_core::Scope;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub(crate) const ENDPOINTS: &str = "/api/public/v1/webhook-endpoints";
pub(crate) const WAIT: Duration = Duration::from_secs(20);

pub(crate) async fn app() -> TestApp {
    TestApp::spawn_with(TestOptions {
        webhooks: Some(webhook_options("1h")),
        ..TestOptions::default()
    })
    .await
}

pub(crate) fn endpoint_path(id: &str, rest: &str) -> String {
    format!("{ENDPOINTS}/{id}{rest}")
}

/// The problems of a validation error, pointer to code.
fn problems(r: &Resp) -> BTreeMap<String, String> {
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.error_code(), "validation_error", "{}", r.text);
    r.body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["path"].as_str().unwrap().to_owned(),
                d["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_create_names_every_problem_at_its_pointer_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let key = app.key.clone();
    let post = |body: Value| {
        let app = &app;
        let key = key.clone();
        async move { app.json(Method::POST, ENDPOINTS, &key, &body).await }
    };
    let r = post(json!({"url": "http://hooks.example.com/x", "eventTypes": [], "extra": 1})).await;
    assert_eq!(
        problems(&r),
        BTreeMap::from([
            ("/url".into(), "invalid_format".into()),
            ("/eventTypes".into(), "too_short".into()),
            ("/extra".into(), "unknown_field".into()),
        ])
    );
    let r =
        post(json!({"url": "ftp://127.0.0.1/", "eventTypes": ["ping", "agent.renamed", 3]})).await;
    assert_eq!(
        problems(&r),
        BTreeMap::from([
            ("/url".into(), "invalid_format".into()),
            ("/eventTypes/0".into(), "invalid_value".into()),
            ("/eventTypes/1".into(), "invalid_value".into()),
            ("/eventTypes/2".into(), "invalid_type".into()),
        ])
    );
    // The URL rule of an agent's postCallWebhook: stored and sent as given, so no spaces or
    // control characters anywhere (the URL parser would drop or encode them silently).
    for url in [
        " http://127.0.0.1/ok",
        "http://127.0.0.1/ok x",
        "http://127.0.0.1/o\tk",
        "http://127.0.0.1/ok\n",
    ] {
        let r = post(json!({"url": url, "eventTypes": ["agent.created"]})).await;
        assert_eq!(
            problems(&r),
            BTreeMap::from([("/url".into(), "invalid_format".into())]),
            "{url:?}"
        );
        assert!(
            r.text.contains("without spaces or control characters"),
            "{}",
            r.text
        );
    }
    let r = post(json!({"description": "x".repeat(501), "endpointId": "x", "metadata": {}})).await;
    assert_eq!(
        problems(&r),
        BTreeMap::from([
            ("/url".into(), "required".into()),
            ("/eventTypes".into(), "required".into()),
            ("/description".into(), "too_long".into()),
            ("/endpointId".into(), "read_only".into()),
            ("/metadata".into(), "read_only".into()),
        ])
    );
    let listed = app
        .send(Method::GET, ENDPOINTS, Some(&key), &[], None)
        .await;
    assert_eq!(listed.data(), &json!([]));
    // Read keys may list, not create.
    let reader = app
        .new_key("default", dialplane_core::Scope::Read, "rita")
        .await;
    let r = app
        .json(
            Method::POST,
            ENDPOINTS,
            &reader,
            &json!({"url": "https://hooks.example.com/", "eventTypes": ["agent.created"]}),
        )
        .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn the_secret_is_shown_at_creation_and_rotation_only() {
    let app = app().await;
    let receiver = Receiver::ok().await;
    let r = app
        .json(
            Method::POST,
            ENDPOINTS,
            &app.key.clone(),
            &json!({"url": receiver.url("/"), "eventTypes": ["agent.created", "agent.created"],
                    "description": "CRM sync"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let data = r.data().clone();
    let id = data["endpointId"].as_str().unwrap().to_owned();
    let first = data["secret"].as_str().unwrap().to_owned();
    assert!(first.starts_with("whsec_"));
    assert_eq!(
        data["eventTypes"],
        json!(["agent.created"]),
        "each type once"
    );
    assert_eq!(
        (
            data["disabled"].clone(),
            data["disabledReason"].clone(),
            data["description"].clone()
        ),
        (json!(false), Value::Null, json!("CRM sync"))
    );
    assert_eq!(data["metadata"]["createdBy"]["userId"], "alice");

    let got = app
        .send(
            Method::GET,
            &endpoint_path(&id, ""),
            Some(&app.key),
            &[],
            None,
        )
        .await;
    assert_eq!(got.status, 200);
    assert!(got.data().get("secret").is_none(), "{}", got.text);
    let listed = app
        .send(Method::GET, ENDPOINTS, Some(&app.key), &[], None)
        .await;
    assert!(!listed.text.contains("whsec_"));

    let rotate = || async {
        let r = app
            .json(
                Method::POST,
                &endpoint_path(&id, "/rotate-secret"),
                &app.key.clone(),
                &json!({}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.data()["secret"].as_str().unwrap().to_owned()
    };
    let second = rotate().await;
    assert_ne!(first, second);
    // A second rotation within the day cuts short no overlap: all three sign the next delivery.
    let third = rotate().await;
    app.create_named("Signed thrice").await;
    let got = receiver.wait_for(1, WAIT).await;
    assert_eq!(
        got[0].signature.split(' ').count(),
        3,
        "{}",
        got[0].signature
    );
    let at: i64 = got[0].timestamp.parse().unwrap();
    for secret in [&first, &second, &third] {
        assert_eq!(
            verify(
                secret,
                &got[0].id,
                at,
                got[0].body.as_bytes(),
                &got[0].signature,
                at
            ),
            Ok(())
        );
    }
}

#[tokio::test]
async fn a_patch_merges_refuses_the_secret_and_a_delete_cancels_what_is_pending() {
    let app = app().await;
    let failing = Receiver::start("127.0.0.1:0", Arc::new(|_| Reply::Status(500))).await;
    let (id, _) = app
        .create_endpoint(&failing.url("/a"), &["agent.created"])
        .await;
    let key = app.key.clone();
    let path = endpoint_path(&id, "");
    let r = app
        .json(
            Method::PATCH,
            &path,
            &key,
            &json!({"secret": "whsec_x", "url": null, "disabled": "no", "disabledReason": "x"}),
        )
        .await;
    assert_eq!(
        problems(&r),
        BTreeMap::from([
            ("/secret".into(), "read_only".into()),
            ("/disabledReason".into(), "read_only".into()),
            ("/url".into(), "invalid_type".into()),
            ("/disabled".into(), "invalid_type".into()),
        ])
    );
    let spaced = format!("{} x", failing.url("/b"));
    let r = app
        .json(Method::PATCH, &path, &key, &json!({"url": spaced}))
        .await;
    assert_eq!(
        problems(&r),
        BTreeMap::from([("/url".into(), "invalid_format".into())])
    );
    let r = app
        .json(
            Method::PATCH,
            &path,
            &key,
            &json!({"url": failing.url("/b"), "eventTypes": ["agent.created", "agent.deleted"], "description": "B"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.data()["url"], failing.url("/b"));
    assert_eq!(
        r.data()["eventTypes"],
        json!(["agent.created", "agent.deleted"])
    );
    let r = app
        .json(Method::PATCH, &path, &key, &json!({"description": null}))
        .await;
    assert_eq!(r.data()["description"], "");
    assert_eq!(r.data()["url"], failing.url("/b"), "kept");

    app.create_named("Never delivered").await;
    failing.wait_for(1, WAIT).await;
    assert_eq!(failing.received()[0].path, "/b");
    let r = app.send(Method::DELETE, &path, Some(&key), &[], None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.data(), &json!({"endpointId": id, "deleted": true}));
    let d = &app.deliveries("").await[0];
    assert_eq!(d["status"], "cancelled");
    assert_eq!(d["lastError"], "the endpoint was deleted");
    let r = app.send(Method::GET, &path, Some(&key), &[], None).await;
    assert_eq!(r.status, 404);
    let r = app.send(Method::DELETE, &path, Some(&key), &[], None).await;
    assert_eq!(r.status, 404);
    let r = app
        .send(
            Method::GET,
            &endpoint_path("nope", ""),
            Some(&key),
            &[],
            None,
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code()),
        (400, "invalid_parameter")
    );
}

/// The outbox fans out to the endpoints as they stand when the write commits: every change of an
/// endpoint (its types, disabling and enabling it, deleting it, a new one) counts from the next
/// write on, in the same workspace only. (The SQLite writer keeps each workspace's endpoints in
/// memory; this is what proves it never answers from a stale copy.)
#[tokio::test]
async fn the_fan_out_follows_every_endpoint_change_from_the_next_write() {
    let app = app().await;
    let receiver = Receiver::ok().await;
    let key = app.key.clone();
    let (e, _) = app
        .create_endpoint(&receiver.url("/e"), &["agent.created"])
        .await;
    let agent = app.create_named("Fanned out").await;
    let updated = |endpoint: &str| format!("?endpointId={endpoint}&eventType=agent.updated");
    let mut version = 0;
    let mut patch = || {
        version += 1;
        json!({"tags": [format!("v{version}")]})
    };
    assert_eq!(app.patch_agent(&agent, &patch()).await.status, 200);
    assert_eq!(
        app.deliveries(&updated(&e)).await.len(),
        0,
        "not subscribed"
    );

    let path = endpoint_path(&e, "");
    let change = |body: Value| {
        let (app, key, path) = (&app, key.clone(), path.clone());
        async move {
            let r = app.json(Method::PATCH, &path, &key, &body).await;
            assert_eq!(r.status, 200, "{}", r.text);
        }
    };
    change(json!({"eventTypes": ["agent.created", "agent.updated"]})).await;
    assert_eq!(app.patch_agent(&agent, &patch()).await.status, 200);
    assert_eq!(
        app.deliveries(&updated(&e)).await.len(),
        1,
        "subscribed now"
    );

    change(json!({"disabled": true})).await;
    assert_eq!(app.patch_agent(&agent, &patch()).await.status, 200);
    assert_eq!(app.deliveries(&updated(&e)).await.len(), 1, "disabled");

    change(json!({"disabled": false})).await;
    assert_eq!(app.patch_agent(&agent, &patch()).await.status, 200);
    assert_eq!(app.deliveries(&updated(&e)).await.len(), 2, "enabled again");

    let r = app.send(Method::DELETE, &path, Some(&key), &[], None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (f, _) = app
        .create_endpoint(&receiver.url("/f"), &["agent.updated"])
        .await;
    assert_eq!(app.patch_agent(&agent, &patch()).await.status, 200);
    assert_eq!(app.deliveries(&updated(&f)).await.len(), 1, "the new one");
    let all = app.deliveries("?eventType=agent.updated").await;
    assert_eq!(all.len(), 3, "none to the deleted one: {all:?}");

    let other = app.new_key("another", Scope::Write, "olga").await;
    let r = app
        .create_agent_as(&other, &minimal_agent("Elsewhere"))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let elsewhere = r.data()["agentId"].as_str().unwrap().to_owned();
    let r = app.patch_agent_as(&other, &elsewhere, &patch()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        app.deliveries("?eventType=agent.updated").await.len(),
        3,
        "another workspace's writes reach none of these endpoints"
    );
}

/// A delivery's id is a UUIDv7 of the moment its write queued it, on both backends (PostgreSQL
/// makes the ids of an agent event's deliveries in the statement that stores them): the log's
/// purge walks ids oldest first and stops at the first one made after its cutoff.
#[tokio::test]
async fn the_test_ping_is_sent_now_and_answers_its_attempt() {
    let app = app().await;
    let receiver = Receiver::ok().await;
    let (id, secret) = app
        .create_endpoint(&receiver.url("/"), &["agent.created"])
        .await;
    let r = app
        .json(
            Method::POST,
            &endpoint_path(&id, "/test"),
            &app.key.clone(),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.data()["eventType"], "ping");
    assert_eq!(r.data()["status"], "succeeded");
    assert_eq!(r.data()["attemptLog"][0]["statusCode"], 200);
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["data"], json!({"endpointId": id}));
    let at: i64 = got[0].timestamp.parse().unwrap();
    assert_eq!(
        verify(
            &secret,
            &got[0].id,
            at,
            got[0].body.as_bytes(),
            &got[0].signature,
            at
        ),
        Ok(())
    );

    let failing = Receiver::start("127.0.0.1:0", Arc::new(|_| Reply::Status(500))).await;
    let (bad, _) = app
        .create_endpoint(&failing.url("/"), &["agent.created"])
        .await;
    let r = app
        .json(
            Method::POST,
            &endpoint_path(&bad, "/test"),
            &app.key.clone(),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (
            r.data()["status"].clone(),
            r.data()["lastStatusCode"].clone()
        ),
        (json!("failed"), json!(500))
    );
}

#[tokio::test]
async fn the_routes_that_need_no_body_refuse_one_they_cannot_take_and_change_nothing() {
    let app = app().await;
    let receiver = Receiver::ok().await;
    let (id, _) = app
        .create_endpoint(&receiver.url("/"), &["agent.created"])
        .await;
    let before = app.workspace_secret().await;
    let missing = "0193a5b2-7c1d-7e3f-9a4b-5c6d7e8f9a0b";
    let routes = [
        "/api/public/v1/webhook-secret/rotate".to_owned(),
        endpoint_path(&id, "/rotate-secret"),
        endpoint_path(&id, "/test"),
        format!("/api/public/v1/webhook-deliveries/{missing}/redeliver"),
        format!("/api/public/v1/knowledge-base/documents/{missing}/refresh"),
    ];
    for path in &routes {
        let r = app
            .json(
                Method::POST,
                path,
                &app.key.clone(),
                &json!({"force": true}),
            )
            .await;
        assert_eq!(
            problems(&r),
            BTreeMap::from([("/force".to_owned(), "unknown_field".to_owned())]),
            "{path}"
        );
        let text = app
            .send(
                Method::POST,
                path,
                Some(&app.key),
                &[("content-type", "text/plain")],
                Some(b"rotate please".to_vec()),
            )
            .await;
        text.assert_error(415, "unsupported_media_type");
    }
    assert_eq!(app.workspace_secret().await, before, "not rotated");
    assert!(receiver.received().is_empty(), "no ping sent");
    // With no body (or an empty object) they do their work.
    let r = app
        .send(Method::POST, &routes[0], Some(&app.key), &[], None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_ne!(app.workspace_secret().await, before, "rotated");
}

//! The delivery log: the URL each delivery last went to, delivery ids that tell when their write
//! queued them, pages newest first, filters, and expiry.

use crate::support::*;
use crate::webhooks_api::{app, endpoint_path, WAIT};
use dialplane_store::webhooks::{now_ms, PurgeDeliveryLog};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;

#[tokio::test]
async fn the_log_shows_the_url_a_delivery_last_went_to() {
    let app = TestApp::spawn_with(TestOptions {
        webhooks: Some(webhook_options("1s")),
        ..TestOptions::default()
    })
    .await;
    let receiver = Receiver::start(
        "127.0.0.1:0",
        Arc::new(|n| Reply::Status(if n == 0 { 500 } else { 204 })),
    )
    .await;
    let (id, _) = app
        .create_endpoint(&receiver.url("/old"), &["agent.created"])
        .await;
    app.create_named("Moved").await;
    receiver.wait_for(1, WAIT).await;
    let delivery = app.newest_delivery("").await;
    let detail = app.delivery_after(&delivery, 1, WAIT).await;
    assert_eq!(detail["target"]["url"], receiver.url("/old"));
    let key = app.key.clone();
    let r = app
        .json(
            Method::PATCH,
            &endpoint_path(&id, ""),
            &key,
            &json!({"url": receiver.url("/new")}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The retry goes to the endpoint's URL as it now is, and the log says so.
    let detail = app.delivery_after(&delivery, 2, WAIT).await;
    assert_eq!(detail["status"], "succeeded", "{detail}");
    let paths: Vec<String> = receiver.received().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/old", "/new"]);
    assert_eq!(detail["target"]["url"], receiver.url("/new"));
}

#[tokio::test]
async fn a_delivery_id_is_a_uuid_v7_of_when_its_write_queued_it() {
    let app = app().await;
    let receiver = Receiver::ok().await;
    let (e, _) = app
        .create_endpoint(&receiver.url("/e"), &["agent.created", "agent.updated"])
        .await;
    let before = now_ms();
    let agent = app.create_named("Timed").await;
    let r = app.patch_agent(&agent, &json!({"tags": ["t"]})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let after = now_ms();
    let deliveries = app.deliveries(&format!("?endpointId={e}")).await;
    assert_eq!(deliveries.len(), 2, "{deliveries:?}");
    let mut ids = Vec::new();
    for d in &deliveries {
        let id = d["deliveryId"].as_str().unwrap();
        assert_eq!(id.len(), 36, "{id}");
        assert_eq!(&id[14..15], "7", "version 7: {id}");
        assert!("89ab".contains(&id[19..20]), "RFC 4122 variant: {id}");
        let ms = i64::from_str_radix(&id.replace('-', "")[..12], 16).unwrap();
        assert!(
            (before..=after).contains(&ms),
            "{id}: {ms} not in {before}..={after}"
        );
        assert_eq!(d["target"]["url"], receiver.url("/e"), "{d}");
        ids.push(id.to_owned());
    }
    assert_ne!(ids[0], ids[1]);
}

#[tokio::test]
async fn the_delivery_log_pages_newest_first_filters_and_expires() {
    let app = app().await;
    let receiver = Receiver::ok().await;
    let (a, _) = app
        .create_endpoint(&receiver.url("/a"), &["agent.created"])
        .await;
    let (b, _) = app
        .create_endpoint(&receiver.url("/b"), &["agent.created", "agent.updated"])
        .await;
    for n in 0..3 {
        let id = app.create_named(&format!("Agent {n}")).await;
        if n == 0 {
            app.patch_agent(&id, &json!({"tags": ["x"]})).await;
        }
    }
    receiver.wait_for(7, WAIT).await;
    let seen: Vec<Value> = app
        .all_deliveries("", 3)
        .await
        .iter()
        .map(|d| d["deliveryId"].clone())
        .collect();
    assert_eq!(seen.len(), 7);
    let mut sorted = seen.clone();
    sorted.sort_by(|x, y| y.as_str().cmp(&x.as_str()));
    assert_eq!(seen, sorted, "newest first, each once");
    assert_eq!(app.deliveries(&format!("?endpointId={a}")).await.len(), 3);
    assert_eq!(app.deliveries(&format!("?endpointId={b}")).await.len(), 4);
    assert_eq!(
        app.deliveries(&format!("?endpointId={b}&eventType=agent.updated"))
            .await
            .len(),
        1
    );
    for bad in [
        "?status=done",
        "?eventType=agent.renamed",
        "?endpointId=x",
        "?pageSize=0",
        "?cursor=zz",
    ] {
        let r = app
            .send(
                Method::GET,
                &format!("/api/public/v1/webhook-deliveries{bad}"),
                Some(&app.key),
                &[],
                None,
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), r.error_code()),
            (400, "invalid_parameter"),
            "{bad}"
        );
    }
    // Another workspace sees none of it.
    let other = app
        .new_key("other", dialplane_core::Scope::Write, "olga")
        .await;
    let r = app
        .send(
            Method::GET,
            "/api/public/v1/webhook-deliveries",
            Some(&other),
            &[],
            None,
        )
        .await;
    assert_eq!(r.data(), &json!([]));
    let one = seen[0].as_str().unwrap();
    let r = app
        .send(
            Method::GET,
            &format!("/api/public/v1/webhook-deliveries/{one}"),
            Some(&other),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 404);

    // Past --webhook-log-days the log forgets ended deliveries: 404, and no redelivery. One still
    // pending (its receiver fails; the next attempt is an hour away) is kept, however old.
    for id in &seen {
        app.delivery_reaches(id.as_str().unwrap(), "succeeded", WAIT)
            .await;
    }
    let failing = Receiver::start("127.0.0.1:0", Arc::new(|_| Reply::Status(500))).await;
    let (c, _) = app
        .create_endpoint(&failing.url("/c"), &["agent.deleted"])
        .await;
    let doomed = app.create_named("Deleted").await;
    assert_eq!(app.delete_agent(&doomed).await.status, 200);
    failing.wait_for(1, WAIT).await;
    let pending = app.newest_delivery(&format!("?endpointId={c}")).await;
    // The new agent's agent.created went to the first two endpoints: 9 deliveries end.
    for d in app.deliveries("").await {
        let id = d["deliveryId"].as_str().unwrap();
        if id != pending {
            app.delivery_reaches(id, "succeeded", WAIT).await;
        }
    }
    let write = |before| {
        app.store.write(PurgeDeliveryLog {
            before,
            limit: 1000,
        })
    };
    let first = now_ms() - 60_000;
    assert_eq!(write(first).await.unwrap(), 0, "none ended a minute ago");
    let purged = write(now_ms() + 1).await.unwrap();
    assert_eq!(purged, 9);
    assert_eq!(app.delivery(one).await.status, 404);
    assert_eq!(app.delivery(&pending).await.status, 200, "pending: kept");
    let r = app
        .json(
            Method::POST,
            &format!("/api/public/v1/webhook-deliveries/{one}/redeliver"),
            &app.key.clone(),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        app.stored_payloads().await.len(),
        1,
        "events without deliveries go too; the pending one's stays"
    );
}

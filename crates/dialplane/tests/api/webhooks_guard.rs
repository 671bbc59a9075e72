//! The SSRF guard at delivery time: receivers on 127.0.0.1, [::1] and localhost refused without
//! `--allow-private-urls` and reached with it; `http` URLs to other hosts refused at save time; and a
//! name that rebinds to a refused address between two attempts, through a resolver the test
//! controls. Nothing connects beyond loopback; the other ranges are classified in unit tests
//! (`net::tests`, `net::post::tests`).

use crate::support::*;
use dialplane_server::net::fetch::Lookup;
use dialplane_server::net::post::Poster;
use dialplane_server::net::AddressPolicy;
use dialplane_server::webhooks::{WebhookOptions, MAX_RESPONSE_BODY};
use reqwest::Method;
use serde_json::json;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn guarded(policy: AddressPolicy, lookup: Arc<dyn Lookup>, allow_private: bool) -> TestOptions {
    TestOptions {
        webhooks: Some(WebhookOptions {
            poster: Poster::new(policy, lookup, MAX_RESPONSE_BODY),
            allow_private_urls: allow_private,
            ..webhook_options("100ms")
        }),
        ..TestOptions::default()
    }
}

/// Three receivers, one per loopback spelling, and their URLs.
async fn loopback_receivers() -> (Vec<Receiver>, Vec<String>) {
    let v4 = Receiver::ok().await;
    let v6 = Receiver::start("[::1]:0", Arc::new(|_| Reply::Status(200))).await;
    let named = Receiver::ok().await;
    let urls = vec![
        v4.url("/"),
        format!("http://[::1]:{}/", v6.addr.port()),
        format!("http://localhost:{}/", named.addr.port()),
    ];
    (vec![v4, v6, named], urls)
}

#[tokio::test]
async fn loopback_receivers_are_refused_without_allow_private_urls() {
    let app = TestApp::spawn_with(guarded(
        AddressPolicy::GlobalOnly,
        Arc::new(dialplane_server::net::fetch::SystemLookup),
        false,
    ))
    .await;
    let (receivers, urls) = loopback_receivers().await;
    let mut endpoints = Vec::new();
    for url in &urls {
        // http to a loopback host is a valid URL; where it leads is judged at delivery.
        endpoints.push(app.create_endpoint(url, &["agent.created"]).await.0);
    }
    app.create_named("Guarded").await;
    for endpoint in &endpoints {
        let d = app.endpoint_delivery_after(endpoint, 1, WAIT).await;
        let error = d["lastError"].as_str().unwrap();
        assert!(error.starts_with("refused: "), "{error}");
        assert_eq!(d["lastStatusCode"], serde_json::Value::Null);
    }
    for r in &receivers {
        assert!(r.received().is_empty(), "a refused address was reached");
    }
    let metrics = crate::rate_limit::scrape(&app).await;
    assert!(
        metrics.contains("dialplane_webhook_attempts_total{result=\"refused\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn loopback_receivers_are_reached_with_allow_private_urls() {
    let app = TestApp::spawn_with(guarded(
        AddressPolicy::Any,
        Arc::new(dialplane_server::net::fetch::SystemLookup),
        true,
    ))
    .await;
    let (receivers, urls) = loopback_receivers().await;
    for url in &urls {
        app.create_endpoint(url, &["agent.created"]).await;
    }
    app.create_named("Private deployment").await;
    for r in &receivers {
        assert_eq!(r.wait_for(1, WAIT).await.len(), 1);
    }
}

#[tokio::test]
async fn http_urls_to_other_hosts_are_refused_at_save_unless_private_urls_are_allowed() {
    let strict = TestApp::spawn_with(guarded(
        AddressPolicy::GlobalOnly,
        Arc::new(dialplane_server::net::fetch::SystemLookup),
        false,
    ))
    .await;
    let body = json!({"url": "http://hooks.invalid:8080/", "eventTypes": ["agent.created"]});
    let r = strict
        .json(
            Method::POST,
            "/api/public/v1/webhook-endpoints",
            &strict.key.clone(),
            &body,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["error"]["details"][0]["path"], "/url");
    // No event is subscribed to in this test: nothing is ever sent there.
    let lenient = TestApp::spawn_with(guarded(
        AddressPolicy::Any,
        Arc::new(dialplane_server::net::fetch::SystemLookup),
        true,
    ))
    .await;
    let r = lenient
        .json(
            Method::POST,
            "/api/public/v1/webhook-endpoints",
            &lenient.key.clone(),
            &body,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

/// Answers 127.0.0.1 for the first lookup and 127.0.0.2 after: a name rebound between attempts.
struct Rebinding(AtomicUsize);

impl Lookup for Rebinding {
    fn lookup(
        &self,
        _host: &str,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>> {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        let ip: IpAddr = if n == 0 { "127.0.0.1" } else { "127.0.0.2" }
            .parse()
            .unwrap();
        Box::pin(async move { Ok(vec![ip]) })
    }
}

#[tokio::test]
async fn a_name_rebound_to_a_refused_address_is_refused_at_the_next_attempt() {
    // 127.0.0.1 stands in for a public address; 127.0.0.2 for a private one.
    let allowed: IpAddr = "127.0.0.1".parse().unwrap();
    let app = TestApp::spawn_with(guarded(
        AddressPolicy::Custom(Arc::new(move |ip| ip == allowed)),
        Arc::new(Rebinding(AtomicUsize::new(0))),
        true,
    ))
    .await;
    // It closes the connection: a kept-alive one, to the address checked when it was opened, would
    // be used again without a lookup.
    let receiver = Receiver::start("127.0.0.1:0", Arc::new(|_| Reply::Close(500))).await;
    let url = format!("http://hooks.test:{}/", receiver.addr.port());
    let (endpoint, _) = app.create_endpoint(&url, &["agent.created"]).await;
    app.create_named("Rebound").await;
    receiver.wait_for(1, WAIT).await;
    let d = app.endpoint_delivery_after(&endpoint, 2, WAIT).await;
    let error = d["lastError"].as_str().unwrap();
    assert!(error.contains("127.0.0.2"), "{error}");
    assert!(error.starts_with("refused: "), "{error}");
    assert_eq!(
        receiver.received().len(),
        1,
        "the second attempt connected nowhere"
    );
}

//! Webhook receivers the tests start on loopback, answering as a script says (a status, a hang, an
//! endless body, a redirect), recording every request; delivery options for tests; and helpers for
//! the endpoints and deliveries routes.

use super::{Resp, TestApp};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use dialplane_server::net::fetch::SystemLookup;
use dialplane_server::net::post::Poster;
use dialplane_server::net::AddressPolicy;
use dialplane_server::webhooks::{WebhookOptions, MAX_RESPONSE_BODY};
use reqwest::Method;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How a receiver answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    /// A status, and the connection closed (`Connection: close`): the next attempt connects anew.
    Close(u16),
    /// A status with a `Retry-After` of so many seconds.
    RetryAfter(u16, u64),
    /// Answers `status` after so many milliseconds.
    Slow(u64, u16),
    /// Never answers.
    Hang,
    /// 200 with a body that never ends.
    Endless,
    /// A 302 to this path of the same receiver.
    Redirect(&'static str),
    /// A status with these bytes as the body.
    Body(u16, &'static [u8]),
}

/// Which reply the `n`th request (0-based) gets.
pub type Script = Arc<dyn Fn(usize) -> Reply + Send + Sync>;

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub path: String,
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: String,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

struct Shared {
    script: Script,
    got: Mutex<Vec<Received>>,
    more: Notify,
}

/// A local HTTP receiver.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Receiver {
    /// A receiver on 127.0.0.1 answering 200 to everything.
    pub async fn ok() -> Self {
        Self::start("127.0.0.1:0", Arc::new(|_| Reply::Status(200))).await
    }

    /// A receiver bound to `bind` answering as `script` says.
    pub async fn start(bind: &str, script: Script) -> Self {
        let shared = Arc::new(Shared {
            script,
            got: Mutex::new(Vec::new()),
            more: Notify::new(),
        });
        let state = shared.clone();
        let router = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move { answer(&state, uri.path(), &headers, body).await }
            },
        );
        let listener = tokio::net::TcpListener::bind(bind).await.expect("binds");
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { addr, shared }
    }

    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.got.lock().unwrap().clone()
    }

    /// Waits (up to `within`) until `n` requests have come, and answers them all.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let more = self.shared.more.notified();
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!("{} request(s) came within {within:?}, not {n}", got.len());
            }
            let _ = tokio::time::timeout(left, more).await;
        }
    }
}

async fn answer(state: &Shared, path: &str, headers: &HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let n = {
        let mut got = state.got.lock().unwrap();
        got.push(Received {
            at: Instant::now(),
            path: path.to_owned(),
            id: header("webhook-id"),
            timestamp: header("webhook-timestamp"),
            signature: header("webhook-signature"),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        got.len() - 1
    };
    state.more.notify_waiters();
    match (state.script)(n) {
        Reply::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
        Reply::Close(code) => (
            StatusCode::from_u16(code).unwrap(),
            [("connection", "close")],
        )
            .into_response(),
        Reply::RetryAfter(code, seconds) => (
            StatusCode::from_u16(code).unwrap(),
            [("retry-after", seconds.to_string())],
        )
            .into_response(),
        Reply::Slow(ms, code) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            StatusCode::from_u16(code).unwrap().into_response()
        }
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::OK.into_response()
        }
        Reply::Endless => {
            let chunk = Bytes::from(vec![b'x'; 16 * 1024]);
            let stream =
                futures::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
            (StatusCode::OK, Body::from_stream(stream)).into_response()
        }
        Reply::Redirect(to) => (StatusCode::FOUND, [("location", to)]).into_response(),
        Reply::Body(status, bytes) => (
            StatusCode::from_u16(status).unwrap(),
            Body::from(Bytes::from_static(bytes)),
        )
            .into_response(),
    }
}

/// What a test app delivers unless it asks for more: nothing (deliveries are recorded, and no
/// attempt resolves or connects anywhere), so that no test reaches beyond this machine by accident.
pub fn silent_webhooks() -> WebhookOptions {
    WebhookOptions {
        poster: Poster::new(
            AddressPolicy::Nothing,
            Arc::new(SystemLookup),
            MAX_RESPONSE_BODY,
        ),
        ..WebhookOptions::default()
    }
}

/// Delivery options for tests: loopback allowed, the given retry delays, a quick worker.
pub fn webhook_options(schedule: &str) -> WebhookOptions {
    WebhookOptions {
        schedule: schedule.parse().expect("a schedule"),
        timeout: Duration::from_secs(2),
        poll: Duration::from_millis(50),
        poster: Poster::new(
            AddressPolicy::Any,
            Arc::new(SystemLookup),
            MAX_RESPONSE_BODY,
        ),
        allow_private_urls: true,
        ..WebhookOptions::default()
    }
}

impl TestApp {
    /// Adds an endpoint for `types` at `url`: its id and secret.
    pub async fn create_endpoint(&self, url: &str, types: &[&str]) -> (String, String) {
        let r = self
            .json(
                Method::POST,
                "/api/public/v1/webhook-endpoints",
                &self.key,
                &json!({"url": url, "eventTypes": types}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let id = r.data()["endpointId"].as_str().unwrap().to_owned();
        (id, r.data()["secret"].as_str().unwrap().to_owned())
    }

    /// The workspace's webhook secret (`GET /webhook-secret`).
    pub async fn workspace_secret(&self) -> String {
        let r = self
            .send(
                Method::GET,
                "/api/public/v1/webhook-secret",
                Some(&self.key),
                &[],
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.data()["secret"].as_str().unwrap().to_owned()
    }

    pub async fn deliveries(&self, query: &str) -> Vec<Value> {
        self.deliveries_page(query).await.0
    }

    /// One page of the delivery log for `query`, and the cursor of the next if there is one.
    async fn deliveries_page(&self, query: &str) -> (Vec<Value>, Option<String>) {
        let r = self
            .send(
                Method::GET,
                &format!("/api/public/v1/webhook-deliveries{query}"),
                Some(&self.key),
                &[],
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let next = r.body["pagination"]["nextCursor"]
            .as_str()
            .map(str::to_owned);
        (r.data().as_array().unwrap().clone(), next)
    }

    /// Every page of the delivery log for `filters` (`""`: all; else `a=b&c=d`), `page_size` a
    /// page, in the order the pages list them.
    pub async fn all_deliveries(&self, filters: &str, page_size: u32) -> Vec<Value> {
        let first = match filters {
            "" => format!("?pageSize={page_size}"),
            _ => format!("?pageSize={page_size}&{filters}"),
        };
        let (mut listed, mut next) = self.deliveries_page(&first).await;
        while let Some(cursor) = next {
            let query = format!("{first}&cursor={cursor}");
            let (page, after) = self.deliveries_page(&query).await;
            listed.extend(page);
            next = after;
        }
        listed
    }

    /// The id of the newest delivery the log lists for `query` (`""`: all).
    pub async fn newest_delivery(&self, query: &str) -> String {
        let listed = self.deliveries(query).await;
        let newest = listed
            .first()
            .unwrap_or_else(|| panic!("no delivery for {query:?}"));
        newest["deliveryId"].as_str().unwrap().to_owned()
    }

    pub async fn delivery(&self, id: &str) -> Resp {
        self.send(
            Method::GET,
            &format!("/api/public/v1/webhook-deliveries/{id}"),
            Some(&self.key),
            &[],
            None,
        )
        .await
    }

    /// Waits (up to `within`) until the delivery has `status`, and answers it.
    pub async fn delivery_reaches(&self, id: &str, status: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let r = self.delivery(id).await;
            if r.data()["status"] == status {
                return r.data().clone();
            }
            assert!(
                Instant::now() < deadline,
                "delivery {id} is not {status} within {within:?}: {}",
                r.text
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Asserts that `got` verifies with `secret` as a receiver checks it now.
pub fn assert_signed(secret: &str, got: &Received) {
    let at: i64 = got.timestamp.parse().expect("a Unix timestamp");
    let now = chrono::Utc::now().timestamp();
    let verified = dialplane_core::webhooks::verify(
        secret,
        &got.id,
        at,
        got.body.as_bytes(),
        &got.signature,
        now,
    );
    assert_eq!(verified, Ok(()), "{got:?}");
}

impl TestApp {
    /// Waits (up to `within`) until the delivery has made at least `attempts` attempts, and answers
    /// it with its attempt log.
    pub async fn delivery_after(&self, id: &str, attempts: u64, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let r = self.delivery(id).await;
            if r.data()["attempts"].as_u64() >= Some(attempts) {
                return r.data().clone();
            }
            assert!(
                Instant::now() < deadline,
                "{id}: not {attempts} attempts: {}",
                r.text
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The first delivery to `endpoint` (it has one), once it has made `attempts` attempts.
    pub async fn endpoint_delivery_after(
        &self,
        endpoint: &str,
        attempts: u64,
        within: Duration,
    ) -> Value {
        let listed = self.deliveries(&format!("?endpointId={endpoint}")).await;
        let id = listed[0]["deliveryId"]
            .as_str()
            .expect("a delivery")
            .to_owned();
        self.delivery_after(&id, attempts, within).await
    }

    /// Every stored event's payload, straight from the database.
    pub async fn stored_payloads(&self) -> Vec<String> {
        super::query_strings(&self.db_url, "SELECT payload FROM webhook_events").await
    }
}

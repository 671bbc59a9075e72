//! The typed test app: a real server on a random port over a fresh SQLite database, one helper per
//! endpoint, torn down on drop.

#![allow(dead_code)]

use dialplane::app::{App, AppConfig};
use dialplane_core::{ApiKey, CreatedBy, Rules, Scope};
use dialplane_server::cache::CacheOptions;
use dialplane_server::{AppState, HttpOptions};
use dialplane_store::{NewKey, Store, StoreOptions};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;

pub struct TestApp {
    pub addr: SocketAddr,
    /// Where this instance serves `GET /metrics`.
    pub metrics_addr: SocketAddr,
    pub client: reqwest::Client,
    /// A write key of workspace `default`, user `alice`.
    pub key: String,
    pub store: Store,
    pub db_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    db: Arc<TestDb>,
    options: TestOptions,
}

/// What a test may change about the server.
#[derive(Clone, Default)]
pub struct TestOptions {
    pub rules: Rules,
    pub http: HttpOptions,
    /// Extra routes (for example one that panics), wrapped in the same middleware.
    pub extra_routes: Option<axum::Router<AppState>>,
    pub store: StoreOptions,
    /// Requests a minute per key (0: off).
    pub rate_limit_per_minute: u32,
    /// Count the rate limit in this Redis.
    pub redis_url: Option<String>,
    /// The clock of the rate limit's windows (default: the system's).
    pub clock: Option<Arc<dyn dialplane_server::ratelimit::Clock>>,
    /// How long idempotency keys are remembered (default: 24 hours).
    pub idempotency_ttl: Option<std::time::Duration>,
    /// The caches (default: as `dialplane serve` has them for the backend).
    pub cache: Option<CacheOptions>,
}

/// The caches `dialplane serve` uses on the database at `url`: agents only on SQLite.
pub fn serve_cache(url: &str) -> CacheOptions {
    CacheOptions {
        agent_bytes: if url.starts_with("sqlite:") {
            32 << 20
        } else {
            0
        },
        ..CacheOptions::default()
    }
}

/// One HTTP answer, body parsed as JSON (or `Value::Null` when empty or not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `data` of a success envelope.
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// `error.code` of an error envelope.
    pub fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// `(path, code)` of each `error.details` entry.
    pub fn detail_paths(&self) -> Vec<(String, String)> {
        self.body["error"]["details"]
            .as_array()
            .map(|d| {
                d.iter()
                    .map(|e| {
                        (
                            e["path"].as_str().unwrap_or("").to_owned(),
                            e["code"].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Panics unless this is the error envelope with `code` and a `requestId` equal to the header.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        assert_eq!(self.body["success"], json!(false), "body: {}", self.text);
        assert_eq!(self.error_code(), code, "body: {}", self.text);
        assert!(self.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
        assert_eq!(
            self.body["error"]["requestId"].as_str(),
            self.header("x-request-id"),
            "requestId matches x-request-id"
        );
    }

    /// Panics unless this is a validation error naming exactly `path` with `code` among its details.
    pub fn assert_problem(&self, path: &str, code: &str) {
        self.assert_error(400, "validation_error");
        let details = self.detail_paths();
        assert!(
            details.iter().any(|(p, c)| p == path && c == code),
            "expected ({path}, {code}) in {details:?}"
        );
    }

    /// The agents a 409 `conflict` names in its details, sorted.
    pub fn conflicting_agents(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.body["error"]["details"]
            .as_array()
            .unwrap_or_else(|| panic!("details: {}", self.text))
            .iter()
            .map(|d| d["agentId"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    }

    pub fn etag(&self) -> String {
        self.header("etag").expect("an ETag").to_owned()
    }
}

/// The smallest valid create body.
pub fn minimal_agent(name: &str) -> Value {
    json!({"name": name, "conversationConfig": {"agent": {"prompt": {"prompt": "You are helpful."}}}})
}

/// A create body that sets `value` at the JSON Pointer `pointer` on top of [`minimal_agent`].
pub fn agent_with(pointer: &str, value: Value) -> Value {
    let mut body = minimal_agent("With");
    set_pointer(&mut body, pointer, value);
    body
}

/// Sets `value` at `pointer`, creating objects on the way.
pub fn set_pointer(doc: &mut Value, pointer: &str, value: Value) {
    let mut cur = doc;
    let tokens: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    for (i, token) in tokens.iter().enumerate() {
        if !cur.is_object() {
            *cur = json!({});
        }
        let map = cur.as_object_mut().unwrap();
        if i == tokens.len() - 1 {
            map.insert(token.clone(), value);
            return;
        }
        cur = map.entry(token.clone()).or_insert_with(|| json!({}));
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(TestOptions::default()).await
    }

    pub async fn spawn_with(options: TestOptions) -> Self {
        let db = Arc::new(TestDb::new().await);
        let url = db.url.clone();
        let mut app = Self::start(options, db, &url).await;
        app.key = app.new_key("default", Scope::Write, "alice").await;
        app
    }

    /// Another server instance on the same database (and with the same key), as a second machine
    /// behind a load balancer would be.
    pub async fn another_instance(&self) -> Self {
        let mut app = Self::start(self.options.clone(), self.db.clone(), &self.db_url).await;
        app.key = self.key.clone();
        app
    }

    /// A server on `db` reached through `url` (which may lead through a proxy).
    pub async fn start_on(options: TestOptions, db: Arc<TestDb>, url: &str) -> Self {
        Self::start(options, db, url).await
    }

    async fn start(options: TestOptions, db: Arc<TestDb>, db_url: &str) -> Self {
        let db_url = db_url.to_owned();
        let config = AppConfig {
            metrics_listen: Some("127.0.0.1:0".into()),
            rules: options.rules.clone(),
            http: options.http,
            store: options.store.clone(),
            cache: options.cache.unwrap_or_else(|| serve_cache(&db_url)),
            rate_limit_per_minute: options.rate_limit_per_minute,
            redis_url: options.redis_url.clone(),
            rate_limit_clock: options.clock.clone(),
            idempotency_ttl: options
                .idempotency_ttl
                .unwrap_or(dialplane_server::DEFAULT_IDEMPOTENCY_TTL),
            extra_routes: options.extra_routes.clone(),
            ..AppConfig::new(
                "127.0.0.1:0".parse().unwrap(),
                db_url.parse().expect("a database URL"),
            )
        };
        // Bound before it serves: the port is open before any request is sent.
        let app = App::build(config).await.expect("the app builds");
        let (addr, metrics_addr) = (app.addr, app.metrics_addr.expect("metrics listener"));
        let store = app.store.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = app
                .run_until_stopped(async {
                    let _ = rx.await;
                })
                .await;
        });
        Self {
            addr,
            metrics_addr,
            client: reqwest::Client::new(),
            key: String::new(),
            store,
            db_url,
            shutdown: Some(tx),
            server: Some(server),
            db,
            options,
        }
    }

    pub async fn new_key(&self, workspace: &str, scope: Scope, user: &str) -> String {
        let key = ApiKey::generate();
        self.store
            .write(dialplane_store::CreateKey(NewKey {
                hash: key.hash(),
                workspace: workspace.into(),
                scope,
                user: CreatedBy {
                    user_id: user.into(),
                    user_email: format!("{user}@example.com"),
                },
                expires_at: None,
            }))
            .await
            .expect("key created");
        key.expose().to_owned()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Any request. `body` is sent as-is with `content-type: application/json` unless `headers`
    /// sets another content type.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        let mut req = self.client.request(method, self.url(path));
        if let Some(key) = key {
            req = req.header("x-api-key", key);
        }
        let sets_type = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        if body.is_some() && !sets_type {
            req = req.header("content-type", "application/json");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body read");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn json(&self, method: Method, path: &str, key: &str, body: &Value) -> Resp {
        self.send(
            method,
            path,
            Some(key),
            &[],
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    pub async fn create_agent(&self, body: &Value) -> Resp {
        self.create_agent_as(&self.key, body).await
    }

    pub async fn create_agent_as(&self, key: &str, body: &Value) -> Resp {
        self.json(Method::POST, "/api/public/v1/agents", key, body)
            .await
    }

    /// Creates [`minimal_agent`] named `name` and returns its id.
    pub async fn create_named(&self, name: &str) -> String {
        let r = self.create_agent(&minimal_agent(name)).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.data()["agentId"].as_str().unwrap().to_owned()
    }

    pub async fn get_agent(&self, id: &str) -> Resp {
        self.get_agent_as(&self.key, id).await
    }

    pub async fn get_agent_as(&self, key: &str, id: &str) -> Resp {
        self.send(
            Method::GET,
            &format!("/api/public/v1/agents/{id}"),
            Some(key),
            &[],
            None,
        )
        .await
    }

    pub async fn patch_agent(&self, id: &str, body: &Value) -> Resp {
        self.patch_agent_as(&self.key, id, body).await
    }

    pub async fn patch_agent_as(&self, key: &str, id: &str, body: &Value) -> Resp {
        self.json(
            Method::PATCH,
            &format!("/api/public/v1/agents/{id}"),
            key,
            body,
        )
        .await
    }

    /// PATCH with an `If-Match` header.
    pub async fn patch_agent_if(&self, id: &str, etag: &str, body: &Value) -> Resp {
        self.send(
            Method::PATCH,
            &format!("/api/public/v1/agents/{id}"),
            Some(&self.key),
            &[("if-match", etag)],
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    pub async fn delete_agent(&self, id: &str) -> Resp {
        self.send(
            Method::DELETE,
            &format!("/api/public/v1/agents/{id}"),
            Some(&self.key),
            &[],
            None,
        )
        .await
    }

    /// `GET /agents?{query}`.
    pub async fn list_agents(&self, query: &str) -> Resp {
        self.list_agents_as(&self.key, query).await
    }

    pub async fn list_agents_as(&self, key: &str, query: &str) -> Resp {
        self.send(
            Method::GET,
            &format!("/api/public/v1/agents?{query}"),
            Some(key),
            &[],
            None,
        )
        .await
    }

    /// Stops the server, letting in-flight requests finish, and closes the store.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The first place where `actual` and `expected` differ, as `"<pointer>: <actual> != <expected>"`, or
/// `None` when they are the same JSON. Numbers compare by value (`600` equals `600.0`).
pub fn json_difference(actual: &Value, expected: &Value) -> Option<String> {
    json_walk(actual, expected, "", false)
}

/// Like [`json_difference`], but objects of `actual` may hold more keys than those of `expected`
/// (for example defaults filled in around what a client sent).
pub fn json_missing(actual: &Value, expected: &Value) -> Option<String> {
    json_walk(actual, expected, "", true)
}

fn json_walk(a: &Value, e: &Value, at: &str, subset: bool) -> Option<String> {
    let here = if at.is_empty() { "/" } else { at };
    match (a, e) {
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => None,
        (Value::Object(x), Value::Object(y)) => {
            let keys: Vec<&String> = if subset {
                y.keys().collect()
            } else {
                x.keys().chain(y.keys()).collect()
            };
            keys.into_iter().find_map(|key| {
                let next = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                match (x.get(key), y.get(key)) {
                    (Some(xa), Some(ya)) => json_walk(xa, ya, &next, subset),
                    (xa, ya) => Some(format!("{next}: {xa:?} != {ya:?}")),
                }
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (xa, ya))| json_walk(xa, ya, &format!("{at}/{i}"), subset)),
        _ if a == e => None,
        _ => Some(format!("{here}: {a} != {e}")),
    }
}

fn short_label(pointer: &str, value: &Value) -> String {
    let mut v = value.to_string();
    if v.chars().count() > 60 {
        v = format!("{}…", v.chars().take(60).collect::<String>());
    }
    format!("{pointer} = {v}")
}

/// A create body that must be refused with exactly one problem, `(path, code)`.
pub struct Refusal {
    pub label: String,
    pub body: Value,
    pub path: String,
    pub code: &'static str,
}

impl Refusal {
    /// [`agent_with`]`(pointer, value)`, reported at `pointer`.
    pub fn at(pointer: &str, value: Value, code: &'static str) -> Self {
        Self::reported_at(pointer, value, pointer, code)
    }

    /// [`agent_with`]`(pointer, value)`, reported at `path`.
    pub fn reported_at(pointer: &str, value: Value, path: &str, code: &'static str) -> Self {
        Self {
            label: short_label(pointer, &value),
            body: agent_with(pointer, value),
            path: path.to_owned(),
            code,
        }
    }

    /// A whole body, reported at `path`.
    pub fn body(label: &str, body: Value, path: &str, code: &'static str) -> Self {
        Self {
            label: label.to_owned(),
            body,
            path: path.to_owned(),
            code,
        }
    }
}

/// Creates each case's body and checks that it is a 400 `validation_error` whose details are exactly
/// `[(path, code)]`; reports every failing case at once.
pub async fn assert_refusals(app: &TestApp, cases: &[Refusal]) {
    let mut failures = Vec::new();
    for case in cases {
        let r = app.create_agent(&case.body).await;
        let want = vec![(case.path.clone(), case.code.to_owned())];
        if r.status != 400 || r.error_code() != "validation_error" || r.detail_paths() != want {
            failures.push(format!(
                "{}: expected 400 with {want:?}, got {} {}",
                case.label, r.status, r.text
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// A create body that must be accepted, keeping the value at `pointer` as sent.
pub struct Acceptance {
    pub label: String,
    pub body: Value,
    pub pointer: String,
}

impl Acceptance {
    /// [`agent_with`]`(pointer, value)`.
    pub fn at(pointer: &str, value: Value) -> Self {
        Self {
            label: short_label(pointer, &value),
            body: agent_with(pointer, value),
            pointer: pointer.to_owned(),
        }
    }

    /// A whole body; `pointer` names the part that must come back as sent.
    pub fn body(label: &str, body: Value, pointer: &str) -> Self {
        Self {
            label: label.to_owned(),
            body,
            pointer: pointer.to_owned(),
        }
    }
}

/// Creates each case's body and checks that it is a 201 whose agent holds, at the case's pointer, all
/// that was sent (numbers by value; defaults may be filled in around it); reports every failing case
/// at once.
pub async fn assert_acceptances(app: &TestApp, cases: &[Acceptance]) {
    let mut failures = Vec::new();
    for case in cases {
        let r = app.create_agent(&case.body).await;
        let sent = case.body.pointer(&case.pointer).unwrap_or(&Value::Null);
        let got = r.data().pointer(&case.pointer).unwrap_or(&Value::Null);
        if r.status != 201 {
            failures.push(format!(
                "{}: expected 201, got {} {}",
                case.label, r.status, r.text
            ));
        } else if let Some(diff) = json_missing(got, sent) {
            failures.push(format!("{}: not kept as sent: {diff}", case.label));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// A JSON array of `n` items, item `i` being `f(i)`.
pub fn json_list(n: usize, f: impl Fn(usize) -> Value) -> Value {
    Value::Array((0..n).map(f).collect())
}

/// A JSON object of `n` keys `k0, k1, ...`, key `ki` holding `f(i)`.
pub fn json_map(n: usize, f: impl Fn(usize) -> Value) -> Value {
    Value::Object((0..n).map(|i| (format!("k{i}"), f(i))).collect())
}

/// Panics unless the app's default workspace lists no agent (nothing was stored).
pub async fn assert_no_agents(app: &TestApp) {
    let list = app.list_agents("").await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.data(), &json!([]), "agents were stored: {}", list.text);
}

/// The environment variable that switches the suite to PostgreSQL.
pub const POSTGRES_URL_VAR: &str = "DIALPLANE_TEST_POSTGRES_URL";

/// The PostgreSQL URL the suite runs against, if any.
pub fn postgres_url() -> Option<String> {
    std::env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|u| !u.is_empty())
}

/// A fresh, empty database for one test: a SQLite file in a temporary directory, or, when
/// `DIALPLANE_TEST_POSTGRES_URL` is set, a new schema in that PostgreSQL database, dropped on drop.
pub struct TestDb {
    pub url: String,
    schema: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl TestDb {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        match postgres_url() {
            None => Self {
                url: format!("sqlite://{}", dir.path().join("test.db").display()),
                schema: None,
                _dir: dir,
            },
            Some(admin) => {
                let schema = format!("dpt_{}", uuid_simple());
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                    .await
                    .expect("DIALPLANE_TEST_POSTGRES_URL connects");
                sqlx::Executor::execute(&mut conn, format!("CREATE SCHEMA {schema}").as_str())
                    .await
                    .expect("schema created");
                let sep = if admin.contains('?') { '&' } else { '?' };
                Self {
                    url: format!("{admin}{sep}options[search_path]={schema}"),
                    schema: Some((admin, schema)),
                    _dir: dir,
                }
            }
        }
    }
}

fn uuid_simple() -> String {
    dialplane_core::AgentId::generate()
        .to_string()
        .replace('-', "")
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, schema)) = self.schema.take() else {
            return;
        };
        // Drop runs outside async code: use a thread with its own small runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok(mut conn) =
                    <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await
                {
                    let _ = sqlx::Executor::execute(
                        &mut conn,
                        format!("DROP SCHEMA IF EXISTS {schema} CASCADE").as_str(),
                    )
                    .await;
                }
            });
        })
        .join();
    }
}

/// A TCP proxy in front of a database, so a test can cut the database off and bring it back.
pub struct Proxy {
    pub addr: SocketAddr,
    up: Arc<std::sync::atomic::AtomicBool>,
    /// While set, bytes are held instead of passed on: a partition, where no answer and no reset
    /// ever comes.
    frozen: Arc<std::sync::atomic::AtomicBool>,
    links: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let frozen = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let links: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (up2, frozen2, links2) = (up.clone(), frozen.clone(), links.clone());
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the database is "down"
                }
                let frozen = frozen2.clone();
                let link = tokio::spawn(async move {
                    if let Ok(server) = tokio::net::TcpStream::connect(target).await {
                        let (client_read, client_write) = client.into_split();
                        let (server_read, server_write) = server.into_split();
                        tokio::join!(
                            pump(client_read, server_write, frozen.clone()),
                            pump(server_read, client_write, frozen),
                        );
                    }
                });
                links2.lock().unwrap().push(link);
            }
        });
        Self {
            addr,
            up,
            frozen,
            links,
            accept,
        }
    }

    /// Holds every byte in both directions until [`Proxy::thaw`], connections left open.
    pub fn freeze(&self) {
        self.frozen.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Passes the held bytes on, and every byte after them.
    pub fn thaw(&self) {
        self.frozen
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Copies `from` to `to`, holding what it read while `frozen` is set.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<std::sync::atomic::AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        while frozen.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// `/api/public/v1/agents/{id}{rest}`.
pub fn agent_path(id: &str, rest: &str) -> String {
    format!("/api/public/v1/agents/{id}{rest}")
}

/// The media type of JSON Patch (RFC 6902) bodies.
pub const JSON_PATCH: &str = "application/json-patch+json";

impl TestApp {
    /// `GET path` with the app's key.
    pub async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, Some(&self.key), &[], None)
            .await
    }

    /// `POST path` with the app's key, `headers` and no body.
    pub async fn post_empty(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.send(Method::POST, path, Some(&self.key), headers, None)
            .await
    }

    /// `PATCH /agents/{id}{query}` with a JSON Patch body (sent as-is) and `headers`.
    pub async fn json_patch(
        &self,
        id: &str,
        query: &str,
        ops: &Value,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut all = vec![("content-type", JSON_PATCH)];
        all.extend_from_slice(headers);
        self.send(
            Method::PATCH,
            &format!("{}{query}", agent_path(id, "")),
            Some(&self.key),
            &all,
            Some(ops.to_string().into_bytes()),
        )
        .await
    }

    /// `POST path` of `body` with the app's key and `Idempotency-Key: idempotency_key`.
    pub async fn post_idempotent(&self, path: &str, idempotency_key: &str, body: &Value) -> Resp {
        self.send(
            Method::POST,
            path,
            Some(&self.key),
            &[("idempotency-key", idempotency_key)],
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    /// Runs `sql` straight on the instance's database, behind the server's back (SQLite or PostgreSQL).
    pub async fn execute_sql(&self, sql: &str) {
        use sqlx::Connection;
        if self.db_url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&self.db_url).await.unwrap();
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        } else {
            let mut conn = sqlx::PgConnection::connect(&self.db_url).await.unwrap();
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
    }

    /// The version numbers of the agent's whole history, newest first (one page of 100).
    pub async fn version_numbers(&self, id: &str) -> Vec<u64> {
        let r = self.get(&agent_path(id, "/versions?pageSize=100")).await;
        assert_eq!(r.status, 200, "versions: {}", r.text);
        r.data()
            .as_array()
            .expect("an array of versions")
            .iter()
            .map(|v| v["version"].as_u64().expect("a version number"))
            .collect()
    }
}

/// An answer read off a raw connection.
#[derive(Debug)]
pub struct RawResp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON (`Value::Null` when empty or not JSON).
    pub body: Value,
}

impl RawResp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts an error answer in the envelope, with a request id.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.body["success"], json!(false), "{self:?}");
        assert_eq!(self.body["error"]["code"], json!(code), "{self:?}");
        assert!(self.body["error"]["requestId"].is_string(), "{self:?}");
        assert!(self.header("x-request-id").is_some(), "{self:?}");
    }
}

/// Reads one HTTP/1.1 answer from `conn`; `None` if the connection closes before a whole one arrives.
pub async fn read_raw_response(conn: &mut tokio::net::TcpStream) -> Option<RawResp> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Response::new(&mut headers);
        if let Ok(httparse::Status::Complete(head)) = parsed.parse(&buf) {
            let headers: Vec<(String, String)> = parsed
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_owned(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect();
            let length = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, v)| v.parse::<usize>().unwrap());
            if buf.len() >= head + length {
                return Some(RawResp {
                    status: parsed.code.unwrap(),
                    body: serde_json::from_slice(&buf[head..head + length]).unwrap_or(Value::Null),
                    headers,
                });
            }
        }
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

impl TestApp {
    /// Sends `request` as it is on a new connection and reads one answer (`None` if the server closed
    /// the connection without one). Gives up after 10 seconds.
    pub async fn raw(&self, request: &[u8]) -> Option<RawResp> {
        use tokio::io::AsyncWriteExt;
        let mut conn = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        // The server may answer and close before reading everything (e.g. an oversized head).
        let _ = conn.write_all(request).await;
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            read_raw_response(&mut conn),
        )
        .await
        .expect("an answer or a close within 10 s")
    }
}

/// Calls with `key` until it is refused; answers how long that took.
pub async fn until_refused(app: &TestApp, key: &str) -> std::time::Duration {
    let started = std::time::Instant::now();
    while app.list_agents_as(key, "").await.status != 401 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "the key still works 5 s later"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    started.elapsed()
}

//! The typed test app: a real server on a random port over a fresh database (SQLite, or PostgreSQL
//! when `DIALPLANE_TEST_POSTGRES_URL` is set), built by [`App::build`] as `dialplane serve` builds
//! it, torn down on drop.

use super::{minimal_agent, Resp, TestDb};
use dialplane::app::{App, AppConfig};
use dialplane_core::{ApiKey, CreatedBy, Rules, Scope};
use dialplane_server::cache::CacheOptions;
use dialplane_server::{AppState, HttpOptions};
use dialplane_store::{NewKey, Store, StoreOptions};
use reqwest::Method;
use serde_json::Value;
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
    /// The server's state (its webhook worker's view of the API's load, say).
    pub state: AppState,
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
    /// The knowledge base's limits and quota.
    pub knowledge: dialplane_server::resources::knowledge_base::KnowledgeOptions,
    /// How long conversations are kept (default: forever).
    pub retention: dialplane_server::Retention,
    /// How webhooks are delivered (default: recorded, sent nowhere).
    pub webhooks: Option<dialplane_server::webhooks::WebhookOptions>,
}

/// The caches `dialplane serve` uses by default (`App::build` caches agents only on SQLite).
pub fn serve_cache() -> CacheOptions {
    CacheOptions {
        agent_bytes: 32 << 20,
        ..CacheOptions::default()
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

    /// This instance stopped, and another started on its database with `options` (and its key).
    pub async fn restarted_with(self, options: TestOptions) -> Self {
        let (db, url, key) = (self.db.clone(), self.db_url.clone(), self.key.clone());
        self.stop().await;
        let mut app = Self::start(options, db, &url).await;
        app.key = key;
        app
    }

    /// Runs retention now, as the background task does: how many conversations it erased.
    pub async fn purge_old_conversations(&self) -> u64 {
        let state = AppState::new(
            self.store.clone(),
            Rules::default(),
            CacheOptions::default(),
        )
        .with_retention(self.options.retention);
        state
            .purge_old_conversations(|| false)
            .await
            .expect("retention runs")
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
            cache: options.cache.unwrap_or_else(serve_cache),
            rate_limit_per_minute: options.rate_limit_per_minute,
            redis_url: options.redis_url.clone(),
            rate_limit_clock: options.clock.clone(),
            idempotency_ttl: options
                .idempotency_ttl
                .unwrap_or(dialplane_server::DEFAULT_IDEMPOTENCY_TTL),
            extra_routes: options.extra_routes.clone(),
            knowledge: options.knowledge.clone(),
            retention: options.retention,
            webhooks: options
                .webhooks
                .clone()
                .unwrap_or_else(super::silent_webhooks),
            ..AppConfig::new(
                "127.0.0.1:0".parse().unwrap(),
                db_url.parse().expect("a database URL"),
            )
        };
        // Bound before it serves: the port is open before any request is sent.
        let app = App::build(config).await.expect("the app builds");
        let (addr, metrics_addr) = (app.addr, app.metrics_addr.expect("metrics listener"));
        let store = app.store.clone();
        let state = app.state.clone();
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
            state,
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

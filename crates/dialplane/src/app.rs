//! [`App`]: the server, built once from an [`AppConfig`] and run until told to stop. `dialplane
//! serve` and the integration tests build it alike.

use anyhow::Context;
use dialplane_core::Rules;
use dialplane_server::cache::CacheOptions;
use dialplane_server::observe::RequestLog;
use dialplane_server::ratelimit::RateLimiter;
use dialplane_server::{AppState, HttpOptions};
use dialplane_store::sqlite::ServerLock;
use dialplane_store::{DatabaseUrl, Store, StoreOptions};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How often expired idempotency keys are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(600);

/// Everything a server is made of, typed: what `serve`'s settings resolve to.
#[derive(Clone)]
pub struct AppConfig {
    pub listen: SocketAddr,
    /// Where `GET /metrics` is served (an address a listener can bind); `None`: nowhere.
    pub metrics_listen: Option<String>,
    pub database: DatabaseUrl,
    /// Take the SQLite server lock (one server per database file), as `serve` does.
    pub exclusive: bool,
    pub rules: Rules,
    pub http: HttpOptions,
    pub store: StoreOptions,
    /// The read caches; agents are cached only on SQLite, whose one server writes every agent.
    pub cache: CacheOptions,
    /// Requests a minute per key (0: off).
    pub rate_limit_per_minute: u32,
    /// Count rate limits in this Redis, across instances.
    pub redis_url: Option<String>,
    /// The clock of the rate limit's windows (default: the system's).
    pub rate_limit_clock: Option<Arc<dyn dialplane_server::ratelimit::Clock>>,
    pub idempotency_ttl: Duration,
    /// How long conversations are kept.
    pub retention: dialplane_server::Retention,
    /// Where the line for each request goes (default: tracing events).
    pub request_log: Option<Arc<dyn RequestLog>>,
    /// Routes served beside the API, in the same middleware (tests add one that panics).
    pub extra_routes: Option<axum::Router<AppState>>,
    /// The knowledge base's limits and quota.
    pub knowledge: dialplane_server::resources::knowledge_base::KnowledgeOptions,
    /// How webhooks are delivered.
    pub webhooks: dialplane_server::webhooks::WebhookOptions,
}

impl AppConfig {
    /// The defaults of `serve` for `database`, listening on `listen`.
    pub fn new(listen: SocketAddr, database: DatabaseUrl) -> Self {
        Self {
            listen,
            metrics_listen: None,
            database,
            exclusive: false,
            rules: Rules::default(),
            http: HttpOptions::default(),
            store: StoreOptions::default(),
            cache: CacheOptions::default(),
            rate_limit_per_minute: 0,
            redis_url: None,
            rate_limit_clock: None,
            idempotency_ttl: dialplane_server::DEFAULT_IDEMPOTENCY_TTL,
            retention: dialplane_server::Retention::default(),
            request_log: None,
            extra_routes: None,
            knowledge: Default::default(),
            webhooks: Default::default(),
        }
    }
}

/// A server, bound and ready to serve.
pub struct App {
    pub addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    pub state: AppState,
    pub store: Store,
    listener: TcpListener,
    metrics: Option<TcpListener>,
    http: HttpOptions,
    router: axum::Router,
    _lock: Option<ServerLock>,
}

impl App {
    /// Takes the database's lock (if exclusive), opens and migrates it, binds the listeners.
    pub async fn build(config: AppConfig) -> anyhow::Result<Self> {
        let lock = match (&config.database, config.exclusive) {
            (DatabaseUrl::Sqlite(url), true) => {
                Some(dialplane_store::sqlite::lock_for_serving(url)?)
            }
            _ => None,
        };
        let store = dialplane_store::open(&config.database, &config.store)
            .await
            .with_context(|| format!("opening {}", config.database))?;
        match Self::assemble(config, store.clone()).await {
            Ok(app) => Ok(Self { _lock: lock, ..app }),
            Err(e) => {
                // Closed before the lock is let go: no other server may open the file while this
                // one's writer still runs.
                store.close().await;
                Err(e)
            }
        }
    }

    /// The rest of [`Self::build`], on an open store.
    async fn assemble(config: AppConfig, store: Store) -> anyhow::Result<Self> {
        let (listener, metrics) = Self::bind(&config).await?;
        let mut limiter = match &config.redis_url {
            Some(url) => RateLimiter::redis(config.rate_limit_per_minute, url)
                .map_err(|e| anyhow::anyhow!("--redis-url: {e}"))?,
            None => RateLimiter::local(config.rate_limit_per_minute),
        };
        if let Some(clock) = config.rate_limit_clock {
            limiter = limiter.with_clock(clock);
        }
        // Only the one server of a SQLite file may cache agents: its writes are the only writes.
        let cache = CacheOptions {
            agent_bytes: if config.database.is_sqlite() {
                config.cache.agent_bytes
            } else {
                0
            },
            ..config.cache
        };
        let mut state = AppState::new(store.clone(), config.rules, cache)
            .with_limiter(limiter)
            .with_idempotency_ttl(config.idempotency_ttl)
            .with_retention(config.retention)
            .with_knowledge(config.knowledge)
            .with_webhooks(config.webhooks);
        if let Some(log) = config.request_log {
            state = state.with_request_log(log);
        }
        let routes = match config.extra_routes {
            Some(extra) => dialplane_server::routes(&state).merge(extra),
            None => dialplane_server::routes(&state),
        };
        let router =
            dialplane_server::with_layers(routes, &state, &config.http).with_state(state.clone());
        Ok(Self {
            addr: listener.local_addr()?,
            metrics_addr: metrics.as_ref().map(TcpListener::local_addr).transpose()?,
            state,
            store,
            listener,
            metrics,
            http: config.http,
            router,
            _lock: None,
        })
    }

    async fn bind(config: &AppConfig) -> anyhow::Result<(TcpListener, Option<TcpListener>)> {
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding --listen {}", config.listen))?;
        let metrics = match &config.metrics_listen {
            None => None,
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding --metrics-listen {addr}"))?,
            ),
        };
        Ok((listener, metrics))
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish, stops the background
    /// work and closes the database.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        match dialplane_server::resources::knowledge_base::urls::resume_fetches(&self.state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!("fetching {n} URL document(s) a stop left unfetched"),
            Err(e) => {
                tracing::warn!(error = %e, "URL documents left unfetched could not be listed")
            }
        }
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let purge_task = tokio::spawn(purge_expired_keys(self.state.clone(), stopped.clone()));
        let webhook_task = dialplane_server::webhooks::start(self.state.clone(), stopped.clone())
            .context("starting the webhook worker")?;
        let metrics_task = self.metrics.map(|listener| {
            let app = dialplane_server::metrics::router(self.state.metrics.clone());
            let mut stopped = stopped.clone();
            tokio::spawn(async move {
                let _ =
                    dialplane_server::serve(listener, app, &HttpOptions::default(), async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    })
                    .await;
            })
        });
        let served = dialplane_server::serve(self.listener, self.router, &self.http, async move {
            shutdown.await;
            let _ = stop.send(true);
        })
        .await;
        if let Some(task) = metrics_task {
            let _ = task.await;
        }
        let _ = purge_task.await;
        // Attempts under way finish (each within --webhook-timeout-ms) and are recorded.
        let _ = webhook_task.await;
        tracing::info!("draining done; closing storage");
        self.store.close().await;
        served.context("serving")
    }
}

/// Forgets expired idempotency keys, erases conversations past retention and forgets old webhook
/// deliveries, at start and every few minutes, until told to stop.
async fn purge_expired_keys(state: AppState, mut stopped: tokio::sync::watch::Receiver<bool>) {
    let mut every = tokio::time::interval(PURGE_EVERY);
    loop {
        tokio::select! {
            _ = every.tick() => {
                match state.purge_idempotency_keys().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(purged = n, "forgot expired idempotency keys"),
                    Err(e) => tracing::warn!(error = %e, "purging expired idempotency keys failed"),
                }
                let stop = stopped.clone();
                match state.purge_old_conversations(move || *stop.borrow()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(erased = n, "erased conversations past retention"),
                    Err(e) => tracing::warn!(error = %e, "erasing conversations past retention failed"),
                }
                match state.purge_webhook_log().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(purged = n, "forgot webhook deliveries past --webhook-log-days"),
                    Err(e) => tracing::warn!(error = %e, "purging the webhook log failed"),
                }
            }
            () = async { let _ = stopped.wait_for(|s| *s).await; } => return,
        }
    }
}

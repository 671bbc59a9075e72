//! dialplane's HTTP API: the router, its middleware, and a `serve` that real sockets and tests share.
//!
//! ```text
//! observe (request id, log, error envelope)
//!  └ catch panic → 500 internal
//!     └ limits: headers → 431, body read in full within its deadline → 408, 413
//!        └ routes: /api/public/v1/agents…, /healthz, /readyz, /api/public/v1/openapi.json
//! ```

#![forbid(unsafe_code)]

pub mod http;
pub mod net;
pub mod resources;
pub mod webhooks;

// The HTTP plumbing, at the paths the binary and the tests know it by.
pub use http::{
    auth, cache, error, extract, health, limits, metrics, observe, openapi, query, ratelimit,
};

use axum::extract::DefaultBodyLimit;
use axum::Router;
use dialplane_core::Rules;
use dialplane_store::Store;
use error::ApiError;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;

pub use http::serve::serve;
pub use limits::{HttpOptions, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_HEADER_BYTES};

/// What every handler shares: one reference-counted [`Shared`], cheap to clone for every request.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The parts of [`AppState`].
#[derive(Clone)]
pub struct Shared {
    /// The store, timed for the storage metric; its committed writes clear the read cache.
    pub store: Store,
    pub rules: Arc<Rules>,
    pub metrics: Arc<metrics::Metrics>,
    pub limiter: Arc<ratelimit::RateLimiter>,
    /// How long an `Idempotency-Key` is remembered.
    pub idempotency_ttl: std::time::Duration,
    /// Resolved keys and finished agent answers.
    pub cache: Arc<cache::ReadCache>,
    /// Finished runtime configurations.
    pub runtime_configs: Arc<resources::runtime_config::cache::ConfigCache>,
    /// Where the line for each served request goes.
    pub request_log: Arc<dyn observe::RequestLog>,
    /// The OpenAPI document as this server serves it (its settings in it).
    pub openapi: Arc<str>,
    /// The knowledge base's limits and quota.
    pub knowledge: Arc<resources::knowledge_base::KnowledgeOptions>,
    /// How long conversations are kept.
    pub retention: Retention,
    /// The webhook delivery worker's options and bell.
    pub webhooks: Arc<webhooks::Webhooks>,
}

/// How long conversations are kept, and how many one purge transaction erases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Conversations that started more than this many days ago are erased; `None`: kept forever.
    pub days: Option<u32>,
    /// At most this many in one transaction, so that a purge never holds the writer long.
    pub batch: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            days: None,
            batch: 1_000,
        }
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// How long an `Idempotency-Key` is remembered unless configured otherwise: 24 hours.
pub const DEFAULT_IDEMPOTENCY_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

impl AppState {
    /// State over `store` with fresh metrics, no rate limit, and caches as `cache` says. Cache agents
    /// only when this process is the database's only writer.
    ///
    /// The store reports its timings to the metrics and its committed writes to the cache: a cached
    /// answer never outlives the write that made it stale, which forgets it before it is answered.
    pub fn new(store: Store, rules: Rules, cache: cache::CacheOptions) -> Self {
        let mut metrics = metrics::Metrics::default();
        metrics.collect_write_batching(store.clone());
        let metrics = Arc::new(metrics);
        let observer: Arc<dyn dialplane_store::Observer> = metrics.clone();
        store.observe(&observer);
        let runtime_configs = Arc::new(resources::runtime_config::cache::ConfigCache::new(
            cache.runtime_configs,
        ));
        let strict_runtime_config = cache.strict_runtime_config;
        let cache = Arc::new(cache::ReadCache::new(cache));
        let forget = cache.clone();
        store.on_commit(Arc::new(move |events| forget.forget(events)));
        let forget = runtime_configs.clone();
        store.on_commit(Arc::new(move |events| forget.forget(events)));
        let webhooks = Arc::new(webhooks::Webhooks::new(Default::default()));
        let bell = webhooks.bell();
        store.on_commit(Arc::new(move |events| bell.heard(events)));
        if store.single_writer() {
            runtime_configs.only_writer();
        } else if !strict_runtime_config {
            let hear = runtime_configs.clone();
            store.watch_other_instances(Arc::new(move |news| hear.other_instances(news)));
        }
        Self(Arc::new(Shared {
            store,
            openapi: openapi::served_document(&rules).into(),
            rules: Arc::new(rules),
            metrics,
            limiter: Arc::new(ratelimit::RateLimiter::Off),
            idempotency_ttl: DEFAULT_IDEMPOTENCY_TTL,
            cache,
            runtime_configs,
            request_log: Arc::new(observe::TracingRequestLog),
            knowledge: Arc::default(),
            retention: Retention::default(),
            webhooks,
        }))
        .with_outbox()
    }

    /// This state with `change` made to its parts (for building it, before it serves).
    fn with(self, change: impl FnOnce(&mut Shared)) -> Self {
        let mut shared = Shared::clone(&self.0);
        change(&mut shared);
        Self(Arc::new(shared))
    }

    pub fn with_idempotency_ttl(self, ttl: std::time::Duration) -> Self {
        self.with(|shared| shared.idempotency_ttl = ttl)
    }

    /// Forgets expired idempotency keys; answers how many.
    pub async fn purge_idempotency_keys(&self) -> Result<u64, dialplane_store::StoreError> {
        let before = dialplane_core::agent::timestamp_ago(self.idempotency_ttl);
        self.store
            .write(dialplane_store::PurgeIdempotencyKeys(before))
            .await
    }

    pub fn with_retention(self, retention: Retention) -> Self {
        self.with(|shared| shared.retention = retention)
    }

    /// Erases the conversations past retention, a batch a transaction until none is left (or
    /// `stopped` says so); answers how many.
    pub async fn purge_old_conversations(
        &self,
        stopped: impl Fn() -> bool,
    ) -> Result<u64, dialplane_store::StoreError> {
        let Some(days) = self.retention.days else {
            return Ok(0);
        };
        let started_before = chrono::Utc::now().timestamp() - i64::from(days) * 86_400;
        let mut erased = 0;
        while !stopped() {
            let batch = self
                .store
                .write(dialplane_store::conversations::PurgeConversations {
                    started_before,
                    limit: self.retention.batch,
                })
                .await?;
            erased += batch;
            if batch < u64::from(self.retention.batch) {
                break;
            }
        }
        Ok(erased)
    }

    pub fn with_limiter(self, limiter: ratelimit::RateLimiter) -> Self {
        self.with(|shared| shared.limiter = Arc::new(limiter))
    }

    pub fn with_knowledge(self, options: resources::knowledge_base::KnowledgeOptions) -> Self {
        self.with(|shared| shared.knowledge = Arc::new(options))
            .with_outbox()
    }

    pub fn with_webhooks(self, options: webhooks::WebhookOptions) -> Self {
        self.with(|shared| shared.webhooks = Arc::new(shared.webhooks.with_options(options)))
            .with_outbox()
    }

    /// Writes the request log with `log` instead of as tracing events.
    pub fn with_request_log(self, log: Arc<dyn observe::RequestLog>) -> Self {
        self.with(|shared| shared.request_log = log)
    }
}

/// The whole application, ready to be served or called in-process.
pub fn router(state: AppState, options: &HttpOptions) -> Router {
    with_layers(routes(&state), &state, options).with_state(state)
}

/// Every route, each resource's behind authentication and rate limiting.
pub fn routes(state: &AppState) -> Router<AppState> {
    let authenticated = axum::middleware::from_fn_with_state(state.clone(), auth::authenticate);
    let (router, _) = http::api(|resources| resources.route_layer(authenticated)).split_for_parts();
    router
}

/// Wraps `routes` in dialplane's middleware: size and time limits, panic catching, request ids, logs and the
/// error envelope.
pub fn with_layers(
    routes: Router<AppState>,
    state: &AppState,
    options: &HttpOptions,
) -> Router<AppState> {
    routes
        .fallback(|| async { ApiError::new(error::ErrorCode::NotFound, "no such route") })
        .layer(DefaultBodyLimit::max(options.max_body_bytes))
        .layer(CatchPanicLayer::custom(observe::panic_response))
        .layer(axum::middleware::from_fn_with_state(
            observe::Observe {
                metrics: state.metrics.clone(),
                log: state.request_log.clone(),
                limits: *options,
                load: state.webhooks.load(),
            },
            observe::observe,
        ))
}

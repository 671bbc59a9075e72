//! Prometheus metrics: HTTP requests by method, matched route and status; storage latency by
//! operation; rate-limit decisions; Redis failures; on SQLite, how writes share commits. Served in
//! text format by [`router`] on its own listener (`--metrics-listen`), so it is not public by default.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use dialplane_store::Store;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StorageLabels {
    pub operation: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    pub decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DocumentLabels {
    pub kind: &'static str,
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ExtractionLabels {
    pub file_type: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IngestionLabels {
    /// `create`, `update` or `turns`.
    pub operation: &'static str,
    /// The conversation's status after the write.
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    /// `memory` or `storage`.
    pub source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptLabels {
    /// `succeeded`, `rejected` (another status), `unreachable`, `refused` (the SSRF guard).
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    pub endpoint: String,
}

fn seconds_histogram() -> Histogram {
    // 100 µs to ~13 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

/// Every metric of one server.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<HttpLabels, Counter>,
    pub request_seconds: Family<HttpLabels, Histogram, fn() -> Histogram>,
    pub storage_seconds: Family<StorageLabels, Histogram, fn() -> Histogram>,
    pub rate_limit: Family<DecisionLabels, Counter>,
    pub redis_failures: Counter,
    /// Knowledge-base documents stored, by kind and status when stored.
    pub kb_documents: Family<DocumentLabels, Counter>,
    /// Original bytes of knowledge-base documents stored.
    pub kb_bytes: Counter,
    pub kb_extraction_seconds: Family<ExtractionLabels, Histogram, fn() -> Histogram>,
    /// URL fetches by outcome: `ok`, `failed`, `refused` (the SSRF guard).
    pub kb_fetches: Family<OutcomeLabels, Counter>,
    /// Conversation writes of runtimes, by operation and the status they left the call in.
    pub conversations: Family<IngestionLabels, Counter>,
    pub ingestion_seconds: Family<IngestionLabels, Histogram, fn() -> Histogram>,
    /// Runtime configurations answered from memory, and built from storage (the two series of
    /// `runtime_config_answers`, kept at hand: the hot path looks up no label set).
    pub runtime_configs_from_memory: Counter,
    pub runtime_configs_from_storage: Counter,
    /// Webhook attempts by result.
    pub webhook_attempts: Family<AttemptLabels, Counter>,
    /// From a delivery's commit to its first attempt.
    pub webhook_first_attempt_delay: Histogram,
    pub webhook_pending: Gauge,
    pub webhook_oldest_pending_seconds: Gauge<f64, AtomicU64>,
    /// Attempts failed in a row, per failing endpoint.
    pub webhook_failure_streaks: Family<EndpointLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("dialplane");
        let requests = Family::<HttpLabels, Counter>::default();
        let request_seconds =
            Family::<HttpLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                seconds_histogram,
            );
        let storage_seconds =
            Family::<StorageLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                seconds_histogram,
            );
        let rate_limit = Family::<DecisionLabels, Counter>::default();
        let redis_failures = Counter::default();
        registry.register(
            "http_requests",
            "HTTP requests served, by method, matched route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request",
            request_seconds.clone(),
        );
        registry.register(
            "storage_operation_duration_seconds",
            "Time of a storage operation, by operation and outcome",
            storage_seconds.clone(),
        );
        registry.register(
            "rate_limit_decisions",
            "Rate-limit decisions: allowed, limited, or failed_open",
            rate_limit.clone(),
        );
        registry.register(
            "redis_failures",
            "Redis calls that failed (the request was served anyway)",
            redis_failures.clone(),
        );
        let kb_documents = Family::<DocumentLabels, Counter>::default();
        let kb_bytes = Counter::default();
        let kb_extraction_seconds =
            Family::<ExtractionLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                seconds_histogram,
            );
        let kb_fetches = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "kb_documents_stored",
            "Knowledge-base documents stored, by kind and status when stored",
            kb_documents.clone(),
        );
        registry.register(
            "kb_stored_bytes",
            "Original bytes of knowledge-base documents stored (uploads, text, fetched pages)",
            kb_bytes.clone(),
        );
        registry.register(
            "kb_extraction_duration_seconds",
            "Time to extract a document's text, by file type and outcome",
            kb_extraction_seconds.clone(),
        );
        registry.register(
            "kb_url_fetches",
            "Fetches of URL documents, by outcome: ok, failed, refused (the SSRF guard)",
            kb_fetches.clone(),
        );
        let conversations = Family::<IngestionLabels, Counter>::default();
        let ingestion_seconds =
            Family::<IngestionLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                seconds_histogram,
            );
        let runtime_configs = Family::<SourceLabels, Counter>::default();
        registry.register(
            "conversations_ingested",
            "Conversation writes of voice runtimes, by operation (create, update, turns) and the status they left the call in",
            conversations.clone(),
        );
        registry.register(
            "conversation_ingestion_duration_seconds",
            "Time to take a conversation write, from its parsed body to its commit",
            ingestion_seconds.clone(),
        );
        registry.register(
            "runtime_config_answers",
            "Runtime configurations answered (200 or 304), by source: memory or storage",
            runtime_configs.clone(),
        );
        let source = |source| {
            runtime_configs
                .get_or_create(&SourceLabels { source })
                .clone()
        };
        let (runtime_configs_from_memory, runtime_configs_from_storage) =
            (source("memory"), source("storage"));
        let webhook_attempts = Family::<AttemptLabels, Counter>::default();
        let webhook_first_attempt_delay = seconds_histogram();
        let webhook_pending = Gauge::default();
        let webhook_oldest_pending_seconds = Gauge::<f64, AtomicU64>::default();
        let webhook_failure_streaks = Family::<EndpointLabels, Gauge>::default();
        registry.register(
            "webhook_attempts",
            "Webhook delivery attempts, by result: succeeded, rejected (another status), unreachable, refused (the SSRF guard)",
            webhook_attempts.clone(),
        );
        registry.register(
            "webhook_first_attempt_delay_seconds",
            "From the commit that queued a delivery to its first attempt",
            webhook_first_attempt_delay.clone(),
        );
        registry.register(
            "webhook_deliveries_pending",
            "Webhook deliveries not yet succeeded or failed for good (read every few seconds)",
            webhook_pending.clone(),
        );
        registry.register(
            "webhook_oldest_pending_age_seconds",
            "Age of the oldest pending webhook delivery (0: none)",
            webhook_oldest_pending_seconds.clone(),
        );
        registry.register(
            "webhook_endpoint_failure_streak",
            "Attempts failed in a row, per endpoint that is failing",
            webhook_failure_streaks.clone(),
        );
        Self {
            webhook_attempts,
            webhook_first_attempt_delay,
            webhook_pending,
            webhook_oldest_pending_seconds,
            webhook_failure_streaks,
            registry,
            conversations,
            ingestion_seconds,
            runtime_configs_from_memory,
            runtime_configs_from_storage,
            requests,
            request_seconds,
            storage_seconds,
            rate_limit,
            redis_failures,
            kb_documents,
            kb_bytes,
            kb_extraction_seconds,
            kb_fetches,
        }
    }
}

impl Metrics {
    /// Counts a conversation write of `operation` that left the call in `status`, taken in `took`.
    pub fn ingested(
        &self,
        operation: &'static str,
        status: dialplane_core::calls::ConversationStatus,
        took: std::time::Duration,
    ) {
        use dialplane_core::agent::Choice;
        let labels = IngestionLabels {
            operation,
            status: status.wire(),
        };
        self.conversations.get_or_create(&labels).inc();
        self.ingestion_seconds
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    pub fn webhook_attempted(&self, result: &'static str) {
        self.webhook_attempts
            .get_or_create(&AttemptLabels { result })
            .inc();
    }

    /// Shows the deliveries' figures as read at `now` (Unix ms).
    pub fn webhook_stats(&self, stats: &dialplane_store::webhooks::WebhookStats, now: i64) {
        self.webhook_pending
            .set(i64::try_from(stats.pending).unwrap_or(i64::MAX));
        let age = stats
            .oldest_pending
            .map_or(0.0, |at| (now - at).max(0) as f64 / 1000.0);
        self.webhook_oldest_pending_seconds.set(age);
        self.webhook_failure_streaks.clear();
        for (endpoint, streak) in &stats.failing {
            self.webhook_failure_streaks
                .get_or_create(&EndpointLabels {
                    endpoint: endpoint.clone(),
                })
                .set(i64::from(*streak));
        }
    }

    /// Also reports, at each scrape, how `store`'s writer groups writes into commits (where it does).
    pub fn collect_write_batching(&mut self, store: Store) {
        self.registry
            .register_collector(Box::new(WriteBatchingCollector(store)));
    }

    /// The Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        out
    }

    /// Counts stored documents and their bytes.
    pub fn documents_stored(&self, documents: &[dialplane_store::StoredDocument]) {
        for d in documents {
            self.kb_documents
                .get_or_create(&DocumentLabels {
                    kind: d.kind.as_str(),
                    status: d.status.as_str(),
                })
                .inc();
            self.kb_bytes.inc_by(d.size_bytes);
        }
    }

    pub fn decision(&self, decision: &'static str) {
        self.rate_limit
            .get_or_create(&DecisionLabels { decision })
            .inc();
    }
}

impl dialplane_store::Observer for Metrics {
    fn observe(&self, operation: &'static str, elapsed: std::time::Duration, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        self.storage_seconds
            .get_or_create(&StorageLabels { operation, outcome })
            .observe(elapsed.as_secs_f64());
    }
}

/// `GET /metrics`, for the metrics listener.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    metrics.render(),
                )
                    .into_response()
            }
        }),
    )
}

/// The counters of [`Store::write_batching`], read at each scrape.
struct WriteBatchingCollector(Store);

impl std::fmt::Debug for WriteBatchingCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteBatchingCollector")
    }
}

impl Collector for WriteBatchingCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let Some(batching) = self.0.write_batching() else {
            return Ok(());
        };
        let counters = [
            (
                "sqlite_writes",
                "Writes the SQLite writer ran in batches that committed",
                batching.writes,
            ),
            (
                "sqlite_commits",
                "Commits of the SQLite writer, each one sync of the WAL: writes per commit is the \
                 group-commit factor",
                batching.commits,
            ),
            (
                "sqlite_prepared_updates_used",
                "Updates worked out by their request beside the writer and used as they were",
                batching.prepared_used,
            ),
            (
                "sqlite_prepared_updates_redone",
                "Updates worked out beside the writer on a revision replaced meanwhile, and worked \
                 out again by the writer",
                batching.prepared_redone,
            ),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(
                name,
                help,
                None,
                counter.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

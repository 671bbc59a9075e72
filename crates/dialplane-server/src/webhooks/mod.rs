//! The delivery worker every `serve` process runs: it claims due deliveries under a lease, sends
//! each ([`send`]), and records the attempt with what follows. At most `concurrency` attempts are
//! under way, at most `per_target` to any one endpoint or URL, so one slow receiver cannot hold up
//! the rest. A commit that queues deliveries wakes it at once; otherwise it looks when the next
//! delivery falls due, and at least every `poll` (other instances' deliveries, expired leases).
//!
//! By default it runs (its attempts too) on a thread of its own at the lowest CPU priority
//! ([`Priority::Low`]), and its database work (unpacking the outbox, claims, records) waits for a
//! lull in the API's requests ([`load`]): when the API's requests want every core, they go first
//! and deliveries take what they leave (and catch up when the load falls, or once they are
//! `max_lag` late); on a machine with CPU to spare that changes nothing.

pub mod load;
pub mod send;

use crate::net::fetch::SystemLookup;
use crate::net::post::Poster;
use crate::net::AddressPolicy;
use crate::AppState;
use dialplane_core::webhooks::RetrySchedule;
use dialplane_core::DeliveryId;
use dialplane_store::webhooks::{
    now_ms, ClaimDeliveries, Claimed, PurgeDeliveryLog, RecordAttempt, RecordAttempts,
    ReleaseLeases, StoredDelivery,
};
use dialplane_store::Event;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinSet;

/// The most bytes of a receiver's answer kept in the attempt log.
pub const MAX_RESPONSE_BODY: usize = 4096;

/// How the worker delivers.
#[derive(Clone)]
pub struct WebhookOptions {
    /// Attempts under way at once, in all.
    pub concurrency: usize,
    /// Attempts under way at once to one endpoint or URL.
    pub per_target: usize,
    /// An attempt succeeds on a 2xx within this.
    pub timeout: Duration,
    pub schedule: RetrySchedule,
    /// An endpoint whose every attempt failed for this long is disabled.
    pub disable_after: Duration,
    /// Looks for due deliveries at least this often.
    pub poll: Duration,
    /// Once woken, waits this long for more to become due or finish, and claims and records them
    /// together: fewer, larger claims and records under load, at this cost in latency.
    pub batch: Duration,
    /// Ended deliveries are kept this many days.
    pub log_days: u32,
    /// Sends under the SSRF guard.
    pub poster: Poster,
    /// `http` URLs to any host are accepted (`--allow-private-urls`).
    pub allow_private_urls: bool,
    /// Run no worker (tests that look at pending deliveries).
    pub paused: bool,
    /// The CPU priority of the worker and its sends.
    pub priority: Priority,
    /// At [`Priority::Low`], how long deliveries wait for a lull in the API's requests
    /// ([`load::ApiLoad::lull`]) before they go beside the requests.
    pub max_lag: Duration,
}

/// The CPU priority deliveries run at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Priority {
    /// On a thread of their own at the lowest priority (nice 19), their database work after lulls
    /// in the API's requests (within `max_lag`): API requests first.
    #[default]
    Low,
    /// Beside the API's requests, on the server's runtime.
    Normal,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        Self {
            concurrency: 256,
            per_target: 4,
            timeout: Duration::from_secs(10),
            schedule: RetrySchedule::default(),
            disable_after: Duration::from_secs(5 * 24 * 3600),
            poll: Duration::from_secs(1),
            batch: Duration::from_millis(5),
            log_days: 30,
            poster: Poster::new(
                AddressPolicy::GlobalOnly,
                Arc::new(SystemLookup),
                MAX_RESPONSE_BODY,
            ),
            allow_private_urls: false,
            paused: false,
            priority: Priority::default(),
            max_lag: Duration::from_secs(30),
        }
    }
}

impl WebhookOptions {
    /// How long a claim holds a delivery: an attempt's time limit and 5 s, so an instance killed
    /// mid-attempt delays the delivery by no more.
    pub fn lease(&self) -> Duration {
        self.timeout + Duration::from_secs(5)
    }
}

/// The worker's side of the state: its options, and the bell a commit rings.
pub struct Webhooks {
    pub options: WebhookOptions,
    wake: Arc<Bell>,
    /// Names this process's claims.
    token: String,
    /// The worker's runtime at [`Priority::Low`], once it has started: where a test ping is sent.
    sends: Arc<std::sync::OnceLock<tokio::runtime::Handle>>,
    /// The API requests under way, which deliveries at [`Priority::Low`] yield to.
    load: Arc<load::ApiLoad>,
}

/// Wakes the worker when a committed write queued deliveries.
#[derive(Default)]
pub struct Bell(Notify);

impl Bell {
    pub fn heard(&self, events: &[Event]) {
        if events.iter().any(|e| matches!(e, Event::DeliveriesDue)) {
            self.0.notify_one();
        }
    }
}

impl Webhooks {
    pub fn new(options: WebhookOptions) -> Self {
        Self {
            options,
            wake: Arc::default(),
            token: format!(
                "{}-{}",
                std::process::id(),
                dialplane_core::EventId::generate()
            ),
            sends: Arc::default(),
            load: Arc::default(),
        }
    }

    /// The same worker (its bell, its claims' name) with other options.
    pub fn with_options(&self, options: WebhookOptions) -> Self {
        Self {
            options,
            wake: self.wake.clone(),
            token: self.token.clone(),
            sends: self.sends.clone(),
            load: self.load.clone(),
        }
    }

    /// The API requests under way (counted by the outermost middleware).
    pub fn load(&self) -> Arc<load::ApiLoad> {
        self.load.clone()
    }

    pub fn bell(&self) -> Arc<Bell> {
        self.wake.clone()
    }

    pub fn token(&self) -> &str {
        &self.token
    }
}

/// Sends `claimed` now: the attempt and what follows, not yet recorded.
async fn attempt(state: &AppState, claimed: &Claimed) -> send::Attempted {
    let delivery = &claimed.delivery;
    if delivery.attempts == 0 {
        let waited = (now_ms() - delivery.created_at).max(0) as f64 / 1000.0;
        state.metrics.webhook_first_attempt_delay.observe(waited);
    }
    let sent = send::attempt(&state.webhooks.options, claimed).await;
    state.metrics.webhook_attempted(sent.result.as_str());
    sent
}

/// What records an attempt of `claimed`.
fn record_of(options: &WebhookOptions, claimed: &Claimed, sent: send::Attempted) -> RecordAttempt {
    RecordAttempt {
        id: claimed.delivery.id,
        url: claimed.delivery.url.clone(),
        token: claimed
            .delivery
            .lease
            .as_ref()
            .map(|(t, _)| t.clone())
            .unwrap_or_default(),
        attempt: sent.attempt,
        outcome: sent.outcome,
        disable_after_ms: i64::try_from(options.disable_after.as_millis()).unwrap_or(i64::MAX),
        endpoint_failing: claimed.endpoint_failing,
    }
}

/// Sends `claimed` now and records the attempt (the test ping, from a request): the delivery as it
/// then stands. At [`Priority::Low`] the attempt runs on the worker's low-priority runtime, like
/// every other; from here if that runtime has stopped (the server is stopping).
pub async fn deliver(state: &AppState, claimed: &Claimed) -> Option<StoredDelivery> {
    let sent = match state.webhooks.sends.get() {
        Some(sends) => {
            let (state, one) = (state.clone(), claimed.clone());
            sends
                .spawn(async move { attempt(&state, &one).await })
                .await
                .ok()
        }
        None => None,
    };
    let sent = match sent {
        Some(sent) => sent,
        None => attempt(state, claimed).await,
    };
    let record = record_of(&state.webhooks.options, claimed, sent);
    match state.store.write(record).await {
        Ok(recorded) => recorded,
        Err(e) => {
            // The delivery stays due and is attempted again: at least once.
            tracing::warn!(error = %e, delivery = %claimed.delivery.id, "recording a webhook attempt failed");
            None
        }
    }
}

/// The worker's deliveries under way (attempted or being recorded), by target.
#[derive(Default)]
struct UnderWay {
    deliveries: HashMap<DeliveryId, String>,
    per_target: HashMap<String, usize>,
}

impl UnderWay {
    fn start(&mut self, claimed: &Claimed) {
        let key = claimed.delivery.target_key();
        *self.per_target.entry(key.clone()).or_default() += 1;
        self.deliveries.insert(claimed.delivery.id, key);
    }

    fn end(&mut self, id: DeliveryId) {
        let Some(key) = self.deliveries.remove(&id) else {
            return;
        };
        if let Some(n) = self.per_target.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.per_target.remove(&key);
            }
        }
    }

    fn busy(&self, limit: usize) -> Vec<String> {
        self.per_target
            .iter()
            .filter(|(_, n)| **n >= limit)
            .map(|(k, _)| k.clone())
            .collect()
    }
}

/// Runs `work` on the store on the server's runtime, where the store's connection pools live: a
/// pooled PostgreSQL connection belongs to the runtime that opened it.
async fn on_server<T, W, F>(
    server: &Handle,
    state: &AppState,
    work: W,
) -> dialplane_store::Result<T>
where
    T: Send + 'static,
    W: FnOnce(dialplane_store::Store) -> F,
    F: std::future::Future<Output = dialplane_store::Result<T>> + Send + 'static,
{
    match server.spawn(work(state.store.clone())).await {
        Ok(done) => done,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(dialplane_store::StoreError::Unavailable(
            "the server is stopping".into(),
        )),
    }
}

/// Records the finished attempts in one write, and lets their deliveries be claimed again.
async fn record(
    server: &Handle,
    state: &AppState,
    finished: Vec<(Claimed, send::Attempted)>,
    under_way: &mut UnderWay,
) {
    if finished.is_empty() {
        return;
    }
    let options = &state.webhooks.options;
    let ids: Vec<DeliveryId> = finished.iter().map(|(c, _)| c.delivery.id).collect();
    let records = finished
        .into_iter()
        .map(|(claimed, sent)| record_of(options, &claimed, sent))
        .collect();
    let recorded = on_server(server, state, |store| async move {
        store.write(RecordAttempts(records)).await
    });
    if let Err(e) = recorded.await {
        // The deliveries stay due (their leases run out) and are attempted again: at least once.
        tracing::warn!(error = %e, attempts = ids.len(), "recording webhook attempts failed");
    }
    for id in ids {
        under_way.end(id);
    }
}

/// Claims and sends due deliveries until `stopped`; then lets the attempts under way finish (each
/// is bounded by the timeout), records them and returns. Finished attempts are recorded together,
/// in one write, each time round. The store's work runs on `server`, the server's runtime.
pub async fn run(state: AppState, mut stopped: watch::Receiver<bool>, server: Handle) {
    let hooks = state.webhooks.clone();
    let options = &hooks.options;
    if options.paused {
        let _ = stopped.wait_for(|s| *s).await;
        return;
    }
    if state.store.single_writer() {
        // The only instance, starting: a lease left by a killed process guards no attempt.
        let released = on_server(&server, &state, |store| async move {
            store.write(ReleaseLeases).await
        });
        match released.await {
            Ok(0) => {}
            Ok(n) => tracing::info!(released = n, "webhook deliveries a stop left claimed"),
            Err(e) => tracing::warn!(error = %e, "releasing webhook leases failed"),
        }
    }
    let (done, mut finished) = mpsc::unbounded_channel::<(Claimed, send::Attempted)>();
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut under_way = UnderWay::default();
    let mut ready: Vec<(Claimed, send::Attempted)> = Vec::new();
    let mut stats_at = tokio::time::Instant::now();
    let yields = options.priority == Priority::Low;
    let mut waiting = load::Waiting::default();
    waiting.maybe();
    loop {
        while let Ok(one) = finished.try_recv() {
            ready.push(one);
        }
        record(&server, &state, std::mem::take(&mut ready), &mut under_way).await;
        while tasks.try_join_next().is_some() {}
        if *stopped.borrow() {
            break;
        }
        let free = options
            .concurrency
            .saturating_sub(under_way.deliveries.len());
        let mut next_due = None;
        let mut claimed_all = false;
        // The metrics' view of the backlog, kept fresh while the worker yields too (a read).
        if stats_at.elapsed() >= options.poll * 5 {
            stats_at = tokio::time::Instant::now();
            let stats = on_server(&server, &state, |store| async move {
                store.webhook_stats().await
            });
            if let Ok(stats) = stats.await {
                state.metrics.webhook_stats(&stats, now_ms());
            }
        }
        if free > 0 && yields {
            tokio::select! {
                () = waiting.yield_to(&hooks.load, options.max_lag) => {}
                Some(one) = finished.recv() => {
                    // Recorded first (its target's slot is then free again).
                    ready.push(one);
                    continue;
                }
                () = tokio::time::sleep_until(stats_at + options.poll * 5) => continue,
                _ = stopped.changed() => continue,
            }
        }
        if free > 0 {
            let claim = ClaimDeliveries {
                token: hooks.token.clone(),
                limit: u32::try_from(free).unwrap_or(u32::MAX),
                lease_ms: i64::try_from(options.lease().as_millis()).unwrap_or(i64::MAX),
                busy: under_way.busy(options.per_target),
                in_flight: under_way.deliveries.keys().copied().collect(),
            };
            let claimed = on_server(&server, &state, |store| async move {
                store.claim_webhook_deliveries(claim).await
            });
            match claimed.await {
                Ok(claims) => {
                    claimed_all = claims.claimed.len() == free;
                    if !claimed_all {
                        waiting.none();
                    }
                    next_due = claims.next_due;
                    for claimed in claims.claimed {
                        under_way.start(&claimed);
                        let (state, done) = (state.clone(), done.clone());
                        tasks.spawn(async move {
                            let sent = attempt(&state, &claimed).await;
                            let _ = done.send((claimed, sent));
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "claiming webhook deliveries failed"),
            }
        }
        if claimed_all && under_way.busy(options.per_target).is_empty() {
            // There may be more due: claim again at once.
            continue;
        }
        let wait = match next_due {
            Some(at) => {
                Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0)).min(options.poll)
            }
            None => options.poll,
        };
        let woken = tokio::select! {
            () = hooks.wake.0.notified() => {
                waiting.maybe();
                true
            }
            () = tokio::time::sleep(wait) => {
                waiting.maybe();
                false
            }
            Some(one) = finished.recv() => {
                ready.push(one);
                true
            }
            _ = stopped.changed() => false,
        };
        if woken && !options.batch.is_zero() {
            tokio::time::sleep(options.batch).await;
        }
    }
    // Stopping: the attempts under way finish, and are recorded.
    drop(done);
    while tasks.join_next().await.is_some() {}
    while let Some(one) = finished.recv().await {
        ready.push(one);
    }
    record(&server, &state, ready, &mut under_way).await;
}

/// Starts the worker ([`run`]): at [`Priority::Low`] on a runtime of its own, on a thread at the
/// lowest CPU priority (its attempts too; its database work still runs on the server's runtime,
/// where the connection pools live); at [`Priority::Normal`] on the server's runtime. Called on the
/// server's runtime; the handle ends when the worker has stopped.
pub fn start(
    state: AppState,
    stopped: watch::Receiver<bool>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let server = Handle::current();
    if state.webhooks.options.priority == Priority::Normal {
        return Ok(tokio::spawn(run(state, stopped, server)));
    }
    let low = LowPriority::start()?;
    let _ = state.webhooks.sends.set(low.handle.clone());
    let worker = low.handle.spawn(run(state, stopped, server));
    Ok(tokio::spawn(async move {
        if let Err(e) = worker.await {
            if e.is_panic() {
                std::panic::resume_unwind(e.into_panic());
            }
        }
        drop(low);
    }))
}

/// A single-threaded runtime on a thread of its own at the lowest CPU priority (its blocking
/// threads, which resolve names, too), until dropped.
struct LowPriority {
    handle: tokio::runtime::Handle,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl LowPriority {
    fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("webhooks")
            .on_thread_start(lower_priority)
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("webhooks".into())
            .spawn(move || {
                lower_priority();
                // Runs the attempts spawned on it until told to stop (or its owner is gone).
                let _ = runtime.block_on(stopped);
            })?;
        Ok(Self {
            handle,
            _stop: stop,
        })
    }
}

/// Gives the calling thread the lowest CPU priority (raising one's nice value needs no privilege).
fn lower_priority() {
    use thread_priority::{set_current_thread_priority, ThreadPriority};
    if let Err(e) = set_current_thread_priority(ThreadPriority::Min) {
        tracing::warn!(error = ?e, "webhook deliveries run at normal priority");
    }
}

impl AppState {
    /// Tells the store's outbox how many attempts a delivery gets and how a document reads.
    pub(crate) fn with_outbox(self) -> Self {
        let public_url = self.knowledge.public_url.clone().unwrap_or_default();
        self.store
            .set_outbox(dialplane_store::webhooks::OutboxSettings {
                attempts: self.webhooks.options.schedule.attempts(),
                document: Some(Arc::new(move |document| {
                    let wire =
                        crate::resources::knowledge_base::wire(document.clone(), &public_url);
                    serde_json::to_value(wire).unwrap_or_default()
                })),
            });
        self
    }

    /// Forgets deliveries that ended more than `--webhook-log-days` ago, a batch at a time: how many.
    pub async fn purge_webhook_log(&self) -> dialplane_store::Result<u64> {
        let before = now_ms() - i64::from(self.webhooks.options.log_days) * 86_400_000;
        let mut purged = 0;
        loop {
            let n = self
                .store
                .write(PurgeDeliveryLog {
                    before,
                    limit: 1_000,
                })
                .await?;
            purged += n;
            if n < 1_000 {
                return Ok(purged);
            }
        }
    }
}

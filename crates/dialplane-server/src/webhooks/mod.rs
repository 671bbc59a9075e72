//! The delivery worker every `serve` process runs: it claims due deliveries under a lease, sends
//! each ([`send`]), and records the attempt with what follows. At most `concurrency` attempts are
//! under way, at most `per_target` to any one endpoint or URL, so one slow receiver cannot hold up
//! the rest. A commit that queues deliveries wakes it at once; otherwise it looks when the next
//! delivery falls due, and at least every `poll` (other instances' deliveries, expired leases).

pub mod send;

use crate::net::fetch::SystemLookup;
use crate::net::post::Poster;
use crate::net::AddressPolicy;
use crate::AppState;
use dialplane_core::webhooks::RetrySchedule;
use dialplane_store::webhooks::{
    now_ms, ClaimDeliveries, Claimed, PurgeDeliveryLog, RecordAttempt, ReleaseLeases,
    StoredDelivery,
};
use dialplane_store::Event;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
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
    /// Ended deliveries are kept this many days.
    pub log_days: u32,
    /// Sends under the SSRF guard.
    pub poster: Poster,
    /// `http` URLs to any host are accepted (`--allow-private-urls`).
    pub allow_private_urls: bool,
    /// Run no worker (tests that look at pending deliveries).
    pub paused: bool,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        Self {
            concurrency: 64,
            per_target: 4,
            timeout: Duration::from_secs(10),
            schedule: RetrySchedule::default(),
            disable_after: Duration::from_secs(5 * 24 * 3600),
            poll: Duration::from_secs(1),
            log_days: 30,
            poster: Poster::new(
                AddressPolicy::GlobalOnly,
                Arc::new(SystemLookup),
                MAX_RESPONSE_BODY,
            ),
            allow_private_urls: false,
            paused: false,
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
        }
    }

    /// The same worker (its bell, its claims' name) with other options.
    pub fn with_options(&self, options: WebhookOptions) -> Self {
        Self {
            options,
            wake: self.wake.clone(),
            token: self.token.clone(),
        }
    }

    pub fn bell(&self) -> Arc<Bell> {
        self.wake.clone()
    }

    pub fn token(&self) -> &str {
        &self.token
    }
}

/// Sends `claimed` now and records the attempt: the delivery as it then stands.
pub async fn deliver(state: &AppState, claimed: &Claimed) -> Option<StoredDelivery> {
    let options = &state.webhooks.options;
    let delivery = &claimed.delivery;
    if delivery.attempts == 0 {
        let waited = (now_ms() - delivery.created_at).max(0) as f64 / 1000.0;
        state.metrics.webhook_first_attempt_delay.observe(waited);
    }
    let sent = send::attempt(options, claimed).await;
    state.metrics.webhook_attempted(sent.result.as_str());
    let record = RecordAttempt {
        id: delivery.id,
        token: delivery
            .lease
            .as_ref()
            .map(|(t, _)| t.clone())
            .unwrap_or_default(),
        attempt: sent.attempt,
        outcome: sent.outcome,
        disable_after_ms: i64::try_from(options.disable_after.as_millis()).unwrap_or(i64::MAX),
    };
    match state.store.write(record).await {
        Ok(recorded) => recorded,
        Err(e) => {
            // The lease runs out and the delivery is attempted again: at least once.
            tracing::warn!(error = %e, delivery = %delivery.id, "recording a webhook attempt failed");
            None
        }
    }
}

/// Claims and sends due deliveries until `stopped`; then lets the attempts under way finish (each
/// is bounded by the timeout) and returns.
pub async fn run(state: AppState, mut stopped: watch::Receiver<bool>) {
    let hooks = state.webhooks.clone();
    let options = &hooks.options;
    if options.paused {
        let _ = stopped.wait_for(|s| *s).await;
        return;
    }
    if state.store.single_writer() {
        // The only instance, starting: a lease left by a killed process guards no attempt.
        match state.store.write(ReleaseLeases).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(released = n, "webhook deliveries a stop left claimed"),
            Err(e) => tracing::warn!(error = %e, "releasing webhook leases failed"),
        }
    }
    let mut in_flight: JoinSet<String> = JoinSet::new();
    let mut per_target: HashMap<String, usize> = HashMap::new();
    let mut stats_at = tokio::time::Instant::now();
    loop {
        if *stopped.borrow() {
            break;
        }
        let free = options.concurrency.saturating_sub(in_flight.len());
        let mut next_due = None;
        let mut claimed_all = false;
        if free > 0 {
            let busy = per_target
                .iter()
                .filter(|(_, n)| **n >= options.per_target)
                .map(|(k, _)| k.clone())
                .collect();
            let claim = ClaimDeliveries {
                token: hooks.token.clone(),
                limit: u32::try_from(free).unwrap_or(u32::MAX),
                lease_ms: i64::try_from(options.lease().as_millis()).unwrap_or(i64::MAX),
                busy,
            };
            match state.store.write(claim).await {
                Ok(claims) => {
                    claimed_all = claims.claimed.len() == free;
                    next_due = claims.next_due;
                    for claimed in claims.claimed {
                        let key = claimed.delivery.target_key();
                        *per_target.entry(key.clone()).or_default() += 1;
                        let state = state.clone();
                        in_flight.spawn(async move {
                            deliver(&state, &claimed).await;
                            key
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "claiming webhook deliveries failed"),
            }
        }
        if stats_at.elapsed() >= options.poll * 5 {
            stats_at = tokio::time::Instant::now();
            if let Ok(stats) = state.store.webhook_stats().await {
                state.metrics.webhook_stats(&stats, now_ms());
            }
        }
        if claimed_all && per_target.values().all(|n| *n < options.per_target) {
            // There may be more due: claim again at once.
            continue;
        }
        let wait = match next_due {
            Some(at) => {
                Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0)).min(options.poll)
            }
            None => options.poll,
        };
        tokio::select! {
            () = hooks.wake.0.notified() => {}
            () = tokio::time::sleep(wait) => {}
            Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                finished(&mut per_target, done);
            }
            _ = stopped.changed() => {}
        }
        while let Some(done) = in_flight.try_join_next() {
            finished(&mut per_target, done);
        }
    }
    while in_flight.join_next().await.is_some() {}
}

fn finished(per_target: &mut HashMap<String, usize>, done: Result<String, tokio::task::JoinError>) {
    let Ok(key) = done else { return };
    if let Some(n) = per_target.get_mut(&key) {
        *n -= 1;
        if *n == 0 {
            per_target.remove(&key);
        }
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

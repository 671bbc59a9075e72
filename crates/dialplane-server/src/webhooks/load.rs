//! What deliveries at [`super::Priority::Low`] yield to: the API requests under way. Every request
//! is counted from the outermost middleware in ([`ApiLoad::enter`]) until its answer is ready; the
//! worker claims, unpacks and records only after a lull, [`QUIET`] with no request under way and
//! none started (under any load short of saturation such lulls come many times a second), or once
//! deliveries have waited `--webhook-max-lag` for one: a server whose every core (or whose one
//! SQLite writer) the API wants gives them to the API, and makes the deliveries after the load (or
//! beside the requests, once they are that late).
//!
//! A moment with none under way is not enough: clients that keep a server saturated still leave
//! such moments, each time a batch of SQLite writes is answered at once and before their next
//! requests arrive (a fraction of a millisecond).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// How long no request must be under way, and none start, for a lull.
pub const QUIET: Duration = Duration::from_millis(2);

/// The API requests under way.
#[derive(Debug, Default)]
pub struct ApiLoad {
    under_way: AtomicUsize,
    /// Requests ever started.
    started: AtomicU64,
    idle: Notify,
}

/// A request under way, until dropped.
#[must_use]
pub struct Entered<'a>(&'a ApiLoad);

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        if self.0.under_way.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl ApiLoad {
    /// Counts a request as under way until the guard is dropped (answered, or given up).
    pub fn enter(&self) -> Entered<'_> {
        self.started.fetch_add(1, Ordering::AcqRel);
        self.under_way.fetch_add(1, Ordering::AcqRel);
        Entered(self)
    }

    /// Requests under way now.
    pub fn under_way(&self) -> usize {
        self.under_way.load(Ordering::Acquire)
    }

    /// Returns once no request is under way.
    async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            // Registered before the count is read: a moment between the two still wakes it.
            notified.as_mut().enable();
            if self.under_way() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Returns once no request has been under way, and none started, for [`QUIET`].
    pub async fn lull(&self) {
        loop {
            self.idle().await;
            let started = self.started.load(Ordering::Acquire);
            tokio::time::sleep(QUIET).await;
            if self.under_way() == 0 && self.started.load(Ordering::Acquire) == started {
                return;
            }
        }
    }
}

/// Since when deliveries may have been waiting: set when the worker is woken with work possibly
/// due, cleared when a claim finds no more due than it could take.
#[derive(Debug, Default)]
pub struct Waiting(Option<Instant>);

impl Waiting {
    /// There may be deliveries due (from now, unless they were already waiting).
    pub fn maybe(&mut self) {
        self.0.get_or_insert_with(Instant::now);
    }

    /// None is left due.
    pub fn none(&mut self) {
        self.0 = None;
    }

    /// Waits until `load` has a lull, or until `max_lag` after deliveries started waiting (at
    /// once if they have waited that long already: they then go beside the requests until none
    /// is left due).
    pub async fn yield_to(&mut self, load: &ApiLoad, max_lag: Duration) {
        let since = *self.0.get_or_insert_with(Instant::now);
        tokio::select! {
            () = load.lull() => {}
            () = tokio::time::sleep_until(since + max_lag) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_lull_ends_the_wait_and_so_does_the_lag_when_none_comes() {
        let load = ApiLoad::default();
        let mut waiting = Waiting::default();
        // Nothing under way: a lull after QUIET.
        let t0 = Instant::now();
        waiting.yield_to(&load, Duration::from_secs(30)).await;
        assert_eq!(t0.elapsed(), QUIET);
        waiting.none();
        let t0 = Instant::now();
        // A request under way that ends after 2 s: the wait ends QUIET after it.
        let held = std::sync::Arc::new(load);
        let load2 = held.clone();
        let request = tokio::spawn(async move {
            let _entered = load2.enter();
            tokio::time::sleep(Duration::from_secs(2)).await;
        });
        tokio::task::yield_now().await;
        assert_eq!(held.under_way(), 1);
        waiting.yield_to(&held, Duration::from_secs(30)).await;
        assert_eq!(t0.elapsed(), Duration::from_secs(2) + QUIET);
        request.await.unwrap();
        // Requests that follow each other with no QUIET between them leave no lull.
        let load3 = held.clone();
        let stream = tokio::spawn(async move {
            for _ in 0..10 {
                drop(load3.enter());
                tokio::time::sleep(QUIET / 2).await;
            }
        });
        waiting.none();
        let t1 = Instant::now();
        waiting.yield_to(&held, Duration::from_secs(30)).await;
        stream.await.unwrap();
        assert!(t1.elapsed() >= QUIET * 5, "{:?}", t1.elapsed());
        waiting.none();
        let t0 = Instant::now();
        // One that never ends: the wait ends 30 s after the deliveries started waiting (t0).
        let _forever = held.enter();
        waiting.yield_to(&held, Duration::from_secs(30)).await;
        assert_eq!(t0.elapsed(), Duration::from_secs(30));
        // Late already: no more waiting until none is left due.
        waiting.yield_to(&held, Duration::from_secs(30)).await;
        assert_eq!(t0.elapsed(), Duration::from_secs(30));
        waiting.none();
        waiting.maybe();
        waiting.yield_to(&held, Duration::from_secs(30)).await;
        assert_eq!(t0.elapsed(), Duration::from_secs(60));
    }
}

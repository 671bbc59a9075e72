//! Rate limiting per API key: a fixed one-minute window, counted in this process or, with
//! `--redis-url`, in Redis so that the limit holds across every instance.
//!
//! When Redis cannot be reached the request is served (fail open), a warning is logged at most once a
//! minute, and `dialplane_redis_failures` counts it.

use crate::metrics::Metrics;
use dialplane_core::KeyId;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const WINDOW_SECS: u64 = 60;
/// How long one Redis call may take before the request is served without it.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);
/// How long the probe at start waits for Redis: no request waits on it, and a busy machine must not
/// have a Redis that refuses reported as one that is slow.
const REDIS_PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// After a failed connection attempt, requests skip Redis for this long.
const REDIS_RETRY_AFTER: Duration = Duration::from_secs(1);
const WARN_EVERY: Duration = Duration::from_secs(60);

/// What the limiter decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window resets.
    pub reset: u64,
    pub allowed: bool,
}

/// What time it is, for the windows: the system's clock, or one a test sets.
pub trait Clock: Send + Sync {
    fn now(&self) -> SystemTime;
}

/// The system's clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that stands still until it is moved: tests turn the window without waiting for it.
pub struct ManualClock(Mutex<SystemTime>);

impl ManualClock {
    pub fn at(time: SystemTime) -> Self {
        Self(Mutex::new(time))
    }

    pub fn advance(&self, by: Duration) {
        if let Ok(mut now) = self.0.lock() {
            *now += by;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        self.0.lock().map_or(UNIX_EPOCH, |now| *now)
    }
}

/// The window `clock` is in and the seconds left in it.
fn window(clock: &dyn Clock) -> (u64, u64) {
    let now = clock
        .now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    (now / WINDOW_SECS, WINDOW_SECS - now % WINDOW_SECS)
}

fn decide(limit: u32, count: u64, reset: u64) -> Decision {
    Decision {
        limit,
        remaining: u32::try_from(u64::from(limit).saturating_sub(count)).unwrap_or(0),
        reset,
        allowed: count <= u64::from(limit),
    }
}

pub enum RateLimiter {
    Off,
    Local {
        per_minute: u32,
        counts: Mutex<HashMap<KeyId, (u64, u64)>>,
        clock: Arc<dyn Clock>,
    },
    Redis {
        per_minute: u32,
        client: redis::Client,
        conn: tokio::sync::Mutex<Option<ConnectionManager>>,
        last_failure: Mutex<Option<Instant>>,
        last_warning: Mutex<Option<Instant>>,
        clock: Arc<dyn Clock>,
    },
}

impl RateLimiter {
    /// `per_minute` 0 turns limiting off.
    pub fn local(per_minute: u32) -> Self {
        if per_minute == 0 {
            return Self::Off;
        }
        Self::Local {
            per_minute,
            counts: Mutex::default(),
            clock: Arc::new(SystemClock),
        }
    }

    /// This limiter with its windows on `clock`.
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        match self {
            Self::Off => Self::Off,
            Self::Local {
                per_minute, counts, ..
            } => Self::Local {
                per_minute,
                counts,
                clock,
            },
            Self::Redis {
                per_minute,
                client,
                conn,
                last_failure,
                last_warning,
                ..
            } => Self::Redis {
                per_minute,
                client,
                conn,
                last_failure,
                last_warning,
                clock,
            },
        }
    }

    /// Counts in Redis. The URL is checked now; the connection is made on first use and remade
    /// whenever Redis comes back.
    pub fn redis(per_minute: u32, url: &str) -> Result<Self, String> {
        if per_minute == 0 {
            return Ok(Self::Off);
        }
        let client = redis::Client::open(url).map_err(|e| format!("bad Redis URL: {e}"))?;
        Ok(Self::Redis {
            per_minute,
            client,
            conn: tokio::sync::Mutex::new(None),
            last_failure: Mutex::new(None),
            last_warning: Mutex::new(None),
            clock: Arc::new(SystemClock),
        })
    }

    /// Counts one request of `key`; `None` when limiting is off or Redis failed (fail open).
    pub async fn check(&self, key: &KeyId, metrics: &Metrics) -> Option<Decision> {
        let decision = match self {
            Self::Off => return None,
            Self::Local {
                per_minute,
                counts,
                clock,
            } => {
                let (window, reset) = window(clock.as_ref());
                let mut counts = counts.lock().ok()?;
                if counts.len() > 100_000 {
                    counts.retain(|_, (w, _)| *w == window);
                }
                let entry = counts.entry(*key).or_insert((window, 0));
                if entry.0 != window {
                    *entry = (window, 0);
                }
                entry.1 += 1;
                decide(*per_minute, entry.1, reset)
            }
            Self::Redis { per_minute, .. } => match self.redis_count(key).await {
                Ok((count, reset)) => decide(*per_minute, count, reset),
                Err(e) => {
                    metrics.redis_failures.inc();
                    metrics.decision("failed_open");
                    self.warn(&e);
                    return None;
                }
            },
        };
        metrics.decision(if decision.allowed {
            "allowed"
        } else {
            "limited"
        });
        Some(decision)
    }

    async fn redis_count(&self, key: &KeyId) -> Result<(u64, u64), String> {
        let Self::Redis { last_failure, .. } = self else {
            return Err("not a Redis limiter".into());
        };
        // After a failure, skip Redis for a moment rather than make every request wait for it.
        recently_failed(last_failure)?;
        let result = self.redis_count_now(key).await;
        if result.is_err() {
            failed_now(last_failure);
        }
        result
    }

    async fn redis_count_now(&self, key: &KeyId) -> Result<(u64, u64), String> {
        let Self::Redis {
            client,
            conn,
            last_failure,
            clock,
            ..
        } = self
        else {
            return Err("not a Redis limiter".into());
        };
        let mut slot = conn.lock().await;
        if slot.is_none() {
            // Requests that waited here while another tried to connect and failed fail open at
            // once, instead of each trying again for the whole timeout, one after another.
            recently_failed(last_failure)?;
            let connected = self.connect(client, REDIS_TIMEOUT).await;
            if connected.is_err() {
                // Before the lock is let go, so that whoever waits for it sees the failure.
                failed_now(last_failure);
            }
            *slot = Some(connected?);
        }
        let mut manager = slot.clone().ok_or("no Redis connection")?;
        drop(slot);
        let (window, reset) = window(clock.as_ref());
        let name = format!("dialplane:ratelimit:{key}:{window}");
        let mut pipe = redis::pipe();
        pipe.atomic()
            .incr(&name, 1)
            .expire(&name, (WINDOW_SECS * 2) as i64);
        let (count, _): (u64, i64) =
            tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async(&mut manager))
                .await
                .map_err(|_| "Redis did not answer in time".to_owned())?
                .map_err(|e| format!("Redis: {e}"))?;
        Ok((count, reset))
    }

    async fn connect(
        &self,
        client: &redis::Client,
        timeout: Duration,
    ) -> Result<ConnectionManager, String> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(REDIS_TIMEOUT)
            // No retries inside one attempt: a refused connection is reported as refused at once,
            // not as a timeout after backing off past REDIS_TIMEOUT.
            .set_number_of_retries(0);
        tokio::time::timeout(
            timeout,
            ConnectionManager::new_with_config(client.clone(), config),
        )
        .await
        .map_err(|_| "connecting to Redis timed out".to_owned())?
        .map_err(|e| format!("connecting to Redis: {e}"))
    }

    /// Connects to Redis now (if this limiter counts there), so that a server can say at start
    /// whether its Redis answers, and why not.
    pub async fn probe(&self) -> Result<(), String> {
        let Self::Redis { client, conn, .. } = self else {
            return Ok(());
        };
        let manager = self.connect(client, REDIS_PROBE_TIMEOUT).await?;
        *conn.lock().await = Some(manager);
        Ok(())
    }

    /// Logs a Redis failure, at most once every [`WARN_EVERY`]; `true` when it logged.
    fn warn(&self, error: &str) -> bool {
        let Self::Redis { last_warning, .. } = self else {
            return false;
        };
        let Ok(mut last) = last_warning.lock() else {
            return false;
        };
        if last.is_some_and(|t| t.elapsed() < WARN_EVERY) {
            return false;
        }
        *last = Some(Instant::now());
        tracing::warn!(
            %error,
            "rate limiting is failing open: requests are served without a limit"
        );
        true
    }
}

/// `Err` while Redis failed less than [`REDIS_RETRY_AFTER`] ago.
fn recently_failed(last_failure: &Mutex<Option<Instant>>) -> Result<(), String> {
    if last_failure
        .lock()
        .map_err(|e| e.to_string())?
        .is_some_and(|t| t.elapsed() < REDIS_RETRY_AFTER)
    {
        return Err("Redis is unreachable (waiting before trying again)".into());
    }
    Ok(())
}

fn failed_now(last_failure: &Mutex<Option<Instant>>) {
    if let Ok(mut last) = last_failure.lock() {
        *last = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_local_limiter_allows_the_limit_then_refuses() {
        let limiter = RateLimiter::local(3);
        let metrics = Metrics::default();
        let key = KeyId::generate();
        let decisions: Vec<Decision> = check_n(&limiter, &key, &metrics, 4).await;
        assert_eq!(
            decisions.iter().map(|d| d.remaining).collect::<Vec<_>>(),
            [2, 1, 0, 0]
        );
        assert_eq!(
            decisions.iter().map(|d| d.allowed).collect::<Vec<_>>(),
            [true, true, true, false]
        );
        assert!(decisions
            .iter()
            .all(|d| d.limit == 3 && (1..=60).contains(&d.reset)));
        let other = limiter.check(&KeyId::generate(), &metrics).await.unwrap();
        assert!(other.allowed, "keys are counted apart");
    }

    async fn check_n(
        limiter: &RateLimiter,
        key: &KeyId,
        metrics: &Metrics,
        n: usize,
    ) -> Vec<Decision> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(limiter.check(key, metrics).await.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn an_unreachable_redis_fails_open_and_warns_once_a_minute() {
        // Port 1 on loopback: nothing listens there.
        let limiter = RateLimiter::redis(5, "redis://127.0.0.1:1").unwrap();
        let metrics = Metrics::default();
        for _ in 0..3 {
            assert!(limiter.check(&KeyId::generate(), &metrics).await.is_none());
        }
        assert_eq!(metrics.redis_failures.get(), 3);
        assert!(!limiter.warn("again"), "already warned this minute");
        if let RateLimiter::Redis { last_warning, .. } = &limiter {
            *last_warning.lock().unwrap() = Some(Instant::now() - WARN_EVERY);
        }
        assert!(limiter.warn("a minute later"), "warns again after a minute");
    }

    #[tokio::test]
    async fn zero_turns_limiting_off() {
        let limiter = RateLimiter::local(0);
        assert!(limiter
            .check(&KeyId::generate(), &Metrics::default())
            .await
            .is_none());
    }
}

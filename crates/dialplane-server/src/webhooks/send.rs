//! One attempt of one delivery: signed (Standard Webhooks), posted under the SSRF guard, and
//! judged: what the attempt log keeps, and what follows (success, a retry when, the end).

use super::WebhookOptions;
use dialplane_core::webhooks::{secret_key, signature_header};
use dialplane_store::webhooks::{now_ms, Attempt, Claimed, Outcome};
use std::time::{Duration, Instant};

/// How an attempt went, for the metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Result {
    /// A 2xx.
    Succeeded,
    /// Another status.
    Rejected,
    /// No answer: unreachable, timed out.
    Unreachable,
    /// The SSRF guard refused the address.
    Refused,
}

impl Result {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Rejected => "rejected",
            Self::Unreachable => "unreachable",
            Self::Refused => "refused",
        }
    }
}

/// What an attempt did.
#[derive(Debug, Clone)]
pub struct Attempted {
    pub attempt: Attempt,
    pub outcome: Outcome,
    pub result: Result,
}

/// Sends `claimed` once and judges the answer.
pub async fn attempt(options: &WebhookOptions, claimed: &Claimed) -> Attempted {
    let delivery = &claimed.delivery;
    let at = now_ms();
    let timestamp = at.div_euclid(1000);
    let id = delivery.event_id.to_string();
    let body = claimed.payload.as_bytes();
    let keys: Vec<Vec<u8>> = claimed
        .secrets
        .iter()
        .filter_map(|s| secret_key(s).ok())
        .collect();
    let headers = [
        ("webhook-id", id.clone()),
        ("webhook-timestamp", timestamp.to_string()),
        (
            "webhook-signature",
            signature_header(&keys, &id, timestamp, body),
        ),
    ];
    let started = Instant::now();
    let posted = options
        .poster
        .post(&delivery.url, &headers, body.to_vec(), options.timeout)
        .await;
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut attempt = Attempt {
        number: delivery.attempts + 1,
        at,
        duration_ms,
        status_code: None,
        error: None,
        response_body: None,
    };
    let (result, retry_after) = match posted {
        Ok(answer) => {
            attempt.status_code = Some(answer.status);
            attempt.response_body = Some(answer.body);
            match answer.status {
                200..=299 => (Result::Succeeded, None),
                300..=399 => {
                    attempt.error = Some("redirects are not followed".into());
                    (Result::Rejected, None)
                }
                410 => {
                    attempt.error = Some("410 Gone".into());
                    let gone = Attempted {
                        attempt,
                        outcome: Outcome::Gone,
                        result: Result::Rejected,
                    };
                    return gone;
                }
                429 | 503 => {
                    attempt.error = Some(format!("answered {}", answer.status));
                    (Result::Rejected, answer.retry_after)
                }
                status => {
                    attempt.error = Some(format!("answered {status}"));
                    (Result::Rejected, None)
                }
            }
        }
        Err(e) => {
            let result = if e.is_refused() {
                Result::Refused
            } else {
                Result::Unreachable
            };
            attempt.error = Some(e.to_string());
            (result, None)
        }
    };
    let outcome = if result == Result::Succeeded {
        Outcome::Succeeded
    } else {
        next_attempt(options, claimed, at, retry_after)
    };
    Attempted {
        attempt,
        outcome,
        result,
    }
}

/// After a failed attempt made at `at`: when the next one is, or the end.
fn next_attempt(
    options: &WebhookOptions,
    claimed: &Claimed,
    at: i64,
    retry_after: Option<Duration>,
) -> Outcome {
    let delivery = &claimed.delivery;
    let made = delivery.attempts + 1;
    if made >= delivery.max_attempts {
        return Outcome::Failed;
    }
    let first = delivery.first_attempt_at.unwrap_or(at);
    let elapsed = Duration::from_millis(u64::try_from(at - first).unwrap_or(0));
    let jitter = rand::random::<f64>() * 2.0 - 1.0;
    match options
        .schedule
        .after_failure(made, jitter, retry_after, elapsed)
    {
        Some(delay) => {
            Outcome::RetryAt(at + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2))
        }
        None => Outcome::Failed,
    }
}

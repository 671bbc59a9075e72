//! Webhooks without I/O: the event types, Standard Webhooks secrets and signatures (and why one does
//! not verify), and the retry schedule.
//!
//! A signature is `v1,` and the standard base64 of HMAC-SHA256 over `"{id}.{timestamp}.{body}"`,
//! keyed with the bytes a `whsec_` secret encodes (<https://www.standardwebhooks.com/>).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::time::Duration;

/// What happened, as a delivery's `type` says it. `ping` is sent by `POST
/// /webhook-endpoints/{id}/test` only, and cannot be subscribed to.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
pub enum EventType {
    #[serde(rename = "conversation.completed")]
    ConversationCompleted,
    #[serde(rename = "conversation.analyzed")]
    ConversationAnalyzed,
    #[serde(rename = "agent.created")]
    AgentCreated,
    #[serde(rename = "agent.updated")]
    AgentUpdated,
    #[serde(rename = "agent.deleted")]
    AgentDeleted,
    #[serde(rename = "document.ready")]
    DocumentReady,
    #[serde(rename = "document.failed")]
    DocumentFailed,
    #[serde(rename = "endpoint.disabled")]
    EndpointDisabled,
    #[serde(rename = "ping")]
    Ping,
}

impl EventType {
    /// Every type an endpoint may subscribe to.
    pub const SUBSCRIBABLE: [EventType; 8] = [
        Self::ConversationCompleted,
        Self::ConversationAnalyzed,
        Self::AgentCreated,
        Self::AgentUpdated,
        Self::AgentDeleted,
        Self::DocumentReady,
        Self::DocumentFailed,
        Self::EndpointDisabled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConversationCompleted => "conversation.completed",
            Self::ConversationAnalyzed => "conversation.analyzed",
            Self::AgentCreated => "agent.created",
            Self::AgentUpdated => "agent.updated",
            Self::AgentDeleted => "agent.deleted",
            Self::DocumentReady => "document.ready",
            Self::DocumentFailed => "document.failed",
            Self::EndpointDisabled => "endpoint.disabled",
            Self::Ping => "ping",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::SUBSCRIBABLE
            .into_iter()
            .chain([Self::Ping])
            .find(|t| t.as_str() == s)
    }

    /// Whether an agent's `postCallWebhook` receives it.
    pub fn for_post_call_webhook(self) -> bool {
        matches!(
            self,
            Self::ConversationCompleted | Self::ConversationAnalyzed
        )
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a secret starts.
pub const SECRET_PREFIX: &str = "whsec_";

/// A new secret: `whsec_` and the standard base64 of 32 bytes from a CSPRNG (the thread's ChaCha,
/// seeded by the operating system).
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// Why a secret cannot sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadSecret(pub String);

impl std::fmt::Display for BadSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadSecret {}

/// The key a secret encodes: what follows `whsec_`, in standard base64.
pub fn secret_key(secret: &str) -> Result<Vec<u8>, BadSecret> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).ok_or_else(|| {
        BadSecret(format!(
            "a secret starts with {SECRET_PREFIX} (copy it whole, as the API showed it)"
        ))
    })?;
    STANDARD.decode(encoded).map_err(|e| {
        BadSecret(format!(
            "what follows {SECRET_PREFIX} is not standard base64 ({e})"
        ))
    })
}

/// One `v1,` signature of `body` sent as message `id` at `timestamp` (Unix seconds).
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    format!("v1,{}", STANDARD.encode(mac(key, id, timestamp, body)))
}

fn mac(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return Vec::new();
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// The `webhook-signature` header: one signature per key, space-separated (two during a rotation).
pub fn signature_header(keys: &[Vec<u8>], id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter()
        .map(|k| sign(k, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// How far a `webhook-timestamp` may be from now, as the reference libraries allow.
pub const TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// Why a delivery does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    BadSecret(BadSecret),
    /// The header holds no `v1,` signature at all.
    NoSignature,
    /// The timestamp is too far from now (the signature itself may be right: `signed`).
    Timestamp {
        skew_seconds: i64,
        signed: bool,
    },
    /// No signature matches the body: the secret is another one, or the body is not the bytes that
    /// were sent. `variant` names a change of the body that does match, when one does.
    NoMatch {
        variant: Option<&'static str>,
    },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadSecret(e) => write!(f, "the secret is malformed: {e}"),
            Self::NoSignature => f.write_str(
                "the signature header holds no v1 signature (expected \"v1,<base64>\", space-separated)",
            ),
            Self::Timestamp { skew_seconds, signed } => write!(
                f,
                "the timestamp is {} s {} now, beyond the {} s tolerance{}",
                skew_seconds.abs(),
                if *skew_seconds < 0 { "before" } else { "after" },
                TOLERANCE.as_secs(),
                match (*signed, *skew_seconds < 0) {
                    (true, true) => {
                        " (the signature itself matches: the delivery is old, or a clock is wrong)"
                    }
                    (true, false) => {
                        " (the signature itself matches: the sender's clock or this one is wrong)"
                    }
                    (false, _) => " (and the signature does not match either)",
                }
            ),
            Self::NoMatch { variant: Some(variant) } => write!(
                f,
                "the body changed: the signature matches {variant}, not the bytes given. Verify the \
                 raw request body, before any JSON parsing or re-serialising"
            ),
            Self::NoMatch { variant: None } => f.write_str(
                "no signature matches: the secret is not the one that signed (an endpoint's own \
                 secret, or the workspace secret for postCallWebhook; after a rotation, the new \
                 one), or the body is not the raw bytes that were sent",
            ),
        }
    }
}

/// Checks a delivery as a receiver would: `now` and `timestamp` in Unix seconds.
pub fn verify(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &[u8],
    header: &str,
    now: i64,
) -> Result<(), Mismatch> {
    let key = secret_key(secret).map_err(Mismatch::BadSecret)?;
    let given: Vec<Vec<u8>> = header
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|b| STANDARD.decode(b).ok())
        .collect();
    if given.is_empty() {
        return Err(Mismatch::NoSignature);
    }
    let matches = |body: &[u8]| given.contains(&mac(&key, id, timestamp, body));
    let signed = matches(body);
    let skew = timestamp - now;
    if skew.unsigned_abs() > TOLERANCE.as_secs() {
        return Err(Mismatch::Timestamp {
            skew_seconds: skew,
            signed,
        });
    }
    if signed {
        return Ok(());
    }
    let variant = body_variants(body)
        .into_iter()
        .find(|(_, b)| matches(b))
        .map(|(name, _)| name);
    Err(Mismatch::NoMatch { variant })
}

/// What a body often becomes between the wire and a receiver's check.
fn body_variants(body: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let mut variants = Vec::new();
    let trimmed = body.trim_ascii_end();
    if trimmed.len() != body.len() {
        variants.push(("the body without its trailing whitespace", trimmed.to_vec()));
    }
    variants.push(("the body with a trailing newline", [body, b"\n"].concat()));
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        if let Ok(compact) = serde_json::to_vec(&value) {
            variants.push(("the body as compact JSON", compact));
        }
        if let Ok(pretty) = serde_json::to_vec_pretty(&value) {
            variants.push(("the body as pretty-printed JSON", pretty));
        }
    }
    variants.retain(|(_, b)| b != body);
    variants
}

/// When attempts are made: the first at once, then after each delay (N delays: N + 1 attempts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(Vec<Duration>);

impl Default for RetrySchedule {
    /// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: 8 attempts over about a day.
    fn default() -> Self {
        let (s, m, h) = (1, 60, 3600);
        Self(
            [5 * s, 5 * m, 30 * m, 2 * h, 5 * h, 10 * h, 10 * h]
                .map(Duration::from_secs)
                .to_vec(),
        )
    }
}

impl std::str::FromStr for RetrySchedule {
    type Err = String;

    /// Comma-separated durations: a number and `ms`, `s`, `m`, `h` or `d` (`5s,5m,30m,2h`); an
    /// empty list means one attempt only.
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(Self(Vec::new()));
        }
        s.split(',')
            .map(|d| duration(d.trim()))
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl std::fmt::Display for RetrySchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: Vec<String> = self.0.iter().map(|d| display_duration(*d)).collect();
        f.write_str(&shown.join(","))
    }
}

fn duration(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as 500ms, 5s, 5m, 2h or 1d"))?;
    let ms = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("{s:?}: the unit must be ms, s, m, h or d")),
    };
    n.checked_mul(ms)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("{s:?} is too long"))
}

/// A duration as the flags write it: `5d`, `2h`, `30m`, `5s`, or `500ms`.
pub fn display_duration(d: Duration) -> String {
    let ms = d.as_millis();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms >= size && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

impl RetrySchedule {
    pub fn new(delays: Vec<Duration>) -> Self {
        Self(delays)
    }

    /// How many attempts a delivery gets.
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.0.len() + 1).unwrap_or(u32::MAX)
    }

    /// Every delay together: how long a delivery may stay pending.
    pub fn total(&self) -> Duration {
        self.0.iter().sum()
    }

    /// When to try again after attempt number `made` (1 for the first) failed, or `None` past the
    /// last. `jitter` in [-1, 1] moves the delay by up to 10 %; a `Retry-After` the receiver sent
    /// replaces the delay, as long as the next attempt stays within the schedule's total from the
    /// first attempt (`elapsed`).
    pub fn after_failure(
        &self,
        made: u32,
        jitter: f64,
        retry_after: Option<Duration>,
        elapsed: Duration,
    ) -> Option<Duration> {
        let delay = *self.0.get(usize::try_from(made).ok()?.checked_sub(1)?)?;
        let jittered = delay.mul_f64(1.0 + jitter.clamp(-1.0, 1.0) / 10.0);
        match retry_after {
            Some(asked) => Some(asked.min(self.total().saturating_sub(elapsed))),
            None => Some(jittered),
        }
    }
}

#[cfg(test)]
#[path = "webhooks_tests.rs"]
mod tests;

//! What runtimes send about a call, read from JSON with every problem named: the fields `POST` and
//! `PATCH` share ([`Changes`]), the create-only ones, and turns.

use crate::resources::fields::Fields;
use dialplane_core::calls::{unix_seconds, ConversationStatus, Turn, TurnRole};
use dialplane_core::conversation::{Changes, KeyMoment, MapChange, SentimentChange, TurnSentiment};
use dialplane_core::{Pointer, ProblemCode};
use serde_json::{Map, Value};

pub const MAX_SUMMARY_CHARS: usize = 100_000;
pub const MAX_TRANSCRIPT_CHARS: usize = 1_000_000;
pub const MAX_ERROR_CHARS: usize = 10_000;
pub const MAX_TEXT_CHARS: usize = 10_000;
pub const MAX_URL_CHARS: usize = 2_048;
pub const MAX_KEY_MOMENTS: usize = 1_000;
/// The most turns one request appends.
pub const MAX_TURNS_A_REQUEST: usize = 500;
/// The latest Unix time taken, in seconds (the year 9999).
const MAX_UNIX_SECONDS: i64 = 253_402_300_799;

/// The keys [`changes`] reads.
pub const CHANGE_KEYS: [&str; 16] = [
    "status",
    "startTimeUnix",
    "endTimeUnix",
    "summary",
    "transcript",
    "contactNumber",
    "callerNumber",
    "sentiment",
    "keyMoments",
    "appointmentScheduled",
    "dataCollected",
    "voiceMailDetected",
    "errorMessage",
    "callTransferred",
    "recordingUrl",
    "optedOut",
];

/// A Unix time in seconds or milliseconds, as whole seconds.
fn unix_time(f: &mut Fields, key: &str) -> Option<i64> {
    let value = f.integer(key, 0..=MAX_UNIX_SECONDS * 1000 + 999)?;
    let seconds = unix_seconds(value);
    if seconds > MAX_UNIX_SECONDS {
        f.problem(key, ProblemCode::OutOfRange, "is after the year 9999");
        return None;
    }
    Some(seconds)
}

/// The shared fields of a body. In a merge patch, `null` resets a field to its default (`status`
/// and `startTimeUnix` have none).
pub fn changes(f: &mut Fields) -> Changes {
    let reset = |f: &Fields, key: &str| f.is_null(key);
    let mut c = Changes::default();
    if !f.not_null("status") {
        c.status = f.choice::<ConversationStatus>("status");
    }
    if !f.not_null("startTimeUnix") {
        c.start_time_unix = unix_time(f, "startTimeUnix");
    }
    c.end_time_unix = nullable(f, "endTimeUnix", unix_time);
    c.summary = if reset(f, "summary") {
        Some(String::new())
    } else {
        f.text("summary", MAX_SUMMARY_CHARS)
    };
    c.transcript = nullable(f, "transcript", |f, k| f.text(k, MAX_TRANSCRIPT_CHARS));
    c.contact_number = nullable(f, "contactNumber", |f, k| f.e164(k));
    c.caller_number = nullable(f, "callerNumber", |f, k| f.e164(k));
    c.sentiment = nullable(f, "sentiment", sentiment);
    c.key_moments = if reset(f, "keyMoments") {
        Some(Vec::new())
    } else {
        key_moments(f)
    };
    c.appointment_scheduled = map_change(f, "appointmentScheduled");
    c.data_collected = map_change(f, "dataCollected");
    c.voice_mail_detected = flag(f, "voiceMailDetected");
    c.error_message = nullable(f, "errorMessage", |f, k| f.text(k, MAX_ERROR_CHARS));
    c.call_transferred = flag(f, "callTransferred");
    c.recording_url = nullable(f, "recordingUrl", |f, k| f.http_url(k, MAX_URL_CHARS));
    c.opted_out = flag(f, "optedOut");
    c
}

/// A free-form map's change: `null` resets it, an object merges into it (RFC 7396).
fn map_change(f: &mut Fields, key: &str) -> Option<MapChange> {
    if f.is_null(key) {
        Some(MapChange::Reset)
    } else {
        f.object(key).cloned().map(MapChange::Merge)
    }
}

/// `Some(None)` for `null`, `Some(Some(v))` for a good value, `None` when absent or bad.
fn nullable<T>(
    f: &mut Fields,
    key: &str,
    read: impl FnOnce(&mut Fields, &str) -> Option<T>,
) -> Option<Option<T>> {
    if f.is_null(key) {
        Some(None)
    } else {
        read(f, key).map(Some)
    }
}

/// A boolean; `null` is `false`.
fn flag(f: &mut Fields, key: &str) -> Option<bool> {
    if f.is_null(key) {
        Some(false)
    } else {
        f.boolean(key)
    }
}

fn sentiment(f: &mut Fields, key: &str) -> Option<SentimentChange> {
    let object = f.object(key)?;
    let at = f.pointer(key);
    let known = ["sentiment_score", "sentiment_by_turn", "sentiment_overall"];
    let mut s = Fields::new(object, at.clone(), &known, f.problems);
    let score = nullable(&mut s, "sentiment_score", |s, k| s.number(k, -1e9..=1e9));
    let overall = nullable(&mut s, "sentiment_overall", |s, k| {
        s.text(k, MAX_TEXT_CHARS)
    });
    let by_turn = if s.is_null("sentiment_by_turn") {
        Some(Vec::new())
    } else {
        s.array("sentiment_by_turn").cloned()
    };
    let by_turn = by_turn.map(|items| {
        let mut turns = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let at = at.key("sentiment_by_turn").index(i);
            let Some(object) = object_at(f, &at, item) else {
                continue;
            };
            let known = ["text", "sentiment_score", "sentiment_label", "speaker"];
            let mut t = Fields::new(object, at, &known, f.problems);
            turns.push(TurnSentiment {
                text: t.text("text", MAX_TEXT_CHARS).unwrap_or_default(),
                sentiment_score: t.number("sentiment_score", -1e9..=1e9),
                sentiment_label: t.text("sentiment_label", 100),
                speaker: t.text("speaker", 100),
            });
        }
        turns
    });
    Some(SentimentChange {
        sentiment_score: score,
        sentiment_by_turn: by_turn,
        sentiment_overall: overall,
    })
}

/// `value` as an object, or a problem at `at`.
fn object_at<'v>(f: &mut Fields, at: &Pointer, value: &'v Value) -> Option<&'v Map<String, Value>> {
    let object = value.as_object();
    if object.is_none() {
        f.problems
            .push(at, ProblemCode::InvalidType, "must be an object");
    }
    object
}

fn key_moments(f: &mut Fields) -> Option<Vec<KeyMoment>> {
    let items = f.array("keyMoments")?;
    if items.len() > MAX_KEY_MOMENTS {
        let why = format!(
            "must have at most {MAX_KEY_MOMENTS} items, got {}",
            items.len()
        );
        f.problem("keyMoments", ProblemCode::TooLong, why);
        return None;
    }
    let mut moments = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = f.pointer("keyMoments").index(i);
        let Some(object) = object_at(f, &at, item) else {
            continue;
        };
        let mut m = Fields::new(
            object,
            at,
            &["text", "label", "speaker", "timestamp"],
            f.problems,
        );
        m.required("text");
        moments.push(KeyMoment {
            text: m.text("text", MAX_TEXT_CHARS).unwrap_or_default(),
            label: m.text("label", 100),
            speaker: m.text("speaker", 100),
            timestamp: m.number("timestamp", 0.0..=1e9),
        });
    }
    Some(moments)
}

/// The turns at `key`: 1..=500 of them, each `{role, text, startMs, endMs}` with `endMs ≥ startMs`.
pub fn turns(f: &mut Fields, key: &str) -> Option<Vec<Turn>> {
    let items = f.array(key)?;
    if items.is_empty() || items.len() > MAX_TURNS_A_REQUEST {
        let code = if items.is_empty() {
            ProblemCode::TooShort
        } else {
            ProblemCode::TooLong
        };
        let why = format!(
            "must have 1..={MAX_TURNS_A_REQUEST} turns, got {}",
            items.len()
        );
        f.problem(key, code, why);
        return None;
    }
    let mut turns = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = f.pointer(key).index(i);
        let Some(object) = object_at(f, &at, item) else {
            continue;
        };
        let known = ["role", "text", "startMs", "endMs"];
        let mut t = Fields::new(object, at, &known, f.problems);
        for required in known {
            t.required(required);
        }
        let role = t.choice::<TurnRole>("role");
        let text = t.text("text", MAX_TEXT_CHARS);
        let start = t.integer("startMs", 0..=i64::from(u32::MAX) * 1000);
        let end = t.integer("endMs", 0..=i64::from(u32::MAX) * 1000);
        if let (Some(s), Some(e)) = (start, end) {
            if e < s {
                t.problem(
                    "endMs",
                    ProblemCode::OutOfRange,
                    format!("must not be before startMs ({s}), got {e}"),
                );
            }
        }
        if let (Some(role), Some(text), Some(start), Some(end)) = (role, text, start, end) {
            turns.push(Turn {
                role,
                text,
                start_ms: start.unsigned_abs(),
                end_ms: end.unsigned_abs(),
            });
        }
    }
    Some(turns)
}

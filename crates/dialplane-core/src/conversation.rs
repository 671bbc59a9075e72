//! A conversation (one call) as the API answers it, and the rules of its life: what a change may
//! touch once the call is over, the forward-only status, and the agent's settings that decide what
//! is kept. Pure: the store runs [`apply`] and [`Settings::enforce`] inside its transaction.

use crate::agent::{Agent, Choice, EntityType};
use crate::calls::{render_transcript, CallDirection, ConversationStatus, Turn};
use crate::ids::{AgentId, ConversationId};
use crate::{Metadata, Pointer, ProblemCode, Problems};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A conversation: Callin's detail, plus ours (`conversationId`, `agentVersion`, `turns`,
/// `optedOut`, `recordingUrl`, `externalId`, `metadata.updatedAt`). Every field is always present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    pub conversation_id: ConversationId,
    pub agent_id: AgentId,
    /// The agent's name when the conversation was created.
    pub agent_name: String,
    /// The version of the agent the call ran.
    pub agent_version: u64,
    pub status: ConversationStatus,
    pub direction: CallDirection,
    /// Seconds from start to end; `null` until the call ends.
    pub conversation_duration: Option<i64>,
    /// Unix seconds.
    pub start_time_unix: i64,
    /// Unix seconds; `null` until the call ends.
    pub end_time_unix: Option<i64>,
    pub summary: String,
    /// The runtime's transcript as sent, or the turns rendered as `Agent: …`/`User: …`/`Tool: …` lines.
    pub transcript: String,
    /// The customer's number (the callee of an outbound call, the caller of an inbound one).
    pub contact_number: Option<String>,
    /// Whoever placed the call.
    pub caller_number: Option<String>,
    pub sentiment: Option<Sentiment>,
    pub key_moments: Vec<KeyMoment>,
    #[schema(value_type = Object)]
    pub appointment_scheduled: Map<String, Value>,
    /// Entity name (of the agent's `platformSettings.dataCollection.entities`) to the value found.
    #[schema(value_type = Object)]
    pub data_collected: Map<String, Value>,
    pub voice_mail_detected: bool,
    pub error_message: Option<String>,
    pub call_transferred: bool,
    pub recording_url: Option<String>,
    pub opted_out: bool,
    /// The runtime's own id of the call, unique in the workspace.
    pub external_id: Option<String>,
    /// The structured transcript, in order of `startMs`.
    pub turns: Vec<Turn>,
    pub metadata: Metadata,
}

/// Callin's sentiment, with its snake_case members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Sentiment {
    pub sentiment_score: Option<f64>,
    pub sentiment_by_turn: Vec<TurnSentiment>,
    pub sentiment_overall: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TurnSentiment {
    pub text: String,
    pub sentiment_score: Option<f64>,
    pub sentiment_label: Option<String>,
    pub speaker: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyMoment {
    pub text: String,
    pub label: Option<String>,
    pub speaker: Option<String>,
    /// Seconds since the call started.
    pub timestamp: Option<f64>,
}

/// The fields a `POST` sets or a `PATCH` changes: `None` leaves a field as it is; for a nullable
/// field, `Some(None)` sets `null`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    pub status: Option<ConversationStatus>,
    pub start_time_unix: Option<i64>,
    pub end_time_unix: Option<Option<i64>>,
    pub summary: Option<String>,
    pub transcript: Option<Option<String>>,
    pub contact_number: Option<Option<String>>,
    pub caller_number: Option<Option<String>>,
    /// `Some(None)`: back to `null`; `Some(Some(change))`: merged into it.
    pub sentiment: Option<Option<SentimentChange>>,
    pub key_moments: Option<Vec<KeyMoment>>,
    pub appointment_scheduled: Option<MapChange>,
    pub data_collected: Option<MapChange>,
    pub voice_mail_detected: Option<bool>,
    pub error_message: Option<Option<String>>,
    pub call_transferred: Option<bool>,
    pub recording_url: Option<Option<String>>,
    pub opted_out: Option<bool>,
}

/// A change of a free-form map, as a merge patch (RFC 7396) changes a member that is an object.
#[derive(Debug, Clone, PartialEq)]
pub enum MapChange {
    /// Back to `{}` (the patch's `null`).
    Reset,
    /// Merged key by key: a key set to `null` is removed, objects merge recursively, anything else
    /// replaces.
    Merge(Map<String, Value>),
}

impl MapChange {
    fn apply(&self, map: &mut Map<String, Value>) {
        match self {
            Self::Reset => map.clear(),
            Self::Merge(patch) => {
                let mut merged = Value::Object(std::mem::take(map));
                crate::merge::merge_in_place(&mut merged, &Value::Object(patch.clone()));
                if let Value::Object(merged) = merged {
                    *map = merged;
                }
            }
        }
    }

    /// The keys it names (set or removed).
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        match self {
            Self::Reset => None,
            Self::Merge(patch) => Some(patch.keys()),
        }
        .into_iter()
        .flatten()
    }
}

/// A change of a conversation's sentiment, member by member as a merge patch changes an object:
/// each `Some` replaces its member (`Some(None)`, the patch's `null`: back to none).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SentimentChange {
    pub sentiment_score: Option<Option<f64>>,
    pub sentiment_by_turn: Option<Vec<TurnSentiment>>,
    pub sentiment_overall: Option<Option<String>>,
}

impl SentimentChange {
    fn apply(&self, sentiment: &mut Option<Sentiment>) {
        let s = sentiment.get_or_insert_with(|| Sentiment {
            sentiment_score: None,
            sentiment_by_turn: Vec::new(),
            sentiment_overall: None,
        });
        set(&mut s.sentiment_score, &self.sentiment_score);
        set(&mut s.sentiment_by_turn, &self.sentiment_by_turn);
        set(&mut s.sentiment_overall, &self.sentiment_overall);
    }
}

/// The fields that may still change once a call is over: its post-call analysis.
pub const ANALYSIS_FIELDS: [&str; 6] = [
    "summary",
    "sentiment",
    "keyMoments",
    "dataCollected",
    "appointmentScheduled",
    "optedOut",
];

/// Why a change is refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The body breaks a rule (400).
    Invalid(Problems),
    /// The conversation is not in a state that allows it (409).
    Conflict(String),
}

/// A conversation and whether its transcript is the runtime's own (else it is rendered from turns).
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub conversation: Conversation,
    pub transcript_sent: bool,
}

/// `current` with `changes` applied under the lifecycle rules, stamped `now` if anything changed:
/// `Ok(None)` when nothing does.
pub fn apply(
    current: &Recorded,
    changes: &Changes,
    now: &str,
    now_unix: i64,
) -> Result<Option<Recorded>, Refusal> {
    change(current, changes, now, now_unix, false)
}

/// A new record: `blank` (not finished) with `changes` applied as [`apply`] does, except that it
/// may be created in any status.
pub fn create(
    blank: &Recorded,
    changes: &Changes,
    now: &str,
    now_unix: i64,
) -> Result<Option<Recorded>, Refusal> {
    change(blank, changes, now, now_unix, true)
}

fn change(
    current: &Recorded,
    changes: &Changes,
    now: &str,
    now_unix: i64,
    creating: bool,
) -> Result<Option<Recorded>, Refusal> {
    let before = &current.conversation;
    let mut next = current.clone();
    let c = &mut next.conversation;
    if let Some(status) = changes.status {
        if !creating && !before.status.may_become(status) {
            return Err(Refusal::Conflict(format!(
                "status cannot go from {} to {}: it moves forward only",
                before.status.wire(),
                status.wire()
            )));
        }
        c.status = status;
    }
    set(&mut c.start_time_unix, &changes.start_time_unix);
    set(&mut c.end_time_unix, &changes.end_time_unix);
    set(&mut c.summary, &changes.summary);
    if let Some(transcript) = &changes.transcript {
        next.transcript_sent = transcript.is_some();
        c.transcript = match transcript {
            Some(t) => t.clone(),
            None => render_transcript(&c.turns),
        };
    }
    set(&mut c.contact_number, &changes.contact_number);
    set(&mut c.caller_number, &changes.caller_number);
    match &changes.sentiment {
        Some(None) => c.sentiment = None,
        Some(Some(change)) => change.apply(&mut c.sentiment),
        None => {}
    }
    set(&mut c.key_moments, &changes.key_moments);
    if let Some(change) = &changes.appointment_scheduled {
        change.apply(&mut c.appointment_scheduled);
    }
    if let Some(change) = &changes.data_collected {
        change.apply(&mut c.data_collected);
    }
    set(&mut c.voice_mail_detected, &changes.voice_mail_detected);
    set(&mut c.error_message, &changes.error_message);
    set(&mut c.call_transferred, &changes.call_transferred);
    set(&mut c.recording_url, &changes.recording_url);
    set(&mut c.opted_out, &changes.opted_out);
    if c.status.is_finished() && c.end_time_unix.is_none() {
        // A call reported over without its end ended now (or at its start, if that is later).
        c.end_time_unix = Some(now_unix.max(c.start_time_unix));
    }
    check_times(c)?;
    if before.status.is_finished() {
        if let Some(field) = changed_outside_analysis(before, c) {
            return Err(Refusal::Conflict(over(before.status, field)));
        }
    }
    if next == *current {
        return Ok(None);
    }
    next.conversation.metadata.updated_at = now.to_owned();
    Ok(Some(next))
}

/// Why a finished call (in `status`) refuses a change of `field`.
pub fn over(status: ConversationStatus, field: &str) -> String {
    format!(
        "the call is over ({}): only its analysis ({}) may change, not {field}",
        status.wire(),
        ANALYSIS_FIELDS.join(", ")
    )
}

fn set<T: Clone>(field: &mut T, change: &Option<T>) {
    if let Some(value) = change {
        *field = value.clone();
    }
}

/// The end is not before the start, and only a finished call has one; the duration follows.
fn check_times(c: &mut Conversation) -> Result<(), Refusal> {
    let mut problems = Problems::new();
    let at = Pointer::root().key("endTimeUnix");
    match c.end_time_unix {
        Some(end) if end < c.start_time_unix => problems.push(
            &at,
            ProblemCode::OutOfRange,
            format!(
                "must not be before startTimeUnix ({}), got {end}",
                c.start_time_unix
            ),
        ),
        Some(_) if !c.status.is_finished() => problems.push(
            &at,
            ProblemCode::InvalidCombination,
            format!(
                "is set only when the call is over, and it is {}",
                c.status.wire()
            ),
        ),
        _ => {}
    }
    if !problems.is_empty() {
        return Err(Refusal::Invalid(problems));
    }
    c.conversation_duration = c.end_time_unix.map(|end| end - c.start_time_unix);
    Ok(())
}

/// The first field outside the analysis that differs, by its wire name.
fn changed_outside_analysis(a: &Conversation, b: &Conversation) -> Option<&'static str> {
    let pairs: [(&'static str, bool); 10] = [
        ("status", a.status == b.status),
        ("startTimeUnix", a.start_time_unix == b.start_time_unix),
        ("endTimeUnix", a.end_time_unix == b.end_time_unix),
        ("transcript", a.transcript == b.transcript),
        ("contactNumber", a.contact_number == b.contact_number),
        ("callerNumber", a.caller_number == b.caller_number),
        (
            "voiceMailDetected",
            a.voice_mail_detected == b.voice_mail_detected,
        ),
        ("errorMessage", a.error_message == b.error_message),
        ("callTransferred", a.call_transferred == b.call_transferred),
        ("recordingUrl", a.recording_url == b.recording_url),
    ];
    pairs.iter().find(|(_, same)| !same).map(|(name, _)| *name)
}

/// The agent's settings that decide what a conversation keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub store_data: bool,
    pub record_voice: bool,
    pub smart_opt_out: bool,
    /// The entities `dataCollected` may name, and the type of each one's value.
    pub entities: BTreeMap<String, EntityType>,
}

impl Settings {
    pub fn of(agent: &Agent) -> Self {
        let platform = &agent.spec.platform_settings;
        Self {
            store_data: platform.data_collection.store_data,
            record_voice: platform.privacy.record_voice,
            smart_opt_out: platform.call_actions.smart_opt_out,
            entities: (platform.data_collection.entities.iter())
                .map(|(name, entity)| (name.clone(), entity.kind))
                .collect(),
        }
    }

    /// Those of an agent that no longer exists: nothing more is kept than any agent would keep.
    pub fn of_deleted_agent() -> Self {
        Self {
            store_data: false,
            record_voice: false,
            smart_opt_out: false,
            entities: BTreeMap::new(),
        }
    }

    /// Problems with what a change would collect: each `dataCollected` key the agent does not
    /// define, and each value not of its entity's type (`null` removes a key, whatever its type).
    /// Not looked at when the agent keeps no data: it is dropped whole.
    pub fn check(&self, changes: &Changes) -> Problems {
        let mut problems = Problems::new();
        let Some(MapChange::Merge(data)) =
            changes.data_collected.as_ref().filter(|_| self.store_data)
        else {
            return problems;
        };
        let at = Pointer::root().key("dataCollected");
        for (key, value) in data {
            match self.entities.get(key) {
                None => problems.push(
                    &at.key(key),
                    ProblemCode::UnknownField,
                    "is not an entity of the agent (platformSettings.dataCollection.entities)",
                ),
                Some(kind) if !value.is_null() && !is_of(value, *kind) => problems.push(
                    &at.key(key),
                    ProblemCode::InvalidType,
                    format!("must be a {} (the entity's type)", kind.wire()),
                ),
                Some(_) => {}
            }
        }
        problems
    }

    /// Drops from `changes` what the agent keeps no record of: the JSON Pointers dropped.
    pub fn enforce(&self, changes: &mut Changes) -> Vec<&'static str> {
        let mut dropped = Vec::new();
        if !self.store_data
            && changes
                .data_collected
                .take()
                .is_some_and(|d| d.keys().next().is_some())
        {
            dropped.push("/dataCollected");
        }
        if !self.record_voice
            && changes
                .recording_url
                .take()
                .is_some_and(|url| url.is_some())
        {
            dropped.push("/recordingUrl");
        }
        dropped
    }

    /// The number to put on the opt-out list once `conversation` is recorded, if any.
    pub fn opt_out<'c>(&self, conversation: &'c Conversation) -> Option<&'c str> {
        (self.smart_opt_out && conversation.opted_out && conversation.status.is_finished())
            .then_some(conversation.contact_number.as_deref())
            .flatten()
    }
}

/// Whether `value` is of an entity's `kind` (an integer is a whole number written without a
/// fraction, as everywhere in this API).
fn is_of(value: &Value, kind: EntityType) -> bool {
    match kind {
        EntityType::String => value.is_string(),
        EntityType::Number => value.is_number(),
        EntityType::Integer => value.is_i64() || value.is_u64(),
        EntityType::Boolean => value.is_boolean(),
    }
}

#[cfg(test)]
#[path = "conversation_tests.rs"]
mod tests;

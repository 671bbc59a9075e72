//! The calls a voice runtime reports: phone-number providers, a conversation's direction and status
//! with its forward-only lifecycle, turns, and the times runtimes send in seconds or milliseconds.

use crate::agent::{choice, Choice};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

choice!(
    /// Who carries the number.
    NumberProvider {
        Twilio = "twilio", Telnyx = "telnyx", Vonage = "vonage", Plivo = "plivo", Sip = "sip",
        Other = "other",
    } default Other
);
choice!(
    /// Which way the call went.
    CallDirection { Inbound = "inbound", Outbound = "outbound" } default Inbound
);
choice!(
    /// Where a call is: `scheduled` → `in_progress` → `completed`, `failed` or `cancelled`.
    ConversationStatus {
        Scheduled = "scheduled", InProgress = "in_progress", Completed = "completed",
        Failed = "failed", Cancelled = "cancelled",
    } default Scheduled
);
choice!(
    /// Who spoke a turn.
    TurnRole { Agent = "agent", User = "user", Tool = "tool" } default Agent
);

impl ConversationStatus {
    /// Whether the call is over: nothing but its analysis changes after this.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }

    /// Whether a conversation in this status may move to `next`: forward only, and the same status
    /// again is no move (allowed, changes nothing).
    pub fn may_become(self, next: Self) -> bool {
        use ConversationStatus::*;
        self == next
            || match self {
                // Straight to its end only as cancelled or failed: a completed call was live.
                Scheduled => matches!(next, InProgress | Failed | Cancelled),
                InProgress => next.is_finished(),
                Completed | Failed | Cancelled => false,
            }
    }
}

impl TurnRole {
    /// The speaker's name in a rendered transcript.
    pub fn speaker(self) -> &'static str {
        match self {
            Self::Agent => "Agent",
            Self::User => "User",
            Self::Tool => "Tool",
        }
    }
}

/// One turn of the structured transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Turn {
    pub role: TurnRole,
    pub text: String,
    /// Milliseconds since the call started.
    pub start_ms: u64,
    /// Milliseconds since the call started, at least `startMs`.
    pub end_ms: u64,
}

/// The transcript of `turns` as the API renders it when the runtime sends none: one line a turn,
/// `Agent: …`, `User: …`, `Tool: …`.
pub fn render_transcript(turns: &[Turn]) -> String {
    let mut out = String::new();
    for turn in turns {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(turn.role.speaker());
        out.push_str(": ");
        out.push_str(&turn.text);
    }
    out
}

/// From this value on, a Unix time is in milliseconds (10^11 seconds is the year 5138).
pub const MILLISECONDS_FROM: i64 = 100_000_000_000;

/// A Unix time given in seconds or milliseconds, in whole seconds (milliseconds floored).
pub fn unix_seconds(value: i64) -> i64 {
    if value >= MILLISECONDS_FROM || value <= -MILLISECONDS_FROM {
        value.div_euclid(1000)
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConversationStatus::*;

    #[test]
    fn status_moves_forward_only_and_the_same_status_is_no_move() {
        let all = [Scheduled, InProgress, Completed, Failed, Cancelled];
        let allowed: Vec<(ConversationStatus, ConversationStatus)> = all
            .iter()
            .flat_map(|a| all.iter().map(move |b| (*a, *b)))
            .filter(|(a, b)| a != b && a.may_become(*b))
            .collect();
        assert_eq!(
            allowed,
            [
                (Scheduled, InProgress),
                (Scheduled, Failed),
                (Scheduled, Cancelled),
                (InProgress, Completed),
                (InProgress, Failed),
                (InProgress, Cancelled),
            ]
        );
        assert!(all.iter().all(|s| s.may_become(*s)));
    }

    #[test]
    fn times_in_milliseconds_are_floored_to_seconds() {
        assert_eq!(unix_seconds(1_733_000_000), 1_733_000_000);
        assert_eq!(unix_seconds(1_733_000_000_999), 1_733_000_000);
        assert_eq!(unix_seconds(MILLISECONDS_FROM - 1), MILLISECONDS_FROM - 1);
        assert_eq!(unix_seconds(MILLISECONDS_FROM), 100_000_000);
        assert_eq!(unix_seconds(0), 0);
    }

    #[test]
    fn a_transcript_is_rendered_one_line_a_turn() {
        let turn = |role, text: &str| Turn {
            role,
            text: text.into(),
            start_ms: 0,
            end_ms: 0,
        };
        let turns = [
            turn(TurnRole::Agent, "Hello"),
            turn(TurnRole::User, "Hi"),
            turn(TurnRole::Tool, "{}"),
        ];
        assert_eq!(
            render_transcript(&turns),
            "Agent: Hello\nUser: Hi\nTool: {}"
        );
        assert_eq!(render_transcript(&[]), "");
    }
}

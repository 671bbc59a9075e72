//! The agent document: every field of the contract, with its default.
//!
//! These types are what is stored and what GET returns, always complete ("defaults are
//! materialised"). Request bodies never deserialise into them directly: they go through
//! [`crate::validate`], which reports every problem with its path and then builds these.

use crate::ids::AgentId;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A closed set of string values, with the wire spelling of each.
pub trait Choice: Copy + 'static {
    const VALUES: &'static [(&'static str, Self)];

    fn from_wire(s: &str) -> Option<Self> {
        Self::VALUES.iter().find(|(w, _)| *w == s).map(|(_, v)| *v)
    }

    /// The wire spelling of this value.
    fn wire(self) -> &'static str
    where
        Self: PartialEq,
    {
        Self::VALUES
            .iter()
            .find(|(_, v)| *v == self)
            .map_or("", |(w, _)| w)
    }

    /// `"a", "b" or "c"`, for messages.
    fn allowed() -> String {
        let names: Vec<String> = Self::VALUES.iter().map(|(w, _)| format!("{w:?}")).collect();
        crate::validate::or_list(&names)
    }
}

macro_rules! choice {
    (#[doc = $doc:literal] $name:ident { $($variant:ident = $wire:literal),+ $(,)? } default $default:ident) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $wire)] $variant,)+
        }

        impl Default for $name {
            fn default() -> Self {
                Self::$default
            }
        }

        impl Choice for $name {
            const VALUES: &'static [(&'static str, Self)] = &[$(($wire, Self::$variant)),+];
        }

        // Written out rather than derived: the derive does not see serde renames made in a macro.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description(Some($doc.trim()))
                    .enum_values(Some([$($wire),+]))
                    .into()
            }
        }

        impl ToSchema for $name {}
    };
}
pub(crate) use choice;

choice!(
    /// Which calls the agent takes part in.
    Direction { Outbound = "outbound", Inbound = "inbound", Both = "both" } default Outbound
);
choice!(
    /// The audio format of the caller's side.
    AudioFormat {
        Pcm8000 = "pcm_8000", Pcm16000 = "pcm_16000", Pcm22050 = "pcm_22050", Pcm24000 = "pcm_24000",
        Pcm44100 = "pcm_44100", Pcm48000 = "pcm_48000", Ulaw8000 = "ulaw_8000",
    } default Pcm16000
);
choice!(
    /// How quickly the agent takes its turn.
    TurnEagerness { Patient = "patient", Normal = "normal", Eager = "eager" } default Normal
);
choice!(
    /// Extra patience while the caller spells something out.
    SpellingPatience { Auto = "auto", Off = "off" } default Auto
);
choice!(
    /// Calendar provider for scheduling.
    CalendarProvider { Google = "google", Outlook = "outlook" } default Google
);
choice!(
    /// The type of a collected data entity.
    EntityType { String = "string", Number = "number", Integer = "integer", Boolean = "boolean" } default String
);

/// The full agent, as stored and as returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Agent {
    /// Read-only.
    #[schema(read_only)]
    pub agent_id: AgentId,
    #[serde(flatten)]
    pub spec: AgentSpec,
    /// Read-only: numbers attached to the agent.
    #[schema(read_only)]
    pub phone_numbers: Vec<PhoneNumber>,
    /// Read-only.
    #[schema(read_only)]
    pub metadata: Metadata,
}

/// Everything about an agent that a client may write.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct AgentSpec {
    /// 1..=200 characters after trimming, no control characters. Required on create.
    #[schema(example = "Appointment setter")]
    pub name: String,
    pub direction: Direction,
    /// At most 50, each 1..=64 characters, no duplicates.
    pub tags: Vec<String>,
    pub conversation_config: ConversationConfig,
    pub platform_settings: PlatformSettings,
    pub workflow: Workflow,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ConversationConfig {
    pub agent: AgentConfig,
    pub asr: Asr,
    pub turn: Turn,
    pub tts: Tts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct AgentConfig {
    pub prompt: Prompt,
    pub greeting_message: String,
    /// ISO 639-1 code with an optional region (`pt-BR`).
    pub primary_language: String,
    pub hinglish_mode: bool,
    /// Free-form: at most 100 identifier keys; values are strings, numbers or booleans.
    #[schema(value_type = Object)]
    pub dynamic_variables: Map<String, Value>,
    pub disable_first_message_interruptions: bool,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            prompt: Prompt::default(),
            greeting_message: String::new(),
            primary_language: "en".into(),
            hinglish_mode: false,
            dynamic_variables: Map::new(),
            disable_first_message_interruptions: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Prompt {
    /// The system prompt. Required and non-empty on create; at most 100 000 characters.
    #[schema(example = "You are a friendly assistant who books dental appointments.")]
    pub prompt: String,
    /// One of the server's configured models.
    #[schema(example = "gemini-2.5-flash")]
    pub llm: String,
    /// 0..=2.
    pub temperature: f64,
    pub tool_ids: Vec<String>,
    pub built_in_tools: BuiltInTools,
    pub knowledge_base: Vec<String>,
    pub ignore_default_personality: bool,
    /// An IANA time-zone name.
    pub timezone: String,
}

/// The model used when a request names none.
pub const DEFAULT_LLM: &str = "gemini-2.5-flash";
/// The voice used when a request names none.
pub const DEFAULT_VOICE_ID: &str = "cjVigY5qzO86Huf0OWal";

impl Default for Prompt {
    fn default() -> Self {
        Self {
            prompt: String::new(),
            llm: DEFAULT_LLM.into(),
            temperature: 0.0,
            tool_ids: Vec::new(),
            built_in_tools: BuiltInTools::default(),
            knowledge_base: Vec::new(),
            ignore_default_personality: false,
            timezone: "UTC".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct BuiltInTools {
    pub end_call: Tool,
    pub language_detection: Tool,
    pub skip_turn: Tool,
    pub transfer_to_agent: TransferToAgent,
    pub transfer_to_number: TransferToNumber,
    pub voicemail_detection: VoicemailDetection,
}

impl Default for BuiltInTools {
    fn default() -> Self {
        Self {
            end_call: Tool {
                enabled: true,
                ..Tool::default()
            },
            language_detection: Tool::default(),
            skip_turn: Tool::default(),
            transfer_to_agent: TransferToAgent::default(),
            transfer_to_number: TransferToNumber::default(),
            voicemail_detection: VoicemailDetection::default(),
        }
    }
}

/// The settings every built-in tool has.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Tool {
    pub enabled: bool,
    /// At most 2 000 characters.
    pub description: String,
    pub disable_interruption: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct TransferToAgent {
    #[serde(flatten)]
    pub tool: Tool,
    /// At most 32.
    pub transfers: Vec<AgentTransfer>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct AgentTransfer {
    /// An agent of the same workspace, not this one.
    pub agent_id: String,
    pub condition: String,
    /// 0..=60 000.
    pub delay_ms: u32,
    pub transfer_message: String,
    pub enable_transferred_agent_first_message: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct TransferToNumber {
    #[serde(flatten)]
    pub tool: Tool,
    pub transfer_rule_ids: Vec<String>,
    /// At most 32.
    pub transfers: Vec<NumberTransfer>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct NumberTransfer {
    pub condition: String,
    pub transfer_destination: TransferDestination,
}

/// Exactly one of `phoneNumber` (E.164) and `sipUri`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct TransferDestination {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "+14155550123")]
    pub phone_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sip_uri: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct VoicemailDetection {
    #[serde(flatten)]
    pub tool: Tool,
    /// At most 2 000 characters.
    pub voicemail_message: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Asr {
    pub user_input_audio_format: AudioFormat,
    /// At most 100.
    pub keywords: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Turn {
    /// Seconds, 1..=30.
    pub turn_timeout: f64,
    /// Seconds: -1 (off) or 1..=7 200.
    pub silence_end_call_timeout: f64,
    pub turn_eagerness: TurnEagerness,
    pub spelling_patience: SpellingPatience,
}

impl Default for Turn {
    fn default() -> Self {
        Self {
            turn_timeout: 7.0,
            silence_end_call_timeout: -1.0,
            turn_eagerness: TurnEagerness::default(),
            spelling_patience: SpellingPatience::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Tts {
    pub voice_id: String,
    /// At most 20.
    pub supported_voices: Vec<Voice>,
    pub expressive_mode: bool,
    /// At most 50.
    pub suggested_audio_tags: Vec<AudioTag>,
}

impl Default for Tts {
    fn default() -> Self {
        Self {
            voice_id: DEFAULT_VOICE_ID.into(),
            supported_voices: Vec::new(),
            expressive_mode: false,
            suggested_audio_tags: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Voice {
    pub label: String,
    pub voice_id: String,
    pub language: String,
    /// 0..=1.
    pub stability: f64,
    /// 0.7..=1.2.
    pub speed: f64,
    /// 0..=1.
    pub similarity_boost: f64,
}

impl Default for Voice {
    fn default() -> Self {
        Self {
            label: String::new(),
            voice_id: String::new(),
            language: String::new(),
            stability: 0.5,
            speed: 0.95,
            similarity_boost: 0.5,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct AudioTag {
    pub tag: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct PlatformSettings {
    pub call_actions: CallActions,
    /// Free-form, at most 16 KiB serialised.
    #[schema(value_type = Object)]
    pub widget: Map<String, Value>,
    pub data_collection: DataCollection,
    pub call_retry: CallRetry,
    /// `""` (the call's language) or a supported language code.
    pub summary_language: String,
    pub privacy: Privacy,
    pub telephony: Telephony,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct CallActions {
    pub smart_opt_out: bool,
    pub issue_tracking: bool,
    /// `""` or an absolute https URL (http for loopback hosts only).
    pub post_call_webhook: String,
    pub post_call_email: PostCallEmail,
    pub schedule_on_calendar: ScheduleOnCalendar,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct PostCallEmail {
    pub enabled: bool,
    /// Free-form; when enabled it holds `recipients`, 1..=20 e-mail addresses.
    #[schema(value_type = Object)]
    pub email_configuration: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ScheduleOnCalendar {
    pub enabled: bool,
    pub provider: CalendarProvider,
    /// Non-empty when enabled.
    pub events_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct DataCollection {
    /// At most 50 identifier keys.
    pub entities: BTreeMap<String, Entity>,
    pub store_data: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Entity {
    #[serde(rename = "type")]
    pub kind: EntityType,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct CallRetry {
    /// 0..=10.
    pub retry_count: u32,
    /// Minutes, 1..=1 440.
    pub retry_delay: u32,
}

impl Default for CallRetry {
    fn default() -> Self {
        Self {
            retry_count: 0,
            retry_delay: 30,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Privacy {
    pub record_voice: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Telephony {
    /// When true, `rotationNumbers` holds at least 2 numbers.
    pub number_rotation_enabled: bool,
    /// E.164, at most 100, no duplicates.
    pub rotation_numbers: Vec<String>,
    /// 1..=10 000.
    pub calls_per_number: u32,
    /// When true, `stateRestrictedNumbers` is non-empty.
    pub state_restriction_enabled: bool,
    /// E.164, at most 100, no duplicates.
    pub state_restricted_numbers: Vec<String>,
}

impl Default for Telephony {
    fn default() -> Self {
        Self {
            number_rotation_enabled: false,
            rotation_numbers: Vec::new(),
            calls_per_number: 100,
            state_restriction_enabled: false,
            state_restricted_numbers: Vec::new(),
        }
    }
}

/// Read-only: a number attached to the agent by the telephony side.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct PhoneNumber {
    pub provider: String,
    pub number: String,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Workflow {
    /// Node id to node; every node has a `type`; other fields are kept as sent.
    #[schema(value_type = Object)]
    pub nodes: BTreeMap<String, Map<String, Value>>,
    /// Edge id to edge; `source` and `target` name existing nodes.
    #[schema(value_type = Object)]
    pub edges: BTreeMap<String, Map<String, Value>>,
    pub prevent_subagent_loops: bool,
}

/// Read-only facts about an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// RFC 3339, UTC.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// RFC 3339, UTC.
    #[schema(format = DateTime)]
    pub updated_at: String,
    pub created_by: CreatedBy,
}

/// The user behind the API key that created the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedBy {
    pub user_id: String,
    pub user_email: String,
}

/// The [`timestamp`] of `age` ago (the beginning of time if that is further back than it goes).
pub fn timestamp_ago(age: std::time::Duration) -> String {
    let now = chrono::Utc::now();
    let then = chrono::Duration::from_std(age)
        .ok()
        .and_then(|age| now.checked_sub_signed(age))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
    timestamp(then)
}

/// The timestamp format of `metadata`: RFC 3339 UTC with microseconds, so that text order is time order.
pub fn timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

impl AgentSpec {
    /// Every agent this one transfers to, with where it is named.
    pub fn transfer_targets(&self) -> impl Iterator<Item = (crate::Pointer, &str)> {
        let base = crate::Pointer::root()
            .key("conversationConfig")
            .key("agent")
            .key("prompt")
            .key("builtInTools")
            .key("transferToAgent")
            .key("transfers");
        self.conversation_config
            .agent
            .prompt
            .built_in_tools
            .transfer_to_agent
            .transfers
            .iter()
            .enumerate()
            .map(move |(i, t)| (base.index(i).key("agentId"), t.agent_id.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::PartialSchema;

    /// The document's enum for a choice, and what the choice accepts and writes on the wire.
    fn documented_and_wire<T: Choice + PartialSchema + Serialize>() -> (Vec<String>, Vec<String>) {
        let schema = serde_json::to_value(T::schema()).unwrap();
        let documented = schema["enum"]
            .as_array()
            .expect("an enum")
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        let wire = T::VALUES
            .iter()
            .map(|(wire, value)| {
                assert_eq!(serde_json::to_value(value).unwrap(), *wire);
                (*wire).to_owned()
            })
            .collect();
        (documented, wire)
    }

    #[test]
    fn the_document_lists_each_choice_as_it_is_spelled_on_the_wire() {
        let pairs = [
            documented_and_wire::<Direction>(),
            documented_and_wire::<AudioFormat>(),
            documented_and_wire::<TurnEagerness>(),
            documented_and_wire::<SpellingPatience>(),
            documented_and_wire::<CalendarProvider>(),
            documented_and_wire::<EntityType>(),
        ];
        for (documented, wire) in pairs {
            assert_eq!(documented, wire);
        }
    }
}

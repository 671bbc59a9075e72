//! Reads each part of an agent document from untrusted JSON, field by field, as the contract's table
//! says: type, default, and rule.

use super::formats::{self, chars, id, non_empty, text};
use super::reader::{Ctx, Obj};
use crate::agent::*;
use crate::problems::{Pointer, ProblemCode};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

const MESSAGE_MAX: usize = 2_000;
const WIDGET_MAX_BYTES: usize = 16 * 1024;

/// Reads an agent's spec. With `stored`, under a merge patch: the members and sections the patch
/// leaves alone, at any depth, are the stored spec's, taken as they are instead of read again (they
/// are valid, and reading them would give them back unchanged).
pub fn agent_spec(o: &mut Obj, stored: Option<&AgentSpec>) -> AgentSpec {
    for read_only in super::READ_ONLY {
        o.skip(read_only);
    }
    AgentSpec {
        name: o.kept("name", stored.map(|s| &s.name), |o| {
            o.required_string("name", &formats::name)
        }),
        direction: o.kept("direction", stored.map(|s| &s.direction), |o| {
            o.choice("direction")
        }),
        tags: o.kept("tags", stored.map(|s| &s.tags), |o| {
            o.string_list("tags", 50, &chars(1, 64))
        }),
        conversation_config: o.section(
            "conversationConfig",
            stored.map(|s| &s.conversation_config),
            // Only `prompt.prompt` inside is required; when the whole object is missing, say so once.
            |o, s| ConversationConfig {
                agent: o.section("agent", s.map(|s| &s.agent), agent_config),
                asr: o.section("asr", s.map(|s| &s.asr), |o, _| Asr {
                    user_input_audio_format: o.choice("userInputAudioFormat"),
                    keywords: list_of_strings(o, "keywords", 100),
                }),
                turn: o.section("turn", s.map(|s| &s.turn), |o, _| turn(o)),
                tts: o.section("tts", s.map(|s| &s.tts), |o, _| tts(o)),
            },
        ),
        platform_settings: o.section(
            "platformSettings",
            stored.map(|s| &s.platform_settings),
            platform_settings,
        ),
        workflow: o.section("workflow", stored.map(|s| &s.workflow), |o, _| workflow(o)),
    }
}

/// Keywords may repeat and be any string.
fn list_of_strings(o: &mut Obj, key: &'static str, max: usize) -> Vec<String> {
    o.list(key, max, |cx, v, p| cx.str(v, &p).map(str::to_owned))
}

fn agent_config(o: &mut Obj, stored: Option<&AgentConfig>) -> AgentConfig {
    let defaults = AgentConfig::default();
    AgentConfig {
        prompt: o.section("prompt", stored.map(|s| &s.prompt), prompt),
        greeting_message: o.string("greetingMessage", "", &text(MESSAGE_MAX)),
        primary_language: o.string(
            "primaryLanguage",
            &defaults.primary_language,
            &formats::language,
        ),
        hinglish_mode: o.bool("hinglishMode", false),
        dynamic_variables: dynamic_variables(o),
        disable_first_message_interruptions: o.bool("disableFirstMessageInterruptions", false),
    }
}

fn dynamic_variables(o: &mut Obj) -> serde_json::Map<String, Value> {
    let (vars, path) = o.map("dynamicVariables");
    identifier_keys(o.cx, &vars, &path, 100);
    for (k, v) in &vars {
        if !matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
            o.cx.report(
                &path.key(k),
                ProblemCode::InvalidType,
                format!(
                    "must be a string, a number or a boolean, got {}",
                    crate::json::type_name(v)
                ),
            );
        }
    }
    vars
}

/// Free-form map keys: at most `max`, each an identifier.
fn identifier_keys(cx: &mut Ctx, map: &serde_json::Map<String, Value>, path: &Pointer, max: usize) {
    if map.len() > max {
        cx.report(
            path,
            ProblemCode::TooLong,
            format!("must have at most {max} keys, got {}", map.len()),
        );
    }
    for key in map.keys() {
        if let Err((code, message)) = formats::identifier(key) {
            cx.report(&path.key(key), code, format!("key {message}"));
        }
    }
}

fn prompt(o: &mut Obj, stored: Option<&Prompt>) -> Prompt {
    let defaults = Prompt::default();
    let rules = o.cx.rules;
    let models = &rules.llm_models;
    let llm_check = |s: &str| {
        if models.iter().any(|m| m == s) {
            Ok(())
        } else {
            let names: Vec<String> = models.iter().map(|m| format!("{m:?}")).collect();
            Err((
                ProblemCode::InvalidValue,
                format!(
                    "must be one of the configured models: {}; got {s:?}",
                    super::or_list(&names)
                ),
            ))
        }
    };
    // The default model must be one this server allows (see `Rules::default_llm`).
    let default_llm = match models.first() {
        Some(first) if !models.contains(&defaults.llm) => first.as_str(),
        _ => defaults.llm.as_str(),
    };
    Prompt {
        prompt: o.required_string("prompt", &chars(1, 100_000)),
        llm: o.string("llm", default_llm, &llm_check),
        temperature: o.number("temperature", 0.0, 0.0, 2.0),
        tool_ids: o.string_list("toolIds", 64, &id),
        built_in_tools: o.section(
            "builtInTools",
            stored.map(|s| &s.built_in_tools),
            built_in_tools,
        ),
        knowledge_base: o.string_list("knowledgeBase", usize::MAX, &id),
        ignore_default_personality: o.bool("ignoreDefaultPersonality", false),
        timezone: o.string("timezone", &defaults.timezone, &formats::timezone),
    }
}

fn tool(o: &mut Obj, enabled_by_default: bool) -> Tool {
    Tool {
        enabled: o.bool("enabled", enabled_by_default),
        description: o.string("description", "", &text(MESSAGE_MAX)),
        disable_interruption: o.bool("disableInterruption", false),
    }
}

fn built_in_tools(o: &mut Obj, stored: Option<&BuiltInTools>) -> BuiltInTools {
    BuiltInTools {
        end_call: o.section("endCall", stored.map(|s| &s.end_call), |o, _| tool(o, true)),
        language_detection: o.section(
            "languageDetection",
            stored.map(|s| &s.language_detection),
            |o, _| tool(o, false),
        ),
        skip_turn: o.section("skipTurn", stored.map(|s| &s.skip_turn), |o, _| {
            tool(o, false)
        }),
        transfer_to_agent: o.section(
            "transferToAgent",
            stored.map(|s| &s.transfer_to_agent),
            |o, _| TransferToAgent {
                tool: tool(o, false),
                transfers: o.list("transfers", 32, |cx, v, p| {
                    Some(cx.nested(Some(v), p, agent_transfer))
                }),
            },
        ),
        transfer_to_number: o.section(
            "transferToNumber",
            stored.map(|s| &s.transfer_to_number),
            |o, _| TransferToNumber {
                tool: tool(o, false),
                transfer_rule_ids: o.string_list("transferRuleIds", usize::MAX, &id),
                transfers: o.list("transfers", 32, |cx, v, p| {
                    Some(cx.nested(Some(v), p, number_transfer))
                }),
            },
        ),
        voicemail_detection: o.section(
            "voicemailDetection",
            stored.map(|s| &s.voicemail_detection),
            |o, _| VoicemailDetection {
                tool: tool(o, false),
                voicemail_message: o.string("voicemailMessage", "", &text(MESSAGE_MAX)),
            },
        ),
    }
}

fn agent_transfer(o: &mut Obj) -> AgentTransfer {
    AgentTransfer {
        agent_id: o.required_string("agentId", &id),
        condition: o.required_string("condition", &non_empty),
        delay_ms: o.int("delayMs", 0, 0, 60_000),
        transfer_message: o.string("transferMessage", "", &text(MESSAGE_MAX)),
        enable_transferred_agent_first_message: o.bool("enableTransferredAgentFirstMessage", false),
    }
}

fn number_transfer(o: &mut Obj) -> NumberTransfer {
    let condition = o.required_string("condition", &non_empty);
    let transfer_destination = match o.required("transferDestination") {
        Some((v, p)) => o.cx.nested(Some(v), p, |o| {
            let phone = o.field("phoneNumber");
            let sip = o.field("sipUri");
            // A destination of the wrong type is already reported; say nothing more about it.
            if v.is_object() && phone.is_some() == sip.is_some() {
                let path = o.path.clone();
                o.cx.report(
                    &path,
                    ProblemCode::InvalidCombination,
                    "must have exactly one of phoneNumber and sipUri",
                );
            }
            TransferDestination {
                phone_number: phone.and_then(|(v, p)| o.cx.checked_str(v, &p, &formats::e164)),
                sip_uri: sip.and_then(|(v, p)| o.cx.checked_str(v, &p, &formats::sip_uri)),
            }
        }),
        None => TransferDestination::default(),
    };
    NumberTransfer {
        condition,
        transfer_destination,
    }
}

fn turn(o: &mut Obj) -> Turn {
    let silence = match o.field("silenceEndCallTimeout") {
        None => -1.0,
        Some((v, p)) => match v.as_f64() {
            Some(n) if n == -1.0 || (1.0..=7_200.0).contains(&n) => n,
            Some(n) => {
                o.cx.report(
                    &p,
                    ProblemCode::OutOfRange,
                    format!("must be -1 (off) or between 1 and 7200, got {n}"),
                );
                -1.0
            }
            None => o.cx.number(v, &p, -1.0, 7_200.0).unwrap_or(-1.0),
        },
    };
    Turn {
        turn_timeout: o.number("turnTimeout", 7.0, 1.0, 30.0),
        silence_end_call_timeout: silence,
        turn_eagerness: o.choice("turnEagerness"),
        spelling_patience: o.choice("spellingPatience"),
    }
}

fn tts(o: &mut Obj) -> Tts {
    Tts {
        voice_id: o.string("voiceId", DEFAULT_VOICE_ID, &id),
        supported_voices: o.list("supportedVoices", 20, |cx, v, p| {
            Some(cx.nested(Some(v), p, |o| Voice {
                label: o.required_string("label", &non_empty),
                voice_id: o.required_string("voiceId", &id),
                language: o.required_string("language", &formats::language),
                stability: o.number("stability", 0.5, 0.0, 1.0),
                speed: o.number("speed", 0.95, 0.7, 1.2),
                similarity_boost: o.number("similarityBoost", 0.5, 0.0, 1.0),
            }))
        }),
        expressive_mode: o.bool("expressiveMode", false),
        suggested_audio_tags: o.list("suggestedAudioTags", 50, |cx, v, p| {
            Some(cx.nested(Some(v), p, |o| AudioTag {
                tag: o.required_string("tag", &non_empty),
                description: o.string("description", "", &text(MESSAGE_MAX)),
            }))
        }),
    }
}

fn platform_settings(o: &mut Obj, stored: Option<&PlatformSettings>) -> PlatformSettings {
    PlatformSettings {
        call_actions: o.section("callActions", stored.map(|s| &s.call_actions), call_actions),
        widget: {
            let (widget, path) = o.map("widget");
            let size = serde_json::to_vec(&widget).map_or(0, |b| b.len());
            if size > WIDGET_MAX_BYTES {
                o.cx.report(
                    &path,
                    ProblemCode::TooLong,
                    format!("must be at most {WIDGET_MAX_BYTES} bytes serialised, got {size}"),
                );
            }
            widget
        },
        data_collection: o.section(
            "dataCollection",
            stored.map(|s| &s.data_collection),
            |o, _| data_collection(o),
        ),
        call_retry: o.section("callRetry", stored.map(|s| &s.call_retry), |o, _| {
            CallRetry {
                retry_count: o.int("retryCount", 0, 0, 10),
                retry_delay: o.int("retryDelay", 30, 1, 1_440),
            }
        }),
        summary_language: o.string("summaryLanguage", "", &formats::optional_language),
        privacy: o.section("privacy", stored.map(|s| &s.privacy), |o, _| Privacy {
            record_voice: o.bool("recordVoice", false),
        }),
        telephony: o.section("telephony", stored.map(|s| &s.telephony), |o, _| {
            telephony(o)
        }),
    }
}

fn call_actions(o: &mut Obj, stored: Option<&CallActions>) -> CallActions {
    CallActions {
        smart_opt_out: o.bool("smartOptOut", false),
        issue_tracking: o.bool("issueTracking", false),
        post_call_webhook: o.string("postCallWebhook", "", &formats::webhook),
        post_call_email: o.section(
            "postCallEmail",
            stored.map(|s| &s.post_call_email),
            |o, _| {
                let enabled = o.bool("enabled", false);
                let (config, path) = o.map("emailConfiguration");
                if enabled {
                    let recipients = path.key("recipients");
                    match config.get("recipients") {
                        None | Some(Value::Null) => o.cx.report(
                            &recipients,
                            ProblemCode::Required,
                            "is required when postCallEmail is enabled",
                        ),
                        Some(v) => {
                            let list = o.cx.string_list(v, &recipients, 20, &formats::email);
                            if list.is_empty() && v.as_array().is_some_and(Vec::is_empty) {
                                o.cx.report(
                                    &recipients,
                                    ProblemCode::TooShort,
                                    "must hold at least 1 address when postCallEmail is enabled",
                                );
                            }
                        }
                    }
                }
                PostCallEmail {
                    enabled,
                    email_configuration: config,
                }
            },
        ),
        schedule_on_calendar: o.section(
            "scheduleOnCalendar",
            stored.map(|s| &s.schedule_on_calendar),
            |o, _| {
                let calendar = ScheduleOnCalendar {
                    enabled: o.bool("enabled", false),
                    provider: o.choice("provider"),
                    events_ids: o.string_list("eventsIds", usize::MAX, &id),
                };
                if calendar.enabled && sent_len(o, "eventsIds") == Some(0) {
                    let p = o.path.key("eventsIds");
                    o.cx.report(
                        &p,
                        ProblemCode::TooShort,
                        "must not be empty when scheduleOnCalendar is enabled",
                    );
                }
                calendar
            },
        ),
    }
}

fn data_collection(o: &mut Obj) -> DataCollection {
    let (raw, path) = o.map("entities");
    identifier_keys(o.cx, &raw, &path, 50);
    let entities: BTreeMap<String, Entity> = raw
        .iter()
        .map(|(k, v)| {
            let entity = o.cx.nested(Some(v), path.key(k), |o| Entity {
                kind: match o.required("type") {
                    Some((v, p)) => o.cx.choice(v, &p).unwrap_or_default(),
                    None => EntityType::default(),
                },
                description: o.required_string("description", &non_empty),
            });
            (k.clone(), entity)
        })
        .collect();
    DataCollection {
        entities,
        store_data: o.bool("storeData", false),
    }
}

/// How many items the list at `key` holds as sent, valid or not: `Some(0)` when absent, `None` when it is
/// not a list (already reported). Rules on a list's length count what was sent, so that one bad item is
/// not also reported as a list that is too short.
fn sent_len(o: &mut Obj, key: &'static str) -> Option<usize> {
    match o.field(key) {
        None => Some(0),
        Some((v, _)) => v.as_array().map(Vec::len),
    }
}

fn telephony(o: &mut Obj) -> Telephony {
    let t = Telephony {
        number_rotation_enabled: o.bool("numberRotationEnabled", false),
        rotation_numbers: o.string_list("rotationNumbers", 100, &formats::e164),
        calls_per_number: o.int("callsPerNumber", 100, 1, 10_000),
        state_restriction_enabled: o.bool("stateRestrictionEnabled", false),
        state_restricted_numbers: o.string_list("stateRestrictedNumbers", 100, &formats::e164),
    };
    if t.number_rotation_enabled && sent_len(o, "rotationNumbers").is_some_and(|n| n < 2) {
        let p = o.path.key("rotationNumbers");
        o.cx.report(
            &p,
            ProblemCode::TooShort,
            "must hold at least 2 numbers when numberRotationEnabled is true",
        );
    }
    if t.state_restriction_enabled && sent_len(o, "stateRestrictedNumbers") == Some(0) {
        let p = o.path.key("stateRestrictedNumbers");
        o.cx.report(
            &p,
            ProblemCode::TooShort,
            "must not be empty when stateRestrictionEnabled is true",
        );
    }
    t
}

const NODE_TYPES: &[&str] = &[
    "start",
    "end",
    "subagent",
    "agent_transfer",
    "phone_transfer",
    "tool",
];

fn workflow(o: &mut Obj) -> Workflow {
    let (nodes_raw, nodes_path) = o.map("nodes");
    let (edges_raw, edges_path) = o.map("edges");
    let mut nodes = BTreeMap::new();
    let mut starts = 0;
    for (node_id, node) in &nodes_raw {
        let p = nodes_path.key(node_id);
        if let Err((code, message)) = id(node_id) {
            o.cx.report(&p, code, format!("node id {message}"));
        }
        let Some(fields) = o.cx.object(node, &p) else {
            continue;
        };
        match fields.get("type") {
            None | Some(Value::Null) => {
                o.cx.report(&p.key("type"), ProblemCode::Required, "is required")
            }
            Some(t) => {
                if let Some(t) = o.cx.str(t, &p.key("type")) {
                    if !NODE_TYPES.contains(&t) {
                        let names: Vec<String> =
                            NODE_TYPES.iter().map(|n| format!("{n:?}")).collect();
                        o.cx.report(
                            &p.key("type"),
                            ProblemCode::InvalidValue,
                            format!("must be one of {}, got {t:?}", super::or_list(&names)),
                        );
                    }
                    starts += usize::from(t == "start");
                }
            }
        }
        nodes.insert(node_id.clone(), fields.clone());
    }
    if !nodes.is_empty() && starts != 1 {
        o.cx.report(
            &nodes_path,
            ProblemCode::InvalidCombination,
            format!("must have exactly one node of type \"start\", got {starts}"),
        );
    }
    let node_ids: HashSet<&str> = nodes_raw.keys().map(String::as_str).collect();
    let mut edges = BTreeMap::new();
    for (edge_id, edge) in &edges_raw {
        let p = edges_path.key(edge_id);
        if let Err((code, message)) = id(edge_id) {
            o.cx.report(&p, code, format!("edge id {message}"));
        }
        let Some(fields) = o.cx.object(edge, &p) else {
            continue;
        };
        for end in ["source", "target"] {
            let ep = p.key(end);
            match fields.get(end) {
                None | Some(Value::Null) => o.cx.report(&ep, ProblemCode::Required, "is required"),
                Some(v) => {
                    if let Some(s) = o.cx.str(v, &ep) {
                        if !node_ids.contains(s) {
                            o.cx.report(
                                &ep,
                                ProblemCode::NotFound,
                                format!("names no node of this workflow: {s:?}"),
                            );
                        }
                    }
                }
            }
        }
        edges.insert(edge_id.clone(), fields.clone());
    }
    Workflow {
        nodes,
        edges,
        prevent_subagent_loops: o.bool("preventSubagentLoops", false),
    }
}

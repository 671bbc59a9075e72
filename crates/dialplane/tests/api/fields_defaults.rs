//! The field table of the contract (section 3), its defaults: what a minimal create materialises, the
//! read-only fields the server fills in, and that values a client sends are kept as sent.

use crate::support::*;
use dialplane_core::Scope;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

const PROMPT: &str = "/conversationConfig/agent/prompt";
const TOOLS: &str = "/conversationConfig/agent/prompt/builtInTools";
const TOOL_NAMES: [&str; 6] = [
    "endCall",
    "languageDetection",
    "skipTurn",
    "transferToAgent",
    "transferToNumber",
    "voicemailDetection",
];

/// Every writable leaf of the table with its default (an empty object or any array is a leaf), plus
/// the read-only `phoneNumbers`.
fn default_table() -> Vec<(String, Value)> {
    let mut rows: Vec<(String, Value)> = [
        ("/direction", json!("outbound")),
        ("/tags", json!([])),
        (
            "/conversationConfig/agent/prompt/llm",
            json!("gemini-2.5-flash"),
        ),
        ("/conversationConfig/agent/prompt/temperature", json!(0)),
        ("/conversationConfig/agent/prompt/toolIds", json!([])),
        ("/conversationConfig/agent/prompt/knowledgeBase", json!([])),
        (
            "/conversationConfig/agent/prompt/ignoreDefaultPersonality",
            json!(false),
        ),
        ("/conversationConfig/agent/prompt/timezone", json!("UTC")),
        ("/conversationConfig/agent/greetingMessage", json!("")),
        ("/conversationConfig/agent/primaryLanguage", json!("en")),
        ("/conversationConfig/agent/hinglishMode", json!(false)),
        ("/conversationConfig/agent/dynamicVariables", json!({})),
        (
            "/conversationConfig/agent/disableFirstMessageInterruptions",
            json!(false),
        ),
        (
            "/conversationConfig/asr/userInputAudioFormat",
            json!("pcm_16000"),
        ),
        ("/conversationConfig/asr/keywords", json!([])),
        ("/conversationConfig/turn/turnTimeout", json!(7)),
        ("/conversationConfig/turn/silenceEndCallTimeout", json!(-1)),
        ("/conversationConfig/turn/turnEagerness", json!("normal")),
        ("/conversationConfig/turn/spellingPatience", json!("auto")),
        (
            "/conversationConfig/tts/voiceId",
            json!("cjVigY5qzO86Huf0OWal"),
        ),
        ("/conversationConfig/tts/supportedVoices", json!([])),
        ("/conversationConfig/tts/expressiveMode", json!(false)),
        ("/conversationConfig/tts/suggestedAudioTags", json!([])),
        ("/platformSettings/callActions/smartOptOut", json!(false)),
        ("/platformSettings/callActions/issueTracking", json!(false)),
        ("/platformSettings/callActions/postCallWebhook", json!("")),
        (
            "/platformSettings/callActions/postCallEmail/enabled",
            json!(false),
        ),
        (
            "/platformSettings/callActions/postCallEmail/emailConfiguration",
            json!({}),
        ),
        (
            "/platformSettings/callActions/scheduleOnCalendar/enabled",
            json!(false),
        ),
        (
            "/platformSettings/callActions/scheduleOnCalendar/provider",
            json!("google"),
        ),
        (
            "/platformSettings/callActions/scheduleOnCalendar/eventsIds",
            json!([]),
        ),
        ("/platformSettings/widget", json!({})),
        ("/platformSettings/dataCollection/entities", json!({})),
        ("/platformSettings/dataCollection/storeData", json!(false)),
        ("/platformSettings/callRetry/retryCount", json!(0)),
        ("/platformSettings/callRetry/retryDelay", json!(30)),
        ("/platformSettings/summaryLanguage", json!("")),
        ("/platformSettings/privacy/recordVoice", json!(false)),
        (
            "/platformSettings/telephony/numberRotationEnabled",
            json!(false),
        ),
        ("/platformSettings/telephony/rotationNumbers", json!([])),
        ("/platformSettings/telephony/callsPerNumber", json!(100)),
        (
            "/platformSettings/telephony/stateRestrictionEnabled",
            json!(false),
        ),
        (
            "/platformSettings/telephony/stateRestrictedNumbers",
            json!([]),
        ),
        ("/phoneNumbers", json!([])),
        ("/workflow/nodes", json!({})),
        ("/workflow/edges", json!({})),
        ("/workflow/preventSubagentLoops", json!(false)),
    ]
    .into_iter()
    .map(|(p, v)| (p.to_owned(), v))
    .collect();
    for tool in TOOL_NAMES {
        let at = |field: &str| format!("{TOOLS}/{tool}/{field}");
        rows.push((at("enabled"), json!(tool == "endCall")));
        rows.push((at("description"), json!("")));
        rows.push((at("disableInterruption"), json!(false)));
    }
    rows.push((format!("{TOOLS}/transferToAgent/transfers"), json!([])));
    rows.push((
        format!("{TOOLS}/transferToNumber/transferRuleIds"),
        json!([]),
    ));
    rows.push((format!("{TOOLS}/transferToNumber/transfers"), json!([])));
    rows.push((
        format!("{TOOLS}/voicemailDetection/voicemailMessage"),
        json!(""),
    ));
    rows
}

/// The pointers of every leaf of `doc` (scalars, arrays and empty objects).
fn leaves(doc: &Value, at: String, out: &mut BTreeSet<String>) {
    match doc {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                leaves(
                    v,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        _ => {
            out.insert(at);
        }
    }
}

#[tokio::test]
async fn a_minimal_create_materialises_every_default_of_the_field_table() {
    let app = TestApp::spawn().await;
    let created = app.create_agent(&minimal_agent("Front desk")).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.data()["agentId"].as_str().unwrap();
    let got = app.get_agent(id).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(
        got.data(),
        created.data(),
        "GET returns what create returned"
    );

    let agent = got.data();
    let wrong: Vec<String> = default_table()
        .iter()
        .filter_map(|(pointer, want)| match agent.pointer(pointer) {
            None => Some(format!("{pointer}: missing, want {want}")),
            Some(have) => json_difference(have, want).map(|d| format!("{pointer}: {d}")),
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "wrong defaults:\n{}\nbody: {}",
        wrong.join("\n"),
        got.text
    );
    assert_eq!(agent["name"], "Front desk");
    assert_eq!(
        agent.pointer(&format!("{PROMPT}/prompt")),
        Some(&json!("You are helpful."))
    );
}

#[tokio::test]
async fn an_agent_holds_exactly_the_fields_of_the_table_and_no_others() {
    let app = TestApp::spawn().await;
    let created = app.create_agent(&minimal_agent("Exact")).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let mut have = BTreeSet::new();
    leaves(created.data(), String::new(), &mut have);
    let mut want: BTreeSet<String> = default_table().into_iter().map(|(p, _)| p).collect();
    for p in [
        "/agentId",
        "/name",
        "/conversationConfig/agent/prompt/prompt",
        "/metadata/createdAt",
        "/metadata/updatedAt",
        "/metadata/createdBy/userId",
        "/metadata/createdBy/userEmail",
    ] {
        want.insert(p.to_owned());
    }
    let extra: Vec<_> = have.difference(&want).collect();
    let missing: Vec<_> = want.difference(&have).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "fields not in the table: {extra:?}; table fields not returned: {missing:?}"
    );
}

#[tokio::test]
async fn the_hosted_create_path_materialises_the_same_defaults() {
    let app = TestApp::spawn().await;
    let r = app
        .json(
            Method::POST,
            "/api/public/v1/agents/create",
            &app.key,
            &minimal_agent("Hosted"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let other = app.create_agent(&minimal_agent("Hosted")).await;
    let strip = |v: &Value| {
        let mut v = v.clone();
        let map = v.as_object_mut().unwrap();
        map.remove("agentId");
        map.remove("metadata");
        v
    };
    assert_eq!(strip(r.data()), strip(other.data()), "body: {}", r.text);
}

#[tokio::test]
async fn explicit_nulls_on_create_mean_the_defaults() {
    let app = TestApp::spawn().await;
    let body = json!({
        "name": "Nulls",
        "direction": null,
        "tags": null,
        "conversationConfig": {
            "agent": {
                "prompt": {"prompt": "Hi.", "llm": null, "temperature": null, "builtInTools": null},
                "primaryLanguage": null,
            },
            "turn": {"turnTimeout": null, "silenceEndCallTimeout": null},
            "tts": null,
        },
        "platformSettings": {"telephony": {"callsPerNumber": null}, "callRetry": null},
        "workflow": null,
    });
    let with_nulls = app.create_agent(&body).await;
    assert_eq!(with_nulls.status, 201, "{}", with_nulls.text);
    let plain = app
        .create_agent(&agent_with(&format!("{PROMPT}/prompt"), json!("Hi.")))
        .await;
    let section = |r: &Resp| {
        json!([
            r.data()["direction"],
            r.data()["tags"],
            r.data()["conversationConfig"],
            r.data()["platformSettings"],
            r.data()["workflow"]
        ])
    };
    assert_eq!(
        json_difference(&section(&with_nulls), &section(&plain)),
        None,
        "body: {}",
        with_nulls.text
    );
}

/// Seconds since the Unix epoch of an RFC 3339 UTC timestamp `YYYY-MM-DDTHH:MM:SS[.frac]Z`, or `None`
/// when it is not of that form.
fn utc_seconds(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hh, mm, ss) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let rest = s.get(19..)?.strip_suffix('Z')?;
    let frac = match rest.strip_prefix('.') {
        None if rest.is_empty() => 0.0,
        Some(f) if !f.is_empty() && f.bytes().all(|c| c.is_ascii_digit()) => {
            format!("0.{f}").parse().ok()?
        }
        _ => return None,
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hh * 3_600 + mm * 60 + ss) as f64 + frac)
}

fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn utc_seconds_reads_rfc_3339_utc_only() {
    assert_eq!(utc_seconds("1970-01-01T00:00:00Z"), Some(0.0));
    assert_eq!(utc_seconds("2000-03-01T00:00:01.5Z"), Some(951_868_801.5));
    assert_eq!(
        utc_seconds("2024-02-29T12:00:00.000000Z"),
        Some(1_709_208_000.0)
    );
    for bad in [
        "2024-02-29T12:00:00+01:00",
        "2024-02-29 12:00:00Z",
        "2024-02-29T12:00:00",
        "yesterday",
    ] {
        assert_eq!(utc_seconds(bad), None, "{bad}");
    }
}

#[tokio::test]
async fn metadata_holds_the_creation_time_in_utc_and_the_keys_user() {
    let app = TestApp::spawn().await;
    let before = now_seconds();
    let created = app.create_agent(&minimal_agent("Stamped")).await;
    let after = now_seconds();
    assert_eq!(created.status, 201, "{}", created.text);
    let meta = &created.data()["metadata"];
    let created_at = meta["createdAt"].as_str().expect("createdAt is a string");
    assert_eq!(
        meta["updatedAt"].as_str(),
        Some(created_at),
        "{}",
        created.text
    );
    let at = utc_seconds(created_at).unwrap_or_else(|| panic!("not RFC 3339 UTC: {created_at}"));
    // The timestamp may be truncated to microseconds; allow for that and nothing more.
    assert!(
        before - 0.001 <= at && at <= after + 0.001,
        "createdAt {created_at} ({at}) is not between {before} and {after}"
    );
    assert_eq!(
        meta["createdBy"],
        json!({"userId": "alice", "userEmail": "alice@example.com"})
    );
}

#[tokio::test]
async fn created_by_names_the_user_of_the_key_that_created_the_agent() {
    let app = TestApp::spawn().await;
    let bob = app.new_key("default", Scope::Write, "bob").await;
    let r = app.create_agent_as(&bob, &minimal_agent("Bob's")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.data()["metadata"]["createdBy"],
        json!({"userId": "bob", "userEmail": "bob@example.com"}),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn agent_ids_are_generated_url_safe_unique_and_usable_as_is_in_the_path() {
    let app = TestApp::spawn().await;
    let mut ids = BTreeSet::new();
    for i in 0..5 {
        let id = app.create_named(&format!("Agent {i}")).await;
        assert!(
            !id.is_empty()
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)),
            "agentId {id:?} is not made of URL-unreserved characters"
        );
        let got = app.get_agent(&id).await;
        assert_eq!(got.status, 200, "{}", got.text);
        assert_eq!(got.data()["agentId"], json!(id));
        ids.insert(id);
    }
    assert_eq!(ids.len(), 5, "ids repeat: {ids:?}");
}

/// A body that sets every writable field of the table to a valid value other than its default.
fn rich_agent(transfer_target: &str, documents: [&str; 2]) -> Value {
    json!({
        "name": "Rich agent",
        "direction": "both",
        "tags": ["sales", "emea"],
        "conversationConfig": {
            "agent": {
                "prompt": {
                    "prompt": "You book dental appointments.",
                    "llm": "gpt-4.1",
                    "temperature": 0.7,
                    "toolIds": ["tool_a", "tool_b"],
                    "builtInTools": {
                        "endCall": {"enabled": false, "description": "End politely", "disableInterruption": true},
                        "languageDetection": {"enabled": true, "description": "Switch language", "disableInterruption": true},
                        "skipTurn": {"enabled": true, "description": "Let them think", "disableInterruption": true},
                        "transferToAgent": {
                            "enabled": true, "description": "Hand over", "disableInterruption": true,
                            "transfers": [{
                                "agentId": transfer_target, "condition": "billing question",
                                "delayMs": 1500, "transferMessage": "One moment",
                                "enableTransferredAgentFirstMessage": true
                            }]
                        },
                        "transferToNumber": {
                            "enabled": true, "description": "Call a human", "disableInterruption": true,
                            "transferRuleIds": ["rule_1"],
                            "transfers": [
                                {"condition": "wants a human", "transferDestination": {"phoneNumber": "+14155550123"}},
                                {"condition": "wants the front desk", "transferDestination": {"sipUri": "sip:frontdesk@example.com"}}
                            ]
                        },
                        "voicemailDetection": {
                            "enabled": true, "description": "Detect machines", "disableInterruption": true,
                            "voicemailMessage": "Please call us back."
                        }
                    },
                    "knowledgeBase": documents,
                    "ignoreDefaultPersonality": true,
                    "timezone": "Europe/Paris"
                },
                "greetingMessage": "Hello, this is the clinic.",
                "primaryLanguage": "pt-BR",
                "hinglishMode": true,
                "dynamicVariables": {"customer_name": "Ada", "visits": 3, "vip": true, "balance": 12.5},
                "disableFirstMessageInterruptions": true
            },
            "asr": {"userInputAudioFormat": "ulaw_8000", "keywords": ["Dialplane", "molar"]},
            "turn": {"turnTimeout": 12.5, "silenceEndCallTimeout": 600, "turnEagerness": "eager", "spellingPatience": "off"},
            "tts": {
                "voiceId": "voice_123",
                "supportedVoices": [{"label": "Warm", "voiceId": "v1", "language": "en-GB",
                                     "stability": 0.3, "speed": 1.1, "similarityBoost": 0.8}],
                "expressiveMode": true,
                "suggestedAudioTags": [{"tag": "laughs", "description": "a light laugh"}]
            }
        },
        "platformSettings": {
            "callActions": {
                "smartOptOut": true,
                "issueTracking": true,
                "postCallWebhook": "https://hooks.example.com/calls",
                "postCallEmail": {"enabled": true, "emailConfiguration": {"recipients": ["ops@example.com"], "subject": "Call summary"}},
                "scheduleOnCalendar": {"enabled": true, "provider": "outlook", "eventsIds": ["evt_1"]}
            },
            "widget": {"theme": {"color": "#336699"}, "position": "bottom-right", "sizes": [1, 2.5]},
            "dataCollection": {
                "entities": {
                    "appointment_date": {"type": "string", "description": "When they come"},
                    "party_size": {"type": "integer", "description": "How many people"},
                    "deposit": {"type": "number", "description": "Amount paid"},
                    "is_new": {"type": "boolean", "description": "First visit"}
                },
                "storeData": true
            },
            "callRetry": {"retryCount": 3, "retryDelay": 90},
            "summaryLanguage": "de",
            "privacy": {"recordVoice": true},
            "telephony": {
                "numberRotationEnabled": true,
                "rotationNumbers": ["+14155550100", "+14155550101"],
                "callsPerNumber": 250,
                "stateRestrictionEnabled": true,
                "stateRestrictedNumbers": ["+14155550102"]
            }
        },
        "workflow": {
            "nodes": {
                "begin": {"type": "start", "label": "Begin"},
                "book": {"type": "subagent", "prompt": "Book it", "position": {"x": 10, "y": 20.5}},
                "done": {"type": "end"}
            },
            "edges": {
                "e1": {"source": "begin", "target": "book", "condition": "always"},
                "e2": {"source": "book", "target": "done"}
            },
            "preventSubagentLoops": true
        }
    })
}

#[test]
fn the_rich_agent_sets_every_writable_field_to_something_other_than_its_default() {
    let rich = rich_agent("0193a5b2-7c1d-7e3f-9a4b-5c6d7e8f9a0b", ["kb_1", "kb_2"]);
    let defaults_kept: Vec<String> = default_table()
        .into_iter()
        .filter(|(p, _)| p != "/phoneNumbers")
        .filter(|(p, default)| match rich.pointer(p) {
            None => true,
            Some(v) => json_difference(v, default).is_none(),
        })
        .map(|(p, _)| p)
        .collect();
    assert!(
        defaults_kept.is_empty(),
        "not set to a non-default value: {defaults_kept:?}"
    );
}

#[tokio::test]
async fn a_fully_populated_agent_comes_back_exactly_as_sent_plus_read_only_fields() {
    let app = TestApp::spawn().await;
    let target = app.create_named("Billing").await;
    let (kb1, kb2) = (
        app.text_document("One", "1").await,
        app.text_document("Two", "2").await,
    );
    let body = rich_agent(&target, [&kb1, &kb2]);
    let created = app.create_agent(&body).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.data()["agentId"].as_str().unwrap().to_owned();
    let got = app.get_agent(&id).await;
    assert_eq!(got.status, 200, "{}", got.text);
    for (what, r) in [("create", &created), ("GET", &got)] {
        let mut agent = r.data().clone();
        let map = agent.as_object_mut().unwrap();
        assert!(
            map.remove("agentId").is_some_and(|v| v == json!(id)),
            "{what}: {}",
            r.text
        );
        assert_eq!(
            map.remove("phoneNumbers"),
            Some(json!([])),
            "{what}: {}",
            r.text
        );
        assert!(map.remove("metadata").is_some(), "{what}: {}", r.text);
        assert_eq!(
            json_difference(&agent, &body),
            None,
            "{what} answered {}",
            r.text
        );
    }
}

#[test]
fn json_difference_compares_numbers_by_value_and_names_the_first_difference() {
    assert_eq!(
        json_difference(&json!({"a": [1, 600]}), &json!({"a": [1.0, 600.0]})),
        None
    );
    assert!(
        json_difference(&json!({"a": [1, 2]}), &json!({"a": [1, 3]}))
            .is_some_and(|d| d.starts_with("/a/1:"))
    );
    assert!(json_difference(&json!({"a": 1}), &json!({"a": 1, "b": 2}))
        .is_some_and(|d| d.starts_with("/b:")));
    assert!(json_difference(&json!([1]), &json!([1, 1])).is_some());
    assert!(json_difference(&json!("0"), &json!(0)).is_some());
}

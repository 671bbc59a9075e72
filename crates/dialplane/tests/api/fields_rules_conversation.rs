//! The field table of the contract (section 3), its rules for the built-in tools (transfers included)
//! and for `asr`, `turn` and `tts`: each rule refuses what breaks it, at the right path and with the
//! right code, and accepts its boundaries.

use crate::support::*;
use serde_json::{json, Value};

const TOOLS: &str = "/conversationConfig/agent/prompt/builtInTools";
const TO_AGENT: &str = "/conversationConfig/agent/prompt/builtInTools/transferToAgent/transfers";
const TO_NUMBER: &str = "/conversationConfig/agent/prompt/builtInTools/transferToNumber/transfers";
const TOOL_NAMES: [&str; 6] = [
    "endCall",
    "languageDetection",
    "skipTurn",
    "transferToAgent",
    "transferToNumber",
    "voicemailDetection",
];

fn x(n: usize) -> String {
    "x".repeat(n)
}

fn voice() -> Value {
    json!({"label": "Warm", "voiceId": "v1", "language": "en"})
}

fn voice_with(key: &str, value: Value) -> Value {
    let mut v = voice();
    v[key] = value;
    v
}

fn voice_without(key: &str) -> Value {
    let mut v = voice();
    v.as_object_mut().unwrap().remove(key);
    v
}

#[tokio::test]
async fn built_in_tool_rules_refuse_what_breaks_them() {
    let app = TestApp::spawn().await;
    let mut cases = Vec::new();
    for tool in TOOL_NAMES {
        let t = |field: &str| format!("{TOOLS}/{tool}/{field}");
        cases.push(Refusal::at(&t("description"), json!(x(2_001)), "too_long"));
        cases.push(Refusal::at(&t("enabled"), json!("yes"), "invalid_type"));
        cases.push(Refusal::at(
            &t("disableInterruption"),
            json!(1),
            "invalid_type",
        ));
        cases.push(Refusal::at(&t("bogus"), json!(true), "unknown_field"));
        cases.push(Refusal::at(
            &format!("{TOOLS}/{tool}"),
            json!(true),
            "invalid_type",
        ));
    }
    cases.push(Refusal::at(
        &format!("{TOOLS}/voicemailDetection/voicemailMessage"),
        json!(x(2_001)),
        "too_long",
    ));
    cases.push(Refusal::at(
        &format!("{TOOLS}/bogusTool"),
        json!({}),
        "unknown_field",
    ));
    assert_refusals(&app, &cases).await;
    assert_no_agents(&app).await;
}

#[tokio::test]
async fn built_in_tool_rules_accept_their_boundaries() {
    let app = TestApp::spawn().await;
    let mut cases = Vec::new();
    for tool in TOOL_NAMES {
        let body = json!({"enabled": tool != "endCall", "description": "é".repeat(2_000), "disableInterruption": true});
        cases.push(Acceptance::at(&format!("{TOOLS}/{tool}"), body));
    }
    cases.push(Acceptance::at(
        &format!("{TOOLS}/voicemailDetection/voicemailMessage"),
        json!(x(2_000)),
    ));
    cases.push(Acceptance::at(
        &format!("{TOOLS}/transferToNumber/transferRuleIds"),
        json!(["rule_1", "rule_2"]),
    ));
    assert_acceptances(&app, &cases).await;
}

fn agent_transfer(agent_id: &str) -> Value {
    json!({"agentId": agent_id, "condition": "billing question"})
}

#[tokio::test]
async fn transfer_to_agent_rules_refuse_what_breaks_them() {
    let app = TestApp::spawn().await;
    // A real target, so that the only problem in each case is the one it is about.
    let target = app.create_named("Target").await;
    let target = target.as_str();
    let item = |field: &str| format!("{TO_AGENT}/0/{field}");
    let with = |field: &str, value: Value| {
        let mut t = agent_transfer(target);
        t[field] = value;
        json!([t])
    };
    let cases = [
        Refusal::at(
            TO_AGENT,
            json_list(33, |_| agent_transfer(target)),
            "too_long",
        ),
        Refusal::reported_at(
            TO_AGENT,
            json!([{"condition": "c"}]),
            &item("agentId"),
            "required",
        ),
        Refusal::reported_at(
            TO_AGENT,
            with("agentId", json!("")),
            &item("agentId"),
            "too_short",
        ),
        Refusal::reported_at(
            TO_AGENT,
            json!([{"agentId": target}]),
            &item("condition"),
            "required",
        ),
        Refusal::reported_at(
            TO_AGENT,
            with("condition", json!("")),
            &item("condition"),
            "too_short",
        ),
        Refusal::reported_at(
            TO_AGENT,
            with("delayMs", json!(60_001)),
            &item("delayMs"),
            "out_of_range",
        ),
        Refusal::reported_at(
            TO_AGENT,
            with("delayMs", json!(-1)),
            &item("delayMs"),
            "out_of_range",
        ),
        Refusal::reported_at(
            TO_AGENT,
            with("delayMs", json!(1.5)),
            &item("delayMs"),
            "invalid_type",
        ),
        Refusal::reported_at(
            TO_AGENT,
            with("delayMs", json!("10")),
            &item("delayMs"),
            "invalid_type",
        ),
        Refusal::reported_at(
            TO_AGENT,
            with("bogus", json!(1)),
            &item("bogus"),
            "unknown_field",
        ),
        Refusal::reported_at(
            TO_AGENT,
            with("enableTransferredAgentFirstMessage", json!("yes")),
            &item("enableTransferredAgentFirstMessage"),
            "invalid_type",
        ),
        Refusal::reported_at(
            TO_AGENT,
            json!(["agent"]),
            &format!("{TO_AGENT}/0"),
            "invalid_type",
        ),
        // Well-formed, but no such agent: one that is not an id of ours, and one that could be.
        Refusal::reported_at(
            TO_AGENT,
            with("agentId", json!("no-such-agent")),
            &item("agentId"),
            "not_found",
        ),
        Refusal::reported_at(
            TO_AGENT,
            with("agentId", json!("0193a5b2-7c1d-7e3f-9a4b-5c6d7e8f9a0b")),
            &item("agentId"),
            "not_found",
        ),
    ];
    assert_refusals(&app, &cases).await;
    let list = app.list_agents("").await;
    let names: Vec<&str> = list
        .data()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Target"], "no refused agent was stored");
}

#[tokio::test]
async fn transfer_to_agent_rules_accept_their_boundaries() {
    let app = TestApp::spawn().await;
    let target = app.create_named("Billing").await;
    let full = |delay: u32| {
        json!([{"agentId": target, "condition": "billing", "delayMs": delay,
                "transferMessage": "One moment", "enableTransferredAgentFirstMessage": true}])
    };
    let cases = [
        Acceptance::at(
            TO_AGENT,
            json_list(
                32,
                |i| json!({"agentId": target, "condition": format!("case {i}")}),
            ),
        ),
        Acceptance::at(TO_AGENT, full(0)),
        Acceptance::at(TO_AGENT, full(60_000)),
    ];
    assert_acceptances(&app, &cases).await;
}

#[tokio::test]
async fn transfer_to_number_rules_refuse_what_breaks_them() {
    let app = TestApp::spawn().await;
    let dest = format!("{TO_NUMBER}/0/transferDestination");
    let to = |destination: Value| json!([{"condition": "wants a human", "transferDestination": destination}]);
    let phone = |n: &str| to(json!({"phoneNumber": n}));
    let sip = |u: &str| to(json!({"sipUri": u}));
    let cases = [
        Refusal::at(
            TO_NUMBER,
            json_list(
                33,
                |_| json!({"condition": "c", "transferDestination": {"phoneNumber": "+14155550123"}}),
            ),
            "too_long",
        ),
        Refusal::reported_at(
            TO_NUMBER,
            json!([{"transferDestination": {"phoneNumber": "+14155550123"}}]),
            &format!("{TO_NUMBER}/0/condition"),
            "required",
        ),
        Refusal::reported_at(
            TO_NUMBER,
            json!([{"condition": "", "transferDestination": {"phoneNumber": "+14155550123"}}]),
            &format!("{TO_NUMBER}/0/condition"),
            "too_short",
        ),
        Refusal::reported_at(TO_NUMBER, json!([{"condition": "c"}]), &dest, "required"),
        Refusal::reported_at(
            TO_NUMBER,
            to(json!({"phoneNumber": "+14155550123", "sipUri": "sip:desk@example.com"})),
            &dest,
            "invalid_combination",
        ),
        Refusal::reported_at(TO_NUMBER, to(json!({})), &dest, "invalid_combination"),
        Refusal::reported_at(TO_NUMBER, to(json!("+14155550123")), &dest, "invalid_type"),
        Refusal::reported_at(
            TO_NUMBER,
            phone("4155550123"),
            &format!("{dest}/phoneNumber"),
            "invalid_format",
        ),
        Refusal::reported_at(
            TO_NUMBER,
            phone("+0123"),
            &format!("{dest}/phoneNumber"),
            "invalid_format",
        ),
        Refusal::reported_at(
            TO_NUMBER,
            phone("+1 415 555 0123"),
            &format!("{dest}/phoneNumber"),
            "invalid_format",
        ),
        Refusal::reported_at(
            TO_NUMBER,
            phone("+1234567890123456"),
            &format!("{dest}/phoneNumber"),
            "invalid_format",
        ),
        Refusal::reported_at(
            TO_NUMBER,
            sip("https://example.com"),
            &format!("{dest}/sipUri"),
            "invalid_format",
        ),
        Refusal::reported_at(
            TO_NUMBER,
            sip("sip:"),
            &format!("{dest}/sipUri"),
            "invalid_format",
        ),
        Refusal::reported_at(
            TO_NUMBER,
            sip("desk@example.com"),
            &format!("{dest}/sipUri"),
            "invalid_format",
        ),
        Refusal::reported_at(
            TO_NUMBER,
            to(json!({"phoneNumber": "+14155550123", "extension": "12"})),
            &format!("{dest}/extension"),
            "unknown_field",
        ),
    ];
    assert_refusals(&app, &cases).await;
    assert_no_agents(&app).await;
}

#[tokio::test]
async fn transfer_to_number_rules_accept_their_boundaries() {
    let app = TestApp::spawn().await;
    let to = |destination: Value| json!([{"condition": "wants a human", "transferDestination": destination}]);
    let cases = [
        Acceptance::at(
            TO_NUMBER,
            json_list(
                32,
                |i| json!({"condition": format!("c{i}"), "transferDestination": {"phoneNumber": "+14155550123"}}),
            ),
        ),
        Acceptance::at(TO_NUMBER, to(json!({"phoneNumber": "+12"}))),
        Acceptance::at(TO_NUMBER, to(json!({"phoneNumber": "+123456789012345"}))),
        Acceptance::at(
            TO_NUMBER,
            to(json!({"sipUri": "sip:frontdesk@example.com"})),
        ),
        Acceptance::at(
            TO_NUMBER,
            to(json!({"sipUri": "sips:pbx.example.com:5061"})),
        ),
    ];
    assert_acceptances(&app, &cases).await;
}
#[tokio::test]
async fn asr_turn_and_tts_rules_refuse_what_breaks_them() {
    let app = TestApp::spawn().await;
    let turn = |f: &str| format!("/conversationConfig/turn/{f}");
    let tts = |f: &str| format!("/conversationConfig/tts/{f}");
    let voices = tts("supportedVoices");
    let tags = tts("suggestedAudioTags");
    let voice0 = |f: &str| format!("{voices}/0/{f}");
    let mut cases = vec![
        Refusal::at(
            "/conversationConfig/asr/userInputAudioFormat",
            json!("mp3"),
            "invalid_value",
        ),
        Refusal::at(
            "/conversationConfig/asr/userInputAudioFormat",
            json!("PCM_16000"),
            "invalid_value",
        ),
        Refusal::at(
            "/conversationConfig/asr/keywords",
            json_list(101, |i| json!(format!("k{i}"))),
            "too_long",
        ),
        Refusal::reported_at(
            "/conversationConfig/asr/keywords",
            json!([1]),
            "/conversationConfig/asr/keywords/0",
            "invalid_type",
        ),
        Refusal::at(&turn("turnEagerness"), json!("fast"), "invalid_value"),
        Refusal::at(&turn("spellingPatience"), json!("on"), "invalid_value"),
        Refusal::at(&turn("turnTimeout"), json!("7"), "invalid_type"),
        Refusal::at(&turn("silenceEndCallTimeout"), json!("off"), "invalid_type"),
        Refusal::at(&tts("voiceId"), json!(""), "too_short"),
        Refusal::at(&tts("voiceId"), json!(x(129)), "too_long"),
        Refusal::at(&tts("expressiveMode"), json!("no"), "invalid_type"),
        Refusal::at(&voices, json_list(21, |_| voice()), "too_long"),
        Refusal::reported_at(
            &voices,
            json!([voice_without("label")]),
            &voice0("label"),
            "required",
        ),
        Refusal::reported_at(
            &voices,
            json!([voice_without("voiceId")]),
            &voice0("voiceId"),
            "required",
        ),
        Refusal::reported_at(
            &voices,
            json!([voice_without("language")]),
            &voice0("language"),
            "required",
        ),
        Refusal::reported_at(
            &voices,
            json!([voice_with("label", json!(""))]),
            &voice0("label"),
            "too_short",
        ),
        Refusal::reported_at(
            &voices,
            json!([voice_with("language", json!("english"))]),
            &voice0("language"),
            "invalid_value",
        ),
        Refusal::reported_at(
            &voices,
            json!([voice_with("bogus", json!(1))]),
            &voice0("bogus"),
            "unknown_field",
        ),
        Refusal::at(
            &tags,
            json_list(51, |i| json!({"tag": format!("t{i}")})),
            "too_long",
        ),
        Refusal::reported_at(
            &tags,
            json!([{"description": "a laugh"}]),
            &format!("{tags}/0/tag"),
            "required",
        ),
        Refusal::reported_at(
            &tags,
            json!([{"tag": ""}]),
            &format!("{tags}/0/tag"),
            "too_short",
        ),
        Refusal::reported_at(
            &tags,
            json!([{"tag": "laughs", "volume": 3}]),
            &format!("{tags}/0/volume"),
            "unknown_field",
        ),
    ];
    for bad in [0.99, 30.01, 0.0, -1.0] {
        cases.push(Refusal::at(
            &turn("turnTimeout"),
            json!(bad),
            "out_of_range",
        ));
    }
    for bad in [
        json!(0),
        json!(0.5),
        json!(-2),
        json!(-0.5),
        json!(7_200.5),
        json!(7_201),
    ] {
        cases.push(Refusal::at(
            &turn("silenceEndCallTimeout"),
            bad,
            "out_of_range",
        ));
    }
    for (field, bad) in [
        ("stability", -0.1),
        ("stability", 1.1),
        ("speed", 0.69),
        ("speed", 1.21),
        ("similarityBoost", -0.01),
        ("similarityBoost", 1.01),
    ] {
        cases.push(Refusal::reported_at(
            &voices,
            json!([voice_with(field, json!(bad))]),
            &voice0(field),
            "out_of_range",
        ));
    }
    assert_refusals(&app, &cases).await;
    assert_no_agents(&app).await;
}

#[tokio::test]
async fn asr_turn_and_tts_rules_accept_their_boundaries() {
    let app = TestApp::spawn().await;
    let turn = |f: &str| format!("/conversationConfig/turn/{f}");
    let voices = "/conversationConfig/tts/supportedVoices";
    let mut cases = vec![
        // Keywords have no rule but their count: repeats are allowed.
        Acceptance::at(
            "/conversationConfig/asr/keywords",
            json_list(100, |i| json!(format!("k{}", i % 7))),
        ),
        Acceptance::at(
            "/conversationConfig/tts/supportedVoices",
            json_list(20, |_| voice()),
        ),
        Acceptance::at(
            "/conversationConfig/tts/suggestedAudioTags",
            json_list(50, |i| json!({"tag": format!("t{i}"), "description": "d"})),
        ),
        Acceptance::at("/conversationConfig/tts/voiceId", json!(x(128))),
    ];
    for format in [
        "pcm_8000",
        "pcm_16000",
        "pcm_22050",
        "pcm_24000",
        "pcm_44100",
        "pcm_48000",
        "ulaw_8000",
    ] {
        cases.push(Acceptance::at(
            "/conversationConfig/asr/userInputAudioFormat",
            json!(format),
        ));
    }
    for ok in [json!(1), json!(30), json!(1.5)] {
        cases.push(Acceptance::at(&turn("turnTimeout"), ok));
    }
    for ok in [json!(-1), json!(1), json!(7_200), json!(90.5)] {
        cases.push(Acceptance::at(&turn("silenceEndCallTimeout"), ok));
    }
    for ok in ["patient", "normal", "eager"] {
        cases.push(Acceptance::at(&turn("turnEagerness"), json!(ok)));
    }
    for ok in ["auto", "off"] {
        cases.push(Acceptance::at(&turn("spellingPatience"), json!(ok)));
    }
    for (field, ok) in [
        ("stability", 0.0),
        ("stability", 1.0),
        ("speed", 0.7),
        ("speed", 1.2),
        ("similarityBoost", 0.0),
        ("similarityBoost", 1.0),
    ] {
        cases.push(Acceptance::at(
            voices,
            json!([voice_with(field, json!(ok))]),
        ));
    }
    assert_acceptances(&app, &cases).await;
}

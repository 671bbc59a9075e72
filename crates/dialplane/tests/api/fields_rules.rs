//! The field table of the contract (section 3), its rules for the top level, the prompt and the agent
//! section: each rule refuses what breaks it, at the right path and with the right code, and accepts
//! its boundaries. Also: wrong JSON types, unknown fields, and that every problem is reported at once.
//! Built-in tools, asr, turn and tts are in `fields_rules_conversation`; `platformSettings` and
//! `workflow` in `fields_rules_platform`.

use crate::support::*;
use dialplane_core::validate::DEFAULT_LLM_MODELS;
use dialplane_core::Rules;
use serde_json::{json, Value};

pub(crate) const AGENT: &str = "/conversationConfig/agent";
pub(crate) const PROMPT: &str = "/conversationConfig/agent/prompt";

pub(crate) fn x(n: usize) -> String {
    "x".repeat(n)
}

/// [`minimal_agent`] without `key` in the object at `parent`.
pub(crate) fn without(parent: &str, key: &str) -> Value {
    let mut body = minimal_agent("Without");
    if let Some(map) = body.pointer_mut(parent).and_then(|v| v.as_object_mut()) {
        map.remove(key);
    }
    body
}

#[tokio::test]
pub(crate) async fn name_rules_refuse_missing_blank_long_and_control_character_names() {
    let app = TestApp::spawn().await;
    let cases = [
        Refusal::body("no name", without("", "name"), "/name", "required"),
        Refusal::at("/name", json!(null), "required"),
        Refusal::at("/name", json!(""), "too_short"),
        Refusal::at("/name", json!("   \t "), "too_short"),
        Refusal::at("/name", json!(x(201)), "too_long"),
        Refusal::at("/name", json!(format!("  {}  ", x(201))), "too_long"),
        // Padding counts too, past 1 000 characters: names are stored and indexed as given.
        Refusal::at(
            "/name",
            json!(format!("{}x", " ".repeat(1_000))),
            "too_long",
        ),
        Refusal::at(
            "/name",
            json!(format!("x{}", "\u{3000}".repeat(300_000))),
            "too_long",
        ),
        Refusal::at("/name", json!("bell\u{7}name"), "invalid_format"),
        Refusal::at("/name", json!("line\nbreak"), "invalid_format"),
        Refusal::at("/name", json!("del\u{7f}"), "invalid_format"),
        Refusal::at("/name", json!(42), "invalid_type"),
    ];
    assert_refusals(&app, &cases).await;
    assert_no_agents(&app).await;
}

#[tokio::test]
pub(crate) async fn name_rules_accept_200_characters_after_trimming_counted_as_characters() {
    let app = TestApp::spawn().await;
    let cases = [
        Acceptance::at("/name", json!("A")),
        Acceptance::at("/name", json!(x(200))),
        Acceptance::at("/name", json!(format!("   {}   ", x(200)))),
        Acceptance::at(
            "/name",
            json!(format!("{}{}{}", " ".repeat(400), x(200), " ".repeat(400))),
        ),
        Acceptance::at("/name", json!("é".repeat(200))),
        Acceptance::at("/name", json!("Zoë 🤖 front desk")),
    ];
    assert_acceptances(&app, &cases).await;
}

#[tokio::test]
pub(crate) async fn direction_and_tags_rules_refuse_what_breaks_them() {
    let app = TestApp::spawn().await;
    let cases = [
        Refusal::at("/direction", json!("sideways"), "invalid_value"),
        Refusal::at("/direction", json!("Outbound"), "invalid_value"),
        Refusal::at("/direction", json!(true), "invalid_type"),
        Refusal::at(
            "/tags",
            json_list(51, |i| json!(format!("t{i}"))),
            "too_long",
        ),
        Refusal::reported_at("/tags", json!(["a", "b", "a"]), "/tags/2", "duplicate"),
        Refusal::reported_at("/tags", json!(["ok", ""]), "/tags/1", "too_short"),
        Refusal::reported_at("/tags", json!([x(65)]), "/tags/0", "too_long"),
        Refusal::reported_at("/tags", json!([7]), "/tags/0", "invalid_type"),
        Refusal::at("/tags", json!("sales"), "invalid_type"),
    ];
    assert_refusals(&app, &cases).await;
    assert_no_agents(&app).await;
}

#[tokio::test]
pub(crate) async fn direction_and_tags_rules_accept_their_boundaries() {
    let app = TestApp::spawn().await;
    let cases = [
        Acceptance::at("/direction", json!("outbound")),
        Acceptance::at("/direction", json!("inbound")),
        Acceptance::at("/direction", json!("both")),
        Acceptance::at("/tags", json_list(50, |i| json!(format!("t{i}")))),
        Acceptance::at("/tags", json!([x(64), "é".repeat(64), "a"])),
    ];
    assert_acceptances(&app, &cases).await;
}

#[tokio::test]
pub(crate) async fn a_missing_required_field_is_reported_once_at_the_outermost_missing_object() {
    let app = TestApp::spawn().await;
    let cases = [
        Refusal::body(
            "no conversationConfig",
            json!({"name": "A"}),
            "/conversationConfig",
            "required",
        ),
        Refusal::body(
            "no agent",
            json!({"name": "A", "conversationConfig": {"asr": {"keywords": ["x"]}}}),
            "/conversationConfig/agent",
            "required",
        ),
        Refusal::body(
            "no prompt object",
            json!({"name": "A", "conversationConfig": {"agent": {"greetingMessage": "Hi"}}}),
            PROMPT,
            "required",
        ),
        Refusal::body(
            "no prompt text",
            without(PROMPT, "prompt"),
            "/conversationConfig/agent/prompt/prompt",
            "required",
        ),
        Refusal::at(
            "/conversationConfig/agent/prompt/prompt",
            json!(null),
            "required",
        ),
        Refusal::at(
            "/conversationConfig/agent/prompt/prompt",
            json!(""),
            "too_short",
        ),
        Refusal::at(
            "/conversationConfig/agent/prompt/prompt",
            json!(x(100_001)),
            "too_long",
        ),
        Refusal::at(
            "/conversationConfig/agent/prompt/prompt",
            json!(["Hi"]),
            "invalid_type",
        ),
    ];
    assert_refusals(&app, &cases).await;
    assert_no_agents(&app).await;
}

#[tokio::test]
pub(crate) async fn an_empty_body_reports_both_required_fields() {
    let app = TestApp::spawn().await;
    let r = app.create_agent(&json!({})).await;
    r.assert_error(400, "validation_error");
    let mut details = r.detail_paths();
    details.sort();
    assert_eq!(
        details,
        [
            ("/conversationConfig".to_owned(), "required".to_owned()),
            ("/name".to_owned(), "required".to_owned())
        ],
        "{}",
        r.text
    );
    assert_eq!(
        r.body["error"]["message"], "2 fields are invalid",
        "{}",
        r.text
    );
}

#[tokio::test]
pub(crate) async fn prompt_rules_refuse_what_breaks_them() {
    let app = TestApp::spawn().await;
    // A document that exists, so that naming it twice is the one problem reported.
    let kb = app.text_document("Handbook", "Opening hours.").await;
    let p = |field: &str| format!("{PROMPT}/{field}");
    let cases = [
        Refusal::at(&p("llm"), json!("gpt-2"), "invalid_value"),
        Refusal::at(&p("llm"), json!(""), "invalid_value"),
        Refusal::at(&p("llm"), json!("GEMINI-2.5-FLASH"), "invalid_value"),
        Refusal::at(&p("llm"), json!(4), "invalid_type"),
        Refusal::at(&p("temperature"), json!(-0.1), "out_of_range"),
        Refusal::at(&p("temperature"), json!(2.01), "out_of_range"),
        Refusal::at(&p("temperature"), json!(3.5), "out_of_range"),
        Refusal::at(&p("temperature"), json!("0.5"), "invalid_type"),
        Refusal::at(
            &p("toolIds"),
            json_list(65, |i| json!(format!("tool{i}"))),
            "too_long",
        ),
        Refusal::reported_at(
            &p("toolIds"),
            json!(["a", "a"]),
            &p("toolIds/1"),
            "duplicate",
        ),
        Refusal::reported_at(&p("toolIds"), json!([""]), &p("toolIds/0"), "too_short"),
        Refusal::reported_at(&p("toolIds"), json!([x(129)]), &p("toolIds/0"), "too_long"),
        Refusal::reported_at(
            &p("knowledgeBase"),
            json!([kb, kb]),
            &p("knowledgeBase/1"),
            "duplicate",
        ),
        Refusal::reported_at(
            &p("knowledgeBase"),
            json!([""]),
            &p("knowledgeBase/0"),
            "too_short",
        ),
        Refusal::at(
            &p("ignoreDefaultPersonality"),
            json!("true"),
            "invalid_type",
        ),
        Refusal::at(&p("timezone"), json!("Mars/Olympus"), "invalid_value"),
        Refusal::at(&p("timezone"), json!(""), "invalid_value"),
        Refusal::at(&p("timezone"), json!("+02:00"), "invalid_value"),
    ];
    assert_refusals(&app, &cases).await;
    assert_no_agents(&app).await;
}

#[tokio::test]
pub(crate) async fn prompt_rules_accept_their_boundaries() {
    let app = TestApp::spawn().await;
    // Documents of the workspace, as many as a knowledge base may name (there is no limit).
    let mut documents = Vec::new();
    for i in 0..50 {
        documents.push(app.text_document(&format!("kb{i}"), "Text.").await);
    }
    let p = |field: &str| format!("{PROMPT}/{field}");
    let mut cases = vec![
        Acceptance::at(&p("prompt"), json!(x(100_000))),
        Acceptance::at(&p("temperature"), json!(0)),
        Acceptance::at(&p("temperature"), json!(2)),
        Acceptance::at(&p("temperature"), json!(2.0)),
        Acceptance::at(&p("temperature"), json!(1.25)),
        Acceptance::at(&p("toolIds"), json_list(64, |i| json!(format!("tool{i}")))),
        Acceptance::at(&p("toolIds"), json!([x(128)])),
        Acceptance::at(&p("knowledgeBase"), json!(documents)),
        Acceptance::at(&p("timezone"), json!("America/Argentina/Buenos_Aires")),
        Acceptance::at(&p("timezone"), json!("Asia/Kolkata")),
    ];
    for model in DEFAULT_LLM_MODELS {
        cases.push(Acceptance::at(&p("llm"), json!(model)));
    }
    assert_acceptances(&app, &cases).await;
}

#[tokio::test]
pub(crate) async fn an_unknown_model_is_refused_with_the_list_of_allowed_models() {
    let app = TestApp::spawn().await;
    let r = app
        .create_agent(&agent_with(&format!("{PROMPT}/llm"), json!("gpt-2")))
        .await;
    r.assert_problem(&format!("{PROMPT}/llm"), "invalid_value");
    let message = r.body["error"]["details"][0]["message"]
        .as_str()
        .unwrap_or("");
    for model in DEFAULT_LLM_MODELS {
        assert!(message.contains(model), "{model} not listed in {message:?}");
    }
}

#[tokio::test]
pub(crate) async fn a_server_with_its_own_model_list_accepts_only_those_models() {
    let rules = Rules {
        llm_models: vec!["acme-large".into(), "acme-small".into()],
        ..Rules::default()
    };
    let app = TestApp::spawn_with(TestOptions {
        rules,
        ..Default::default()
    })
    .await;
    let llm = format!("{PROMPT}/llm");
    assert_acceptances(&app, &[Acceptance::at(&llm, json!("acme-small"))]).await;
    let r = app
        .create_agent(&agent_with(&llm, json!("gemini-2.5-flash")))
        .await;
    r.assert_problem(&llm, "invalid_value");
    let message = r.body["error"]["details"][0]["message"]
        .as_str()
        .unwrap_or("");
    assert!(
        message.contains("acme-large")
            && message.contains("acme-small")
            && !message.contains("gpt-4o"),
        "the message lists the configured models only: {message:?}"
    );
}

#[tokio::test]
pub(crate) async fn a_server_with_its_own_model_list_defaults_to_a_model_it_allows() {
    let rules = Rules {
        llm_models: vec!["acme-large".into(), "acme-small".into()],
        ..Rules::default()
    };
    let app = TestApp::spawn_with(TestOptions {
        rules,
        ..Default::default()
    })
    .await;
    let created = app.create_agent(&minimal_agent("Defaulted")).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let llm = created.data().pointer(&format!("{PROMPT}/llm")).cloned();
    assert_eq!(
        llm,
        Some(json!("acme-large")),
        "the first configured model: {}",
        created.text
    );
    // And the agent stays editable: a PATCH that does not touch llm is not refused because of it.
    let id = created.data()["agentId"].as_str().unwrap();
    let patched = app.patch_agent(id, &json!({"name": "Renamed"})).await;
    assert_eq!(patched.status, 200, "{}", patched.text);
}
#[tokio::test]
pub(crate) async fn agent_section_rules_refuse_what_breaks_them() {
    let app = TestApp::spawn().await;
    let a = |field: &str| format!("{AGENT}/{field}");
    let vars = a("dynamicVariables");
    let cases = [
        Refusal::at(&a("greetingMessage"), json!(x(2_001)), "too_long"),
        Refusal::at(&a("primaryLanguage"), json!("english"), "invalid_value"),
        Refusal::at(&a("primaryLanguage"), json!("pt-br"), "invalid_value"),
        Refusal::at(&a("primaryLanguage"), json!("EN"), "invalid_value"),
        Refusal::at(&a("primaryLanguage"), json!("xx"), "invalid_value"),
        Refusal::at(&a("primaryLanguage"), json!(""), "invalid_value"),
        Refusal::at(&a("hinglishMode"), json!("true"), "invalid_type"),
        Refusal::at(
            &a("disableFirstMessageInterruptions"),
            json!(0),
            "invalid_type",
        ),
        Refusal::reported_at(
            &vars,
            json!({"1st": "x"}),
            &format!("{vars}/1st"),
            "invalid_format",
        ),
        Refusal::reported_at(
            &vars,
            json!({"has-dash": 1}),
            &format!("{vars}/has-dash"),
            "invalid_format",
        ),
        Refusal::reported_at(
            &vars,
            json!({"a/b": 1}),
            &format!("{vars}/a~1b"),
            "invalid_format",
        ),
        Refusal::reported_at(
            &vars,
            json!({x(65): 1}),
            &format!("{vars}/{}", x(65)),
            "invalid_format",
        ),
        Refusal::reported_at(&vars, json!({"": 1}), &format!("{vars}/"), "invalid_format"),
        Refusal::at(&vars, json_map(101, |i| json!(i)), "too_long"),
        Refusal::reported_at(
            &vars,
            json!({"list": [1]}),
            &format!("{vars}/list"),
            "invalid_type",
        ),
        Refusal::reported_at(
            &vars,
            json!({"obj": {"b": 1}}),
            &format!("{vars}/obj"),
            "invalid_type",
        ),
        Refusal::at(&vars, json!("name=Ada"), "invalid_type"),
    ];
    assert_refusals(&app, &cases).await;
    assert_no_agents(&app).await;
}

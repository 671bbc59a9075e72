//! Validation, continued: JSON types, unknown fields, all problems at once, lists, read-only fields, numbers.

use super::fields_rules::*;
use crate::support::*;
use serde_json::{json, Value};

#[tokio::test]
async fn agent_section_rules_accept_their_boundaries() {
    let app = TestApp::spawn().await;
    let a = |field: &str| format!("{AGENT}/{field}");
    let cases = [
        Acceptance::at(&a("greetingMessage"), json!("é".repeat(2_000))),
        Acceptance::at(&a("primaryLanguage"), json!("pt-BR")),
        Acceptance::at(&a("primaryLanguage"), json!("es-419")),
        Acceptance::at(&a("primaryLanguage"), json!("zh")),
        Acceptance::at(
            &a("dynamicVariables"),
            json_map(100, |i| json!(format!("v{i}"))),
        ),
        Acceptance::at(
            &a("dynamicVariables"),
            json!({x(64): "long key", "_private": true, "Count2": 3, "ratio": 0.5}),
        ),
    ];
    assert_acceptances(&app, &cases).await;
}
#[tokio::test]
async fn wrong_json_types_are_refused_as_invalid_type_without_follow_up_problems() {
    let app = TestApp::spawn().await;
    let cases = [
        Refusal::at(
            "/conversationConfig",
            json!("You are helpful."),
            "invalid_type",
        ),
        Refusal::at("/conversationConfig/agent", json!([]), "invalid_type"),
        Refusal::at(PROMPT, json!("You are helpful."), "invalid_type"),
        Refusal::at("/conversationConfig/turn", json!(7), "invalid_type"),
        Refusal::at("/platformSettings", json!([]), "invalid_type"),
        Refusal::at(
            "/platformSettings/callActions",
            json!(false),
            "invalid_type",
        ),
        Refusal::at("/workflow", json!("none"), "invalid_type"),
        Refusal::at("/workflow/nodes", json!([]), "invalid_type"),
        Refusal::at(
            "/conversationConfig/tts/expressiveMode",
            json!("false"),
            "invalid_type",
        ),
        Refusal::at(
            "/platformSettings/privacy/recordVoice",
            json!(1),
            "invalid_type",
        ),
    ];
    assert_refusals(&app, &cases).await;
    assert_no_agents(&app).await;
}

#[tokio::test]
async fn unknown_fields_are_refused_at_the_root_and_at_any_depth() {
    let app = TestApp::spawn().await;
    let cases = [
        Refusal::at("/bogus", json!(1), "unknown_field"),
        Refusal::at("/Name", json!("camel case matters"), "unknown_field"),
        Refusal::at("/conversationConfig/bogus", json!({}), "unknown_field"),
        Refusal::at(
            "/conversationConfig/agent/bogus",
            json!(["x"]),
            "unknown_field",
        ),
        Refusal::at(
            "/conversationConfig/agent/prompt/bogus",
            json!("x"),
            "unknown_field",
        ),
        Refusal::at(
            "/conversationConfig/agent/prompt/agentId",
            json!("x"),
            "unknown_field",
        ),
        Refusal::at("/conversationConfig/asr/bogus", json!(1), "unknown_field"),
        Refusal::at("/conversationConfig/turn/bogus", json!(1), "unknown_field"),
        Refusal::at("/conversationConfig/tts/bogus", json!(1), "unknown_field"),
        Refusal::at("/platformSettings/bogus", json!(1), "unknown_field"),
        Refusal::at(
            "/platformSettings/callActions/postCallEmail/bogus",
            json!(1),
            "unknown_field",
        ),
        Refusal::at(
            "/platformSettings/telephony/bogus",
            json!(1),
            "unknown_field",
        ),
        Refusal::at("/workflow/bogus", json!(1), "unknown_field"),
        Refusal::at("/we~1ird", json!(1), "unknown_field"),
    ];
    assert_refusals(&app, &cases).await;
    assert_no_agents(&app).await;
}

#[tokio::test]
async fn every_problem_of_a_body_is_reported_at_once() {
    let app = TestApp::spawn().await;
    let body = json!({
        "name": "",
        "direction": "sideways",
        "tags": ["a", "a"],
        "conversationConfig": {"agent": {"prompt": {"prompt": "Hi.", "temperature": 3.5}}},
        "platformSettings": {"callRetry": {"retryCount": 11}},
    });
    let r = app.create_agent(&body).await;
    r.assert_error(400, "validation_error");
    let mut details = r.detail_paths();
    details.sort();
    let mut want: Vec<(String, String)> = [
        ("/name", "too_short"),
        ("/direction", "invalid_value"),
        ("/tags/1", "duplicate"),
        (
            "/conversationConfig/agent/prompt/temperature",
            "out_of_range",
        ),
        ("/platformSettings/callRetry/retryCount", "out_of_range"),
    ]
    .iter()
    .map(|(p, c)| (p.to_string(), c.to_string()))
    .collect();
    want.sort();
    assert_eq!(details, want, "{}", r.text);
    assert_eq!(
        r.body["error"]["message"], "5 fields are invalid",
        "{}",
        r.text
    );
    for detail in r.body["error"]["details"].as_array().unwrap() {
        assert!(
            detail["message"].as_str().is_some_and(|m| !m.is_empty()),
            "every detail has a message: {detail}"
        );
    }
    assert_no_agents(&app).await;
}

#[tokio::test]
async fn the_temperature_detail_says_what_range_and_what_value() {
    let app = TestApp::spawn().await;
    let r = app
        .create_agent(&agent_with(&format!("{PROMPT}/temperature"), json!(3.5)))
        .await;
    r.assert_problem(&format!("{PROMPT}/temperature"), "out_of_range");
    assert_eq!(
        r.body["error"]["details"][0]["message"], "must be between 0 and 2, got 3.5",
        "{}",
        r.text
    );
    assert_eq!(
        r.body["error"]["message"], "1 field is invalid",
        "{}",
        r.text
    );
}

#[tokio::test]
async fn an_invalid_create_stores_nothing() {
    let app = TestApp::spawn().await;
    let bad = app
        .create_agent(&agent_with(
            "/platformSettings/callRetry/retryCount",
            json!(11),
        ))
        .await;
    bad.assert_problem("/platformSettings/callRetry/retryCount", "out_of_range");
    let good = app.create_named("Kept").await;
    let list = app.list_agents("").await;
    assert_eq!(list.status, 200, "{}", list.text);
    let ids: Vec<&Value> = list
        .data()
        .as_array()
        .expect("a list")
        .iter()
        .map(|a| &a["agentId"])
        .collect();
    assert_eq!(
        ids,
        [&json!(good)],
        "only the valid agent is stored: {}",
        list.text
    );
}

#[tokio::test]
async fn an_over_long_list_is_one_problem_and_its_references_are_looked_up_once_each() {
    let app = TestApp::spawn().await;
    // 100 000 empty tags: one problem for the list, and at most one for each of the 50 it may hold.
    let mut body = minimal_agent("Many tags");
    body["tags"] = json_list(100_000, |_| json!(""));
    let r = app.create_agent(&body).await;
    r.assert_problem("/tags", "too_long");
    let paths = r.detail_paths();
    assert!(paths.len() <= 51, "{} problems reported", paths.len());
    assert!(r.text.len() < 20_000, "an answer of {} bytes", r.text.len());

    // 10 000 transfers to one agent that exists: over the limit of 32, and that agent is looked up
    // once to report the problems, not once per item.
    let target = app.create_named("Target").await;
    let loads = |metrics: &str| {
        crate::rate_limit::metric_value(
            metrics,
            r#"dialplane_storage_operation_duration_seconds_count{operation="get_agent",outcome="ok"}"#,
        )
    };
    let app_metrics = || crate::rate_limit::scrape(&app);
    let _ = app.get_agent(&target).await; // the first load of the counter
    let before = loads(&app_metrics().await);
    let transfers = "/conversationConfig/agent/prompt/builtInTools/transferToAgent/transfers";
    let body = agent_with(
        transfers,
        json_list(
            10_000,
            |_| json!({"agentId": target, "condition": "always"}),
        ),
    );
    let r = app.create_agent(&body).await;
    r.assert_problem(transfers, "too_long");
    assert!(r.detail_paths().len() <= 33, "{:?}", r.detail_paths());
    let after = loads(&app_metrics().await);
    assert!(after - before <= 1.0, "{} loads", after - before);
    let list = app.list_agents("").await;
    let ids: Vec<&Value> = list
        .data()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["agentId"])
        .collect();
    assert_eq!(ids, [&json!(target)], "nothing else was stored");
}

#[tokio::test]
async fn read_only_fields_sent_as_null_in_a_create_body_are_left_out() {
    let app = TestApp::spawn().await;
    let mut body = minimal_agent("Nulls");
    for key in ["agentId", "metadata", "phoneNumbers"] {
        body[key] = Value::Null;
    }
    let r = app.create_agent(&body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.data()["phoneNumbers"], json!([]));
    // A value of its own is still refused.
    let mut body = minimal_agent("Numbers");
    body["phoneNumbers"] = json!(["+14155550100"]);
    app.create_agent(&body)
        .await
        .assert_problem("/phoneNumbers", "read_only");
}

#[tokio::test]
async fn negative_zero_is_stored_and_answered_as_zero_on_every_backend() {
    let app = TestApp::spawn().await;
    let mut body = minimal_agent("Zero");
    set_pointer(
        &mut body,
        "/conversationConfig/agent/dynamicVariables",
        json!({"y": 1}),
    );
    set_pointer(&mut body, "/platformSettings/widget", json!({"x": 2}));
    // serde_json's `json!` has no way to write -0.0 that survives, so the body is sent as text.
    let text = body
        .to_string()
        .replace(r#""y":1"#, r#""y":-0.0"#)
        .replace(r#""x":2"#, r#""x":[-0.0,-0]"#);
    assert!(text.contains("-0.0"), "{text}");
    let r = app
        .send(
            reqwest::Method::POST,
            "/api/public/v1/agents",
            Some(&app.key),
            &[],
            Some(text.into_bytes()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.data()["agentId"].as_str().unwrap().to_owned();
    let got = app.get_agent(&id).await;
    for answer in [&r, &got] {
        assert!(!answer.text.contains("-0.0"), "{}", answer.text);
        let data = answer.data();
        assert_eq!(
            data["platformSettings"]["widget"]["x"].to_string(),
            "[0.0,0.0]"
        );
        assert_eq!(
            data["conversationConfig"]["agent"]["dynamicVariables"]["y"].to_string(),
            "0.0"
        );
    }
    assert_eq!(got.text, r.text, "read as answered");
}

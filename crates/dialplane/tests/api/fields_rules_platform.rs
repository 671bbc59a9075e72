//! The field table of the contract (section 3), its rules for `platformSettings` and `workflow`: each
//! rule refuses what breaks it, at the right path and with the right code, and accepts its boundaries.

use crate::support::*;
use serde_json::{json, Value};

const ACTIONS: &str = "/platformSettings/callActions";
const EMAIL: &str = "/platformSettings/callActions/postCallEmail";
const CALENDAR: &str = "/platformSettings/callActions/scheduleOnCalendar";
const ENTITIES: &str = "/platformSettings/dataCollection/entities";
const RETRY: &str = "/platformSettings/callRetry";
const PHONES: &str = "/platformSettings/telephony";
const NODES: &str = "/workflow/nodes";
const EDGES: &str = "/workflow/edges";
/// The largest widget accepted is 16 KiB serialised: `{"k":"` + filler + `"}` is 8 bytes of framing.
const WIDGET_FILLER_MAX: usize = 16 * 1024 - 8;

fn x(n: usize) -> String {
    "x".repeat(n)
}

fn emails(n: usize) -> Value {
    json_list(n, |i| json!(format!("person{i}@example.com")))
}

fn numbers(n: usize) -> Value {
    json_list(n, |i| json!(format!("+1415555{i:04}")))
}

fn entity(kind: &str) -> Value {
    json!({"type": kind, "description": "What the caller said"})
}

#[tokio::test]
async fn call_action_rules_refuse_what_breaks_them() {
    let app = TestApp::spawn().await;
    let webhook = format!("{ACTIONS}/postCallWebhook");
    let recipients = format!("{EMAIL}/emailConfiguration/recipients");
    let enabled_with = |r: Value| json!({"enabled": true, "emailConfiguration": {"recipients": r}});
    let mut cases = vec![
        Refusal::at(
            &format!("{ACTIONS}/smartOptOut"),
            json!("yes"),
            "invalid_type",
        ),
        Refusal::at(
            &format!("{ACTIONS}/issueTracking"),
            json!(1),
            "invalid_type",
        ),
        Refusal::reported_at(EMAIL, json!({"enabled": true}), &recipients, "required"),
        Refusal::reported_at(EMAIL, enabled_with(json!([])), &recipients, "too_short"),
        Refusal::reported_at(EMAIL, enabled_with(emails(21)), &recipients, "too_long"),
        Refusal::reported_at(
            EMAIL,
            enabled_with(json!("ops@example.com")),
            &recipients,
            "invalid_type",
        ),
        Refusal::reported_at(
            EMAIL,
            enabled_with(json!(["ops@example.com", "not an address"])),
            &format!("{recipients}/1"),
            "invalid_format",
        ),
        Refusal::reported_at(
            EMAIL,
            enabled_with(json!(["ops@example.com", "ops@example.com"])),
            &format!("{recipients}/1"),
            "duplicate",
        ),
        Refusal::reported_at(
            EMAIL,
            enabled_with(json!(["not an address"])),
            &format!("{recipients}/0"),
            "invalid_format",
        ),
        Refusal::at(&format!("{EMAIL}/enabled"), json!("true"), "invalid_type"),
        Refusal::at(
            &format!("{EMAIL}/emailConfiguration"),
            json!(["ops@example.com"]),
            "invalid_type",
        ),
        Refusal::at(
            &format!("{CALENDAR}/provider"),
            json!("icloud"),
            "invalid_value",
        ),
        Refusal::at(
            &format!("{CALENDAR}/provider"),
            json!("Google"),
            "invalid_value",
        ),
        Refusal::reported_at(
            CALENDAR,
            json!({"enabled": true}),
            &format!("{CALENDAR}/eventsIds"),
            "too_short",
        ),
        Refusal::reported_at(
            CALENDAR,
            json!({"enabled": true, "eventsIds": []}),
            &format!("{CALENDAR}/eventsIds"),
            "too_short",
        ),
        Refusal::reported_at(
            CALENDAR,
            json!({"enabled": true, "eventsIds": [""]}),
            &format!("{CALENDAR}/eventsIds/0"),
            "too_short",
        ),
    ];
    for bad in [
        "http://example.com/hook",
        "not a url",
        "example.com/hook",
        "/relative/hook",
        "ftp://example.com/hook",
        "https://",
        // A URL parser strips these before reading; stored, they would reach the webhook's client.
        "https://exa\nmple.com/hook",
        "https://example.com/hook\n",
        " https://example.com/hook",
        "https://exa\tmple.com/hook",
        "https://example.com/\u{7}",
        "https://example.com/a hook",
    ] {
        cases.push(Refusal::at(&webhook, json!(bad), "invalid_format"));
    }
    assert_refusals(&app, &cases).await;
    assert_no_agents(&app).await;
}

#[tokio::test]
async fn call_action_rules_accept_their_boundaries() {
    let app = TestApp::spawn().await;
    let webhook = format!("{ACTIONS}/postCallWebhook");
    let mut cases = vec![
        Acceptance::at(
            EMAIL,
            json!({"enabled": true, "emailConfiguration": {"recipients": emails(20)}}),
        ),
        Acceptance::at(
            EMAIL,
            json!({"enabled": true, "emailConfiguration": {"recipients": ["a@b.co"], "subject": "Calls", "format": {"html": true}}}),
        ),
        // Disabled, the configuration is free-form and may be anything, or nothing.
        Acceptance::at(
            EMAIL,
            json!({"enabled": false, "emailConfiguration": {"recipients": "later"}}),
        ),
        Acceptance::at(
            CALENDAR,
            json!({"enabled": true, "provider": "outlook", "eventsIds": ["evt_1"]}),
        ),
        Acceptance::at(
            CALENDAR,
            json!({"enabled": false, "provider": "google", "eventsIds": []}),
        ),
        Acceptance::at(&format!("{ACTIONS}/smartOptOut"), json!(true)),
        Acceptance::at(&format!("{ACTIONS}/issueTracking"), json!(true)),
    ];
    for ok in [
        "",
        "https://hooks.example.com/calls?token=abc",
        "https://example.com:8443/x",
        "http://127.0.0.1:9000/hook",
        "http://localhost/hook",
        "http://[::1]:8080/hook",
    ] {
        cases.push(Acceptance::at(&webhook, json!(ok)));
    }
    assert_acceptances(&app, &cases).await;
}

#[tokio::test]
async fn widget_data_collection_retry_and_summary_rules_refuse_what_breaks_them() {
    let app = TestApp::spawn().await;
    let widget = "/platformSettings/widget";
    let e = |key: &str, field: &str| format!("{ENTITIES}/{key}/{field}");
    let cases = [
        Refusal::at(widget, json!({"k": x(WIDGET_FILLER_MAX + 1)}), "too_long"),
        Refusal::at(widget, json!("dark"), "invalid_type"),
        Refusal::reported_at(
            ENTITIES,
            json!({"bad-key": entity("string")}),
            &format!("{ENTITIES}/bad-key"),
            "invalid_format",
        ),
        Refusal::reported_at(
            ENTITIES,
            json!({"9lives": entity("string")}),
            &format!("{ENTITIES}/9lives"),
            "invalid_format",
        ),
        Refusal::at(ENTITIES, json_map(51, |_| entity("string")), "too_long"),
        Refusal::reported_at(
            ENTITIES,
            json!({"when": entity("date")}),
            &e("when", "type"),
            "invalid_value",
        ),
        Refusal::reported_at(
            ENTITIES,
            json!({"when": {"description": "d"}}),
            &e("when", "type"),
            "required",
        ),
        Refusal::reported_at(
            ENTITIES,
            json!({"when": {"type": "string"}}),
            &e("when", "description"),
            "required",
        ),
        Refusal::reported_at(
            ENTITIES,
            json!({"when": {"type": "string", "description": ""}}),
            &e("when", "description"),
            "too_short",
        ),
        Refusal::reported_at(
            ENTITIES,
            json!({"when": {"type": "string", "description": "d", "format": "iso"}}),
            &e("when", "format"),
            "unknown_field",
        ),
        Refusal::reported_at(
            ENTITIES,
            json!({"when": "string"}),
            &format!("{ENTITIES}/when"),
            "invalid_type",
        ),
        Refusal::at(
            "/platformSettings/dataCollection/storeData",
            json!("yes"),
            "invalid_type",
        ),
        Refusal::at(&format!("{RETRY}/retryCount"), json!(11), "out_of_range"),
        Refusal::at(&format!("{RETRY}/retryCount"), json!(-1), "out_of_range"),
        Refusal::at(&format!("{RETRY}/retryCount"), json!(2.5), "invalid_type"),
        // Integers too large for any integer type are integers still, out of range.
        Refusal::at(&format!("{RETRY}/retryCount"), json!(1e23), "out_of_range"),
        Refusal::at(&format!("{RETRY}/retryCount"), json!(-1e23), "out_of_range"),
        Refusal::at(&format!("{RETRY}/retryCount"), json!(11.0), "out_of_range"),
        Refusal::at(&format!("{RETRY}/retryCount"), json!("3"), "invalid_type"),
        Refusal::at(&format!("{RETRY}/retryDelay"), json!(0), "out_of_range"),
        Refusal::at(&format!("{RETRY}/retryDelay"), json!(1_441), "out_of_range"),
        Refusal::at(&format!("{RETRY}/retryDelay"), json!(2.5), "invalid_type"),
        Refusal::at(
            "/platformSettings/summaryLanguage",
            json!("english"),
            "invalid_value",
        ),
        Refusal::at(
            "/platformSettings/summaryLanguage",
            json!("pt-br"),
            "invalid_value",
        ),
        Refusal::at(
            "/platformSettings/privacy/recordVoice",
            json!("no"),
            "invalid_type",
        ),
    ];
    assert_refusals(&app, &cases).await;
    assert_no_agents(&app).await;
}

#[tokio::test]
async fn widget_data_collection_retry_and_summary_rules_accept_their_boundaries() {
    let app = TestApp::spawn().await;
    let mut cases = vec![
        Acceptance::at(
            "/platformSettings/widget",
            json!({"k": x(WIDGET_FILLER_MAX)}),
        ),
        Acceptance::at(
            "/platformSettings/widget",
            json!({"theme": {"dark": true, "sizes": [1, 2.5]}}),
        ),
        Acceptance::at(ENTITIES, json_map(50, |_| entity("string"))),
        Acceptance::at(
            ENTITIES,
            json!({"s": entity("string"), "n": entity("number"), "i": entity("integer"), "b": entity("boolean"), "_x9": entity("string")}),
        ),
        Acceptance::at("/platformSettings/dataCollection/storeData", json!(true)),
        Acceptance::at("/platformSettings/summaryLanguage", json!("")),
        Acceptance::at("/platformSettings/summaryLanguage", json!("fr")),
        Acceptance::at("/platformSettings/summaryLanguage", json!("pt-BR")),
        Acceptance::at("/platformSettings/privacy/recordVoice", json!(true)),
    ];
    for (field, ok) in [
        ("retryCount", 0),
        ("retryCount", 10),
        ("retryDelay", 1),
        ("retryDelay", 1_440),
    ] {
        cases.push(Acceptance::at(&format!("{RETRY}/{field}"), json!(ok)));
    }
    assert_acceptances(&app, &cases).await;
}

#[tokio::test]
async fn the_widget_limit_counts_the_serialised_bytes() {
    let app = TestApp::spawn().await;
    let fits = json!({"k": x(WIDGET_FILLER_MAX)});
    assert_eq!(
        serde_json::to_vec(&fits).unwrap().len(),
        16 * 1024,
        "the case is exactly 16 KiB"
    );
    // Two-byte characters: half as many characters make the same number of bytes.
    let wide = json!({"k": "é".repeat(WIDGET_FILLER_MAX / 2 + 1)});
    let r = app
        .create_agent(&agent_with("/platformSettings/widget", wide))
        .await;
    r.assert_problem("/platformSettings/widget", "too_long");
}

#[tokio::test]
async fn telephony_rules_refuse_what_breaks_them() {
    let app = TestApp::spawn().await;
    let rotation = format!("{PHONES}/rotationNumbers");
    let restricted = format!("{PHONES}/stateRestrictedNumbers");
    let cases = [
        Refusal::reported_at(
            PHONES,
            json!({"numberRotationEnabled": true}),
            &rotation,
            "too_short",
        ),
        Refusal::reported_at(
            PHONES,
            json!({"numberRotationEnabled": true, "rotationNumbers": ["+14155550100"]}),
            &rotation,
            "too_short",
        ),
        Refusal::reported_at(
            &rotation,
            json!(["4155550100"]),
            &format!("{rotation}/0"),
            "invalid_format",
        ),
        Refusal::reported_at(
            &rotation,
            json!(["+14155550100", "+14155550100"]),
            &format!("{rotation}/1"),
            "duplicate",
        ),
        Refusal::at(&rotation, numbers(101), "too_long"),
        // A bad number in a list that is long enough is reported once, as itself.
        Refusal::reported_at(
            PHONES,
            json!({"numberRotationEnabled": true, "rotationNumbers": ["+14155550100", "555"]}),
            &format!("{rotation}/1"),
            "invalid_format",
        ),
        Refusal::reported_at(
            PHONES,
            json!({"stateRestrictionEnabled": true, "stateRestrictedNumbers": ["555"]}),
            &format!("{restricted}/0"),
            "invalid_format",
        ),
        Refusal::at(
            &format!("{PHONES}/callsPerNumber"),
            json!(0),
            "out_of_range",
        ),
        Refusal::at(
            &format!("{PHONES}/callsPerNumber"),
            json!(10_001),
            "out_of_range",
        ),
        Refusal::at(
            &format!("{PHONES}/callsPerNumber"),
            json!(1.5),
            "invalid_type",
        ),
        Refusal::reported_at(
            PHONES,
            json!({"stateRestrictionEnabled": true}),
            &restricted,
            "too_short",
        ),
        Refusal::reported_at(
            PHONES,
            json!({"stateRestrictionEnabled": true, "stateRestrictedNumbers": []}),
            &restricted,
            "too_short",
        ),
        Refusal::reported_at(
            &restricted,
            json!(["+1 415 555 0100"]),
            &format!("{restricted}/0"),
            "invalid_format",
        ),
        Refusal::reported_at(
            &restricted,
            json!(["+14155550100", "+14155550100"]),
            &format!("{restricted}/1"),
            "duplicate",
        ),
        Refusal::at(&restricted, numbers(101), "too_long"),
        Refusal::at(
            &format!("{PHONES}/numberRotationEnabled"),
            json!("true"),
            "invalid_type",
        ),
    ];
    assert_refusals(&app, &cases).await;
    assert_no_agents(&app).await;
}

#[tokio::test]
async fn telephony_rules_accept_their_boundaries() {
    let app = TestApp::spawn().await;
    let cases = [
        Acceptance::at(
            PHONES,
            json!({"numberRotationEnabled": true, "rotationNumbers": numbers(2)}),
        ),
        Acceptance::at(
            PHONES,
            json!({"numberRotationEnabled": true, "rotationNumbers": numbers(100)}),
        ),
        // Numbers may be listed while their switch is off.
        Acceptance::at(
            PHONES,
            json!({"numberRotationEnabled": false, "rotationNumbers": numbers(1)}),
        ),
        Acceptance::at(
            PHONES,
            json!({"stateRestrictionEnabled": true, "stateRestrictedNumbers": numbers(1)}),
        ),
        Acceptance::at(PHONES, json!({"stateRestrictedNumbers": numbers(100)})),
        Acceptance::at(&format!("{PHONES}/callsPerNumber"), json!(1)),
        Acceptance::at(&format!("{PHONES}/callsPerNumber"), json!(10_000)),
    ];
    assert_acceptances(&app, &cases).await;
}

#[tokio::test]
async fn workflow_rules_refuse_what_breaks_them() {
    let app = TestApp::spawn().await;
    let start = json!({"type": "start"});
    let cases = [
        Refusal::reported_at(
            NODES,
            json!({"s": start, "n": {"label": "x"}}),
            &format!("{NODES}/n/type"),
            "required",
        ),
        Refusal::reported_at(
            NODES,
            json!({"s": start, "n": {"type": "teleport"}}),
            &format!("{NODES}/n/type"),
            "invalid_value",
        ),
        Refusal::reported_at(
            NODES,
            json!({"s": start, "n": {"type": 5}}),
            &format!("{NODES}/n/type"),
            "invalid_type",
        ),
        Refusal::reported_at(
            NODES,
            json!({"s": start, "a/b": {"type": "Start"}}),
            &format!("{NODES}/a~1b/type"),
            "invalid_value",
        ),
        Refusal::reported_at(
            NODES,
            json!({"s": start, "n": "end"}),
            &format!("{NODES}/n"),
            "invalid_type",
        ),
        Refusal::at(
            NODES,
            json!({"s": start, "t": start}),
            "invalid_combination",
        ),
        Refusal::at(
            NODES,
            json!({"done": {"type": "end"}}),
            "invalid_combination",
        ),
        Refusal::body(
            "edge to a missing node",
            agent_with(
                "/workflow",
                json!({"nodes": {"s": start}, "edges": {"e": {"source": "s", "target": "ghost"}}}),
            ),
            &format!("{EDGES}/e/target"),
            "not_found",
        ),
        Refusal::body(
            "edge without source",
            agent_with(
                "/workflow",
                json!({"nodes": {"s": start}, "edges": {"e": {"target": "s"}}}),
            ),
            &format!("{EDGES}/e/source"),
            "required",
        ),
        Refusal::body(
            "edge that is not an object",
            agent_with(
                "/workflow",
                json!({"nodes": {"s": start}, "edges": {"e": ["s", "s"]}}),
            ),
            &format!("{EDGES}/e"),
            "invalid_type",
        ),
        Refusal::at(
            "/workflow/preventSubagentLoops",
            json!("no"),
            "invalid_type",
        ),
        Refusal::at(EDGES, json!([]), "invalid_type"),
    ];
    assert_refusals(&app, &cases).await;
    assert_no_agents(&app).await;
}

#[tokio::test]
async fn workflow_rules_accept_every_node_type_and_keep_other_fields_as_sent() {
    let app = TestApp::spawn().await;
    let workflow = json!({
        "nodes": {
            "begin": {"type": "start", "position": {"x": 0, "y": 0}},
            "helper": {"type": "subagent", "prompt": "Help", "extra": [1, "two", null, {"three": 3}]},
            "billing": {"type": "agent_transfer", "agentId": "anything"},
            "human": {"type": "phone_transfer", "phoneNumber": "+14155550123"},
            "lookup": {"type": "tool", "toolId": "crm_lookup"},
            "bye": {"type": "end"}
        },
        "edges": {
            "e1": {"source": "begin", "target": "helper", "label": "always"},
            "e2": {"source": "helper", "target": "bye"},
            "loop": {"source": "helper", "target": "helper"}
        },
        "preventSubagentLoops": true
    });
    let cases = [
        Acceptance::at("/workflow", workflow),
        Acceptance::at("/workflow", json!({"nodes": {}, "edges": {}})),
        Acceptance::at(NODES, json!({"only": {"type": "start"}})),
    ];
    assert_acceptances(&app, &cases).await;
}

#[tokio::test]
async fn an_integer_field_takes_a_number_without_a_fraction_however_it_is_written() {
    let app = TestApp::spawn().await;
    // As in JSON Schema: `3.0` is the integer 3, stored and answered as 3.
    let r = app
        .create_agent(&agent_with(&format!("{RETRY}/retryCount"), json!(3.0)))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.data()["platformSettings"]["callRetry"]["retryCount"].to_string(),
        "3"
    );
}

//! PATCH semantics (spec section 5): merge rules, whole-document validation, no-op patches, read-only
//! fields and If-Match. Concurrent writers are in `concurrency.rs`.

use crate::support::*;
use serde_json::{json, Value};

pub const PROMPT: &str = "/conversationConfig/agent/prompt";

/// A PATCH body that sets `value` at `pointer` and nothing else.
pub fn patch_with(pointer: &str, value: Value) -> Value {
    let mut body = json!({});
    set_pointer(&mut body, pointer, value);
    body
}

/// Creates `body` and returns the agent's id.
async fn create(app: &TestApp, body: &Value) -> String {
    let r = app.create_agent(body).await;
    assert_eq!(r.status, 201, "create: {}", r.text);
    r.data()["agentId"].as_str().unwrap().to_owned()
}

/// Panics unless the agent still reads exactly as `before` (body and ETag).
async fn assert_unchanged(app: &TestApp, id: &str, before: &Resp) {
    let after = app.get_agent(id).await;
    assert_eq!(after.status, 200, "{}", after.text);
    assert_eq!(
        after.data(),
        before.data(),
        "the agent changed: {}",
        after.text
    );
    assert_eq!(after.etag(), before.etag(), "the ETag changed");
}

#[tokio::test]
async fn changing_temperature_keeps_the_prompt_text_llm_and_every_sibling() {
    let app = TestApp::spawn().await;
    let mut body = minimal_agent("Siblings");
    set_pointer(&mut body, &format!("{PROMPT}/llm"), json!("gpt-4o"));
    set_pointer(&mut body, &format!("{PROMPT}/temperature"), json!(0.5));
    set_pointer(&mut body, &format!("{PROMPT}/toolIds"), json!(["t1", "t2"]));
    set_pointer(
        &mut body,
        &format!("{PROMPT}/timezone"),
        json!("Europe/Paris"),
    );
    set_pointer(
        &mut body,
        "/conversationConfig/agent/greetingMessage",
        json!("Hi"),
    );
    set_pointer(&mut body, "/tags", json!(["sales"]));
    let id = create(&app, &body).await;
    let before = app.get_agent(&id).await;

    let r = app
        .patch_agent(
            &id,
            &patch_with(&format!("{PROMPT}/temperature"), json!(1.2)),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let after = app.get_agent(&id).await;
    let mut expected = before.data().clone();
    set_pointer(&mut expected, &format!("{PROMPT}/temperature"), json!(1.2));
    set_pointer(
        &mut expected,
        "/metadata/updatedAt",
        after.data()["metadata"]["updatedAt"].clone(),
    );
    assert_eq!(
        json_difference(after.data(), &expected),
        None,
        "{}",
        after.text
    );
    assert_eq!(
        after.data()["conversationConfig"]["agent"]["prompt"]["prompt"],
        "You are helpful."
    );
    assert_eq!(
        r.data(),
        after.data(),
        "PATCH answers with the stored agent"
    );
}

#[tokio::test]
async fn null_resets_a_field_to_its_default() {
    let app = TestApp::spawn().await;
    let fresh = app.create_agent(&minimal_agent("Defaults")).await;
    let defaults = fresh.data().clone();
    let end_call = format!("{PROMPT}/builtInTools/endCall");
    // (label, pointer set on create, value, pointer nulled by the PATCH)
    let cases = [
        ("temperature", format!("{PROMPT}/temperature"), json!(1.5)),
        (
            "endCall object",
            end_call.clone(),
            json!({"enabled": false, "description": "bye", "disableInterruption": true}),
        ),
        (
            "endCall.enabled",
            format!("{end_call}/enabled"),
            json!(false),
        ),
        ("tags", "/tags".to_owned(), json!(["a", "b"])),
        ("direction", "/direction".to_owned(), json!("inbound")),
        (
            "platformSettings",
            "/platformSettings".to_owned(),
            json!({
                "callActions": {"smartOptOut": true, "postCallWebhook": "https://example.com/hook"},
                "callRetry": {"retryCount": 3, "retryDelay": 10},
                "telephony": {"callsPerNumber": 5},
                "privacy": {"recordVoice": true},
                "widget": {"color": "red"}
            }),
        ),
        (
            "asr",
            "/conversationConfig/asr".to_owned(),
            json!({"keywords": ["x"]}),
        ),
        (
            "dynamicVariables",
            "/conversationConfig/agent/dynamicVariables".to_owned(),
            json!({"a": 1}),
        ),
    ];
    let mut failures = Vec::new();
    for (label, pointer, value) in cases {
        let id = create(&app, &agent_with(&pointer, value.clone())).await;
        let set = app.get_agent(&id).await;
        if set.data().pointer(&pointer) == defaults.pointer(&pointer) {
            failures.push(format!(
                "{label}: the value set on create is the default already"
            ));
            continue;
        }
        let r = app
            .patch_agent(&id, &patch_with(&pointer, Value::Null))
            .await;
        let got = r.data().pointer(&pointer);
        let want = defaults.pointer(&pointer);
        if r.status != 200 || got != want {
            failures.push(format!(
                "{label}: expected 200 with {pointer} = {want:?}, got {} {}",
                r.status, r.text
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn null_on_a_required_field_without_a_default_is_required() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Required").await;
    let before = app.get_agent(&id).await;
    let cases = [
        ("name", json!({"name": null}), "/name"),
        (
            "conversationConfig",
            json!({"conversationConfig": null}),
            "/conversationConfig",
        ),
        (
            "prompt text",
            patch_with(&format!("{PROMPT}/prompt"), Value::Null),
            "/conversationConfig/agent/prompt/prompt",
        ),
    ];
    for (label, body, path) in cases {
        let r = app.patch_agent(&id, &body).await;
        assert_eq!(
            r.detail_paths(),
            vec![(path.to_owned(), "required".to_owned())],
            "{label}: {}",
            r.text
        );
        r.assert_problem(path, "required");
    }
    assert_unchanged(&app, &id, &before).await;
}

#[tokio::test]
async fn arrays_replace_the_whole_array() {
    let app = TestApp::spawn().await;
    let mut body = minimal_agent("Arrays");
    set_pointer(&mut body, "/tags", json!(["a", "b"]));
    set_pointer(
        &mut body,
        &format!("{PROMPT}/toolIds"),
        json!(["t1", "t2", "t3"]),
    );
    let id = create(&app, &body).await;

    let r = app.patch_agent(&id, &json!({"tags": ["c"]})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.data()["tags"], json!(["c"]));

    let r = app
        .patch_agent(
            &id,
            &patch_with(&format!("{PROMPT}/toolIds"), json!(["t3"])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.data().pointer(&format!("{PROMPT}/toolIds")),
        Some(&json!(["t3"]))
    );

    let r = app.patch_agent(&id, &json!({"tags": []})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let got = app.get_agent(&id).await;
    assert_eq!(got.data()["tags"], json!([]), "{}", got.text);
    assert_eq!(
        got.data().pointer(&format!("{PROMPT}/toolIds")),
        Some(&json!(["t3"]))
    );
}

#[tokio::test]
async fn dynamic_variables_merge_key_by_key_and_null_removes_a_key() {
    let app = TestApp::spawn().await;
    let vars = "/conversationConfig/agent/dynamicVariables";
    let id = create(&app, &agent_with(vars, json!({"a": "one", "b": 2}))).await;
    let r = app
        .patch_agent(&id, &patch_with(vars, json!({"b": null, "c": true})))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let got = app.get_agent(&id).await;
    assert_eq!(
        got.data().pointer(vars),
        Some(&json!({"a": "one", "c": true})),
        "{}",
        got.text
    );
}

#[tokio::test]
async fn workflow_nodes_merge_key_by_key_and_null_removes_a_node() {
    let app = TestApp::spawn().await;
    let workflow = json!({
        "nodes": {
            "start": {"type": "start", "label": "Begin"},
            "greet": {"type": "subagent", "prompt": "Say hi"},
            "bye": {"type": "end"}
        },
        "edges": {"e1": {"source": "start", "target": "greet"}}
    });
    let id = create(&app, &agent_with("/workflow", workflow)).await;
    let r = app
        .patch_agent(
            &id,
            &json!({"workflow": {"nodes": {
                "bye": null,
                "greet": {"prompt": "Say hello"},
                "tool": {"type": "tool", "toolId": "t1"}
            }}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let got = app.get_agent(&id).await;
    assert_eq!(
        json_difference(
            &got.data()["workflow"]["nodes"],
            &json!({
                "start": {"type": "start", "label": "Begin"},
                "greet": {"type": "subagent", "prompt": "Say hello"},
                "tool": {"type": "tool", "toolId": "t1"}
            })
        ),
        None,
        "{}",
        got.text
    );
    assert_eq!(
        got.data()["workflow"]["edges"],
        json!({"e1": {"source": "start", "target": "greet"}})
    );
}

#[tokio::test]
async fn an_empty_patch_is_valid_and_keeps_updated_at_and_the_etag() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Empty").await;
    let before = app.get_agent(&id).await;
    let r = app.patch_agent(&id, &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.data(), before.data(), "{}", r.text);
    assert_eq!(r.etag(), "\"1\"");
    assert_unchanged(&app, &id, &before).await;
}

#[tokio::test]
async fn a_patch_setting_the_stored_values_changes_nothing() {
    let app = TestApp::spawn().await;
    let mut body = agent_with(&format!("{PROMPT}/temperature"), json!(0.7));
    set_pointer(&mut body, "/tags", json!(["x", "y"]));
    let id = create(&app, &body).await;
    let before = app.get_agent(&id).await;
    let same = [
        json!({"name": "With", "tags": ["x", "y"]}),
        patch_with(&format!("{PROMPT}/temperature"), json!(0.7)),
        // Defaults, written out, equal what is stored.
        json!({"direction": "outbound", "platformSettings": {"callRetry": {"retryCount": 0}}}),
        // Removing a key that is not there.
        patch_with(
            "/conversationConfig/agent/dynamicVariables",
            json!({"ghost": null}),
        ),
    ];
    for body in same {
        let r = app.patch_agent(&id, &body).await;
        assert_eq!(r.status, 200, "{body}: {}", r.text);
        assert_eq!(r.etag(), "\"1\"", "{body}: {}", r.text);
        assert_eq!(
            r.data()["metadata"]["updatedAt"],
            before.data()["metadata"]["updatedAt"],
            "{body}"
        );
    }
    assert_unchanged(&app, &id, &before).await;
}

#[tokio::test]
async fn a_real_change_bumps_the_etag_and_updated_at_and_keeps_the_creation_metadata() {
    let app = TestApp::spawn().await;
    let created = app.create_agent(&minimal_agent("Change")).await;
    assert_eq!(created.etag(), "\"1\"");
    let id = created.data()["agentId"].as_str().unwrap();
    let meta = created.data()["metadata"].clone();

    let r = app.patch_agent(id, &json!({"name": "Changed"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.etag(), "\"2\"");
    assert_eq!(r.data()["name"], "Changed");
    assert_eq!(r.data()["metadata"]["createdAt"], meta["createdAt"]);
    assert_eq!(r.data()["metadata"]["createdBy"], meta["createdBy"]);
    let updated = r.data()["metadata"]["updatedAt"].as_str().unwrap();
    assert!(
        updated > meta["updatedAt"].as_str().unwrap(),
        "updatedAt moves forward: {updated} after {}",
        meta["updatedAt"]
    );

    let got = app.get_agent(id).await;
    assert_eq!(got.etag(), "\"2\"");
    assert_eq!(got.data(), r.data());

    let r = app.patch_agent(id, &json!({"tags": ["t"]})).await;
    assert_eq!(r.etag(), "\"3\"", "{}", r.text);
}

#[tokio::test]
async fn the_merged_agent_is_validated_as_a_whole() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Whole").await;
    let before = app.get_agent(&id).await;
    let r = app
        .patch_agent(
            &id,
            &json!({"platformSettings": {"telephony": {"numberRotationEnabled": true}}}),
        )
        .await;
    r.assert_problem("/platformSettings/telephony/rotationNumbers", "too_short");
    assert_unchanged(&app, &id, &before).await;
}

#[tokio::test]
async fn a_patch_completing_a_rule_with_stored_values_is_accepted() {
    let app = TestApp::spawn().await;
    let id = create(
        &app,
        &agent_with(
            "/platformSettings/telephony/rotationNumbers",
            json!(["+14155550101", "+14155550102"]),
        ),
    )
    .await;
    let r = app
        .patch_agent(
            &id,
            &json!({"platformSettings": {"telephony": {"numberRotationEnabled": true}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Now the stored flag makes emptying the numbers invalid.
    let r = app
        .patch_agent(
            &id,
            &json!({"platformSettings": {"telephony": {"rotationNumbers": []}}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.detail_paths()
            .iter()
            .any(|(p, _)| p == "/platformSettings/telephony/rotationNumbers"),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn a_rejected_patch_reports_every_problem_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Atomic").await;
    let before = app.get_agent(&id).await;
    let r = app
        .patch_agent(
            &id,
            &json!({
                "name": "Renamed",
                "tags": ["ok"],
                "conversationConfig": {"agent": {"prompt": {"temperature": 3.5}}},
                "platformSettings": {"telephony": {"numberRotationEnabled": true}},
                "bogus": 1
            }),
        )
        .await;
    r.assert_error(400, "validation_error");
    let paths: Vec<String> = r.detail_paths().into_iter().map(|(p, _)| p).collect();
    for want in [
        "/conversationConfig/agent/prompt/temperature",
        "/platformSettings/telephony/rotationNumbers",
        "/bogus",
    ] {
        assert!(
            paths.iter().any(|p| p == want),
            "{want} missing: {}",
            r.text
        );
    }
    assert_unchanged(&app, &id, &before).await;
}

#[tokio::test]
async fn a_get_body_sent_back_as_a_patch_is_accepted_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let mut body = agent_with("/tags", json!(["a"]));
    set_pointer(
        &mut body,
        "/conversationConfig/agent/dynamicVariables",
        json!({"x": 1}),
    );
    let id = create(&app, &body).await;
    let before = app.get_agent(&id).await;
    let r = app.patch_agent(&id, before.data()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.data(), before.data());
    assert_eq!(r.etag(), before.etag());
    assert_unchanged(&app, &id, &before).await;
}

#[tokio::test]
async fn differing_read_only_fields_are_refused_at_their_exact_pointer() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Read only").await;
    let before = app.get_agent(&id).await;
    let other_id = app.create_named("Other").await;
    let cases = [
        ("/agentId", json!(other_id)),
        ("/metadata/createdAt", json!("2020-01-01T00:00:00.000000Z")),
        ("/metadata/updatedAt", json!("2020-01-01T00:00:00.000000Z")),
        ("/metadata/createdBy/userId", json!("mallory")),
        (
            "/phoneNumbers",
            json!([{"provider": "twilio", "number": "+14155550100", "label": "x"}]),
        ),
    ];
    let mut failures = Vec::new();
    for (pointer, value) in cases {
        // The whole GET body with one read-only value changed, and as a lone field.
        let mut whole = before.data().clone();
        set_pointer(&mut whole, pointer, value.clone());
        for body in [whole, patch_with(pointer, value)] {
            let r = app.patch_agent(&id, &body).await;
            let want = vec![(pointer.to_owned(), "read_only".to_owned())];
            if r.status != 400 || r.error_code() != "validation_error" || r.detail_paths() != want {
                failures.push(format!(
                    "{pointer}: expected {want:?}, got {} {}",
                    r.status, r.text
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_unchanged(&app, &id, &before).await;
}

#[tokio::test]
async fn read_only_fields_on_create_are_refused() {
    let app = TestApp::spawn().await;
    let other = app.create_agent(&minimal_agent("Existing")).await;
    let cases = [
        Refusal::at("/agentId", other.data()["agentId"].clone(), "read_only"),
        Refusal::at("/metadata", other.data()["metadata"].clone(), "read_only"),
        Refusal::at(
            "/phoneNumbers",
            json!([{"provider": "twilio", "number": "+14155550100", "label": "x"}]),
            "read_only",
        ),
    ];
    assert_refusals(&app, &cases).await;
    let list = app.list_agents("").await;
    assert_eq!(
        list.data().as_array().map(Vec::len),
        Some(1),
        "{}",
        list.text
    );
}

#[tokio::test]
async fn if_match_decides_whether_a_patch_applies() {
    let app = TestApp::spawn().await;
    // (label, If-Match given the current ETag "1", whether it matches)
    let cases = [
        ("matching", "\"1\"", true),
        ("star", "*", true),
        ("weak", "W/\"1\"", true),
        ("one of a list", "\"7\", \"1\"", true),
        ("stale", "\"0\"", false),
        ("future", "\"2\"", false),
        ("unquoted", "1", false),
        ("garbage", "not-an-etag", false),
        ("empty quotes", "\"\"", false),
    ];
    let mut failures = Vec::new();
    for (label, if_match, matches) in cases {
        let id = app.create_named(label).await;
        let before = app.get_agent(&id).await;
        assert_eq!(before.etag(), "\"1\"");
        let r = app
            .patch_agent_if(&id, if_match, &json!({"tags": ["new"]}))
            .await;
        let after = app.get_agent(&id).await;
        let ok = if matches {
            r.status == 200 && r.etag() == "\"2\"" && after.data()["tags"] == json!(["new"])
        } else {
            r.status == 412
                && r.error_code() == "precondition_failed"
                && after.data() == before.data()
                && after.etag() == "\"1\""
        };
        if !ok {
            failures.push(format!(
                "{label} ({if_match}): expected {}, got {} {}",
                if matches { "200" } else { "412, unchanged" },
                r.status,
                r.text
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn a_stale_if_match_fails_after_another_write() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Stale").await;
    let first = app.get_agent(&id).await.etag();
    let r = app
        .patch_agent_if(&id, &first, &json!({"name": "Mine"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .patch_agent_if(&id, &first, &json!({"name": "Theirs"}))
        .await;
    r.assert_error(412, "precondition_failed");
    let got = app.get_agent(&id).await;
    assert_eq!(got.data()["name"], "Mine");
    assert_eq!(got.etag(), "\"2\"");
}

#[tokio::test]
async fn merge_patches_that_add_up_past_the_agent_size_limit_are_refused_and_change_nothing() {
    let app = TestApp::spawn_with(TestOptions {
        rules: dialplane_core::Rules {
            max_agent_bytes: 64 * 1024,
            ..dialplane_core::Rules::default()
        },
        ..TestOptions::default()
    })
    .await;
    let id = app.create_named("Growing").await;
    // Each PATCH is well inside the body limit, but free-form members merge in key by key.
    let grow = |i: usize| {
        json!({"platformSettings": {"callActions": {"postCallEmail": {"emailConfiguration": {
            format!("k{i}"): "x".repeat(25_000)
        }}}}})
    };
    for i in 0..2 {
        let r = app.patch_agent(&id, &grow(i)).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let before = app.get_agent(&id).await;
    let r = app.patch_agent(&id, &grow(2)).await;
    r.assert_problem("", "too_long");
    assert_eq!(app.get_agent(&id).await.text, before.text, "nothing stored");
    assert_eq!(app.version_numbers(&id).await, [3, 2, 1]);
    // A JSON Patch that copies past it is refused the same way.
    let copy = json!([{"op": "copy",
        "from": "/platformSettings/callActions/postCallEmail/emailConfiguration/k0",
        "path": "/platformSettings/callActions/postCallEmail/emailConfiguration/k9"}]);
    app.json_patch(&id, "", &copy, &[])
        .await
        .assert_problem("", "too_long");
    assert_eq!(app.version_numbers(&id).await, [3, 2, 1]);
}

#[tokio::test]
async fn a_change_invalid_at_any_revision_is_a_validation_error_even_with_a_stale_if_match() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Stale").await;
    let stale = "\"999\"";
    let invalid = serde_json::json!({"workflow": {"preventSubagentLoops": {}}});
    let r = app.patch_agent_if(&id, stale, &invalid).await;
    r.assert_problem("/workflow/preventSubagentLoops", "invalid_type");
    // A valid change with the same stale ETag is refused for the ETag, and nothing is stored.
    let valid = serde_json::json!({"name": "Renamed"});
    let r = app.patch_agent_if(&id, stale, &valid).await;
    r.assert_error(412, "precondition_failed");
    assert_eq!(app.get_agent(&id).await.data()["name"], "Stale");
}

//! JSON Patch (RFC 6902) PATCH bodies: every operation, all-or-nothing `test`, errors pointing at the
//! operation, and the patched agent validated like any PATCH.

use crate::support::*;
use reqwest::Method;
use serde_json::{json, Value};

const PROMPT: &str = "/conversationConfig/agent/prompt";

/// Creates an agent with two tags and a greeting; returns its id.
async fn tagged(app: &TestApp) -> String {
    let mut body = minimal_agent("Patched");
    set_pointer(&mut body, "/tags", json!(["a", "b"]));
    set_pointer(
        &mut body,
        "/conversationConfig/agent/greetingMessage",
        json!("Hi"),
    );
    let r = app.create_agent(&body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.data()["agentId"].as_str().unwrap().to_owned()
}

/// Panics unless the agent still reads exactly as `before` and has no new version.
async fn assert_untouched(app: &TestApp, id: &str, before: &Resp) {
    let after = app.get_agent(id).await;
    assert_eq!(after.text, before.text, "the agent changed");
    assert_eq!(after.etag(), before.etag(), "the ETag changed");
    let versions = app.version_numbers(id).await;
    let current: u64 = before.etag().trim_matches('"').parse().unwrap();
    assert_eq!(versions.first(), Some(&current), "a version was stored");
}

#[tokio::test]
async fn adding_at_the_end_of_tags_appends_one_tag() {
    let app = TestApp::spawn().await;
    let id = tagged(&app).await;
    let before = app.get_agent(&id).await;
    let r = app
        .json_patch(
            &id,
            "",
            &json!([{"op": "add", "path": "/tags/-", "value": "x"}]),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.etag(), "\"2\"");
    assert_eq!(r.data()["tags"], json!(["a", "b", "x"]));
    let mut expected = before.data().clone();
    set_pointer(&mut expected, "/tags", json!(["a", "b", "x"]));
    set_pointer(
        &mut expected,
        "/metadata/updatedAt",
        r.data()["metadata"]["updatedAt"].clone(),
    );
    assert_eq!(json_difference(r.data(), &expected), None, "only the tag");
    assert_eq!(app.get_agent(&id).await.text, r.text, "stored as answered");
}

#[tokio::test]
async fn every_operation_applies_in_order() {
    let app = TestApp::spawn().await;
    let id = tagged(&app).await;
    let ops = json!([
        {"op": "test", "path": "/name", "value": "Patched"},
        {"op": "replace", "path": "/name", "value": "Renamed"},
        {"op": "add", "path": "/tags/0", "value": "first"},
        {"op": "remove", "path": "/tags/2"},
        {"op": "move", "from": "/tags/0", "path": "/tags/-"},
        {"op": "copy", "from": "/name", "path": "/conversationConfig/agent/greetingMessage"},
        {"op": "add", "path": format!("{PROMPT}/temperature"), "value": 1.5},
        {"op": "add", "path": "/conversationConfig/agent/dynamicVariables/city", "value": "Lyon"},
        {"op": "test", "path": "/tags", "value": ["a", "first"]}
    ]);
    let r = app.json_patch(&id, "", &ops, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let agent = app.get_agent(&id).await;
    let d = agent.data();
    assert_eq!(d["name"], json!("Renamed"));
    assert_eq!(d["tags"], json!(["a", "first"]));
    assert_eq!(
        d["conversationConfig"]["agent"]["greetingMessage"],
        json!("Renamed")
    );
    assert_eq!(
        d.pointer(&format!("{PROMPT}/temperature")),
        Some(&json!(1.5))
    );
    assert_eq!(
        d["conversationConfig"]["agent"]["dynamicVariables"],
        json!({"city": "Lyon"})
    );
    assert_eq!(
        app.version_numbers(&id).await,
        [2, 1],
        "one version for all"
    );
}

#[tokio::test]
async fn a_failing_test_changes_nothing_and_is_a_conflict_at_its_value() {
    let app = TestApp::spawn().await;
    let id = tagged(&app).await;
    let before = app.get_agent(&id).await;
    for (ops, index) in [
        (
            json!([{"op": "test", "path": "/name", "value": "Someone else"}]),
            0,
        ),
        (
            json!([
                {"op": "add", "path": "/tags/-", "value": "x"},
                {"op": "replace", "path": "/name", "value": "Changed"},
                {"op": "test", "path": "/tags", "value": ["a", "b"]}
            ]),
            2,
        ),
        (
            json!([
                {"op": "remove", "path": "/tags/0"},
                {"op": "test", "path": format!("{PROMPT}/temperature"), "value": 0.5}
            ]),
            1,
        ),
    ] {
        let r = app.json_patch(&id, "", &ops, &[]).await;
        r.assert_error(409, "conflict");
        assert_eq!(
            r.detail_paths(),
            [(format!("/{index}/value"), "test_failed".to_owned())],
            "{}",
            r.text
        );
        assert_untouched(&app, &id, &before).await;
    }
}

#[tokio::test]
async fn operations_that_cannot_be_read_point_at_the_operation() {
    let app = TestApp::spawn().await;
    let id = tagged(&app).await;
    let before = app.get_agent(&id).await;
    let cases = [
        (json!([{"op": "launch", "path": "/name"}]), vec!["/0"]),
        (json!([{"path": "/name", "value": "x"}]), vec!["/0"]),
        (json!([{"op": "add", "value": "x"}]), vec!["/0"]),
        (json!([{"op": "replace", "path": "/name"}]), vec!["/0"]),
        (json!([{"op": "move", "path": "/name"}]), vec!["/0"]),
        (
            json!([{"op": "add", "path": "name", "value": "x"}]),
            vec!["/0"],
        ),
        (json!([{"op": "add", "path": 5, "value": "x"}]), vec!["/0"]),
        (
            json!([{"op": "test", "path": "/name", "value": "Patched"}, "add", 7]),
            vec!["/1", "/2"],
        ),
    ];
    for (ops, paths) in cases {
        let r = app.json_patch(&id, "", &ops, &[]).await;
        r.assert_error(400, "validation_error");
        let got: Vec<String> = r.detail_paths().into_iter().map(|(p, _)| p).collect();
        assert_eq!(got, paths, "{ops}: {}", r.text);
    }
    assert_untouched(&app, &id, &before).await;
}

#[tokio::test]
async fn operations_whose_path_or_from_names_nothing_point_at_it() {
    let app = TestApp::spawn().await;
    let id = tagged(&app).await;
    let before = app.get_agent(&id).await;
    let cases = [
        (json!([{"op": "remove", "path": "/nothing"}]), "/0/path"),
        (
            json!([{"op": "replace", "path": "/nothing", "value": 1}]),
            "/0/path",
        ),
        (
            json!([{"op": "add", "path": "/no/such/parent", "value": 1}]),
            "/0/path",
        ),
        (
            json!([{"op": "add", "path": "/tags/9", "value": "x"}]),
            "/0/path",
        ),
        (json!([{"op": "remove", "path": "/tags/2"}]), "/0/path"),
        (
            json!([{"op": "test", "path": "/nothing", "value": 1}]),
            "/0/path",
        ),
        (
            json!([{"op": "add", "path": "/tags/-", "value": "c"},
                   {"op": "move", "from": "/nothing", "path": "/name"}]),
            "/1/from",
        ),
        (
            json!([{"op": "copy", "from": "/tags/5", "path": "/name"}]),
            "/0/from",
        ),
    ];
    for (ops, path) in cases {
        let r = app.json_patch(&id, "", &ops, &[]).await;
        r.assert_error(400, "validation_error");
        assert_eq!(
            r.detail_paths(),
            [(path.to_owned(), "invalid_operation".to_owned())],
            "{ops}: {}",
            r.text
        );
    }
    assert_untouched(&app, &id, &before).await;
}

#[tokio::test]
async fn the_patched_agent_is_validated_with_pointers_into_the_agent() {
    let app = TestApp::spawn().await;
    let id = tagged(&app).await;
    let before = app.get_agent(&id).await;
    let temperature = format!("{PROMPT}/temperature");
    let cases = [
        (
            json!([{"op": "replace", "path": temperature, "value": 3.5}]),
            vec![(temperature.clone(), "out_of_range")],
        ),
        (
            json!([{"op": "add", "path": "/colour", "value": "red"}]),
            vec![("/colour".to_owned(), "unknown_field")],
        ),
        (
            json!([{"op": "add", "path": "/tags/-", "value": "a"}]),
            vec![("/tags/2".to_owned(), "duplicate")],
        ),
        (
            json!([{"op": "remove", "path": "/name"}]),
            vec![("/name".to_owned(), "required")],
        ),
        (
            json!([{"op": "replace", "path": "/direction", "value": "sideways"},
                   {"op": "replace", "path": temperature, "value": "hot"}]),
            vec![
                ("/direction".to_owned(), "invalid_value"),
                (temperature.clone(), "invalid_type"),
            ],
        ),
    ];
    for (ops, expected) in cases {
        let r = app.json_patch(&id, "", &ops, &[]).await;
        r.assert_error(400, "validation_error");
        let mut got = r.detail_paths();
        got.sort();
        let mut want: Vec<(String, String)> = expected
            .iter()
            .map(|(p, c)| (p.clone(), (*c).to_owned()))
            .collect();
        want.sort();
        assert_eq!(got, want, "{ops}: {}", r.text);
    }
    assert_untouched(&app, &id, &before).await;
}

#[tokio::test]
async fn read_only_fields_cannot_be_changed_by_a_json_patch() {
    let app = TestApp::spawn().await;
    let id = tagged(&app).await;
    let before = app.get_agent(&id).await;
    let other = dialplane_core::AgentId::generate().to_string();
    let cases = [
        (
            json!([{"op": "replace", "path": "/agentId", "value": other}]),
            "/agentId",
        ),
        (json!([{"op": "remove", "path": "/agentId"}]), "/agentId"),
        (json!([{"op": "remove", "path": "/metadata"}]), "/metadata"),
        (
            json!([{"op": "replace", "path": "/metadata/createdAt", "value": "2000-01-01T00:00:00.000000Z"}]),
            "/metadata/createdAt",
        ),
        (
            json!([{"op": "replace", "path": "/metadata/createdBy/userId", "value": "mallory"}]),
            "/metadata/createdBy/userId",
        ),
        (
            json!([{"op": "add", "path": "/phoneNumbers/-",
                    "value": {"provider": "twilio", "number": "+14155550100", "label": "x"}}]),
            "/phoneNumbers",
        ),
    ];
    for (ops, path) in cases {
        let r = app.json_patch(&id, "", &ops, &[]).await;
        r.assert_error(400, "validation_error");
        assert_eq!(
            r.detail_paths(),
            [(path.to_owned(), "read_only".to_owned())],
            "{ops}: {}",
            r.text
        );
    }
    assert_untouched(&app, &id, &before).await;
    // Read-only values may be tested, and replaced by what they already are.
    let ops = json!([
        {"op": "test", "path": "/agentId", "value": id},
        {"op": "replace", "path": "/metadata", "value": before.data()["metadata"]},
        {"op": "replace", "path": "/name", "value": "Fine"}
    ]);
    let r = app.json_patch(&id, "", &ops, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.data()["name"], json!("Fine"));
}

#[tokio::test]
async fn a_json_patch_body_must_be_an_array_of_operations() {
    let app = TestApp::spawn().await;
    let id = tagged(&app).await;
    let before = app.get_agent(&id).await;
    for body in [
        json!({"op": "add", "path": "/tags/-", "value": "x"}),
        json!({"tags": ["x"]}),
        json!("add"),
        json!(null),
    ] {
        let r = app.json_patch(&id, "", &body, &[]).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        r.assert_problem("", "invalid_type");
    }
    for raw in [
        "",
        "[",
        "[{\"op\": \"add\", \"op\": \"remove\", \"path\": \"/tags/0\"}]",
    ] {
        let r = app
            .send(
                Method::PATCH,
                &agent_path(&id, ""),
                Some(&app.key),
                &[("content-type", JSON_PATCH)],
                Some(raw.as_bytes().to_vec()),
            )
            .await;
        r.assert_error(400, "invalid_json");
    }
    assert_untouched(&app, &id, &before).await;
    // An empty array is a valid patch that changes nothing.
    let r = app.json_patch(&id, "", &json!([]), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_untouched(&app, &id, &before).await;
}

#[tokio::test]
async fn merge_patch_json_is_a_synonym_of_json_merge_patch() {
    let app = TestApp::spawn().await;
    let id = tagged(&app).await;
    for content_type in [
        "application/merge-patch+json",
        "application/merge-patch+json; charset=utf-8",
        "application/json",
    ] {
        let r = app
            .send(
                Method::PATCH,
                &agent_path(&id, ""),
                Some(&app.key),
                &[("content-type", content_type)],
                Some(json!({"tags": [content_type]}).to_string().into_bytes()),
            )
            .await;
        assert_eq!(r.status, 200, "{content_type}: {}", r.text);
        assert_eq!(r.data()["tags"], json!([content_type]));
        assert_eq!(r.data()["name"], json!("Patched"), "a merge keeps the rest");
    }
    // A merge patch sent as a JSON Patch is not an array; a JSON Patch sent as a merge patch is not an object.
    let r = app.json_patch(&id, "", &json!({"name": "x"}), &[]).await;
    r.assert_error(400, "validation_error");
    let r = app
        .send(
            Method::PATCH,
            &agent_path(&id, ""),
            Some(&app.key),
            &[("content-type", "application/merge-patch+json")],
            Some(b"[]".to_vec()),
        )
        .await;
    r.assert_error(400, "invalid_json");
    let r = app
        .send(
            Method::PATCH,
            &agent_path(&id, ""),
            Some(&app.key),
            &[("content-type", "text/plain")],
            Some(b"[]".to_vec()),
        )
        .await;
    r.assert_error(415, "unsupported_media_type");
}

#[tokio::test]
async fn a_json_patch_honours_if_match_and_makes_one_version() {
    let app = TestApp::spawn().await;
    let id = tagged(&app).await;
    let before = app.get_agent(&id).await;
    let ops = json!([{"op": "add", "path": "/tags/-", "value": "c"}]);
    let r = app
        .json_patch(&id, "", &ops, &[("if-match", "\"2\"")])
        .await;
    r.assert_error(412, "precondition_failed");
    assert_untouched(&app, &id, &before).await;
    let r = app
        .json_patch(&id, "", &ops, &[("if-match", "\"1\"")])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.etag(), "\"2\"");
    let page = app.get(&agent_path(&id, "/versions")).await;
    assert_eq!(page.data()[0]["version"], json!(2), "{}", page.text);
    let paths = page.data()[0]["changedPaths"].as_array().unwrap().clone();
    assert!(
        !paths.is_empty()
            && paths
                .iter()
                .all(|p| p.as_str().unwrap().starts_with("/tags")),
        "{}",
        page.text
    );
}

#[tokio::test]
async fn a_json_patch_on_a_missing_or_foreign_agent_is_not_found() {
    let app = TestApp::spawn().await;
    let id = tagged(&app).await;
    let eve = app
        .new_key("elsewhere", dialplane_core::Scope::Write, "eve")
        .await;
    let ops = json!([{"op": "add", "path": "/tags/-", "value": "c"}]).to_string();
    let r = app
        .send(
            Method::PATCH,
            &agent_path(&id, ""),
            Some(&eve),
            &[("content-type", JSON_PATCH)],
            Some(ops.clone().into_bytes()),
        )
        .await;
    r.assert_error(404, "not_found");
    let missing = dialplane_core::AgentId::generate().to_string();
    let r = app
        .json_patch(
            &missing,
            "",
            &serde_json::from_str::<Value>(&ops).unwrap(),
            &[],
        )
        .await;
    r.assert_error(404, "not_found");
    assert_eq!(app.version_numbers(&id).await, [1]);
}

#[tokio::test]
async fn a_patch_that_would_blow_the_agent_up_or_nest_it_too_deep_is_refused() {
    let app = TestApp::spawn().await;
    let id = tagged(&app).await;
    let before = app.get_agent(&id).await;
    // Forty copies of a list into itself would double the agent forty times.
    let list = "/platformSettings/widget/list";
    let bomb: Vec<Value> = std::iter::once(json!({"op": "add", "path": list, "value": [1]}))
        .chain((0..40).map(|_| json!({"op": "copy", "from": list, "path": format!("{list}/-")})))
        .collect();
    let r = app.json_patch(&id, "", &Value::Array(bomb), &[]).await;
    // Each copy doubles the list from two values: the 16th passes 100 000 copied values.
    r.assert_problem("/16", "too_long");
    // A string is one value however long: a thousand copies of a long one would add 300 MB.
    let long = "x".repeat(300_000);
    let strings: Vec<Value> = [
        json!({"op": "add", "path": "/platformSettings/widget/s", "value": long}),
        json!({"op": "add", "path": list, "value": []}),
    ]
    .into_iter()
    .chain((0..998).map(|_| {
        json!({"op": "copy", "from": "/platformSettings/widget/s", "path": format!("{list}/-")})
    }))
    .collect();
    let r = app.json_patch(&id, "", &Value::Array(strings), &[]).await;
    // 300 002 bytes a copy (the string and its quotes): the fourth passes 1 MiB.
    r.assert_problem("/5", "too_long");
    // Nesting a free-form map deeper than a body may, one move at a time.
    let mut nest = vec![json!({"op": "add", "path": "/platformSettings/widget/x", "value": 1})];
    for _ in 0..70 {
        nest.push(json!({"op": "add", "path": "/platformSettings/widget/h", "value": {}}));
        nest.push(json!({"op": "move", "from": "/platformSettings/widget/x", "path": "/platformSettings/widget/h/x"}));
        nest.push(json!({"op": "move", "from": "/platformSettings/widget/h", "path": "/platformSettings/widget/x"}));
    }
    let r = app.json_patch(&id, "", &Value::Array(nest), &[]).await;
    r.assert_error(400, "validation_error");
    assert_eq!(app.get_agent(&id).await.text, before.text, "nothing stored");
    assert_eq!(app.version_numbers(&id).await, [1]);
}

#[tokio::test]
async fn a_member_set_to_null_is_left_out_even_inside_a_free_form_map() {
    let app = TestApp::spawn().await;
    let mut body = minimal_agent("Nulls");
    set_pointer(
        &mut body,
        "/platformSettings/widget",
        json!({"theme": "dark", "size": 2}),
    );
    let r = app.create_agent(&body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.data()["agentId"].as_str().unwrap().to_owned();
    // As in a create body or a merge patch, `null` is absent: not stored as a member of the map.
    let r = app
        .json_patch(
            &id,
            "",
            &json!([
                {"op": "add", "path": "/platformSettings/widget/position", "value": null},
                {"op": "replace", "path": "/platformSettings/widget/theme", "value": null},
            ]),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.data()["platformSettings"]["widget"], json!({"size": 2}));
    assert_eq!(app.get_agent(&id).await.text, r.text, "stored as answered");
    // An unknown member is still unknown, `null` or not, and nothing is stored.
    let before = app.get_agent(&id).await;
    app.json_patch(
        &id,
        "",
        &json!([{"op": "add", "path": "/bogus", "value": null}]),
        &[],
    )
    .await
    .assert_problem("/bogus", "unknown_field");
    assert_untouched(&app, &id, &before).await;
}

#[tokio::test]
async fn test_compares_numbers_by_value_as_a_javascript_client_writes_them() {
    let app = TestApp::spawn().await;
    let id = tagged(&app).await;
    let before = app.get_agent(&id).await;
    // The stored turn timeout reads `7.0`; a JavaScript client sends it back as `7`.
    let timeout = before.data()["conversationConfig"]["turn"]["turnTimeout"].clone();
    assert_eq!(timeout.to_string(), "7.0");
    let r = app
        .json_patch(
            &id,
            "",
            &json!([
                {"op": "test", "path": "/conversationConfig/turn/turnTimeout", "value": 7},
                {"op": "replace", "path": "/name", "value": "Tested"},
            ]),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.data()["name"], "Tested");
    let r = app
        .json_patch(
            &id,
            "",
            &json!([{"op": "test", "path": "/conversationConfig/turn/turnTimeout", "value": 8}]),
            &[],
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
}

#[tokio::test]
async fn the_json_patch_operation_reads_its_body_as_a_json_patch_under_either_media_type() {
    let app = TestApp::spawn().await;
    let id = tagged(&app).await;
    let path = agent_path(&id, "/json-patch");
    for (media_type, tag) in [(JSON_PATCH, "c"), ("application/json", "d")] {
        let ops = json!([{"op": "add", "path": "/tags/-", "value": tag}]);
        let r = app
            .send(
                Method::PATCH,
                &path,
                Some(&app.key),
                &[("content-type", media_type)],
                Some(ops.to_string().into_bytes()),
            )
            .await;
        assert_eq!(r.status, 200, "{media_type}: {}", r.text);
        assert_eq!(r.data()["tags"].as_array().unwrap().last().unwrap(), tag);
    }
    // A merge patch sent there is refused for what it is, and changes nothing.
    let before = app.get_agent(&id).await;
    let r = app
        .json(Method::PATCH, &path, &app.key, &json!({"name": "Renamed"}))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_untouched(&app, &id, &before).await;
    let r = app
        .send(
            Method::PATCH,
            &path,
            Some(&app.key),
            &[("content-type", "application/merge-patch+json")],
            Some(b"{}".to_vec()),
        )
        .await;
    r.assert_error(415, "unsupported_media_type");
    // A failed `test` there is a conflict, as on PATCH /agents/{agentId}.
    let ops = json!([{"op": "test", "path": "/name", "value": "Someone else"}]);
    let r = app.json(Method::PATCH, &path, &app.key, &ops).await;
    r.assert_error(409, "conflict");
}

//! Error answers of every layer: bodies, parameters, routing, limits and media types. Authentication
//! and scopes are in `tenancy`; panics and request ids in `operations`.

use crate::support::*;
use dialplane_core::AgentId;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const AGENTS: &str = "/api/public/v1/agents";

fn agent_path(id: &str) -> String {
    format!("{AGENTS}/{id}")
}

/// `levels` objects nested in one another: `nest(1)` is `{}`, `nest(2)` is `{"a":{}}`.
fn nest(levels: usize) -> String {
    format!(
        "{}{{}}{}",
        "{\"a\":".repeat(levels - 1),
        "}".repeat(levels - 1)
    )
}

/// A valid create body whose deepest object sits `levels` deep (the body itself is level 1), reached
/// through the free-form `platformSettings.widget` map.
fn create_body_nested(levels: usize) -> Vec<u8> {
    let widget = nest(levels - 2);
    format!(
        r#"{{"name":"Deep","conversationConfig":{{"agent":{{"prompt":{{"prompt":"Hi."}}}}}},"platformSettings":{{"widget":{widget}}}}}"#
    )
    .into_bytes()
}

/// A PATCH body whose deepest object sits `levels` deep, again inside `platformSettings.widget`.
fn patch_body_nested(levels: usize) -> Vec<u8> {
    format!(
        r#"{{"platformSettings":{{"widget":{}}}}}"#,
        nest(levels - 2)
    )
    .into_bytes()
}

/// Bodies that are not one acceptable JSON object, each with a label for failure messages.
fn malformed_bodies() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("empty body", Vec::new()),
        ("not JSON", b"name=Front desk".to_vec()),
        ("truncated object", br#"{"name": "Front desk""#.to_vec()),
        ("a JSON array", br#"[{"name": "Front desk"}]"#.to_vec()),
        ("a JSON string", br#""Front desk""#.to_vec()),
        ("a JSON number", b"42".to_vec()),
        ("JSON null", b"null".to_vec()),
        (
            "trailing garbage",
            format!("{} x", minimal_agent("Trailing")).into_bytes(),
        ),
        ("two objects", br#"{"name": "A"} {"name": "B"}"#.to_vec()),
        (
            "duplicate top-level key",
            br#"{"name": "A", "name": "B", "conversationConfig": {"agent": {"prompt": {"prompt": "Hi."}}}}"#
                .to_vec(),
        ),
        (
            "duplicate nested key",
            br#"{"name": "A", "conversationConfig": {"agent": {"prompt": {"prompt": "Hi.", "prompt": "Ho."}}}}"#
                .to_vec(),
        ),
        ("nested 65 levels deep", create_body_nested(65)),
        ("nested 65 levels deep via arrays", {
            let mut b = br#"{"tags":"#.to_vec();
            b.extend("[".repeat(64).bytes());
            b.extend("]".repeat(64).bytes());
            b.push(b'}');
            b
        }),
        (
            "invalid UTF-8 in a string",
            b"{\"name\": \"Caf\xc3\x28\", \"conversationConfig\": {}}".to_vec(),
        ),
        ("a lone 0xFF byte", b"{\"name\": \"\xff\"}".to_vec()),
    ]
}

#[tokio::test]
async fn malformed_bodies_are_invalid_json_on_create_and_change_nothing() {
    let app = TestApp::spawn().await;
    for path in [AGENTS.to_owned(), format!("{AGENTS}/create")] {
        for (label, body) in malformed_bodies() {
            let r = app
                .send(Method::POST, &path, Some(&app.key), &[], Some(body))
                .await;
            assert_eq!(
                r.error_code(),
                "invalid_json",
                "POST {path}, {label}: {}",
                r.text
            );
            r.assert_error(400, "invalid_json");
        }
    }
    let list = app.list_agents("").await;
    assert_eq!(
        list.data(),
        &json!([]),
        "nothing was created: {}",
        list.text
    );
}

#[tokio::test]
async fn malformed_bodies_are_invalid_json_on_patch_and_change_nothing() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Front desk").await;
    let before = app.get_agent(&id).await;
    for (label, body) in malformed_bodies() {
        let r = app
            .send(
                Method::PATCH,
                &agent_path(&id),
                Some(&app.key),
                &[],
                Some(body),
            )
            .await;
        assert_eq!(r.error_code(), "invalid_json", "PATCH, {label}: {}", r.text);
        r.assert_error(400, "invalid_json");
    }
    let after = app.get_agent(&id).await;
    assert_eq!(
        after.data(),
        before.data(),
        "agent unchanged: {}",
        after.text
    );
    assert_eq!(after.etag(), before.etag());
}

#[tokio::test]
async fn nesting_of_exactly_64_levels_is_accepted_and_65_is_refused() {
    let app = TestApp::spawn().await;
    let created = app
        .send(
            Method::POST,
            AGENTS,
            Some(&app.key),
            &[],
            Some(create_body_nested(64)),
        )
        .await;
    assert_eq!(created.status, 201, "64 levels on create: {}", created.text);
    let id = created.data()["agentId"].as_str().unwrap().to_owned();
    let deep = app
        .send(
            Method::POST,
            AGENTS,
            Some(&app.key),
            &[],
            Some(create_body_nested(65)),
        )
        .await;
    deep.assert_error(400, "invalid_json");

    let patched = app
        .send(
            Method::PATCH,
            &agent_path(&id),
            Some(&app.key),
            &[],
            Some(patch_body_nested(64)),
        )
        .await;
    assert_eq!(patched.status, 200, "64 levels on PATCH: {}", patched.text);
    let deep = app
        .send(
            Method::PATCH,
            &agent_path(&id),
            Some(&app.key),
            &[],
            Some(patch_body_nested(65)),
        )
        .await;
    deep.assert_error(400, "invalid_json");
}

#[tokio::test]
async fn a_malformed_agent_id_in_the_path_is_invalid_parameter_on_get_patch_and_delete() {
    let app = TestApp::spawn().await;
    let real = app.create_named("Front desk").await;
    let ids = [
        "not-an-id".to_owned(),
        "123".to_owned(),
        real.to_uppercase(),
        real.replace('-', ""),
        format!("{real}0"),
        "%20".to_owned(),
    ];
    for id in &ids {
        for method in [Method::GET, Method::PATCH, Method::DELETE] {
            let body = (method == Method::PATCH).then(|| b"{}".to_vec());
            let r = app
                .send(method.clone(), &agent_path(id), Some(&app.key), &[], body)
                .await;
            assert_eq!(
                r.error_code(),
                "invalid_parameter",
                "{method} {id:?}: {}",
                r.text
            );
            r.assert_error(400, "invalid_parameter");
        }
    }
    assert_eq!(
        app.get_agent(&real).await.status,
        200,
        "the real agent is untouched"
    );
}

#[tokio::test]
async fn page_size_out_of_range_is_invalid_parameter() {
    let app = TestApp::spawn().await;
    for query in ["pageSize=0", "pageSize=101", "pageSize=-1", "pageSize=ten"] {
        let r = app.list_agents(query).await;
        assert_eq!(r.error_code(), "invalid_parameter", "{query}: {}", r.text);
        r.assert_error(400, "invalid_parameter");
    }
}

#[tokio::test]
async fn a_malformed_idempotency_key_is_invalid_parameter_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let too_long = "k".repeat(300);
    for key in [too_long.as_str(), "has spaces", "tab\there"] {
        let r = app
            .send(
                Method::POST,
                AGENTS,
                Some(&app.key),
                &[("idempotency-key", key)],
                Some(minimal_agent("Idem").to_string().into_bytes()),
            )
            .await;
        assert_eq!(
            r.error_code(),
            "invalid_parameter",
            "key {key:?}: {}",
            r.text
        );
        r.assert_error(400, "invalid_parameter");
    }
    let list = app.list_agents("").await;
    assert_eq!(
        list.data(),
        &json!([]),
        "nothing was created: {}",
        list.text
    );
}

#[tokio::test]
async fn an_unknown_agent_id_is_not_found_on_get_patch_and_delete() {
    let app = TestApp::spawn().await;
    let id = AgentId::generate().to_string();
    app.get_agent(&id).await.assert_error(404, "not_found");
    app.patch_agent(&id, &json!({"name": "Ghost"}))
        .await
        .assert_error(404, "not_found");
    app.delete_agent(&id).await.assert_error(404, "not_found");
    let list = app.list_agents("").await;
    assert_eq!(
        list.data(),
        &json!([]),
        "PATCH created nothing: {}",
        list.text
    );
}

#[tokio::test]
async fn unknown_routes_are_not_found_in_the_envelope() {
    let app = TestApp::spawn().await;
    let cases = [
        (Method::GET, "/api/public/v1/nope"),
        (Method::POST, "/api/public/v1/nope"),
        (Method::GET, "/nope"),
        (Method::GET, "/"),
        (Method::GET, "/api/public/v2/agents"),
        (Method::GET, "/api/public/v1/agents/x/y"),
    ];
    for (method, path) in cases {
        for key in [Some(app.key.as_str()), None] {
            let r = app.send(method.clone(), path, key, &[], None).await;
            assert_eq!(r.error_code(), "not_found", "{method} {path}: {}", r.text);
            r.assert_error(404, "not_found");
        }
    }
}

/// The methods of an `Allow` header, upper-cased, HEAD left out (it comes with GET).
fn allowed(r: &Resp) -> BTreeSet<String> {
    r.header("allow")
        .unwrap_or_else(|| panic!("an Allow header: {:?}", r.headers))
        .split(',')
        .map(|m| m.trim().to_ascii_uppercase())
        .filter(|m| !m.is_empty() && m != "HEAD")
        .collect()
}

#[tokio::test]
async fn a_wrong_method_is_method_not_allowed_with_an_allow_header() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Front desk").await;
    let one = agent_path(&id);
    let create = format!("{AGENTS}/create");
    let cases: [(Method, &str, &[&str]); 6] = [
        (Method::PUT, &one, &["DELETE", "GET", "PATCH"]),
        (Method::POST, &one, &["DELETE", "GET", "PATCH"]),
        (Method::DELETE, AGENTS, &["GET", "POST"]),
        (Method::PATCH, AGENTS, &["GET", "POST"]),
        (Method::GET, &create, &["POST"]),
        (Method::POST, "/healthz", &["GET"]),
    ];
    for (method, path, expected) in cases {
        let r = app
            .send(
                method.clone(),
                path,
                Some(&app.key),
                &[],
                Some(b"{}".to_vec()),
            )
            .await;
        assert_eq!(
            r.error_code(),
            "method_not_allowed",
            "{method} {path}: {}",
            r.text
        );
        r.assert_error(405, "method_not_allowed");
        let expected: BTreeSet<String> = expected.iter().map(|m| m.to_string()).collect();
        assert_eq!(allowed(&r), expected, "{method} {path}");
    }
    let got = app.get_agent(&id).await;
    assert_eq!(got.etag(), "\"1\"", "PUT changed nothing: {}", got.text);
}

/// A valid create body padded with whitespace to exactly `len` bytes.
fn create_body_of_len(len: usize) -> Vec<u8> {
    let mut body = minimal_agent("Big").to_string().into_bytes();
    assert!(body.len() <= len);
    body.resize(len, b' ');
    body
}

#[tokio::test]
async fn a_body_over_a_configured_limit_is_payload_too_large_on_create_and_patch() {
    let app = TestApp::spawn_with(TestOptions {
        http: dialplane_server::HttpOptions {
            max_body_bytes: 1024,
            ..Default::default()
        },
        ..TestOptions::default()
    })
    .await;
    let id = app.create_named("Small").await;
    let big = agent_with(
        "/conversationConfig/agent/greetingMessage",
        json!("x".repeat(2048)),
    );
    for path in [AGENTS.to_owned(), format!("{AGENTS}/create")] {
        let r = app.json(Method::POST, &path, &app.key, &big).await;
        assert_eq!(
            r.error_code(),
            "payload_too_large",
            "POST {path}: {}",
            r.text
        );
        r.assert_error(413, "payload_too_large");
    }
    let r = app
        .patch_agent(
            &id,
            &json!({"conversationConfig": {"agent": {"greetingMessage": "x".repeat(2048)}}}),
        )
        .await;
    r.assert_error(413, "payload_too_large");

    let list = app.list_agents("").await;
    assert_eq!(
        list.data().as_array().map(Vec::len),
        Some(1),
        "{}",
        list.text
    );
    assert_eq!(
        app.get_agent(&id).await.etag(),
        "\"1\"",
        "PATCH changed nothing"
    );
    let fits = app
        .send(
            Method::POST,
            AGENTS,
            Some(&app.key),
            &[],
            Some(create_body_of_len(1024)),
        )
        .await;
    assert_eq!(fits.status, 201, "exactly 1024 bytes fit: {}", fits.text);
    let over = create_body_of_len(1025);
    let r = app
        .send(Method::POST, AGENTS, Some(&app.key), &[], Some(over))
        .await;
    r.assert_error(413, "payload_too_large");
}

#[tokio::test]
async fn the_default_limit_accepts_exactly_1_mib_and_refuses_one_byte_more() {
    let app = TestApp::spawn().await;
    let mib = 1024 * 1024;
    let fits = app
        .send(
            Method::POST,
            AGENTS,
            Some(&app.key),
            &[],
            Some(create_body_of_len(mib)),
        )
        .await;
    assert_eq!(fits.status, 201, "exactly 1 MiB: {}", fits.text);
    let id = fits.data()["agentId"].as_str().unwrap().to_owned();
    let over = create_body_of_len(mib + 1);
    let r = app
        .send(
            Method::POST,
            AGENTS,
            Some(&app.key),
            &[],
            Some(over.clone()),
        )
        .await;
    r.assert_error(413, "payload_too_large");
    let r = app
        .send(
            Method::PATCH,
            &agent_path(&id),
            Some(&app.key),
            &[],
            Some(over),
        )
        .await;
    r.assert_error(413, "payload_too_large");
}

/// A request with no Content-Type at all (the harness would add one).
async fn send_untyped(app: &TestApp, method: Method, path: &str, body: &Value) -> Resp {
    let res = app
        .client
        .request(method, app.url(path))
        .header("x-api-key", &app.key)
        .body(body.to_string())
        .send()
        .await
        .expect("request sent");
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.expect("body read");
    Resp {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

#[tokio::test]
async fn a_body_that_is_not_declared_json_is_unsupported_media_type() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Front desk").await;
    let create = minimal_agent("Typed");
    let patch = json!({"name": "Renamed"});
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
        "text/json",
    ] {
        let headers = [("content-type", content_type)];
        for path in [AGENTS.to_owned(), format!("{AGENTS}/create")] {
            let body = Some(create.to_string().into_bytes());
            let r = app
                .send(Method::POST, &path, Some(&app.key), &headers, body)
                .await;
            assert_eq!(
                r.error_code(),
                "unsupported_media_type",
                "POST {path} {content_type}: {}",
                r.text
            );
            r.assert_error(415, "unsupported_media_type");
        }
        let body = Some(patch.to_string().into_bytes());
        let r = app
            .send(
                Method::PATCH,
                &agent_path(&id),
                Some(&app.key),
                &headers,
                body,
            )
            .await;
        assert_eq!(
            r.error_code(),
            "unsupported_media_type",
            "PATCH {content_type}: {}",
            r.text
        );
        r.assert_error(415, "unsupported_media_type");
    }
    send_untyped(&app, Method::POST, AGENTS, &create)
        .await
        .assert_error(415, "unsupported_media_type");
    send_untyped(&app, Method::PATCH, &agent_path(&id), &patch)
        .await
        .assert_error(415, "unsupported_media_type");

    let list = app.list_agents("").await;
    assert_eq!(
        list.data().as_array().map(Vec::len),
        Some(1),
        "{}",
        list.text
    );
    assert_eq!(app.get_agent(&id).await.data()["name"], "Front desk");
}

#[tokio::test]
async fn json_media_types_with_parameters_or_merge_patch_are_accepted() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Front desk").await;
    for (i, content_type) in [
        "application/json; charset=utf-8",
        "application/merge-patch+json",
        "Application/JSON",
    ]
    .into_iter()
    .enumerate()
    {
        let headers = [("content-type", content_type)];
        let body = Some(minimal_agent(content_type).to_string().into_bytes());
        let r = app
            .send(Method::POST, AGENTS, Some(&app.key), &headers, body)
            .await;
        assert_eq!(r.status, 201, "create as {content_type}: {}", r.text);
        let name = format!("Renamed {i}");
        let body = Some(json!({ "name": name }).to_string().into_bytes());
        let r = app
            .send(
                Method::PATCH,
                &agent_path(&id),
                Some(&app.key),
                &headers,
                body,
            )
            .await;
        assert_eq!(r.status, 200, "PATCH as {content_type}: {}", r.text);
        assert_eq!(r.data()["name"], name.as_str());
    }
}

#[tokio::test]
async fn an_error_lists_at_most_a_hundred_problems_and_counts_them_all() {
    let app = TestApp::spawn().await;
    let mut body = minimal_agent("Many");
    // 300 keys that are not identifiers, and too many keys: 301 problems.
    let vars: serde_json::Map<String, Value> =
        (0..300).map(|i| (i.to_string(), json!(1))).collect();
    set_pointer(
        &mut body,
        "/conversationConfig/agent/dynamicVariables",
        Value::Object(vars),
    );
    let r = app.create_agent(&body).await;
    r.assert_error(400, "validation_error");
    let details = r.body["error"]["details"].as_array().unwrap();
    assert_eq!(details.len(), 100, "{}", r.body["error"]["message"]);
    assert_eq!(
        r.body["error"]["message"],
        "301 fields are invalid; the first 100 are listed"
    );
    assert_no_agents(&app).await;
}

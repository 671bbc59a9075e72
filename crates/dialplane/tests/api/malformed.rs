//! A corpus of malformed requests across every route: each is answered with the 4xx it deserves, in
//! the error envelope, and none of them changes what is stored.

use crate::malformed_cases::*;
use crate::support::*;
use dialplane_core::{ApiKey, Scope};
use serde_json::{json, Value};

pub(crate) const V1: &str = "/api/public/v1";

/// One malformed request and the answer it must get.
pub(crate) struct Case {
    label: String,
    request: Vec<u8>,
    status: u16,
    code: &'static str,
}

/// The bytes of a request: `headers` as given (values may be any bytes), then the body.
pub(crate) fn request(
    method: &str,
    target: &str,
    headers: &[(&str, &[u8])],
    body: &[u8],
) -> Vec<u8> {
    let mut out =
        format!("{method} {target} HTTP/1.1\r\nhost: dialplane.test\r\nconnection: close\r\n")
            .into_bytes();
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// Builds the corpus for one key, with `a` an agent that exists (two versions).
pub(crate) struct Corpus<'a> {
    key: &'a [u8],
    cases: Vec<Case>,
}

impl Corpus<'_> {
    fn add(&mut self, label: String, request: Vec<u8>, status: u16, code: &'static str) {
        self.cases.push(Case {
            label,
            request,
            status,
            code,
        });
    }

    /// A request with the corpus's key and `headers`.
    fn keyed(
        &mut self,
        label: &str,
        method: &str,
        target: &str,
        headers: &[(&str, &[u8])],
        body: &[u8],
        (status, code): (u16, &'static str),
    ) {
        let mut all = vec![("x-api-key", self.key)];
        all.extend_from_slice(headers);
        let req = request(method, target, &all, body);
        self.add(format!("{method} {target}: {label}"), req, status, code);
    }
}

/// Everything stored that a client can see: each agent with its ETag and version history.
pub(crate) async fn snapshot(app: &TestApp) -> Value {
    let list = app.list_agents("pageSize=100").await;
    assert_eq!(list.status, 200, "{}", list.text);
    let mut agents = Vec::new();
    for agent in list.data().as_array().unwrap() {
        let id = agent["agentId"].as_str().unwrap();
        let got = app.get_agent(id).await;
        agents.push(json!({
            "agent": got.data(),
            "etag": got.etag(),
            "versions": app.version_numbers(id).await,
        }));
    }
    Value::Array(agents)
}

#[tokio::test]
pub(crate) async fn two_hundred_malformed_requests_across_every_route_get_their_4xx_and_change_nothing(
) {
    let app = TestApp::spawn().await;
    let a = app.create_named("Front desk").await;
    assert_eq!(
        app.patch_agent(&a, &json!({"tags": ["sales"]}))
            .await
            .status,
        200
    );
    app.create_named("Back office").await;
    let read_key = app.new_key("default", Scope::Read, "reader").await;
    let before = snapshot(&app).await;

    let agent = format!("{V1}/agents/{a}");
    let json_type: (&str, &[u8]) = ("content-type", b"application/json");
    let body_routes = [
        ("POST", format!("{V1}/agents")),
        ("POST", format!("{V1}/agents/create")),
        ("PATCH", agent.clone()),
        ("POST", format!("{agent}/duplicate")),
    ];
    let every_route = [
        ("POST", format!("{V1}/agents")),
        ("POST", format!("{V1}/agents/create")),
        ("GET", format!("{V1}/agents")),
        ("GET", agent.clone()),
        ("PATCH", agent.clone()),
        ("DELETE", agent.clone()),
        ("POST", format!("{agent}/duplicate")),
        ("GET", format!("{agent}/versions")),
        ("GET", format!("{agent}/versions/1")),
        ("GET", format!("{agent}/versions/1/diff")),
        ("POST", format!("{agent}/versions/1/restore")),
    ];
    let mut corpus = Corpus {
        key: app.key.as_bytes(),
        cases: Vec::new(),
    };

    // Bodies.
    for (method, target) in &body_routes {
        for (label, body) in broken_json() {
            corpus.keyed(
                label,
                method,
                target,
                &[json_type],
                &body,
                (400, "invalid_json"),
            );
        }
        if !target.ends_with("/duplicate") {
            // A duplicate's body is optional; everywhere else an empty body is not JSON.
            corpus.keyed(
                "no body",
                method,
                target,
                &[json_type],
                b"",
                (400, "invalid_json"),
            );
        }
        for (label, body) in invalid_documents() {
            corpus.keyed(
                label,
                method,
                target,
                &[json_type],
                &body,
                (400, "validation_error"),
            );
        }
        let huge = vec![b' '; 2 * 1024 * 1024];
        corpus.keyed(
            "a 2 MiB body",
            method,
            target,
            &[json_type],
            &huge,
            (413, "payload_too_large"),
        );
        for odd in ODD_TYPES {
            let label = format!("content-type {}", String::from_utf8_lossy(odd));
            let headers = [("content-type", *odd)];
            corpus.keyed(
                &label,
                method,
                target,
                &headers,
                br#"{"name": "Renamed"}"#,
                (415, "unsupported_media_type"),
            );
        }
        let body = br#"{"name": "Renamed"}"#;
        corpus.keyed(
            "no content-type",
            method,
            target,
            &[],
            body,
            (415, "unsupported_media_type"),
        );
    }
    let json_patch_type = ("content-type", b"application/json-patch+json".as_slice());
    for (label, ops) in broken_json_patches() {
        let body = ops.to_string().into_bytes();
        let expect = (400, "validation_error");
        corpus.keyed(label, "PATCH", &agent, &[json_patch_type], &body, expect);
    }
    let failing_test = json!([
        {"op": "test", "path": "/name", "value": "not it"},
        {"op": "replace", "path": "/name", "value": "x"},
    ]);
    let body = failing_test.to_string().into_bytes();
    corpus.keyed(
        "a failing test",
        "PATCH",
        &agent,
        &[json_patch_type],
        &body,
        (409, "conflict"),
    );
    corpus.keyed(
        "a JSON Patch body on create",
        "POST",
        &format!("{V1}/agents"),
        &[("content-type", b"application/json-patch+json")],
        b"[]",
        (415, "unsupported_media_type"),
    );

    // Keys.
    let unknown = ApiKey::generate().expose().to_owned();
    let bad_keys: [(&str, Option<&[u8]>); 5] = [
        ("no key", None),
        ("a malformed key", Some(b"nope")),
        ("an unknown key", Some(unknown.as_bytes())),
        ("a key with invalid bytes", Some(b"dp_\xff\xfe")),
        ("an empty key", Some(b"")),
    ];
    for (method, target) in &every_route {
        for (label, key) in &bad_keys {
            let mut headers = vec![json_type];
            if let Some(key) = key {
                headers.push(("x-api-key", key));
            }
            let body: &[u8] = if *method == "GET" || *method == "DELETE" {
                b""
            } else {
                br#"{"name": "x"}"#
            };
            let req = request(method, target, &headers, body);
            corpus.add(
                format!("{method} {target}: {label}"),
                req,
                401,
                "unauthorized",
            );
        }
        if *method != "GET" {
            let headers = [("x-api-key", read_key.as_bytes()), json_type];
            let req = request(method, target, &headers, br#"{"name": "x"}"#);
            corpus.add(
                format!("{method} {target}: a read key"),
                req,
                403,
                "forbidden",
            );
        }
    }

    // Paths.
    let id_routes: [(&str, &str); 8] = [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/duplicate"),
        ("GET", "/versions"),
        ("GET", "/versions/1"),
        ("GET", "/versions/1/diff"),
        ("POST", "/versions/1/restore"),
    ];
    let missing = dialplane_core::AgentId::generate().to_string();
    let long_id = "a".repeat(200);
    for (method, rest) in id_routes {
        let body: &[u8] = if method == "PATCH" {
            br#"{"name": "x"}"#
        } else {
            b""
        };
        let headers = [json_type];
        for bad in [
            "not-an-id",
            "%FF%FE",
            long_id.as_str(),
            "01937a8e-0000-7000-8000-00000000000g",
            "%00",
        ] {
            let target = format!("{V1}/agents/{bad}{rest}");
            corpus.keyed(
                "a malformed agent id",
                method,
                &target,
                &headers,
                body,
                (400, "invalid_parameter"),
            );
        }
        let target = format!("{V1}/agents/{missing}{rest}");
        corpus.keyed(
            "an unknown agent id",
            method,
            &target,
            &headers,
            body,
            (404, "not_found"),
        );
    }
    for rest in ["", "/diff", "/restore"] {
        let method = if rest == "/restore" { "POST" } else { "GET" };
        for bad in ["0", "-1", "abc", "1.5", "99999999999999999999999", "%FF"] {
            let target = format!("{agent}/versions/{bad}{rest}");
            corpus.keyed(
                "a malformed version",
                method,
                &target,
                &[],
                b"",
                (400, "invalid_parameter"),
            );
        }
        let target = format!("{agent}/versions/999{rest}");
        corpus.keyed(
            "a missing version",
            method,
            &target,
            &[],
            b"",
            (404, "not_found"),
        );
    }
    for target in [
        format!("{V1}/agent"),
        format!("{V1}/agents/{a}/nope"),
        format!("{V1}/agents/{a}/versions/1/nope"),
        "/api/public/v2/agents".to_owned(),
        format!("{V1}/"),
    ] {
        corpus.keyed(
            "an unknown route",
            "GET",
            &target,
            &[],
            b"",
            (404, "not_found"),
        );
    }
    for (method, target) in [
        ("PUT", agent.clone()),
        ("POST", agent.clone()),
        ("PATCH", format!("{V1}/agents")),
        ("DELETE", format!("{V1}/agents")),
        ("GET", format!("{V1}/agents/create")),
        ("PUT", format!("{agent}/versions")),
        ("DELETE", format!("{agent}/versions/1")),
        ("GET", format!("{agent}/versions/1/restore")),
        ("OPTIONS", format!("{V1}/agents")),
    ] {
        corpus.keyed(
            "a method the route lacks",
            method,
            &target,
            &[],
            b"",
            (405, "method_not_allowed"),
        );
    }

    // Query strings.
    for query in [
        "pageSize=0",
        "pageSize=-1",
        "pageSize=abc",
        "pageSize=1e9",
        "pageSize=101",
        "pageSize=1&pageSize=2",
        "sortBy=bogus",
        "sortDirection=up",
        "cursor=!!!",
        "cursor=%FF%FE",
        "bogus=1",
        "direction=sideways",
        "tag=",
        "%zz=1",
        "sortBy=created_at&cursor=yesterday",
    ] {
        let target = format!("{V1}/agents?{query}");
        corpus.keyed(
            "a bad list query",
            "GET",
            &target,
            &[],
            b"",
            (400, "invalid_parameter"),
        );
    }
    for query in ["pageSize=0", "pageSize=x", "cursor=nope", "bogus=1"] {
        let target = format!("{agent}/versions?{query}");
        corpus.keyed(
            "a bad versions query",
            "GET",
            &target,
            &[],
            b"",
            (400, "invalid_parameter"),
        );
    }
    for query in ["from=abc", "from=0", "bogus=1"] {
        let target = format!("{agent}/versions/1/diff?{query}");
        corpus.keyed(
            "a bad diff query",
            "GET",
            &target,
            &[],
            b"",
            (400, "invalid_parameter"),
        );
    }
    for (method, target) in &every_route {
        if *method == "GET" {
            continue;
        }
        let body: &[u8] = if target.ends_with("/restore") || *method == "DELETE" {
            b""
        } else {
            br#"{"name": "Renamed"}"#
        };
        for query in ["dryRun=maybe", "dryRun=1", "bogus=1"] {
            let target = format!("{target}?{query}");
            corpus.keyed(
                "a bad write query",
                method,
                &target,
                &[json_type],
                body,
                (400, "invalid_parameter"),
            );
        }
    }

    // Request headers.
    let too_long_key = "k".repeat(256);
    for (method, target) in [
        ("POST", format!("{V1}/agents")),
        ("POST", format!("{V1}/agents/create")),
        ("POST", format!("{agent}/duplicate")),
    ] {
        let body = br#"{"name": "Renamed"}"#;
        for (label, value) in [
            ("a 256-character Idempotency-Key", too_long_key.as_bytes()),
            ("an Idempotency-Key with spaces", b"a b".as_slice()),
            (
                "an Idempotency-Key with invalid bytes",
                b"\xff\xfe".as_slice(),
            ),
            ("an empty Idempotency-Key", b"".as_slice()),
        ] {
            let headers = [json_type, ("idempotency-key", value)];
            corpus.keyed(
                label,
                method,
                &target,
                &headers,
                body,
                (400, "invalid_parameter"),
            );
        }
    }
    // The agent is at revision 2, its ETag `"2"`: `"02"` and `"+2"` are other tags.
    for value in [
        b"nonsense".as_slice(),
        b"\"99\"",
        b"W/\"x\"",
        b"\xff",
        b"\"02\"",
        b"\"+2\"",
    ] {
        let headers = [json_type, ("if-match", value)];
        let label = format!("If-Match {}", String::from_utf8_lossy(value));
        corpus.keyed(
            &label,
            "PATCH",
            &agent,
            &headers,
            br#"{"name": "Renamed"}"#,
            (412, "precondition_failed"),
        );
        corpus.keyed(
            &label,
            "DELETE",
            &agent,
            &headers,
            b"",
            (412, "precondition_failed"),
        );
    }

    let cases = corpus.cases;
    assert!(cases.len() >= 200, "only {} cases", cases.len());
    let mut wrong = Vec::new();
    for case in &cases {
        match app.raw(&case.request).await {
            None => wrong.push(format!(
                "{}: the connection closed without an answer",
                case.label
            )),
            Some(answer) => {
                // An `invalid_parameter` names its parameter (decisions.md, Responses).
                let named = case.code != "invalid_parameter"
                    || answer.body["error"]["details"][0]["parameter"].is_string();
                let envelope = answer.body["success"] == json!(false)
                    && answer.body["error"]["requestId"].is_string()
                    && answer.header("x-request-id").is_some()
                    && named;
                if answer.status != case.status
                    || answer.body["error"]["code"] != json!(case.code)
                    || !envelope
                {
                    wrong.push(format!(
                        "{}: expected {} {}, got {} {}",
                        case.label, case.status, case.code, answer.status, answer.body
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} answers were wrong:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
    assert_eq!(
        snapshot(&app).await,
        before,
        "the corpus changed stored data"
    );
    assert_eq!(app.get("/readyz").await.status, 200, "still serving");
}

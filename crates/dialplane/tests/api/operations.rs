//! Operations: request ids on every answer, panics turned into `internal`, and the health endpoints.

use crate::support::*;
use dialplane_core::AgentId;
use reqwest::Method;
use serde_json::json;

const AGENTS: &str = "/api/public/v1/agents";

fn agent_path(id: &str) -> String {
    format!("{AGENTS}/{id}")
}

#[tokio::test]
async fn a_panicking_handler_is_internal_without_the_panic_text_and_the_server_keeps_serving() {
    let boom = axum::Router::new().route(
        "/boom",
        axum::routing::get(|| async {
            panic!("secret-connection-string-xyzzy");
            #[allow(unreachable_code)]
            "unreachable"
        }),
    );
    let app = TestApp::spawn_with(TestOptions {
        extra_routes: Some(boom),
        ..TestOptions::default()
    })
    .await;
    for _ in 0..2 {
        let r = app.send(Method::GET, "/boom", None, &[], None).await;
        r.assert_error(500, "internal");
        assert!(!r.text.contains("xyzzy"), "panic text leaked: {}", r.text);
        assert!(!r.text.contains("panick"), "panic leaked: {}", r.text);
        let health = app.send(Method::GET, "/healthz", None, &[], None).await;
        assert_eq!(health.status, 200, "still serving: {}", health.text);
        let id = app.create_named("After the panic").await;
        assert_eq!(app.get_agent(&id).await.status, 200);
    }
}

#[tokio::test]
async fn a_sane_client_request_id_is_echoed_on_success_and_error() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Front desk").await;
    let missing = agent_path(&AgentId::generate().to_string());
    let cases = [
        ("GET /healthz", Method::GET, "/healthz".to_owned(), 200),
        ("GET agent", Method::GET, agent_path(&id), 200),
        ("GET list", Method::GET, AGENTS.to_owned(), 200),
        ("GET unknown agent", Method::GET, missing, 404),
        ("GET unknown route", Method::GET, "/nope".to_owned(), 404),
        ("PUT agent", Method::PUT, agent_path(&id), 405),
    ];
    for (label, method, path, status) in cases {
        for sent in ["abc-123", "01JD7X8Y9Z", "req_2024.11:a/b+c="] {
            let r = app
                .send(
                    method.clone(),
                    &path,
                    Some(&app.key),
                    &[("x-request-id", sent)],
                    None,
                )
                .await;
            assert_eq!(r.status.as_u16(), status, "{label}: {}", r.text);
            assert_eq!(
                r.header("x-request-id"),
                Some(sent),
                "{label} echoes {sent:?}"
            );
            if status >= 400 {
                r.assert_error(status, r.error_code());
                assert_eq!(r.body["error"]["requestId"], sent, "{label}: {}", r.text);
            }
        }
    }
}

#[tokio::test]
async fn an_absent_or_insane_request_id_is_replaced_by_a_fresh_one_each_time() {
    let app = TestApp::spawn().await;
    let too_long = "a".repeat(300);
    let sent: [Option<&str>; 4] = [None, Some(&too_long), Some("has spaces"), Some("")];
    for path in ["/healthz", "/nope"] {
        for value in sent {
            let headers: Vec<(&str, &str)> =
                value.map(|v| ("x-request-id", v)).into_iter().collect();
            let first = app.send(Method::GET, path, None, &headers, None).await;
            let second = app.send(Method::GET, path, None, &headers, None).await;
            let a = first.header("x-request-id").unwrap_or("");
            let b = second.header("x-request-id").unwrap_or("");
            assert!(
                !a.is_empty() && !b.is_empty(),
                "{path} {value:?}: an id is generated"
            );
            assert_ne!(Some(a), value, "{path}: {value:?} is not echoed");
            assert_ne!(a, b, "{path} {value:?}: a fresh id per request");
            if path == "/nope" {
                first.assert_error(404, "not_found");
            }
        }
    }
}

#[tokio::test]
async fn healthz_and_readyz_answer_without_a_key() {
    let app = TestApp::spawn().await;
    let r = app.send(Method::GET, "/healthz", None, &[], None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({"status": "ok"}));
    let r = app.send(Method::GET, "/readyz", None, &[], None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({"status": "ready"}));
}

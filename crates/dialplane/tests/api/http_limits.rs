//! Slow and oversized clients: header and body read deadlines, header size limits.

use crate::support::{minimal_agent, read_raw_response, TestApp, TestOptions};
use dialplane_server::HttpOptions;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const AGENTS: &str = "/api/public/v1/agents";

async fn app_with(http: HttpOptions) -> TestApp {
    TestApp::spawn_with(TestOptions {
        http,
        ..TestOptions::default()
    })
    .await
}

fn short_timeouts() -> HttpOptions {
    HttpOptions {
        header_read_timeout: Duration::from_millis(300),
        body_read_timeout: Duration::from_millis(300),
        ..HttpOptions::default()
    }
}

/// Waits until the server closes `conn`, at most `within`; answers whether it did and what it sent.
async fn closed_within(conn: &mut TcpStream, within: Duration) -> (bool, Vec<u8>) {
    let mut got = Vec::new();
    let read = tokio::time::timeout(within, conn.read_to_end(&mut got)).await;
    (read.is_ok(), got)
}

#[tokio::test]
async fn a_request_head_that_never_finishes_is_cut_off_after_the_header_timeout() {
    let app = app_with(short_timeouts()).await;
    let mut conn = TcpStream::connect(app.addr).await.unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let (closed, _) = closed_within(&mut conn, Duration::from_secs(5)).await;
    assert!(closed, "the server still holds a half-sent head after 5 s");
    assert!(started.elapsed() >= Duration::from_millis(200));
    // Everyone else is still served.
    assert_eq!(app.get("/healthz").await.status, 200);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let app = app_with(short_timeouts()).await;
    let mut conn = TcpStream::connect(app.addr).await.unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_raw_response(&mut conn).await.expect("an answer");
    assert_eq!(answer.status, 200);
    let (closed, rest) = closed_within(&mut conn, Duration::from_secs(5)).await;
    assert!(closed, "an idle connection is kept beyond the timeout");
    assert!(rest.is_empty());
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_408_in_the_envelope() {
    let app = app_with(short_timeouts()).await;
    let body = minimal_agent("Slow").to_string();
    let mut conn = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST {AGENTS} HTTP/1.1\r\nHost: x\r\nx-api-key: {}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{}",
        app.key,
        body.len(),
        &body[..10]
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), read_raw_response(&mut conn))
        .await
        .expect("an answer before 5 s")
        .expect("an answer, not a bare close");
    answer.assert_error(408, "request_timeout");
    let (closed, _) = closed_within(&mut conn, Duration::from_secs(5)).await;
    assert!(closed, "the connection is closed after a 408");
    assert_eq!(
        app.list_agents("").await.data().as_array().unwrap().len(),
        0
    );
}

#[tokio::test]
async fn a_body_sent_in_pieces_within_the_deadline_is_accepted() {
    let app = app_with(HttpOptions {
        body_read_timeout: Duration::from_secs(5),
        ..HttpOptions::default()
    })
    .await;
    let body = minimal_agent("Chunky").to_string();
    let mut conn = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST {AGENTS} HTTP/1.1\r\nHost: x\r\nx-api-key: {}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        app.key,
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    for piece in body.as_bytes().chunks(body.len() / 4 + 1) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        conn.write_all(piece).await.unwrap();
    }
    let answer = read_raw_response(&mut conn).await.expect("an answer");
    assert_eq!(answer.status, 201, "{answer:?}");
}

#[tokio::test]
async fn headers_over_the_limit_are_431_in_the_envelope_and_far_over_it_are_refused_by_the_parser()
{
    let app = app_with(HttpOptions {
        max_header_bytes: 4096,
        ..HttpOptions::default()
    })
    .await;
    let request = |filler: usize| {
        format!(
            "GET {AGENTS} HTTP/1.1\r\nHost: x\r\nx-api-key: {}\r\nx-filler: {}\r\nconnection: close\r\n\r\n",
            app.key,
            "a".repeat(filler)
        )
    };
    let fits = app.raw(request(3000).as_bytes()).await.expect("an answer");
    assert_eq!(fits.status, 200, "{fits:?}");
    let over = app.raw(request(5000).as_bytes()).await.expect("an answer");
    over.assert_error(431, "headers_too_large");
    // Four times the limit and more never reaches our code: the parser answers a bare 431 (or just
    // closes) rather than buffer it.
    if let Some(far) = app.raw(request(40_000).as_bytes()).await {
        assert_eq!(far.status, 431, "{far:?}");
    }
    // The request line counts too.
    let long_uri = format!(
        "GET {AGENTS}?cursor={} HTTP/1.1\r\nHost: x\r\nx-api-key: {}\r\nconnection: close\r\n\r\n",
        "c".repeat(5000),
        app.key
    );
    app.raw(long_uri.as_bytes())
        .await
        .expect("an answer")
        .assert_error(431, "headers_too_large");
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413_without_reading_it_all() {
    let app = app_with(HttpOptions {
        max_body_bytes: 1024,
        ..HttpOptions::default()
    })
    .await;
    let mut request = format!(
        "POST {AGENTS} HTTP/1.1\r\nHost: x\r\nx-api-key: {}\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\n\r\n",
        app.key
    );
    for _ in 0..4 {
        request.push_str(&format!("200\r\n{}\r\n", " ".repeat(0x200)));
    }
    // No final chunk: the server must answer once it has seen more than the limit.
    let answer = app.raw(request.as_bytes()).await.expect("an answer");
    answer.assert_error(413, "payload_too_large");
}

/// Routes beside the API: one whose bodies have a limit of their own, and pages that keep their own
/// error bodies (a console's), beside one that answers a bare error status.
fn extra_routes() -> axum::Router<dialplane_server::AppState> {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::{get, post};
    use dialplane_server::extract::BodyBytes;
    axum::Router::new()
        .route(
            "/upload",
            post(|BodyBytes(bytes): BodyBytes| async move { bytes.len().to_string() })
                .route_layer(dialplane_server::limits::body_limit(10)),
        )
        .route(
            "/page",
            get(|| async {
                let mut page = (
                    StatusCode::NOT_FOUND,
                    [(header::CONTENT_TYPE, "text/html")],
                    "<h1>Not here</h1>",
                )
                    .into_response();
                page.extensions_mut()
                    .insert(dialplane_server::observe::OwnBody);
                page
            }),
        )
        .route("/bare", get(|| async { StatusCode::NOT_FOUND }))
}

#[tokio::test]
async fn a_route_can_have_a_body_limit_of_its_own() {
    let app = TestApp::spawn_with(TestOptions {
        extra_routes: Some(extra_routes()),
        ..TestOptions::default()
    })
    .await;
    let send = |body: &'static [u8]| {
        app.send(
            reqwest::Method::POST,
            "/upload",
            None,
            &[("content-type", "application/octet-stream")],
            Some(body.to_vec()),
        )
    };
    let fits = send(b"0123456789").await;
    assert_eq!((fits.status.as_u16(), fits.text.as_str()), (200, "10"));
    send(b"0123456789+")
        .await
        .assert_error(413, "payload_too_large");
    // The API's own limit is untouched: a create of more than ten bytes is fine.
    assert_eq!(app.create_agent(&minimal_agent("Big")).await.status, 201);
}

#[tokio::test]
async fn a_route_outside_the_envelope_keeps_its_own_error_body() {
    let app = TestApp::spawn_with(TestOptions {
        extra_routes: Some(extra_routes()),
        ..TestOptions::default()
    })
    .await;
    let page = app
        .send(reqwest::Method::GET, "/page", None, &[], None)
        .await;
    assert_eq!(page.status, 404);
    assert_eq!(page.text, "<h1>Not here</h1>");
    assert_eq!(page.header("content-type"), Some("text/html"));
    assert!(page.header("x-request-id").is_some(), "still observed");
    let bare = app
        .send(reqwest::Method::GET, "/bare", None, &[], None)
        .await;
    bare.assert_error(404, "not_found");
}

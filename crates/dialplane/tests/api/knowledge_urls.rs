//! URL documents against a real local HTTP server: pages of each kind, redirects, failures, the
//! SSRF guard (literal addresses refused at creation, resolved addresses refused at every hop,
//! through a resolver the test controls: nothing connects beyond loopback), refresh, and a fetch
//! a stop cut short taken up at the next start.

use crate::support::*;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use dialplane_extract::fixtures;
use dialplane_server::net::fetch::{FetchLimits, Lookup};
use dialplane_server::net::AddressPolicy;
use dialplane_server::resources::knowledge_base::KnowledgeOptions;
use reqwest::Method;
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A local web server with a page of each kind.
async fn receiver() -> SocketAddr {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let first_slow = Arc::new(AtomicUsize::new(0));
    let router = axum::Router::new()
        .route("/page.html", get(|| async {
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")],
             "<html><head><script>var hidden = 1;</script></head><body><h1>Parking</h1><p>Park behind the building &amp; ring.</p></body></html>")
        }))
        .route("/plain.txt", get(|| async { ([(header::CONTENT_TYPE, "text/plain")], "Plain opening hours.") }))
        .route("/doc.pdf", get(|| async {
            ([(header::CONTENT_TYPE, "application/pdf")], fixtures::pdf(&["Refunds within 30 days."]))
        }))
        .route("/image.png", get(|| async { ([(header::CONTENT_TYPE, "image/png")], b"\x89PNG\r\n\x1a\n".to_vec()) }))
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route("/r1", get(|| async { Redirect::to("/r2") }))
        .route("/r2", get(|| async { Redirect::permanent("/page.html") }))
        .route("/loop/{n}", get(|n: axum::extract::Path<u32>| async move { Redirect::to(&format!("/loop/{}", n.0 + 1)) }))
        .route("/slow", get(|| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            "late"
        }))
        .route("/endless", get(|| async {
            let chunk = axum::body::Bytes::from(vec![b'x'; 16 * 1024]);
            let stream = futures::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
            ([(header::CONTENT_TYPE, "text/plain")], axum::body::Body::from_stream(stream)).into_response()
        }))
        .route("/counter", get(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            async move { ([(header::CONTENT_TYPE, "text/plain")], format!("Edition number {n}.")) }
        }))
        .route("/first-slow", get(move || {
            let n = first_slow.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
                ([(header::CONTENT_TYPE, "text/plain")], "Fetched after the restart.").into_response()
            }
        }))
        .route("/to-other-loopback", get(|headers: axum::http::HeaderMap| async move {
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
            let port = host.rsplit(':').next().unwrap_or("80").to_owned();
            Redirect::to(&format!("http://127.0.0.2:{port}/page.html"))
        }))
        .route("/to-intranet", get(|| async { Redirect::to("http://intranet.test/page.html") }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// Names the test resolves itself: `intranet.test` is a private address, `local.test` loopback.
struct TestLookup;

impl Lookup for TestLookup {
    fn lookup(
        &self,
        host: &str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>
    {
        let found: Vec<IpAddr> = match host {
            "intranet.test" => vec!["10.1.2.3".parse().unwrap()],
            "local.test" => vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
            _ => Vec::new(),
        };
        Box::pin(async move { Ok(found) })
    }
}

fn fetching(policy: AddressPolicy) -> TestOptions {
    TestOptions {
        knowledge: KnowledgeOptions::default().fetching(
            policy,
            Arc::new(TestLookup),
            FetchLimits {
                timeout: Duration::from_secs(2),
                max_bytes: 256 << 10,
                max_redirects: 5,
            },
        ),
        ..TestOptions::default()
    }
}

async fn url_document(app: &TestApp, url: &str) -> Resp {
    app.json(
        Method::POST,
        &format!("{DOCUMENTS}/url"),
        &app.key,
        &json!({"url": url, "name": "Page"}),
    )
    .await
}

/// The document once its fetch has ended.
async fn fetched(app: &TestApp, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = app.get(&format!("{DOCUMENTS}/{id}")).await;
        if r.data()["status"] != "processing" {
            return r.data().clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still processing: {}",
            r.text
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn fetch(app: &TestApp, url: &str) -> Value {
    let r = url_document(app, url).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.data()["status"], "processing");
    assert_eq!(r.data()["type"], "url");
    assert_eq!(r.data()["details"], json!({"url": url}));
    fetched(app, r.data()["documentId"].as_str().unwrap()).await
}

#[tokio::test]
async fn pages_of_each_kind_become_searchable_text() {
    let web = receiver().await;
    let app = TestApp::spawn_with(fetching(AddressPolicy::Any)).await;
    let page = fetch(&app, &format!("http://{web}/page.html")).await;
    assert_eq!(page["status"], "ready", "{page}");
    let id = page["documentId"].as_str().unwrap();
    let text = app.get(&format!("{DOCUMENTS}/{id}/text")).await.text;
    assert_eq!(text, "Parking\nPark behind the building & ring.");
    let content = app.get(&format!("{DOCUMENTS}/{id}/content")).await;
    assert_eq!(content.header("content-type"), Some("text/html"));
    assert!(
        content.text.contains("<script>"),
        "the original bytes are kept"
    );
    assert_eq!(page["textChars"], text.chars().count());
    for (path, expected) in [
        ("/plain.txt", "Plain opening hours."),
        ("/doc.pdf", "Refunds within 30 days."),
        ("/r1", "Parking"),
    ] {
        let document = fetch(&app, &format!("http://{web}{path}")).await;
        assert_eq!(document["status"], "ready", "{path}: {document}");
        let id = document["documentId"].as_str().unwrap();
        let text = app.get(&format!("{DOCUMENTS}/{id}/text")).await.text;
        assert!(text.contains(expected), "{path}: {text:?}");
    }
    let hits = app
        .get("/api/public/v1/knowledge-base/search?q=ring%20building")
        .await;
    assert_eq!(hits.data()[0]["documentId"], page["documentId"]);
}

#[tokio::test]
async fn a_page_that_cannot_be_had_fails_with_the_reason() {
    let web = receiver().await;
    let app = TestApp::spawn_with(fetching(AddressPolicy::Any)).await;
    for (path, reason) in [
        ("/missing", "404"),
        ("/image.png", "image/png"),
        ("/loop/0", "more than 5 redirects"),
        ("/slow", "longer than 2 s"),
        ("/endless", "over 262144 bytes"),
    ] {
        let document = fetch(&app, &format!("http://{web}{path}")).await;
        assert_eq!(document["status"], "failed", "{path}: {document}");
        let message = document["statusMessage"].as_str().unwrap();
        assert!(message.contains(reason), "{path}: {message}");
        let id = document["documentId"].as_str().unwrap();
        app.get(&format!("{DOCUMENTS}/{id}/text"))
            .await
            .assert_error(409, "conflict");
    }
}

#[tokio::test]
async fn without_the_flag_no_hop_may_reach_a_private_or_loopback_address() {
    let web = receiver().await;
    let app = TestApp::spawn_with(fetching(AddressPolicy::GlobalOnly)).await;
    // A literal address is refused at creation.
    for url in [
        format!("http://{web}/page.html"),
        "http://[::1]/".to_owned(),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "http://[::ffff:10.0.0.1]/".to_owned(),
        "http://0.0.0.0/".to_owned(),
    ] {
        let r = url_document(&app, &url).await;
        r.assert_details(400, "validation_error", &[("/url", "invalid_format")]);
    }
    // A name is checked where it resolves: refused without connecting.
    for host in ["intranet.test", "local.test", "unknown.test"] {
        let document = fetch(&app, &format!("http://{host}/page.html")).await;
        assert_eq!(document["status"], "failed", "{document}");
        let message = document["statusMessage"].as_str().unwrap();
        assert!(
            message.contains(&format!("the host {host} resolves to no public address")),
            "{message}"
        );
    }
    assert_eq!(
        app.get(DOCUMENTS).await.data().as_array().unwrap().len(),
        3,
        "the refused creates stored nothing"
    );
    // With --allow-private-urls the same page is fetched.
    let open = TestApp::spawn_with(fetching(AddressPolicy::Any)).await;
    let document = fetch(&open, &format!("http://{web}/page.html")).await;
    assert_eq!(document["status"], "ready");
}

#[tokio::test]
async fn each_redirect_hop_is_checked_again() {
    let web = receiver().await;
    // 127.0.0.1 (the receiver) stands for a public address here; every other address is private.
    let receiver_only: IpAddr = "127.0.0.1".parse().unwrap();
    let app = TestApp::spawn_with(fetching(AddressPolicy::Custom(Arc::new(move |ip| {
        ip == receiver_only
    }))))
    .await;
    let document = fetch(&app, &format!("http://{web}/page.html")).await;
    assert_eq!(
        document["status"], "ready",
        "the first hop is allowed: {document}"
    );
    let document = fetch(&app, &format!("http://{web}/to-other-loopback")).await;
    assert_eq!(document["status"], "failed");
    assert!(document["statusMessage"]
        .as_str()
        .unwrap()
        .contains("127.0.0.2 is not a public address"));
    let document = fetch(&app, &format!("http://{web}/to-intranet")).await;
    assert_eq!(document["status"], "failed");
    assert!(document["statusMessage"]
        .as_str()
        .unwrap()
        .contains("intranet.test resolves to no public address (10.1.2.3)"));
}

#[tokio::test]
async fn a_url_must_be_http_or_https_without_credentials_and_not_too_long() {
    let app = TestApp::spawn_with(fetching(AddressPolicy::Any)).await;
    let long = format!("http://example.test/{}", "a".repeat(2100));
    for url in [
        "ftp://files.test/a.txt",
        "http://user:secret@site.test/",
        "not a url",
        "file:///etc/passwd",
        long.as_str(),
    ] {
        url_document(&app, url).await.assert_details(
            400,
            "validation_error",
            &[("/url", "invalid_format")],
        );
    }
    let r = app
        .json(
            Method::POST,
            &format!("{DOCUMENTS}/url"),
            &app.key,
            &json!({"url": 7, "extra": 1}),
        )
        .await;
    r.assert_details(
        400,
        "validation_error",
        &[
            ("/url", "invalid_type"),
            ("/name", "required"),
            ("/extra", "unknown_field"),
        ],
    );
}

#[tokio::test]
async fn refresh_fetches_the_page_again() {
    let web = receiver().await;
    let app = TestApp::spawn_with(fetching(AddressPolicy::Any)).await;
    let document = fetch(&app, &format!("http://{web}/counter")).await;
    let id = document["documentId"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get(&format!("{DOCUMENTS}/{id}/text")).await.text,
        "Edition number 1."
    );
    let r = app
        .post_empty(&format!("{DOCUMENTS}/{id}/refresh"), &[])
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.data()["status"], "processing");
    assert_eq!(fetched(&app, &id).await["status"], "ready");
    assert_eq!(
        app.get(&format!("{DOCUMENTS}/{id}/text")).await.text,
        "Edition number 2."
    );
    let search = app
        .get("/api/public/v1/knowledge-base/search?q=edition")
        .await;
    assert_eq!(
        search.data().as_array().unwrap().len(),
        1,
        "the old passages are gone"
    );
    // A file document has nothing to fetch; a fetch under way is not started twice.
    let file = app.text_document("File", "Text.").await;
    app.post_empty(&format!("{DOCUMENTS}/{file}/refresh"), &[])
        .await
        .assert_error(409, "conflict");
    let slow = url_document(&app, &format!("http://{web}/slow")).await;
    let slow = slow.data()["documentId"].as_str().unwrap();
    app.post_empty(&format!("{DOCUMENTS}/{slow}/refresh"), &[])
        .await
        .assert_error(409, "conflict");
}

#[tokio::test]
async fn a_fetch_a_stop_cut_short_is_taken_up_at_the_next_start() {
    let web = receiver().await;
    let db = Arc::new(TestDb::new().await);
    let mut app = TestApp::start_on(fetching(AddressPolicy::Any), db.clone(), &db.url).await;
    app.key = app
        .new_key("default", dialplane_core::Scope::Write, "alice")
        .await;
    let r = url_document(&app, &format!("http://{web}/first-slow")).await;
    let id = r.data()["documentId"].as_str().unwrap().to_owned();
    let key = app.key.clone();
    app.stop().await;
    let mut app = TestApp::start_on(fetching(AddressPolicy::Any), db.clone(), &db.url).await;
    app.key = key;
    let document = fetched(&app, &id).await;
    assert_eq!(document["status"], "ready", "{document}");
    assert_eq!(
        app.get(&format!("{DOCUMENTS}/{id}/text")).await.text,
        "Fetched after the restart."
    );
}

#[tokio::test]
async fn metrics_count_documents_bytes_extractions_and_fetch_outcomes() {
    let app = TestApp::spawn_with(fetching(AddressPolicy::GlobalOnly)).await;
    let pdf = fixtures::pdf(&["Counted."]);
    let r = app
        .upload(&[
            field("groupName", "M"),
            file("a.pdf", &pdf),
            file("scan.pdf", &fixtures::pdf_without_text()),
        ])
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    fetch(&app, "http://intranet.test/page.html").await;
    let metrics = crate::rate_limit::scrape(&app).await;
    let value = |name: &str| crate::rate_limit::metric_value(&metrics, name);
    assert_eq!(
        value(r#"dialplane_kb_documents_stored_total{kind="file",status="ready"}"#),
        1.0,
        "{metrics}"
    );
    assert_eq!(
        value(r#"dialplane_kb_documents_stored_total{kind="file",status="failed"}"#),
        1.0
    );
    assert_eq!(
        value(r#"dialplane_kb_documents_stored_total{kind="url",status="failed"}"#),
        1.0
    );
    let bytes = (pdf.len() + fixtures::pdf_without_text().len()) as f64;
    assert_eq!(value("dialplane_kb_stored_bytes_total"), bytes);
    assert_eq!(
        value(r#"dialplane_kb_extraction_duration_seconds_count{file_type="pdf",outcome="ok"}"#),
        1.0
    );
    assert_eq!(
        value(
            r#"dialplane_kb_extraction_duration_seconds_count{file_type="pdf",outcome="failed"}"#
        ),
        1.0
    );
    assert_eq!(
        value(r#"dialplane_kb_url_fetches_total{outcome="refused"}"#),
        1.0
    );
}

/// A local server whose page answers 200 once, then 500; and a Latin-1 page with entities.
async fn flaky_receiver() -> SocketAddr {
    let hits = Arc::new(AtomicUsize::new(0));
    let router = axum::Router::new()
        .route(
            "/flaky",
            get(move || {
                let n = hits.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 0 {
                        ([(header::CONTENT_TYPE, "text/plain")], "Good content.").into_response()
                    } else {
                        StatusCode::INTERNAL_SERVER_ERROR.into_response()
                    }
                }
            }),
        )
        .route(
            "/latin1.html",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/html; charset=iso-8859-1")],
                    b"<p>caf\xe9 cr&egrave;me</p><table><tr><td>one</td><td>two</td></tr></table>"
                        .to_vec(),
                )
            }),
        )
        .route(
            "/data.json",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    r#"{"hours": "nine to five"}"#,
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

#[tokio::test]
async fn a_page_is_read_in_its_charset_with_its_entities_and_a_failed_refresh_keeps_the_bytes() {
    let web = flaky_receiver().await;
    let app = TestApp::spawn_with(fetching(AddressPolicy::Any)).await;
    let page = fetch(&app, &format!("http://{web}/latin1.html")).await;
    let id = page["documentId"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("{DOCUMENTS}/{id}/text")).await.text,
        "caf\u{e9} cr\u{e8}me\none two"
    );
    let json_page = fetch(&app, &format!("http://{web}/data.json")).await;
    assert_eq!(json_page["status"], "ready", "{json_page}");
    let search = app
        .get("/api/public/v1/knowledge-base/search?q=cr%C3%A8me")
        .await;
    assert_eq!(search.data()[0]["documentId"], page["documentId"]);
    // A refresh that fails leaves the document failed, without text to search, but its bytes stay.
    let flaky = fetch(&app, &format!("http://{web}/flaky")).await;
    let id = flaky["documentId"].as_str().unwrap().to_owned();
    let r = app
        .post_empty(&format!("{DOCUMENTS}/{id}/refresh"), &[])
        .await;
    assert_eq!(r.data()["textChars"], 0, "no text while processing");
    let failed = fetched(&app, &id).await;
    assert_eq!(failed["status"], "failed");
    assert!(failed["statusMessage"].as_str().unwrap().contains("500"));
    assert_eq!(
        app.get(&format!("{DOCUMENTS}/{id}/content")).await.text,
        "Good content."
    );
    assert_eq!(
        app.get("/api/public/v1/knowledge-base/search?q=good")
            .await
            .data(),
        &json!([])
    );
    // An empty URL is said so.
    let r = url_document(&app, "").await;
    r.assert_details(400, "validation_error", &[("/url", "invalid_format")]);
    assert!(r.text.contains("is empty"), "{}", r.text);
}

/// A resolver that counts the names it is asked for, and knows none.
struct CountingLookup(Arc<AtomicUsize>);

impl Lookup for CountingLookup {
    fn lookup(
        &self,
        _: &str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>
    {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(Vec::new()) })
    }
}

#[tokio::test]
async fn with_url_fetching_off_a_url_document_is_refused_without_resolving_its_host() {
    let asked = Arc::new(AtomicUsize::new(0));
    let app = TestApp::spawn_with(TestOptions {
        knowledge: KnowledgeOptions::default().fetching(
            AddressPolicy::Nothing,
            Arc::new(CountingLookup(asked.clone())),
            FetchLimits::default(),
        ),
        ..TestOptions::default()
    })
    .await;
    let r = url_document(&app, "https://docs.example.test/handbook").await;
    r.assert_details(400, "validation_error", &[("/url", "invalid_format")]);
    assert!(r.text.contains("fetches no URLs"), "{}", r.text);
    assert_eq!(asked.load(Ordering::SeqCst), 0, "no name was resolved");
    assert_eq!(app.get(DOCUMENTS).await.data(), &json!([]));
}

//! Rate limiting per API key: in-process, and shared through Redis across instances, failing open
//! when Redis goes away.

use crate::support::*;
use dialplane_core::Scope;
use dialplane_server::ratelimit::ManualClock;
use std::net::SocketAddr;
use std::sync::Arc;

/// The Redis the suite uses (`.ci/run` starts the local one if it is down).
fn redis_url() -> String {
    std::env::var("DIALPLANE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A clock standing at the first second of a minute: a test's requests all fall in one window,
/// however long it runs, until the test moves the clock.
fn start_of_a_minute() -> Arc<ManualClock> {
    let minute = 1_800_000_000 / 60 * 60;
    Arc::new(ManualClock::at(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(minute + 1),
    ))
}

fn limited(per_minute: u32, redis_url: Option<String>) -> TestOptions {
    limited_on(per_minute, redis_url, start_of_a_minute())
}

fn limited_on(per_minute: u32, redis_url: Option<String>, clock: Arc<ManualClock>) -> TestOptions {
    TestOptions {
        rate_limit_per_minute: per_minute,
        redis_url,
        clock: Some(clock),
        ..TestOptions::default()
    }
}

fn headers(r: &Resp) -> (u32, u32, u64) {
    let num = |name: &str| -> u64 {
        r.header(name)
            .unwrap_or_else(|| panic!("{name} missing: {:?}", r.headers))
            .parse()
            .unwrap()
    };
    (
        num("ratelimit-limit") as u32,
        num("ratelimit-remaining") as u32,
        num("ratelimit-reset"),
    )
}

#[tokio::test]
async fn without_a_limit_there_are_no_rate_limit_headers() {
    let app = TestApp::spawn().await;
    for _ in 0..5 {
        let r = app.list_agents("").await;
        assert_eq!(r.status, 200);
        assert!(r.header("ratelimit-limit").is_none());
    }
}

#[tokio::test]
async fn a_key_over_its_limit_gets_429_with_retry_after_and_others_are_unaffected() {
    let app = TestApp::spawn_with(limited(3, None)).await;
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let r = app.list_agents("").await;
        assert_eq!(r.status, 200, "{}", r.text);
        let (limit, left, reset) = headers(&r);
        assert_eq!(limit, 3);
        assert!((1..=60).contains(&reset), "reset {reset}");
        remaining.push(left);
    }
    assert_eq!(remaining, [2, 1, 0]);
    let over = app.create_agent(&minimal_agent("Too many")).await;
    over.assert_error(429, "rate_limited");
    let retry: u64 = over.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(headers(&over).1, 0);

    let other = app.new_key("default", Scope::Write, "bob").await;
    let r = app.list_agents_as(&other, "").await;
    assert_eq!(r.status, 200, "another key has its own budget");
    assert_eq!(headers(&r).1, 2);
    assert!(
        r.data().as_array().unwrap().is_empty(),
        "the refused create stored nothing"
    );
}

#[tokio::test]
async fn the_limit_starts_over_when_the_minute_turns() {
    let clock = start_of_a_minute();
    let app = TestApp::spawn_with(limited_on(2, None, clock.clone())).await;
    for left in [1, 0] {
        assert_eq!(headers(&app.list_agents("").await), (2, left, 59));
    }
    let over = app.list_agents("").await;
    over.assert_error(429, "rate_limited");
    assert_eq!(over.header("retry-after"), Some("59"));
    clock.advance(std::time::Duration::from_secs(30));
    let still = app.list_agents("").await;
    still.assert_error(429, "rate_limited");
    assert_eq!(still.header("retry-after"), Some("29"), "the same window");
    clock.advance(std::time::Duration::from_secs(29));
    assert_eq!(
        headers(&app.list_agents("").await),
        (2, 1, 60),
        "a new window"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_the_window_turns_with_the_clock_too() {
    let clock = start_of_a_minute();
    let app = TestApp::spawn_with(limited_on(1, Some(redis_url()), clock.clone())).await;
    assert_eq!(app.list_agents("").await.status, 200);
    app.list_agents("").await.assert_error(429, "rate_limited");
    clock.advance(std::time::Duration::from_secs(60));
    assert_eq!(headers(&app.list_agents("").await), (1, 0, 59));
}

#[tokio::test]
async fn errors_of_authenticated_requests_carry_the_headers_too() {
    let app = TestApp::spawn_with(limited(10, None)).await;
    let r = app.get_agent("not-an-id").await;
    r.assert_error(400, "invalid_parameter");
    assert_eq!(headers(&r).0, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_the_limit_holds_across_instances() {
    let a = TestApp::spawn_with(limited(4, Some(redis_url()))).await;
    let b = a.another_instance().await;
    for app in [&a, &b, &a, &b] {
        let r = app.list_agents("").await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = b.list_agents("").await;
    r.assert_error(429, "rate_limited");
    let r = a.list_agents("").await;
    r.assert_error(429, "rate_limited");
    assert_eq!(headers(&r), (4, 0, headers(&r).2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_redis_goes_away_requests_are_served_and_counted_as_failures() {
    let target: SocketAddr = {
        let url = url::Url::parse(&redis_url()).unwrap();
        format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(6379))
            .parse()
            .unwrap()
    };
    let proxy = Proxy::start(target).await;
    let app = TestApp::spawn_with(limited(2, Some(format!("redis://{}", proxy.addr)))).await;
    assert_eq!(headers(&app.list_agents("").await).1, 1, "Redis counts");

    proxy.cut();
    for _ in 0..4 {
        let r = app.list_agents("").await;
        assert_eq!(r.status, 200, "fail open: {}", r.text);
        assert!(
            r.header("ratelimit-limit").is_none(),
            "no decision without Redis"
        );
    }
    let metrics = scrape(&app).await;
    let failures = metric_value(&metrics, "dialplane_redis_failures_total");
    assert!(failures >= 4.0, "{failures}\n{metrics}");
    assert!(metrics.contains("decision=\"failed_open\""), "{metrics}");

    proxy.restore();
    // The limiter waits a moment before reconnecting; the first requests may still fail open.
    let mut limited_again = false;
    for _ in 0..200 {
        let r = app.list_agents("").await;
        if r.status == 429 {
            limited_again = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(limited_again, "limiting resumes when Redis is back");
}

/// `GET /metrics` of an instance.
pub async fn scrape(app: &TestApp) -> String {
    let r = app
        .client
        .get(format!("http://{}/metrics", app.metrics_addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// The value of the first sample whose line starts with `prefix`.
pub fn metric_value(metrics: &str, prefix: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {prefix} in\n{metrics}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_do_not_queue_behind_connecting_to_a_redis_that_never_answers() {
    // A Redis that accepts connections and never answers, as one behind a black hole or a hung
    // host: each try to connect takes the limiter's whole timeout (250 ms).
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let tries = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let held = tokio::spawn({
        let tries = tries.clone();
        async move {
            let mut conns = Vec::new();
            while let Ok((conn, _)) = silent.accept().await {
                tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                conns.push(conn);
            }
        }
    });
    let app = std::sync::Arc::new(
        TestApp::spawn_with(limited(100, Some(format!("redis://{addr}")))).await,
    );
    let requests: Vec<_> = (0..24)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                let r = app.list_agents("").await;
                assert_eq!(r.status, 200, "fail open: {}", r.text);
            })
        })
        .collect();
    for r in requests {
        r.await.unwrap();
    }
    // The requests that arrived while the first tried to connect fail open once it fails, instead of
    // each trying again in turn (24 tries, six seconds for the last of them).
    let tries = tries.load(std::sync::atomic::Ordering::SeqCst);
    assert!(tries <= 2, "{tries} connections to Redis for 24 requests");
    held.abort();
}

//! When PostgreSQL goes away the server answers 503 `unavailable` in the envelope, and when it comes
//! back the server recovers on its own, with no restart.

use crate::support::*;
use dialplane_store::StoreOptions;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set DIALPLANE_TEST_POSTGRES_URL and pass --include-ignored"]
async fn the_server_answers_503_while_postgres_is_down_and_recovers_when_it_returns() {
    let admin =
        postgres_url().expect("this test needs PostgreSQL: set DIALPLANE_TEST_POSTGRES_URL");
    let db = Arc::new(TestDb::new().await);
    let parsed = url::Url::parse(&admin).unwrap();
    let target: SocketAddr = format!(
        "{}:{}",
        parsed.host_str().unwrap(),
        parsed.port().unwrap_or(5432)
    )
    .parse()
    .unwrap();
    let proxy = Proxy::start(target).await;
    let mut through_proxy = url::Url::parse(&db.url).unwrap();
    through_proxy.set_host(Some("127.0.0.1")).unwrap();
    through_proxy.set_port(Some(proxy.addr.port())).unwrap();
    let options = TestOptions {
        store: StoreOptions {
            acquire_timeout: Duration::from_millis(500),
            ..StoreOptions::default()
        },
        ..TestOptions::default()
    };
    let mut app = TestApp::start_on(options, db, through_proxy.as_str()).await;
    app.key = app
        .new_key("default", dialplane_core::Scope::Write, "alice")
        .await;
    let id = app.create_named("Survivor").await;

    proxy.cut();
    for _ in 0..3 {
        app.get_agent(&id).await.assert_error(503, "unavailable");
    }
    app.create_agent(&minimal_agent("Lost"))
        .await
        .assert_error(503, "unavailable");
    let ready = app
        .send(reqwest::Method::GET, "/readyz", None, &[], None)
        .await;
    ready.assert_error(503, "unavailable");
    let health = app
        .send(reqwest::Method::GET, "/healthz", None, &[], None)
        .await;
    assert_eq!(health.status, 200, "the process itself is up");

    proxy.restore();
    let got = app.get_agent(&id).await;
    assert_eq!(got.status, 200, "recovered without a restart: {}", got.text);
    let ready = app
        .send(reqwest::Method::GET, "/readyz", None, &[], None)
        .await;
    assert_eq!(ready.status, 200);
    assert_eq!(app.create_agent(&minimal_agent("After")).await.status, 201);
    let names: Vec<String> = app
        .list_agents("sortBy=name&sortDirection=asc")
        .await
        .data()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        ["After", "Survivor"],
        "the refused create stored nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set DIALPLANE_TEST_POSTGRES_URL and pass --include-ignored"]
async fn a_row_lock_held_by_a_vanished_instance_costs_a_timeout_not_a_hang() {
    use sqlx::Connection;
    assert!(
        postgres_url().is_some(),
        "this test needs PostgreSQL: set DIALPLANE_TEST_POSTGRES_URL"
    );
    let options = TestOptions {
        store: StoreOptions {
            statement_timeout: Duration::from_millis(400),
            ..StoreOptions::default()
        },
        ..TestOptions::default()
    };
    let app = TestApp::spawn_with(options).await;
    let id = app.create_named("Locked").await;
    // Another instance's connection takes the agent's row lock and then goes silent, as one whose
    // machine lost its network mid-transaction: its PostgreSQL session stays until noticed (a
    // dialplane session is also ended after the same timeout idle in a transaction).
    let mut vanished = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut vanished).await.unwrap();
    sqlx::query("SELECT 1 FROM agents WHERE agent_id = $1 FOR UPDATE")
        .bind(&id)
        .execute(&mut vanished)
        .await
        .unwrap();

    // A PATCH of that agent waits for the lock no longer than the timeout, then answers 503.
    let patched = tokio::time::timeout(
        Duration::from_secs(20),
        app.patch_agent(&id, &serde_json::json!({"name": "Waited"})),
    )
    .await
    .expect("an answer, not a hang");
    patched.assert_error(503, "unavailable");
    // Other agents were never held up, and once the lock goes the agent is written again.
    let other = app.create_named("Unlocked").await;
    let patched = app
        .patch_agent(&other, &serde_json::json!({"name": "Free"}))
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    sqlx::query("ROLLBACK")
        .execute(&mut vanished)
        .await
        .unwrap();
    let patched = app
        .patch_agent(&id, &serde_json::json!({"name": "Free again"}))
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
}

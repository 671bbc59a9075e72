//! When PostgreSQL goes away the server answers 503 `unavailable` in the envelope, and when it comes
//! back the server recovers on its own, with no restart.

use crate::support::*;
use dialplane_store::StoreOptions;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// A server on a fresh PostgreSQL database reached through a [`Proxy`], with a write key; and the
/// database's own URL, not through the proxy.
async fn behind_a_proxy(store: StoreOptions) -> (TestApp, Proxy, String) {
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
    let direct = db.url.clone();
    let mut through_proxy = url::Url::parse(&db.url).unwrap();
    through_proxy.set_host(Some("127.0.0.1")).unwrap();
    through_proxy.set_port(Some(proxy.addr.port())).unwrap();
    let options = TestOptions {
        store,
        ..TestOptions::default()
    };
    let mut app = TestApp::start_on(options, db, through_proxy.as_str()).await;
    app.key = app
        .new_key("default", dialplane_core::Scope::Write, "alice")
        .await;
    (app, proxy, direct)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set DIALPLANE_TEST_POSTGRES_URL and pass --include-ignored"]
async fn the_server_answers_503_while_postgres_is_down_and_recovers_when_it_returns() {
    let (app, proxy, _) = behind_a_proxy(StoreOptions {
        acquire_timeout: Duration::from_millis(500),
        ..StoreOptions::default()
    })
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set DIALPLANE_TEST_POSTGRES_URL and pass --include-ignored"]
async fn a_partition_from_postgres_is_answered_503_within_the_deadline_not_waited_out() {
    // The deadline: the acquire timeout and two statement timeouts, 1.3 s.
    let (app, proxy, direct) = behind_a_proxy(StoreOptions {
        acquire_timeout: Duration::from_millis(500),
        statement_timeout: Duration::from_millis(400),
        ..StoreOptions::default()
    })
    .await;
    let id = app.create_named("Partitioned").await;

    // A PATCH is in flight when the partition begins: it waits for the agent's row lock, held by
    // another instance's connection (not through the proxy). PostgreSQL ends the wait at the lock
    // timeout, but its answer never arrives: with no reset and no answer, only a deadline of the
    // server's own ends the request; without one it would wait as long as the partition.
    use sqlx::Connection;
    let mut other = sqlx::PgConnection::connect(&direct).await.unwrap();
    sqlx::query("BEGIN").execute(&mut other).await.unwrap();
    sqlx::query("SELECT 1 FROM agents WHERE agent_id = $1 FOR UPDATE")
        .bind(&id)
        .execute(&mut other)
        .await
        .unwrap();
    let app = Arc::new(app);
    let in_flight = {
        let app = app.clone();
        let id = id.clone();
        tokio::spawn(async move {
            app.patch_agent(&id, &serde_json::json!({"name": "Maybe"}))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    proxy.freeze();
    let patched = tokio::time::timeout(Duration::from_secs(8), in_flight)
        .await
        .expect("an answer within the deadline, not a wait as long as the partition")
        .unwrap();
    patched.assert_error(503, "unavailable");
    // New requests are answered 503 too, readiness as well.
    let within = Duration::from_secs(8);
    let got = tokio::time::timeout(within, app.get_agent(&id))
        .await
        .expect("an answer");
    got.assert_error(503, "unavailable");
    let ready = tokio::time::timeout(
        within,
        app.send(reqwest::Method::GET, "/readyz", None, &[], None),
    )
    .await
    .expect("an answer");
    ready.assert_error(503, "unavailable");
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();

    // When the partition heals the server serves again, with no restart; the PATCH answered 503
    // may or may not have been stored (its answer was lost), and the agent is whole either way.
    proxy.thaw();
    let mut got = app.get_agent(&id).await;
    for _ in 0..50 {
        if got.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        got = app.get_agent(&id).await;
    }
    assert_eq!(got.status, 200, "recovered: {}", got.text);
    assert!(["Partitioned", "Maybe"].contains(&got.data()["name"].as_str().unwrap()));
    let patched = app
        .patch_agent(&id, &serde_json::json!({"name": "After"}))
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
}

//! The agent cache never answers what a finished write changed: GETs racing PATCHes, restores and
//! deletes always see every write acknowledged before they were sent.

use crate::support::*;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const ROUNDS: u64 = 150;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_after_an_acknowledged_write_sees_it_while_readers_race_the_writes() {
    let app = Arc::new(TestApp::spawn().await);
    let id = app.create_named("Racing").await;
    let stop = Arc::new(AtomicBool::new(false));
    // Readers keep the cache busy: they load the agent while writes are under way.
    let mut readers = Vec::new();
    for _ in 0..4 {
        let (app, id, stop) = (app.clone(), id.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                assert_eq!(app.get_agent(&id).await.status, 200);
            }
        }));
    }
    for round in 1..=ROUNDS {
        let name = format!("Racing {round}");
        let patched = app.patch_agent(&id, &json!({"name": name})).await;
        assert_eq!(patched.status, 200, "{}", patched.text);
        let got = app.get_agent(&id).await;
        assert_eq!(
            got.data()["name"],
            json!(name),
            "round {round}: a stale answer"
        );
        assert_eq!(got.etag(), format!("\"{}\"", round + 1));
    }

    // A restore and a delete are writes too.
    let restored = app
        .post_empty(&agent_path(&id, "/versions/1/restore"), &[])
        .await;
    assert_eq!(restored.status, 200, "{}", restored.text);
    assert_eq!(app.get_agent(&id).await.data()["name"], json!("Racing"));
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.await.unwrap();
    }
    assert_eq!(app.delete_agent(&id).await.status, 200);
    app.get_agent(&id).await.assert_error(404, "not_found");
}

#[tokio::test]
async fn a_cached_answer_is_the_same_bytes_and_etag_as_an_uncached_one() {
    let cached = TestApp::spawn().await;
    let id = cached.create_named("Same").await;
    let first = cached.get_agent(&id).await;
    let second = cached.get_agent(&id).await;
    assert_eq!(first.text, second.text);
    assert_eq!(first.etag(), second.etag());
    assert_eq!(second.header("content-type"), Some("application/json"));

    // Another workspace's key never gets the cached answer.
    let other = cached
        .new_key("elsewhere", dialplane_core::Scope::Write, "eve")
        .await;
    cached
        .get_agent_as(&other, &id)
        .await
        .assert_error(404, "not_found");
}

/// Sends `method` on `id` with `body` on a connection of its own, gives the server time to hand the
/// write to the store, and hangs up before the answer: hyper then drops the request's handler while
/// the write is still on its way.
async fn write_and_hang_up(app: &TestApp, method: &str, id: &str, body: &str) {
    use tokio::io::AsyncWriteExt;
    let request = format!(
        "{method} /api/public/v1/agents/{id} HTTP/1.1\r\nhost: test\r\nx-api-key: {}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        app.key,
        body.len()
    );
    let mut conn = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    conn.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    drop(conn);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
}

/// Holds SQLite's write lock from a connection of the test's own while `hang_up` runs, so the
/// server's writer waits at its next transaction until `hang_up` is over.
async fn with_the_writer_held(app: &TestApp, hang_up: impl std::future::Future<Output = ()>) {
    use sqlx::Connection;
    let mut holder = sqlx::SqliteConnection::connect(&app.db_url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .unwrap();
    hang_up.await;
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    holder.close().await.unwrap();
}

/// Waits until `done` holds, for 10 s at most.
async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let started = std::time::Instant::now();
    while !done().await {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{what}: not within 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_client_hung_up_still_clears_the_cached_answer() {
    let app = TestApp::spawn().await;
    if !app.db_url.starts_with("sqlite:") {
        return; // only the embedded backend caches agents
    }
    let id = app.create_named("Hung up").await;
    assert_eq!(app.get_agent(&id).await.etag(), "\"1\"", "cached now");
    let patch = write_and_hang_up(&app, "PATCH", &id, r#"{"name": "Renamed"}"#);
    with_the_writer_held(&app, patch).await;
    // The history is read from the store, never from the cache: the write goes through once the
    // writer gets the lock (SQLite's busy handler retries every few milliseconds).
    until("the PATCH is stored", async || {
        app.version_numbers(&id).await == [2, 1]
    })
    .await;
    let got = app.get_agent(&id).await;
    assert_eq!(got.etag(), "\"2\"", "a stale cached answer: {}", got.text);
    assert_eq!(got.data()["name"], json!("Renamed"));

    let delete = write_and_hang_up(&app, "DELETE", &id, "");
    with_the_writer_held(&app, delete).await;
    until("the DELETE is stored", async || {
        !app.list_agents("pageSize=100").await.text.contains(&id)
    })
    .await;
    app.get_agent(&id).await.assert_error(404, "not_found");
}

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

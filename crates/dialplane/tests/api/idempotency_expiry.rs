//! Idempotency keys are remembered for a limited time (24 hours by default), then forgotten and
//! cleaned up.

use crate::support::*;
use std::time::Duration;

async fn create_with_key(app: &TestApp, key: &str, name: &str) -> Resp {
    app.post_idempotent("/api/public/v1/agents", key, &minimal_agent(name))
        .await
}

#[tokio::test]
async fn an_expired_key_counts_as_unused() {
    let app = TestApp::spawn_with(TestOptions {
        idempotency_ttl: Some(Duration::ZERO),
        ..TestOptions::default()
    })
    .await;
    let first = create_with_key(&app, "k", "Same").await;
    let second = create_with_key(&app, "k", "Same").await;
    assert_eq!(second.status, 201, "{}", second.text);
    assert!(
        second.header("idempotent-replayed").is_none(),
        "not a replay"
    );
    assert_ne!(first.data()["agentId"], second.data()["agentId"]);
    let other_body = create_with_key(&app, "k", "Other").await;
    assert_eq!(
        other_body.status, 201,
        "an expired key may carry another body"
    );
    assert_eq!(
        app.list_agents("").await.data().as_array().unwrap().len(),
        3
    );
}

#[tokio::test]
async fn a_key_within_its_lifetime_still_replays() {
    let app = TestApp::spawn_with(TestOptions {
        idempotency_ttl: Some(Duration::from_secs(3600)),
        ..TestOptions::default()
    })
    .await;
    let first = create_with_key(&app, "k", "Same").await;
    let again = create_with_key(&app, "k", "Same").await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.data(), first.data());
}

#[tokio::test]
async fn purging_forgets_only_expired_keys() {
    let app = TestApp::spawn().await;
    create_with_key(&app, "old", "Old").await;
    let store = &app.store;
    let cutoff_in_the_past = dialplane_core::agent::timestamp_ago(Duration::from_secs(3600));
    assert_eq!(
        store
            .write(dialplane_store::PurgeIdempotencyKeys(
                cutoff_in_the_past.clone()
            ))
            .await
            .unwrap(),
        0
    );
    let replay = create_with_key(&app, "old", "Old").await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"), "kept");

    let now = dialplane_core::agent::timestamp_ago(Duration::ZERO);
    assert_eq!(
        store
            .write(dialplane_store::PurgeIdempotencyKeys(now))
            .await
            .unwrap(),
        1
    );
    let fresh = create_with_key(&app, "old", "Old").await;
    assert_eq!(fresh.status, 201);
    assert!(fresh.header("idempotent-replayed").is_none(), "forgotten");
}

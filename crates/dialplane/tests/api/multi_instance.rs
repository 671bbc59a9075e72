//! Several dialplane instances over one PostgreSQL database behave as one server.
//!
//! These tests need PostgreSQL: they are `#[ignore]`d (and say why) unless the suite runs with
//! `DIALPLANE_TEST_POSTGRES_URL` set and `--include-ignored`, as `.ci/run` does.

use crate::support::*;
use dialplane_core::Scope;
use futures::future::join_all;
use serde_json::json;

/// Three instances on one fresh PostgreSQL schema.
async fn three_instances() -> [TestApp; 3] {
    assert!(
        postgres_url().is_some(),
        "this test needs PostgreSQL: set {POSTGRES_URL_VAR}"
    );
    let a = TestApp::spawn().await;
    let b = a.another_instance().await;
    let c = a.another_instance().await;
    [a, b, c]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set DIALPLANE_TEST_POSTGRES_URL and pass --include-ignored"]
async fn concurrent_patches_through_three_instances_lose_nothing() {
    let apps = three_instances().await;
    let id = apps[0].create_named("Shared").await;
    let patches = (0..90).map(|i| {
        let app = &apps[i % 3];
        let id = id.clone();
        async move {
            let body = json!({"conversationConfig": {"agent": {"dynamicVariables": {format!("v{i}"): i}}}});
            app.patch_agent(&id, &body).await
        }
    });
    for r in join_all(patches).await {
        assert_eq!(r.status, 200, "{}", r.text);
    }
    for app in &apps {
        let got = app.get_agent(&id).await;
        let vars = got.data()["conversationConfig"]["agent"]["dynamicVariables"]
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(vars.len(), 90, "every instance sees every change");
        for i in 0..90 {
            assert_eq!(vars[&format!("v{i}")], json!(i));
        }
        assert_eq!(got.etag(), "\"91\"");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set DIALPLANE_TEST_POSTGRES_URL and pass --include-ignored"]
async fn if_match_holds_across_instances() {
    let apps = three_instances().await;
    let id = apps[0].create_named("Guarded").await;
    let etag = apps[0].get_agent(&id).await.etag();
    let changed = apps[1]
        .patch_agent_if(&id, &etag, &json!({"tags": ["b"]}))
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    let stale = apps[2]
        .patch_agent_if(&id, &etag, &json!({"tags": ["c"]}))
        .await;
    stale.assert_error(412, "precondition_failed");
    assert_eq!(apps[0].get_agent(&id).await.data()["tags"], json!(["b"]));

    // Many writers holding the same ETag race through all instances: exactly one wins.
    let etag = changed.etag();
    let racers = (0..12).map(|i| {
        let (app, id, etag) = (&apps[i % 3], id.clone(), etag.clone());
        async move {
            app.patch_agent_if(&id, &etag, &json!({"tags": [format!("t{i}")]}))
                .await
                .status
        }
    });
    let statuses = join_all(racers).await;
    assert_eq!(
        statuses.iter().filter(|s| s.as_u16() == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| s.as_u16() == 412).count(),
        11,
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set DIALPLANE_TEST_POSTGRES_URL and pass --include-ignored"]
async fn creates_and_deletes_are_seen_by_the_others_at_once_and_revocations_within_the_key_cache_time(
) {
    let apps = three_instances().await;
    let id = apps[0].create_named("Everywhere").await;
    assert_eq!(apps[1].get_agent(&id).await.status, 200);
    assert_eq!(
        apps[2]
            .list_agents("")
            .await
            .data()
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let deleted = apps[2].delete_agent(&id).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    apps[0].get_agent(&id).await.assert_error(404, "not_found");
    apps[1].get_agent(&id).await.assert_error(404, "not_found");

    let key = apps[0].new_key("default", Scope::Write, "bob").await;
    assert_eq!(apps[1].list_agents_as(&key, "").await.status, 200);
    let key_id = apps[0]
        .store
        .list_keys()
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.user.user_id == "bob")
        .unwrap()
        .key_id;
    assert!(apps[0]
        .store
        .write(dialplane_store::RevokeKey(key_id))
        .await
        .unwrap());
    // Every instance trusts a key it resolved for the key cache time (100 ms), no longer.
    for app in &apps[1..] {
        let took = until_refused(app, &key).await;
        assert!(took < std::time::Duration::from_millis(350), "{took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set DIALPLANE_TEST_POSTGRES_URL and pass --include-ignored"]
async fn one_idempotency_key_creates_one_agent_across_instances() {
    let apps = three_instances().await;
    let body = minimal_agent("Once").to_string().into_bytes();
    let creates = (0..9).map(|i| {
        let (app, body) = (&apps[i % 3], body.clone());
        async move {
            app.send(
                reqwest::Method::POST,
                "/api/public/v1/agents",
                Some(&app.key),
                &[("idempotency-key", "same-key")],
                Some(body),
            )
            .await
        }
    });
    let answers = join_all(creates).await;
    let ids: std::collections::HashSet<String> = answers
        .iter()
        .map(|r| {
            assert_eq!(r.status, 201, "{}", r.text);
            r.data()["agentId"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "one agent for one key: {ids:?}");
    assert_eq!(
        apps[1]
            .list_agents("")
            .await
            .data()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set DIALPLANE_TEST_POSTGRES_URL and pass --include-ignored"]
async fn agents_that_transfer_to_each_other_can_be_patched_at_once_without_deadlock_failures() {
    let apps = three_instances().await;
    let front = apps[0].create_named("Front").await;
    let sales = apps[0].create_named("Sales").await;
    let transfer_to = |id: &str| {
        json!({"conversationConfig": {"agent": {"prompt": {"builtInTools": {"transferToAgent": {
            "transfers": [{"agentId": id, "condition": "asks"}]}}}}}})
    };
    assert_eq!(
        apps[0]
            .patch_agent(&front, &transfer_to(&sales))
            .await
            .status,
        200
    );
    assert_eq!(
        apps[1]
            .patch_agent(&sales, &transfer_to(&front))
            .await
            .status,
        200
    );
    // Each PATCH keeps the transfer and changes one variable, so every write re-checks its target.
    let patches = (0..60).map(|i| {
        let app = &apps[i % 3];
        let (id, other) = if i % 2 == 0 {
            (&front, &sales)
        } else {
            (&sales, &front)
        };
        let mut body = transfer_to(other);
        body["conversationConfig"]["agent"]["dynamicVariables"] = json!({format!("v{i}"): i});
        async move { app.patch_agent(id, &body).await }
    });
    for r in join_all(patches).await {
        assert_eq!(r.status, 200, "{}", r.text);
    }
    for id in [&front, &sales] {
        let vars = apps[2].get_agent(id).await.data()["conversationConfig"]["agent"]
            ["dynamicVariables"]
            .as_object()
            .unwrap()
            .len();
        assert_eq!(vars, 30);
    }
}

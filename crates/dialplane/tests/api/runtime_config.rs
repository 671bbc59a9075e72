//! `GET /agents/{id}/runtime-config`: the agent resolved in one document for a voice runtime (its
//! documents, transfer targets and numbers; `dial` for `?to=`), past versions, `ETag` and `304`,
//! and never an answer older than a change: on one instance, and across instances on PostgreSQL.

use crate::support::*;
use dialplane_core::Scope;
use reqwest::Method;
use serde_json::{json, Value};

fn config_path(agent: &str, query: &str) -> String {
    agent_path(agent, &format!("/runtime-config{query}"))
}

impl TestApp {
    async fn config(&self, agent: &str, query: &str) -> Resp {
        let r = self.get(&config_path(agent, query)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r
    }

    /// `GET` with `If-None-Match: etag`: its status.
    async fn config_if_none_match(&self, agent: &str, query: &str, etag: &str) -> u16 {
        self.send(
            Method::GET,
            &config_path(agent, query),
            Some(&self.key),
            &[("if-none-match", etag)],
            None,
        )
        .await
        .status
        .as_u16()
    }

    async fn number_for(&self, agent: &str, number: &str) -> Value {
        let body =
            json!({"number": number, "provider": "twilio", "label": "Main", "agentId": agent});
        let r = self
            .json(
                Method::POST,
                "/api/public/v1/phone-numbers",
                &self.key,
                &body,
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.data().clone()
    }
}

#[tokio::test]
async fn a_runtime_gets_the_agent_resolved_with_its_documents_targets_and_numbers() {
    let app = TestApp::spawn().await;
    let document = app.text_document("Menu", "Pizza, pasta, tiramisu.").await;
    let desk = app.create_named("Desk").await;
    app.number_for(&desk, "+14155550100").await;
    let mut body = minimal_agent("Front");
    body["direction"] = json!("both");
    body["conversationConfig"]["agent"]["prompt"]["knowledgeBase"] = json!([document]);
    body["conversationConfig"]["agent"]["prompt"]["builtInTools"] = json!({
        "transferToAgent": {"transfers": [{"agentId": desk, "condition": "asks for a human"}]}
    });
    let r = app.create_agent(&body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let front = r.data()["agentId"].as_str().unwrap().to_owned();
    app.number_for(&front, "+14155550123").await;
    let agent = app.get_agent(&front).await;
    let runtime = app.new_key("default", Scope::Runtime, "runtime").await;
    let r = app
        .send(
            Method::GET,
            &config_path(&front, ""),
            Some(&runtime),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = r.data();
    assert_eq!(c["agentId"], front.as_str());
    assert_eq!(c["agentVersion"], 2, "created, then a number assigned");
    assert_eq!(c["name"], "Front");
    assert_eq!(c["direction"], "both");
    assert_eq!(c["conversationConfig"], agent.data()["conversationConfig"]);
    assert_eq!(c["platformSettings"], agent.data()["platformSettings"]);
    assert_eq!(
        c["phoneNumbers"],
        json!([{"provider": "twilio", "number": "+14155550123", "label": "Main"}])
    );
    assert_eq!(
        c["transferTargets"],
        json!([{"agentId": desk, "name": "Desk",
                "phoneNumbers": [{"provider": "twilio", "number": "+14155550100", "label": "Main"}]}])
    );
    let kb = &c["knowledgeBase"][0];
    assert_eq!(kb["documentId"], document.as_str());
    assert_eq!(kb["name"], "Menu");
    assert_eq!(kb["status"], "ready");
    let text_url = kb["textUrl"].as_str().unwrap();
    let path = text_url
        .strip_prefix(&app.url(""))
        .expect("a link to this server");
    let text = app.get(path).await;
    assert_eq!(text.status, 200, "{}", text.text);
    assert!(text.text.contains("tiramisu"), "{}", text.text);
    assert!(c.get("dial").is_none(), "dial only with ?to=");
}

#[tokio::test]
async fn the_etag_changes_with_anything_in_the_configuration_and_304_otherwise() {
    let app = TestApp::spawn().await;
    let document = app.text_document("Menu", "Pizza.").await;
    let desk = app.create_named("Desk").await;
    let mut body = minimal_agent("Front");
    body["conversationConfig"]["agent"]["prompt"]["knowledgeBase"] = json!([document]);
    body["conversationConfig"]["agent"]["prompt"]["builtInTools"] = json!({
        "transferToAgent": {"transfers": [{"agentId": desk, "condition": "asks for a human"}]}
    });
    let front = app.create_agent(&body).await.data()["agentId"]
        .as_str()
        .unwrap()
        .to_owned();
    let to = "?to=%2B14155550199";
    let mut etag = app.config(&front, to).await.etag();
    // Each change shows at once, with a new ETag; nothing else changes it.
    for step in 0..5 {
        assert_eq!(
            app.config_if_none_match(&front, to, &etag).await,
            304,
            "step {step}"
        );
        let expect: Box<dyn Fn(&Value) -> bool> = match step {
            0 => {
                app.patch_agent(&front, &json!({"name": "Front 2"})).await;
                Box::new(|c| c["name"] == "Front 2")
            }
            1 => {
                app.number_for(&desk, "+14155550100").await;
                Box::new(|c| c["transferTargets"][0]["phoneNumbers"][0]["number"] == "+14155550100")
            }
            2 => {
                let r = app
                    .json(
                        Method::PATCH,
                        &document_path(&document, ""),
                        &app.key,
                        &json!({"name": "Menu 2"}),
                    )
                    .await;
                assert_eq!(r.status, 200, "{}", r.text);
                Box::new(|c| c["knowledgeBase"][0]["name"] == "Menu 2")
            }
            3 => {
                let r = app
                    .json(
                        Method::POST,
                        "/api/public/v1/opt-outs",
                        &app.key,
                        &json!({"number": "+14155550199"}),
                    )
                    .await;
                assert_eq!(r.status, 201, "{}", r.text);
                Box::new(|c| c["dial"] == json!({"allowed": false, "reason": "opted_out"}))
            }
            _ => {
                app.send(
                    Method::DELETE,
                    "/api/public/v1/opt-outs/%2B14155550199",
                    Some(&app.key),
                    &[],
                    None,
                )
                .await;
                Box::new(|c| c["dial"] == json!({"allowed": true}))
            }
        };
        let r = app.config(&front, to).await;
        assert!(expect(r.data()), "step {step}: {}", r.text);
        assert_ne!(r.etag(), etag, "step {step}");
        etag = r.etag();
    }
    // A conversation or a key changes nothing in it.
    app.record(&json!({"agentId": front, "direction": "outbound"}))
        .await;
    app.new_key("default", Scope::Read, "x").await;
    assert_eq!(app.config_if_none_match(&front, to, &etag).await, 304);
    assert_eq!(
        app.config_if_none_match(&front, to, "\"other\", *").await,
        304
    );
    assert_eq!(app.config_if_none_match(&front, to, "\"other\"").await, 200);
}

#[tokio::test]
async fn past_versions_dial_rules_and_bad_parameters() {
    let app = TestApp::spawn().await;
    let mut body = minimal_agent("Reception");
    body["direction"] = json!("inbound");
    let id = app.create_agent(&body).await.data()["agentId"]
        .as_str()
        .unwrap()
        .to_owned();
    app.patch_agent(
        &id,
        &json!({"name": "Reception 2", "direction": "outbound"}),
    )
    .await;
    let v1 = app.config(&id, "?version=1&to=%2B14155550123").await;
    assert_eq!(v1.data()["agentVersion"], 1);
    assert_eq!(v1.data()["name"], "Reception");
    assert_eq!(
        v1.data()["dial"],
        json!({"allowed": false, "reason": "inbound_only"})
    );
    let now = app.config(&id, "?to=%2B14155550123").await;
    assert_eq!(now.data()["agentVersion"], 2);
    assert_eq!(now.data()["dial"], json!({"allowed": true}));
    app.get(&config_path(&id, "?version=3"))
        .await
        .assert_error(404, "not_found");
    for bad in [
        "?version=0",
        "?version=two",
        "?to=14155550123",
        "?to=+14155550123",
        "?colour=red",
    ] {
        app.get(&config_path(&id, bad))
            .await
            .assert_error(400, "invalid_parameter");
    }
    app.get(&config_path("nope", ""))
        .await
        .assert_error(400, "invalid_parameter");
    // Another workspace's agent is not found; a deleted agent's configuration is gone.
    let other = app.new_key("elsewhere", Scope::Read, "eve").await;
    app.send(Method::GET, &config_path(&id, ""), Some(&other), &[], None)
        .await
        .assert_error(404, "not_found");
    app.delete_agent(&id).await;
    app.get(&config_path(&id, ""))
        .await
        .assert_error(404, "not_found");
}

/// Two instances on one fresh PostgreSQL database, with `--strict-runtime-config` as given.
async fn two_instances(strict: bool) -> (TestApp, TestApp) {
    assert!(
        postgres_url().is_some(),
        "this test needs PostgreSQL: set {POSTGRES_URL_VAR}"
    );
    let a = TestApp::spawn_with(TestOptions {
        cache: Some(dialplane_server::cache::CacheOptions {
            strict_runtime_config: strict,
            ..serve_cache()
        }),
        ..TestOptions::default()
    })
    .await;
    let b = a.another_instance().await;
    (a, b)
}

/// A's configuration of `id` (`?to=` `to`) once its name is `name`, within a few seconds.
async fn until_named(a: &TestApp, id: &str, to: &str, name: &str) -> Resp {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let r = a.config(id, to).await;
        if r.data()["name"] == name || std::time::Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set DIALPLANE_TEST_POSTGRES_URL and pass --include-ignored"]
async fn with_strict_checks_no_instance_serves_a_configuration_older_than_a_change_through_another()
{
    let (a, b) = two_instances(true).await;
    let id = a.create_named("Shared").await;
    let to = "?to=%2B14155550123";
    for round in 0..5 {
        // A remembers the configuration; B changes it; A's next answer has the change.
        let before = a.config(&id, to).await;
        let name = format!("Round {round}");
        let r = b.patch_agent(&id, &json!({"name": name})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let after = a.config(&id, to).await;
        assert_eq!(after.data()["name"], name.as_str());
        assert_ne!(after.etag(), before.etag());
        assert_eq!(a.config_if_none_match(&id, to, &before.etag()).await, 200);
    }
    // An opt-out through B shows in A's dial at once, and its removal too.
    let optout = b
        .json(
            Method::POST,
            "/api/public/v1/opt-outs",
            &b.key,
            &json!({"number": "+14155550123"}),
        )
        .await;
    assert_eq!(optout.status, 201, "{}", optout.text);
    assert_eq!(
        a.config(&id, to).await.data()["dial"]["reason"],
        "opted_out"
    );
    b.send(
        Method::DELETE,
        "/api/public/v1/opt-outs/%2B14155550123",
        Some(&b.key),
        &[],
        None,
    )
    .await;
    assert_eq!(
        a.config(&id, to).await.data()["dial"],
        json!({"allowed": true})
    );
    // Unchanged, the configuration is answered from memory: what the build noted it read is what
    // the fingerprint query finds.
    let memory = "dialplane_runtime_config_answers_total{source=\"memory\"}";
    let before = crate::rate_limit::metric_value(&crate::rate_limit::scrape(&a).await, memory);
    a.config(&id, to).await;
    let after = crate::rate_limit::metric_value(&crate::rate_limit::scrape(&a).await, memory);
    assert_eq!(after, before + 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set DIALPLANE_TEST_POSTGRES_URL and pass --include-ignored"]
async fn instances_hear_each_others_changes_and_a_lost_listener_stops_trusting_memory() {
    let (a, b) = two_instances(false).await;
    let id = a.create_named("Shared").await;
    let to = "?to=%2B14155550123";
    let memory = |metrics: &str| {
        crate::rate_limit::metric_value(
            metrics,
            "dialplane_runtime_config_answers_total{source=\"memory\"}",
        )
    };
    // Unchanged, A answers from memory (once it listens: it starts to as it starts).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        a.config(&id, to).await;
        let metrics = crate::rate_limit::scrape(&a).await;
        if metrics.contains("source=\"memory\"") && memory(&metrics) >= 1.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never from memory:\n{metrics}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    for round in 0..3 {
        let name = format!("Round {round}");
        b.patch_agent(&id, &json!({"name": name})).await;
        let r = until_named(&a, &id, to, &name).await;
        assert_eq!(r.data()["name"], name.as_str(), "B's change reached A");
    }
    // The connections that listen are cut: A stops trusting memory and listens again.
    a.execute_sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .await;
    b.patch_agent(&id, &json!({"name": "After the cut"})).await;
    let r = until_named(&a, &id, to, "After the cut").await;
    assert_eq!(r.data()["name"], "After the cut");
    b.patch_agent(&id, &json!({"name": "Listening again"}))
        .await;
    let r = until_named(&a, &id, to, "Listening again").await;
    assert_eq!(r.data()["name"], "Listening again");
}

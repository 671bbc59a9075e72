//! Phone numbers over HTTP: add, list, change, remove; one workspace per number in the whole server
//! (without saying whose); an agent's read-only `phoneNumbers` always current, each change a version
//! of the agent; `resolve` for inbound calls; scopes and workspace walls.

use crate::support::*;
use dialplane_core::Scope;
use reqwest::Method;
use serde_json::{json, Value};

const NUMBERS: &str = "/api/public/v1/phone-numbers";

fn number_path(id: &str) -> String {
    format!("{NUMBERS}/{id}")
}

fn resolve_path(number: &str) -> String {
    format!("{NUMBERS}/resolve?number={}", number.replace('+', "%2B"))
}

impl TestApp {
    async fn add_number(&self, body: &Value) -> Value {
        let r = self.json(Method::POST, NUMBERS, &self.key, body).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.data().clone()
    }

    async fn patch_number(&self, id: &str, body: &Value) -> Resp {
        self.json(Method::PATCH, &number_path(id), &self.key, body)
            .await
    }

    /// An agent taking calls in `direction`.
    async fn agent_in(&self, name: &str, direction: &str) -> String {
        let mut body = minimal_agent(name);
        body["direction"] = json!(direction);
        let r = self.create_agent(&body).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.data()["agentId"].as_str().unwrap().to_owned()
    }

    async fn agent_numbers(&self, agent: &str) -> Value {
        let r = self.get_agent(agent).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.data()["phoneNumbers"].clone()
    }
}

fn listed(number: &str, label: &str) -> Value {
    json!({"provider": "twilio", "number": number, "label": label})
}

#[tokio::test]
async fn a_number_is_added_found_listed_changed_and_removed() {
    let app = TestApp::spawn().await;
    let added = app
        .add_number(&json!({"number": "+14155550123", "provider": "twilio", "label": "Support"}))
        .await;
    assert_eq!(added["number"], "+14155550123");
    assert_eq!(added["provider"], "twilio");
    assert_eq!(added["label"], "Support");
    assert_eq!(added["agentId"], Value::Null);
    assert_eq!(added["metadata"]["createdBy"]["userId"], "alice");
    let id = added["phoneNumberId"].as_str().unwrap();
    assert_eq!(app.get(&number_path(id)).await.data(), &added);
    for (number, provider, label) in [
        ("+33142685300", "telnyx", "Paris desk"),
        ("+4930901820", "sip", ""),
    ] {
        app.add_number(&json!({"number": number, "provider": provider, "label": label}))
            .await;
    }
    let numbers = |r: &Resp| -> Vec<String> {
        assert_eq!(r.status, 200, "{}", r.text);
        r.data()
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["number"].as_str().unwrap().to_owned())
            .collect()
    };
    // In order of number, two a page.
    let first = app.get(&format!("{NUMBERS}?pageSize=2")).await;
    assert_eq!(numbers(&first), ["+14155550123", "+33142685300"]);
    let cursor = first.body["pagination"]["nextCursor"].as_str().unwrap();
    let second = app
        .get(&format!("{NUMBERS}?pageSize=2&cursor={cursor}"))
        .await;
    assert_eq!(numbers(&second), ["+4930901820"]);
    assert_eq!(second.body["pagination"]["hasMore"], false);
    // Filters: provider, and search in the number or (any case) the label.
    assert_eq!(
        numbers(&app.get(&format!("{NUMBERS}?provider=telnyx")).await),
        ["+33142685300"]
    );
    assert_eq!(
        numbers(&app.get(&format!("{NUMBERS}?search=PARIS")).await),
        ["+33142685300"]
    );
    assert_eq!(
        numbers(&app.get(&format!("{NUMBERS}?search=3090")).await),
        ["+4930901820"]
    );
    app.get(&format!("{NUMBERS}?provider=carrier-pigeon"))
        .await
        .assert_error(400, "invalid_parameter");
    // A label changes; null resets it; the number and provider as stored are no change.
    let changed = app
        .patch_number(id, &json!({"label": "Sales", "number": "+14155550123"}))
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(changed.data()["label"], "Sales");
    let reset = app.patch_number(id, &json!({"label": null})).await;
    assert_eq!(reset.data()["label"], "");
    // Removed once; then gone.
    let removed = app
        .send(Method::DELETE, &number_path(id), Some(&app.key), &[], None)
        .await;
    assert_eq!(removed.status, 200, "{}", removed.text);
    assert_eq!(
        removed.data(),
        &json!({"phoneNumberId": id, "deleted": true})
    );
    app.get(&number_path(id))
        .await
        .assert_error(404, "not_found");
    app.send(Method::DELETE, &number_path(id), Some(&app.key), &[], None)
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn every_problem_is_named_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let r = app
        .json(
            Method::POST,
            NUMBERS,
            &app.key,
            &json!({"number": "555-0123", "provider": "pigeon", "label": "x".repeat(201),
                    "agentId": "not-an-id", "color": "red"}),
        )
        .await;
    r.assert_details(
        400,
        "validation_error",
        &[
            ("/agentId", "invalid_format"),
            ("/color", "unknown_field"),
            ("/label", "too_long"),
            ("/number", "invalid_format"),
            ("/provider", "invalid_value"),
        ],
    );
    let r = app.json(Method::POST, NUMBERS, &app.key, &json!({})).await;
    r.assert_details(
        400,
        "validation_error",
        &[("/number", "required"), ("/provider", "required")],
    );
    // An agent that is not the workspace's: not_found at /agentId.
    let missing = "0193a5b2-7c1d-7e3f-9a4b-5c6d7e8f9a0b";
    app.json(
        Method::POST,
        NUMBERS,
        &app.key,
        &json!({"number": "+14155550123", "provider": "sip", "agentId": missing}),
    )
    .await
    .assert_problem("/agentId", "not_found");
    assert_eq!(app.get(NUMBERS).await.data(), &json!([]), "nothing stored");
    // Read-only fields cannot change; a bad id in a path is a bad parameter.
    let id = app
        .add_number(&json!({"number": "+14155550123", "provider": "sip"}))
        .await["phoneNumberId"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .patch_number(
            &id,
            &json!({"number": "+14155550999", "provider": "twilio"}),
        )
        .await;
    r.assert_details(
        400,
        "validation_error",
        &[("/number", "read_only"), ("/provider", "read_only")],
    );
    app.get(&number_path("nope"))
        .await
        .assert_error(400, "invalid_parameter");
}

#[tokio::test]
async fn a_number_belongs_to_one_workspace_of_the_server_without_saying_whose() {
    let app = TestApp::spawn().await;
    let body = json!({"number": "+14155550123", "provider": "twilio"});
    app.add_number(&body).await;
    let again = app.json(Method::POST, NUMBERS, &app.key, &body).await;
    again.assert_error(409, "conflict");
    let other = app
        .new_key("acme-secret-workspace", Scope::Write, "eve")
        .await;
    let theirs = app.json(Method::POST, NUMBERS, &other, &body).await;
    theirs.assert_error(409, "conflict");
    assert!(
        !theirs.text.contains("default") && !theirs.text.contains("alice"),
        "the answer names no workspace or user: {}",
        theirs.text
    );
    // The other workspace sees none of ours, and cannot change it.
    let listed = app
        .send(Method::GET, NUMBERS, Some(&other), &[], None)
        .await;
    assert_eq!(listed.data(), &json!([]));
    let ours = app.get(NUMBERS).await.data()[0]["phoneNumberId"]
        .as_str()
        .unwrap()
        .to_owned();
    for method in [Method::GET, Method::DELETE] {
        app.send(method, &number_path(&ours), Some(&other), &[], None)
            .await
            .assert_error(404, "not_found");
    }
    app.send(
        Method::GET,
        &resolve_path("+14155550123"),
        Some(&other),
        &[],
        None,
    )
    .await
    .assert_error(404, "not_found");
    // Once removed here, the number is free for them.
    app.send(
        Method::DELETE,
        &number_path(&ours),
        Some(&app.key),
        &[],
        None,
    )
    .await;
    let theirs = app.json(Method::POST, NUMBERS, &other, &body).await;
    assert_eq!(theirs.status, 201, "{}", theirs.text);
}

#[tokio::test]
async fn an_agents_phone_numbers_follow_every_assignment_as_new_versions() {
    let app = TestApp::spawn().await;
    let a = app.agent_in("Front desk", "both").await;
    let b = app.agent_in("Night desk", "inbound").await;
    let etag = app.get_agent(&a).await.etag();
    let n1 = app
        .add_number(
            &json!({"number": "+14155550123", "provider": "twilio", "label": "Main", "agentId": a}),
        )
        .await;
    let n1 = n1["phoneNumberId"].as_str().unwrap().to_owned();
    assert_eq!(
        app.agent_numbers(&a).await,
        json!([listed("+14155550123", "Main")])
    );
    // A new version with the changed path; the old ETag no longer matches.
    assert_eq!(app.version_numbers(&a).await, [2, 1]);
    let versions = app.get(&agent_path(&a, "/versions")).await;
    assert_eq!(versions.data()[0]["changedPaths"], json!(["/phoneNumbers"]));
    app.patch_agent_if(&a, &etag, &json!({"name": "Renamed"}))
        .await
        .assert_error(412, "precondition_failed");
    // Another number; the agent lists both in order of number.
    app.add_number(
        &json!({"number": "+14155550100", "provider": "twilio", "label": "Alt", "agentId": a}),
    )
    .await;
    assert_eq!(
        app.agent_numbers(&a).await,
        json!([
            listed("+14155550100", "Alt"),
            listed("+14155550123", "Main")
        ])
    );
    // Relabelled: the agent's entry follows.
    app.patch_number(&n1, &json!({"label": "Primary"})).await;
    assert_eq!(
        app.agent_numbers(&a).await[1],
        listed("+14155550123", "Primary")
    );
    // Moved to B: A loses it, B gains it, each in a new version.
    let moved = app.patch_number(&n1, &json!({"agentId": b})).await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    assert_eq!(
        app.agent_numbers(&a).await,
        json!([listed("+14155550100", "Alt")])
    );
    assert_eq!(
        app.agent_numbers(&b).await,
        json!([listed("+14155550123", "Primary")])
    );
    assert_eq!(app.version_numbers(&b).await, [2, 1]);
    let b_numbers = app.get(&format!("{NUMBERS}?agentId={b}")).await;
    assert_eq!(b_numbers.data().as_array().unwrap().len(), 1);
    // A change that changes nothing stores no version.
    app.patch_number(&n1, &json!({"agentId": b})).await;
    assert_eq!(app.version_numbers(&b).await, [2, 1]);
    // Unassigned with null; removed numbers leave their agent.
    app.patch_number(&n1, &json!({"agentId": null})).await;
    assert_eq!(app.agent_numbers(&b).await, json!([]));
    let alt = app.get(&format!("{NUMBERS}?agentId={a}")).await.data()[0]["phoneNumberId"]
        .as_str()
        .unwrap()
        .to_owned();
    app.send(
        Method::DELETE,
        &number_path(&alt),
        Some(&app.key),
        &[],
        None,
    )
    .await;
    assert_eq!(app.agent_numbers(&a).await, json!([]));
    // A PATCH of the agent keeps its numbers (they are read-only, not the client's to drop).
    app.patch_number(&n1, &json!({"agentId": a})).await;
    let patched = app.patch_agent(&a, &json!({"name": "Front desk 2"})).await;
    assert_eq!(
        patched.data()["phoneNumbers"],
        json!([listed("+14155550123", "Primary")])
    );
}

#[tokio::test]
async fn resolve_answers_the_agent_of_an_inbound_number_and_deleting_the_agent_unassigns_it() {
    let app = TestApp::spawn().await;
    let inbound = app.agent_in("Reception", "inbound").await;
    let outbound = app.agent_in("Dialler", "outbound").await;
    let n = app
        .add_number(&json!({"number": "+14155550123", "provider": "twilio", "agentId": inbound}))
        .await;
    app.add_number(&json!({"number": "+14155550100", "provider": "twilio", "agentId": outbound}))
        .await;
    app.add_number(&json!({"number": "+14155550111", "provider": "sip"}))
        .await;
    let r = app.get(&resolve_path("+14155550123")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.data()["phoneNumberId"], n["phoneNumberId"]);
    assert_eq!(r.data()["agentId"], inbound.as_str());
    let url = r.data()["runtimeConfigUrl"].as_str().unwrap();
    assert!(
        url.starts_with("http://127.0.0.1:")
            && url.ends_with(&format!("/api/public/v1/agents/{inbound}/runtime-config")),
        "{url}"
    );
    // Outbound-only agent: 409; unassigned or unknown: 404; missing or not E.164: 400.
    app.get(&resolve_path("+14155550100"))
        .await
        .assert_error(409, "conflict");
    app.get(&resolve_path("+14155550111"))
        .await
        .assert_error(404, "not_found");
    app.get(&resolve_path("+14155550999"))
        .await
        .assert_error(404, "not_found");
    app.get(&format!("{NUMBERS}/resolve"))
        .await
        .assert_error(400, "invalid_parameter");
    app.get(&resolve_path("0155"))
        .await
        .assert_error(400, "invalid_parameter");
    // `+` unescaped reads as a space: not E.164.
    app.get(&format!("{NUMBERS}/resolve?number=+14155550123"))
        .await
        .assert_error(400, "invalid_parameter");
    // Deleting the agent unassigns its number: resolve is then 404, the number stays.
    let deleted = app.delete_agent(&inbound).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    app.get(&resolve_path("+14155550123"))
        .await
        .assert_error(404, "not_found");
    let id = n["phoneNumberId"].as_str().unwrap();
    assert_eq!(
        app.get(&number_path(id)).await.data()["agentId"],
        Value::Null
    );
}

#[tokio::test]
async fn only_write_keys_change_numbers_and_every_key_reads_and_resolves() {
    let app = TestApp::spawn().await;
    let agent = app.agent_in("Reception", "both").await;
    let n = app
        .add_number(&json!({"number": "+14155550123", "provider": "twilio", "agentId": agent}))
        .await;
    let id = n["phoneNumberId"].as_str().unwrap();
    let runtime = app.new_key("default", Scope::Runtime, "runtime").await;
    let reader = app.new_key("default", Scope::Read, "rita").await;
    for key in [&runtime, &reader] {
        for path in [
            NUMBERS.to_owned(),
            number_path(id),
            resolve_path("+14155550123"),
        ] {
            let r = app.send(Method::GET, &path, Some(key), &[], None).await;
            assert_eq!(r.status, 200, "{path}: {}", r.text);
        }
        app.json(
            Method::POST,
            NUMBERS,
            key,
            &json!({"number": "+14155550100", "provider": "sip"}),
        )
        .await
        .assert_error(403, "forbidden");
        app.json(Method::PATCH, &number_path(id), key, &json!({"label": "x"}))
            .await
            .assert_error(403, "forbidden");
        app.send(Method::DELETE, &number_path(id), Some(key), &[], None)
            .await
            .assert_error(403, "forbidden");
    }
    // An agent of another workspace cannot be assigned.
    let other = app.new_key("elsewhere", Scope::Write, "eve").await;
    let theirs = app
        .create_agent_as(&other, &minimal_agent("Theirs"))
        .await
        .data()["agentId"]
        .as_str()
        .unwrap()
        .to_owned();
    app.patch_number(id, &json!({"agentId": theirs}))
        .await
        .assert_problem("/agentId", "not_found");
    assert_eq!(app.agent_numbers(&agent).await[0]["number"], "+14155550123");
}

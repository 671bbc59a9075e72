//! Opt-outs over HTTP: add (again is the same entry), get, list in pages, remove; E.164 only;
//! a runtime key adds and reads but cannot remove, a read key only reads; workspaces apart.

use crate::support::*;
use dialplane_core::Scope;
use reqwest::Method;
use serde_json::json;

const OPT_OUTS: &str = "/api/public/v1/opt-outs";

fn entry(number: &str) -> String {
    format!("{OPT_OUTS}/{number}")
}

#[tokio::test]
async fn a_number_is_added_once_found_listed_in_pages_and_removed() {
    let app = TestApp::spawn().await;
    let body = json!({"number": "+14155550123", "reason": "asked on a call"});
    let added = app.json(Method::POST, OPT_OUTS, &app.key, &body).await;
    assert_eq!(added.status, 201, "{}", added.text);
    assert_eq!(added.data()["number"], "+14155550123");
    assert_eq!(added.data()["reason"], "asked on a call");
    // Again, with another reason: the entry as it was, 200.
    let again = app
        .json(
            Method::POST,
            OPT_OUTS,
            &app.key,
            &json!({"number": "+14155550123"}),
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.data(), added.data());
    // Found with `+` as is and as %2B; another number is not.
    assert_eq!(app.get(&entry("+14155550123")).await.data(), added.data());
    assert_eq!(app.get(&entry("%2B14155550123")).await.data(), added.data());
    app.get(&entry("+14155550999"))
        .await
        .assert_error(404, "not_found");
    // Three in all, two a page, in order of number.
    for number in ["+4930901820", "+33142685300"] {
        let r = app
            .json(Method::POST, OPT_OUTS, &app.key, &json!({"number": number}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let first = app.get(&format!("{OPT_OUTS}?pageSize=2")).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let numbers = |r: &Resp| -> Vec<String> {
        r.data()
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["number"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(numbers(&first), ["+14155550123", "+33142685300"]);
    let pagination = &first.body["pagination"];
    assert_eq!(pagination["hasMore"], true);
    let cursor = pagination["nextCursor"].as_str().unwrap();
    let second = app
        .get(&format!("{OPT_OUTS}?pageSize=2&cursor={cursor}"))
        .await;
    assert_eq!(numbers(&second), ["+4930901820"]);
    assert_eq!(second.body["pagination"]["hasMore"], false);
    // Removed once; then it is gone.
    let removed = app
        .send(
            Method::DELETE,
            &entry("+14155550123"),
            Some(&app.key),
            &[],
            None,
        )
        .await;
    assert_eq!(removed.status, 200, "{}", removed.text);
    assert_eq!(
        removed.data(),
        &json!({"number": "+14155550123", "deleted": true})
    );
    app.send(
        Method::DELETE,
        &entry("+14155550123"),
        Some(&app.key),
        &[],
        None,
    )
    .await
    .assert_error(404, "not_found");
    app.get(&entry("+14155550123"))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn only_e164_numbers_and_known_fields_are_taken_and_every_problem_is_named() {
    let app = TestApp::spawn().await;
    let r = app
        .json(
            Method::POST,
            OPT_OUTS,
            &app.key,
            &json!({"number": "0155 555", "reason": "x".repeat(501), "why": 1}),
        )
        .await;
    r.assert_error(400, "validation_error");
    let mut paths = r.detail_paths();
    paths.sort();
    assert_eq!(
        paths,
        [
            ("/number".to_owned(), "invalid_format".to_owned()),
            ("/reason".to_owned(), "too_long".to_owned()),
            ("/why".to_owned(), "unknown_field".to_owned()),
        ]
    );
    app.json(Method::POST, OPT_OUTS, &app.key, &json!({}))
        .await
        .assert_problem("/number", "required");
    app.get(&entry("12345"))
        .await
        .assert_error(400, "invalid_parameter");
    app.get(&format!("{OPT_OUTS}?cursor=nonsense"))
        .await
        .assert_error(400, "invalid_parameter");
    let listed = app.get(OPT_OUTS).await;
    assert_eq!(listed.data(), &json!([]), "nothing was added");
}

#[tokio::test]
async fn a_runtime_key_adds_a_read_key_only_reads_and_workspaces_keep_their_own_lists() {
    let app = TestApp::spawn().await;
    let runtime = app.new_key("default", Scope::Runtime, "runtime").await;
    let reader = app.new_key("default", Scope::Read, "rita").await;
    let number = json!({"number": "+14155550123"});
    let added = app.json(Method::POST, OPT_OUTS, &runtime, &number).await;
    assert_eq!(added.status, 201, "{}", added.text);
    assert_eq!(added.data()["metadata"]["createdBy"]["userId"], "runtime");
    for key in [&runtime, &reader] {
        let got = app
            .send(Method::GET, &entry("+14155550123"), Some(key), &[], None)
            .await;
        assert_eq!(got.status, 200, "{}", got.text);
    }
    app.json(
        Method::POST,
        OPT_OUTS,
        &reader,
        &json!({"number": "+14155550100"}),
    )
    .await
    .assert_error(403, "forbidden");
    for key in [&runtime, &reader] {
        app.send(Method::DELETE, &entry("+14155550123"), Some(key), &[], None)
            .await
            .assert_error(403, "forbidden");
    }
    // Another workspace sees none of it, and lists the same number on its own.
    let other = app.new_key("elsewhere", Scope::Write, "eve").await;
    app.send(Method::GET, &entry("+14155550123"), Some(&other), &[], None)
        .await
        .assert_error(404, "not_found");
    let theirs = app.json(Method::POST, OPT_OUTS, &other, &number).await;
    assert_eq!(theirs.status, 201, "{}", theirs.text);
    let removed = app
        .send(
            Method::DELETE,
            &entry("+14155550123"),
            Some(&other),
            &[],
            None,
        )
        .await;
    assert_eq!(removed.status, 200, "theirs is removed: {}", removed.text);
    let ours = app.get(&entry("+14155550123")).await;
    assert_eq!(
        ours.status, 200,
        "still on this workspace's list: {}",
        ours.text
    );
}

//! The reference runtime (`examples/voice-runtime/runtime.py`, Python's standard library) run
//! against a real server: an inbound call resolved, configured, recorded, its turns appended and
//! finished; an outbound call to an opted-out number refused before it is placed.

use crate::support::*;
use dialplane_core::Scope;
use reqwest::Method;
use serde_json::{json, Value};

/// Runs the reference runtime with `args`: its exit code and standard output.
async fn runtime(app: &TestApp, key: &str, args: &[&str]) -> (i32, String) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/voice-runtime/runtime.py"
    );
    let mut command = std::process::Command::new("python3");
    command
        .arg(script)
        .args(["--base-url", &app.url(""), "--key", key])
        .args(args);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("python3 runs (it is part of the machine CI runs on)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let code = output.status.code().unwrap_or(-1);
    assert!(matches!(code, 0 | 3), "exit {code}: {stderr}");
    (code, String::from_utf8_lossy(&output.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_runtime_records_an_inbound_call_and_refuses_an_opted_out_dial() {
    let app = TestApp::spawn().await;
    let agent = app.keeping_agent("Luigi's", false).await;
    let patched = app
        .patch_agent(
            &agent,
            &json!({"direction": "both",
        "conversationConfig": {"agent": {"greetingMessage": "Luigi's, buona sera!"}}}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    let number = json!({"number": "+14155550123", "provider": "twilio", "agentId": agent});
    let r = app
        .json(
            Method::POST,
            "/api/public/v1/phone-numbers",
            &app.key,
            &number,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let key = app.new_key("default", Scope::Runtime, "runtime").await;
    let (code, out) = runtime(
        &app,
        &key,
        &[
            "--call-id",
            "CA-77",
            "inbound",
            "--called",
            "+14155550123",
            "--caller",
            "+14155550100",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let printed: Value = serde_json::from_str(out.trim()).expect("the id as JSON");
    let id = printed["conversationId"].as_str().unwrap();
    let c = app.get(&conversation_path(id, "")).await;
    assert_eq!(c.status, 200, "{}", c.text);
    let c = c.data();
    assert_eq!(c["agentId"], agent.as_str());
    assert_eq!(c["agentVersion"], 3, "created, patched, a number assigned");
    assert_eq!(c["externalId"], "CA-77");
    assert_eq!(c["status"], "completed");
    assert_eq!(c["direction"], "inbound");
    assert_eq!(c["callerNumber"], "+14155550100");
    assert_eq!(c["turns"].as_array().unwrap().len(), 10);
    assert!(c["transcript"]
        .as_str()
        .unwrap()
        .starts_with("Agent: Luigi's, buona sera!\nUser: Hello"));
    assert_eq!(c["dataCollected"], json!({"party_size": 4, "name": "Ada"}));
    assert!(c["conversationDuration"].as_i64().unwrap() >= 1);
    assert_eq!(c["metadata"]["createdBy"]["userId"], "runtime");
    // An outbound call to an opted-out number is not placed, and nothing is recorded.
    let optout = json!({"number": "+14155550199"});
    app.json(Method::POST, "/api/public/v1/opt-outs", &app.key, &optout)
        .await;
    let (code, out) = runtime(
        &app,
        &key,
        &["outbound", "--agent", &agent, "--to", "+14155550199"],
    )
    .await;
    assert_eq!(code, 3, "{out}");
    assert_eq!(
        serde_json::from_str::<Value>(out.trim()).unwrap(),
        json!({"dialled": false, "reason": "opted_out"})
    );
    let listed = app.get(CONVERSATIONS).await;
    assert_eq!(listed.data().as_array().unwrap().len(), 1);
    // A number that is allowed is dialled from the agent's number.
    let (code, out) = runtime(
        &app,
        &key,
        &["outbound", "--agent", &agent, "--to", "+14155550142"],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let id = serde_json::from_str::<Value>(out.trim()).unwrap()["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();
    let c = app.get(&conversation_path(&id, "")).await;
    assert_eq!(c.data()["callerNumber"], "+14155550123");
    assert_eq!(c.data()["contactNumber"], "+14155550142");
}

//! Our signatures, checked by implementations we did not write: the receivers of
//! `examples/webhooks/` (Python and Node.js), which verify with the official `standardwebhooks`
//! packages of PyPI and npm on the raw body. The packages are installed once under Cargo's
//! target directory (or `DIALPLANE_TEST_PYTHON` names a Python that has it); without network access
//! to PyPI and npm these tests fail rather than skip. Also `dialplane webhooks verify`.

use crate::support::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

const VERSION: &str = "1.3.0";
const WAIT: Duration = Duration::from_secs(30);

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tools() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("standardwebhooks-{VERSION}"))
}

fn run(command: &mut std::process::Command) {
    let out = command.output().expect("the installer runs");
    assert!(
        out.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A Python with `standardwebhooks`, installed into a virtual environment the first time.
fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("DIALPLANE_TEST_PYTHON") {
        return python.into();
    }
    let venv = tools().join("python");
    let python = venv.join("bin/python");
    let has = |python: &Path| {
        std::process::Command::new(python)
            .args(["-c", "import standardwebhooks"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !has(&python) {
        run(std::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv));
        run(std::process::Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("standardwebhooks=={VERSION}"),
        ]));
    }
    python
}

/// A folder with `standardwebhooks` from npm and the Node receiver beside it.
fn node_receiver() -> PathBuf {
    let dir = tools().join("node");
    if !dir
        .join("node_modules/standardwebhooks/package.json")
        .exists()
    {
        std::fs::create_dir_all(&dir).unwrap();
        run(std::process::Command::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                "--prefix",
            ])
            .arg(&dir)
            .arg(format!("standardwebhooks@{VERSION}")));
    }
    let script = dir.join("receiver.mjs");
    std::fs::copy(repository().join("examples/webhooks/receiver.mjs"), &script).unwrap();
    script
}

/// One of the example receivers, running: what it prints, line by line.
struct Reference {
    _child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    url: String,
}

impl Reference {
    async fn start(language: &str, secret: &str) -> Self {
        let mut command = match language {
            "python" => {
                let mut c = tokio::process::Command::new(python());
                c.arg(repository().join("examples/webhooks/receiver.py"));
                c
            }
            _ => {
                let mut c = tokio::process::Command::new("node");
                c.arg(node_receiver());
                c
            }
        };
        let mut child = command
            .env("DIALPLANE_WEBHOOK_SECRET", secret)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the receiver starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = next(&mut lines).await;
        let port = first["listening"].as_u64().expect("a port");
        Self {
            _child: child,
            lines,
            url: format!("http://127.0.0.1:{port}/"),
        }
    }

    async fn next(&mut self) -> Value {
        next(&mut self.lines).await
    }
}

async fn next(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) -> Value {
    let line = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .expect("the receiver printed in time")
        .unwrap()
        .expect("the receiver is still running");
    serde_json::from_str(&line).unwrap()
}

async fn scenario(language: &str) {
    let app = TestApp::spawn_with(TestOptions {
        webhooks: Some(webhook_options("100ms")),
        ..TestOptions::default()
    })
    .await;
    let key = app.key.clone();
    // An endpoint, its secret rotated: each delivery carries two signatures, and a receiver that
    // still has the old secret verifies it.
    let (endpoint, secret) = app
        .create_endpoint("http://127.0.0.1:9/", &["agent.created"])
        .await;
    let mut receiver = Reference::start(language, &secret).await;
    let path = format!("/api/public/v1/webhook-endpoints/{endpoint}");
    let r = app
        .json(Method::PATCH, &path, &key, &json!({"url": receiver.url}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .json(
            Method::POST,
            &format!("{path}/rotate-secret"),
            &key,
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200);
    app.create_named("Verified elsewhere").await;
    let line = receiver.next().await;
    assert_eq!(
        (
            line["verified"].clone(),
            line["type"].clone(),
            line["signatures"].clone()
        ),
        (json!(true), json!("agent.created"), json!(2)),
        "{line}"
    );

    // The workspace secret signs an agent's postCallWebhook.
    let r = app
        .send(
            Method::GET,
            "/api/public/v1/webhook-secret",
            Some(&key),
            &[],
            None,
        )
        .await;
    let workspace = r.data()["secret"].as_str().unwrap().to_owned();
    let mut post_call = Reference::start(language, &workspace).await;
    let agent = app.keeping_agent("Post-call", false).await;
    let r = app
        .patch_agent(
            &agent,
            &json!({"platformSettings": {"callActions": {"postCallWebhook": post_call.url}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let call = app.call_started(&agent, 1_764_930_000).await;
    app.patch_conversation(
        &call,
        &json!({"status": "completed", "endTimeUnix": 1_764_930_060}),
    )
    .await;
    let line = post_call.next().await;
    assert_eq!(
        (line["verified"].clone(), line["type"].clone()),
        (json!(true), json!("conversation.completed")),
        "{line}"
    );

    // A receiver with another secret refuses: the check is real.
    let mut stranger =
        Reference::start(language, &dialplane_core::webhooks::generate_secret()).await;
    let (other, _) = app.create_endpoint(&stranger.url, &["agent.updated"]).await;
    app.patch_agent(&agent, &json!({"name": "Renamed"})).await;
    let line = stranger.next().await;
    assert_eq!(line["verified"], false, "{line}");
    let d = app.endpoint_delivery_after(&other, 1, WAIT).await;
    assert_eq!(d["lastStatusCode"], 400, "{d}");
}

#[tokio::test]
async fn pythons_standardwebhooks_verifies_every_delivery() {
    scenario("python").await;
}

#[tokio::test]
async fn nodes_standardwebhooks_verifies_every_delivery() {
    scenario("node").await;
}

/// `dialplane webhooks verify` on a saved delivery: its exit code and what it says.
fn verify_cli(secret: &str, body: &[u8], got: &Received, now: Option<i64>) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body.json");
    std::fs::write(&file, body).unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dialplane"));
    command
        .args(["webhooks", "verify", "--secret", secret, "--file"])
        .arg(&file)
        .args([
            "--id",
            &got.id,
            "--timestamp",
            &got.timestamp,
            "--signature",
            &got.signature,
        ]);
    if let Some(now) = now {
        command.args(["--now", &now.to_string()]);
    }
    let out = command.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test]
async fn webhooks_verify_says_why_a_delivery_does_not_verify() {
    let app = TestApp::spawn_with(TestOptions {
        webhooks: Some(webhook_options("1h")),
        ..TestOptions::default()
    })
    .await;
    let receiver = Receiver::ok().await;
    let (_, secret) = app
        .create_endpoint(&receiver.url("/"), &["agent.created"])
        .await;
    app.create_named("Debugged").await;
    let got = receiver.wait_for(1, WAIT).await.remove(0);
    let body = got.body.as_bytes();

    let (code, said) = verify_cli(&secret, body, &got, None);
    assert_eq!(code, 0, "{said}");
    assert!(said.starts_with("verified"), "{said}");

    let other = dialplane_core::webhooks::generate_secret();
    let (code, said) = verify_cli(&other, body, &got, None);
    assert_eq!(code, 1);
    assert!(
        said.contains("the secret is not the one that signed"),
        "{said}"
    );

    // Saved by an editor that added a newline; parsed and written out again by a framework.
    let (code, said) = verify_cli(&secret, &[body, b"\n"].concat(), &got, None);
    assert_eq!(code, 1);
    assert!(said.contains("the body changed"), "{said}");
    assert!(said.contains("without its trailing whitespace"), "{said}");
    let pretty = serde_json::to_vec_pretty(&got.json()).unwrap();
    let (code, said) = verify_cli(&secret, &pretty, &got, None);
    assert_eq!(code, 1);
    assert!(said.contains("the body as compact JSON"), "{said}");

    let at: i64 = got.timestamp.parse().unwrap();
    let (code, said) = verify_cli(&secret, body, &got, Some(at + 3600));
    assert_eq!(code, 1);
    assert!(said.contains("beyond the 300 s tolerance"), "{said}");
    assert!(said.contains("the signature itself matches"), "{said}");

    let (code, said) = verify_cli("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", body, &got, None);
    assert_eq!(code, 1);
    assert!(said.contains("starts with whsec_"), "{said}");
}

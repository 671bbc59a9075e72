//! The `dialplane` binary as a user runs it: `serve` (bootstrap key, graceful shutdown, logs) and
//! `keys` (create, list, revoke) against a running server.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

pub const BIN: &str = env!("CARGO_BIN_EXE_dialplane");

/// A `dialplane serve` process on a random port.
pub struct Server {
    pub child: Child,
    pub addr: String,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    lines: mpsc::UnboundedReceiver<String>,
    out_lines: mpsc::UnboundedReceiver<String>,
}

/// Copies a pipe line by line into `buf` and a channel.
pub(crate) fn drain<R: tokio::io::AsyncRead + Unpin + Send + 'static>(
    pipe: R,
    buf: Arc<Mutex<String>>,
) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut reader = BufReader::new(pipe).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            {
                let mut b = buf.lock().unwrap();
                b.push_str(&line);
                b.push('\n');
            }
            let _ = tx.send(line);
        }
    });
    rx
}

pub(crate) fn db_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("cli.db").display())
}

impl Server {
    pub async fn start(dir: &Path) -> Self {
        Self::start_with(dir, &["--database", &db_url(dir)], &[]).await
    }

    /// `dialplane serve --listen 127.0.0.1:0 ARGS` in `dir`, with `envs` added.
    pub async fn start_with(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Self {
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "127.0.0.1:0",
            ])
            .args(args)
            .env_remove("DIALPLANE_DATABASE_URL")
            .current_dir(dir)
            .env("RUST_LOG", "info,dialplane_server=debug")
            .env("NO_COLOR", "1")
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("dialplane starts");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let out_lines = drain(child.stdout.take().unwrap(), stdout.clone());
        let mut lines = drain(child.stderr.take().unwrap(), stderr.clone());
        let addr = loop {
            let line = lines
                .recv()
                .await
                .expect("the server logs until it listens");
            if let Some((_, rest)) = line.split_once("listening on http://") {
                // Text or JSON logs: the address is what follows, up to the first other character.
                let end = rest
                    .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))
                    .unwrap_or(rest.len());
                break rest[..end].to_owned();
            }
        };
        Self {
            child,
            addr,
            stdout,
            stderr,
            lines,
            out_lines,
        }
    }

    /// The bootstrap key, once it is printed.
    pub async fn bootstrap_key(&mut self) -> String {
        loop {
            let line = self.out_lines.recv().await.expect("stdout line");
            if let Some(key) = bootstrap_key(&line) {
                return key;
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `GET path` with `key`, answered as JSON.
    pub async fn get_json(&self, path: &str, key: &str) -> Value {
        reqwest::Client::new()
            .get(self.url(path))
            .header("x-api-key", key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits until a log line contains `needle`.
    async fn wait_for_log(&mut self, needle: &str) {
        loop {
            let line = self.lines.recv().await.expect("log line");
            if line.contains(needle) {
                return;
            }
        }
    }

    fn terminate(&self) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// SIGTERM, then the exit status and everything printed.
    pub async fn stop(mut self) -> (std::process::ExitStatus, String, String) {
        self.terminate();
        let status = self.child.wait().await.unwrap();
        // Let the readers reach end of file.
        while self.lines.recv().await.is_some() {}
        while self.out_lines.recv().await.is_some() {}
        let out = self.stdout.lock().unwrap().clone();
        let err = self.stderr.lock().unwrap().clone();
        (status, out, err)
    }
}

pub(crate) fn bootstrap_key(stdout: &str) -> Option<String> {
    stdout
        .split_whitespace()
        .find(|w| w.starts_with("dp_") && w.len() == 46)
        .map(str::to_owned)
}

pub async fn keys(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .arg("keys")
        .args(args)
        .args(["--database", &db_url(dir)])
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// `dialplane serve` on `url`, expected to refuse to start: its stderr.
pub async fn refused_serve(dir: &Path, url: &str) -> String {
    let run = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
        ])
        .args(["--database", url])
        .env_remove("DIALPLANE_DATABASE_URL")
        .current_dir(dir)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), run)
        .await
        .expect("the second server exits instead of serving")
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn minimal() -> Value {
    serde_json::json!({"name": "CLI", "conversationConfig": {"agent": {"prompt": {"prompt": "hi"}}}})
}

#[tokio::test]
pub(crate) async fn serve_prints_a_working_bootstrap_key_once_and_keeps_data_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = Server::start(dir.path()).await;
    let client = reqwest::Client::new();
    let (status, stdout, stderr) = {
        let server = &mut first;
        let key = server.bootstrap_key().await;
        let created = client
            .post(server.url("/api/public/v1/agents"))
            .header("x-api-key", &key)
            .json(&minimal())
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        first.stop().await
    };
    assert!(status.success(), "exit {status:?}\n{stderr}");
    let key = bootstrap_key(&stdout).expect("a key on stdout");
    assert!(stdout.contains("workspace \"default\""), "{stdout}");
    assert!(stdout.contains("x-api-key"), "{stdout}");
    assert!(!stderr.contains(&key), "the key must never reach the logs");
    assert!(stderr.contains("stopped"), "{stderr}");
    let served = stderr
        .lines()
        .find(|l| l.contains("served") && l.contains("status=201"))
        .unwrap_or_else(|| panic!("a log line for the create: {stderr}"));
    for field in [
        "method=POST",
        "route=/api/public/v1/agents",
        "request_id=",
        "latency_ms=",
    ] {
        assert!(served.contains(field), "{field} in {served}");
    }
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        stored.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    assert!(
        !stored.windows(key.len()).any(|w| w == key.as_bytes()),
        "the database holds the key only as a hash"
    );

    let second = Server::start(dir.path()).await;
    let list = second.get_json("/api/public/v1/agents", &key).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
    let (status, stdout, stderr) = second.stop().await;
    assert!(status.success());
    assert!(bootstrap_key(&stdout).is_none(), "no second key: {stdout}");
    assert!(!stderr.contains(&key));
}

#[tokio::test]
async fn a_runtime_key_made_by_the_cli_reads_agents_and_cannot_change_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let args = [
        "create",
        "--workspace",
        "acme",
        "--user-id",
        "runtime",
        "--user-email",
        "runtime@acme.test",
        "--scope",
        "runtime",
        "--json",
    ];
    let (ok, out, err) = keys(dir.path(), &args).await;
    assert!(ok, "{err}");
    let created: Value = serde_json::from_str(out.trim()).expect("one JSON line");
    assert_eq!(created["scope"], "runtime");
    let key = created["key"].as_str().unwrap();
    let client = reqwest::Client::new();
    let url = server.url("/api/public/v1/agents");
    let listed = client
        .get(&url)
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let write = client
        .post(&url)
        .header("x-api-key", key)
        .json(&minimal())
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 403);
    let body: Value = write.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("runtime scope"), "{message}");
}

#[tokio::test]
pub(crate) async fn keys_can_be_created_listed_and_revoked_while_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let client = reqwest::Client::new();
    let (ok, out, err) = keys(
        dir.path(),
        &[
            "create",
            "--workspace",
            "acme",
            "--user-id",
            "bob",
            "--user-email",
            "bob@acme.test",
            "--scope",
            "read",
            "--json",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let created: Value = serde_json::from_str(out.trim()).expect("one JSON line");
    let key = created["key"].as_str().unwrap().to_owned();
    let key_id = created["keyId"].as_str().unwrap().to_owned();
    assert_eq!(created["workspace"], "acme");
    assert_eq!(created["scope"], "read");
    assert!(key.starts_with("dp_"));

    let list = |key: String| {
        let client = client.clone();
        let url = server.url("/api/public/v1/agents");
        async move {
            client
                .get(url)
                .header("x-api-key", key)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(list(key.clone()).await, 200);
    let write = client
        .post(server.url("/api/public/v1/agents"))
        .header("x-api-key", &key)
        .json(&minimal())
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 403, "a read key cannot write");

    let (ok, listed, _) = keys(dir.path(), &["list"]).await;
    assert!(ok);
    assert!(listed.contains(&key_id), "{listed}");
    assert!(!listed.contains(&key), "list never shows keys");
    let (ok, listed_json, _) = keys(dir.path(), &["list", "--json"]).await;
    assert!(ok);
    assert!(listed_json
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .any(|k| k["keyId"] == key_id.as_str() && k["status"] == "active"));

    let (ok, _, err) = keys(dir.path(), &["revoke", &key_id]).await;
    assert!(ok, "{err}");
    // The server trusts a key it resolved for --key-cache-ms (100 ms), no longer.
    let revoked = std::time::Instant::now();
    while list(key.clone()).await != 401 {
        assert!(
            revoked.elapsed() < std::time::Duration::from_millis(400),
            "the revoked key still works"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let (ok, _, err) = keys(dir.path(), &["revoke", &key_id]).await;
    assert!(!ok, "revoking twice fails");
    assert!(err.contains("no active key"), "{err}");

    let (status, _, stderr) = server.stop().await;
    assert!(status.success());
    assert!(!stderr.contains(&key), "the key must never reach the logs");
}

#[tokio::test]
pub(crate) async fn sigterm_lets_an_in_flight_request_finish_before_exiting() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path()).await;
    // Read the bootstrap key straight from the database: make our own.
    let (ok, out, _) = keys(
        dir.path(),
        &[
            "create",
            "--workspace",
            "default",
            "--user-id",
            "u",
            "--user-email",
            "u@x.io",
            "--json",
        ],
    )
    .await;
    assert!(ok);
    let key: Value = serde_json::from_str(out.trim()).unwrap();
    let key = key["key"].as_str().unwrap().to_owned();

    // Send the headers and half the body, then ask the server to stop.
    let body = minimal().to_string();
    let (head, tail) = body.split_at(body.len() / 2);
    let mut conn = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
    let request = format!(
        "POST /api/public/v1/agents HTTP/1.1\r\nHost: x\r\nx-api-key: {key}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{head}",
        body.len()
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    // Only signal once the request is being handled (the handler now waits for the rest of the body).
    server.wait_for_log("started").await;
    server.terminate();
    server.wait_for_log("shutdown requested").await;
    conn.write_all(tail.as_bytes()).await.unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let status = server.child.wait().await.unwrap();
    assert!(status.success());

    let (ok, _, _) = keys(dir.path(), &["list"]).await;
    assert!(ok, "the database is intact and closed cleanly");
}

#[test]
pub(crate) fn openapi_command_prints_the_committed_document() {
    let out = std::process::Command::new(BIN)
        .arg("openapi")
        .output()
        .unwrap();
    assert!(out.status.success());
    let committed = include_str!("../../../../openapi.json");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), committed);
}

#[test]
pub(crate) fn migrate_creates_a_database_that_serve_can_use() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(BIN)
        .args(["migrate", "--database", &db_url(dir.path())])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(PathBuf::from(dir.path()).join("cli.db").exists());
}

#[tokio::test]
pub(crate) async fn serve_defaults_to_dialplane_db_in_the_working_directory_and_reads_env_twins() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &[], &[("DIALPLANE_MAX_BODY_BYTES", "64")]).await;
    assert!(
        dir.path().join("dialplane.db").exists(),
        "created if missing"
    );
    let r = reqwest::Client::new()
        .post(server.url("/api/public/v1/agents"))
        .header("x-api-key", "dp_whatever")
        .header("content-type", "application/json")
        .body(vec![b' '; 100])
        .send()
        .await
        .unwrap();
    // Authentication comes first; with a bad key the body limit is not reached.
    assert_eq!(r.status(), 401);
    let (status, stdout, _) = server.stop().await;
    assert!(status.success());
    let key = bootstrap_key(&stdout).expect("bootstrap key");
    let server = Server::start_with(dir.path(), &[], &[("DIALPLANE_MAX_BODY_BYTES", "64")]).await;
    let r = reqwest::Client::new()
        .post(server.url("/api/public/v1/agents"))
        .header("x-api-key", &key)
        .json(&minimal())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413, "DIALPLANE_MAX_BODY_BYTES applies");
    server.stop().await;
}

#[tokio::test]
pub(crate) async fn llm_models_flag_replaces_the_built_in_list() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_with(
        dir.path(),
        &[
            "--database",
            &db_url(dir.path()),
            "--llm-models",
            "house-model,other-model",
        ],
        &[],
    )
    .await;
    let key = server.bootstrap_key().await;
    let client = reqwest::Client::new();
    let create = |llm: Option<&str>| {
        let mut body = minimal();
        if let Some(llm) = llm {
            body["conversationConfig"]["agent"]["prompt"]["llm"] = llm.into();
        }
        client
            .post(server.url("/api/public/v1/agents"))
            .header("x-api-key", &key)
            .json(&body)
            .send()
    };
    assert_eq!(create(Some("house-model")).await.unwrap().status(), 201);
    let refused = create(Some("gemini-2.5-flash")).await.unwrap();
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    let message = body["error"]["details"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("house-model"),
        "lists the allowed values: {message}"
    );
    let defaulted: Value = create(None).await.unwrap().json().await.unwrap();
    assert_eq!(
        defaulted["data"]["conversationConfig"]["agent"]["prompt"]["llm"], "house-model",
        "without the built-in default in the list, the first configured model is the default"
    );
    server.stop().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set DIALPLANE_TEST_POSTGRES_URL and pass --include-ignored"]
pub(crate) async fn serve_keys_and_migrate_work_with_nothing_but_a_postgres_url() {
    assert!(
        crate::support::postgres_url().is_some(),
        "this test needs PostgreSQL: set DIALPLANE_TEST_POSTGRES_URL"
    );
    let db = crate::support::TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    migrate(&db.url).await;
    // A password in the query string (sqlx reads it there too; trust auth never asks for it).
    let with_password = format!("{}&password=hunter2", db.url);
    let mut server = Server::start_with(dir.path(), &["--database", &with_password], &[]).await;
    let bootstrap = server.bootstrap_key().await;
    let out = Command::new(BIN)
        .args([
            "keys",
            "create",
            "--workspace",
            "pg",
            "--user-id",
            "p",
            "--user-email",
            "p@x.io",
            "--json",
            "--database",
            &db.url,
        ])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let client = reqwest::Client::new();
    for key in [bootstrap.as_str(), created["key"].as_str().unwrap()] {
        let r = client
            .post(server.url("/api/public/v1/agents"))
            .header("x-api-key", key)
            .json(&minimal())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let (status, _, stderr) = server.stop().await;
    assert!(status.success());
    assert!(!stderr.contains("hunter2"), "no password in logs: {stderr}");
    assert!(stderr.contains("database=postgres://"), "{stderr}");
    assert!(stderr.contains("password=***"), "{stderr}");
}

/// `keys create` for workspace `w`, user `u`, then `extra`.
pub fn create_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "create",
        "--workspace",
        "w",
        "--user-id",
        "u",
        "--user-email",
        "u@x.io",
    ];
    args.extend_from_slice(extra);
    args
}

/// `dialplane migrate` on the database at `url` (it creates a SQLite file), checked to succeed.
pub(crate) async fn migrate(url: &str) {
    let out = Command::new(BIN)
        .args(["migrate", "--database", url])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

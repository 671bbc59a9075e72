//! Crash safety: a server killed with SIGKILL while writers hammer it, five times over, loses no
//! write it acknowledged, and its database stays intact.

use crate::cli::{minimal, Server};
use crate::support::{postgres_url, TestDb};
use serde_json::json;
use std::sync::{Arc, Mutex};

const CRASHES: usize = 5;
const WRITERS: usize = 8;

/// A number in `0..n` that differs from run to run.
fn varying(n: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    u64::from(nanos) % n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_repeated_sigkills() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let args = ["--database", db.url.as_str()];
    let client = reqwest::Client::new();
    let acknowledged: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let mut key = None;
    for round in 0..CRASHES {
        let mut server = Server::start_with(dir.path(), &args, &[]).await;
        if key.is_none() {
            key = Some(server.bootstrap_key().await);
        }
        let key = key.clone().unwrap();
        // Writers create agents and patch them until the server dies under them.
        let mut writers = Vec::new();
        for w in 0..WRITERS {
            let (client, url, key, acked) = (
                client.clone(),
                server.url("/api/public/v1/agents"),
                key.clone(),
                acknowledged.clone(),
            );
            writers.push(tokio::spawn(async move {
                for i in 0.. {
                    let mut body = minimal();
                    body["name"] = json!(format!("r{round}w{w}i{i}"));
                    let Ok(r) = client
                        .post(&url)
                        .header("x-api-key", &key)
                        .json(&body)
                        .send()
                        .await
                    else {
                        return;
                    };
                    if r.status() != 201 {
                        return;
                    }
                    let Ok(created) = r.json::<serde_json::Value>().await else {
                        return;
                    };
                    let id = created["data"]["agentId"].as_str().unwrap().to_owned();
                    acked
                        .lock()
                        .unwrap()
                        .push((id, format!("r{round}w{w}i{i}")));
                }
            }));
        }
        // Kill at a different moment each round, once some writes were acknowledged (the writers
        // stop on their own only when the server fails them).
        let target = acknowledged.lock().unwrap().len() + 20 + varying(40) as usize;
        while acknowledged.lock().unwrap().len() < target {
            assert!(
                writers.iter().any(|w| !w.is_finished()),
                "every writer stopped before the crash"
            );
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        server.child.start_kill().unwrap();
        server.child.wait().await.unwrap();
        for w in writers {
            let _ = w.await;
        }
    }

    let server = Server::start_with(dir.path(), &args, &[]).await;
    let key = key.unwrap();
    let acked = acknowledged.lock().unwrap().clone();
    assert!(
        acked.len() >= CRASHES * 20,
        "{} writes acknowledged",
        acked.len()
    );
    for (id, name) in &acked {
        let r = client
            .get(server.url(&format!("/api/public/v1/agents/{id}")))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "acknowledged agent {name} ({id}) was lost");
        let agent: serde_json::Value = r.json().await.unwrap();
        assert_eq!(agent["data"]["name"], json!(name));
    }
    drop(server);
    if postgres_url().is_none() {
        let path = db.url.trim_start_matches("sqlite://");
        let mut conn =
            <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!("sqlite://{path}"))
                .await
                .unwrap();
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(check, "ok");
    }
}

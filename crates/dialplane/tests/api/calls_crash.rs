//! A server killed with SIGKILL during a burst of call ingestion: after the restart every
//! acknowledged conversation is there, with every acknowledged turn and finish.

use crate::cli::{minimal, Server};
use crate::support::TestDb;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const RUNTIMES: usize = 6;
const TURNS_A_REQUEST: usize = 3;

/// What the server acknowledged of one call.
#[derive(Default, Clone, Debug)]
struct Acked {
    turns: usize,
    completed: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_during_ingestion_loses_no_acknowledged_call_or_turn() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let args = ["--database", db.url.as_str()];
    let client = reqwest::Client::new();
    let mut server = Server::start_with(dir.path(), &args, &[]).await;
    let key = server.bootstrap_key().await;
    let created = client
        .post(server.url("/api/public/v1/agents"))
        .header("x-api-key", &key)
        .json(&minimal())
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let agent = created.json::<Value>().await.unwrap()["data"]["agentId"]
        .as_str()
        .unwrap()
        .to_owned();
    let acknowledged: Arc<Mutex<HashMap<String, Acked>>> = Arc::default();
    let mut runtimes = Vec::new();
    for r in 0..RUNTIMES {
        let (client, base, key, agent, acked) = (
            client.clone(),
            server.url("/api/public/v1/conversations"),
            key.clone(),
            agent.clone(),
            acknowledged.clone(),
        );
        runtimes.push(tokio::spawn(async move {
            // Each call: recorded, two batches of turns, finished; until the server dies.
            for i in 0.. {
                let body = json!({"agentId": agent, "direction": "inbound", "externalId": format!("r{r}i{i}")});
                let Ok(resp) = client.post(&base).header("x-api-key", &key).json(&body).send().await else {
                    return;
                };
                if resp.status() != 201 {
                    return;
                }
                let Ok(c) = resp.json::<Value>().await else { return };
                let id = c["data"]["conversationId"].as_str().unwrap().to_owned();
                acked.lock().unwrap().insert(id.clone(), Acked::default());
                for batch in 0..2 {
                    let turns: Vec<Value> = (0..TURNS_A_REQUEST)
                        .map(|t| json!({"role": "user", "text": format!("b{batch}t{t}"), "startMs": batch * 10 + t, "endMs": batch * 10 + t}))
                        .collect();
                    let sent = client
                        .post(format!("{base}/{id}/turns"))
                        .header("x-api-key", &key)
                        .json(&json!({"turns": turns}))
                        .send()
                        .await;
                    match sent {
                        Ok(resp) if resp.status() == 200 => {
                            acked.lock().unwrap().get_mut(&id).unwrap().turns += TURNS_A_REQUEST;
                        }
                        _ => return,
                    }
                }
                let done = client
                    .patch(format!("{base}/{id}"))
                    .header("x-api-key", &key)
                    .json(&json!({"status": "completed"}))
                    .send()
                    .await;
                match done {
                    Ok(resp) if resp.status() == 200 => {
                        acked.lock().unwrap().get_mut(&id).unwrap().completed = true;
                    }
                    _ => return,
                }
            }
        }));
    }
    // Killed once some calls were acknowledged whole, while the runtimes are mid-call.
    while acknowledged
        .lock()
        .unwrap()
        .values()
        .filter(|a| a.completed)
        .count()
        < 20
    {
        assert!(
            runtimes.iter().any(|w| !w.is_finished()),
            "every runtime stopped before the kill"
        );
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    server.child.start_kill().unwrap();
    server.child.wait().await.unwrap();
    for r in runtimes {
        let _ = r.await;
    }
    let server = Server::start_with(dir.path(), &args, &[]).await;
    let acked = acknowledged.lock().unwrap().clone();
    for (id, a) in &acked {
        let r = client
            .get(server.url(&format!("/api/public/v1/conversations/{id}")))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "acknowledged conversation {id} was lost");
        let c: Value = r.json().await.unwrap();
        let turns = c["data"]["turns"].as_array().unwrap().len();
        // One more batch may have committed without its answer getting out.
        assert!(
            turns == a.turns || turns == a.turns + TURNS_A_REQUEST,
            "{id}: {turns} turns stored, {} acknowledged",
            a.turns
        );
        if a.completed {
            assert_eq!(c["data"]["status"], "completed", "{id}");
        }
    }
}

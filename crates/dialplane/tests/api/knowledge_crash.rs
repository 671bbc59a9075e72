//! A server killed with SIGKILL while uploads are under way: every acknowledged upload is whole
//! after the restart, and no upload is there in part (its group with fewer files, or a file without
//! its bytes).

use crate::cli::Server;
use crate::support::{form, FormPart, TestDb};
use std::sync::{Arc, Mutex};

const UPLOADERS: usize = 4;
const FILES: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_during_uploads_leaves_each_upload_whole_or_absent() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let args = ["--database", db.url.as_str()];
    let client = reqwest::Client::new();
    let mut server = Server::start_with(dir.path(), &args, &[]).await;
    let key = server.bootstrap_key().await;
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut uploaders = Vec::new();
    for u in 0..UPLOADERS {
        let (client, url, key, acked) = (
            client.clone(),
            server.url("/api/public/v1/knowledge-base/documents/file"),
            key.clone(),
            acknowledged.clone(),
        );
        uploaders.push(tokio::spawn(async move {
            for i in 0.. {
                let group = format!("u{u}i{i}");
                let files: Vec<Vec<u8>> = (0..FILES)
                    .map(|f| format!("{group} file {f} ").repeat(2000).into_bytes())
                    .collect();
                let mut parts = vec![FormPart {
                    field: "groupName",
                    file_name: None,
                    bytes: group.as_bytes(),
                }];
                let names: Vec<String> = (0..FILES).map(|f| format!("{group}-{f}.txt")).collect();
                for (name, bytes) in names.iter().zip(&files) {
                    parts.push(FormPart {
                        field: "files",
                        file_name: Some(name),
                        bytes,
                    });
                }
                let (content_type, body) = form(&parts);
                let Ok(r) = client
                    .post(&url)
                    .header("x-api-key", &key)
                    .header("content-type", content_type)
                    .body(body)
                    .send()
                    .await
                else {
                    return;
                };
                if r.status() != 201 {
                    return;
                }
                acked.lock().unwrap().push(group);
            }
        }));
    }
    while acknowledged.lock().unwrap().len() < 10 {
        assert!(
            uploaders.iter().any(|u| !u.is_finished()),
            "every uploader stopped"
        );
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    server.child.start_kill().unwrap();
    server.child.wait().await.unwrap();
    for u in uploaders {
        let _ = u.await;
    }

    let server = Server::start_with(dir.path(), &args, &[]).await;
    let get = |path: String| {
        let (client, key, url) = (client.clone(), key.clone(), server.url(&path));
        async move {
            let r = client
                .get(url)
                .header("x-api-key", key)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.bytes().await.unwrap()
        }
    };
    let mut groups = Vec::new();
    let mut cursor = String::new();
    loop {
        let page: serde_json::Value = serde_json::from_slice(
            &get(format!(
                "/api/public/v1/knowledge-base/groups?pageSize=100{cursor}"
            ))
            .await,
        )
        .unwrap();
        groups.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["pagination"]["nextCursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    for group in &groups {
        assert_eq!(
            group["documentCount"], FILES,
            "an upload stored in part: {group}"
        );
        let id = group["groupId"].as_str().unwrap();
        let documents: serde_json::Value = serde_json::from_slice(
            &get(format!(
                "/api/public/v1/knowledge-base/documents?groupId={id}"
            ))
            .await,
        )
        .unwrap();
        for document in documents["data"].as_array().unwrap() {
            let id = document["documentId"].as_str().unwrap();
            let bytes = get(format!(
                "/api/public/v1/knowledge-base/documents/{id}/content"
            ))
            .await;
            assert_eq!(
                bytes.len() as u64,
                document["details"]["fileSize"].as_u64().unwrap()
            );
            assert_eq!(document["status"], "ready");
        }
    }
    let stored: Vec<&str> = groups.iter().map(|g| g["name"].as_str().unwrap()).collect();
    for group in acknowledged.lock().unwrap().iter() {
        assert!(
            stored.contains(&group.as_str()),
            "acknowledged upload {group} was lost"
        );
    }
}

//! Hostile clients and misconfiguration: bodies trickled a byte at a time, requests that could be
//! read two ways, patches built to burn CPU, a second server on the database through a link, keys
//! pasted where they do not belong.

use crate::cli::{create_args, keys, minimal, refused_serve, Server};
use crate::support::{agent_path, minimal_agent, TestApp, TestOptions};
use serde_json::{json, Value};
use std::io::Write;
use std::time::{Duration, Instant};

/// The server's resident memory in bytes, from `/proc`.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib * 1024
}

/// Sends a create request's head declaring `declared` body bytes, then body bytes one TCP segment
/// each (no Nagle, a pause between writes so that the server reads each alone) until `until`.
fn trickle(addr: &str, key: &str, declared: usize, until: Instant) -> usize {
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_nodelay(true).unwrap();
    write!(
        conn,
        "POST /api/public/v1/agents HTTP/1.1\r\nhost: x\r\nx-api-key: {key}\r\n\
         content-type: application/json\r\ncontent-length: {declared}\r\n\r\n{{"
    )
    .unwrap();
    let mut sent = 1;
    while Instant::now() < until && sent < declared {
        if conn.write_all(b" ").is_err() {
            break;
        }
        sent += 1;
        std::thread::sleep(Duration::from_micros(200));
    }
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_trickled_a_byte_a_segment_keep_the_server_under_200_mib() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path()).await;
    let key = server.bootstrap_key().await;
    let pid = server.child.id().expect("running");
    let before = rss_bytes(pid);
    let until = Instant::now() + Duration::from_secs(8);
    let tricklers: Vec<_> = (0..4)
        .map(|_| {
            let (addr, key) = (server.addr.clone(), key.clone());
            std::thread::spawn(move || trickle(&addr, &key, 1 << 20, until))
        })
        .collect();
    let mut most = before;
    while Instant::now() < until {
        most = most.max(rss_bytes(pid));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sent: usize = tricklers.into_iter().map(|t| t.join().unwrap()).sum();
    most = most.max(rss_bytes(pid));
    assert!(
        sent > 20_000,
        "the trickle sent {sent} bytes; too few to prove anything"
    );
    assert!(
        most < 200 << 20,
        "{sent} bytes trickled took the server from {} to {} MiB",
        before >> 20,
        most >> 20
    );
    // And it still serves.
    let listed = server.get_json("/api/public/v1/agents", &key).await;
    assert_eq!(listed["success"], json!(true), "{listed}");
    let (status, _, _) = server.stop().await;
    assert!(status.success());
}

#[tokio::test]
async fn a_second_server_through_a_hard_link_or_a_symlink_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let first = Server::start(dir.path()).await;
    let db = dir.path().join("cli.db");
    let other_dir = dir.path().join("elsewhere");
    std::fs::create_dir(&other_dir).unwrap();
    let hard = other_dir.join("hard.db");
    std::fs::hard_link(&db, &hard).unwrap();
    let soft = other_dir.join("soft.db");
    std::os::unix::fs::symlink(&db, &soft).unwrap();
    let linked_dir = dir.path().join("linked-dir");
    std::os::unix::fs::symlink(dir.path(), &linked_dir).unwrap();
    for path in [hard, soft, linked_dir.join("cli.db")] {
        let url = format!("sqlite://{}", path.display());
        let err = refused_serve(dir.path(), &url).await;
        assert!(
            err.contains("another dialplane server is serving"),
            "{}: {err}",
            path.display()
        );
    }
    let (status, _, _) = first.stop().await;
    assert!(status.success());
}

#[tokio::test]
async fn a_json_patch_over_the_operation_limit_is_refused_before_any_operation_is_applied() {
    let app = TestApp::spawn_with(TestOptions {
        rules: dialplane_core::Rules {
            max_patch_operations: 5,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let id = app.create_named("Ops").await;
    let ops = |n: usize| {
        (0..n)
            .map(|i| json!({"op": "add", "path": "/tags/0", "value": format!("t{i}")}))
            .collect::<Value>()
    };
    let refused = app.json_patch(&id, "", &ops(6), &[]).await;
    refused.assert_error(400, "validation_error");
    refused.assert_problem("", "too_long");
    assert_eq!(app.version_numbers(&id).await, vec![1], "nothing stored");
    assert_eq!(app.get_agent(&id).await.data()["tags"], json!([]));
    let applied = app.json_patch(&id, "", &ops(5), &[]).await;
    assert_eq!(applied.status, 200, "{applied:?}");
    assert_eq!(
        applied.data()["tags"],
        json!(["t4", "t3", "t2", "t1", "t0"])
    );
}

#[tokio::test]
async fn the_default_operation_limit_is_a_thousand() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Ops").await;
    let ops = |n: usize| {
        Value::Array(vec![
            json!({"op": "test", "path": "/name", "value": "Ops"});
            n
        ])
    };
    app.json_patch(&id, "", &ops(1001), &[])
        .await
        .assert_problem("", "too_long");
    assert_eq!(app.json_patch(&id, "", &ops(1000), &[]).await.status, 200);
}

#[tokio::test]
async fn two_api_keys_in_one_request_are_refused_whichever_they_are() {
    let app = TestApp::spawn().await;
    let other = app
        .new_key("other", dialplane_core::Scope::Write, "bob")
        .await;
    for (first, second) in [(&app.key, &other), (&other, &app.key), (&app.key, &app.key)] {
        let request = format!(
            "GET /api/public/v1/agents HTTP/1.1\r\nhost: x\r\nx-api-key: {first}\r\nx-api-key: {second}\r\n\r\n"
        );
        let answer = app.raw(request.as_bytes()).await.expect("an answer");
        answer.assert_error(401, "unauthorized");
        assert!(
            answer.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("exactly one"),
            "{answer:?}"
        );
    }
}

#[tokio::test]
async fn two_idempotency_keys_in_one_request_are_refused_and_create_nothing() {
    let app = TestApp::spawn().await;
    let body = serde_json::to_vec(&minimal_agent("Twice")).unwrap();
    for (first, second) in [("k7", "k6"), ("k6", "k7")] {
        let answer = app
            .send(
                reqwest::Method::POST,
                "/api/public/v1/agents",
                Some(&app.key),
                &[("idempotency-key", first), ("idempotency-key", second)],
                Some(body.clone()),
            )
            .await;
        answer.assert_error(400, "invalid_parameter");
    }
    let listed = app.list_agents("").await;
    assert_eq!(listed.data().as_array().unwrap().len(), 0, "{listed:?}");
}

#[tokio::test]
async fn an_encoded_body_is_refused_with_415_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Plain").await;
    let send = |method: reqwest::Method, path: String, encoding: &'static str, body: Vec<u8>| {
        let headers = [
            ("content-type", "application/json"),
            ("content-encoding", encoding),
        ];
        let app = &app;
        async move {
            app.send(method, &path, Some(&app.key), &headers, Some(body))
                .await
        }
    };
    let create = serde_json::to_vec(&minimal_agent("Encoded")).unwrap();
    let rename = br#"{"name": "Changed"}"#.to_vec();
    for encoding in ["gzip", "br", "deflate", "identity, gzip"] {
        let created = send(
            reqwest::Method::POST,
            "/api/public/v1/agents".into(),
            encoding,
            create.clone(),
        )
        .await;
        created.assert_error(415, "unsupported_media_type");
        let patched = send(
            reqwest::Method::PATCH,
            agent_path(&id, ""),
            encoding,
            rename.clone(),
        )
        .await;
        patched.assert_error(415, "unsupported_media_type");
    }
    let listed = app.list_agents("").await;
    assert_eq!(listed.data().as_array().unwrap().len(), 1, "{listed:?}");
    assert_eq!(app.get_agent(&id).await.data()["name"], json!("Plain"));
    // `identity` is no encoding at all.
    let patched = send(
        reqwest::Method::PATCH,
        agent_path(&id, ""),
        "identity",
        rename,
    )
    .await;
    assert_eq!(patched.status, 200, "{patched:?}");
}

#[tokio::test]
async fn a_declared_oversize_body_is_refused_at_once_without_waiting_for_it() {
    let app = TestApp::spawn_with(TestOptions {
        http: dialplane_server::HttpOptions {
            // The old behaviour waited this long for the body before answering.
            body_read_timeout: Duration::from_secs(600),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let id = app.create_named("Big").await;
    for (method, path) in [
        ("PATCH", agent_path(&id, "")),
        ("POST", "/api/public/v1/agents".to_owned()),
    ] {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: x\r\nx-api-key: {}\r\n\
             content-type: application/json\r\ncontent-length: 100000000\r\n\r\n{{",
            app.key
        );
        // `raw` gives up after 10 s: the answer must come without the body.
        let answer = app.raw(head.as_bytes()).await.expect("an answer");
        answer.assert_error(413, "payload_too_large");
    }
    assert_eq!(app.version_numbers(&id).await, vec![1]);
}

#[tokio::test]
async fn version_numbers_have_one_spelling() {
    let app = TestApp::spawn().await;
    let id = app.create_named("Versions").await;
    for raw in ["01", "+1", "1.0", " 1"] {
        let path = agent_path(&id, &format!("/versions/{}", raw.replace(' ', "%20")));
        let answer = app.get(&path).await;
        answer.assert_error(400, "invalid_parameter");
        let diff = app
            .get(&agent_path(&id, &format!("/versions/1/diff?from={raw}")))
            .await;
        diff.assert_error(400, "invalid_parameter");
    }
    assert_eq!(app.get(&agent_path(&id, "/versions/1")).await.status, 200);
}

#[tokio::test]
async fn a_key_pasted_into_a_path_or_parameter_is_never_echoed_nor_logged() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path()).await;
    let key = server.bootstrap_key().await;
    let id = {
        let created: Value = reqwest::Client::new()
            .post(server.url("/api/public/v1/agents"))
            .header("x-api-key", &key)
            .json(&minimal())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        created["data"]["agentId"].as_str().unwrap().to_owned()
    };
    let pasted = dialplane_core::ApiKey::generate().expose().to_owned();
    // Whether the message quotes the value (with the key cut out of it).
    for (path, quotes) in [
        (format!("/api/public/v1/agents/{pasted}"), true),
        (format!("/api/public/v1/agents/{key}"), true),
        (
            format!("/api/public/v1/agents/{id}/versions/{pasted}"),
            true,
        ),
        (format!("/api/public/v1/agents?{pasted}=1"), true),
        (format!("/api/public/v1/agents?cursor={pasted}"), false),
    ] {
        let answer = server.get_json(&path, &key).await;
        assert_eq!(answer["success"], json!(false), "{path}: {answer}");
        let text = answer.to_string();
        assert!(
            !text.contains(&pasted[3..]) && !text.contains(&key[3..]),
            "{text}"
        );
        if quotes {
            assert!(
                text.contains("dp_…"),
                "the message says a key was cut: {text}"
            );
        }
    }
    let (status, _, stderr) = server.stop().await;
    assert!(status.success());
    assert!(
        stderr.contains("invalid_parameter") || stderr.contains("InvalidParameter"),
        "the refusals were logged at debug: {stderr}"
    );
    for secret in [&pasted[3..], &key[3..]] {
        assert!(!stderr.contains(secret), "a key is in the logs");
    }
}

#[tokio::test]
async fn keys_create_refuses_labels_that_would_mislead_and_list_escapes_what_it_prints() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    for (workspace, user, email, flag) in [
        ("acme", "bob\r\nforged line", "bob@acme.test", "--user-id"),
        ("acme", "bob\u{1b}[31m", "bob@acme.test", "--user-id"),
        ("acme", "bob\u{7}", "bob@acme.test", "--user-id"),
        ("acme", "bob", "not-an-email", "--user-email"),
        ("acme", "bob", "bob@acme.test\n", "--user-email"),
        ("A ", "bob", "bob@acme.test", "--workspace"),
        ("A\u{200b}", "bob", "bob@acme.test", "--workspace"),
        (" A", "bob", "bob@acme.test", "--workspace"),
    ] {
        let args = [
            "create",
            "--workspace",
            workspace,
            "--user-id",
            user,
            "--user-email",
            email,
        ];
        let (ok, out, err) = keys(dir.path(), &args).await;
        assert!(
            !ok && out.is_empty(),
            "{workspace:?} {user:?} {email:?}: {out}"
        );
        assert!(err.contains(flag), "{flag} named: {err}");
    }
    let (ok, _, err) = keys(dir.path(), &create_args(&["--expires-in", "0s"])).await;
    assert!(!ok && err.contains("at least 1s"), "{err}");
    // Only the bootstrap key exists: none of the refused ones was stored.
    let (ok, out, err) = keys(dir.path(), &["list", "--json"]).await;
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");

    // A label stored before labels were checked is printed escaped, never raw.
    let store = dialplane_store::open(
        &format!("sqlite://{}", dir.path().join("cli.db").display())
            .parse()
            .unwrap(),
        &Default::default(),
    )
    .await
    .unwrap();
    store
        .write(dialplane_store::CreateKey(dialplane_store::NewKey {
            hash: dialplane_core::ApiKey::generate().hash(),
            workspace: "old\u{1b}[2J".into(),
            scope: dialplane_core::Scope::Read,
            user: dialplane_core::CreatedBy {
                user_id: "eve\r\nforged".into(),
                user_email: "eve@x.io".into(),
            },
            expires_at: None,
        }))
        .await
        .unwrap();
    store.close().await;
    let (ok, out, err) = keys(dir.path(), &["list"]).await;
    assert!(ok, "{err}");
    assert!(
        !out.contains('\u{1b}') && !out.contains('\r'),
        "raw control characters printed: {out:?}"
    );
    assert!(
        out.contains("old\\u{1b}[2J") && out.contains("eve\\r\\nforged"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 2, "no forged line: {out}");
    let (status, _, _) = server.stop().await;
    assert!(status.success());
}

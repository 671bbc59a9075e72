//! The binary, continued: the key commands against missing, PostgreSQL and busy databases, expiry, logs, the server lock.

use super::cli::*;
use serde_json::Value;

#[tokio::test]
async fn the_key_commands_refuse_a_database_that_does_not_exist_and_create_none() {
    let dir = tempfile::tempdir().unwrap();
    let some_key_id = dialplane_core::KeyId::generate().to_string();
    for args in [
        create_args(&["--json"]),
        vec!["list"],
        vec!["revoke", &some_key_id],
    ] {
        let (ok, out, err) = keys(dir.path(), &args).await;
        assert!(!ok, "{args:?} succeeded: {out}");
        assert!(out.is_empty(), "{args:?} printed {out}");
        assert!(err.contains("there is no database at"), "{args:?}: {err}");
        assert!(
            std::fs::read_dir(dir.path()).unwrap().next().is_none(),
            "{args:?} created a file"
        );
    }
    // `migrate` creates it; then the keys commands work.
    migrate(&db_url(dir.path())).await;
    let (ok, _, err) = keys(dir.path(), &create_args(&["--json"])).await;
    assert!(ok, "{err}");
}

#[tokio::test]
async fn keys_can_be_created_with_an_expiry() {
    let dir = tempfile::tempdir().unwrap();
    migrate(&db_url(dir.path())).await;
    let before = chrono::Utc::now();
    let (ok, out, err) = keys(dir.path(), &create_args(&["--expires-in", "2h", "--json"])).await;
    assert!(ok, "{err}");
    let created: Value = serde_json::from_str(out.trim()).unwrap();
    let expires: chrono::DateTime<chrono::Utc> =
        created["expiresAt"].as_str().unwrap().parse().unwrap();
    let lifetime = expires - before;
    assert!(
        (7199..=7260).contains(&lifetime.num_seconds()),
        "{lifetime:?}"
    );
    let (ok, listed, _) = keys(dir.path(), &["list", "--json"]).await;
    assert!(ok);
    assert!(listed.contains("\"expiresAt\""), "{listed}");
    let (ok, _, err) = keys(dir.path(), &create_args(&["--expires-in", "soon"])).await;
    assert!(!ok, "a bad duration is refused");
    assert!(err.contains("expires-in"), "{err}");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set DIALPLANE_TEST_POSTGRES_URL and pass --include-ignored"]
async fn three_instances_starting_together_on_an_empty_database_print_one_bootstrap_key() {
    assert!(
        crate::support::postgres_url().is_some(),
        "this test needs PostgreSQL: set DIALPLANE_TEST_POSTGRES_URL"
    );
    let db = crate::support::TestDb::new().await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let args = ["--database", db.url.as_str()];
    let (a, b, c) = tokio::join!(
        Server::start_with(dirs[0].path(), &args, &[]),
        Server::start_with(dirs[1].path(), &args, &[]),
        Server::start_with(dirs[2].path(), &args, &[]),
    );
    let mut printed = Vec::new();
    for server in [a, b, c] {
        let (status, stdout, _) = server.stop().await;
        assert!(status.success());
        printed.extend(bootstrap_key(&stdout));
    }
    assert_eq!(
        printed.len(),
        1,
        "exactly one instance creates the first key: {printed:?}"
    );
}

#[tokio::test]
async fn no_api_key_reaches_the_logs_even_at_trace_level() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_with(
        dir.path(),
        &["--log-format", "json", "--database", &db_url(dir.path())],
        &[("RUST_LOG", "trace")],
    )
    .await;
    let bootstrap = server.bootstrap_key().await;
    let created = |out: &str| -> String {
        let key: Value = serde_json::from_str(out.trim()).unwrap();
        key["key"].as_str().unwrap().to_owned()
    };
    let (ok, out, err) = keys(dir.path(), &create_args(&["--json"])).await;
    assert!(ok, "{err}");
    let writer = created(&out);
    let (ok, out, _) = keys(dir.path(), &create_args(&["--json", "--expires-in", "1s"])).await;
    assert!(ok);
    let expired = created(&out);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let unknown = dialplane_core::ApiKey::generate().expose().to_owned();
    let malformed = format!("{}!", &unknown[..20]);
    let secrets = [&bootstrap, &writer, &expired, &unknown, &malformed];
    // The first two work; the expired, unknown and malformed ones do not.
    let creates = [201, 201, 401, 401, 401];

    let client = reqwest::Client::new();
    let mut requests = 0;
    for (key, want) in secrets.into_iter().zip(creates) {
        let create = client
            .post(server.url("/api/public/v1/agents"))
            .header("x-api-key", key.as_str())
            .json(&minimal())
            .send()
            .await
            .unwrap();
        let list = client
            .get(server.url("/api/public/v1/agents?pageSize=0"))
            .header("x-api-key", key.as_str())
            .send()
            .await
            .unwrap();
        let bearer = client
            .get(server.url("/api/public/v1/agents"))
            .header("authorization", format!("Bearer {key}"))
            .send()
            .await
            .unwrap();
        requests += 3;
        assert_eq!(create.status().as_u16(), want);
        assert!([400, 401].contains(&list.status().as_u16()) && bearer.status() == 401);
    }
    let (status, _, stderr) = server.stop().await;
    assert!(status.success());
    let served = stderr.lines().filter(|l| l.contains("served")).count();
    assert!(
        served >= requests,
        "the log holds every request: {served} of {requests}"
    );
    for key in secrets {
        let secret = key.trim_start_matches("dp_");
        assert!(
            !stderr.contains(secret),
            "a key (or its secret part) is in the logs: {secret}"
        );
    }
}

#[tokio::test]
async fn a_second_server_on_the_same_sqlite_file_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let first = Server::start(dir.path()).await;
    let err = refused_serve(dir.path(), &db_url(dir.path())).await;
    assert!(err.contains("another dialplane server is serving"), "{err}");
    // Tools that share the database with a server still work.
    let (ok, _, err) = keys(dir.path(), &["list"]).await;
    assert!(ok, "{err}");
    let (status, _, _) = first.stop().await;
    assert!(status.success());
    // Once the first is gone, a server starts again.
    let again = Server::start(dir.path()).await;
    let (status, _, _) = again.stop().await;
    assert!(status.success());
}

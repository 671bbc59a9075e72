//! A newcomer's first hour with the binary: a taken port before any key is made, what `migrate`
//! and `backup` say, and a Redis that refuses, said at start with its cause.

use crate::cli::{Server, BIN};
use std::path::Path;

/// Runs the binary in `dir`: (success, stdout, stderr).
async fn dialplane(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(BIN)
        .args(args)
        .env_remove("DIALPLANE_DATABASE_URL")
        .env_remove("DIALPLANE_CONFIG")
        .current_dir(dir)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_taken_port_is_named_by_its_flag_and_no_key_is_made_before_every_listener_is_bound() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    for (flag, listen, metrics) in [
        ("--metrics-listen", "127.0.0.1:0", port.as_str()),
        ("--listen", port.as_str(), "127.0.0.1:0"),
    ] {
        let (ok, out, err) = dialplane(
            dir.path(),
            &["serve", "--listen", listen, "--metrics-listen", metrics],
        )
        .await;
        assert!(!ok, "{err}");
        assert!(err.contains(&format!("{flag} {port}")), "{flag}: {err}");
        assert!(
            !out.contains("dp_"),
            "a key was printed before serving failed: {out}"
        );
    }
    // The first start that can serve prints the key: none was made by the failed starts.
    let mut server = Server::start(dir.path()).await;
    let key = server.bootstrap_key().await;
    assert!(key.starts_with("dp_"));
    let (status, _, _) = server.stop().await;
    assert!(status.success());
}

#[tokio::test]
async fn migrate_says_whether_it_created_the_database_and_at_which_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let db = "sqlite://./first.db";
    let (ok, _, err) = dialplane(dir.path(), &["migrate", "--database", db]).await;
    assert!(ok && err.contains("created sqlite://./first.db"), "{err}");
    assert!(err.contains("schema version"), "{err}");
    let (ok, _, err) = dialplane(dir.path(), &["migrate", "--database", db]).await;
    assert!(ok && err.contains("is up to date (schema version"), "{err}");
    // A database an earlier release left behind: the migrations applied now are counted.
    let older = format!("sqlite://{}", dir.path().join("older.db").display());
    crate::support::migrate_until_sqlite(&older, 5).await;
    let (ok, _, err) = dialplane(dir.path(), &["migrate", "--database", &older]).await;
    let left = dialplane_store::sqlite::migrator().iter().count() - 4;
    assert!(
        ok && err.contains(&format!("applied {left} migration(s) to")),
        "{err}"
    );
}

#[tokio::test]
async fn backup_names_a_missing_directory_counts_agents_in_words_and_offers_only_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = "sqlite://./b.db";
    assert!(
        dialplane(dir.path(), &["migrate", "--database", db])
            .await
            .0
    );
    let (ok, _, err) = dialplane(dir.path(), &["backup", "--database", db, "nowhere/b.bak"]).await;
    assert!(!ok);
    assert!(
        err.contains("the directory nowhere does not exist"),
        "{err}"
    );
    assert_eq!(err.matches("nowhere").count(), 1, "said once: {err}");
    let (ok, _, err) = dialplane(dir.path(), &["backup", "--database", db, "b.bak"]).await;
    assert!(ok && err.contains("(0 agents,"), "{err}");
    // A restore into a missing directory says so, once.
    let (ok, _, err) = dialplane(
        dir.path(),
        &["restore", "b.bak", "--database", "sqlite://./nodir/new.db"],
    )
    .await;
    assert!(!ok && err.contains("nodir does not exist"), "{err}");
    assert_eq!(err.matches("does not exist").count(), 1, "said once: {err}");
    for command in ["backup", "restore"] {
        let (ok, help, _) = dialplane(dir.path(), &[command, "--help"]).await;
        assert!(ok && help.contains("sqlite://PATH"), "{help}");
        assert!(
            !help.contains("postgres://"),
            "{command} --help offers PostgreSQL: {help}"
        );
    }
}

#[tokio::test]
async fn a_redis_that_refuses_is_said_at_start_with_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    // A loopback port nothing listens on: bound, then let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let redis = format!("redis://:secret@127.0.0.1:{port}");
    let server = Server::start_with(
        dir.path(),
        &[
            "--database",
            "sqlite://./r.db",
            "--redis-url",
            &redis,
            "--rate-limit-per-minute",
            "5",
        ],
        &[],
    )
    .await;
    let (status, _, err) = server.stop().await;
    assert!(status.success());
    let warning = err
        .lines()
        .find(|l| l.contains("Redis cannot be reached"))
        .unwrap_or_else(|| panic!("no word of Redis at start: {err}"));
    assert!(warning.contains("refused"), "the cause: {warning}");
    let listening = err.lines().find(|l| l.contains("listening on")).unwrap();
    assert!(
        listening.contains(&format!("redis=redis://:***@127.0.0.1:{port}")),
        "{listening}"
    );
    assert!(!err.contains("secret"), "the password is masked: {err}");
}

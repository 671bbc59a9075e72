//! `dialplane backup` taken under write load and `dialplane restore`: every write acknowledged before
//! the backup started comes back, and nothing is overwritten by mistake.

use crate::cli::{minimal, Server, BIN};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const WRITERS: usize = 4;

/// Runs the binary; answers whether it succeeded and what it printed on stderr.
async fn dialplane(args: &[&str]) -> (bool, String) {
    let out = tokio::process::Command::new(BIN)
        .args(args)
        .env_remove("DIALPLANE_DATABASE_URL")
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// Every agent id the server holds, page by page.
async fn all_ids(server: &Server, key: &str) -> HashSet<String> {
    let mut ids = HashSet::new();
    let mut path = "/api/public/v1/agents?pageSize=100".to_owned();
    loop {
        let page = server.get_json(&path, key).await;
        for agent in page["data"].as_array().expect("a page of agents") {
            ids.insert(agent["agentId"].as_str().unwrap().to_owned());
        }
        match page["pagination"]["nextCursor"].as_str() {
            Some(next) => path = format!("/api/public/v1/agents?pageSize=100&cursor={next}"),
            None => return ids,
        }
    }
}

/// Runs `backup` while writers create agents; answers the agents acknowledged before it started and
/// all agents acknowledged.
async fn under_write_load<F, Fut>(
    server: &Server,
    key: &str,
    backup: F,
) -> (HashSet<String>, HashSet<String>)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (agents, key, acked, stop) = (
            server.url("/api/public/v1/agents"),
            key.to_owned(),
            acknowledged.clone(),
            stop.clone(),
        );
        writers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for i in 0.. {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let mut body = minimal();
                body["name"] = json!(format!("w{w}i{i}"));
                let r = client
                    .post(&agents)
                    .header("x-api-key", &key)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
                let created: Value = r.json().await.unwrap();
                let id = created["data"]["agentId"].as_str().unwrap().to_owned();
                acked.lock().unwrap().push(id);
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // Everything acknowledged so far must be in the backup; writers carry on while it is taken.
    let before: HashSet<String> = acknowledged.lock().unwrap().iter().cloned().collect();
    assert!(!before.is_empty(), "the writers are writing");
    backup().await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    let all: HashSet<String> = acknowledged.lock().unwrap().iter().cloned().collect();
    assert!(all.len() > before.len(), "writes went on around the backup");
    (before, all)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_write_load_restores_every_write_acknowledged_before_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.db");
    let url = sqlite_url(&live);
    let mut server = Server::start_with(dir.path(), &["--database", &url], &[]).await;
    let key = server.bootstrap_key().await;

    let file = dir.path().join("backup.db");
    let (before, all) = under_write_load(&server, &key, || async {
        let (ok, err) = dialplane(&["backup", "--database", &url, file.to_str().unwrap()]).await;
        assert!(ok, "backup failed: {err}");
        assert!(err.contains("agents"), "{err}");
    })
    .await;

    // A restore will not pull the database from under a running server.
    let (ok, err) = dialplane(&["restore", file.to_str().unwrap(), "--database", &url]).await;
    assert!(!ok && err.contains("in use"), "{err}");
    let (status, _, _) = server.stop().await;
    assert!(status.success());
    assert_eq!(
        all_ids_offline(&url, &key, dir.path()).await,
        all,
        "the refused restore changed nothing"
    );

    // Stopped, it restores, keeping the database it replaces.
    let (ok, err) = dialplane(&["restore", file.to_str().unwrap(), "--database", &url]).await;
    assert!(ok, "restore failed: {err}");
    let kept: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("live.db.replaced-")
        })
        .collect();
    assert_eq!(kept.len(), 1, "the replaced database is kept: {err}");

    let restored = all_ids_offline(&url, &key, dir.path()).await;
    let lost: Vec<_> = before.difference(&restored).collect();
    assert!(
        lost.is_empty(),
        "acknowledged before the backup, missing after the restore: {lost:?}"
    );
    assert!(
        restored.is_subset(&all),
        "the restore holds agents nobody created"
    );

    // The replaced database still holds everything.
    let aside = sqlite_url(&kept[0].path());
    assert_eq!(all_ids_offline(&aside, &key, dir.path()).await, all);
}

/// Starts a server on `url`, lists every agent, stops it.
async fn all_ids_offline(url: &str, key: &str, dir: &Path) -> HashSet<String> {
    let server = Server::start_with(dir, &["--database", url], &[]).await;
    let ids = all_ids(&server, key).await;
    let (status, _, _) = server.stop().await;
    assert!(status.success());
    ids
}

#[tokio::test]
async fn backup_and_restore_refuse_what_would_lose_or_damage_data() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("d.db");
    let url = sqlite_url(&db);
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();

    // Backing up a database that does not exist creates nothing.
    let (ok, err) = dialplane(&["backup", "--database", &url, &path("b.db")]).await;
    assert!(!ok && err.contains("does not exist"), "{err}");
    assert!(!db.exists() && !dir.path().join("b.db").exists());

    let (ok, err) = dialplane(&["migrate", "--database", &url]).await;
    assert!(ok, "{err}");
    let original = std::fs::read(&db).unwrap();

    // An existing file is never overwritten.
    std::fs::write(path("taken.db"), b"precious").unwrap();
    let (ok, err) = dialplane(&["backup", "--database", &url, &path("taken.db")]).await;
    assert!(!ok && err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read(path("taken.db")).unwrap(), b"precious");

    // Neither is a database replaced by something that is not a backup.
    std::fs::write(path("junk.db"), b"not a database at all").unwrap();
    let (ok, err) = dialplane(&["restore", &path("junk.db"), "--database", &url]).await;
    assert!(
        !ok && err.contains("not a usable dialplane backup"),
        "{err}"
    );
    let (ok, err) = dialplane(&["restore", &path("none.db"), "--database", &url]).await;
    assert!(!ok && err.contains("does not exist"), "{err}");
    // Nor while a server holds the database's lock, even one that has not opened the file yet (a
    // supervisor restarting it meanwhile): it would keep serving the file being replaced.
    let (ok, err) = dialplane(&["backup", "--database", &url, &path("good.db")]).await;
    assert!(ok, "{err}");
    let held = dialplane_store::sqlite::lock_for_serving(&url).unwrap();
    let (ok, err) = dialplane(&["restore", &path("good.db"), "--database", &url]).await;
    assert!(!ok && err.contains("in use"), "{err}");
    drop(held);
    assert_eq!(std::fs::read(&db).unwrap(), original);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("restoring") || n.contains("replaced") || n.contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // A dangling symlink at the destination is not replaced either (it "does not exist" until the
    // copy is put in place, and a rename would have replaced it).
    let dangling = dir.path().join("dangling.db");
    std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
    let (ok, err) = dialplane(&["backup", "--database", &url, &path("dangling.db")]).await;
    assert!(!ok && err.contains("already exists"), "{err}");
    assert_eq!(
        std::fs::read_link(&dangling).unwrap(),
        dir.path().join("nowhere"),
        "the symlink is as it was"
    );
    assert!(!dir.path().join("nowhere").exists());
    assert!(
        !dir.path().join("dangling.db.partial").exists(),
        "no copy left behind"
    );
    // Nor is a database restored onto itself, by its name or through a link.
    std::fs::hard_link(&db, dir.path().join("d-link.db")).unwrap();
    for same in [path("d.db"), path("d-link.db")] {
        let (ok, err) = dialplane(&["restore", &same, "--database", &url]).await;
        assert!(!ok && err.contains("the database itself"), "{err}");
    }
    assert_eq!(std::fs::read(&db).unwrap(), original);

    // A restore into a database that does not exist yet creates it, and moves nothing aside.
    let fresh = dir.path().join("fresh.db");
    let (ok, err) = dialplane(&[
        "restore",
        &path("good.db"),
        "--database",
        &sqlite_url(&fresh),
    ])
    .await;
    assert!(ok, "{err}");
    assert!(!err.contains("replaced"), "{err}");
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("fresh.db.replaced"))
        .collect();
    assert!(aside.is_empty(), "{aside:?}");

    // PostgreSQL has its own tools; the message says which.
    for command in [
        vec!["backup", "--database", "postgres://u:secret@h/db", "x.db"],
        vec!["restore", "x.db", "--database", "postgres://u:secret@h/db"],
    ] {
        let (ok, err) = dialplane(&command).await;
        assert!(
            !ok && err.contains("pg_dump") && err.contains("pg_restore"),
            "{err}"
        );
        assert!(!err.contains("secret"), "the password is not echoed: {err}");
    }
}

/// `url` with its database name replaced.
fn postgres_database(url: &str, name: &str) -> String {
    let mut url = url::Url::parse(url).expect("a PostgreSQL URL");
    url.set_path(name);
    url.to_string()
}

async fn postgres(admin: &str, sql: &str) {
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(admin)
        .await
        .expect("PostgreSQL connects");
    sqlx::Executor::execute(&mut conn, sql).await.expect(sql);
}

/// The procedure docs/operations.md gives for PostgreSQL: `pg_dump` while the server runs, then
/// `pg_restore` into an empty database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (DIALPLANE_TEST_POSTGRES_URL) and pg_dump; .ci/run runs it"]
async fn the_documented_pg_dump_backup_under_write_load_restores_every_acknowledged_write() {
    let admin = crate::support::postgres_url().expect("DIALPLANE_TEST_POSTGRES_URL");
    let suffix = dialplane_core::AgentId::generate()
        .to_string()
        .replace('-', "");
    let (source, target) = (format!("dpb_{suffix}"), format!("dpr_{suffix}"));
    for db in [&source, &target] {
        postgres(&admin, &format!("CREATE DATABASE {db}")).await;
    }
    let (source_url, target_url) = (
        postgres_database(&admin, &source),
        postgres_database(&admin, &target),
    );
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("dialplane.dump");

    let mut server = Server::start_with(dir.path(), &["--database", &source_url], &[]).await;
    let key = server.bootstrap_key().await;
    let (before, all) = under_write_load(&server, &key, || async {
        let out = tokio::process::Command::new("pg_dump")
            .args([
                "--format=custom",
                "--file",
                dump.to_str().unwrap(),
                &source_url,
            ])
            .output()
            .await
            .expect("pg_dump runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    })
    .await;
    let (status, _, _) = server.stop().await;
    assert!(status.success());

    let out = tokio::process::Command::new("pg_restore")
        .args([
            "--no-owner",
            "--dbname",
            &target_url,
            dump.to_str().unwrap(),
        ])
        .output()
        .await
        .expect("pg_restore runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let restored = all_ids_offline(&target_url, &key, dir.path()).await;
    for db in [&source, &target] {
        postgres(&admin, &format!("DROP DATABASE {db} WITH (FORCE)")).await;
    }
    let lost: Vec<_> = before.difference(&restored).collect();
    assert!(
        lost.is_empty(),
        "acknowledged before pg_dump, missing after pg_restore: {lost:?}"
    );
    assert!(restored.is_subset(&all));
}

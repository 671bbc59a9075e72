//! Which backend the suite runs on: SQLite by default, PostgreSQL when `DIALPLANE_TEST_POSTGRES_URL`
//! is set. This test makes the choice visible in every run's output.

use crate::support::*;

#[tokio::test]
async fn the_suite_runs_on_the_backend_the_environment_names() {
    let app = TestApp::spawn().await;
    match postgres_url() {
        Some(_) => {
            assert!(app.db_url.starts_with("postgres"), "{}", app.db_url);
            println!(
                "backend: postgres ({})",
                dialplane_store::redact_url(&app.db_url)
            );
        }
        None => {
            assert!(app.db_url.starts_with("sqlite:"), "{}", app.db_url);
            println!("backend: sqlite; set {POSTGRES_URL_VAR} to run this suite on PostgreSQL");
        }
    }
    let id = app.create_named("Backend").await;
    assert_eq!(app.get_agent(&id).await.status, 200);
}

/// Records a migration that this build does not know, as a newer release would have applied.
async fn migrate_as_a_newer_release(app: &TestApp) {
    let checksum = match postgres_url() {
        Some(_) => "'\\x00'::bytea",
        None => "X'00'",
    };
    app.execute_sql(&format!(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (99990101000000, 'from a newer release', TRUE, {checksum}, 0)"
    ))
    .await;
}

#[tokio::test]
async fn a_server_starts_on_a_database_that_a_newer_release_migrated_further() {
    // While instances are rolled out one by one (or rolled back), one of the older release that
    // restarts meets the newer release's migrations: migrations are add-only, so it serves on.
    let app = TestApp::spawn().await;
    let id = app.create_named("Rolled out").await;
    migrate_as_a_newer_release(&app).await;
    let older = app.another_instance().await;
    assert_eq!(older.get_agent(&id).await.status, 200);
    let created = older.create_named("After").await;
    assert_eq!(app.get_agent(&created).await.status, 200);
}

/// Records `key` for a create of `body` as a release before answers were kept whole did (the table
/// `idempotency_keys`); answers the agent's id.
async fn record_key_as_the_release_before(
    url: &str,
    key: &str,
    body: &serde_json::Value,
) -> String {
    let agent_id = dialplane_core::AgentId::generate().to_string();
    let mut document = body.clone();
    document["agentId"] = agent_id.clone().into();
    let quoted = |s: &str| format!("'{}'", s.replace('\'', "''"));
    execute_sql(
        url,
        &format!(
            "INSERT INTO idempotency_keys (workspace, key, fingerprint, agent_id, response, created_at)
             VALUES ('default', {}, {}, {}, {}, {})",
            quoted(key),
            quoted(&dialplane_core::json::fingerprint(body)),
            quoted(&agent_id),
            quoted(&document.to_string()),
            quoted(&dialplane_core::agent::timestamp(chrono::Utc::now())),
        ),
    )
    .await;
    agent_id
}

#[tokio::test]
async fn an_idempotency_key_recorded_before_the_upgrade_still_replays_its_first_answer() {
    let body = minimal_agent("Before the upgrade");
    let db = std::sync::Arc::new(TestDb::new().await);
    // The database as the release before left it: migrated up to the migration before idempotent
    // answers, holding one agent created with an `Idempotency-Key`.
    migrate_until(&db.url, if postgres_url().is_some() { 4 } else { 5 }).await;
    let agent_id = record_key_as_the_release_before(&db.url, "before", &body).await;
    let mut app = TestApp::start_on(TestOptions::default(), db.clone(), &db.url).await;
    app.key = app
        .new_key("default", dialplane_core::Scope::Write, "alice")
        .await;
    let replay = app
        .post_idempotent("/api/public/v1/agents", "before", &body)
        .await;
    assert_eq!(replay.status, 201, "{}", replay.text);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        replay.header("location"),
        Some(format!("/api/public/v1/agents/{agent_id}").as_str())
    );
    assert_eq!(replay.header("etag"), Some("\"1\""));
    assert_eq!(replay.data()["agentId"], serde_json::json!(agent_id));
    assert_eq!(
        replay.data()["name"],
        serde_json::json!("Before the upgrade")
    );
    // Another body under the same key is still refused.
    let other = app
        .post_idempotent("/api/public/v1/agents", "before", &minimal_agent("Other"))
        .await;
    other.assert_error(422, "idempotency_key_reused");
    // A key that an instance of the release before records after the upgrade (both run during a
    // rolling upgrade) replays too.
    let later_body = minimal_agent("Recorded by the older release");
    let later_id = record_key_as_the_release_before(&db.url, "later", &later_body).await;
    let replay = app
        .post_idempotent("/api/public/v1/agents", "later", &later_body)
        .await;
    assert_eq!(replay.status, 201, "{}", replay.text);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.data()["agentId"], serde_json::json!(later_id));
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set DIALPLANE_TEST_POSTGRES_URL and pass --include-ignored"]
async fn agent_documents_are_compressed_with_lz4_where_the_server_has_it() {
    use sqlx::Connection;
    assert!(
        postgres_url().is_some(),
        "this test needs PostgreSQL: set {POSTGRES_URL_VAR}"
    );
    let app = TestApp::spawn().await;
    let mut conn = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    let (version,): (i32,) = sqlx::query_as("SELECT current_setting('server_version_num')::int")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    // The server can compress with lz4 if a column can be set to it (PostgreSQL 14+, built with it).
    let lz4 = version >= 140_000
        && sqlx::query("CREATE TEMP TABLE probe (v text COMPRESSION lz4)")
            .execute(&mut conn)
            .await
            .is_ok();
    let expected = if lz4 { "l" } else { "" };
    for table in ["agents", "agent_versions"] {
        let query = if version >= 140_000 {
            "SELECT attcompression::text FROM pg_attribute
             WHERE attrelid = $1::regclass AND attname = 'document'"
        } else {
            "SELECT ''::text WHERE $1::regclass IS NOT NULL"
        };
        let (compression,): (String,) = sqlx::query_as(query)
            .bind(table)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(compression, expected, "{table}.document (server {version})");
    }
    // Stored and read back whole, whatever the method.
    let id = app.create_named("Compressed").await;
    assert_eq!(app.get_agent(&id).await.data()["name"], "Compressed");
}

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

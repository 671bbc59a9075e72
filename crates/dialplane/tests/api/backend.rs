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

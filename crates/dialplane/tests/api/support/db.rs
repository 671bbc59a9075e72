//! A fresh database per test: a SQLite file, or a PostgreSQL schema dropped on drop.

/// The environment variable that switches the suite to PostgreSQL.
pub const POSTGRES_URL_VAR: &str = "DIALPLANE_TEST_POSTGRES_URL";

/// The PostgreSQL URL the suite runs against, if any.
pub fn postgres_url() -> Option<String> {
    std::env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|u| !u.is_empty())
}

/// A fresh, empty database for one test: a SQLite file in a temporary directory, or, when
/// `DIALPLANE_TEST_POSTGRES_URL` is set, a new schema in that PostgreSQL database, dropped on drop.
pub struct TestDb {
    pub url: String,
    schema: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl TestDb {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        match postgres_url() {
            None => Self {
                url: format!("sqlite://{}", dir.path().join("test.db").display()),
                schema: None,
                _dir: dir,
            },
            Some(admin) => {
                let schema = format!("dpt_{}", uuid_simple());
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                    .await
                    .expect("DIALPLANE_TEST_POSTGRES_URL connects");
                sqlx::Executor::execute(&mut conn, format!("CREATE SCHEMA {schema}").as_str())
                    .await
                    .expect("schema created");
                let sep = if admin.contains('?') { '&' } else { '?' };
                Self {
                    url: format!("{admin}{sep}options[search_path]={schema}"),
                    schema: Some((admin, schema)),
                    _dir: dir,
                }
            }
        }
    }
}

fn uuid_simple() -> String {
    dialplane_core::AgentId::generate()
        .to_string()
        .replace('-', "")
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, schema)) = self.schema.take() else {
            return;
        };
        // Drop runs outside async code: use a thread with its own small runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok(mut conn) =
                    <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await
                {
                    let _ = sqlx::Executor::execute(
                        &mut conn,
                        format!("DROP SCHEMA IF EXISTS {schema} CASCADE").as_str(),
                    )
                    .await;
                }
            });
        })
        .join();
    }
}

/// Runs `sql` straight on the database at `url` (SQLite, created if missing, or PostgreSQL).
pub async fn execute_sql(url: &str, sql: &str) {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(&format!("{url}?mode=rwc"))
            .await
            .unwrap();
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
    }
}

/// `migrator` without the migrations from `version` on: an earlier release's.
fn until(mut migrator: sqlx::migrate::Migrator, version: i64) -> sqlx::migrate::Migrator {
    migrator.migrations = migrator
        .migrations
        .iter()
        .filter(|m| m.version < version)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    migrator
}

/// Applies the schema's migrations older than `version` to the database at `url` (the suite's
/// backend), as an earlier release would have left it.
pub async fn migrate_until(url: &str, version: i64) {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        migrate_until_sqlite(url, version).await;
    } else {
        let migrator = until(dialplane_store::postgres::migrator(), version);
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        migrator.run(&mut conn).await.unwrap();
    }
}

/// [`migrate_until`] on a SQLite database, whatever backend the suite runs on.
pub async fn migrate_until_sqlite(url: &str, version: i64) {
    use sqlx::Connection;
    let migrator = until(dialplane_store::sqlite::migrator(), version);
    let mut conn = sqlx::SqliteConnection::connect(&format!("{url}?mode=rwc"))
        .await
        .unwrap();
    migrator.run(&mut conn).await.unwrap();
}

/// The first column of each row `sql` answers, as text, straight from the database at `url`.
pub async fn query_strings(url: &str, sql: &str) -> Vec<String> {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
    }
}

//! Storage for dialplane: the [`Store`] that the HTTP layer talks to, its small error type, and
//! the backends behind it. SQL lives here and nowhere else.
//!
//! Every write is a [`WriteOp`] run by [`Store::write`] in one transaction of whichever backend
//! (see [`write`]); each resource has a module with its types, its writes and the statements its
//! transactions need ([`agents`], [`keys`], [`idempotency`]), and each backend a module per resource
//! with its SQL. The HTTP layer never sees a transaction or a driver error.

#![forbid(unsafe_code)]

pub mod agents;
pub mod conversations;
pub mod cpu;
pub mod idempotency;
pub mod keys;
pub mod knowledge;
pub mod opt_outs;
pub mod phone_numbers;
pub mod postgres;
pub mod reads;
pub mod runtime;
pub mod sqlite;
mod store;
mod url;
pub mod webhooks;
pub mod write;

pub use agents::{
    fold_name, After, AgentSummary, Change, CreateAgent, DeleteAgent, IfMatch, ListQuery, Page,
    Rejection, SortBy, SortDirection, StoredAgent, Transform, UpdateAgent, Updated, VersionPage,
    VersionSummary,
};
pub use idempotency::{
    Answer, Idempotency, Idempotent, IdempotentWrite, PurgeIdempotencyKeys, Recorded,
};
pub use keys::{CreateFirstKey, CreateKey, KeyRecord, NewKey, Principal, RevokeKey};
pub use knowledge::{
    Blob, CompleteFetch, CreateDocuments, CreatedDocuments, DeleteDocument, DocumentKind,
    DocumentQuery, DocumentSort, DocumentStatus, Extracted, FetchOutcome, Group, GroupSummary, Hit,
    NewDocument, RenameDocument, Spool, StartRefresh, StoredDocument,
};
pub use store::{Observer, Store};
pub use url::{BadDatabaseUrl, DatabaseUrl};
pub use write::{Event, Listener, WriteOp};

use dialplane_core::Problems;

/// What [`Store::watch_other_instances`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherInstances {
    /// Listening (again): changes from now on are reported.
    Listening,
    /// Another instance committed a change (or some may have been missed while reconnecting).
    Changed,
    /// No longer listening: changes may be missed until `Listening` again.
    Lost,
}

/// Called by [`Store::watch_other_instances`].
pub type OthersListener = std::sync::Arc<dyn Fn(OtherInstances) + Send + Sync>;

/// The kinds of resource a store holds, for errors that name one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Agent,
    Document,
    PhoneNumber,
    Conversation,
    WebhookEndpoint,
    WebhookDelivery,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Agent => "agent",
            Kind::Document => "document",
            Kind::PhoneNumber => "phone number",
            Kind::Conversation => "conversation",
            Kind::WebhookEndpoint => "webhook endpoint",
            Kind::WebhookDelivery => "webhook delivery",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What can go wrong in storage, in terms the API can answer with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no such {kind}")]
    NotFound { kind: Kind },
    #[error("the {kind} has changed since the given ETag")]
    PreconditionFailed { kind: Kind },
    /// Other resources refer to the one a write would delete.
    #[error("other {by}s refer to this {kind}")]
    Referenced {
        kind: Kind,
        by: Kind,
        ids: Vec<String>,
    },
    /// The resource is not in a state that allows the write (409).
    #[error("{0}")]
    Conflict(String),
    /// Agents name the document a write would delete: each agent's id and where it names it.
    #[error("agents name this document")]
    NamedBy(Vec<(String, String)>),
    #[error("{0}")]
    Invalid(Problems),
    #[error("a JSON Patch test failed")]
    TestFailed(Problems),
    /// A write would take the workspace past its storage quota.
    #[error(
        "the workspace's quota of {allowed} bytes would be passed: {used} used, {adding} more"
    )]
    QuotaExceeded {
        allowed: u64,
        used: u64,
        adding: u64,
    },
    #[error("the idempotency key was used with a different body")]
    IdempotencyKeyReused,
    #[error("storage is unavailable: {0}")]
    Unavailable(String),
    #[error("storage failed: {0}")]
    Internal(String),
    /// The transaction lost a deadlock or a serialization conflict and may succeed if run again.
    #[error("write conflict: {0}")]
    Retry(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
            // Each backend reads its own codes.
            sqlx::Error::Database(db) => {
                if db
                    .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                    .is_some()
                {
                    postgres::database_error(db.code().as_deref(), e.to_string())
                } else {
                    sqlite::database_error(db.code().as_deref(), e.to_string())
                }
            }
            _ => StoreError::Internal(e.to_string()),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Counts, since the store opened, of the writes its one writer ran and the commits they shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteBatching {
    /// Writes run in batches that committed (refused ones and dry runs included).
    pub writes: u64,
    /// Commits, each one sync of the write-ahead log: `writes / commits` writes share a sync.
    pub commits: u64,
    /// Updates worked out by their request beside the writer and used as they were.
    pub prepared_used: u64,
    /// Updates worked out beside the writer on a revision another write had replaced meanwhile, and
    /// worked out again by the writer.
    pub prepared_redone: u64,
}

/// Storage settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// SQLite: most writes that share one commit.
    pub max_batch: usize,
    /// SQLite: connections for reads.
    pub read_connections: u32,
    /// SQLite: the size past which the writer folds the whole WAL into the database file, so that the
    /// WAL starts over from its beginning (and a longer file is cut back to this size).
    pub wal_limit_bytes: u64,
    /// SQLite: about how many bytes of stored documents the writer keeps parsed (0: none).
    pub writer_cache_bytes: u64,
    /// SQLite: the size of the writer connection's page cache.
    pub page_cache_bytes: u64,
    /// SQLite: how often the WAL is folded into the database file and the file synced, beside the
    /// writer.
    pub checkpoint_every: std::time::Duration,
    /// PostgreSQL: connections per instance.
    pub pool_size: u32,
    /// PostgreSQL: how long a request waits for a connection before answering 503.
    pub acquire_timeout: std::time::Duration,
    /// PostgreSQL: the longest a statement may run, wait for a row lock, or a transaction stay idle,
    /// before PostgreSQL cancels it (and the request answers 503).
    pub statement_timeout: std::time::Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_batch: 128,
            read_connections: 4,
            wal_limit_bytes: 64 << 20,
            writer_cache_bytes: 8 << 20,
            page_cache_bytes: 8 << 20,
            checkpoint_every: std::time::Duration::from_millis(50),
            pool_size: 10,
            acquire_timeout: std::time::Duration::from_secs(5),
            statement_timeout: std::time::Duration::from_secs(10),
        }
    }
}

/// Opens the database `url` names, creating and migrating it as needed.
pub async fn open(url: &DatabaseUrl, options: &StoreOptions) -> Result<Store> {
    Ok(match url {
        DatabaseUrl::Sqlite(url) => Store::new(sqlite::SqliteStore::open(url, options).await?),
        DatabaseUrl::Postgres(url) => Store::new(postgres::PgStore::open(url, options).await?),
    })
}

/// How many migrations the database at `url` has had applied, without opening it as a store (and so
/// without migrating it): 0 for a database that does not exist yet or was never migrated.
pub async fn migrations_applied(url: &DatabaseUrl) -> Result<i64> {
    use sqlx::{ConnectOptions, Connection};
    const SQL: &str = "SELECT CAST(COUNT(*) AS BIGINT) FROM _sqlx_migrations WHERE success";
    let counted: std::result::Result<i64, sqlx::Error> = match url {
        DatabaseUrl::Sqlite(_) => {
            let Some(file) = url.sqlite_file().filter(|f| f.exists()) else {
                return Ok(0);
            };
            // Plain options: the store's own set WAL mode, a write a read-only connection refuses.
            let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&file)
                .read_only(true)
                .connect()
                .await?;
            let counted = sqlx::query_scalar(SQL).fetch_one(&mut conn).await;
            let _ = conn.close().await;
            counted
        }
        DatabaseUrl::Postgres(url) => {
            let mut conn = sqlx::PgConnection::connect(url).await?;
            let counted = sqlx::query_scalar(SQL).fetch_one(&mut conn).await;
            let _ = conn.close().await;
            counted
        }
    };
    // No migrations table: never migrated.
    Ok(counted.unwrap_or(0))
}

/// `migrator`, made to start on a database that a newer release has migrated further.
///
/// Migrations are add-only (new tables, new columns with defaults), so a release runs on the
/// schemas of later releases: while instances are rolled out one by one, or back, an instance of the
/// older release that restarts must start. sqlx refuses by default a database holding a migration
/// it does not know.
pub(crate) fn tolerant(mut migrator: sqlx::migrate::Migrator) -> sqlx::migrate::Migrator {
    migrator.set_ignore_missing(true);
    migrator
}

/// A URL with any password replaced, for messages and logs: the one in its user info
/// (`postgres://user:secret@host`), and the value of every query parameter named like a password
/// (`?password=secret`, `sslpassword=`), which sqlx reads too.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            match base[scheme_end + 3..at].split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &base[..scheme_end + 3], &base[at..]),
                None => base.to_owned(),
            }
        }
        _ => base.to_owned(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.to_ascii_lowercase().contains("pass") => {
                    format!("{key}=***")
                }
                _ => pair.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

/// Now, as stored.
pub(crate) fn now() -> String {
    dialplane_core::agent::timestamp(chrono::Utc::now())
}

/// Parses a stored id.
pub(crate) fn parse_id<T: std::str::FromStr>(s: &str) -> Result<T> {
    s.parse()
        .map_err(|_| StoreError::Internal(format!("stored id does not parse: {s:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_hides_passwords_only() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://./x.db"), "sqlite://./x.db");
        // sqlx also reads a password from the query string, with or without user info.
        assert_eq!(
            redact_url("postgres://u@h/db?password=secret&sslmode=require"),
            "postgres://u@h/db?password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://h/db?user=u&Password=s3&sslpassword=k&application_name=x"),
            "postgres://h/db?user=u&Password=***&sslpassword=***&application_name=x"
        );
        assert_eq!(
            redact_url("redis+unix:///tmp/r.sock?pass=secret&db=1"),
            "redis+unix:///tmp/r.sock?pass=***&db=1"
        );
        assert_eq!(
            redact_url("postgres://u:p@ss@h/db?options=a"),
            "postgres://u:***@h/db?options=a"
        );
    }
}

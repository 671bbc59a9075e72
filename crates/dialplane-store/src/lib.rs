//! Storage for dialplane: the [`Store`] trait that the HTTP layer talks to, its small error type, and
//! the backends behind it. SQL lives here and nowhere else.
//!
//! Writes are whole operations (create, update-with-a-transform, delete) so that each backend can make
//! them atomic and conditional in its own way; the HTTP layer never sees a transaction or a driver error.

#![forbid(unsafe_code)]

pub mod cpu;
mod list;
mod ops;
pub mod postgres;
pub mod sqlite;

use async_trait::async_trait;
use dialplane_core::agent::Direction;
use dialplane_core::{Agent, AgentId, CreatedBy, KeyHash, KeyId, Problems, Scope};
use std::sync::Arc;

/// An agent as stored, with the revision that its ETag names.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAgent {
    pub agent: Agent,
    pub revision: u64,
}

/// Who is calling: what an API key resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub key_id: KeyId,
    pub workspace: String,
    pub scope: Scope,
    pub user: CreatedBy,
}

/// An API key as listed (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub key_id: KeyId,
    pub workspace: String,
    pub scope: Scope,
    pub user: CreatedBy,
    pub created_at: String,
    pub revoked_at: Option<String>,
    /// After this time the key is refused.
    pub expires_at: Option<String>,
}

/// A key to store: only its hash is kept.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub hash: KeyHash,
    pub workspace: String,
    pub scope: Scope,
    pub user: CreatedBy,
    /// When the key stops working (`None`: never).
    pub expires_at: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    Name,
    CreatedAt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortDirection {
    Asc,
    Desc,
}

/// Where a page starts: after the item with this sort key (and, for exact cursors, this id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    pub key: String,
    /// Breaks ties between equal keys. `None` for the plain cursors of the hosted API.
    pub id: Option<AgentId>,
}

/// One page request of the agent list.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub sort_by: SortBy,
    pub sort_direction: SortDirection,
    pub page_size: u32,
    pub after: Option<After>,
    /// Case-insensitive part of the name.
    pub search: Option<String>,
    /// Agents having every one of these tags.
    pub tags: Vec<String>,
    pub direction: Option<Direction>,
}

/// One list item.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSummary {
    pub agent_id: AgentId,
    pub name: String,
    pub tags: Vec<String>,
    pub metadata: dialplane_core::Metadata,
}

impl AgentSummary {
    /// The value this item sorts by: names sort case-insensitively.
    pub fn sort_key(&self, by: SortBy) -> std::borrow::Cow<'_, str> {
        match by {
            SortBy::Name => fold_name(&self.name).into(),
            SortBy::CreatedAt => self.metadata.created_at.as_str().into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<AgentSummary>,
    pub has_more: bool,
}

/// An `Idempotency-Key` and the fingerprint of the body it came with.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub key: String,
    pub fingerprint: String,
    /// A use of the key recorded before this timestamp has expired and counts as none.
    pub expired_before: String,
}

/// The outcome of a create.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    New(StoredAgent),
    /// The same idempotency key and body were seen before: the first answer, as it was.
    Replayed(StoredAgent),
}

/// The outcome of an update.
#[derive(Debug, Clone, PartialEq)]
pub enum Updated {
    Changed {
        stored: StoredAgent,
        /// The agent as stored: its JSON document.
        document: String,
    },
    /// The transform changed nothing: nothing was written.
    Unchanged(StoredAgent),
}

/// An `If-Match` condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    Any,
    Revisions(Vec<u64>),
}

impl IfMatch {
    pub fn matches(&self, revision: u64) -> bool {
        match self {
            IfMatch::Any => true,
            IfMatch::Revisions(revs) => revs.contains(&revision),
        }
    }
}

/// Computes an agent's next state from its current one, inside the store's write: `Ok(None)` when
/// nothing changes, `Err` when the result would be invalid.
///
/// It may run more than once (a backend retries a transaction that lost a deadlock), so it must be a
/// pure function of the agent it is given.
pub type Transform = Arc<dyn Fn(&StoredAgent) -> Result<Option<Agent>, Rejection> + Send + Sync>;

/// Why a [`Transform`] refuses a change.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    /// The result would break the rules.
    Invalid(Problems),
    /// A JSON Patch `test` operation failed: the agent is not in the state the client expected.
    TestFailed(Problems),
}

/// Who makes a change, and how.
#[derive(Debug, Clone)]
pub struct Change {
    /// Recorded as the new version's `createdBy`.
    pub actor: CreatedBy,
    /// The version a restore brings back.
    pub restored_from: Option<u64>,
    /// Run every check, answer what would be stored, store nothing.
    pub dry_run: bool,
    /// The most bytes the changed agent's document may take (`too_long` past it).
    pub max_document_bytes: usize,
    /// Whether working the change out may take long (a large body, many JSON Patch operations): it is
    /// then run off the async workers ([`cpu::run`]), as is any change to a large document.
    pub heavy: bool,
}

/// One entry of an agent's history.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionSummary {
    pub version: u64,
    pub created_at: String,
    pub created_by: CreatedBy,
    pub changed_paths: Vec<String>,
    pub restored_from: Option<u64>,
}

/// A page of history, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionPage {
    pub items: Vec<VersionSummary>,
    pub has_more: bool,
}

/// What can go wrong in storage, in terms the API can answer with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no such agent")]
    NotFound,
    #[error("the agent has changed since the given ETag")]
    PreconditionFailed,
    #[error("other agents transfer to this agent")]
    Referenced(Vec<AgentId>),
    #[error("{0}")]
    Invalid(Problems),
    #[error("a JSON Patch test failed")]
    TestFailed(Problems),
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
            sqlx::Error::Database(db) => match db.code().as_deref() {
                // Deadlock, serialization failure: run the transaction again.
                Some("40P01" | "40001") => StoreError::Retry(e.to_string()),
                // Connection exceptions, shutdowns, too many connections, a statement, lock wait or
                // idle transaction past its timeout (PostgreSQL), SQLite busy/locked.
                Some(code)
                    if code.starts_with("08")
                        || code.starts_with("57P")
                        || matches!(code, "57014" | "55P03" | "25P03")
                        || code == "53300"
                        || code == "5"
                        || code == "6" =>
                {
                    StoreError::Unavailable(e.to_string())
                }
                _ => StoreError::Internal(e.to_string()),
            },
            _ => StoreError::Internal(e.to_string()),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything dialplane keeps. One implementation per database.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Whether the database answers.
    async fn ready(&self) -> Result<()>;

    /// Resolves a key hash to its principal, if the key exists and is neither revoked nor expired.
    async fn authenticate(&self, hash: &KeyHash) -> Result<Option<Principal>>;
    async fn has_keys(&self) -> Result<bool>;
    async fn create_key(&self, key: NewKey) -> Result<KeyRecord>;
    /// Creates `key` only if no key exists at all (atomically, also across instances): the bootstrap.
    async fn create_first_key(&self, key: NewKey) -> Result<Option<KeyRecord>>;
    async fn list_keys(&self) -> Result<Vec<KeyRecord>>;
    /// `false` when there is no such key (or it was already revoked).
    async fn revoke_key(&self, key_id: KeyId) -> Result<bool>;

    async fn get_agent(&self, workspace: &str, id: AgentId) -> Result<Option<StoredAgent>>;
    async fn list_agents(&self, workspace: &str, query: &ListQuery) -> Result<Page>;
    /// Stores a new agent (version 1); its transfer targets must exist in the workspace. With
    /// `dry_run`, checks everything and stores nothing (the idempotency key is not used).
    async fn create_agent(
        &self,
        workspace: &str,
        agent: Agent,
        idempotency: Option<Idempotency>,
        dry_run: bool,
    ) -> Result<Created>;
    /// Reads, transforms and writes one agent atomically, as a new version: no concurrent write is
    /// lost.
    async fn update_agent(
        &self,
        workspace: &str,
        id: AgentId,
        if_match: Option<IfMatch>,
        change: Change,
        transform: Transform,
    ) -> Result<Updated>;
    /// The agent's history, newest first, starting below version `before`; `None` when there is no
    /// such agent.
    async fn list_versions(
        &self,
        workspace: &str,
        id: AgentId,
        before: Option<u64>,
        page_size: u32,
    ) -> Result<Option<VersionPage>>;
    /// The agent as it was at `version`.
    async fn get_version(
        &self,
        workspace: &str,
        id: AgentId,
        version: u64,
    ) -> Result<Option<StoredAgent>>;
    /// Deletes an agent no other agent transfers to; with `dry_run`, checks that it could and
    /// deletes nothing.
    async fn delete_agent(
        &self,
        workspace: &str,
        id: AgentId,
        if_match: Option<IfMatch>,
        dry_run: bool,
    ) -> Result<()>;

    /// Forgets idempotency keys recorded before `expired_before`; answers how many.
    async fn purge_idempotency_keys(&self, expired_before: &str) -> Result<u64>;

    /// The first answer to the create that used `idempotency`'s key, if the key is in use (recorded
    /// and not expired); [`StoreError::IdempotencyKeyReused`] if it was used for another request.
    async fn idempotent_answer(
        &self,
        workspace: &str,
        idempotency: &Idempotency,
    ) -> Result<Option<StoredAgent>>;

    /// Finishes pending writes and closes the database.
    async fn close(&self);

    /// How this process's writes were grouped into commits, where one writer groups them (SQLite);
    /// `None` where every write commits on its own (PostgreSQL).
    fn write_batching(&self) -> Option<WriteBatching> {
        None
    }

    /// How long a caller should wait for any one operation before giving it up as unavailable,
    /// where the database can fall silent without an error: over a network partition no answer
    /// and no reset ever comes, and the database's own timeouts cannot fire for statements it never
    /// received. `None` where every wait is bounded already (SQLite).
    fn answer_deadline(&self) -> Option<std::time::Duration> {
        None
    }
}

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

/// Opens the database a URL names, creating and migrating it as needed.
pub async fn open(url: &str, options: &StoreOptions) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::open(url, options).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::open(url, options).await?))
    } else {
        Err(StoreError::Unavailable(format!(
            "unsupported database URL (expected sqlite://PATH or postgres://...): {}",
            redact_url(url)
        )))
    }
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

/// What [`Store::idempotent_answer`] makes of a recorded `(fingerprint, response)`.
pub(crate) fn replay(
    recorded: Option<(String, String)>,
    idempotency: &Idempotency,
) -> Result<Option<StoredAgent>> {
    match recorded {
        None => Ok(None),
        Some((fingerprint, _)) if fingerprint != idempotency.fingerprint => {
            Err(StoreError::IdempotencyKeyReused)
        }
        Some((_, response)) => ops::decode_agent(&response, 1).map(Some),
    }
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
                Some((key, _)) if key.to_ascii_lowercase().contains("password") => {
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

/// A name as it sorts and is searched: Unicode lower case.
pub fn fold_name(name: &str) -> String {
    name.to_lowercase()
}

/// The columns derived from a document, kept beside it for filtering and sorting.
#[derive(Clone)]
pub(crate) struct Derived {
    pub name_folded: String,
    pub direction: &'static str,
    pub targets: Vec<AgentId>,
    /// The tags and the metadata as JSON, for list pages (SQLite keeps them in columns).
    pub tags_json: String,
    pub metadata_json: String,
}

impl Derived {
    pub fn of(agent: &Agent) -> Self {
        use dialplane_core::agent::Choice;
        let spec = &agent.spec;
        Self {
            name_folded: fold_name(&spec.name),
            direction: spec.direction.wire(),
            targets: dialplane_core::validate::transfer_targets(spec),
            tags_json: serde_json::to_string(&spec.tags).unwrap_or_else(|_| "[]".into()),
            metadata_json: serde_json::to_string(&agent.metadata).unwrap_or_else(|_| "{}".into()),
        }
    }
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
            redact_url("postgres://u:p@ss@h/db?options=a"),
            "postgres://u:***@h/db?options=a"
        );
    }
}

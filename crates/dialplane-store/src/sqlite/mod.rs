//! The SQLite backend: one file, WAL mode, `synchronous=FULL`, so an acknowledged write survives a
//! power cut. Reads use a small pool; every write goes through one writer task (see [`writer`]) that
//! shares one commit among the writes that arrive together.

pub mod backup;
mod lock;
mod writer;

pub use lock::{lock_for_serving, try_server_lock, ServerLock};

use crate::ops::{self, decode_agent, key_record, Op, Outcome};
use crate::{
    Change, Created, Idempotency, IfMatch, KeyRecord, ListQuery, NewKey, Page, Principal, Result,
    Store, StoreError, StoreOptions, StoredAgent, Transform, Updated, VersionPage, WriteBatching,
};
use async_trait::async_trait;
use dialplane_core::{Agent, AgentId, KeyHash, KeyId};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, QueryBuilder, Row, Sqlite};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The schema's migrations, applied when a store opens. See [`crate::tolerant`] for why migrations a
/// newer release applied are let be.
fn migrator() -> sqlx::migrate::Migrator {
    crate::tolerant(sqlx::migrate!("./migrations/sqlite"))
}

/// How long a connection waits for another process (`dialplane keys`) to release the write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct SqliteStore {
    reads: SqlitePool,
    /// Agents as the writer last committed them.
    agents: Arc<writer::CommittedAgents>,
    stats: Arc<writer::Stats>,
    writes: Mutex<Option<mpsc::Sender<writer::Command>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    checkpointer: Mutex<Option<(oneshot::Sender<()>, JoinHandle<()>)>>,
}

/// Checkpoint passes in a row, at most, to catch up with the writer once the WAL is past its limit.
const CATCH_UP_PASSES: usize = 8;

/// Folds the WAL into the database file `every` so often on a connection of its own, so the
/// writer seldom stalls on it (the writer's automatic checkpoints are off). `PASSIVE` waits for no
/// one: it copies what it can while writes go on.
///
/// SQLite syncs the database file only when a checkpoint reaches the end of the WAL, which under a
/// steady write load only the writer's own checkpoint does: it would then flush everything this task
/// copied. So this task syncs the database file itself after each pass.
///
/// Past the WAL's limit it passes again at once until little is left to fold in (a sixteenth of the
/// limit), then tells the writer how many frames the WAL holds: the writer folds in that little rest
/// itself, so the WAL can start over (see [`writer::FoldWanted`]), and stalls only for the rest.
async fn checkpoint(
    mut conn: sqlx::SqliteConnection,
    database: Arc<std::fs::File>,
    fold_wanted: writer::FoldWanted,
    limit_bytes: u64,
    every: Duration,
    mut stop: oneshot::Receiver<()>,
) {
    let page_size = sqlx::query_scalar::<_, i64>("PRAGMA page_size")
        .fetch_one(&mut conn)
        .await
        .ok()
        .and_then(|p| u64::try_from(p).ok())
        .unwrap_or(4096);
    let limit = (limit_bytes / page_size).max(1);
    let mut every = tokio::time::interval(every);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = every.tick() => {
                let mut over_limit = false;
                for _ in 0..CATCH_UP_PASSES {
                    // One row: busy, frames in the WAL, frames folded in (-1 and -1 when busy).
                    match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
                        .fetch_one(&mut conn)
                        .await
                    {
                        Ok((_, frames, folded)) if frames >= 0 => {
                            let frames = u64::try_from(frames).unwrap_or(0);
                            let left = frames.saturating_sub(u64::try_from(folded).unwrap_or(0));
                            over_limit = frames >= limit;
                            if folded > 0 {
                                let database = database.clone();
                                let synced =
                                    tokio::task::spawn_blocking(move || database.sync_data()).await;
                                if let Ok(Err(e)) = synced {
                                    tracing::warn!(error = %e, "syncing the database file failed");
                                }
                            }
                            if !over_limit || left <= limit / 16 {
                                break;
                            }
                        }
                        Ok(_) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "checkpointing the WAL failed; retrying");
                            break;
                        }
                    }
                }
                if over_limit {
                    fold_wanted.set();
                }
            }
            _ = &mut stop => break,
        }
    }
    let _ = sqlx::Connection::close(conn).await;
}

impl SqliteStore {
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self> {
        let connect = connect_options(url)?;
        let mut conn = connect
            .connect()
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot open {url}: {e}")))?;
        migrator()
            .run(&mut conn)
            .await
            .map_err(|e| StoreError::Internal(format!("migrating {url}: {e}")))?;
        sqlx::Connection::close(conn).await?;
        let (stop_checkpoints, stopped) = oneshot::channel();
        let fold_wanted = writer::FoldWanted::default();
        let database = std::fs::File::open(connect.get_filename()).map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot open {}: {e}",
                connect.get_filename().display()
            ))
        })?;
        let checkpointer = tokio::spawn(checkpoint(
            connect.connect().await?,
            Arc::new(database),
            fold_wanted.clone(),
            options.wal_limit_bytes,
            options.checkpoint_every,
            stopped,
        ));
        let reads = SqlitePoolOptions::new()
            .max_connections(options.read_connections.max(1))
            .connect_with(connect.clone().read_only(true))
            .await?;
        let conn = writer::open(
            connect.get_filename(),
            BUSY_TIMEOUT,
            options.wal_limit_bytes,
            options.page_cache_bytes,
        )?;
        let agents = Arc::new(writer::CommittedAgents::new(options.writer_cache_bytes));
        let writer_agents = writer::AgentCache::new(agents.clone());
        let max_batch = options.max_batch.max(1);
        let (tx, rx) = mpsc::channel(max_batch * 4);
        let stats = Arc::new(writer::Stats::default());
        let thread_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                writer::run(
                    conn,
                    rx,
                    max_batch,
                    fold_wanted,
                    writer_agents,
                    thread_stats,
                )
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the SQLite writer: {e}")))?;
        Ok(Self {
            reads,
            agents,
            stats,
            writes: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(thread)),
            checkpointer: Mutex::new(Some((stop_checkpoints, checkpointer))),
        })
    }

    async fn write(&self, op: Op) -> Result<Outcome> {
        let sender = self
            .writes
            .lock()
            .map_err(|_| StoreError::Internal("writer lock poisoned".into()))?
            .clone()
            .ok_or_else(|| StoreError::Unavailable("the store is closed".into()))?;
        let (reply, answer) = oneshot::channel();
        sender
            .send(writer::Command { op, reply })
            .await
            .map_err(|_| StoreError::Unavailable("the writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Internal("the writer dropped a request".into()))?
    }
}

/// How every connection is opened: WAL with `synchronous=FULL`, so a commit is on disk (the WAL is
/// fsynced) before it is acknowledged.
pub fn connect_options(url: &str) -> Result<SqliteConnectOptions> {
    Ok(SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::Unavailable(format!("bad SQLite URL {url}: {e}")))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true))
}

const LIST: crate::list::Dialect = crate::list::Dialect {
    select: "SELECT agent_id, name, tags, metadata FROM agents",
    find: "instr",
};

fn list_sql<'a>(workspace: &'a str, query: &'a ListQuery) -> QueryBuilder<'a, Sqlite> {
    crate::list::list_sql(&LIST, workspace, query)
}

#[async_trait]
impl Store for SqliteStore {
    fn write_batching(&self) -> Option<WriteBatching> {
        let count = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Some(WriteBatching {
            writes: count(&self.stats.writes),
            commits: count(&self.stats.commits),
            prepared_used: count(&self.stats.prepared_used),
            prepared_redone: count(&self.stats.prepared_redone),
        })
    }

    async fn ready(&self) -> Result<()> {
        let writer_stopped = self
            .writer
            .lock()
            .map_err(|_| StoreError::Internal("writer lock poisoned".into()))?
            .as_ref()
            .is_none_or(std::thread::JoinHandle::is_finished);
        if writer_stopped {
            return Err(StoreError::Unavailable(
                "the SQLite writer has stopped".into(),
            ));
        }
        sqlx::query("SELECT 1").execute(&self.reads).await?;
        Ok(())
    }

    async fn authenticate(&self, hash: &KeyHash) -> Result<Option<Principal>> {
        let row = sqlx::query(
            "SELECT key_id, workspace, scope, user_id, user_email, created_at, revoked_at, expires_at
             FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL
             AND (expires_at IS NULL OR expires_at > ?)",
        )
        .bind(hash.as_bytes())
        .bind(ops::now())
        .fetch_optional(&self.reads)
        .await?;
        row.map(|row| {
            let k = key_record(&row)?;
            Ok(Principal {
                key_id: k.key_id,
                workspace: k.workspace,
                scope: k.scope,
                user: k.user,
            })
        })
        .transpose()
    }

    async fn has_keys(&self) -> Result<bool> {
        let row = sqlx::query("SELECT EXISTS (SELECT 1 FROM api_keys) AS any")
            .fetch_one(&self.reads)
            .await?;
        Ok(row.try_get::<bool, _>("any")?)
    }

    async fn create_key(&self, key: NewKey) -> Result<KeyRecord> {
        self.write(Op::CreateKey(key)).await?.key()
    }

    async fn create_first_key(&self, key: NewKey) -> Result<Option<KeyRecord>> {
        self.write(Op::CreateFirstKey(key)).await?.first_key()
    }

    async fn list_keys(&self) -> Result<Vec<KeyRecord>> {
        let rows = sqlx::query(
            "SELECT key_id, workspace, scope, user_id, user_email, created_at, revoked_at, expires_at
             FROM api_keys ORDER BY created_at, key_id",
        )
        .fetch_all(&self.reads)
        .await?;
        rows.iter().map(key_record).collect()
    }

    async fn revoke_key(&self, key_id: KeyId) -> Result<bool> {
        self.write(Op::RevokeKey(key_id)).await?.revoked()
    }

    async fn get_agent(&self, workspace: &str, id: AgentId) -> Result<Option<StoredAgent>> {
        let row = sqlx::query(
            "SELECT document, revision FROM agents WHERE workspace = ? AND agent_id = ?",
        )
        .bind(workspace)
        .bind(id.to_string())
        .fetch_optional(&self.reads)
        .await?;
        row.map(|r| decode_agent(&r.try_get::<String, _>(0)?, r.try_get(1)?))
            .transpose()
    }

    async fn idempotent_answer(
        &self,
        workspace: &str,
        idempotency: &Idempotency,
    ) -> Result<Option<StoredAgent>> {
        let recorded = sqlx::query_as(
            "SELECT fingerprint, response FROM idempotency_keys
             WHERE workspace = ? AND key = ? AND created_at >= ?",
        )
        .bind(workspace)
        .bind(&idempotency.key)
        .bind(&idempotency.expired_before)
        .fetch_optional(&self.reads)
        .await?;
        crate::replay(recorded, idempotency)
    }

    async fn list_agents(&self, workspace: &str, query: &ListQuery) -> Result<Page> {
        let rows = list_sql(workspace, query)
            .build()
            .fetch_all(&self.reads)
            .await?;
        let items = rows
            .iter()
            .map(|row| {
                crate::list::summary(
                    row.try_get("agent_id")?,
                    row.try_get("name")?,
                    row.try_get("tags")?,
                    row.try_get("metadata")?,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(crate::list::page(items, query.page_size))
    }

    async fn create_agent(
        &self,
        workspace: &str,
        agent: Agent,
        idempotency: Option<Idempotency>,
        dry_run: bool,
    ) -> Result<Created> {
        self.write(Op::create_agent(workspace, agent, idempotency, dry_run))
            .await?
            .created()
    }

    async fn update_agent(
        &self,
        workspace: &str,
        id: AgentId,
        if_match: Option<IfMatch>,
        change: Change,
        transform: Transform,
    ) -> Result<Updated> {
        // Worked out here, beside the writer, on the agent as last committed; the writer checks that
        // it still is.
        let prepared = self.agents.get(workspace, id).and_then(|current| {
            ops::Prepared::work_out(&current.agent, &current.document, &transform, &change)
        });
        self.write(Op::update_agent(
            workspace, id, if_match, change, transform, prepared,
        ))
        .await?
        .updated()
    }

    async fn delete_agent(
        &self,
        workspace: &str,
        id: AgentId,
        if_match: Option<IfMatch>,
        dry_run: bool,
    ) -> Result<()> {
        self.write(Op::delete_agent(workspace, id, if_match, dry_run))
            .await?
            .deleted()
    }

    async fn list_versions(
        &self,
        workspace: &str,
        id: AgentId,
        before: Option<u64>,
        page_size: u32,
    ) -> Result<Option<VersionPage>> {
        if self.get_agent(workspace, id).await?.is_none() {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT version, created_at, user_id, user_email, changed_paths, restored_from
             FROM agent_versions WHERE workspace = ? AND agent_id = ? AND version < ?
             ORDER BY version DESC LIMIT ?",
        )
        .bind(workspace)
        .bind(id.to_string())
        .bind(
            before
                .and_then(|v| i64::try_from(v).ok())
                .unwrap_or(i64::MAX),
        )
        .bind(i64::from(page_size) + 1)
        .fetch_all(&self.reads)
        .await?;
        let items = rows
            .iter()
            .map(|r| {
                ops::version_summary(
                    r.try_get(0)?,
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                    r.try_get(4)?,
                    r.try_get(5)?,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(ops::version_page(items, page_size)))
    }

    async fn get_version(
        &self,
        workspace: &str,
        id: AgentId,
        version: u64,
    ) -> Result<Option<StoredAgent>> {
        let row = sqlx::query(
            "SELECT document, version FROM agent_versions
             WHERE workspace = ? AND agent_id = ? AND version = ?",
        )
        .bind(workspace)
        .bind(id.to_string())
        .bind(i64::try_from(version).unwrap_or(i64::MAX))
        .fetch_optional(&self.reads)
        .await?;
        row.map(|r| decode_agent(r.try_get(0)?, r.try_get(1)?))
            .transpose()
    }

    async fn purge_idempotency_keys(&self, expired_before: &str) -> Result<u64> {
        self.write(Op::PurgeIdempotencyKeys(expired_before.to_owned()))
            .await?
            .purged()
    }

    async fn close(&self) {
        let checkpointer = self.checkpointer.lock().ok().and_then(|mut c| c.take());
        if let Some((stop, task)) = checkpointer {
            let _ = stop.send(());
            let _ = task.await;
        }
        // Dropping the last sender lets the writer finish what is queued and stop (with a last,
        // truncating checkpoint).
        let sender = self.writes.lock().ok().and_then(|mut s| s.take());
        drop(sender);
        let thread = self.writer.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        self.reads.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SortBy, SortDirection};
    use dialplane_core::CreatedBy;

    /// Updates worked out beside the writer: (used as they were, worked out again).
    fn prepared_counts(store: &SqliteStore) -> (u64, u64) {
        let b = store.write_batching().unwrap();
        (b.prepared_used, b.prepared_redone)
    }

    /// A store on a new file `name` in `dir`, and its URL.
    async fn open_store(
        dir: &tempfile::TempDir,
        name: &str,
        options: &StoreOptions,
    ) -> (String, SqliteStore) {
        let url = format!("sqlite://{}", dir.path().join(name).display());
        let store = SqliteStore::open(&url, options).await.unwrap();
        (url, store)
    }

    fn agent(name: &str) -> Agent {
        let body = serde_json::json!({"name": name, "conversationConfig": {"agent": {"prompt": {"prompt": "p"}}}});
        let spec = dialplane_core::validate::validate_create(
            body.as_object().unwrap(),
            &dialplane_core::Rules::default(),
        )
        .unwrap();
        let now = dialplane_core::agent::timestamp(chrono::Utc::now());
        Agent {
            agent_id: AgentId::generate(),
            spec,
            phone_numbers: Vec::new(),
            metadata: dialplane_core::Metadata {
                created_at: now.clone(),
                updated_at: now,
                created_by: CreatedBy {
                    user_id: "u".into(),
                    user_email: "u@example.com".into(),
                },
            },
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_commits_and_a_failing_one_spoils_none() {
        let dir = tempfile::tempdir().unwrap();
        let (_, store) = open_store(&dir, "g.db", &StoreOptions::default()).await;
        let store = Arc::new(store);
        let mut tasks = Vec::new();
        for i in 0..64 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut a = agent(&format!("a{i}"));
                if i % 8 == 0 {
                    // Names an agent that does not exist: refused inside the batch.
                    a.spec
                        .conversation_config
                        .agent
                        .prompt
                        .built_in_tools
                        .transfer_to_agent
                        .transfers = vec![dialplane_core::agent::AgentTransfer {
                        agent_id: AgentId::generate().to_string(),
                        condition: "c".into(),
                        ..Default::default()
                    }];
                }
                store.create_agent("w", a, None, false).await
            }));
        }
        let mut ok = 0;
        for (i, t) in tasks.into_iter().enumerate() {
            match t.await.unwrap() {
                Ok(Created::New(_)) => ok += 1,
                Err(StoreError::Invalid(_)) => assert_eq!(i % 8, 0),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(ok, 56);
        let WriteBatching {
            writes, commits, ..
        } = store.write_batching().unwrap();
        assert_eq!(writes, 64);
        assert!(
            commits < writes,
            "{commits} commits for {writes} writes: no batching"
        );
        let page = store
            .list_agents(
                "w",
                &ListQuery {
                    sort_by: SortBy::Name,
                    sort_direction: SortDirection::Asc,
                    page_size: 100,
                    after: None,
                    search: None,
                    tags: Vec::new(),
                    direction: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(
            page.items.len(),
            56,
            "every acknowledged create is stored, no refused one"
        );
        store.close().await;
    }

    /// A store with default options in `dir`, holding agent `n` of workspace `w`.
    async fn store_with_agent_n(dir: &tempfile::TempDir) -> (Arc<SqliteStore>, AgentId) {
        let (_, store) = open_store(dir, "n.db", &StoreOptions::default()).await;
        match store.create_agent("w", agent("n"), None, false).await {
            Ok(Created::New(a)) => (Arc::new(store), a.agent.agent_id),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// A change that appends `suffix` to the agent's name.
    fn append(suffix: &'static str) -> crate::Transform {
        Arc::new(move |current: &StoredAgent| {
            let mut agent = current.agent.clone();
            agent.spec.name.push_str(suffix);
            Ok(Some(agent))
        })
    }

    fn change(dry_run: bool) -> Change {
        Change {
            actor: CreatedBy {
                user_id: "u".into(),
                user_email: "u@example.com".into(),
            },
            restored_from: None,
            dry_run,
            max_document_bytes: usize::MAX,
            heavy: false,
        }
    }

    /// An update is worked out beside the writer on the agent as last committed. The writer uses that
    /// work only if the agent is still that revision; otherwise it works the change out again on the
    /// agent as it is, and no change is lost.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn updates_worked_out_beside_the_writer_lose_no_change() {
        let dir = tempfile::tempdir().unwrap();
        let (store, id) = store_with_agent_n(&dir).await;
        let name = |updated: Updated| match updated {
            Updated::Changed { stored, .. } => (stored.agent.spec.name, stored.revision),
            other => panic!("unexpected {other:?}"),
        };
        // One at a time, each is worked out on the current revision and used as it is.
        for _ in 0..3 {
            store
                .update_agent("w", id, None, change(false), append("a"))
                .await
                .unwrap();
        }
        assert_eq!(prepared_counts(&store), (3, 0));
        // Worked out on revision 4, but another change makes revision 5 first.
        let current = store.agents.get("w", id).expect("the agent is cached");
        assert_eq!(current.agent.revision, 4);
        let prepared = ops::Prepared::work_out(
            &current.agent,
            &current.document,
            &append("x"),
            &change(false),
        );
        assert!(prepared.is_some());
        store
            .update_agent("w", id, None, change(false), append("y"))
            .await
            .unwrap();
        let late = Op::update_agent("w", id, None, change(false), append("x"), prepared);
        let (late_name, revision) = name(store.write(late).await.unwrap().updated().unwrap());
        assert_eq!((late_name.as_str(), revision), ("naaayx", 6));
        assert_eq!(prepared_counts(&store), (4, 1), "the stale work was redone");
        // Many at once: most are worked out on a revision that another replaces first.
        let tasks: Vec<_> = (0..40)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .update_agent("w", id, None, change(false), append("+"))
                        .await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let stored = store.get_agent("w", id).await.unwrap().unwrap();
        assert_eq!(stored.agent.spec.name, format!("naaayx{}", "+".repeat(40)));
        assert_eq!(stored.revision, 46);
        let (used, stale) = prepared_counts(&store);
        assert_eq!(used + stale, 45, "every update was worked out beforehand");
        store.close().await;
    }

    /// Agents stored before the list's columns existed get them from their documents (migration
    /// 0004); list pages then read the columns.
    #[tokio::test]
    async fn the_list_columns_of_agents_stored_before_them_come_from_their_documents() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("old.db").display());
        // The database as the migrations before 0004 left it, with one agent.
        let old = tempfile::tempdir().unwrap();
        let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        for file in std::fs::read_dir(&here).unwrap() {
            let file = file.unwrap();
            let name = file.file_name().into_string().unwrap();
            if name.as_str() < "0004" {
                std::fs::copy(file.path(), old.path().join(&name)).unwrap();
            }
        }
        let mut conn = connect_options(&url).unwrap().connect().await.unwrap();
        sqlx::migrate::Migrator::new(old.path())
            .await
            .unwrap()
            .run(&mut conn)
            .await
            .unwrap();
        let mut stored = agent("Old");
        stored.spec.tags = vec!["b".into(), "a".into()];
        sqlx::query(
            "INSERT INTO agents (workspace, agent_id, name, name_folded, direction, created_at,
                                 revision, document)
             VALUES ('w', ?, 'Old', 'old', 'outbound', ?, 1, ?)",
        )
        .bind(stored.agent_id.to_string())
        .bind(&stored.metadata.created_at)
        .bind(serde_json::to_string(&stored).unwrap())
        .execute(&mut conn)
        .await
        .unwrap();
        sqlx::Connection::close(conn).await.unwrap();

        let store = SqliteStore::open(&url, &StoreOptions::default())
            .await
            .unwrap();
        let query = ListQuery {
            sort_by: SortBy::CreatedAt,
            sort_direction: SortDirection::Desc,
            page_size: 10,
            after: None,
            search: None,
            tags: Vec::new(),
            direction: None,
        };
        let page = store.list_agents("w", &query).await.unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].tags, ["b", "a"]);
        assert_eq!(page.items[0].metadata, stored.metadata);
        // A change writes the columns with the document.
        let retag: crate::Transform = Arc::new(|current: &StoredAgent| {
            let mut agent = current.agent.clone();
            agent.spec.tags = vec!["c".into()];
            agent.metadata.updated_at = "2030-01-01T00:00:00.000000Z".into();
            Ok(Some(agent))
        });
        store
            .update_agent("w", stored.agent_id, None, change(false), retag)
            .await
            .unwrap();
        let page = store.list_agents("w", &query).await.unwrap();
        assert_eq!(page.items[0].tags, ["c"]);
        assert_eq!(
            page.items[0].metadata.updated_at,
            "2030-01-01T00:00:00.000000Z"
        );
        store.close().await;
    }

    /// The writer keeps recent agents parsed; what it keeps must be what was committed, never what a
    /// dry run wrote before it was rolled back, even inside a batch shared with real writes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_writer_keeps_only_what_was_committed() {
        let dir = tempfile::tempdir().unwrap();
        let (store, id) = store_with_agent_n(&dir).await;
        let mut tasks = Vec::new();
        for _ in 0..20 {
            for dry_run in [true, false] {
                let store = store.clone();
                let (change, transform) =
                    (change(dry_run), append(if dry_run { "x" } else { "+" }));
                tasks.push(tokio::spawn(async move {
                    store
                        .update_agent("w", id, None, change, transform)
                        .await
                        .map(|_| ())
                }));
            }
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store.delete_agent("w", id, None, true).await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let expected = format!("n{}", "+".repeat(20));
        let stored = store.get_agent("w", id).await.unwrap().unwrap();
        assert_eq!(stored.agent.spec.name, expected, "as stored");
        assert_eq!(stored.revision, 21);
        // The writer's own copy: the next change starts from the committed agent.
        let next = store
            .update_agent("w", id, None, change(false), append("!"))
            .await
            .unwrap();
        match next {
            Updated::Changed { stored: a, .. } => {
                assert_eq!(a.agent.spec.name, format!("{expected}!"));
                assert_eq!(a.revision, 22);
            }
            other => panic!("unexpected {other:?}"),
        }
        store.close().await;
    }

    /// Under a steady write load the checkpointer alone never catches up with the writer, and the WAL
    /// would grow without end; the writer folds it in past its limit so that it starts over.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_starts_over_under_a_steady_write_load() {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            wal_limit_bytes: 256 << 10,
            ..StoreOptions::default()
        };
        let (url, store) = open_store(&dir, "wal.db", &options).await;
        let store = Arc::new(store);
        // Each agent and each of its versions spills onto an overflow page of its own: every create
        // appends at least two frames to the WAL.
        let prompt = "Answer the phone politely. ".repeat(200);
        let until = tokio::time::Instant::now() + Duration::from_millis(2500);
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let (store, prompt) = (store.clone(), prompt.clone());
                tokio::spawn(async move {
                    let mut created = 0u64;
                    while tokio::time::Instant::now() < until {
                        let mut a = agent(&format!("w{w} {created}"));
                        a.spec.conversation_config.agent.prompt.prompt = prompt.clone();
                        store.create_agent("w", a, None, false).await.unwrap();
                        created += 1;
                    }
                    created
                })
            })
            .collect();
        let mut created = 0;
        for w in writers {
            created += w.await.unwrap();
        }
        let mut conn = connect_options(&url).unwrap().connect().await.unwrap();
        // The store's checkpointer may hold the checkpoint lock (busy, and no figures): ask again.
        let mut wal_frames = -1;
        for _ in 0..100 {
            let (busy, frames, _): (i64, i64, i64) =
                sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                    .fetch_one(&mut conn)
                    .await
                    .unwrap();
            if busy == 0 {
                wal_frames = frames;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(wal_frames >= 0, "the WAL could not be checkpointed");
        assert!(
            (wal_frames as u64) < created,
            "{created} agents written (at least {} frames) and the WAL holds {wal_frames} frames: \
             it never started over",
            created * 2
        );
        store.close().await;
    }

    #[tokio::test]
    async fn connections_are_durable_wal_with_synchronous_full() {
        let dir = tempfile::tempdir().unwrap();
        let (url, store) = open_store(&dir, "d.db", &StoreOptions::default()).await;
        let mut conn = connect_options(&url).unwrap().connect().await.unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(sync, 2, "synchronous=FULL is 2");
        store.close().await;
    }

    /// The `detail` column of `EXPLAIN QUERY PLAN` for one list page's SQL (parameters unbound).
    async fn list_plan(conn: &mut sqlx::SqliteConnection, query: &ListQuery) -> Vec<String> {
        let sql = format!("EXPLAIN QUERY PLAN {}", list_sql("default", query).sql());
        sqlx::query(&sql)
            .fetch_all(conn)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<String, _>("detail"))
            .collect()
    }

    #[tokio::test]
    async fn list_pages_seek_through_the_sort_index_instead_of_sorting_or_skipping() {
        let dir = tempfile::tempdir().unwrap();
        let (url, store) = open_store(&dir, "plan.db", &StoreOptions::default()).await;
        let mut conn = connect_options(&url).unwrap().connect().await.unwrap();
        for (sort_by, index, column) in [
            (SortBy::CreatedAt, "agents_by_created_at", "created_at"),
            (SortBy::Name, "agents_by_name", "name_folded"),
        ] {
            for sort_direction in [SortDirection::Asc, SortDirection::Desc] {
                let exact = crate::After {
                    key: "k".into(),
                    id: Some(AgentId::generate()),
                };
                let plain = crate::After {
                    key: "k".into(),
                    id: None,
                };
                let cmp = match sort_direction {
                    SortDirection::Asc => ">",
                    SortDirection::Desc => "<",
                };
                for (after, seek) in [
                    (Some(exact), format!(" AND ({column},agent_id){cmp}(?,?)")),
                    (Some(plain), format!(" AND {column}{cmp}?")),
                    (None, String::new()),
                ] {
                    let case = format!("{sort_by:?} {sort_direction:?} after {after:?}");
                    let query = ListQuery {
                        sort_by,
                        sort_direction,
                        page_size: 30,
                        after,
                        search: None,
                        tags: Vec::new(),
                        direction: None,
                    };
                    let plan = list_plan(&mut conn, &query).await;
                    assert!(
                        !plan.iter().any(|d| d.contains("TEMP B-TREE")),
                        "{case}: sorts rows instead of reading them in index order: {plan:?}"
                    );
                    let expected = format!("SEARCH agents USING INDEX {index} (workspace=?{seek})");
                    assert!(
                        plan.contains(&expected),
                        "{case}: does not seek through {index} ({expected}): {plan:?}"
                    );
                }
            }
        }
        store.close().await;
    }
}

//! The one writer of a SQLite database, with group commit.
//!
//! Write requests queue on a channel. The writer takes every request waiting (up to `max_batch`), runs
//! each inside its own savepoint of one transaction, commits once (one fsync for the whole batch), and
//! only then answers each request. A request that fails rolls back to its savepoint and does not
//! disturb the others. Because one thread applies writes one after another, a read-transform-write of
//! an agent is atomic: concurrent PATCHes cannot lose each other's changes.
//!
//! The writer is an OS thread that owns its connection outright (rusqlite, on the same SQLite library
//! as sqlx): a statement is a function call, not a hand-over to another thread and back, and its
//! prepared statements stay cached for the life of the connection. Reads stay on sqlx's pool.

use crate::agents::{Row, StoredAgent};
use crate::webhooks::subscriptions::SubscriptionCache;
use crate::webhooks::unpack::BatchOutbox;
use crate::write::{Beforehand, Event, Job, Ran, Tx};
use crate::{Result, StoreError};
use dialplane_core::AgentId;
use rusqlite::Connection;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Counters of the writer's work.
#[derive(Debug, Default)]
pub struct Stats {
    pub writes: AtomicU64,
    pub commits: AtomicU64,
    /// Updates worked out before they reached the writer, and used as they were.
    pub prepared_used: AtomicU64,
    /// Updates worked out before they reached the writer on a revision that was no longer current,
    /// and worked out again by the writer.
    pub prepared_redone: AtomicU64,
}

/// The agents committed lately, parsed: a PATCH of a recent agent skips reading and parsing its
/// stored document, and works out its change on it before it reaches the writer.
///
/// Every write of an agent goes through the one writer, and only the writer fills this cache, with
/// what it has committed (or read inside its transaction, where nothing uncommitted of that agent
/// exists): what it holds is what the database holds, or, for a moment after a commit, the revision
/// before. That is why a change worked out on it is checked against the agent's revision inside the
/// transaction ([`crate::agents::Prepared`]).
pub struct CommittedAgents(Option<quick_cache::sync::Cache<AgentKey, Committed, ByDocument>>);

/// A committed agent, parsed and as its stored document.
#[derive(Clone)]
pub struct Committed {
    pub agent: Arc<StoredAgent>,
    pub document: Arc<str>,
}

pub(super) type AgentKey = (String, AgentId);

/// Weighs a cached agent by the length of its stored document.
#[derive(Clone)]
struct ByDocument;

impl quick_cache::Weighter<AgentKey, Committed> for ByDocument {
    fn weight(&self, _: &AgentKey, value: &Committed) -> u64 {
        (value.document.len() as u64).max(1)
    }
}

impl CommittedAgents {
    /// A cache of about `bytes` of stored documents (0: none).
    pub fn new(bytes: u64) -> Self {
        Self((bytes > 0).then(|| {
            quick_cache::sync::Cache::with_weighter(
                usize::try_from(bytes / 4096).unwrap_or(usize::MAX).max(1),
                bytes,
                ByDocument,
            )
        }))
    }

    /// The agent as last committed, if it is known here.
    pub fn get(&self, workspace: &str, id: AgentId) -> Option<Committed> {
        self.lookup(&(workspace.to_owned(), id))
    }

    fn lookup(&self, key: &AgentKey) -> Option<Committed> {
        self.0.as_ref()?.get(key)
    }
}

impl Beforehand for CommittedAgents {
    fn committed_agent(
        &self,
        workspace: &str,
        id: AgentId,
    ) -> Option<(Arc<StoredAgent>, Arc<str>)> {
        self.get(workspace, id).map(|c| (c.agent, c.document))
    }
}

/// The writer's view of the agents: what is committed, and what the batch running now has written.
///
/// What an op writes is staged, kept for the batch only if the op stands (not failed, not a dry run),
/// and reaches the committed agents only once the batch has committed; a batch that fails to commit
/// empties the cache.
pub struct AgentCache {
    committed: Arc<CommittedAgents>,
    /// Written by ops of this batch that stand: `None` for a deleted agent.
    batch: HashMap<AgentKey, Option<Committed>>,
    /// Written by the op running now.
    op: HashMap<AgentKey, Option<Committed>>,
}

impl AgentCache {
    pub fn new(committed: Arc<CommittedAgents>) -> Self {
        Self {
            committed,
            batch: HashMap::new(),
            op: HashMap::new(),
        }
    }

    /// The agent as this batch sees it: `Some(None)` if an op of it deleted the agent, `None` if
    /// unknown here.
    pub(super) fn get(&self, key: &AgentKey) -> Option<Option<Arc<StoredAgent>>> {
        if let Some(staged) = self.op.get(key).or_else(|| self.batch.get(key)) {
            return Some(staged.as_ref().map(|c| c.agent.clone()));
        }
        self.committed.lookup(key).map(|c| Some(c.agent))
    }

    /// Keeps an agent read from the database, with its document. Only for agents that no op of this
    /// batch wrote (they would be staged): what the database holds is then what was committed.
    pub(super) fn remember(&mut self, key: AgentKey, agent: Arc<StoredAgent>, document: String) {
        if let Some(committed) = &self.committed.0 {
            let document = document.into();
            committed.insert(key, Committed { agent, document });
        }
    }

    /// Stages what the running op writes: the agent as `row` has it, or its deletion.
    pub(super) fn stage(&mut self, workspace: &str, id: AgentId, row: Option<&Row<'_>>) {
        if self.committed.0.is_none() {
            return;
        }
        let written = row.map(|row| Committed {
            agent: Arc::new(StoredAgent {
                agent: row.agent.clone(),
                revision: row.revision,
            }),
            document: row.document.as_str().into(),
        });
        self.op.insert((workspace.to_owned(), id), written);
    }

    /// The op that just ran stands (`true`) or was rolled back.
    fn end_op(&mut self, stands: bool) {
        if stands {
            self.batch.extend(self.op.drain());
        } else {
            self.op.clear();
        }
    }

    /// The batch committed (`true`) or was rolled back.
    fn end_batch(&mut self, committed: bool) {
        self.op.clear();
        let Some(cache) = &self.committed.0 else {
            return;
        };
        if !committed {
            self.batch.clear();
            cache.clear();
            return;
        }
        for (key, agent) in self.batch.drain() {
            match agent {
                Some(written) => cache.insert(key, written),
                None => {
                    cache.remove(&key);
                }
            }
        }
    }
}

/// How many prepared statements the writer keeps: every statement it runs, with room to spare.
const STATEMENT_CACHE: usize = 64;

/// Opens the writer's connection: WAL, `synchronous=FULL` (a commit's WAL frames are fsynced before
/// it returns), no automatic checkpoints (a task of the store's folds the WAL in, off this path),
/// temporary files in memory (each write's savepoint journals the pages it changes that the batch
/// changed before it; past 64 KiB SQLite would spill that journal to a file, a write call a page),
/// and a page cache of `page_cache_bytes`: the pages a change rewrites are read from it instead of
/// the file, and it lasts across transactions, since no other connection writes.
/// After a restart, SQLite cuts the WAL file back to `wal_limit_bytes`.
pub fn open(
    path: &Path,
    busy_timeout: Duration,
    wal_limit_bytes: u64,
    page_cache_bytes: u64,
) -> Result<Connection> {
    let conn = Connection::open(path).map_err(db)?;
    conn.busy_timeout(busy_timeout).map_err(db)?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA wal_autocheckpoint = 0;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -{};
         PRAGMA journal_size_limit = {};",
        (page_cache_bytes / 1024).max(1),
        i64::try_from(wal_limit_bytes).unwrap_or(i64::MAX)
    ))
    .map_err(db)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Set by the store's checkpointer when the WAL has outgrown its limit; the writer then folds the WAL
/// in between two batches.
///
/// SQLite starts the WAL over from its beginning only when a write transaction begins with every
/// frame of the WAL already folded into the database file. Under a steady write load the
/// checkpointer, running beside the writer, never catches up with it, and the WAL would grow without
/// end. So the writer folds in the frames the checkpointer has not yet reached (a few, once it has
/// caught up as far as it can); its next batch then starts the WAL over.
#[derive(Clone, Default)]
pub struct FoldWanted(Arc<AtomicBool>);

impl FoldWanted {
    pub fn set(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Folds the WAL into the database file if the checkpointer asked for it.
    fn fold(&self, conn: &Connection) {
        if !self.0.swap(false, Ordering::Relaxed) {
            return;
        }
        let started = std::time::Instant::now();
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        }) {
            Ok((busy, frames, folded)) => {
                let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
                tracing::debug!(
                    busy,
                    frames,
                    folded,
                    elapsed_ms,
                    "the writer folded the WAL in"
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "folding the WAL in failed; retrying");
                self.set();
            }
        }
    }
}

/// Runs the writer on the calling thread until every sender is dropped, then checkpoints the WAL
/// into the database file and closes the connection.
pub fn run(
    mut conn: Connection,
    mut queue: mpsc::Receiver<Box<dyn Job>>,
    max_batch: usize,
    fold_wanted: FoldWanted,
    agents: AgentCache,
    stats: Arc<Stats>,
) {
    let mut batch = Vec::with_capacity(max_batch);
    let mut caches = Caches {
        agents,
        subscriptions: SubscriptionCache::default(),
        outbox: BatchOutbox::default(),
    };
    while let Some(first) = queue.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let count = batch.len() as u64;
        let ran = run_batch(&mut conn, &mut caches, &stats, &mut batch);
        caches.agents.end_batch(ran.is_ok());
        caches.subscriptions.end_batch(ran.is_ok());
        match ran {
            Ok(events) => {
                stats.writes.fetch_add(count, Ordering::Relaxed);
                stats.commits.fetch_add(1, Ordering::Relaxed);
                for (job, events) in batch.drain(..).zip(events) {
                    job.finish(Ok(()), events);
                }
            }
            Err(e) => {
                for job in batch.drain(..) {
                    job.finish(Err(StoreError::Unavailable(e.to_string())), Vec::new());
                }
            }
        }
        fold_wanted.fold(&conn);
    }
    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
        tracing::warn!(error = %e, "checkpoint at shutdown failed");
    }
    if let Err((_, e)) = conn.close() {
        tracing::warn!(error = %e, "closing the SQLite writer failed");
    }
}

/// What the writer keeps in memory of what it committed.
struct Caches {
    agents: AgentCache,
    subscriptions: SubscriptionCache,
    /// The running batch's webhook events, stored as one outbox row before it commits.
    outbox: BatchOutbox,
}

/// Runs one of the statements that delimit transactions and savepoints, prepared once.
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Runs a batch in one transaction, each job in a savepoint of its own, and commits. `Err` means
/// nothing was committed; otherwise the events of each job (none for one that failed or was a dry
/// run), announced once the caller has seen the commit.
fn run_batch(
    conn: &mut Connection,
    caches: &mut Caches,
    stats: &Stats,
    batch: &mut [Box<dyn Job>],
) -> rusqlite::Result<Vec<Vec<Event>>> {
    exec(conn, "BEGIN IMMEDIATE")?;
    caches.outbox.clear();
    let mut events = Vec::with_capacity(batch.len());
    for job in batch.iter_mut() {
        let mark = caches.outbox.op_started();
        let result = exec(conn, "SAVEPOINT op").and_then(|()| {
            let dry_run = job.dry_run();
            let (ran, emitted) = run_job(conn, caches, stats, job.as_mut());
            // A failed job, or a dry run, is undone.
            let stands = ran == Ran::Ok && !dry_run;
            caches.agents.end_op(stands);
            caches.outbox.op_ended(mark, stands);
            if !stands {
                exec(conn, "ROLLBACK TO op")?;
            }
            exec(conn, "RELEASE op").map(|()| if stands { emitted } else { Vec::new() })
        });
        match result {
            Ok(emitted) => events.push(emitted),
            Err(e) => {
                // SQLite may have rolled the whole transaction back: nothing of this batch can be
                // trusted. Abort it; every job is answered as failed.
                let _ = exec(conn, "ROLLBACK");
                tracing::error!(error = %e, "a savepoint failed; the whole batch is rolled back");
                return Err(e);
            }
        }
    }
    if let Some((at, deliveries, body)) = caches.outbox.take_row() {
        // After the last savepoint: no write's savepoint journals the outbox's page.
        let stored = conn
            .prepare_cached(crate::webhooks::sql::LOG_EVENTS)
            .and_then(|mut s| s.execute(rusqlite::params![at, deliveries, body]));
        if let Err(e) = stored {
            let _ = exec(conn, "ROLLBACK");
            tracing::error!(error = %e, "storing the outbox failed; the whole batch is rolled back");
            return Err(e);
        }
    }
    if let Err(e) = exec(conn, "COMMIT") {
        let _ = exec(conn, "ROLLBACK");
        tracing::error!(error = %e, "commit failed; the whole batch is rolled back");
        return Err(e);
    }
    Ok(events)
}

/// Runs one job; answers how it went and the events it emitted. [`SqliteTx`]'s methods never wait
/// on anything, so the future is ready at once; a minimal executor drives it on this thread.
fn run_job(
    conn: &mut Connection,
    caches: &mut Caches,
    stats: &Stats,
    job: &mut dyn Job,
) -> (Ran, Vec<Event>) {
    let mut tx = SqliteTx {
        conn,
        agents: &mut caches.agents,
        subscriptions: &mut caches.subscriptions,
        outbox: &mut caches.outbox,
        stats,
        events: Vec::new(),
    };
    let ran = futures_executor::block_on(job.run(&mut tx, false));
    (ran, tx.events)
}

/// A SQLite error, as the store reports it: busy or locked (another process holds the database) is
/// "unavailable", anything else internal.
pub(super) fn db(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
    match e.sqlite_error_code() {
        Some(DatabaseBusy | DatabaseLocked) => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Internal(e.to_string()),
    }
}

/// The writer's connection inside its open transaction. No locks are needed: it is the only writer.
pub(super) struct SqliteTx<'c> {
    pub conn: &'c mut Connection,
    pub agents: &'c mut AgentCache,
    /// Each workspace's webhook endpoints, as the outbox fans out to them.
    pub subscriptions: &'c mut SubscriptionCache,
    /// The running batch's webhook events ([`BatchOutbox`]).
    pub outbox: &'c mut BatchOutbox,
    stats: &'c Stats,
    /// What the running job emitted.
    events: Vec<Event>,
}

impl SqliteTx<'_> {
    /// Runs a cached statement that returns no rows.
    pub fn execute(&self, sql: &str, params: impl rusqlite::Params) -> Result<usize> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(params))
            .map_err(db)
    }
}

impl Tx for SqliteTx<'_> {
    fn emit(&mut self, event: Event) {
        self.events.push(event);
    }

    fn emitted(&self) -> &[Event] {
        &self.events
    }

    fn prepared(&mut self, used: bool) {
        let counter = if used {
            &self.stats.prepared_used
        } else {
            &self.stats.prepared_redone
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_connection_is_durable_wal_without_automatic_checkpoints_with_its_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(
            &dir.path().join("w.db"),
            Duration::from_secs(1),
            1 << 20,
            32 << 20,
        )
        .unwrap();
        let pragma = |name: &str| -> String {
            conn.query_row(&format!("PRAGMA {name}"), [], |r| {
                r.get::<_, rusqlite::types::Value>(0)
            })
            .map(|v| match v {
                rusqlite::types::Value::Integer(i) => i.to_string(),
                rusqlite::types::Value::Text(t) => t,
                other => format!("{other:?}"),
            })
            .unwrap()
        };
        assert_eq!(pragma("journal_mode"), "wal");
        assert_eq!(pragma("synchronous"), "2", "synchronous=FULL is 2");
        assert_eq!(pragma("wal_autocheckpoint"), "0");
        assert_eq!(pragma("foreign_keys"), "1");
        assert_eq!(pragma("cache_size"), "-32768", "32 MiB, in KiB");
        assert_eq!(
            pragma("temp_store"),
            "2",
            "statement journals in memory (MEMORY is 2)"
        );
    }
}

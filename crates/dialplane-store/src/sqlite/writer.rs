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

use crate::ops::{self, decode_agent, parse_id, Lock, Op, Outcome, Row, Tx};
use crate::{Idempotency, KeyRecord, NewKey, Result, StoreError, StoredAgent};
use async_trait::async_trait;
use dialplane_core::{AgentId, CreatedBy, KeyId};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

pub struct Command {
    pub op: Op,
    pub reply: oneshot::Sender<Result<Outcome>>,
}

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
/// transaction ([`ops::Prepared`]).
pub struct CommittedAgents(Option<quick_cache::sync::Cache<AgentKey, Committed, ByDocument>>);

/// A committed agent, parsed and as its stored document.
#[derive(Clone)]
pub struct Committed {
    pub agent: Arc<StoredAgent>,
    pub document: Arc<str>,
}

type AgentKey = (String, AgentId);

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
    fn get(&self, key: &AgentKey) -> Option<Option<Arc<StoredAgent>>> {
        if let Some(staged) = self.op.get(key).or_else(|| self.batch.get(key)) {
            return Some(staged.as_ref().map(|c| c.agent.clone()));
        }
        self.committed.lookup(key).map(|c| Some(c.agent))
    }

    /// Keeps an agent read from the database, with its document. Only for agents that no op of this
    /// batch wrote (they would be staged): what the database holds is then what was committed.
    fn remember(&mut self, key: AgentKey, agent: Arc<StoredAgent>, document: String) {
        if let Some(committed) = &self.committed.0 {
            let document = document.into();
            committed.insert(key, Committed { agent, document });
        }
    }

    /// Stages what the running op writes: the agent as `row` has it, or its deletion.
    fn stage(&mut self, workspace: &str, id: AgentId, row: Option<&Row<'_>>) {
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
    mut queue: mpsc::Receiver<Command>,
    max_batch: usize,
    fold_wanted: FoldWanted,
    mut agents: AgentCache,
    stats: Arc<Stats>,
) {
    let mut batch = Vec::with_capacity(max_batch);
    while let Some(first) = queue.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match queue.try_recv() {
                Ok(command) => batch.push(command),
                Err(_) => break,
            }
        }
        let (ops, replies): (Vec<Op>, Vec<_>) = batch.drain(..).map(|c| (c.op, c.reply)).unzip();
        let count = ops.len();
        let results = match apply_batch(&mut conn, &mut agents, &stats, ops) {
            Ok(results) => {
                stats.writes.fetch_add(count as u64, Ordering::Relaxed);
                stats.commits.fetch_add(1, Ordering::Relaxed);
                results
            }
            Err(e) => (0..count)
                .map(|_| Err(StoreError::Unavailable(e.to_string())))
                .collect(),
        };
        for (reply, result) in replies.into_iter().zip(results) {
            // The caller may have gone away (client disconnected); the write stands either way.
            let _ = reply.send(result);
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

/// Runs a batch in one transaction, each op in a savepoint of its own. The outer `Err` means nothing
/// was committed; the inner results are final only once the commit succeeded.
fn apply_batch(
    conn: &mut Connection,
    agents: &mut AgentCache,
    stats: &Stats,
    ops: Vec<Op>,
) -> rusqlite::Result<Vec<Result<Outcome>>> {
    let results = run_batch(conn, agents, stats, ops);
    agents.end_batch(results.is_ok());
    results
}

/// Runs one of the statements that delimit transactions and savepoints, prepared once.
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn run_batch(
    conn: &mut Connection,
    agents: &mut AgentCache,
    stats: &Stats,
    ops: Vec<Op>,
) -> rusqlite::Result<Vec<Result<Outcome>>> {
    exec(conn, "BEGIN IMMEDIATE")?;
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        let dry_run = op.dry_run();
        let result = exec(conn, "SAVEPOINT op").and_then(|()| {
            let result = run_op(conn, agents, stats, op);
            // A failed op, or a dry run, is undone.
            let stands = result.is_ok() && !dry_run;
            agents.end_op(stands);
            if !stands {
                exec(conn, "ROLLBACK TO op")?;
            }
            exec(conn, "RELEASE op").map(|()| result)
        });
        match result {
            Ok(result) => results.push(result),
            Err(e) => {
                // SQLite may have rolled the whole transaction back: nothing of this batch can be
                // trusted. Abort it; every op is answered as failed.
                let _ = exec(conn, "ROLLBACK");
                tracing::error!(error = %e, "a savepoint failed; the whole batch is rolled back");
                return Err(e);
            }
        }
    }
    if let Err(e) = exec(conn, "COMMIT") {
        let _ = exec(conn, "ROLLBACK");
        tracing::error!(error = %e, "commit failed; the whole batch is rolled back");
        return Err(e);
    }
    Ok(results)
}

/// Runs one op. [`SqliteTx`]'s methods never wait on anything, so the future is ready at once; a
/// minimal executor drives it on this thread.
fn run_op(
    conn: &mut Connection,
    agents: &mut AgentCache,
    stats: &Stats,
    op: Op,
) -> Result<Outcome> {
    let mut tx = SqliteTx {
        conn,
        agents,
        stats,
    };
    futures_executor::block_on(ops::apply(&mut tx, op))
}

/// A SQLite error, as the store reports it: busy or locked (another process holds the database) is
/// "unavailable", anything else internal.
fn db(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
    match e.sqlite_error_code() {
        Some(DatabaseBusy | DatabaseLocked) => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Internal(e.to_string()),
    }
}

/// The writer's connection inside its open transaction. No locks are needed: it is the only writer.
struct SqliteTx<'c> {
    conn: &'c mut Connection,
    agents: &'c mut AgentCache,
    stats: &'c Stats,
}

impl SqliteTx<'_> {
    /// Runs a cached statement that returns no rows.
    fn execute(&self, sql: &str, params: impl rusqlite::Params) -> Result<usize> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(params))
            .map_err(db)
    }
}

#[async_trait]
impl Tx for SqliteTx<'_> {
    async fn insert_key(&mut self, key: &NewKey, id: KeyId, now: &str) -> Result<KeyRecord> {
        self.execute(
            "INSERT INTO api_keys (key_id, key_hash, workspace, scope, user_id, user_email, created_at,
                                   expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                id.to_string(),
                key.hash.as_bytes(),
                key.workspace,
                key.scope.as_str(),
                key.user.user_id,
                key.user.user_email,
                now,
                key.expires_at,
            ],
        )?;
        Ok(KeyRecord {
            key_id: id,
            workspace: key.workspace.clone(),
            scope: key.scope,
            user: key.user.clone(),
            created_at: now.to_owned(),
            revoked_at: None,
            expires_at: key.expires_at.clone(),
        })
    }

    async fn any_key(&mut self) -> Result<bool> {
        // The writer's transaction holds SQLite's write lock: no one else can add a key meanwhile.
        self.conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM api_keys)")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(db)
    }

    async fn revoke_key(&mut self, id: KeyId, now: &str) -> Result<bool> {
        let changed = self.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
            params![now, id.to_string()],
        )?;
        Ok(changed == 1)
    }

    async fn lock_agent(
        &mut self,
        workspace: &str,
        id: AgentId,
        _: Lock,
    ) -> Result<Option<Arc<StoredAgent>>> {
        let key = (workspace.to_owned(), id);
        if let Some(agent) = self.agents.get(&key) {
            return Ok(agent);
        }
        let row: Option<(String, i64)> = self
            .conn
            .prepare_cached(
                "SELECT document, revision FROM agents WHERE workspace = ? AND agent_id = ?",
            )
            .and_then(|mut s| {
                s.query_row(params![workspace, id.to_string()], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
            })
            .map_err(db)?;
        let Some((document, revision)) = row else {
            return Ok(None);
        };
        let agent = Arc::new(decode_agent(&document, revision)?);
        self.agents.remember(key, agent.clone(), document);
        Ok(Some(agent))
    }

    async fn existing(&mut self, workspace: &str, ids: &[AgentId]) -> Result<Vec<AgentId>> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT 1 FROM agents WHERE workspace = ? AND agent_id = ?")
            .map_err(db)?;
        let mut found = Vec::new();
        for id in ids {
            if statement
                .exists(params![workspace, id.to_string()])
                .map_err(db)?
            {
                found.push(*id);
            }
        }
        Ok(found)
    }

    async fn insert_agent(&mut self, workspace: &str, row: &Row<'_>) -> Result<()> {
        self.execute(
            "INSERT INTO agents (workspace, agent_id, name, name_folded, direction, created_at, revision,
                                 document, tags, metadata)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                workspace,
                row.agent.agent_id.to_string(),
                row.agent.spec.name,
                row.derived.name_folded,
                row.derived.direction,
                row.agent.metadata.created_at,
                row.revision_i64(),
                row.document,
                row.derived.tags_json,
                row.derived.metadata_json,
            ],
        )?;
        self.agents.stage(workspace, row.agent.agent_id, Some(row));
        Ok(())
    }

    async fn update_agent(&mut self, workspace: &str, row: &Row<'_>) -> Result<()> {
        // Setting `name_folded` rewrites its index entry even to the same value: an update that keeps
        // the name leaves ?1 and ?2 out and the index on names as it is.
        let sql = if row.renamed {
            "UPDATE agents SET name = ?1, name_folded = ?2, direction = ?3, revision = ?4, document = ?5,
                               tags = ?6, metadata = ?7
             WHERE workspace = ?8 AND agent_id = ?9"
        } else {
            "UPDATE agents SET direction = ?3, revision = ?4, document = ?5, tags = ?6, metadata = ?7
             WHERE workspace = ?8 AND agent_id = ?9"
        };
        self.execute(
            sql,
            params![
                row.agent.spec.name,
                row.derived.name_folded,
                row.derived.direction,
                row.revision_i64(),
                row.document,
                row.derived.tags_json,
                row.derived.metadata_json,
                workspace,
                row.agent.agent_id.to_string(),
            ],
        )?;
        self.agents.stage(workspace, row.agent.agent_id, Some(row));
        Ok(())
    }

    async fn delete_agent(&mut self, workspace: &str, id: AgentId) -> Result<()> {
        self.agents.stage(workspace, id, None);
        let id = id.to_string();
        for sql in [
            "DELETE FROM agents WHERE workspace = ? AND agent_id = ?",
            "DELETE FROM agent_tags WHERE workspace = ? AND agent_id = ?",
            "DELETE FROM agent_transfers WHERE workspace = ? AND agent_id = ?",
            "DELETE FROM agent_versions WHERE workspace = ? AND agent_id = ?",
        ] {
            self.execute(sql, params![workspace, id])?;
        }
        Ok(())
    }

    async fn replace_links(&mut self, workspace: &str, row: &Row<'_>) -> Result<()> {
        let id = row.agent.agent_id.to_string();
        self.execute(
            "DELETE FROM agent_tags WHERE workspace = ? AND agent_id = ?",
            params![workspace, id],
        )?;
        self.execute(
            "DELETE FROM agent_transfers WHERE workspace = ? AND agent_id = ?",
            params![workspace, id],
        )?;
        for tag in &row.agent.spec.tags {
            self.execute(
                "INSERT OR IGNORE INTO agent_tags (workspace, agent_id, tag) VALUES (?, ?, ?)",
                params![workspace, id, tag],
            )?;
        }
        for target in &row.derived.targets {
            self.execute(
                "INSERT OR IGNORE INTO agent_transfers (workspace, agent_id, target_id) VALUES (?, ?, ?)",
                params![workspace, id, target.to_string()],
            )?;
        }
        Ok(())
    }

    async fn insert_version(
        &mut self,
        workspace: &str,
        row: &Row<'_>,
        actor: &CreatedBy,
        changed_paths: &[String],
        restored_from: Option<u64>,
    ) -> Result<()> {
        self.execute(
            "INSERT INTO agent_versions (workspace, agent_id, version, created_at, user_id, user_email,
                                         changed_paths, restored_from, document)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                workspace,
                row.agent.agent_id.to_string(),
                row.revision_i64(),
                row.agent.metadata.updated_at,
                actor.user_id,
                actor.user_email,
                serde_json::to_string(changed_paths).unwrap_or_else(|_| "[]".into()),
                restored_from.and_then(|v| i64::try_from(v).ok()),
                row.document,
            ],
        )?;
        Ok(())
    }

    async fn referrers(&mut self, workspace: &str, id: AgentId) -> Result<Vec<AgentId>> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT agent_id FROM agent_transfers
                 WHERE workspace = ? AND target_id = ? AND agent_id <> target_id ORDER BY agent_id",
            )
            .map_err(db)?;
        let ids = statement
            .query_map(params![workspace, id.to_string()], |r| {
                r.get::<_, String>(0)
            })
            .map_err(db)?
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(db)?;
        ids.iter().map(|s| parse_id(s)).collect()
    }

    fn prepared(&mut self, used: bool) {
        let counter = if used {
            &self.stats.prepared_used
        } else {
            &self.stats.prepared_redone
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    async fn purge_idempotency_keys(&mut self, expired_before: &str) -> Result<u64> {
        let purged = self.execute(
            "DELETE FROM idempotency_keys WHERE created_at < ?",
            params![expired_before],
        )?;
        Ok(purged as u64)
    }

    async fn claim_idempotency(
        &mut self,
        workspace: &str,
        idempotency: &Idempotency,
        agent_id: AgentId,
        response: &str,
        now: &str,
    ) -> Result<Option<(String, String)>> {
        self.execute(
            "DELETE FROM idempotency_keys WHERE workspace = ? AND key = ? AND created_at < ?",
            params![workspace, idempotency.key, idempotency.expired_before],
        )?;
        let seen = self
            .conn
            .prepare_cached(
                "SELECT fingerprint, response FROM idempotency_keys WHERE workspace = ? AND key = ?",
            )
            .and_then(|mut s| {
                s.query_row(params![workspace, idempotency.key], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
            })
            .map_err(db)?;
        if seen.is_some() {
            return Ok(seen);
        }
        self.execute(
            "INSERT INTO idempotency_keys (workspace, key, fingerprint, agent_id, response, created_at)
             VALUES (?, ?, ?, ?, ?, ?)",
            params![
                workspace,
                idempotency.key,
                idempotency.fingerprint,
                agent_id.to_string(),
                response,
                now,
            ],
        )?;
        Ok(None)
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
    }
}

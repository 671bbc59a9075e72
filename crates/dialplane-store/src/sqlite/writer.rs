//! The one writer of a SQLite database, with group commit.
//!
//! Write requests queue on a channel. The writer takes every request waiting (up to `max_batch`), runs
//! each inside its own savepoint of one transaction, commits once (one fsync for the whole batch), and
//! only then answers each request. A request that fails rolls back to its savepoint and does not
//! disturb the others. Because one task applies writes one after another, a read-transform-write of an
//! agent is atomic: concurrent PATCHes cannot lose each other's changes.

use crate::ops::{self, decode_agent, key_record, parse_id, Lock, Op, Outcome, Row, Tx};
use crate::{Idempotency, KeyRecord, NewKey, Result, StoreError, StoredAgent};
use async_trait::async_trait;
use dialplane_core::{AgentId, CreatedBy, KeyId};
use sqlx::{Connection, Row as _, SqliteConnection};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
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
}

pub async fn run(
    mut conn: SqliteConnection,
    mut queue: mpsc::Receiver<Command>,
    max_batch: usize,
    stats: Arc<Stats>,
) {
    let mut batch = Vec::with_capacity(max_batch);
    while queue.recv_many(&mut batch, max_batch).await > 0 {
        let (ops, replies): (Vec<Op>, Vec<_>) = batch.drain(..).map(|c| (c.op, c.reply)).unzip();
        let count = ops.len();
        let results = match apply_batch(&mut conn, ops).await {
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
    }
    if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await
    {
        tracing::warn!(error = %e, "checkpoint at shutdown failed");
    }
    if let Err(e) = conn.close().await {
        tracing::warn!(error = %e, "closing the SQLite writer failed");
    }
}

/// Runs a batch in one transaction, each op in a savepoint of its own. The outer `Err` means nothing
/// was committed; the inner results are final only once the commit succeeded.
///
/// Savepoint statements ride together (`RELEASE op; SAVEPOINT op` between two ops), so an op costs
/// one round trip to SQLite's thread on top of its own statements.
async fn apply_batch(
    conn: &mut SqliteConnection,
    ops: Vec<Op>,
) -> Result<Vec<Result<Outcome>>, sqlx::Error> {
    sqlx::query("BEGIN IMMEDIATE; SAVEPOINT op")
        .execute(&mut *conn)
        .await?;
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        let dry_run = op.dry_run();
        let result = ops::apply(&mut SqliteTx(&mut *conn), op).await;
        // A failed op, or a dry run, is undone; the next op gets a fresh savepoint.
        let boundary = if result.is_err() || dry_run {
            "ROLLBACK TO op; RELEASE op; SAVEPOINT op"
        } else {
            "RELEASE op; SAVEPOINT op"
        };
        if let Err(e) = sqlx::query(boundary).execute(&mut *conn).await {
            // SQLite may have rolled the whole transaction back: nothing of this batch can be
            // trusted. Abort it; every op is answered as failed.
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            tracing::error!(error = %e, "a savepoint failed; the whole batch is rolled back");
            return Err(e);
        }
        results.push(result);
    }
    if let Err(e) = sqlx::query("RELEASE op; COMMIT").execute(&mut *conn).await {
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        tracing::error!(error = %e, "commit failed; the whole batch is rolled back");
        return Err(e);
    }
    Ok(results)
}

/// The writer's connection inside its open transaction. No locks are needed: it is the only writer.
struct SqliteTx<'c>(&'c mut SqliteConnection);

#[async_trait]
impl Tx for SqliteTx<'_> {
    async fn insert_key(&mut self, key: &NewKey, id: KeyId, now: &str) -> Result<KeyRecord> {
        let row = sqlx::query(
            "INSERT INTO api_keys (key_id, key_hash, workspace, scope, user_id, user_email, created_at,
                                   expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)
             RETURNING key_id, workspace, scope, user_id, user_email, created_at, revoked_at, expires_at",
        )
        .bind(id.to_string())
        .bind(key.hash.as_bytes().to_vec())
        .bind(&key.workspace)
        .bind(key.scope.as_str())
        .bind(&key.user.user_id)
        .bind(&key.user.user_email)
        .bind(now)
        .bind(&key.expires_at)
        .fetch_one(&mut *self.0)
        .await?;
        key_record(&row)
    }

    async fn any_key(&mut self) -> Result<bool> {
        // The writer's transaction holds SQLite's write lock: no one else can add a key meanwhile.
        let row = sqlx::query("SELECT EXISTS (SELECT 1 FROM api_keys)")
            .fetch_one(&mut *self.0)
            .await?;
        Ok(row.try_get::<bool, _>(0)?)
    }

    async fn revoke_key(&mut self, id: KeyId, now: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id.to_string())
        .execute(&mut *self.0)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn lock_agent(
        &mut self,
        workspace: &str,
        id: AgentId,
        _: Lock,
    ) -> Result<Option<StoredAgent>> {
        let row = sqlx::query(
            "SELECT document, revision FROM agents WHERE workspace = ? AND agent_id = ?",
        )
        .bind(workspace)
        .bind(id.to_string())
        .fetch_optional(&mut *self.0)
        .await?;
        row.map(|r| decode_agent(&r.try_get::<String, _>(0)?, r.try_get(1)?))
            .transpose()
    }

    async fn existing(&mut self, workspace: &str, ids: &[AgentId]) -> Result<Vec<AgentId>> {
        let mut found = Vec::new();
        for id in ids {
            let row = sqlx::query("SELECT 1 FROM agents WHERE workspace = ? AND agent_id = ?")
                .bind(workspace)
                .bind(id.to_string())
                .fetch_optional(&mut *self.0)
                .await?;
            if row.is_some() {
                found.push(*id);
            }
        }
        Ok(found)
    }

    async fn insert_agent(&mut self, workspace: &str, row: &Row<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO agents (workspace, agent_id, name, name_folded, direction, created_at, revision, document)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(workspace)
        .bind(row.agent.agent_id.to_string())
        .bind(&row.agent.spec.name)
        .bind(&row.derived.name_folded)
        .bind(row.derived.direction)
        .bind(&row.agent.metadata.created_at)
        .bind(row.revision_i64())
        .bind(&row.document)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn update_agent(&mut self, workspace: &str, row: &Row<'_>) -> Result<()> {
        sqlx::query(
            "UPDATE agents SET name = ?, name_folded = ?, direction = ?, revision = ?, document = ?
             WHERE workspace = ? AND agent_id = ?",
        )
        .bind(&row.agent.spec.name)
        .bind(&row.derived.name_folded)
        .bind(row.derived.direction)
        .bind(row.revision_i64())
        .bind(&row.document)
        .bind(workspace)
        .bind(row.agent.agent_id.to_string())
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn delete_agent(&mut self, workspace: &str, id: AgentId) -> Result<()> {
        for table in ["agents", "agent_tags", "agent_transfers", "agent_versions"] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE workspace = ? AND agent_id = ?"
            ))
            .bind(workspace)
            .bind(id.to_string())
            .execute(&mut *self.0)
            .await?;
        }
        Ok(())
    }

    async fn replace_links(&mut self, workspace: &str, row: &Row<'_>) -> Result<()> {
        let id = row.agent.agent_id.to_string();
        for table in ["agent_tags", "agent_transfers"] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE workspace = ? AND agent_id = ?"
            ))
            .bind(workspace)
            .bind(&id)
            .execute(&mut *self.0)
            .await?;
        }
        for tag in &row.agent.spec.tags {
            sqlx::query(
                "INSERT OR IGNORE INTO agent_tags (workspace, agent_id, tag) VALUES (?, ?, ?)",
            )
            .bind(workspace)
            .bind(&id)
            .bind(tag)
            .execute(&mut *self.0)
            .await?;
        }
        for target in &row.derived.targets {
            sqlx::query(
                "INSERT OR IGNORE INTO agent_transfers (workspace, agent_id, target_id) VALUES (?, ?, ?)",
            )
            .bind(workspace)
            .bind(&id)
            .bind(target.to_string())
            .execute(&mut *self.0)
            .await?;
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
        sqlx::query(
            "INSERT INTO agent_versions (workspace, agent_id, version, created_at, user_id, user_email,
                                         changed_paths, restored_from, document)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(workspace)
        .bind(row.agent.agent_id.to_string())
        .bind(row.revision_i64())
        .bind(&row.agent.metadata.updated_at)
        .bind(&actor.user_id)
        .bind(&actor.user_email)
        .bind(serde_json::to_string(changed_paths).unwrap_or_else(|_| "[]".into()))
        .bind(restored_from.and_then(|v| i64::try_from(v).ok()))
        .bind(&row.document)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn referrers(&mut self, workspace: &str, id: AgentId) -> Result<Vec<AgentId>> {
        let rows = sqlx::query(
            "SELECT agent_id FROM agent_transfers
             WHERE workspace = ? AND target_id = ? AND agent_id <> target_id ORDER BY agent_id",
        )
        .bind(workspace)
        .bind(id.to_string())
        .fetch_all(&mut *self.0)
        .await?;
        rows.iter()
            .map(|r| parse_id(&r.try_get::<String, _>(0)?))
            .collect()
    }

    async fn purge_idempotency_keys(&mut self, expired_before: &str) -> Result<u64> {
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < ?")
            .bind(expired_before)
            .execute(&mut *self.0)
            .await?;
        Ok(done.rows_affected())
    }

    async fn claim_idempotency(
        &mut self,
        workspace: &str,
        idempotency: &Idempotency,
        agent_id: AgentId,
        response: &str,
        now: &str,
    ) -> Result<Option<(String, String)>> {
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE workspace = ? AND key = ? AND created_at < ?",
        )
        .bind(workspace)
        .bind(&idempotency.key)
        .bind(&idempotency.expired_before)
        .execute(&mut *self.0)
        .await?;
        let seen = sqlx::query(
            "SELECT fingerprint, response FROM idempotency_keys WHERE workspace = ? AND key = ?",
        )
        .bind(workspace)
        .bind(&idempotency.key)
        .fetch_optional(&mut *self.0)
        .await?;
        if let Some(row) = seen {
            return Ok(Some((row.try_get(0)?, row.try_get(1)?)));
        }
        sqlx::query(
            "INSERT INTO idempotency_keys (workspace, key, fingerprint, agent_id, response, created_at)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(workspace)
        .bind(&idempotency.key)
        .bind(&idempotency.fingerprint)
        .bind(agent_id.to_string())
        .bind(response)
        .bind(now)
        .execute(&mut *self.0)
        .await?;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use sqlx::{ConnectOptions, Row};

    /// The batch runs its savepoint statements two or three to a query: every one must run.
    #[tokio::test]
    async fn every_statement_of_a_savepoint_boundary_runs() {
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .in_memory(true)
            .connect()
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("BEGIN IMMEDIATE; SAVEPOINT op")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("ROLLBACK TO op; RELEASE op; SAVEPOINT op")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("INSERT INTO t VALUES (2)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("RELEASE op; SAVEPOINT op")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("INSERT INTO t VALUES (3)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("RELEASE op; COMMIT")
            .execute(&mut conn)
            .await
            .unwrap();
        let rows: Vec<i64> = sqlx::query("SELECT x FROM t ORDER BY x")
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(
            rows,
            [2, 3],
            "the first insert was undone, the others committed"
        );
        // No transaction is left open: BEGIN works again.
        sqlx::query("BEGIN; COMMIT")
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

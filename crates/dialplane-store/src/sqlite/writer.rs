//! The one writer of a SQLite database, with group commit.
//!
//! Write requests queue on a channel. The writer takes every request waiting (up to `max_batch`), runs
//! each inside its own savepoint of one transaction, commits once (one fsync for the whole batch), and
//! only then answers each request. A request that fails rolls back to its savepoint and does not
//! disturb the others. Because one task applies writes one after another, a read-transform-write of an
//! agent is atomic: concurrent PATCHes cannot lose each other's changes.

use super::{decode_agent, key_record};
use crate::{
    Created, Derived, Idempotency, IfMatch, KeyRecord, NewKey, Result, StoreError, StoredAgent,
    Transform, Updated,
};
use dialplane_core::{Agent, AgentId, KeyId};
use sqlx::{Connection, Row, SqliteConnection};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

pub enum Op {
    CreateKey(NewKey),
    RevokeKey(KeyId),
    CreateAgent {
        workspace: String,
        agent: Box<Agent>,
        idempotency: Option<Idempotency>,
    },
    UpdateAgent {
        workspace: String,
        id: AgentId,
        if_match: Option<IfMatch>,
        transform: Transform,
    },
    DeleteAgent {
        workspace: String,
        id: AgentId,
        if_match: Option<IfMatch>,
    },
}

#[derive(Debug)]
pub enum Outcome {
    Key(KeyRecord),
    Revoked(bool),
    Created(Created),
    Updated(Updated),
    Deleted,
}

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

/// Runs a batch in one transaction. The outer `Err` means nothing was committed; the inner results
/// are final only once the commit succeeded.
async fn apply_batch(
    conn: &mut SqliteConnection,
    ops: Vec<Op>,
) -> Result<Vec<Result<Outcome>>, sqlx::Error> {
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        results.push(apply_in_savepoint(conn, op).await);
    }
    if let Err(e) = sqlx::query("COMMIT").execute(&mut *conn).await {
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        tracing::error!(error = %e, "commit failed; the whole batch is rolled back");
        return Err(e);
    }
    Ok(results)
}

async fn apply_in_savepoint(conn: &mut SqliteConnection, op: Op) -> Result<Outcome> {
    sqlx::query("SAVEPOINT op").execute(&mut *conn).await?;
    let result = apply(conn, op).await;
    if result.is_err() {
        sqlx::query("ROLLBACK TO op").execute(&mut *conn).await?;
    }
    sqlx::query("RELEASE op").execute(&mut *conn).await?;
    result
}

async fn apply(conn: &mut SqliteConnection, op: Op) -> Result<Outcome> {
    match op {
        Op::CreateKey(key) => create_key(conn, key).await.map(Outcome::Key),
        Op::RevokeKey(id) => {
            let done = sqlx::query(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
            )
            .bind(now())
            .bind(id.to_string())
            .execute(&mut *conn)
            .await?;
            Ok(Outcome::Revoked(done.rows_affected() == 1))
        }
        Op::CreateAgent {
            workspace,
            agent,
            idempotency,
        } => create_agent(conn, &workspace, *agent, idempotency)
            .await
            .map(Outcome::Created),
        Op::UpdateAgent {
            workspace,
            id,
            if_match,
            transform,
        } => update_agent(conn, &workspace, id, if_match, transform)
            .await
            .map(Outcome::Updated),
        Op::DeleteAgent {
            workspace,
            id,
            if_match,
        } => delete_agent(conn, &workspace, id, if_match)
            .await
            .map(|()| Outcome::Deleted),
    }
}

fn now() -> String {
    dialplane_core::agent::timestamp(chrono::Utc::now())
}

async fn create_key(conn: &mut SqliteConnection, key: NewKey) -> Result<KeyRecord> {
    let row = sqlx::query(
        "INSERT INTO api_keys (key_id, key_hash, workspace, scope, user_id, user_email, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         RETURNING key_id, workspace, scope, user_id, user_email, created_at, revoked_at",
    )
    .bind(KeyId::generate().to_string())
    .bind(key.hash.as_bytes().to_vec())
    .bind(&key.workspace)
    .bind(key.scope.as_str())
    .bind(&key.user.user_id)
    .bind(&key.user.user_email)
    .bind(now())
    .fetch_one(&mut *conn)
    .await?;
    key_record(&row)
}

async fn create_agent(
    conn: &mut SqliteConnection,
    workspace: &str,
    agent: Agent,
    idempotency: Option<Idempotency>,
) -> Result<Created> {
    if let Some(idem) = &idempotency {
        let seen = sqlx::query(
            "SELECT fingerprint, response FROM idempotency_keys WHERE workspace = ? AND key = ?",
        )
        .bind(workspace)
        .bind(&idem.key)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(row) = seen {
            let fingerprint: String = row.try_get(0)?;
            if fingerprint != idem.fingerprint {
                return Err(StoreError::IdempotencyKeyReused);
            }
            return Ok(Created::Replayed(decode_agent(
                &row.try_get::<String, _>(1)?,
                1,
            )?));
        }
    }
    let derived = Derived::of(&agent.spec);
    check_targets(conn, workspace, &agent, &derived).await?;
    let document = encode(&agent)?;
    sqlx::query(
        "INSERT INTO agents (workspace, agent_id, name, name_folded, direction, created_at, revision, document)
         VALUES (?, ?, ?, ?, ?, ?, 1, ?)",
    )
    .bind(workspace)
    .bind(agent.agent_id.to_string())
    .bind(&agent.spec.name)
    .bind(&derived.name_folded)
    .bind(derived.direction)
    .bind(&agent.metadata.created_at)
    .bind(&document)
    .execute(&mut *conn)
    .await?;
    write_links(conn, workspace, &agent, &derived).await?;
    if let Some(idem) = idempotency {
        sqlx::query(
            "INSERT INTO idempotency_keys (workspace, key, fingerprint, agent_id, response, created_at)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(workspace)
        .bind(&idem.key)
        .bind(&idem.fingerprint)
        .bind(agent.agent_id.to_string())
        .bind(&document)
        .bind(now())
        .execute(&mut *conn)
        .await?;
    }
    Ok(Created::New(StoredAgent { agent, revision: 1 }))
}

async fn update_agent(
    conn: &mut SqliteConnection,
    workspace: &str,
    id: AgentId,
    if_match: Option<IfMatch>,
    transform: Transform,
) -> Result<Updated> {
    let current = load(conn, workspace, id).await?;
    if if_match.is_some_and(|m| !m.matches(current.revision)) {
        return Err(StoreError::PreconditionFailed);
    }
    let Some(agent) = transform(&current).map_err(StoreError::Invalid)? else {
        return Ok(Updated::Unchanged(current));
    };
    let derived = Derived::of(&agent.spec);
    check_targets(conn, workspace, &agent, &derived).await?;
    let revision = current.revision + 1;
    sqlx::query(
        "UPDATE agents SET name = ?, name_folded = ?, direction = ?, revision = ?, document = ?
         WHERE workspace = ? AND agent_id = ?",
    )
    .bind(&agent.spec.name)
    .bind(&derived.name_folded)
    .bind(derived.direction)
    .bind(i64::try_from(revision).unwrap_or(i64::MAX))
    .bind(encode(&agent)?)
    .bind(workspace)
    .bind(id.to_string())
    .execute(&mut *conn)
    .await?;
    unlink(conn, workspace, id).await?;
    write_links(conn, workspace, &agent, &derived).await?;
    Ok(Updated::Changed(StoredAgent { agent, revision }))
}

async fn delete_agent(
    conn: &mut SqliteConnection,
    workspace: &str,
    id: AgentId,
    if_match: Option<IfMatch>,
) -> Result<()> {
    let current = load(conn, workspace, id).await?;
    if if_match.is_some_and(|m| !m.matches(current.revision)) {
        return Err(StoreError::PreconditionFailed);
    }
    let referrers = sqlx::query(
        "SELECT agent_id FROM agent_transfers
         WHERE workspace = ? AND target_id = ? AND agent_id <> target_id ORDER BY agent_id",
    )
    .bind(workspace)
    .bind(id.to_string())
    .fetch_all(&mut *conn)
    .await?;
    if !referrers.is_empty() {
        let ids = referrers
            .iter()
            .map(|r| super::parse_id(&r.try_get::<String, _>(0)?))
            .collect::<Result<Vec<AgentId>>>()?;
        return Err(StoreError::Referenced(ids));
    }
    sqlx::query("DELETE FROM agents WHERE workspace = ? AND agent_id = ?")
        .bind(workspace)
        .bind(id.to_string())
        .execute(&mut *conn)
        .await?;
    unlink(conn, workspace, id).await
}

async fn load(conn: &mut SqliteConnection, workspace: &str, id: AgentId) -> Result<StoredAgent> {
    let row =
        sqlx::query("SELECT document, revision FROM agents WHERE workspace = ? AND agent_id = ?")
            .bind(workspace)
            .bind(id.to_string())
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(StoreError::NotFound)?;
    decode_agent(&row.try_get::<String, _>(0)?, row.try_get(1)?)
}

fn encode(agent: &Agent) -> Result<String> {
    serde_json::to_string(agent).map_err(|e| StoreError::Internal(format!("encoding agent: {e}")))
}

/// Fails with every transfer target that is not an agent of the workspace.
async fn check_targets(
    conn: &mut SqliteConnection,
    workspace: &str,
    agent: &Agent,
    derived: &Derived,
) -> Result<()> {
    let mut missing = Vec::new();
    for target in &derived.targets {
        let found = sqlx::query("SELECT 1 FROM agents WHERE workspace = ? AND agent_id = ?")
            .bind(workspace)
            .bind(target.to_string())
            .fetch_optional(&mut *conn)
            .await?;
        if found.is_none() {
            missing.push(*target);
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Invalid(
            dialplane_core::validate::missing_targets(&agent.spec, &missing),
        ))
    }
}

async fn write_links(
    conn: &mut SqliteConnection,
    workspace: &str,
    agent: &Agent,
    derived: &Derived,
) -> Result<()> {
    let id = agent.agent_id.to_string();
    for tag in &agent.spec.tags {
        sqlx::query("INSERT OR IGNORE INTO agent_tags (workspace, agent_id, tag) VALUES (?, ?, ?)")
            .bind(workspace)
            .bind(&id)
            .bind(tag)
            .execute(&mut *conn)
            .await?;
    }
    for target in &derived.targets {
        sqlx::query(
            "INSERT OR IGNORE INTO agent_transfers (workspace, agent_id, target_id) VALUES (?, ?, ?)",
        )
        .bind(workspace)
        .bind(&id)
        .bind(target.to_string())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn unlink(conn: &mut SqliteConnection, workspace: &str, id: AgentId) -> Result<()> {
    let id = id.to_string();
    for table in ["agent_tags", "agent_transfers"] {
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE workspace = ? AND agent_id = ?"
        ))
        .bind(workspace)
        .bind(&id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

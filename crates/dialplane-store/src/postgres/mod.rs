//! The PostgreSQL backend, for many dialplane instances over one database.
//!
//! Each write is one transaction. A PATCH locks its agent (`SELECT ... FOR UPDATE`), so concurrent
//! writers through any instance apply one after another and lose nothing; transfer targets are locked
//! `FOR SHARE`, so an agent cannot be deleted while another write starts referring to it. A transaction
//! that loses a deadlock is retried. PostgreSQL's own group commit shares fsyncs between transactions.

use crate::ops::{self, decode_agent, key_record, parse_id, Lock, Op, Outcome, Row, Tx};
use crate::{
    Change, Created, Idempotency, IfMatch, KeyRecord, ListQuery, NewKey, Page, Principal, Result,
    Store, StoreError, StoreOptions, StoredAgent, Transform, Updated, VersionPage,
};
use async_trait::async_trait;
use dialplane_core::{Agent, AgentId, CreatedBy, KeyHash, KeyId};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::Row as _;
use std::str::FromStr;
use std::sync::Arc;

/// How often a write that lost a deadlock is tried again.
const RETRIES: usize = 5;

const LIST: crate::list::Dialect = crate::list::Dialect {
    select: "SELECT agent_id, name, (document->'tags')::text AS tags,
                    (document->'metadata')::text AS metadata
             FROM agents",
    find: "strpos",
};

pub struct PgStore {
    pool: PgPool,
    /// See [`Store::answer_deadline`]: waiting for a connection, then up to two statement timeouts.
    deadline: std::time::Duration,
}

impl PgStore {
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self> {
        // A statement, a wait for a row lock, and a transaction left idle are all bounded: an
        // instance that lost its network mid-transaction would otherwise hold its row locks until
        // PostgreSQL noticed (hours, with default keepalives), and every write of that agent from
        // the other instances would wait as long, each holding a connection.
        let base = PgConnectOptions::from_str(url).map_err(|e| {
            StoreError::Unavailable(format!(
                "bad PostgreSQL URL {}: {e}",
                crate::redact_url(url)
            ))
        })?;
        let unreachable = |e: sqlx::Error| {
            StoreError::Unavailable(format!("cannot connect to {}: {e}", crate::redact_url(url)))
        };
        // Migrations run on a connection of their own, without the timeouts: one that rewrites a
        // large table may take longer than any request should.
        let mut migrating: PgConnection = sqlx::Connection::connect_with(&base)
            .await
            .map_err(unreachable)?;
        crate::tolerant(sqlx::migrate!("./migrations/postgres"))
            .run(&mut migrating)
            .await
            .map_err(|e| StoreError::Internal(format!("migrating: {e}")))?;
        let _ = sqlx::Connection::close(migrating).await;
        let timeout_ms = options.statement_timeout.as_millis().max(1).to_string();
        let connect = base.options([
            ("statement_timeout", timeout_ms.as_str()),
            ("lock_timeout", timeout_ms.as_str()),
            ("idle_in_transaction_session_timeout", timeout_ms.as_str()),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(options.pool_size.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(unreachable)?;
        Ok(Self {
            pool,
            deadline: options.acquire_timeout + 2 * options.statement_timeout,
        })
    }

    /// Runs `op` to its end on a task of its own, so that a client going away mid-request cannot
    /// cancel a transaction half way: a `begin` cancelled at the wrong moment leaves its pooled
    /// connection inside an open transaction (sqlx 0.8), which the next user of the connection would
    /// inherit.
    async fn write(&self, op: Op) -> Result<Outcome> {
        tokio::spawn(write(self.pool.clone(), op))
            .await
            .map_err(|e| StoreError::Internal(format!("a write task failed: {e}")))?
    }
}

/// Runs `op` in a transaction, again when it loses a deadlock.
async fn write(pool: PgPool, op: Op) -> Result<Outcome> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match write_once(&pool, op.clone()).await {
            Err(StoreError::Retry(why)) if attempt < RETRIES => {
                tracing::debug!(attempt, %why, "retrying a write that lost a deadlock");
                // Back off a little, differently for each writer, so they do not collide again.
                let jitter = u64::from(jitter_bits()) % (10 * attempt as u64 + 1);
                tokio::time::sleep(std::time::Duration::from_millis(
                    5 * attempt as u64 + jitter,
                ))
                .await;
            }
            Err(StoreError::Retry(why)) => return Err(StoreError::Unavailable(why)),
            other => return other,
        }
    }
}

async fn write_once(pool: &PgPool, op: Op) -> Result<Outcome> {
    let mut tx = pool.begin().await?;
    let dry_run = op.dry_run();
    let outcome = ops::apply(&mut PgTx(&mut tx), op).await;
    match outcome {
        Ok(outcome) if dry_run => {
            tx.rollback().await?;
            Ok(outcome)
        }
        Ok(outcome) => {
            tx.commit().await?;
            Ok(outcome)
        }
        Err(e) => {
            // Dropping the transaction rolls it back; say so explicitly to return the
            // connection clean.
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

/// A few varying bits, for retry jitter.
fn jitter_bits() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_micros())
}

const KEY_COLUMNS: &str =
    "key_id, workspace, scope, user_id, user_email, created_at, revoked_at, expires_at";

#[async_trait]
impl Store for PgStore {
    async fn ready(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn authenticate(&self, hash: &KeyHash) -> Result<Option<Principal>> {
        let row = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL
             AND (expires_at IS NULL OR expires_at > $2)"
        ))
        .bind(hash.as_bytes())
        .bind(ops::now())
        .fetch_optional(&self.pool)
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
        Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM api_keys)")
            .fetch_one(&self.pool)
            .await?)
    }

    async fn create_key(&self, key: NewKey) -> Result<KeyRecord> {
        self.write(Op::CreateKey(key)).await?.key()
    }

    async fn create_first_key(&self, key: NewKey) -> Result<Option<KeyRecord>> {
        self.write(Op::CreateFirstKey(key)).await?.first_key()
    }

    async fn list_keys(&self) -> Result<Vec<KeyRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, key_id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(key_record).collect()
    }

    async fn revoke_key(&self, key_id: KeyId) -> Result<bool> {
        self.write(Op::RevokeKey(key_id)).await?.revoked()
    }

    async fn get_agent(&self, workspace: &str, id: AgentId) -> Result<Option<StoredAgent>> {
        let row = sqlx::query(
            "SELECT document::text, revision FROM agents WHERE workspace = $1 AND agent_id = $2",
        )
        .bind(workspace)
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| decode_agent(r.try_get(0)?, r.try_get(1)?))
            .transpose()
    }

    async fn idempotent_answer(
        &self,
        workspace: &str,
        idempotency: &Idempotency,
    ) -> Result<Option<StoredAgent>> {
        let recorded = sqlx::query_as(
            "SELECT fingerprint, response FROM idempotency_keys
             WHERE workspace = $1 AND key = $2 AND created_at >= $3",
        )
        .bind(workspace)
        .bind(&idempotency.key)
        .bind(&idempotency.expired_before)
        .fetch_optional(&self.pool)
        .await?;
        crate::replay(recorded, idempotency)
    }

    async fn list_agents(&self, workspace: &str, query: &ListQuery) -> Result<Page> {
        let rows = crate::list::list_sql::<sqlx::Postgres>(&LIST, workspace, query)
            .build()
            .fetch_all(&self.pool)
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
        self.write(Op::update_agent(
            workspace, id, if_match, change, transform, None,
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
            "SELECT version, created_at, user_id, user_email, changed_paths::text, restored_from
             FROM agent_versions WHERE workspace = $1 AND agent_id = $2 AND version < $3
             ORDER BY version DESC LIMIT $4",
        )
        .bind(workspace)
        .bind(id.to_string())
        .bind(
            before
                .and_then(|v| i64::try_from(v).ok())
                .unwrap_or(i64::MAX),
        )
        .bind(i64::from(page_size) + 1)
        .fetch_all(&self.pool)
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
            "SELECT document::text, version FROM agent_versions
             WHERE workspace = $1 AND agent_id = $2 AND version = $3",
        )
        .bind(workspace)
        .bind(id.to_string())
        .bind(i64::try_from(version).unwrap_or(i64::MAX))
        .fetch_optional(&self.pool)
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
        self.pool.close().await;
    }

    fn answer_deadline(&self) -> Option<std::time::Duration> {
        Some(self.deadline)
    }
}

/// One write transaction.
struct PgTx<'c>(&'c mut PgConnection);

#[async_trait]
impl Tx for PgTx<'_> {
    async fn insert_key(&mut self, key: &NewKey, id: KeyId, now: &str) -> Result<KeyRecord> {
        let row = sqlx::query(&format!(
            "INSERT INTO api_keys (key_id, key_hash, workspace, scope, user_id, user_email, created_at,
                                   expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {KEY_COLUMNS}"
        ))
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
        // One bootstrap at a time across instances: a transaction-scoped advisory lock.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('dialplane:bootstrap-key'))")
            .execute(&mut *self.0)
            .await?;
        Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM api_keys)")
            .fetch_one(&mut *self.0)
            .await?)
    }

    async fn revoke_key(&mut self, id: KeyId, now: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE key_id = $2 AND revoked_at IS NULL",
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
        lock: Lock,
    ) -> Result<Option<Arc<StoredAgent>>> {
        // An update takes `FOR NO KEY UPDATE`, which does not conflict with the `FOR KEY SHARE` that
        // writes referring to this agent take (agents that transfer to each other can be patched at
        // once); a delete takes `FOR UPDATE`, which waits for those writes and keeps new ones out.
        let sql = match lock {
            Lock::Update => {
                "SELECT document::text, revision FROM agents
                 WHERE workspace = $1 AND agent_id = $2 FOR NO KEY UPDATE"
            }
            Lock::Delete => {
                "SELECT document::text, revision FROM agents
                 WHERE workspace = $1 AND agent_id = $2 FOR UPDATE"
            }
        };
        let row = sqlx::query(sql)
            .bind(workspace)
            .bind(id.to_string())
            .fetch_optional(&mut *self.0)
            .await?;
        row.map(|r| decode_agent(r.try_get(0)?, r.try_get(1)?).map(Arc::new))
            .transpose()
    }

    async fn existing(&mut self, workspace: &str, ids: &[AgentId]) -> Result<Vec<AgentId>> {
        let ids: Vec<String> = ids.iter().map(AgentId::to_string).collect();
        let rows = sqlx::query(
            "SELECT agent_id FROM agents WHERE workspace = $1 AND agent_id = ANY($2)
             ORDER BY agent_id FOR KEY SHARE",
        )
        .bind(workspace)
        .bind(&ids)
        .fetch_all(&mut *self.0)
        .await?;
        rows.iter().map(|r| parse_id(r.try_get(0)?)).collect()
    }

    async fn insert_agent(&mut self, workspace: &str, row: &Row<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO agents (workspace, agent_id, name, name_folded, direction, created_at, revision, document)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)",
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
            "UPDATE agents SET name = $1, name_folded = $2, direction = $3, revision = $4,
                    document = $5::jsonb
             WHERE workspace = $6 AND agent_id = $7",
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
                "DELETE FROM {table} WHERE workspace = $1 AND agent_id = $2"
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
                "DELETE FROM {table} WHERE workspace = $1 AND agent_id = $2"
            ))
            .bind(workspace)
            .bind(&id)
            .execute(&mut *self.0)
            .await?;
        }
        let targets: Vec<String> = row.derived.targets.iter().map(AgentId::to_string).collect();
        sqlx::query(
            "INSERT INTO agent_tags (workspace, agent_id, tag)
             SELECT $1, $2, t FROM unnest($3::text[]) AS t ON CONFLICT DO NOTHING",
        )
        .bind(workspace)
        .bind(&id)
        .bind(&row.agent.spec.tags)
        .execute(&mut *self.0)
        .await?;
        sqlx::query(
            "INSERT INTO agent_transfers (workspace, agent_id, target_id)
             SELECT $1, $2, t FROM unnest($3::text[]) AS t ON CONFLICT DO NOTHING",
        )
        .bind(workspace)
        .bind(&id)
        .bind(&targets)
        .execute(&mut *self.0)
        .await?;
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
             VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9::jsonb)",
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
             WHERE workspace = $1 AND target_id = $2 AND agent_id <> target_id ORDER BY agent_id",
        )
        .bind(workspace)
        .bind(id.to_string())
        .fetch_all(&mut *self.0)
        .await?;
        rows.iter().map(|r| parse_id(r.try_get(0)?)).collect()
    }

    async fn purge_idempotency_keys(&mut self, expired_before: &str) -> Result<u64> {
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
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
            "DELETE FROM idempotency_keys WHERE workspace = $1 AND key = $2 AND created_at < $3",
        )
        .bind(workspace)
        .bind(&idempotency.key)
        .bind(&idempotency.expired_before)
        .execute(&mut *self.0)
        .await?;
        // A concurrent claim of the same key waits here until the first commits or rolls back.
        let claimed = sqlx::query(
            "INSERT INTO idempotency_keys (workspace, key, fingerprint, agent_id, response, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (workspace, key) DO NOTHING RETURNING 1",
        )
        .bind(workspace)
        .bind(&idempotency.key)
        .bind(&idempotency.fingerprint)
        .bind(agent_id.to_string())
        .bind(response)
        .bind(now)
        .fetch_optional(&mut *self.0)
        .await?;
        if claimed.is_some() {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT fingerprint, response FROM idempotency_keys WHERE workspace = $1 AND key = $2",
        )
        .bind(workspace)
        .bind(&idempotency.key)
        .fetch_one(&mut *self.0)
        .await?;
        Ok(Some((row.try_get(0)?, row.try_get(1)?)))
    }
}

//! The key and idempotency statements of the SQLite writer's transactions, and their reads.

use super::writer::{db, SqliteTx};
use crate::idempotency::{Idempotency, IdempotencyTx};
use crate::keys::{key_record, KeyRecord, KeyTx, NewKey, Principal};
use crate::{now, Result};
use async_trait::async_trait;
use dialplane_core::{AgentId, KeyHash, KeyId};
use rusqlite::{params, OptionalExtension};
use sqlx::{Row as _, SqlitePool};

#[async_trait]
impl KeyTx for SqliteTx<'_> {
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
}

#[async_trait]
impl IdempotencyTx for SqliteTx<'_> {
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

pub(super) async fn authenticate(reads: &SqlitePool, hash: &KeyHash) -> Result<Option<Principal>> {
    let row = sqlx::query(
        "SELECT key_id, workspace, scope, user_id, user_email, created_at, revoked_at, expires_at
         FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL
         AND (expires_at IS NULL OR expires_at > ?)",
    )
    .bind(hash.as_bytes())
    .bind(now())
    .fetch_optional(reads)
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

pub(super) async fn has_keys(reads: &SqlitePool) -> Result<bool> {
    let row = sqlx::query("SELECT EXISTS (SELECT 1 FROM api_keys) AS any")
        .fetch_one(reads)
        .await?;
    Ok(row.try_get::<bool, _>("any")?)
}

pub(super) async fn list_keys(reads: &SqlitePool) -> Result<Vec<KeyRecord>> {
    let rows = sqlx::query(
        "SELECT key_id, workspace, scope, user_id, user_email, created_at, revoked_at, expires_at
         FROM api_keys ORDER BY created_at, key_id",
    )
    .fetch_all(reads)
    .await?;
    rows.iter().map(key_record).collect()
}

pub(super) async fn idempotent_answer(
    reads: &SqlitePool,
    workspace: &str,
    idempotency: &Idempotency,
) -> Result<Option<(String, String)>> {
    let recorded = sqlx::query_as(
        "SELECT fingerprint, response FROM idempotency_keys
         WHERE workspace = ? AND key = ? AND created_at >= ?",
    )
    .bind(workspace)
    .bind(&idempotency.key)
    .bind(&idempotency.expired_before)
    .fetch_optional(reads)
    .await?;
    Ok(recorded)
}

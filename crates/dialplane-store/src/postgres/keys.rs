//! The key and idempotency statements of PostgreSQL write transactions, and their reads.

use super::PgTx;
use crate::idempotency::{Idempotency, IdempotencyTx};
use crate::keys::{key_record, KeyRecord, KeyTx, NewKey};
use crate::Result;
use async_trait::async_trait;
use dialplane_core::{AgentId, KeyId};
use sqlx::Row as _;

const KEY_COLUMNS: &str =
    "key_id, workspace, scope, user_id, user_email, created_at, revoked_at, expires_at";

#[async_trait]
impl KeyTx for PgTx<'_> {
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
        .fetch_one(&mut *self.conn)
        .await?;
        key_record(&row)
    }

    async fn any_key(&mut self) -> Result<bool> {
        // One bootstrap at a time across instances: a transaction-scoped advisory lock.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('dialplane:bootstrap-key'))")
            .execute(&mut *self.conn)
            .await?;
        Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM api_keys)")
            .fetch_one(&mut *self.conn)
            .await?)
    }

    async fn revoke_key(&mut self, id: KeyId, now: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE key_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id.to_string())
        .execute(&mut *self.conn)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

#[async_trait]
impl IdempotencyTx for PgTx<'_> {
    async fn purge_idempotency_keys(&mut self, expired_before: &str) -> Result<u64> {
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(expired_before)
            .execute(&mut *self.conn)
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
        .execute(&mut *self.conn)
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
        .fetch_optional(&mut *self.conn)
        .await?;
        if claimed.is_some() {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT fingerprint, response FROM idempotency_keys WHERE workspace = $1 AND key = $2",
        )
        .bind(workspace)
        .bind(&idempotency.key)
        .fetch_one(&mut *self.conn)
        .await?;
        Ok(Some((row.try_get(0)?, row.try_get(1)?)))
    }
}

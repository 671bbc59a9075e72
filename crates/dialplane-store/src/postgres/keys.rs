//! The key statements of PostgreSQL write transactions.

use super::PgTx;
use crate::keys::{key_record, KeyRecord, KeyTx, NewKey};
use crate::Result;
use async_trait::async_trait;
use dialplane_core::KeyId;

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

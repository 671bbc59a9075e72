//! The idempotency statements of PostgreSQL write transactions.

use super::PgTx;
use crate::idempotency::{
    encode_headers, recorded, recorded_before, Idempotency, IdempotencyTx, Recorded, BEFORE_SQL,
};
use crate::{Result, StoreError};
use async_trait::async_trait;

#[async_trait]
impl IdempotencyTx for PgTx<'_> {
    async fn claim_idempotency(
        &mut self,
        workspace: &str,
        idempotency: &Idempotency,
        now: &str,
    ) -> Result<Option<(String, Recorded)>> {
        sqlx::query(
            "DELETE FROM idempotent_answers WHERE workspace = $1 AND key = $2 AND created_at < $3",
        )
        .bind(workspace)
        .bind(&idempotency.key)
        .bind(&idempotency.expired_before)
        .execute(&mut *self.conn)
        .await?;
        // Recorded by an instance of the release before, still running beside this one.
        let before: Option<(String, String, String)> = sqlx::query_as(BEFORE_SQL)
            .bind(workspace)
            .bind(&idempotency.key)
            .bind(&idempotency.expired_before)
            .fetch_optional(&mut *self.conn)
            .await?;
        if let Some((fingerprint, agent_id, document)) = before {
            return Ok(Some((fingerprint, recorded_before(&agent_id, &document))));
        }
        // A concurrent claim of the same key waits here until the first commits or rolls back.
        let claimed = sqlx::query(
            "INSERT INTO idempotent_answers (workspace, key, fingerprint, status, headers, body,
                                             created_at)
             VALUES ($1, $2, $3, 0, '[]', ''::bytea, $4)
             ON CONFLICT (workspace, key) DO NOTHING RETURNING 1",
        )
        .bind(workspace)
        .bind(&idempotency.key)
        .bind(&idempotency.fingerprint)
        .bind(now)
        .fetch_optional(&mut *self.conn)
        .await?;
        if claimed.is_some() {
            return Ok(None);
        }
        let row: Option<(String, i64, String, Vec<u8>)> = sqlx::query_as(
            "SELECT fingerprint, CAST(status AS BIGINT), headers, body FROM idempotent_answers
             WHERE workspace = $1 AND key = $2",
        )
        .bind(workspace)
        .bind(&idempotency.key)
        .fetch_optional(&mut *self.conn)
        .await?;
        // Gone between the two statements (purged as it expired): claim it again.
        let Some((fingerprint, status, headers, body)) = row else {
            return Err(StoreError::Retry(
                "an idempotency key expired while it was claimed".into(),
            ));
        };
        Ok(Some((fingerprint, recorded(status, &headers, body)?)))
    }

    async fn record_answer(&mut self, workspace: &str, key: &str, answer: &Recorded) -> Result<()> {
        sqlx::query(
            "UPDATE idempotent_answers SET status = $1, headers = $2, body = $3
             WHERE workspace = $4 AND key = $5",
        )
        .bind(i32::from(answer.status))
        .bind(encode_headers(&answer.headers))
        .bind(&answer.body)
        .bind(workspace)
        .bind(key)
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    async fn purge_idempotency_keys(&mut self, expired_before: &str) -> Result<u64> {
        let done = sqlx::query("DELETE FROM idempotent_answers WHERE created_at < $1")
            .bind(expired_before)
            .execute(&mut *self.conn)
            .await?;
        // The table keys were kept in before migration 0004, emptied as its keys expire.
        sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(expired_before)
            .execute(&mut *self.conn)
            .await?;
        Ok(done.rows_affected())
    }
}

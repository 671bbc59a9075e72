//! The idempotency statements of the SQLite writer's transactions.

use super::writer::SqliteTx;
use crate::idempotency::{
    encode_headers, recorded, recorded_before, Idempotency, IdempotencyTx, Recorded, BEFORE_SQL,
};
use crate::Result;
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

#[async_trait]
impl IdempotencyTx for SqliteTx<'_> {
    async fn claim_idempotency(
        &mut self,
        workspace: &str,
        idempotency: &Idempotency,
        now: &str,
    ) -> Result<Option<(String, Recorded)>> {
        self.execute(
            "DELETE FROM idempotent_answers WHERE workspace = ? AND key = ? AND created_at < ?",
            params![workspace, idempotency.key, idempotency.expired_before],
        )?;
        // The one writer: no other transaction can claim the key meanwhile.
        let seen: Option<(String, i64, String, Vec<u8>)> = self
            .conn
            .prepare_cached(
                "SELECT fingerprint, status, headers, body FROM idempotent_answers
                 WHERE workspace = ? AND key = ?",
            )
            .and_then(|mut s| {
                s.query_row(params![workspace, idempotency.key], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()
            })
            .map_err(super::writer::db)?;
        if let Some((fingerprint, status, headers, body)) = seen {
            return Ok(Some((fingerprint, recorded(status, &headers, body)?)));
        }
        // Recorded by an instance of the release before, still running beside this one.
        let before: Option<(String, String, String)> = self
            .conn
            .prepare_cached(BEFORE_SQL)
            .and_then(|mut s| {
                s.query_row(
                    params![workspace, idempotency.key, idempotency.expired_before],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
            })
            .map_err(super::writer::db)?;
        if let Some((fingerprint, agent_id, document)) = before {
            return Ok(Some((fingerprint, recorded_before(&agent_id, &document))));
        }
        self.execute(
            "INSERT INTO idempotent_answers (workspace, key, fingerprint, status, headers, body,
                                             created_at)
             VALUES (?, ?, ?, 0, '[]', X'', ?)",
            params![workspace, idempotency.key, idempotency.fingerprint, now],
        )?;
        Ok(None)
    }

    async fn record_answer(&mut self, workspace: &str, key: &str, answer: &Recorded) -> Result<()> {
        self.execute(
            "UPDATE idempotent_answers SET status = ?, headers = ?, body = ?
             WHERE workspace = ? AND key = ?",
            params![
                answer.status,
                encode_headers(&answer.headers),
                answer.body,
                workspace,
                key
            ],
        )?;
        Ok(())
    }

    async fn purge_idempotency_keys(&mut self, expired_before: &str) -> Result<u64> {
        let purged = self.execute(
            "DELETE FROM idempotent_answers WHERE created_at < ?",
            params![expired_before],
        )?;
        // The table keys were kept in before migration 0005, emptied as its keys expire.
        self.execute(
            "DELETE FROM idempotency_keys WHERE created_at < ?",
            params![expired_before],
        )?;
        Ok(purged as u64)
    }
}

//! Idempotency keys, for any route: a write sent again with the same `Idempotency-Key` and body gets
//! the first answer again, as it was sent (status, headers, body), instead of running again.
//!
//! [`IdempotentWrite`] wraps any [`WriteOp`]: in the write's own transaction it claims the key (or
//! finds it claimed), runs the write, and records the answer its [`Answer`] makes of the output, so
//! that the key and the change it answers commit together or not at all.

use crate::reads::{on_pool, Reads};
use crate::write::{Beforehand, Tx, WriteOp};
use crate::{now, Result, StoreError};
use async_trait::async_trait;
use std::sync::Arc;

/// An `Idempotency-Key` and the fingerprint of the request it came with.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub key: String,
    pub fingerprint: String,
    /// A use of the key recorded before this timestamp has expired and counts as none.
    pub expired_before: String,
}

/// An answer as it was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What an idempotent write did: ran now (with the answer recorded for it), or had run before under
/// the same key and body.
#[derive(Debug, Clone, PartialEq)]
pub enum Idempotent<T> {
    Fresh { output: T, answer: Recorded },
    Replayed(Recorded),
}

/// The answer a write's output is sent as: what a retry gets again.
pub type Answer<T> = Arc<dyn Fn(&T) -> Recorded + Send + Sync>;

/// `op`, run at most once per workspace and key.
pub struct IdempotentWrite<W: WriteOp> {
    pub workspace: String,
    pub idempotency: Idempotency,
    pub op: W,
    pub answer: Answer<W::Output>,
}

impl<W: WriteOp> Clone for IdempotentWrite<W> {
    fn clone(&self) -> Self {
        Self {
            workspace: self.workspace.clone(),
            idempotency: self.idempotency.clone(),
            op: self.op.clone(),
            answer: self.answer.clone(),
        }
    }
}

#[async_trait]
impl<W: WriteOp> WriteOp for IdempotentWrite<W> {
    type Output = Idempotent<W::Output>;
    const NAME: &'static str = W::NAME;

    fn dry_run(&self) -> bool {
        self.op.dry_run()
    }

    fn prepare(&mut self, beforehand: &dyn Beforehand) {
        self.op.prepare(beforehand);
    }

    async fn run(self, tx: &mut dyn Tx) -> Result<Self::Output> {
        let claimed = tx
            .claim_idempotency(&self.workspace, &self.idempotency, &now())
            .await?;
        match claimed {
            Some((fingerprint, _)) if fingerprint != self.idempotency.fingerprint => {
                Err(StoreError::IdempotencyKeyReused)
            }
            Some((_, first)) => Ok(Idempotent::Replayed(first)),
            None => {
                let output = self.op.run(tx).await?;
                let answer = (self.answer)(&output);
                tx.record_answer(&self.workspace, &self.idempotency.key, &answer)
                    .await?;
                Ok(Idempotent::Fresh { output, answer })
            }
        }
    }
}

/// The idempotency statements of a write's transaction.
#[async_trait]
pub trait IdempotencyTx: Send {
    /// Claims the key for this transaction, unless it is in use (recorded and not expired): then
    /// the fingerprint and answer it was recorded with. A key claimed by a transaction still running
    /// elsewhere is waited for.
    async fn claim_idempotency(
        &mut self,
        workspace: &str,
        idempotency: &Idempotency,
        now: &str,
    ) -> Result<Option<(String, Recorded)>>;
    /// Records the answer of the key this transaction claimed.
    async fn record_answer(&mut self, workspace: &str, key: &str, answer: &Recorded) -> Result<()>;
    /// Deletes idempotency keys recorded before `expired_before`.
    async fn purge_idempotency_keys(&mut self, expired_before: &str) -> Result<u64>;
}

/// Forgets idempotency keys recorded before the given timestamp; answers how many.
#[derive(Debug, Clone)]
pub struct PurgeIdempotencyKeys(pub String);

#[async_trait]
impl WriteOp for PurgeIdempotencyKeys {
    type Output = u64;
    const NAME: &'static str = "purge_idempotency_keys";

    async fn run(self, tx: &mut dyn Tx) -> Result<u64> {
        tx.purge_idempotency_keys(&self.0).await
    }
}

/// A key recorded by a release before answers were kept whole (the table `idempotency_keys`, for
/// creates of agents): the answer that release gave, as migration 0005 (SQLite) / 0004
/// (PostgreSQL) rebuilds it. Read while instances of that release may still run beside this one
/// (a rolling upgrade) and write keys there.
pub(crate) fn recorded_before(agent_id: &str, document: &str) -> Recorded {
    Recorded {
        status: 201,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("etag".into(), "\"1\"".into()),
            (
                "location".into(),
                format!("/api/public/v1/agents/{agent_id}"),
            ),
        ],
        body: format!("{{\"success\":true,\"data\":{document}}}").into_bytes(),
    }
}

/// The SQL of [`recorded_before`]'s rows: a key in use there, with the same parameters as
/// `idempotent_answers`' reads.
pub(crate) const BEFORE_SQL: &str = "SELECT fingerprint, agent_id, response FROM idempotency_keys
    WHERE workspace = $1 AND key = $2 AND created_at >= $3";

/// Headers as stored: a JSON array of `[name, value]` pairs.
pub(crate) fn encode_headers(headers: &[(String, String)]) -> String {
    serde_json::to_string(headers).unwrap_or_else(|_| "[]".into())
}

/// A stored answer from its columns.
pub(crate) fn recorded(status: i64, headers: &str, body: Vec<u8>) -> Result<Recorded> {
    Ok(Recorded {
        status: u16::try_from(status)
            .map_err(|_| StoreError::Internal(format!("stored status {status}")))?,
        headers: serde_json::from_str(headers)
            .map_err(|e| StoreError::Internal(format!("stored headers: {e}")))?,
        body,
    })
}

impl Reads {
    /// The fingerprint and first answer recorded for the key, if it is in use (not expired).
    pub async fn idempotent_answer(
        &self,
        workspace: &str,
        idempotency: &Idempotency,
    ) -> Result<Option<(String, Recorded)>> {
        let sql =
            "SELECT fingerprint, CAST(status AS BIGINT), headers, body FROM idempotent_answers
                   WHERE workspace = $1 AND key = $2 AND created_at >= $3";
        let row: Option<(String, i64, String, Vec<u8>)> = on_pool!(self, |pool| {
            sqlx::query_as(sql)
                .bind(workspace)
                .bind(&idempotency.key)
                .bind(&idempotency.expired_before)
                .fetch_optional(pool)
                .await?
        });
        if let Some((fingerprint, status, headers, body)) = row {
            return Ok(Some((fingerprint, recorded(status, &headers, body)?)));
        }
        let before: Option<(String, String, String)> = on_pool!(self, |pool| {
            sqlx::query_as(BEFORE_SQL)
                .bind(workspace)
                .bind(&idempotency.key)
                .bind(&idempotency.expired_before)
                .fetch_optional(pool)
                .await?
        });
        Ok(before.map(|(fingerprint, agent_id, document)| {
            (fingerprint, recorded_before(&agent_id, &document))
        }))
    }
}

impl crate::Store {
    /// The first answer to the write that used `idempotency`'s key, if the key is in use (recorded
    /// and not expired); [`StoreError::IdempotencyKeyReused`] if it was used with another body.
    pub async fn idempotent_answer(
        &self,
        workspace: &str,
        idempotency: &Idempotency,
    ) -> Result<Option<Recorded>> {
        let recorded = self
            .timed(
                "idempotent_answer",
                self.reads().idempotent_answer(workspace, idempotency),
            )
            .await?;
        match recorded {
            Some((fingerprint, _)) if fingerprint != idempotency.fingerprint => {
                Err(StoreError::IdempotencyKeyReused)
            }
            other => Ok(other.map(|(_, answer)| answer)),
        }
    }
}

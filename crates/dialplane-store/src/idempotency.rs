//! Idempotency keys: a create sent again with the same `Idempotency-Key` and body replays its first
//! answer instead of creating again.

use crate::agents::{decode_agent, StoredAgent};
use crate::reads::{on_pool, Reads};
use crate::write::{Tx, WriteOp};
use crate::{Result, StoreError};
use async_trait::async_trait;
use dialplane_core::AgentId;

/// An `Idempotency-Key` and the fingerprint of the body it came with.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub key: String,
    pub fingerprint: String,
    /// A use of the key recorded before this timestamp has expired and counts as none.
    pub expired_before: String,
}

/// The idempotency statements of a write's transaction.
#[async_trait]
pub trait IdempotencyTx: Send {
    /// Deletes idempotency keys recorded before `expired_before`.
    async fn purge_idempotency_keys(&mut self, expired_before: &str) -> Result<u64>;
    /// Records the key with its first answer, unless it is known and not expired: then its
    /// fingerprint and answer.
    async fn claim_idempotency(
        &mut self,
        workspace: &str,
        idempotency: &Idempotency,
        agent_id: AgentId,
        response: &str,
        now: &str,
    ) -> Result<Option<(String, String)>>;
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

/// What [`crate::Store::idempotent_answer`] makes of a recorded `(fingerprint, response)`.
pub(crate) fn replay(
    recorded: Option<(String, String)>,
    idempotency: &Idempotency,
) -> Result<Option<StoredAgent>> {
    match recorded {
        None => Ok(None),
        Some((fingerprint, _)) if fingerprint != idempotency.fingerprint => {
            Err(StoreError::IdempotencyKeyReused)
        }
        Some((_, response)) => decode_agent(&response, 1).map(Some),
    }
}

impl Reads {
    /// The fingerprint and first answer recorded for the key, if it is in use (not expired).
    pub async fn idempotent_answer(
        &self,
        workspace: &str,
        idempotency: &Idempotency,
    ) -> Result<Option<(String, String)>> {
        let sql = "SELECT fingerprint, response FROM idempotency_keys
                   WHERE workspace = $1 AND key = $2 AND created_at >= $3";
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(sql)
                .bind(workspace)
                .bind(&idempotency.key)
                .bind(&idempotency.expired_before)
                .fetch_optional(pool)
                .await?
        }))
    }
}

impl crate::Store {
    /// The first answer to the create that used `idempotency`'s key, if the key is in use (recorded
    /// and not expired); [`StoreError::IdempotencyKeyReused`] if it was used for another request.
    pub async fn idempotent_answer(
        &self,
        workspace: &str,
        idempotency: &Idempotency,
    ) -> Result<Option<StoredAgent>> {
        let recorded = self
            .timed(
                "idempotent_answer",
                self.reads().idempotent_answer(workspace, idempotency),
            )
            .await?;
        replay(recorded, idempotency)
    }
}

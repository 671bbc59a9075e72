//! The phone-number statements of the SQLite writer's transactions.

use super::writer::{db, SqliteTx};
use crate::phone_numbers::{reads::fold_label, PhoneNumberTx, StoredNumber};
use crate::{parse_id, Result, StoreError};
use async_trait::async_trait;
use dialplane_core::agent::{Choice, PhoneNumber};
use dialplane_core::calls::NumberProvider;
use dialplane_core::{AgentId, CreatedBy, Metadata, PhoneNumberId};
use rusqlite::{params, OptionalExtension};

#[async_trait]
impl PhoneNumberTx for SqliteTx<'_> {
    async fn insert_number(&mut self, workspace: &str, n: &StoredNumber) -> Result<bool> {
        Ok(self.execute(
            "INSERT INTO phone_numbers (phone_number_id, workspace, number, provider, label,
                 label_folded, agent_id, created_at, updated_at, user_id, user_email)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (number) DO NOTHING",
            params![
                n.id.to_string(),
                workspace,
                n.number,
                n.provider.wire(),
                n.label,
                fold_label(&n.label),
                n.agent_id.map(|a| a.to_string()),
                n.metadata.created_at,
                n.metadata.updated_at,
                n.metadata.created_by.user_id,
                n.metadata.created_by.user_email,
            ],
        )? == 1)
    }

    async fn lock_number(
        &mut self,
        workspace: &str,
        id: PhoneNumberId,
    ) -> Result<Option<StoredNumber>> {
        // The writer is the only one: reading is locking.
        let row = self
            .conn
            .prepare_cached(
                "SELECT number, provider, label, agent_id, created_at, updated_at, user_id,
                        user_email
                 FROM phone_numbers WHERE workspace = ? AND phone_number_id = ?",
            )
            .and_then(|mut s| {
                s.query_row(params![workspace, id.to_string()], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        Metadata {
                            created_at: r.get(4)?,
                            updated_at: r.get(5)?,
                            created_by: CreatedBy {
                                user_id: r.get(6)?,
                                user_email: r.get(7)?,
                            },
                        },
                    ))
                })
                .optional()
            })
            .map_err(db)?;
        let Some((number, provider, label, agent, metadata)) = row else {
            return Ok(None);
        };
        Ok(Some(StoredNumber {
            id,
            number,
            provider: NumberProvider::from_wire(&provider)
                .ok_or_else(|| StoreError::Internal(format!("stored provider {provider:?}")))?,
            label,
            agent_id: agent.as_deref().map(parse_id).transpose()?,
            metadata,
        }))
    }

    async fn update_number(&mut self, workspace: &str, n: &StoredNumber) -> Result<()> {
        self.execute(
            "UPDATE phone_numbers SET label = ?, label_folded = ?, agent_id = ?, updated_at = ?
             WHERE workspace = ? AND phone_number_id = ?",
            params![
                n.label,
                fold_label(&n.label),
                n.agent_id.map(|a| a.to_string()),
                n.metadata.updated_at,
                workspace,
                n.id.to_string(),
            ],
        )
        .map(drop)
    }

    async fn delete_number(&mut self, workspace: &str, id: PhoneNumberId) -> Result<()> {
        self.execute(
            "DELETE FROM phone_numbers WHERE workspace = ? AND phone_number_id = ?",
            params![workspace, id.to_string()],
        )
        .map(drop)
    }

    async fn agent_numbers(&mut self, workspace: &str, agent: AgentId) -> Result<Vec<PhoneNumber>> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT provider, number, label FROM phone_numbers
                 WHERE workspace = ? AND agent_id = ? ORDER BY number",
            )
            .map_err(db)?;
        let rows = statement
            .query_map(params![workspace, agent.to_string()], |r| {
                Ok(PhoneNumber {
                    provider: r.get(0)?,
                    number: r.get(1)?,
                    label: r.get(2)?,
                })
            })
            .map_err(db)?;
        rows.collect::<std::result::Result<_, _>>().map_err(db)
    }

    async fn unassign_numbers(&mut self, workspace: &str, agent: AgentId) -> Result<()> {
        self.execute(
            "UPDATE phone_numbers SET agent_id = NULL WHERE workspace = ? AND agent_id = ?",
            params![workspace, agent.to_string()],
        )
        .map(drop)
    }
}

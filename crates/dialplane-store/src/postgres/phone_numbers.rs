//! The phone-number statements of PostgreSQL transactions.

use super::PgTx;
use crate::phone_numbers::reads::{fold_label, number, NUMBER_COLUMNS};
use crate::phone_numbers::{PhoneNumberTx, StoredNumber};
use crate::Result;
use async_trait::async_trait;
use dialplane_core::agent::{Choice, PhoneNumber};
use dialplane_core::{AgentId, PhoneNumberId};
use sqlx::Row;

#[async_trait]
impl PhoneNumberTx for PgTx<'_> {
    async fn insert_number(&mut self, workspace: &str, n: &StoredNumber) -> Result<bool> {
        // A concurrent insert of the same number waits for the first to commit or roll back.
        Ok(sqlx::query(
            "INSERT INTO phone_numbers (phone_number_id, workspace, number, provider, label,
                 label_folded, agent_id, created_at, updated_at, user_id, user_email)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (number) DO NOTHING",
        )
        .bind(n.id.to_string())
        .bind(workspace)
        .bind(&n.number)
        .bind(n.provider.wire())
        .bind(&n.label)
        .bind(fold_label(&n.label))
        .bind(n.agent_id.map(|a| a.to_string()))
        .bind(&n.metadata.created_at)
        .bind(&n.metadata.updated_at)
        .bind(&n.metadata.created_by.user_id)
        .bind(&n.metadata.created_by.user_email)
        .execute(&mut *self.conn)
        .await?
        .rows_affected()
            == 1)
    }

    async fn lock_number(
        &mut self,
        workspace: &str,
        id: PhoneNumberId,
    ) -> Result<Option<StoredNumber>> {
        sqlx::query(&format!(
            "SELECT {NUMBER_COLUMNS} FROM phone_numbers
             WHERE workspace = $1 AND phone_number_id = $2 FOR UPDATE"
        ))
        .bind(workspace)
        .bind(id.to_string())
        .fetch_optional(&mut *self.conn)
        .await?
        .map(|row| number(&row))
        .transpose()
    }

    async fn update_number(&mut self, workspace: &str, n: &StoredNumber) -> Result<()> {
        sqlx::query(
            "UPDATE phone_numbers SET label = $1, label_folded = $2, agent_id = $3, updated_at = $4
             WHERE workspace = $5 AND phone_number_id = $6",
        )
        .bind(&n.label)
        .bind(fold_label(&n.label))
        .bind(n.agent_id.map(|a| a.to_string()))
        .bind(&n.metadata.updated_at)
        .bind(workspace)
        .bind(n.id.to_string())
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    async fn delete_number(&mut self, workspace: &str, id: PhoneNumberId) -> Result<()> {
        sqlx::query("DELETE FROM phone_numbers WHERE workspace = $1 AND phone_number_id = $2")
            .bind(workspace)
            .bind(id.to_string())
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    async fn agent_numbers(&mut self, workspace: &str, agent: AgentId) -> Result<Vec<PhoneNumber>> {
        let rows = sqlx::query(
            "SELECT provider, number, label FROM phone_numbers
             WHERE workspace = $1 AND agent_id = $2 ORDER BY number",
        )
        .bind(workspace)
        .bind(agent.to_string())
        .fetch_all(&mut *self.conn)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PhoneNumber {
                    provider: r.try_get(0)?,
                    number: r.try_get(1)?,
                    label: r.try_get(2)?,
                })
            })
            .collect()
    }

    async fn unassign_numbers(&mut self, workspace: &str, agent: AgentId) -> Result<()> {
        sqlx::query(
            "UPDATE phone_numbers SET agent_id = NULL WHERE workspace = $1 AND agent_id = $2",
        )
        .bind(workspace)
        .bind(agent.to_string())
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }
}

//! The conversation statements of PostgreSQL transactions.

use super::PgTx;
use crate::conversations::reads::{stored, STORED_COLUMNS};
use crate::conversations::{Columns, ConversationTx, StoredConversation};
use crate::Result;
use async_trait::async_trait;
use dialplane_core::ConversationId;

#[async_trait]
impl ConversationTx for PgTx<'_> {
    async fn find_external(
        &mut self,
        workspace: &str,
        external_id: &str,
    ) -> Result<Option<StoredConversation>> {
        sqlx::query(&format!(
            "SELECT {STORED_COLUMNS} FROM conversations WHERE workspace = $1 AND external_id = $2"
        ))
        .bind(workspace)
        .bind(external_id)
        .fetch_optional(&mut *self.conn)
        .await?
        .map(|row| stored(&row))
        .transpose()
    }

    async fn insert_conversation(
        &mut self,
        workspace: &str,
        s: &StoredConversation,
    ) -> Result<bool> {
        let r = Columns::of(s)?;
        let c = r.conversation;
        // A concurrent insert of the same `externalId` waits for the first to commit or roll back.
        Ok(sqlx::query(
            "INSERT INTO conversations (conversation_id, workspace, agent_id, agent_name, direction,
                 status, start_time, end_time, duration, summary, external_id, contact_number,
                 created_at, user_id, user_email, revision, transcript_sent, create_digest, document)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                     $19::jsonb)
             ON CONFLICT (workspace, external_id) WHERE external_id IS NOT NULL DO NOTHING",
        )
        .bind(&r.id)
        .bind(workspace)
        .bind(&r.agent_id)
        .bind(&c.agent_name)
        .bind(r.direction)
        .bind(r.status)
        .bind(c.start_time_unix)
        .bind(c.end_time_unix)
        .bind(c.conversation_duration)
        .bind(&c.summary)
        .bind(&c.external_id)
        .bind(&c.contact_number)
        .bind(&c.metadata.created_at)
        .bind(&c.metadata.created_by.user_id)
        .bind(&c.metadata.created_by.user_email)
        .bind(r.revision)
        .bind(r.transcript_sent)
        .bind(r.digest)
        .bind(&r.document)
        .execute(&mut *self.conn)
        .await?
        .rows_affected()
            == 1)
    }

    async fn lock_conversation(
        &mut self,
        workspace: &str,
        id: ConversationId,
    ) -> Result<Option<StoredConversation>> {
        sqlx::query(&format!(
            "SELECT {STORED_COLUMNS} FROM conversations
             WHERE workspace = $1 AND conversation_id = $2 FOR UPDATE"
        ))
        .bind(workspace)
        .bind(id.to_string())
        .fetch_optional(&mut *self.conn)
        .await?
        .map(|row| stored(&row))
        .transpose()
    }

    async fn update_conversation(&mut self, workspace: &str, s: &StoredConversation) -> Result<()> {
        let r = Columns::of(s)?;
        let c = r.conversation;
        sqlx::query(
            "UPDATE conversations SET status = $1, start_time = $2, end_time = $3, duration = $4,
                 summary = $5, contact_number = $6, revision = $7, transcript_sent = $8,
                 document = $9::jsonb
             WHERE workspace = $10 AND conversation_id = $11",
        )
        .bind(r.status)
        .bind(c.start_time_unix)
        .bind(c.end_time_unix)
        .bind(c.conversation_duration)
        .bind(&c.summary)
        .bind(&c.contact_number)
        .bind(r.revision)
        .bind(r.transcript_sent)
        .bind(&r.document)
        .bind(workspace)
        .bind(&r.id)
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    async fn delete_conversation(&mut self, workspace: &str, id: ConversationId) -> Result<bool> {
        Ok(
            sqlx::query("DELETE FROM conversations WHERE workspace = $1 AND conversation_id = $2")
                .bind(workspace)
                .bind(id.to_string())
                .execute(&mut *self.conn)
                .await?
                .rows_affected()
                == 1,
        )
    }

    async fn purge_conversations(&mut self, before: i64, limit: u32) -> Result<u64> {
        // Instances purging at once take different rows: each skips what another has locked.
        Ok(sqlx::query(
            "DELETE FROM conversations WHERE conversation_id IN
                 (SELECT conversation_id FROM conversations WHERE start_time < $1
                  LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(before)
        .bind(i64::from(limit))
        .execute(&mut *self.conn)
        .await?
        .rows_affected())
    }
}

//! The conversation statements of the SQLite writer's transactions. The full-text index follows
//! the table by triggers (migration 0011).

use super::writer::{db, SqliteTx};
use crate::conversations::{reads::decode, Columns, ConversationTx, StoredConversation};
use crate::Result;
use async_trait::async_trait;
use dialplane_core::conversation::Recorded;
use dialplane_core::ConversationId;
use rusqlite::{params, OptionalExtension};

impl SqliteTx<'_> {
    /// The conversation a `WHERE` clause on (workspace, `key`) finds.
    fn conversation_where(
        &self,
        clause: &str,
        workspace: &str,
        key: &str,
    ) -> Result<Option<StoredConversation>> {
        let row: Option<(String, i64, bool, Option<String>)> = self
            .conn
            .prepare_cached(&format!(
                "SELECT document, revision, transcript_sent, create_digest FROM conversations
                 WHERE workspace = ? AND {clause} = ?"
            ))
            .and_then(|mut s| {
                s.query_row(params![workspace, key], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()
            })
            .map_err(db)?;
        row.map(|(document, revision, transcript_sent, digest)| {
            Ok(StoredConversation {
                recorded: Recorded {
                    conversation: decode(&document)?,
                    transcript_sent,
                },
                revision: u64::try_from(revision).unwrap_or_default(),
                digest,
            })
        })
        .transpose()
    }
}

#[async_trait]
impl ConversationTx for SqliteTx<'_> {
    async fn find_external(
        &mut self,
        workspace: &str,
        external_id: &str,
    ) -> Result<Option<StoredConversation>> {
        self.conversation_where("external_id", workspace, external_id)
    }

    async fn insert_conversation(
        &mut self,
        workspace: &str,
        stored: &StoredConversation,
    ) -> Result<bool> {
        let r = Columns::of(stored)?;
        let c = r.conversation;
        Ok(self.execute(
            "INSERT INTO conversations (conversation_id, workspace, agent_id, agent_name, direction,
                 status, start_time, end_time, duration, summary, external_id, contact_number,
                 created_at, user_id, user_email, revision, transcript_sent, create_digest, document)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (workspace, external_id) WHERE external_id IS NOT NULL DO NOTHING",
            params![
                r.id,
                workspace,
                r.agent_id,
                c.agent_name,
                r.direction,
                r.status,
                c.start_time_unix,
                c.end_time_unix,
                c.conversation_duration,
                c.summary,
                c.external_id,
                c.contact_number,
                c.metadata.created_at,
                c.metadata.created_by.user_id,
                c.metadata.created_by.user_email,
                r.revision,
                r.transcript_sent,
                r.digest,
                r.document,
            ],
        )? == 1)
    }

    async fn lock_conversation(
        &mut self,
        workspace: &str,
        id: ConversationId,
    ) -> Result<Option<StoredConversation>> {
        // The writer is the only one: reading is locking.
        self.conversation_where("conversation_id", workspace, &id.to_string())
    }

    async fn update_conversation(
        &mut self,
        workspace: &str,
        stored: &StoredConversation,
    ) -> Result<()> {
        let r = Columns::of(stored)?;
        let c = r.conversation;
        self.execute(
            "UPDATE conversations SET status = ?, start_time = ?, end_time = ?, duration = ?,
                 summary = ?, contact_number = ?, revision = ?, transcript_sent = ?, document = ?
             WHERE workspace = ? AND conversation_id = ?",
            params![
                r.status,
                c.start_time_unix,
                c.end_time_unix,
                c.conversation_duration,
                c.summary,
                c.contact_number,
                r.revision,
                r.transcript_sent,
                r.document,
                workspace,
                r.id,
            ],
        )
        .map(drop)
    }

    async fn delete_conversation(&mut self, workspace: &str, id: ConversationId) -> Result<bool> {
        Ok(self.execute(
            "DELETE FROM conversations WHERE workspace = ? AND conversation_id = ?",
            params![workspace, id.to_string()],
        )? == 1)
    }

    async fn purge_conversations(&mut self, before: i64, limit: u32) -> Result<u64> {
        let erased = self.execute(
            "DELETE FROM conversations WHERE seq IN
                 (SELECT seq FROM conversations WHERE start_time < ? LIMIT ?)",
            params![before, limit],
        )?;
        Ok(u64::try_from(erased).unwrap_or_default())
    }
}

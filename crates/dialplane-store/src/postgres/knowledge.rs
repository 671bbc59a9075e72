//! The knowledge-base statements of PostgreSQL write transactions.

use super::PgTx;
use crate::knowledge::{
    signed, unsigned, Blob, BlobTx, DocumentKind, DocumentStatus, Extracted, Group, KnowledgeTx,
    NewDocument, StoredDocument, LARGE_MESSAGE,
};
use crate::{Result, StoreError};
use async_trait::async_trait;
use dialplane_core::CreatedBy;

#[async_trait]
impl KnowledgeTx for PgTx<'_> {
    async fn group_named(&mut self, workspace: &str, folded: &str) -> Result<Option<Group>> {
        let row: Option<(String, String, String, String, String)> = sqlx::query_as(
            "SELECT group_id, name, created_at, user_id, user_email FROM kb_groups
             WHERE workspace = $1 AND name_folded = $2",
        )
        .bind(workspace)
        .bind(folded)
        .fetch_optional(&mut *self.conn)
        .await?;
        Ok(
            row.map(|(group_id, name, created_at, user_id, user_email)| Group {
                group_id,
                name,
                created_at,
                created_by: CreatedBy {
                    user_id,
                    user_email,
                },
            }),
        )
    }

    async fn insert_group(&mut self, workspace: &str, group: &Group) -> Result<()> {
        sqlx::query(
            "INSERT INTO kb_groups (workspace, group_id, name, name_folded, created_at, user_id, user_email)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(workspace)
        .bind(&group.group_id)
        .bind(&group.name)
        .bind(crate::fold_name(&group.name))
        .bind(&group.created_at)
        .bind(&group.created_by.user_id)
        .bind(&group.created_by.user_email)
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    async fn stored_bytes(&mut self, workspace: &str) -> Result<u64> {
        // One writer of a workspace's documents at a time, so two uploads cannot both fit the
        // quota that only one of them fits.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('kb:' || $1, 0))")
            .bind(workspace)
            .execute(&mut *self.conn)
            .await?;
        let bytes: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) FROM kb_documents WHERE workspace = $1",
        )
        .bind(workspace)
        .fetch_one(&mut *self.conn)
        .await?;
        Ok(unsigned(bytes))
    }

    async fn insert_document(&mut self, workspace: &str, new: &NewDocument) -> Result<()> {
        let d = &new.document;
        sqlx::query(
            "INSERT INTO kb_documents (workspace, document_id, kind, name, name_folded, url, file_type,
                 size_bytes, group_id, status, status_message, text_chars, created_at, updated_at,
                 user_id, user_email)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(workspace)
        .bind(&d.document_id)
        .bind(d.kind.as_str())
        .bind(&d.name)
        .bind(crate::fold_name(&d.name))
        .bind(&d.url)
        .bind(&d.file_type)
        .bind(signed(d.size_bytes))
        .bind(&d.group_id)
        .bind(d.status.as_str())
        .bind(&d.status_message)
        .bind(signed(d.text_chars))
        .bind(&d.created_at)
        .bind(&d.updated_at)
        .bind(&d.created_by.user_id)
        .bind(&d.created_by.user_email)
        .execute(&mut *self.conn)
        .await?;
        if let Some(extracted) = &new.text {
            self.replace_text(workspace, &d.document_id, Some(extracted))
                .await?;
        }
        Ok(())
    }

    async fn update_document(&mut self, workspace: &str, d: &StoredDocument) -> Result<()> {
        sqlx::query(
            "UPDATE kb_documents SET status = $1, status_message = $2, size_bytes = $3, file_type = $4,
                 text_chars = $5, updated_at = $6
             WHERE workspace = $7 AND document_id = $8",
        )
        .bind(d.status.as_str())
        .bind(&d.status_message)
        .bind(signed(d.size_bytes))
        .bind(&d.file_type)
        .bind(signed(d.text_chars))
        .bind(&d.updated_at)
        .bind(workspace)
        .bind(&d.document_id)
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    async fn replace_text(
        &mut self,
        workspace: &str,
        id: &str,
        text: Option<&Extracted>,
    ) -> Result<()> {
        for sql in [
            "DELETE FROM kb_passages WHERE workspace = $1 AND document_id = $2",
            "DELETE FROM kb_texts WHERE workspace = $1 AND document_id = $2",
        ] {
            sqlx::query(sql)
                .bind(workspace)
                .bind(id)
                .execute(&mut *self.conn)
                .await?;
        }
        let Some(extracted) = text else { return Ok(()) };
        self.large |= extracted.text.len() >= LARGE_MESSAGE;
        sqlx::query("INSERT INTO kb_texts (workspace, document_id, text) VALUES ($1, $2, $3)")
            .bind(workspace)
            .bind(id)
            .bind(&extracted.text)
            .execute(&mut *self.conn)
            .await?;
        // In statements of about 256 KiB of text each: one statement of a document's megabytes
        // would grow the connection's buffers to hold it all at once.
        let passages: Vec<&str> = extracted.passages().collect();
        let mut first = 0;
        while first < passages.len() {
            let mut last = first;
            let mut bytes = 0;
            while last < passages.len() && (last == first || bytes < 256 << 10) {
                bytes += passages[last].len();
                last += 1;
            }
            let ordinals: Vec<i32> = (first..last)
                .map(|i| i32::try_from(i).unwrap_or(i32::MAX))
                .collect();
            sqlx::query(
                "INSERT INTO kb_passages (workspace, document_id, ordinal, text)
                 SELECT $1, $2, ordinal, text FROM UNNEST($3::int[], $4::text[]) AS p (ordinal, text)",
            )
            .bind(workspace)
            .bind(id)
            .bind(&ordinals)
            .bind(&passages[first..last])
            .execute(&mut *self.conn)
            .await?;
            first = last;
        }
        Ok(())
    }

    async fn lock_document(&mut self, workspace: &str, id: &str) -> Result<Option<StoredDocument>> {
        let row = sqlx::query(
            "SELECT document_id, kind, name, url, file_type, size_bytes, group_id, status,
                    status_message, text_chars, created_at, updated_at, user_id, user_email
             FROM kb_documents WHERE workspace = $1 AND document_id = $2 FOR UPDATE",
        )
        .bind(workspace)
        .bind(id)
        .fetch_optional(&mut *self.conn)
        .await?;
        Ok(match row {
            Some(row) => Some(crate::knowledge::reads::document_from_row!(row)),
            None => None,
        })
    }

    async fn rename_document(
        &mut self,
        workspace: &str,
        id: &str,
        name: &str,
        updated_at: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE kb_documents SET name = $1, name_folded = $2, updated_at = $3
             WHERE workspace = $4 AND document_id = $5",
        )
        .bind(name)
        .bind(crate::fold_name(name))
        .bind(updated_at)
        .bind(workspace)
        .bind(id)
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    async fn delete_document(&mut self, workspace: &str, id: &str) -> Result<()> {
        self.replace_text(workspace, id, None).await?;
        sqlx::query("DELETE FROM kb_documents WHERE workspace = $1 AND document_id = $2")
            .bind(workspace)
            .bind(id)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    async fn existing_documents(&mut self, workspace: &str, ids: &[String]) -> Result<Vec<String>> {
        // FOR KEY SHARE: a delete of one of them (FOR UPDATE) waits for this transaction, and then
        // sees the agent that names it.
        Ok(sqlx::query_scalar(
            "SELECT document_id FROM kb_documents WHERE workspace = $1 AND document_id = ANY($2)
             ORDER BY document_id FOR KEY SHARE",
        )
        .bind(workspace)
        .bind(ids)
        .fetch_all(&mut *self.conn)
        .await?)
    }

    async fn document_referrers(
        &mut self,
        workspace: &str,
        id: &str,
    ) -> Result<Vec<(String, u32)>> {
        let rows: Vec<(String, i32)> = sqlx::query_as(
            "SELECT agent_id, position FROM agent_documents
             WHERE workspace = $1 AND document_id = $2 ORDER BY agent_id",
        )
        .bind(workspace)
        .bind(id)
        .fetch_all(&mut *self.conn)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(agent, position)| (agent, u32::try_from(position).unwrap_or(0)))
            .collect())
    }
}

#[async_trait]
impl BlobTx for PgTx<'_> {
    async fn put_blob(&mut self, workspace: &str, id: &str, blob: &Blob) -> Result<()> {
        // A spooled file is read now, inside the transaction: one file's bytes at a time.
        let bytes = blob
            .bytes()
            .await
            .map_err(|e| StoreError::Internal(format!("reading a spooled upload: {e}")))?;
        self.large |= bytes.len() >= LARGE_MESSAGE;
        sqlx::query("INSERT INTO kb_blobs (workspace, document_id, content) VALUES ($1, $2, $3)")
            .bind(workspace)
            .bind(id)
            .bind(bytes.as_ref())
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    async fn delete_blob(&mut self, workspace: &str, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM kb_blobs WHERE workspace = $1 AND document_id = $2")
            .bind(workspace)
            .bind(id)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }
}

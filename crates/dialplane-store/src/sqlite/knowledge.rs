//! The knowledge-base statements of the SQLite writer's transactions. One writer runs every write,
//! so a quota read here holds for the rest of the transaction.

use super::writer::{db, SqliteTx};
use crate::knowledge::{
    signed, unsigned, Blob, BlobTx, DocumentKind, DocumentStatus, Extracted, Group, KnowledgeTx,
    NewDocument, StoredDocument,
};
use crate::{Result, StoreError};
use async_trait::async_trait;
use dialplane_core::CreatedBy;
use rusqlite::{params, OptionalExtension};

#[async_trait]
impl KnowledgeTx for SqliteTx<'_> {
    async fn group_named(&mut self, workspace: &str, folded: &str) -> Result<Option<Group>> {
        self.conn
            .prepare_cached(
                "SELECT group_id, name, created_at, user_id, user_email FROM kb_groups
                 WHERE workspace = ? AND name_folded = ?",
            )
            .and_then(|mut s| {
                s.query_row(params![workspace, folded], |r| {
                    Ok(Group {
                        group_id: r.get(0)?,
                        name: r.get(1)?,
                        created_at: r.get(2)?,
                        created_by: CreatedBy {
                            user_id: r.get(3)?,
                            user_email: r.get(4)?,
                        },
                    })
                })
                .optional()
            })
            .map_err(db)
    }

    async fn insert_group(&mut self, workspace: &str, group: &Group) -> Result<()> {
        self.execute(
            "INSERT INTO kb_groups (workspace, group_id, name, name_folded, created_at, user_id, user_email)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
            params![
                workspace,
                group.group_id,
                group.name,
                crate::fold_name(&group.name),
                group.created_at,
                group.created_by.user_id,
                group.created_by.user_email,
            ],
        )?;
        Ok(())
    }

    async fn stored_bytes(&mut self, workspace: &str) -> Result<u64> {
        let bytes: i64 = self
            .conn
            .prepare_cached(
                "SELECT COALESCE(SUM(size_bytes), 0) FROM kb_documents WHERE workspace = ?",
            )
            .and_then(|mut s| s.query_row(params![workspace], |r| r.get(0)))
            .map_err(db)?;
        Ok(unsigned(bytes))
    }

    async fn insert_document(&mut self, workspace: &str, new: &NewDocument) -> Result<()> {
        let d = &new.document;
        self.execute(
            "INSERT INTO kb_documents (workspace, document_id, kind, name, name_folded, url, file_type,
                 size_bytes, group_id, status, status_message, text_chars, created_at, updated_at,
                 user_id, user_email)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                workspace,
                d.document_id,
                d.kind.as_str(),
                d.name,
                crate::fold_name(&d.name),
                d.url,
                d.file_type,
                signed(d.size_bytes),
                d.group_id,
                d.status.as_str(),
                d.status_message,
                signed(d.text_chars),
                d.created_at,
                d.updated_at,
                d.created_by.user_id,
                d.created_by.user_email,
            ],
        )?;
        if let Some(extracted) = &new.text {
            self.replace_text(workspace, &d.document_id, Some(extracted))
                .await?;
        }
        Ok(())
    }

    async fn update_document(&mut self, workspace: &str, d: &StoredDocument) -> Result<()> {
        self.execute(
            "UPDATE kb_documents SET status = ?, status_message = ?, size_bytes = ?, file_type = ?,
                 text_chars = ?, updated_at = ?
             WHERE workspace = ? AND document_id = ?",
            params![
                d.status.as_str(),
                d.status_message,
                signed(d.size_bytes),
                d.file_type,
                signed(d.text_chars),
                d.updated_at,
                workspace,
                d.document_id,
            ],
        )?;
        Ok(())
    }

    async fn replace_text(
        &mut self,
        workspace: &str,
        id: &str,
        text: Option<&Extracted>,
    ) -> Result<()> {
        for sql in [
            "DELETE FROM kb_passages WHERE workspace = ? AND document_id = ?",
            "DELETE FROM kb_texts WHERE workspace = ? AND document_id = ?",
        ] {
            self.execute(sql, params![workspace, id])?;
        }
        let Some(extracted) = text else { return Ok(()) };
        let scope = crate::knowledge::search_scope(workspace, Some(id));
        self.execute(
            "INSERT INTO kb_texts (workspace, document_id, text) VALUES (?, ?, ?)",
            params![workspace, id, extracted.text],
        )?;
        let first = self.next_passage_id(workspace)?;
        for (ordinal, passage) in extracted.passages().enumerate() {
            let passage_id = first + signed(ordinal as u64);
            if passage_id & (PASSAGES_PER_WORKSPACE - 1) == 0 {
                return Err(StoreError::Internal(format!(
                    "workspace {workspace:?} has used all of its passage ids"
                )));
            }
            self.execute(
                "INSERT INTO kb_passages (passage_id, workspace, document_id, ordinal, scope, text)
                 VALUES (?, ?, ?, ?, ?, ?)",
                params![
                    passage_id,
                    workspace,
                    id,
                    signed(ordinal as u64),
                    scope,
                    passage
                ],
            )?;
        }
        Ok(())
    }

    async fn lock_document(&mut self, workspace: &str, id: &str) -> Result<Option<StoredDocument>> {
        self.conn
            .prepare_cached(
                "SELECT document_id, kind, name, url, file_type, size_bytes, group_id, status,
                        status_message, text_chars, created_at, updated_at, user_id, user_email
                 FROM kb_documents WHERE workspace = ? AND document_id = ?",
            )
            .and_then(|mut s| {
                s.query_row(params![workspace, id], |r| {
                    Ok((
                        (
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                        ),
                        (
                            r.get::<_, Option<String>>(3)?,
                            r.get::<_, Option<String>>(4)?,
                            r.get::<_, i64>(5)?,
                        ),
                        (
                            r.get::<_, Option<String>>(6)?,
                            r.get::<_, String>(7)?,
                            r.get::<_, Option<String>>(8)?,
                        ),
                        (
                            r.get::<_, i64>(9)?,
                            r.get::<_, String>(10)?,
                            r.get::<_, String>(11)?,
                        ),
                        (r.get::<_, String>(12)?, r.get::<_, String>(13)?),
                    ))
                })
                .optional()
            })
            .map_err(db)?
            .map(
                |(
                    (document_id, kind, name),
                    (url, file_type, size),
                    (group_id, status, message),
                    (chars, created_at, updated_at),
                    (user_id, user_email),
                )| {
                    Ok(StoredDocument {
                        document_id,
                        kind: DocumentKind::parse(&kind)?,
                        name,
                        url,
                        file_type,
                        size_bytes: unsigned(size),
                        group_id,
                        status: DocumentStatus::parse(&status)?,
                        status_message: message,
                        text_chars: unsigned(chars),
                        created_at,
                        updated_at,
                        created_by: CreatedBy {
                            user_id,
                            user_email,
                        },
                    })
                },
            )
            .transpose()
    }

    async fn rename_document(
        &mut self,
        workspace: &str,
        id: &str,
        name: &str,
        updated_at: &str,
    ) -> Result<()> {
        self.execute(
            "UPDATE kb_documents SET name = ?, name_folded = ?, updated_at = ?
             WHERE workspace = ? AND document_id = ?",
            params![name, crate::fold_name(name), updated_at, workspace, id],
        )?;
        Ok(())
    }

    async fn delete_document(&mut self, workspace: &str, id: &str) -> Result<()> {
        self.replace_text(workspace, id, None).await?;
        self.execute(
            "DELETE FROM kb_documents WHERE workspace = ? AND document_id = ?",
            params![workspace, id],
        )?;
        Ok(())
    }

    async fn existing_documents(&mut self, workspace: &str, ids: &[String]) -> Result<Vec<String>> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT 1 FROM kb_documents WHERE workspace = ? AND document_id = ?")
            .map_err(db)?;
        let mut found = Vec::new();
        for id in ids {
            if statement.exists(params![workspace, id]).map_err(db)? {
                found.push(id.clone());
            }
        }
        Ok(found)
    }

    async fn document_referrers(
        &mut self,
        workspace: &str,
        id: &str,
    ) -> Result<Vec<(String, u32)>> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT agent_id, position FROM agent_documents
                 WHERE workspace = ? AND document_id = ? ORDER BY agent_id",
            )
            .map_err(db)?;
        let rows = statement
            .query_map(params![workspace, id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(db)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|(agent, position)| (agent, u32::try_from(position).unwrap_or(u32::MAX)))
            .collect())
    }
}

/// The passage ids of a workspace: `slot << 32` plus 1 to `PASSAGES_PER_WORKSPACE - 1`.
const PASSAGES_PER_WORKSPACE: i64 = 1 << 32;

impl SqliteTx<'_> {
    /// The id the workspace's next passage takes: past the highest of its range (see migration 0007:
    /// a search finds a workspace's passages by that range).
    fn next_passage_id(&mut self, workspace: &str) -> Result<i64> {
        self.execute(
            "INSERT OR IGNORE INTO kb_workspaces (workspace) VALUES (?)",
            params![workspace],
        )?;
        self.conn
            .prepare_cached(
                "SELECT coalesce(max(p.passage_id), w.slot * ?1) + 1
                 FROM kb_workspaces w
                 LEFT JOIN kb_passages p
                   ON p.passage_id BETWEEN w.slot * ?1 AND w.slot * ?1 + (?1 - 1)
                 WHERE w.workspace = ?2",
            )
            .and_then(|mut s| s.query_row(params![PASSAGES_PER_WORKSPACE, workspace], |r| r.get(0)))
            .map_err(db)
    }
}

#[async_trait]
impl BlobTx for SqliteTx<'_> {
    async fn put_blob(&mut self, workspace: &str, id: &str, blob: &Blob) -> Result<()> {
        match blob {
            Blob::Memory(bytes) => {
                self.execute(
                    "INSERT INTO kb_blobs (workspace, document_id, content) VALUES (?, ?, ?)",
                    params![workspace, id, bytes.as_ref()],
                )?;
            }
            // Streamed from the file into the row through SQLite's incremental blob I/O: the
            // bytes never sit in memory whole.
            Blob::Spooled(spool) => {
                self.execute(
                    "INSERT INTO kb_blobs (workspace, document_id, content) VALUES (?, ?, zeroblob(?))",
                    params![workspace, id, signed(spool.len())],
                )?;
                let row = self.conn.last_insert_rowid();
                let mut content = self
                    .conn
                    .blob_open(
                        rusqlite::DatabaseName::Main,
                        "kb_blobs",
                        "content",
                        row,
                        false,
                    )
                    .map_err(db)?;
                spool
                    .copy_to(&mut content)
                    .map_err(|e| StoreError::Internal(format!("reading a spooled upload: {e}")))?;
            }
        }
        Ok(())
    }

    async fn delete_blob(&mut self, workspace: &str, id: &str) -> Result<()> {
        self.execute(
            "DELETE FROM kb_blobs WHERE workspace = ? AND document_id = ?",
            params![workspace, id],
        )?;
        Ok(())
    }
}

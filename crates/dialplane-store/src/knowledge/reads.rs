//! The knowledge-base reads, once for both backends (see [`crate::reads`]).

use super::{unsigned, DocumentKind, DocumentStatus, Group, StoredDocument};
use crate::reads::{on_pool, Reads};
use crate::Result;
use dialplane_core::CreatedBy;
use sqlx::{Database, Encode, QueryBuilder, Type};

const COLUMNS: &str = "SELECT document_id, kind, name, url, file_type, size_bytes, group_id, status,
                              status_message, text_chars, created_at, updated_at, user_id, user_email
                       FROM kb_documents";

/// The order of a document list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentSort {
    Name,
    CreatedAt,
}

/// A page of documents: filters, order, and where the previous page ended.
#[derive(Debug, Clone)]
pub struct DocumentQuery {
    /// Part of the name, without regard to case.
    pub search: Option<String>,
    pub kind: Option<DocumentKind>,
    pub group_id: Option<String>,
    pub sort: DocumentSort,
    pub descending: bool,
    /// The sort key and id of the last document of the previous page (no id: after the key).
    pub after: Option<(String, Option<String>)>,
    pub page_size: u32,
}

impl DocumentQuery {
    /// The column this order sorts by (`name_folded` or `created_at`, after `prefix`), the
    /// comparison that continues after a key in that order, and the order's SQL keyword.
    fn keyset(&self, prefix: &str) -> (String, &'static str, &'static str) {
        let column = match self.sort {
            DocumentSort::Name => "name_folded",
            DocumentSort::CreatedAt => "created_at",
        };
        let (cmp, order) = if self.descending {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        (format!("{prefix}{column}"), cmp, order)
    }
}

/// A group with what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSummary {
    pub group: Group,
    pub document_count: u64,
    pub bytes: u64,
}

macro_rules! document_from_row {
    ($row:expr) => {{
        use sqlx::Row as _;
        let row = $row;
        StoredDocument {
            document_id: row.try_get("document_id")?,
            kind: DocumentKind::parse(row.try_get("kind")?)?,
            name: row.try_get("name")?,
            url: row.try_get("url")?,
            file_type: row.try_get("file_type")?,
            size_bytes: unsigned(row.try_get("size_bytes")?),
            group_id: row.try_get("group_id")?,
            status: DocumentStatus::parse(row.try_get("status")?)?,
            status_message: row.try_get("status_message")?,
            text_chars: unsigned(row.try_get("text_chars")?),
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            created_by: CreatedBy {
                user_id: row.try_get("user_id")?,
                user_email: row.try_get("user_email")?,
            },
        }
    }};
}
pub(crate) use document_from_row;

/// The SQL of one page of [`DocumentQuery`]: keyset on (sort column, id), one row more than the page.
fn list_sql<'a, DB>(
    workspace: &'a str,
    query: &'a DocumentQuery,
    find: &str,
) -> QueryBuilder<'a, DB>
where
    DB: Database,
    &'a str: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
{
    let mut q = QueryBuilder::new(COLUMNS);
    q.push(" WHERE workspace = ").push_bind(workspace);
    if let Some(search) = &query.search {
        q.push(format_args!(" AND {find}(name_folded, "))
            .push_bind(crate::fold_name(search))
            .push(") > 0");
    }
    if let Some(kind) = query.kind {
        q.push(" AND kind = ").push_bind(kind.as_str());
    }
    if let Some(group) = &query.group_id {
        q.push(" AND group_id = ").push_bind(group.as_str());
    }
    let (column, cmp, order) = query.keyset("");
    match &query.after {
        Some((key, Some(id))) => {
            q.push(format_args!(" AND ({column}, document_id) {cmp} ("))
                .push_bind(key.as_str())
                .push(", ")
                .push_bind(id.as_str())
                .push(")");
        }
        Some((key, None)) => {
            q.push(format_args!(" AND {column} {cmp} "))
                .push_bind(key.as_str());
        }
        None => {}
    }
    q.push(format_args!(
        " ORDER BY {column} {order}, document_id {order} LIMIT "
    ))
    .push_bind(i64::from(query.page_size) + 1);
    q
}

impl Reads {
    pub async fn get_document(&self, workspace: &str, id: &str) -> Result<Option<StoredDocument>> {
        let sql = format!("{COLUMNS} WHERE workspace = $1 AND document_id = $2");
        on_pool!(self, |pool| {
            let row = sqlx::query(&sql)
                .bind(workspace)
                .bind(id)
                .fetch_optional(pool)
                .await?;
            Ok(match row {
                Some(row) => Some(document_from_row!(row)),
                None => None,
            })
        })
    }

    /// Up to `page_size + 1` documents.
    pub async fn list_documents(
        &self,
        workspace: &str,
        query: &DocumentQuery,
    ) -> Result<Vec<StoredDocument>> {
        let find = self.dialect().find;
        on_pool!(self, |pool| {
            let rows = list_sql(workspace, query, find)
                .build()
                .fetch_all(pool)
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(document_from_row!(row));
            }
            Ok(out)
        })
    }

    pub async fn unfetched_documents(&self) -> Result<Vec<(String, String, String)>> {
        let sql = "SELECT workspace, document_id, url FROM kb_documents
                   WHERE status = 'processing' AND kind = 'url' AND url IS NOT NULL
                   ORDER BY created_at";
        Ok(on_pool!(self, |pool| sqlx::query_as(sql)
            .fetch_all(pool)
            .await?))
    }

    /// The original bytes `workspace` stores, all documents together.
    pub async fn stored_bytes(&self, workspace: &str) -> Result<u64> {
        let sql = "SELECT CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) FROM kb_documents WHERE workspace = $1";
        let bytes: i64 = on_pool!(self, |pool| {
            sqlx::query_scalar(sql)
                .bind(workspace)
                .fetch_one(pool)
                .await?
        });
        Ok(unsigned(bytes))
    }

    /// A document's original bytes (the blob seam's read).
    pub async fn document_bytes(&self, workspace: &str, id: &str) -> Result<Option<Vec<u8>>> {
        let sql = "SELECT content FROM kb_blobs WHERE workspace = $1 AND document_id = $2";
        Ok(on_pool!(self, |pool| {
            let mut conn = pool.acquire().await?;
            let bytes: Option<Vec<u8>> = sqlx::query_scalar(sql)
                .bind(workspace)
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
            shrink_after(&mut *conn, bytes.as_ref().map_or(0, Vec::len));
            bytes
        }))
    }

    pub async fn document_text(&self, workspace: &str, id: &str) -> Result<Option<String>> {
        let sql = "SELECT text FROM kb_texts WHERE workspace = $1 AND document_id = $2";
        Ok(on_pool!(self, |pool| {
            let mut conn = pool.acquire().await?;
            let text: Option<String> = sqlx::query_scalar(sql)
                .bind(workspace)
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
            shrink_after(&mut *conn, text.as_ref().map_or(0, String::len));
            text
        }))
    }

    /// Up to `page_size + 1` of the agents that name document `id`, by id, after agent `after`.
    pub async fn document_agents(
        &self,
        workspace: &str,
        id: &str,
        after: Option<&str>,
        page_size: u32,
    ) -> Result<Vec<crate::AgentSummary>> {
        let sql = format!(
            "{} WHERE workspace = $1 AND agent_id IN
                 (SELECT agent_id FROM agent_documents WHERE workspace = $1 AND document_id = $2)
               AND agent_id > $3 ORDER BY agent_id LIMIT $4",
            self.dialect().agent_summaries
        );
        on_pool!(self, |pool| {
            use sqlx::Row as _;
            let rows = sqlx::query(&sql)
                .bind(workspace)
                .bind(id)
                .bind(after.unwrap_or(""))
                .bind(i64::from(page_size) + 1)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|row| {
                    crate::agents::list::summary(
                        row.try_get("agent_id")?,
                        row.try_get("name")?,
                        row.try_get("tags")?,
                        row.try_get("metadata")?,
                    )
                })
                .collect()
        })
    }

    /// Up to `page_size + 1` groups in the order `query` asks.
    pub async fn list_groups(
        &self,
        workspace: &str,
        query: &DocumentQuery,
    ) -> Result<Vec<GroupSummary>> {
        let (column, cmp, order) = query.keyset("g.");
        let after = match &query.after {
            Some((_, Some(_))) => format!("AND ({column}, g.group_id) {cmp} ($2, $3)"),
            Some((_, None)) => format!("AND {column} {cmp} $2 AND $3 = $3"),
            None => "AND $2 = $2 AND $3 = $3".to_owned(),
        };
        let sql = format!(
            "SELECT g.group_id, g.name, g.created_at, g.user_id, g.user_email,
                    COUNT(d.document_id) AS documents,
                    CAST(COALESCE(SUM(d.size_bytes), 0) AS BIGINT) AS bytes
             FROM kb_groups g
             LEFT JOIN kb_documents d ON d.workspace = g.workspace AND d.group_id = g.group_id
             WHERE g.workspace = $1 {after}
             GROUP BY g.group_id, g.name, g.name_folded, g.created_at, g.user_id, g.user_email
             ORDER BY {column} {order}, g.group_id {order} LIMIT $4"
        );
        let (key, id) = match &query.after {
            Some((key, id)) => (key.clone(), id.clone().unwrap_or_default()),
            None => (String::new(), String::new()),
        };
        type Entry = (String, String, String, String, String, i64, i64);
        let rows: Vec<Entry> = on_pool!(self, |pool| {
            sqlx::query_as(&sql)
                .bind(workspace)
                .bind(&key)
                .bind(&id)
                .bind(i64::from(query.page_size) + 1)
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(group_id, name, created_at, user_id, user_email, documents, bytes)| {
                    GroupSummary {
                        group: Group {
                            group_id,
                            name,
                            created_at,
                            created_by: CreatedBy {
                                user_id,
                                user_email,
                            },
                        },
                        document_count: unsigned(documents),
                        bytes: unsigned(bytes),
                    }
                },
            )
            .collect())
    }
}

/// After a read of `len` bytes: a pooled connection's buffers grew to hold them and would keep that
/// memory for as long as the connection lives, so past [`super::LARGE_MESSAGE`] it is given back now.
fn shrink_after(conn: &mut impl sqlx::Connection, len: usize) {
    if len >= super::LARGE_MESSAGE {
        conn.shrink_buffers();
    }
}

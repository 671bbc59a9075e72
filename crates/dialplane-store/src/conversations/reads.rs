//! The conversation reads, one SQL text for both backends: a record by id, and the list newest
//! first with exact keyset paging on (start time, id).

use super::StoredConversation;
use crate::reads::{on_pool, Reads};
use crate::{parse_id, Result, StoreError};
use dialplane_core::agent::Choice;
use dialplane_core::calls::{CallDirection, ConversationStatus};
use dialplane_core::conversation::{Conversation, Recorded};
use dialplane_core::{AgentId, ConversationId, CreatedBy};
use sqlx::QueryBuilder;

/// The columns of [`stored`].
pub(crate) const STORED_COLUMNS: &str =
    "CAST(document AS TEXT) AS document, revision, transcript_sent, create_digest";

/// A conversation from a row with [`STORED_COLUMNS`], on either backend.
pub(crate) fn stored<'r, R>(row: &'r R) -> Result<StoredConversation>
where
    R: sqlx::Row,
    &'static str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let document: String = row.try_get("document")?;
    let revision: i64 = row.try_get("revision")?;
    Ok(StoredConversation {
        recorded: Recorded {
            conversation: decode(&document)?,
            transcript_sent: row.try_get("transcript_sent")?,
        },
        revision: u64::try_from(revision).unwrap_or_default(),
        digest: row.try_get("create_digest")?,
    })
}

pub(crate) fn decode(document: &str) -> Result<Conversation> {
    serde_json::from_str(document)
        .map_err(|e| StoreError::Internal(format!("stored conversation does not parse: {e}")))
}

pub(crate) fn encode(conversation: &Conversation) -> Result<String> {
    serde_json::to_string(conversation)
        .map_err(|e| StoreError::Internal(format!("encoding conversation: {e}")))
}

/// One item of the list: Callin's fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationSummary {
    pub conversation_id: ConversationId,
    pub agent_id: AgentId,
    pub agent_name: String,
    pub direction: CallDirection,
    pub status: ConversationStatus,
    pub start_time_unix: i64,
    pub end_time_unix: Option<i64>,
    pub conversation_duration: Option<i64>,
    pub summary: String,
    pub created_at: String,
    pub created_by: CreatedBy,
}

const SUMMARY_COLUMNS: &str = "conversation_id, agent_id, agent_name, direction, status, \
                               start_time, end_time, duration, summary, created_at, user_id, user_email";

fn summary<'r, R>(row: &'r R) -> Result<ConversationSummary>
where
    R: sqlx::Row,
    &'static str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let id: String = row.try_get("conversation_id")?;
    let agent: String = row.try_get("agent_id")?;
    let direction: String = row.try_get("direction")?;
    let status: String = row.try_get("status")?;
    let stored = |what: &str, value: &str| StoreError::Internal(format!("stored {what} {value:?}"));
    Ok(ConversationSummary {
        conversation_id: parse_id(&id)?,
        agent_id: parse_id(&agent)?,
        agent_name: row.try_get("agent_name")?,
        direction: CallDirection::from_wire(&direction)
            .ok_or_else(|| stored("direction", &direction))?,
        status: ConversationStatus::from_wire(&status).ok_or_else(|| stored("status", &status))?,
        start_time_unix: row.try_get("start_time")?,
        end_time_unix: row.try_get("end_time")?,
        conversation_duration: row.try_get("duration")?,
        summary: row.try_get("summary")?,
        created_at: row.try_get("created_at")?,
        created_by: CreatedBy {
            user_id: row.try_get("user_id")?,
            user_email: row.try_get("user_email")?,
        },
    })
}

/// Where a page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// After this item, in the list's order (the exact cursor a page gives out).
    After { start: i64, id: ConversationId },
    /// Conversations that started before this Unix second (Callin's ISO timestamp cursor).
    StartedBefore(i64),
}

/// One page request of the list: every filter optional; times in Unix seconds.
#[derive(Debug, Clone, Default)]
pub struct ConversationQuery {
    pub agent_id: Option<AgentId>,
    pub status: Option<ConversationStatus>,
    /// Started after this (exclusive).
    pub start_after: Option<i64>,
    /// Started before this (exclusive).
    pub start_before: Option<i64>,
    /// Lasted at least this many seconds.
    pub min_duration: Option<i64>,
    /// Lasted at most this many seconds.
    pub max_duration: Option<i64>,
    pub external_id: Option<String>,
    pub contact_number: Option<String>,
    /// Full text over summary and transcript, in web-search syntax.
    pub search: Option<String>,
    pub cursor: Option<Cursor>,
    pub limit: u32,
}

impl Reads {
    pub async fn get_conversation(
        &self,
        workspace: &str,
        id: ConversationId,
    ) -> Result<Option<StoredConversation>> {
        let sql = format!(
            "SELECT {STORED_COLUMNS} FROM conversations WHERE workspace = $1 AND conversation_id = $2"
        );
        on_pool!(self, |pool| {
            sqlx::query(&sql)
                .bind(workspace)
                .bind(id.to_string())
                .fetch_optional(pool)
                .await?
                .map(|row| stored(&row))
                .transpose()
        })
    }

    /// Up to `query.limit` conversations, newest first (ties: the greater id first).
    pub async fn list_conversations(
        &self,
        workspace: &str,
        query: &ConversationQuery,
    ) -> Result<Vec<ConversationSummary>> {
        let search = match (&query.search, self) {
            (None, _) => None,
            (Some(q), Reads::Sqlite(_)) => match crate::knowledge::search::fts5_query(q) {
                Some(q) => Some((
                    "seq IN (SELECT rowid FROM conversations_fts WHERE conversations_fts MATCH ",
                    q,
                )),
                None => return Ok(Vec::new()),
            },
            (Some(q), Reads::Postgres(_)) => {
                Some(("search @@ websearch_to_tsquery('english', ", q.clone()))
            }
        };
        on_pool!(self, |pool| {
            let mut q = QueryBuilder::new(format!("SELECT {SUMMARY_COLUMNS} FROM conversations"));
            q.push(" WHERE workspace = ").push_bind(workspace);
            if let Some(agent) = query.agent_id {
                q.push(" AND agent_id = ").push_bind(agent.to_string());
            }
            if let Some(status) = query.status {
                q.push(" AND status = ").push_bind(status.wire());
            }
            for (cmp, bound) in [(">", query.start_after), ("<", query.start_before)] {
                if let Some(bound) = bound {
                    q.push(format_args!(" AND start_time {cmp} "))
                        .push_bind(bound);
                }
            }
            for (cmp, bound) in [(">=", query.min_duration), ("<=", query.max_duration)] {
                if let Some(bound) = bound {
                    q.push(format_args!(" AND duration {cmp} "))
                        .push_bind(bound);
                }
            }
            if let Some(external) = &query.external_id {
                q.push(" AND external_id = ").push_bind(external.as_str());
            }
            if let Some(number) = &query.contact_number {
                q.push(" AND contact_number = ").push_bind(number.as_str());
            }
            if let Some((condition, text)) = &search {
                q.push(" AND ")
                    .push(*condition)
                    .push_bind(text.as_str())
                    .push(")");
            }
            match query.cursor {
                Some(Cursor::After { start, id }) => {
                    q.push(" AND (start_time, conversation_id) < (")
                        .push_bind(start)
                        .push(", ")
                        .push_bind(id.to_string())
                        .push(")");
                }
                Some(Cursor::StartedBefore(start)) => {
                    q.push(" AND start_time < ").push_bind(start);
                }
                None => {}
            }
            q.push(" ORDER BY start_time DESC, conversation_id DESC LIMIT ")
                .push_bind(i64::from(query.limit));
            q.build()
                .fetch_all(pool)
                .await?
                .iter()
                .map(summary)
                .collect()
        })
    }
}

impl crate::Store {
    pub async fn get_conversation(
        &self,
        workspace: &str,
        id: ConversationId,
    ) -> Result<Option<StoredConversation>> {
        self.timed(
            "get_conversation",
            self.reads().get_conversation(workspace, id),
        )
        .await
    }

    pub async fn list_conversations(
        &self,
        workspace: &str,
        query: &ConversationQuery,
    ) -> Result<Vec<ConversationSummary>> {
        self.timed(
            "list_conversations",
            self.reads().list_conversations(workspace, query),
        )
        .await
    }
}

//! The phone-number reads, one SQL text for both backends.

use super::StoredNumber;
use crate::reads::{on_pool, Reads};
use crate::{parse_id, Result, StoreError};
use dialplane_core::agent::Choice;
use dialplane_core::calls::NumberProvider;
use dialplane_core::{AgentId, CreatedBy, Metadata, PhoneNumberId};
use sqlx::QueryBuilder;

/// The columns of [`number`].
pub(crate) const NUMBER_COLUMNS: &str = "phone_number_id, number, provider, label, agent_id, \
                                         created_at, updated_at, user_id, user_email";

/// A number from a row with [`NUMBER_COLUMNS`], on either backend.
pub(crate) fn number<'r, R>(row: &'r R) -> Result<StoredNumber>
where
    R: sqlx::Row,
    &'static str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let id: String = row.try_get("phone_number_id")?;
    let provider: String = row.try_get("provider")?;
    let agent: Option<String> = row.try_get("agent_id")?;
    Ok(StoredNumber {
        id: parse_id(&id)?,
        number: row.try_get("number")?,
        provider: NumberProvider::from_wire(&provider)
            .ok_or_else(|| StoreError::Internal(format!("stored provider {provider:?}")))?,
        label: row.try_get("label")?,
        agent_id: agent.as_deref().map(parse_id).transpose()?,
        metadata: Metadata {
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            created_by: CreatedBy {
                user_id: row.try_get("user_id")?,
                user_email: row.try_get("user_email")?,
            },
        },
    })
}

/// A label as it is searched: Unicode lower case.
pub(crate) fn fold_label(label: &str) -> String {
    label.to_lowercase()
}

/// One page request of a workspace's numbers, in order of number.
#[derive(Debug, Clone, Default)]
pub struct NumberQuery {
    pub agent_id: Option<AgentId>,
    pub provider: Option<NumberProvider>,
    /// A part of the number or (case-insensitively) of the label.
    pub search: Option<String>,
    /// Numbers after this one.
    pub after: Option<String>,
    pub limit: u32,
}

impl Reads {
    pub async fn get_phone_number(
        &self,
        workspace: &str,
        id: PhoneNumberId,
    ) -> Result<Option<StoredNumber>> {
        let sql = format!(
            "SELECT {NUMBER_COLUMNS} FROM phone_numbers WHERE workspace = $1 AND phone_number_id = $2"
        );
        on_pool!(self, |pool| {
            sqlx::query(&sql)
                .bind(workspace)
                .bind(id.to_string())
                .fetch_optional(pool)
                .await?
                .map(|row| number(&row))
                .transpose()
        })
    }

    /// The workspace's entry for `number` (E.164), if it has one.
    pub async fn find_phone_number(
        &self,
        workspace: &str,
        e164: &str,
    ) -> Result<Option<StoredNumber>> {
        let sql = format!(
            "SELECT {NUMBER_COLUMNS} FROM phone_numbers WHERE number = $1 AND workspace = $2"
        );
        on_pool!(self, |pool| {
            sqlx::query(&sql)
                .bind(e164)
                .bind(workspace)
                .fetch_optional(pool)
                .await?
                .map(|row| number(&row))
                .transpose()
        })
    }

    pub async fn list_phone_numbers(
        &self,
        workspace: &str,
        query: &NumberQuery,
    ) -> Result<Vec<StoredNumber>> {
        let find = self.dialect().find;
        let search = query.search.as_deref().map(fold_label);
        on_pool!(self, |pool| {
            let mut q = QueryBuilder::new(format!("SELECT {NUMBER_COLUMNS} FROM phone_numbers"));
            q.push(" WHERE workspace = ").push_bind(workspace);
            if let Some(agent) = query.agent_id {
                q.push(" AND agent_id = ").push_bind(agent.to_string());
            }
            if let Some(provider) = query.provider {
                q.push(" AND provider = ").push_bind(provider.wire());
            }
            if let Some(search) = &search {
                q.push(format_args!(" AND ({find}(number, "))
                    .push_bind(search.as_str())
                    .push(format_args!(") > 0 OR {find}(label_folded, "))
                    .push_bind(search.as_str())
                    .push(") > 0)");
            }
            if let Some(after) = &query.after {
                q.push(" AND number > ").push_bind(after.as_str());
            }
            q.push(" ORDER BY number LIMIT ")
                .push_bind(i64::from(query.limit));
            q.build()
                .fetch_all(pool)
                .await?
                .iter()
                .map(number)
                .collect()
        })
    }
}

impl crate::Store {
    pub async fn get_phone_number(
        &self,
        workspace: &str,
        id: PhoneNumberId,
    ) -> Result<Option<StoredNumber>> {
        self.timed(
            "get_phone_number",
            self.reads().get_phone_number(workspace, id),
        )
        .await
    }

    pub async fn find_phone_number(
        &self,
        workspace: &str,
        e164: &str,
    ) -> Result<Option<StoredNumber>> {
        self.timed(
            "find_phone_number",
            self.reads().find_phone_number(workspace, e164),
        )
        .await
    }

    pub async fn list_phone_numbers(
        &self,
        workspace: &str,
        query: &NumberQuery,
    ) -> Result<Vec<StoredNumber>> {
        self.timed(
            "list_phone_numbers",
            self.reads().list_phone_numbers(workspace, query),
        )
        .await
    }
}

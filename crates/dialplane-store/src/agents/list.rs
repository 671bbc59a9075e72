//! The agent list's SQL, for both backends: keyset pagination on (sort column, agent_id), one row more
//! than the page to tell whether more follow, served by `agents_by_created_at` / `agents_by_name`.

use super::{fold_name, AgentSummary, ListQuery, Page, SortBy, SortDirection};
use crate::reads::Dialect;
use crate::{parse_id, Result, StoreError};
use dialplane_core::agent::Choice;
use sqlx::{Database, Encode, QueryBuilder, Type};

pub fn list_sql<'a, DB>(
    dialect: &Dialect,
    workspace: &'a str,
    query: &'a ListQuery,
) -> QueryBuilder<'a, DB>
where
    DB: Database,
    &'a str: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
{
    let mut q = QueryBuilder::new(dialect.agent_summaries);
    q.push(" WHERE workspace = ").push_bind(workspace);
    if let Some(search) = &query.search {
        q.push(format_args!(" AND {}(name_folded, ", dialect.find))
            .push_bind(fold_name(search))
            .push(") > 0");
    }
    for tag in &query.tags {
        q.push(
            " AND EXISTS (SELECT 1 FROM agent_tags t WHERE t.workspace = agents.workspace
               AND t.agent_id = agents.agent_id AND t.tag = ",
        )
        .push_bind(tag.as_str())
        .push(")");
    }
    if let Some(direction) = query.direction {
        q.push(" AND direction = ").push_bind(direction.wire());
    }
    let column = match query.sort_by {
        SortBy::Name => "name_folded",
        SortBy::CreatedAt => "created_at",
    };
    let (cmp, order) = match query.sort_direction {
        SortDirection::Asc => (">", "ASC"),
        SortDirection::Desc => ("<", "DESC"),
    };
    if let Some(after) = &query.after {
        match after.id {
            Some(id) => q
                .push(format_args!(" AND ({column}, agent_id) {cmp} ("))
                .push_bind(after.key.as_str())
                .push(", ")
                .push_bind(id.to_string())
                .push(")"),
            None => q
                .push(format_args!(" AND {column} {cmp} "))
                .push_bind(after.key.as_str()),
        };
    }
    q.push(format_args!(
        " ORDER BY {column} {order}, agent_id {order} LIMIT "
    ))
    .push_bind(i64::from(query.page_size) + 1);
    q
}

/// A list item from the columns of [`list_sql`].
pub fn summary(agent_id: &str, name: String, tags: &str, metadata: &str) -> Result<AgentSummary> {
    Ok(AgentSummary {
        agent_id: parse_id(agent_id)?,
        name,
        tags: serde_json::from_str(tags)
            .map_err(|e| StoreError::Internal(format!("stored tags: {e}")))?,
        metadata: serde_json::from_str(metadata)
            .map_err(|e| StoreError::Internal(format!("stored metadata: {e}")))?,
    })
}

/// A page from up to `page_size + 1` rows.
pub fn page(mut items: Vec<AgentSummary>, page_size: u32) -> Page {
    let has_more = items.len() > page_size as usize;
    items.truncate(page_size as usize);
    Page { items, has_more }
}

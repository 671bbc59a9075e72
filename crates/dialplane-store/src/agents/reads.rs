//! The agent reads, once for both backends (see [`crate::reads`]).

use super::list::{list_sql, page, summary};
use super::{decode_agent, version_summary, ListQuery, Page, StoredAgent, VersionSummary};
use crate::reads::{on_pool, Reads};
use crate::Result;
use dialplane_core::AgentId;
use sqlx::Row as _;

impl Reads {
    pub async fn get_agent(&self, workspace: &str, id: AgentId) -> Result<Option<StoredAgent>> {
        let sql = "SELECT CAST(document AS TEXT), revision FROM agents
                   WHERE workspace = $1 AND agent_id = $2";
        let row: Option<(String, i64)> = on_pool!(self, |pool| {
            sqlx::query_as(sql)
                .bind(workspace)
                .bind(id.to_string())
                .fetch_optional(pool)
                .await?
        });
        row.map(|(document, revision)| decode_agent(&document, revision))
            .transpose()
    }

    pub async fn list_agents(&self, workspace: &str, query: &ListQuery) -> Result<Page> {
        let dialect = self.dialect();
        let items = on_pool!(self, |pool| {
            list_sql(dialect, workspace, query)
                .build()
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| {
                    summary(
                        row.try_get("agent_id")?,
                        row.try_get("name")?,
                        row.try_get("tags")?,
                        row.try_get("metadata")?,
                    )
                })
                .collect::<Result<Vec<_>>>()?
        });
        Ok(page(items, query.page_size))
    }

    /// Up to `page_size + 1` entries of the agent's history below version `before`, newest first.
    pub async fn list_versions(
        &self,
        workspace: &str,
        id: AgentId,
        before: Option<u64>,
        page_size: u32,
    ) -> Result<Vec<VersionSummary>> {
        let sql = "SELECT version, created_at, user_id, user_email,
                          CAST(changed_paths AS TEXT), restored_from
                   FROM agent_versions WHERE workspace = $1 AND agent_id = $2 AND version < $3
                   ORDER BY version DESC LIMIT $4";
        let before = before
            .and_then(|v| i64::try_from(v).ok())
            .unwrap_or(i64::MAX);
        type Entry = (i64, String, String, String, String, Option<i64>);
        let rows: Vec<Entry> = on_pool!(self, |pool| {
            sqlx::query_as(sql)
                .bind(workspace)
                .bind(id.to_string())
                .bind(before)
                .bind(i64::from(page_size) + 1)
                .fetch_all(pool)
                .await?
        });
        rows.into_iter()
            .map(|(version, at, user_id, email, paths, restored)| {
                version_summary(version, at, user_id, email, &paths, restored)
            })
            .collect()
    }

    /// The agent as it was at `version`.
    pub async fn get_version(
        &self,
        workspace: &str,
        id: AgentId,
        version: u64,
    ) -> Result<Option<StoredAgent>> {
        let sql = "SELECT CAST(document AS TEXT), version FROM agent_versions
                   WHERE workspace = $1 AND agent_id = $2 AND version = $3";
        let row: Option<(String, i64)> = on_pool!(self, |pool| {
            sqlx::query_as(sql)
                .bind(workspace)
                .bind(id.to_string())
                .bind(i64::try_from(version).unwrap_or(i64::MAX))
                .fetch_optional(pool)
                .await?
        });
        row.map(|(document, version)| decode_agent(&document, version))
            .transpose()
    }
}

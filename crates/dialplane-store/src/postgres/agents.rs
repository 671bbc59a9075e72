//! The agent statements of PostgreSQL write transactions, and the agent reads.

use super::PgTx;
use crate::agents::{decode_agent, AgentTx, Lock, Row, StoredAgent};
use crate::{parse_id, Result};
use async_trait::async_trait;
use dialplane_core::{AgentId, CreatedBy};
use sqlx::Row as _;
use std::sync::Arc;

#[async_trait]
impl AgentTx for PgTx<'_> {
    async fn lock_agent(
        &mut self,
        workspace: &str,
        id: AgentId,
        lock: Lock,
    ) -> Result<Option<Arc<StoredAgent>>> {
        // An update takes `FOR NO KEY UPDATE`, which does not conflict with the `FOR KEY SHARE` that
        // writes referring to this agent take (agents that transfer to each other can be patched at
        // once); a delete takes `FOR UPDATE`, which waits for those writes and keeps new ones out.
        let sql = match lock {
            Lock::Update => {
                "SELECT document::text, revision FROM agents
                 WHERE workspace = $1 AND agent_id = $2 FOR NO KEY UPDATE"
            }
            Lock::Delete => {
                "SELECT document::text, revision FROM agents
                 WHERE workspace = $1 AND agent_id = $2 FOR UPDATE"
            }
            Lock::Share => {
                "SELECT document::text, revision FROM agents
                 WHERE workspace = $1 AND agent_id = $2 FOR KEY SHARE"
            }
        };
        let row = sqlx::query(sql)
            .bind(workspace)
            .bind(id.to_string())
            .fetch_optional(&mut *self.conn)
            .await?;
        row.map(|r| decode_agent(r.try_get(0)?, r.try_get(1)?).map(Arc::new))
            .transpose()
    }

    async fn existing(&mut self, workspace: &str, ids: &[AgentId]) -> Result<Vec<AgentId>> {
        let ids: Vec<String> = ids.iter().map(AgentId::to_string).collect();
        let rows = sqlx::query(
            "SELECT agent_id FROM agents WHERE workspace = $1 AND agent_id = ANY($2)
             ORDER BY agent_id FOR KEY SHARE",
        )
        .bind(workspace)
        .bind(&ids)
        .fetch_all(&mut *self.conn)
        .await?;
        rows.iter().map(|r| parse_id(r.try_get(0)?)).collect()
    }

    async fn insert_agent(&mut self, workspace: &str, row: &Row<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO agents (workspace, agent_id, name, name_folded, direction, created_at, revision, document)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)",
        )
        .bind(workspace)
        .bind(row.agent.agent_id.to_string())
        .bind(&row.agent.spec.name)
        .bind(&row.derived.name_folded)
        .bind(row.derived.direction)
        .bind(&row.agent.metadata.created_at)
        .bind(row.revision_i64())
        .bind(&row.document)
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    async fn update_agent(&mut self, workspace: &str, row: &Row<'_>) -> Result<()> {
        sqlx::query(
            "UPDATE agents SET name = $1, name_folded = $2, direction = $3, revision = $4,
                    document = $5::jsonb
             WHERE workspace = $6 AND agent_id = $7",
        )
        .bind(&row.agent.spec.name)
        .bind(&row.derived.name_folded)
        .bind(row.derived.direction)
        .bind(row.revision_i64())
        .bind(&row.document)
        .bind(workspace)
        .bind(row.agent.agent_id.to_string())
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    async fn delete_agent(&mut self, workspace: &str, id: AgentId) -> Result<()> {
        for table in [
            "agents",
            "agent_tags",
            "agent_transfers",
            "agent_documents",
            "agent_versions",
        ] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE workspace = $1 AND agent_id = $2"
            ))
            .bind(workspace)
            .bind(id.to_string())
            .execute(&mut *self.conn)
            .await?;
        }
        Ok(())
    }

    async fn replace_links(&mut self, workspace: &str, row: &Row<'_>) -> Result<()> {
        let id = row.agent.agent_id.to_string();
        for table in ["agent_tags", "agent_transfers", "agent_documents"] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE workspace = $1 AND agent_id = $2"
            ))
            .bind(workspace)
            .bind(&id)
            .execute(&mut *self.conn)
            .await?;
        }
        let named = &row
            .agent
            .spec
            .conversation_config
            .agent
            .prompt
            .knowledge_base;
        let positions: Vec<i32> = (0..named.len())
            .map(|i| i32::try_from(i).unwrap_or(i32::MAX))
            .collect();
        sqlx::query(
            "INSERT INTO agent_documents (workspace, agent_id, document_id, position)
             SELECT $1, $2, d, p FROM unnest($3::text[], $4::int[]) AS n (d, p)
             ORDER BY p ON CONFLICT DO NOTHING",
        )
        .bind(workspace)
        .bind(&id)
        .bind(named)
        .bind(&positions)
        .execute(&mut *self.conn)
        .await?;
        let targets: Vec<String> = row.derived.targets.iter().map(AgentId::to_string).collect();
        sqlx::query(
            "INSERT INTO agent_tags (workspace, agent_id, tag)
             SELECT $1, $2, t FROM unnest($3::text[]) AS t ON CONFLICT DO NOTHING",
        )
        .bind(workspace)
        .bind(&id)
        .bind(&row.agent.spec.tags)
        .execute(&mut *self.conn)
        .await?;
        sqlx::query(
            "INSERT INTO agent_transfers (workspace, agent_id, target_id)
             SELECT $1, $2, t FROM unnest($3::text[]) AS t ON CONFLICT DO NOTHING",
        )
        .bind(workspace)
        .bind(&id)
        .bind(&targets)
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    async fn insert_version(
        &mut self,
        workspace: &str,
        row: &Row<'_>,
        actor: &CreatedBy,
        changed_paths: &[String],
        restored_from: Option<u64>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO agent_versions (workspace, agent_id, version, created_at, user_id, user_email,
                                         changed_paths, restored_from, document)
             VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9::jsonb)",
        )
        .bind(workspace)
        .bind(row.agent.agent_id.to_string())
        .bind(row.revision_i64())
        .bind(&row.agent.metadata.updated_at)
        .bind(&actor.user_id)
        .bind(&actor.user_email)
        .bind(serde_json::to_string(changed_paths).unwrap_or_else(|_| "[]".into()))
        .bind(restored_from.and_then(|v| i64::try_from(v).ok()))
        .bind(&row.document)
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    async fn referrers(&mut self, workspace: &str, id: AgentId) -> Result<Vec<AgentId>> {
        let rows = sqlx::query(
            "SELECT agent_id FROM agent_transfers
             WHERE workspace = $1 AND target_id = $2 AND agent_id <> target_id ORDER BY agent_id",
        )
        .bind(workspace)
        .bind(id.to_string())
        .fetch_all(&mut *self.conn)
        .await?;
        rows.iter().map(|r| parse_id(r.try_get(0)?)).collect()
    }
}

//! The agent statements of the SQLite writer's transactions, and the agent reads.

use super::writer::{db, SqliteTx};
use crate::agents::{decode_agent, AgentTx, Lock, Row, StoredAgent};
use crate::{parse_id, Result};
use async_trait::async_trait;
use dialplane_core::{AgentId, CreatedBy};
use rusqlite::{params, OptionalExtension};
use std::sync::Arc;

#[async_trait]
impl AgentTx for SqliteTx<'_> {
    async fn lock_agent(
        &mut self,
        workspace: &str,
        id: AgentId,
        _: Lock,
    ) -> Result<Option<Arc<StoredAgent>>> {
        let key = (workspace.to_owned(), id);
        if let Some(agent) = self.agents.get(&key) {
            return Ok(agent);
        }
        let row: Option<(String, i64)> = self
            .conn
            .prepare_cached(
                "SELECT document, revision FROM agents WHERE workspace = ? AND agent_id = ?",
            )
            .and_then(|mut s| {
                s.query_row(params![workspace, id.to_string()], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
            })
            .map_err(db)?;
        let Some((document, revision)) = row else {
            return Ok(None);
        };
        let agent = Arc::new(decode_agent(&document, revision)?);
        self.agents.remember(key, agent.clone(), document);
        Ok(Some(agent))
    }

    async fn existing(&mut self, workspace: &str, ids: &[AgentId]) -> Result<Vec<AgentId>> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT 1 FROM agents WHERE workspace = ? AND agent_id = ?")
            .map_err(db)?;
        let mut found = Vec::new();
        for id in ids {
            if statement
                .exists(params![workspace, id.to_string()])
                .map_err(db)?
            {
                found.push(*id);
            }
        }
        Ok(found)
    }

    async fn insert_agent(&mut self, workspace: &str, row: &Row<'_>) -> Result<()> {
        self.execute(
            "INSERT INTO agents (workspace, agent_id, name, name_folded, direction, created_at, revision,
                                 document, tags, metadata)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                workspace,
                row.agent.agent_id.to_string(),
                row.agent.spec.name,
                row.derived.name_folded,
                row.derived.direction,
                row.agent.metadata.created_at,
                row.revision_i64(),
                row.document,
                row.derived.tags_json,
                row.derived.metadata_json,
            ],
        )?;
        self.agents.stage(workspace, row.agent.agent_id, Some(row));
        Ok(())
    }

    async fn update_agent(&mut self, workspace: &str, row: &Row<'_>) -> Result<()> {
        // Setting `name_folded` rewrites its index entry even to the same value: an update that keeps
        // the name leaves ?1 and ?2 out and the index on names as it is.
        let sql = if row.renamed {
            "UPDATE agents SET name = ?1, name_folded = ?2, direction = ?3, revision = ?4, document = ?5,
                               tags = ?6, metadata = ?7
             WHERE workspace = ?8 AND agent_id = ?9"
        } else {
            "UPDATE agents SET direction = ?3, revision = ?4, document = ?5, tags = ?6, metadata = ?7
             WHERE workspace = ?8 AND agent_id = ?9"
        };
        self.execute(
            sql,
            params![
                row.agent.spec.name,
                row.derived.name_folded,
                row.derived.direction,
                row.revision_i64(),
                row.document,
                row.derived.tags_json,
                row.derived.metadata_json,
                workspace,
                row.agent.agent_id.to_string(),
            ],
        )?;
        self.agents.stage(workspace, row.agent.agent_id, Some(row));
        Ok(())
    }

    async fn delete_agent(&mut self, workspace: &str, id: AgentId) -> Result<()> {
        self.agents.stage(workspace, id, None);
        let id = id.to_string();
        for sql in [
            "DELETE FROM agents WHERE workspace = ? AND agent_id = ?",
            "DELETE FROM agent_tags WHERE workspace = ? AND agent_id = ?",
            "DELETE FROM agent_transfers WHERE workspace = ? AND agent_id = ?",
            "DELETE FROM agent_documents WHERE workspace = ? AND agent_id = ?",
            "DELETE FROM agent_versions WHERE workspace = ? AND agent_id = ?",
        ] {
            self.execute(sql, params![workspace, id])?;
        }
        Ok(())
    }

    async fn replace_links(&mut self, workspace: &str, row: &Row<'_>) -> Result<()> {
        let id = row.agent.agent_id.to_string();
        self.execute(
            "DELETE FROM agent_tags WHERE workspace = ? AND agent_id = ?",
            params![workspace, id],
        )?;
        self.execute(
            "DELETE FROM agent_transfers WHERE workspace = ? AND agent_id = ?",
            params![workspace, id],
        )?;
        self.execute(
            "DELETE FROM agent_documents WHERE workspace = ? AND agent_id = ?",
            params![workspace, id],
        )?;
        let named = &row
            .agent
            .spec
            .conversation_config
            .agent
            .prompt
            .knowledge_base;
        for (position, document) in named.iter().enumerate() {
            self.execute(
                "INSERT OR IGNORE INTO agent_documents (workspace, agent_id, document_id, position)
                 VALUES (?, ?, ?, ?)",
                params![
                    workspace,
                    id,
                    document,
                    i64::try_from(position).unwrap_or(i64::MAX)
                ],
            )?;
        }
        for tag in &row.agent.spec.tags {
            self.execute(
                "INSERT OR IGNORE INTO agent_tags (workspace, agent_id, tag) VALUES (?, ?, ?)",
                params![workspace, id, tag],
            )?;
        }
        for target in &row.derived.targets {
            self.execute(
                "INSERT OR IGNORE INTO agent_transfers (workspace, agent_id, target_id) VALUES (?, ?, ?)",
                params![workspace, id, target.to_string()],
            )?;
        }
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
        self.execute(
            "INSERT INTO agent_versions (workspace, agent_id, version, created_at, user_id, user_email,
                                         changed_paths, restored_from, document)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                workspace,
                row.agent.agent_id.to_string(),
                row.revision_i64(),
                row.agent.metadata.updated_at,
                actor.user_id,
                actor.user_email,
                serde_json::to_string(changed_paths).unwrap_or_else(|_| "[]".into()),
                restored_from.and_then(|v| i64::try_from(v).ok()),
                row.document,
            ],
        )?;
        Ok(())
    }

    async fn referrers(&mut self, workspace: &str, id: AgentId) -> Result<Vec<AgentId>> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT agent_id FROM agent_transfers
                 WHERE workspace = ? AND target_id = ? AND agent_id <> target_id ORDER BY agent_id",
            )
            .map_err(db)?;
        let ids = statement
            .query_map(params![workspace, id.to_string()], |r| {
                r.get::<_, String>(0)
            })
            .map_err(db)?
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(db)?;
        ids.iter().map(|s| parse_id(s)).collect()
    }
}

//! What a voice runtime's configuration is resolved from, read as one fingerprint: a cached
//! configuration is still current if the fingerprint of its inputs is unchanged (how an instance
//! that is not the database's only writer checks what it remembers, in one round trip).

use crate::reads::{on_pool, Reads};
use crate::Result;
use dialplane_core::AgentId;
use sqlx::{QueryBuilder, Row};

/// The inputs of an agent's runtime configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ConfigInputs {
    /// The agent and the agents it transfers to.
    pub agents: Vec<AgentId>,
    /// The knowledge-base documents it names.
    pub documents: Vec<String>,
    /// The number about to be dialled, whose opt-out matters.
    pub to: Option<String>,
}

/// The fingerprint of what was read, line by line as [`Reads::config_fingerprint`] writes it (the
/// one place its lines are spelled twice: here, and in that SQL).
#[derive(Default)]
pub struct Fingerprint(Vec<String>);

impl Fingerprint {
    pub fn agent(&mut self, id: AgentId, revision: u64) {
        self.0.push(format!("a {id} {revision}"));
    }

    pub fn document(&mut self, id: &str, status: &str, updated_at: &str, name: &str) {
        self.0.push(format!("d {id} {status} {updated_at} {name}"));
    }

    pub fn opt_out(&mut self, number: &str) {
        self.0.push(format!("o {number} "));
    }

    pub fn finish(mut self) -> String {
        self.0.sort();
        self.0.dedup();
        self.0.iter().map(|line| format!("{line}\n")).collect()
    }
}

impl Reads {
    /// The revision of each agent, the status, change time and name of each document, and whether
    /// `to` is opted out, as one string: a line `a {id} {revision}`, `d {id} {status} {updatedAt}
    /// {name}` or `o {number} ` each, in byte order.
    pub async fn config_fingerprint(
        &self,
        workspace: &str,
        inputs: &ConfigInputs,
    ) -> Result<String> {
        on_pool!(self, |pool| {
            let mut q = QueryBuilder::new(
                "SELECT 'a' AS kind, agent_id AS id, CAST(revision AS TEXT) AS v FROM agents
                 WHERE workspace = ",
            );
            q.push_bind(workspace).push(" AND agent_id IN (");
            let mut ids = q.separated(", ");
            for agent in &inputs.agents {
                ids.push_bind(agent.to_string());
            }
            q.push(")");
            if !inputs.documents.is_empty() {
                q.push(
                    " UNION ALL SELECT 'd', document_id, status || ' ' || updated_at || ' ' || name
                     FROM kb_documents WHERE workspace = ",
                )
                .push_bind(workspace)
                .push(" AND document_id IN (");
                let mut ids = q.separated(", ");
                for document in &inputs.documents {
                    ids.push_bind(document.as_str());
                }
                q.push(")");
            }
            if let Some(to) = &inputs.to {
                q.push(" UNION ALL SELECT 'o', number, '' FROM opt_outs WHERE workspace = ")
                    .push_bind(workspace)
                    .push(" AND number = ")
                    .push_bind(to.as_str());
            }
            let rows = q.build().fetch_all(pool).await?;
            let mut lines = rows
                .iter()
                .map(|row| {
                    let (kind, id, v): (String, String, String) =
                        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
                    Ok(format!("{kind} {id} {v}\n"))
                })
                .collect::<Result<Vec<_>>>()?;
            // Sorted here, not by the database: its collation need not be byte order.
            lines.sort();
            Ok(lines.concat())
        })
    }
}

impl crate::Store {
    pub async fn config_fingerprint(
        &self,
        workspace: &str,
        inputs: &ConfigInputs,
    ) -> Result<String> {
        self.timed(
            "config_fingerprint",
            self.reads().config_fingerprint(workspace, inputs),
        )
        .await
    }

    /// Whether this process is the database's only writer (SQLite, held by the server lock): then
    /// every change reaches [`crate::Store::on_commit`] here, and nothing else need be asked.
    pub fn single_writer(&self) -> bool {
        matches!(self.reads(), Reads::Sqlite(_))
    }
}

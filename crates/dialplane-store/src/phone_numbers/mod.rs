//! Phone numbers: a workspace's numbers and the agent that answers each. A number belongs to at most
//! one workspace of the whole server. An agent's read-only `phoneNumbers` is kept equal to the numbers
//! assigned to it: every write here that changes them stores a new version of the agent (changed path
//! `/phoneNumbers`, `agent.updated`) in the same transaction.

pub(crate) mod reads;

use crate::agents::{Change, Transform, UpdateAgent};
use crate::write::{Tx, WriteOp};
use crate::{now, Kind, Result, StoreError, StoredAgent};
use async_trait::async_trait;
use dialplane_core::agent::PhoneNumber;
use dialplane_core::calls::NumberProvider;
use dialplane_core::{AgentId, CreatedBy, Metadata, PhoneNumberId, Pointer, ProblemCode, Problems};
use std::sync::Arc;

pub use reads::NumberQuery;

/// A phone number as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredNumber {
    pub id: PhoneNumberId,
    /// E.164.
    pub number: String,
    pub provider: NumberProvider,
    pub label: String,
    pub agent_id: Option<AgentId>,
    pub metadata: Metadata,
}

impl StoredNumber {
    /// How the agent's document lists it.
    pub fn listed(&self) -> PhoneNumber {
        use dialplane_core::agent::Choice;
        PhoneNumber {
            provider: self.provider.wire().to_owned(),
            number: self.number.clone(),
            label: self.label.clone(),
        }
    }
}

/// The phone-number statements of a write's transaction.
#[async_trait]
pub trait PhoneNumberTx: Send {
    /// Stores a new number: `false` (and nothing stored) if the number is taken, in any workspace.
    async fn insert_number(&mut self, workspace: &str, number: &StoredNumber) -> Result<bool>;
    /// The number, locked against concurrent writers until the transaction ends.
    async fn lock_number(
        &mut self,
        workspace: &str,
        id: PhoneNumberId,
    ) -> Result<Option<StoredNumber>>;
    /// Writes its label, agent and `updatedAt`.
    async fn update_number(&mut self, workspace: &str, number: &StoredNumber) -> Result<()>;
    async fn delete_number(&mut self, workspace: &str, id: PhoneNumberId) -> Result<()>;
    /// The numbers assigned to the agent, in order of number, as its document lists them.
    async fn agent_numbers(&mut self, workspace: &str, agent: AgentId) -> Result<Vec<PhoneNumber>>;
    /// Unassigns every number of the agent (it is being deleted).
    async fn unassign_numbers(&mut self, workspace: &str, agent: AgentId) -> Result<()>;
}

/// Adds a number to the workspace, assigned to an agent or not.
#[derive(Debug, Clone)]
pub struct CreateNumber {
    pub workspace: String,
    pub number: String,
    pub provider: NumberProvider,
    pub label: String,
    pub agent_id: Option<AgentId>,
    pub user: CreatedBy,
}

#[async_trait]
impl WriteOp for CreateNumber {
    type Output = StoredNumber;
    const NAME: &'static str = "create_phone_number";

    async fn run(self, tx: &mut dyn Tx) -> Result<StoredNumber> {
        if let Some(agent) = self.agent_id {
            check_agent(tx, &self.workspace, agent).await?;
        }
        let at = now();
        let stored = StoredNumber {
            id: PhoneNumberId::generate(),
            number: self.number,
            provider: self.provider,
            label: self.label,
            agent_id: self.agent_id,
            metadata: Metadata {
                created_at: at.clone(),
                updated_at: at,
                created_by: self.user.clone(),
            },
        };
        if !tx.insert_number(&self.workspace, &stored).await? {
            // Whose it is stays behind the workspace walls: only that it is taken gets through.
            return Err(StoreError::Conflict(format!(
                "the number {} is already registered on this server",
                stored.number
            )));
        }
        if let Some(agent) = stored.agent_id {
            sync_agent(tx, &self.workspace, agent, &self.user).await?;
        }
        Ok(stored)
    }
}

/// Changes a number's label or agent (a JSON Merge Patch of the two).
#[derive(Debug, Clone)]
pub struct UpdateNumber {
    pub workspace: String,
    pub id: PhoneNumberId,
    pub label: Option<String>,
    /// `Some(None)` unassigns it.
    pub agent_id: Option<Option<AgentId>>,
    pub user: CreatedBy,
}

#[async_trait]
impl WriteOp for UpdateNumber {
    type Output = StoredNumber;
    const NAME: &'static str = "update_phone_number";

    async fn run(self, tx: &mut dyn Tx) -> Result<StoredNumber> {
        let current =
            tx.lock_number(&self.workspace, self.id)
                .await?
                .ok_or(StoreError::NotFound {
                    kind: Kind::PhoneNumber,
                })?;
        let mut next = current.clone();
        if let Some(label) = self.label {
            next.label = label;
        }
        if let Some(agent) = self.agent_id {
            next.agent_id = agent;
        }
        if next == current {
            return Ok(current);
        }
        if let Some(agent) = next.agent_id.filter(|a| current.agent_id != Some(*a)) {
            check_agent(tx, &self.workspace, agent).await?;
        }
        next.metadata.updated_at = now();
        tx.update_number(&self.workspace, &next).await?;
        let mut agents: Vec<AgentId> = current.agent_id.into_iter().chain(next.agent_id).collect();
        agents.dedup();
        for agent in agents {
            sync_agent(tx, &self.workspace, agent, &self.user).await?;
        }
        Ok(next)
    }
}

/// Removes a number from the workspace (and from its agent's `phoneNumbers`).
#[derive(Debug, Clone)]
pub struct DeleteNumber {
    pub workspace: String,
    pub id: PhoneNumberId,
    pub user: CreatedBy,
}

#[async_trait]
impl WriteOp for DeleteNumber {
    type Output = ();
    const NAME: &'static str = "delete_phone_number";

    async fn run(self, tx: &mut dyn Tx) -> Result<()> {
        let current =
            tx.lock_number(&self.workspace, self.id)
                .await?
                .ok_or(StoreError::NotFound {
                    kind: Kind::PhoneNumber,
                })?;
        tx.delete_number(&self.workspace, self.id).await?;
        if let Some(agent) = current.agent_id {
            sync_agent(tx, &self.workspace, agent, &self.user).await?;
        }
        Ok(())
    }
}

/// Fails with `not_found` at `/agentId` unless the agent is one of the workspace's (kept from being
/// deleted until the transaction ends).
async fn check_agent(tx: &mut dyn Tx, workspace: &str, agent: AgentId) -> Result<()> {
    if tx.existing(workspace, &[agent]).await?.is_empty() {
        let mut problems = Problems::new();
        problems.push(
            &Pointer::root().key("agentId"),
            ProblemCode::NotFound,
            format!("no agent {agent} in this workspace"),
        );
        return Err(StoreError::Invalid(problems));
    }
    Ok(())
}

/// Makes the agent's `phoneNumbers` the numbers assigned to it now: a new version of the agent when
/// they differ (an agent deleted meanwhile has nothing to update).
async fn sync_agent(
    tx: &mut dyn Tx,
    workspace: &str,
    agent: AgentId,
    actor: &CreatedBy,
) -> Result<()> {
    let numbers = tx.agent_numbers(workspace, agent).await?;
    let transform: Transform = Arc::new(move |current: &StoredAgent| {
        if current.agent.phone_numbers == numbers {
            return Ok(None);
        }
        let mut next = current.agent.clone();
        next.phone_numbers = numbers.clone();
        next.metadata.updated_at = now();
        Ok(Some(next))
    });
    let change = Change {
        actor: actor.clone(),
        restored_from: None,
        dry_run: false,
        // A list of numbers is not the client's to trim: the agent takes them whatever its size.
        max_document_bytes: usize::MAX,
        heavy: false,
    };
    match UpdateAgent::new(workspace, agent, None, change, transform)
        .run(tx)
        .await
    {
        Err(StoreError::NotFound { kind: Kind::Agent }) => Ok(()),
        other => other.map(drop),
    }
}

//! The agent writes: create, update (with a transform) and delete, once for every backend.

use super::{
    encode, Change, Derived, IfMatch, Lock, Rejection, Row, StoredAgent, Transform, Updated,
};
use crate::write::{Beforehand, Event, Tx, WriteOp};
use crate::{Kind, Result, StoreError};
use async_trait::async_trait;
use dialplane_core::{Agent, AgentId};
use std::sync::Arc;

/// Stores a new agent (version 1); its transfer targets must exist in the workspace. With
/// `dry_run`, checks everything and stores nothing.
#[derive(Clone)]
pub struct CreateAgent {
    pub workspace: String,
    pub agent: Box<Agent>,
    pub dry_run: bool,
}

impl CreateAgent {
    pub fn new(workspace: &str, agent: Agent, dry_run: bool) -> Self {
        Self {
            workspace: workspace.to_owned(),
            agent: Box::new(agent),
            dry_run,
        }
    }
}

#[async_trait]
impl WriteOp for CreateAgent {
    type Output = StoredAgent;
    const NAME: &'static str = "create_agent";

    fn dry_run(&self) -> bool {
        self.dry_run
    }

    async fn run(self, tx: &mut dyn Tx) -> Result<StoredAgent> {
        let stored = create_agent(tx, &self.workspace, *self.agent).await?;
        tx.emit(Event::AgentCreated {
            workspace: self.workspace,
            agent_id: stored.agent.agent_id,
            version: stored.revision,
        });
        Ok(stored)
    }
}

/// Reads, transforms and writes one agent atomically, as a new version: no concurrent write is
/// lost.
#[derive(Clone)]
pub struct UpdateAgent {
    pub workspace: String,
    pub id: AgentId,
    pub if_match: Option<IfMatch>,
    pub change: Change,
    pub transform: Transform,
    /// The transform's work, done beforehand on the agent as it was then: used if the agent is
    /// still that revision when the write runs.
    pub prepared: Option<Box<Prepared>>,
}

impl UpdateAgent {
    pub fn new(
        workspace: &str,
        id: AgentId,
        if_match: Option<IfMatch>,
        change: Change,
        transform: Transform,
    ) -> Self {
        Self {
            workspace: workspace.to_owned(),
            id,
            if_match,
            change,
            transform,
            prepared: None,
        }
    }
}

#[async_trait]
impl WriteOp for UpdateAgent {
    type Output = Updated;
    const NAME: &'static str = "update_agent";

    fn dry_run(&self) -> bool {
        self.change.dry_run
    }

    /// Works the change out on the agent as last committed, beside the writer; the transaction checks
    /// that it still is.
    fn prepare(&mut self, beforehand: &dyn Beforehand) {
        if self.prepared.is_some() {
            return;
        }
        if let Some((current, document)) = beforehand.committed_agent(&self.workspace, self.id) {
            self.prepared = Prepared::work_out(&current, &document, &self.transform, &self.change)
                .map(Box::new);
        }
    }

    async fn run(self, tx: &mut dyn Tx) -> Result<Updated> {
        let updated = update_agent(
            tx,
            &self.workspace,
            self.id,
            self.if_match,
            &self.change,
            self.transform,
            self.prepared,
        )
        .await?;
        if let Updated::Changed {
            stored,
            changed_paths,
            ..
        } = &updated
        {
            tx.emit(Event::AgentUpdated {
                workspace: self.workspace,
                agent_id: self.id,
                version: stored.revision,
                changed_paths: changed_paths.clone(),
            });
        }
        Ok(updated)
    }
}

/// Deletes an agent no other agent transfers to; with `dry_run`, checks that it could and deletes
/// nothing.
#[derive(Clone)]
pub struct DeleteAgent {
    pub workspace: String,
    pub id: AgentId,
    pub if_match: Option<IfMatch>,
    pub dry_run: bool,
}

#[async_trait]
impl WriteOp for DeleteAgent {
    type Output = ();
    const NAME: &'static str = "delete_agent";

    fn dry_run(&self) -> bool {
        self.dry_run
    }

    async fn run(self, tx: &mut dyn Tx) -> Result<()> {
        let version = delete_agent(tx, &self.workspace, self.id, self.if_match).await?;
        tx.emit(Event::AgentDeleted {
            workspace: self.workspace,
            agent_id: self.id,
            version,
        });
        Ok(())
    }
}

async fn create_agent(tx: &mut dyn Tx, workspace: &str, agent: Agent) -> Result<StoredAgent> {
    let row = Row::new(&agent, 1)?;
    check_targets(tx, workspace, &row).await?;
    check_documents(tx, workspace, &row).await?;
    tx.insert_agent(workspace, &row).await?;
    tx.replace_links(workspace, &row).await?;
    tx.insert_version(workspace, &row, &agent.metadata.created_by, &[], None)
        .await?;
    drop(row);
    Ok(StoredAgent { agent, revision: 1 })
}

async fn update_agent(
    tx: &mut dyn Tx,
    workspace: &str,
    id: AgentId,
    if_match: Option<IfMatch>,
    change: &Change,
    transform: Transform,
    prepared: Option<Box<Prepared>>,
) -> Result<Updated> {
    let current = tx
        .lock_agent(workspace, id, Lock::Update)
        .await?
        .ok_or(StoreError::NotFound { kind: Kind::Agent })?;
    if if_match.is_some_and(|m| !m.matches(current.revision)) {
        // A change that is invalid whatever the agent's revision is refused as invalid: fixing the
        // ETag would not make it stand. (Only on this failure path; it costs a match nothing.)
        let invalid = crate::cpu::run(true, || run_transform(&transform, &current, false));
        if let Ok(Err(Rejection::Invalid(problems))) = invalid {
            return Err(rejected(tx, workspace, Rejection::Invalid(problems)).await);
        }
        return Err(StoreError::PreconditionFailed { kind: Kind::Agent });
    }
    let prepared = prepared.filter(|p| {
        let used = p.is_based_on(&current);
        tx.prepared(used);
        used
    });
    let next = match prepared {
        Some(prepared) => prepared.next,
        // Not worked out beforehand, or on a revision since replaced: the writer's cache holds the
        // agent parsed, not its document, so the document is written out again for the diff. Off
        // the async workers, since the stored document's size is unknown until it is written out
        // (on the SQLite writer's own thread this runs in place anyway).
        None => {
            let worked_out: Result<_> = crate::cpu::run(true, || {
                Ok(match run_transform(&transform, &current, false)? {
                    Err(rejection) => Err(rejection),
                    Ok(None) => Ok(None),
                    Ok(Some(agent)) => Ok(Some(Successor::of(
                        &current,
                        &encode(&current.agent)?,
                        agent,
                        change.max_document_bytes,
                    )?)),
                })
            });
            match worked_out? {
                Err(rejection) => return Err(rejected(tx, workspace, rejection).await),
                Ok(next) => next,
            }
        }
    };
    let Some(next) = next else {
        return Ok(Updated::Unchanged(Arc::unwrap_or_clone(current)));
    };
    let Successor {
        agent,
        derived,
        document,
        links_changed,
        changed_paths,
    } = next;
    let revision = current.revision + 1;
    let row = Row {
        renamed: agent.spec.name != current.agent.spec.name,
        agent: &agent,
        derived,
        document,
        revision,
    };
    check_targets(tx, workspace, &row).await?;
    check_documents(tx, workspace, &row).await?;
    tx.update_agent(workspace, &row).await?;
    // Most changes touch neither the tags, the transfers nor the documents: their rows stay.
    if links_changed {
        tx.replace_links(workspace, &row).await?;
    }
    tx.insert_version(
        workspace,
        &row,
        &change.actor,
        &changed_paths,
        change.restored_from,
    )
    .await?;
    let Row { document, .. } = row;
    Ok(Updated::Changed {
        stored: StoredAgent { agent, revision },
        document,
        changed_paths,
    })
}

/// Runs `transform` on `current`, off the async workers if `heavy` ([`crate::cpu::run`]). A bug in
/// validation must not take the writer down with it: a panic is this op's error.
fn run_transform(
    transform: &Transform,
    current: &StoredAgent,
    heavy: bool,
) -> Result<std::result::Result<Option<Agent>, Rejection>> {
    crate::cpu::run(heavy, || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| transform(current)))
    })
    .map_err(|_| StoreError::Internal("the change's validation panicked".into()))
}

/// The error for a refused change. An invalid document's references are looked up too, to report
/// every problem at once.
async fn rejected(tx: &mut dyn Tx, workspace: &str, rejection: Rejection) -> StoreError {
    match rejection {
        Rejection::TestFailed(p) => StoreError::TestFailed(p),
        Rejection::Invalid(mut problems) => {
            let references = problems.take_references();
            if !references.is_empty() {
                let agents = dialplane_core::validate::referenced(&references);
                let documents = dialplane_core::validate::referenced_documents(&references);
                let found = match (
                    tx.existing(workspace, &agents).await,
                    tx.existing_documents(workspace, &documents).await,
                ) {
                    (Ok(agents), Ok(documents)) => (agents, documents),
                    (Err(e), _) | (_, Err(e)) => return e,
                };
                dialplane_core::validate::report_missing(
                    &mut problems,
                    &references,
                    &found.0,
                    &found.1,
                );
            }
            StoreError::Invalid(problems)
        }
    }
}

/// A change worked out before it reaches the store's transaction, on the agent as it was then.
///
/// The transform (merge, validation, the new document and its changed paths) is most of a PATCH's
/// work. Done beside the transaction, by the request, it is off the single path every write of a
/// SQLite database takes. The transaction uses it only if the agent is still the one it was worked
/// out on; otherwise it runs the transform again on the agent as it is.
#[derive(Clone)]
pub struct Prepared {
    revision: u64,
    created_at: String,
    /// `None`: the transform changes nothing.
    next: Option<Successor>,
}

impl Prepared {
    /// Runs `transform` on `current`, stored as `document`. `None` when it refuses the change or
    /// fails: the transaction then runs it again and reports why, with what only it can look up.
    pub fn work_out(
        current: &StoredAgent,
        document: &str,
        transform: &Transform,
        change: &Change,
    ) -> Option<Self> {
        let heavy = change.heavy || document.len() >= crate::cpu::HEAVY_DOCUMENT_BYTES;
        let next = crate::cpu::run(heavy, || {
            match run_transform(transform, current, false).ok()?.ok()? {
                None => Some(None),
                Some(agent) => Some(Some(
                    Successor::of(current, document, agent, change.max_document_bytes).ok()?,
                )),
            }
        })?;
        Some(Self {
            revision: current.revision,
            created_at: current.agent.metadata.created_at.clone(),
            next,
        })
    }

    /// Whether it was worked out on `current`: the same revision of the same agent (an agent
    /// deleted and created again with the same id starts its revisions over).
    fn is_based_on(&self, current: &StoredAgent) -> bool {
        self.revision == current.revision && self.created_at == current.agent.metadata.created_at
    }
}

/// The next revision of an agent: what storing it writes.
#[derive(Clone)]
struct Successor {
    agent: Agent,
    derived: Derived,
    document: String,
    /// Whether its tags or transfer targets differ from the current revision's.
    links_changed: bool,
    /// Where it differs from the current revision, for its version entry.
    changed_paths: Vec<String>,
}

impl Successor {
    /// `agent` as the successor of `current`, whose stored document is `before`; refused if its
    /// document would take more than `max_document_bytes`.
    fn of(
        current: &StoredAgent,
        before: &str,
        agent: Agent,
        max_document_bytes: usize,
    ) -> Result<Self> {
        let document = encode(&agent)?;
        if document.len() > max_document_bytes {
            let mut problems = dialplane_core::Problems::new();
            problems.push(
                &dialplane_core::Pointer::root(),
                dialplane_core::ProblemCode::TooLong,
                format!(
                    "the changed agent would take {} bytes, more than the {max_document_bytes} an agent may",
                    document.len()
                ),
            );
            return Err(StoreError::Invalid(problems));
        }
        let derived = Derived::of(&agent);
        let links_changed = current.agent.spec.tags != agent.spec.tags
            || dialplane_core::validate::transfer_targets(&current.agent.spec) != derived.targets
            || current
                .agent
                .spec
                .conversation_config
                .agent
                .prompt
                .knowledge_base
                != agent.spec.conversation_config.agent.prompt.knowledge_base;
        Ok(Self {
            changed_paths: dialplane_core::validate::changed_paths(before, &document),
            document,
            links_changed,
            derived,
            agent,
        })
    }
}

async fn delete_agent(
    tx: &mut dyn Tx,
    workspace: &str,
    id: AgentId,
    if_match: Option<IfMatch>,
) -> Result<u64> {
    let current = tx
        .lock_agent(workspace, id, Lock::Delete)
        .await?
        .ok_or(StoreError::NotFound { kind: Kind::Agent })?;
    if if_match.is_some_and(|m| !m.matches(current.revision)) {
        return Err(StoreError::PreconditionFailed { kind: Kind::Agent });
    }
    let referrers = tx.referrers(workspace, id).await?;
    if !referrers.is_empty() {
        return Err(StoreError::Referenced {
            kind: Kind::Agent,
            by: Kind::Agent,
            ids: referrers.iter().map(AgentId::to_string).collect(),
        });
    }
    tx.delete_agent(workspace, id).await?;
    tx.unassign_numbers(workspace, id).await?;
    Ok(current.revision)
}

/// Fails with every transfer target that is not an agent of the workspace.
async fn check_targets(tx: &mut dyn Tx, workspace: &str, row: &Row<'_>) -> Result<()> {
    if row.derived.targets.is_empty() {
        return Ok(());
    }
    let found = tx.existing(workspace, &row.derived.targets).await?;
    let missing: Vec<AgentId> = row
        .derived
        .targets
        .iter()
        .filter(|t| !found.contains(t))
        .copied()
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Invalid(
            dialplane_core::validate::missing_targets(&row.agent.spec, &missing),
        ))
    }
}

/// Fails with every knowledge-base document named that is not a document of the workspace. Every
/// write checks them all, so an agent stored before documents were checked keeps working until its
/// next write, which must name only documents that exist.
async fn check_documents(tx: &mut dyn Tx, workspace: &str, row: &Row<'_>) -> Result<()> {
    if row.derived.documents.is_empty() {
        return Ok(());
    }
    let found = tx
        .existing_documents(workspace, &row.derived.documents)
        .await?;
    let missing: Vec<String> = row
        .derived
        .documents
        .iter()
        .filter(|d| !found.contains(d))
        .cloned()
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Invalid(
            dialplane_core::validate::missing_documents(&row.agent.spec, &missing),
        ))
    }
}

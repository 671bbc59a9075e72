//! The write operations, once for every backend.
//!
//! Each backend runs an [`Op`] inside one of its transactions through the [`Tx`] trait, which holds only
//! its SQL. The rules (If-Match, idempotency, references, revisions) live here, so both backends keep
//! them alike.

use crate::{
    Change, Created, Derived, Idempotency, IfMatch, KeyRecord, NewKey, Rejection, Result,
    StoreError, StoredAgent, Transform, Updated,
};
use async_trait::async_trait;
use dialplane_core::{Agent, AgentId, CreatedBy, KeyId};

/// One write, as queued or retried.
#[derive(Clone)]
pub enum Op {
    CreateKey(NewKey),
    CreateFirstKey(NewKey),
    RevokeKey(KeyId),
    PurgeIdempotencyKeys(String),
    CreateAgent {
        workspace: String,
        agent: Box<Agent>,
        idempotency: Option<Idempotency>,
        dry_run: bool,
    },
    UpdateAgent {
        workspace: String,
        id: AgentId,
        if_match: Option<IfMatch>,
        change: Change,
        transform: Transform,
    },
    DeleteAgent {
        workspace: String,
        id: AgentId,
        if_match: Option<IfMatch>,
        dry_run: bool,
    },
}

#[derive(Debug)]
pub enum Outcome {
    Key(KeyRecord),
    FirstKey(Option<KeyRecord>),
    Revoked(bool),
    Purged(u64),
    Created(Created),
    Updated(Updated),
    Deleted,
}

impl Op {
    pub fn create_agent(
        workspace: &str,
        agent: Agent,
        idempotency: Option<Idempotency>,
        dry_run: bool,
    ) -> Self {
        Op::CreateAgent {
            workspace: workspace.to_owned(),
            agent: Box::new(agent),
            idempotency: idempotency.filter(|_| !dry_run),
            dry_run,
        }
    }

    pub fn update_agent(
        workspace: &str,
        id: AgentId,
        if_match: Option<IfMatch>,
        change: Change,
        transform: Transform,
    ) -> Self {
        Op::UpdateAgent {
            workspace: workspace.to_owned(),
            id,
            if_match,
            change,
            transform,
        }
    }

    /// Whether the op must be rolled back once it has run: a dry run.
    pub fn dry_run(&self) -> bool {
        match self {
            Op::CreateAgent { dry_run, .. } => *dry_run,
            Op::UpdateAgent { change, .. } => change.dry_run,
            Op::DeleteAgent { dry_run, .. } => *dry_run,
            _ => false,
        }
    }

    pub fn delete_agent(
        workspace: &str,
        id: AgentId,
        if_match: Option<IfMatch>,
        dry_run: bool,
    ) -> Self {
        Op::DeleteAgent {
            workspace: workspace.to_owned(),
            id,
            if_match,
            dry_run,
        }
    }
}

fn unexpected(outcome: Outcome) -> StoreError {
    StoreError::Internal(format!("unexpected write outcome {outcome:?}"))
}

/// The outcome of each kind of op; a mismatch is a bug, answered as an internal error.
impl Outcome {
    pub fn key(self) -> Result<KeyRecord> {
        match self {
            Outcome::Key(k) => Ok(k),
            other => Err(unexpected(other)),
        }
    }

    pub fn purged(self) -> Result<u64> {
        match self {
            Outcome::Purged(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }

    pub fn first_key(self) -> Result<Option<KeyRecord>> {
        match self {
            Outcome::FirstKey(k) => Ok(k),
            other => Err(unexpected(other)),
        }
    }

    pub fn revoked(self) -> Result<bool> {
        match self {
            Outcome::Revoked(found) => Ok(found),
            other => Err(unexpected(other)),
        }
    }

    pub fn created(self) -> Result<Created> {
        match self {
            Outcome::Created(c) => Ok(c),
            other => Err(unexpected(other)),
        }
    }

    pub fn updated(self) -> Result<Updated> {
        match self {
            Outcome::Updated(u) => Ok(u),
            other => Err(unexpected(other)),
        }
    }

    pub fn deleted(self) -> Result<()> {
        match self {
            Outcome::Deleted => Ok(()),
            other => Err(unexpected(other)),
        }
    }
}

/// What a backend's transaction can do. Every method runs inside the one transaction of the op.
#[async_trait]
pub trait Tx: Send {
    async fn insert_key(&mut self, key: &NewKey, id: KeyId, now: &str) -> Result<KeyRecord>;
    async fn revoke_key(&mut self, id: KeyId, now: &str) -> Result<bool>;
    /// Whether any key exists; holds off other transactions asking the same until this one ends.
    async fn any_key(&mut self) -> Result<bool>;
    /// The agent, locked against concurrent writers until the transaction ends: for an update, a lock
    /// that still lets other writes refer to it; for a delete, one that keeps them from doing so.
    async fn lock_agent(
        &mut self,
        workspace: &str,
        id: AgentId,
        lock: Lock,
    ) -> Result<Option<StoredAgent>>;
    /// Which of `ids` are agents of the workspace, kept from being deleted until the transaction ends.
    async fn existing(&mut self, workspace: &str, ids: &[AgentId]) -> Result<Vec<AgentId>>;
    async fn insert_agent(&mut self, workspace: &str, row: &Row<'_>) -> Result<()>;
    async fn update_agent(&mut self, workspace: &str, row: &Row<'_>) -> Result<()>;
    async fn delete_agent(&mut self, workspace: &str, id: AgentId) -> Result<()>;
    /// Replaces the agent's rows in the tag and transfer tables.
    async fn replace_links(&mut self, workspace: &str, row: &Row<'_>) -> Result<()>;
    /// Records the version `row` as it is written.
    async fn insert_version(
        &mut self,
        workspace: &str,
        row: &Row<'_>,
        actor: &CreatedBy,
        changed_paths: &[String],
        restored_from: Option<u64>,
    ) -> Result<()>;
    /// Agents (other than `id`) that transfer to `id`.
    async fn referrers(&mut self, workspace: &str, id: AgentId) -> Result<Vec<AgentId>>;
    /// Deletes idempotency keys recorded before `expired_before`.
    async fn purge_idempotency_keys(&mut self, expired_before: &str) -> Result<u64>;
    /// Records the key with its first answer, unless it is known and not expired: then its
    /// fingerprint and answer.
    async fn claim_idempotency(
        &mut self,
        workspace: &str,
        idempotency: &Idempotency,
        agent_id: AgentId,
        response: &str,
        now: &str,
    ) -> Result<Option<(String, String)>>;
}

/// How an op locks the agent it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    Update,
    Delete,
}

/// An agent as written: the document and the columns derived from it.
pub struct Row<'a> {
    pub agent: &'a Agent,
    pub derived: Derived,
    pub document: String,
    pub revision: u64,
}

impl<'a> Row<'a> {
    fn new(agent: &'a Agent, revision: u64) -> Result<Self> {
        Ok(Self {
            agent,
            derived: Derived::of(&agent.spec),
            document: serde_json::to_string(agent)
                .map_err(|e| StoreError::Internal(format!("encoding agent: {e}")))?,
            revision,
        })
    }

    pub fn revision_i64(&self) -> i64 {
        i64::try_from(self.revision).unwrap_or(i64::MAX)
    }
}

pub fn now() -> String {
    dialplane_core::agent::timestamp(chrono::Utc::now())
}

/// Parses a stored document.
pub fn decode_agent(document: &str, revision: i64) -> Result<StoredAgent> {
    let agent: Agent = serde_json::from_str(document)
        .map_err(|e| StoreError::Internal(format!("stored document does not parse: {e}")))?;
    Ok(StoredAgent {
        agent,
        revision: u64::try_from(revision).unwrap_or_default(),
    })
}

/// An API key from a row with the key columns, on either backend.
pub fn key_record<'r, R>(row: &'r R) -> Result<KeyRecord>
where
    R: sqlx::Row,
    &'static str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let scope: String = row.try_get("scope")?;
    Ok(KeyRecord {
        key_id: parse_id(&row.try_get::<String, _>("key_id")?)?,
        workspace: row.try_get("workspace")?,
        scope: dialplane_core::Scope::parse(&scope)
            .ok_or_else(|| StoreError::Internal(format!("stored scope {scope:?}")))?,
        user: CreatedBy {
            user_id: row.try_get("user_id")?,
            user_email: row.try_get("user_email")?,
        },
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

/// A history entry from its columns.
pub fn version_summary(
    version: i64,
    created_at: String,
    user_id: String,
    user_email: String,
    changed_paths: &str,
    restored_from: Option<i64>,
) -> Result<crate::VersionSummary> {
    Ok(crate::VersionSummary {
        version: u64::try_from(version).unwrap_or_default(),
        created_at,
        created_by: CreatedBy {
            user_id,
            user_email,
        },
        changed_paths: serde_json::from_str(changed_paths)
            .map_err(|e| StoreError::Internal(format!("stored changed paths: {e}")))?,
        restored_from: restored_from.and_then(|v| u64::try_from(v).ok()),
    })
}

/// A page of history from up to `page_size + 1` entries.
pub fn version_page(mut items: Vec<crate::VersionSummary>, page_size: u32) -> crate::VersionPage {
    let has_more = items.len() > page_size as usize;
    items.truncate(page_size as usize);
    crate::VersionPage { items, has_more }
}

/// Parses a stored id.
pub fn parse_id<T: std::str::FromStr>(s: &str) -> Result<T> {
    s.parse()
        .map_err(|_| StoreError::Internal(format!("stored id does not parse: {s:?}")))
}

pub async fn apply(tx: &mut impl Tx, op: Op) -> Result<Outcome> {
    match op {
        Op::CreateKey(key) => tx
            .insert_key(&key, KeyId::generate(), &now())
            .await
            .map(Outcome::Key),
        Op::CreateFirstKey(key) => {
            if tx.any_key().await? {
                return Ok(Outcome::FirstKey(None));
            }
            tx.insert_key(&key, KeyId::generate(), &now())
                .await
                .map(|k| Outcome::FirstKey(Some(k)))
        }
        Op::RevokeKey(id) => tx.revoke_key(id, &now()).await.map(Outcome::Revoked),
        Op::PurgeIdempotencyKeys(before) => tx
            .purge_idempotency_keys(&before)
            .await
            .map(Outcome::Purged),
        Op::CreateAgent {
            workspace,
            agent,
            idempotency,
            dry_run: _,
        } => create_agent(tx, &workspace, *agent, idempotency)
            .await
            .map(Outcome::Created),
        Op::UpdateAgent {
            workspace,
            id,
            if_match,
            change,
            transform,
        } => update_agent(tx, &workspace, id, if_match, &change, transform)
            .await
            .map(Outcome::Updated),
        Op::DeleteAgent {
            workspace,
            id,
            if_match,
            dry_run: _,
        } => delete_agent(tx, &workspace, id, if_match)
            .await
            .map(|()| Outcome::Deleted),
    }
}

async fn create_agent(
    tx: &mut impl Tx,
    workspace: &str,
    agent: Agent,
    idempotency: Option<Idempotency>,
) -> Result<Created> {
    let row = Row::new(&agent, 1)?;
    if let Some(idem) = &idempotency {
        let seen = tx
            .claim_idempotency(workspace, idem, agent.agent_id, &row.document, &now())
            .await?;
        if let Some((fingerprint, response)) = seen {
            if fingerprint != idem.fingerprint {
                return Err(StoreError::IdempotencyKeyReused);
            }
            return Ok(Created::Replayed(decode_agent(&response, 1)?));
        }
    }
    check_targets(tx, workspace, &row).await?;
    tx.insert_agent(workspace, &row).await?;
    tx.replace_links(workspace, &row).await?;
    tx.insert_version(workspace, &row, &agent.metadata.created_by, &[], None)
        .await?;
    drop(row);
    Ok(Created::New(StoredAgent { agent, revision: 1 }))
}

async fn update_agent(
    tx: &mut impl Tx,
    workspace: &str,
    id: AgentId,
    if_match: Option<IfMatch>,
    change: &Change,
    transform: Transform,
) -> Result<Updated> {
    let current = tx
        .lock_agent(workspace, id, Lock::Update)
        .await?
        .ok_or(StoreError::NotFound)?;
    if if_match.is_some_and(|m| !m.matches(current.revision)) {
        return Err(StoreError::PreconditionFailed);
    }
    // A bug in validation must not take the writer down with it: a panic is this op's error.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| transform(&current)))
        .map_err(|_| StoreError::Internal("the change's validation panicked".into()))?;
    let outcome = match outcome {
        Err(Rejection::Invalid(mut problems)) => {
            // Look up what the faulty document names too, to report every problem at once.
            let references = problems.take_references();
            if !references.is_empty() {
                let ids: Vec<AgentId> = references.iter().map(|(_, id)| *id).collect();
                let found = tx.existing(workspace, &ids).await?;
                dialplane_core::validate::report_missing(&mut problems, &references, &found);
            }
            return Err(StoreError::Invalid(problems));
        }
        Err(Rejection::TestFailed(p)) => return Err(StoreError::TestFailed(p)),
        Ok(outcome) => outcome,
    };
    let Some(agent) = outcome else {
        return Ok(Updated::Unchanged(current));
    };
    let revision = current.revision + 1;
    let row = Row::new(&agent, revision)?;
    check_targets(tx, workspace, &row).await?;
    tx.update_agent(workspace, &row).await?;
    // Most changes touch neither the tags nor the transfers: their rows stay as they are.
    let links_changed = current.agent.spec.tags != agent.spec.tags
        || crate::Derived::of(&current.agent.spec).targets != row.derived.targets;
    if links_changed {
        tx.replace_links(workspace, &row).await?;
    }
    let changed = dialplane_core::validate::changed_paths(&current.agent.spec, &agent.spec);
    tx.insert_version(
        workspace,
        &row,
        &change.actor,
        &changed,
        change.restored_from,
    )
    .await?;
    drop(row);
    Ok(Updated::Changed(StoredAgent { agent, revision }))
}

async fn delete_agent(
    tx: &mut impl Tx,
    workspace: &str,
    id: AgentId,
    if_match: Option<IfMatch>,
) -> Result<()> {
    let current = tx
        .lock_agent(workspace, id, Lock::Delete)
        .await?
        .ok_or(StoreError::NotFound)?;
    if if_match.is_some_and(|m| !m.matches(current.revision)) {
        return Err(StoreError::PreconditionFailed);
    }
    let referrers = tx.referrers(workspace, id).await?;
    if !referrers.is_empty() {
        return Err(StoreError::Referenced(referrers));
    }
    tx.delete_agent(workspace, id).await
}

/// Fails with every transfer target that is not an agent of the workspace.
async fn check_targets(tx: &mut impl Tx, workspace: &str, row: &Row<'_>) -> Result<()> {
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

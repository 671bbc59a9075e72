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
use std::sync::Arc;

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
        /// The transform's work, done beforehand on the agent as it was then: used if the agent is
        /// still that revision when the op runs.
        prepared: Option<Box<Prepared>>,
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
        prepared: Option<Prepared>,
    ) -> Self {
        Op::UpdateAgent {
            workspace: workspace.to_owned(),
            id,
            if_match,
            change,
            transform,
            prepared: prepared.map(Box::new),
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
    ) -> Result<Option<Arc<StoredAgent>>>;
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
    /// Counts an update worked out beforehand: used as it was (`true`), or worked out again because
    /// the agent had changed meanwhile.
    fn prepared(&mut self, _used: bool) {}
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
    /// Whether the name differs from the stored revision's (always, for a new agent): an update that
    /// keeps the name leaves the index on names as it is.
    pub renamed: bool,
}

impl<'a> Row<'a> {
    fn new(agent: &'a Agent, revision: u64) -> Result<Self> {
        Ok(Self {
            agent,
            derived: Derived::of(agent),
            document: encode(agent)?,
            revision,
            renamed: true,
        })
    }

    pub fn revision_i64(&self) -> i64 {
        i64::try_from(self.revision).unwrap_or(i64::MAX)
    }
}

/// The document stored for `agent`.
fn encode(agent: &Agent) -> Result<String> {
    serde_json::to_string(agent).map_err(|e| StoreError::Internal(format!("encoding agent: {e}")))
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
            prepared,
        } => update_agent(tx, &workspace, id, if_match, &change, transform, prepared)
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
    prepared: Option<Box<Prepared>>,
) -> Result<Updated> {
    let current = tx
        .lock_agent(workspace, id, Lock::Update)
        .await?
        .ok_or(StoreError::NotFound)?;
    if if_match.is_some_and(|m| !m.matches(current.revision)) {
        return Err(StoreError::PreconditionFailed);
    }
    let prepared = prepared.filter(|p| {
        let used = p.is_based_on(&current);
        tx.prepared(used);
        used
    });
    let next = match prepared {
        Some(prepared) => prepared.next,
        // Not worked out beforehand, or on a revision since replaced: the writer's cache holds the
        // agent parsed, not its document, so the document is written out again for the diff.
        None => {
            let worked_out: Result<_> = crate::cpu::run(change.heavy, || {
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
    tx.update_agent(workspace, &row).await?;
    // Most changes touch neither the tags nor the transfers: their rows stay as they are.
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
async fn rejected(tx: &mut impl Tx, workspace: &str, rejection: Rejection) -> StoreError {
    match rejection {
        Rejection::TestFailed(p) => StoreError::TestFailed(p),
        Rejection::Invalid(mut problems) => {
            let references = problems.take_references();
            if !references.is_empty() {
                let ids = dialplane_core::validate::referenced(&references);
                match tx.existing(workspace, &ids).await {
                    Ok(found) => {
                        dialplane_core::validate::report_missing(&mut problems, &references, &found)
                    }
                    Err(e) => return e,
                }
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
            || dialplane_core::validate::transfer_targets(&current.agent.spec) != derived.targets;
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

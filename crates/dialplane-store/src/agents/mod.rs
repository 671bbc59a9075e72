//! Agents: their types, the statements each backend runs for them ([`AgentTx`]), their writes
//! ([`write`]) and their list query ([`list`]).

pub mod list;
mod reads;
pub mod write;

use crate::{Result, StoreError};
use async_trait::async_trait;
use dialplane_core::agent::Direction;
use dialplane_core::{Agent, AgentId, CreatedBy, Problems};
use std::sync::Arc;

pub use write::{CreateAgent, DeleteAgent, Prepared, UpdateAgent};

/// An agent as stored, with the revision that its ETag names.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAgent {
    pub agent: Agent,
    pub revision: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    Name,
    CreatedAt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortDirection {
    Asc,
    Desc,
}

/// Where a page starts: after the item with this sort key (and, for exact cursors, this id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    pub key: String,
    /// Breaks ties between equal keys. `None` for the plain cursors of the hosted API.
    pub id: Option<AgentId>,
}

/// One page request of the agent list.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub sort_by: SortBy,
    pub sort_direction: SortDirection,
    pub page_size: u32,
    pub after: Option<After>,
    /// Case-insensitive part of the name.
    pub search: Option<String>,
    /// Agents having every one of these tags.
    pub tags: Vec<String>,
    pub direction: Option<Direction>,
}

/// One list item.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSummary {
    pub agent_id: AgentId,
    pub name: String,
    pub tags: Vec<String>,
    pub metadata: dialplane_core::Metadata,
}

impl AgentSummary {
    /// The value this item sorts by: names sort case-insensitively.
    pub fn sort_key(&self, by: SortBy) -> std::borrow::Cow<'_, str> {
        match by {
            SortBy::Name => fold_name(&self.name).into(),
            SortBy::CreatedAt => self.metadata.created_at.as_str().into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<AgentSummary>,
    pub has_more: bool,
}

/// The outcome of an update.
#[derive(Debug, Clone, PartialEq)]
pub enum Updated {
    Changed {
        stored: StoredAgent,
        /// The agent as stored: its JSON document.
        document: String,
        /// Where it differs from the revision before (JSON Pointers).
        changed_paths: Vec<String>,
    },
    /// The transform changed nothing: nothing was written.
    Unchanged(StoredAgent),
}

/// An `If-Match` condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    Any,
    Revisions(Vec<u64>),
}

impl IfMatch {
    pub fn matches(&self, revision: u64) -> bool {
        match self {
            IfMatch::Any => true,
            IfMatch::Revisions(revs) => revs.contains(&revision),
        }
    }
}

/// Computes an agent's next state from its current one, inside the store's write: `Ok(None)` when
/// nothing changes, `Err` when the result would be invalid.
///
/// It may run more than once (a backend retries a transaction that lost a deadlock), so it must be a
/// pure function of the agent it is given.
pub type Transform = Arc<dyn Fn(&StoredAgent) -> Result<Option<Agent>, Rejection> + Send + Sync>;

/// Why a [`Transform`] refuses a change.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    /// The result would break the rules.
    Invalid(Problems),
    /// A JSON Patch `test` operation failed: the agent is not in the state the client expected.
    TestFailed(Problems),
}

/// Who makes a change, and how.
#[derive(Debug, Clone)]
pub struct Change {
    /// Recorded as the new version's `createdBy`.
    pub actor: CreatedBy,
    /// The version a restore brings back.
    pub restored_from: Option<u64>,
    /// Run every check, answer what would be stored, store nothing.
    pub dry_run: bool,
    /// The most bytes the changed agent's document may take (`too_long` past it).
    pub max_document_bytes: usize,
    /// Whether working the change out may take long (a large body, many JSON Patch operations): it is
    /// then run off the async workers ([`crate::cpu::run`]), as is any change to a large document.
    pub heavy: bool,
}

/// One entry of an agent's history.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionSummary {
    pub version: u64,
    pub created_at: String,
    pub created_by: CreatedBy,
    pub changed_paths: Vec<String>,
    pub restored_from: Option<u64>,
}

/// A page of history, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionPage {
    pub items: Vec<VersionSummary>,
    pub has_more: bool,
}

/// The agent statements of a write's transaction. Every method runs inside the one transaction of
/// the write.
#[async_trait]
pub trait AgentTx: Send {
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
    /// Replaces the agent's rows in the tag, transfer and document tables.
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
}

/// How an op locks the agent it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    Update,
    Delete,
    /// Only read, and kept from being deleted until the transaction ends (a call recorded of it).
    Share,
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
pub(crate) fn encode(agent: &Agent) -> Result<String> {
    serde_json::to_string(agent).map_err(|e| StoreError::Internal(format!("encoding agent: {e}")))
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

/// A history entry from its columns.
pub fn version_summary(
    version: i64,
    created_at: String,
    user_id: String,
    user_email: String,
    changed_paths: &str,
    restored_from: Option<i64>,
) -> Result<VersionSummary> {
    Ok(VersionSummary {
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
pub fn version_page(mut items: Vec<VersionSummary>, page_size: u32) -> VersionPage {
    let has_more = items.len() > page_size as usize;
    items.truncate(page_size as usize);
    VersionPage { items, has_more }
}

/// A name as it sorts and is searched: Unicode lower case.
pub fn fold_name(name: &str) -> String {
    name.to_lowercase()
}

/// The columns derived from a document, kept beside it for filtering and sorting.
#[derive(Clone)]
pub struct Derived {
    pub name_folded: String,
    pub direction: &'static str,
    pub targets: Vec<AgentId>,
    /// The knowledge-base documents it names, each once.
    pub documents: Vec<String>,
    /// The tags and the metadata as JSON, for list pages (SQLite keeps them in columns).
    pub tags_json: String,
    pub metadata_json: String,
}

impl Derived {
    pub fn of(agent: &Agent) -> Self {
        use dialplane_core::agent::Choice;
        let spec = &agent.spec;
        Self {
            name_folded: fold_name(&spec.name),
            direction: spec.direction.wire(),
            targets: dialplane_core::validate::transfer_targets(spec),
            documents: dialplane_core::validate::named_documents(spec),
            tags_json: serde_json::to_string(&spec.tags).unwrap_or_else(|_| "[]".into()),
            metadata_json: serde_json::to_string(&agent.metadata).unwrap_or_else(|_| "{}".into()),
        }
    }
}

/// The agent reads.
impl crate::Store {
    pub async fn get_agent(&self, workspace: &str, id: AgentId) -> Result<Option<StoredAgent>> {
        self.timed("get_agent", self.reads().get_agent(workspace, id))
            .await
    }

    pub async fn list_agents(&self, workspace: &str, query: &ListQuery) -> Result<Page> {
        self.timed("list_agents", self.reads().list_agents(workspace, query))
            .await
    }

    /// The agent's history, newest first, starting below version `before`; `None` when there is no
    /// such agent.
    pub async fn list_versions(
        &self,
        workspace: &str,
        id: AgentId,
        before: Option<u64>,
        page_size: u32,
    ) -> Result<Option<VersionPage>> {
        if self.get_agent(workspace, id).await?.is_none() {
            return Ok(None);
        }
        let items = self
            .timed(
                "list_versions",
                self.reads().list_versions(workspace, id, before, page_size),
            )
            .await?;
        Ok(Some(version_page(items, page_size)))
    }

    /// The agent as it was at `version`.
    pub async fn get_version(
        &self,
        workspace: &str,
        id: AgentId,
        version: u64,
    ) -> Result<Option<StoredAgent>> {
        self.timed(
            "get_version",
            self.reads().get_version(workspace, id, version),
        )
        .await
    }
}

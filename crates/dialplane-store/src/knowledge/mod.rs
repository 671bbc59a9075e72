//! The knowledge base: documents (a URL's page or a file's bytes, with their extracted text cut
//! into searchable passages) and the groups an upload puts them in. The statements each backend
//! runs are [`KnowledgeTx`] (rows) and [`BlobTx`] (original bytes: the seam an object store would
//! plug into); the writes are [`CreateDocuments`], [`RenameDocument`] and [`DeleteDocument`].

mod blob;
pub(crate) mod reads;
pub(crate) mod search;

pub use blob::{Blob, Spool};
pub use reads::{DocumentQuery, DocumentSort, GroupSummary};
pub use search::{fts5_query, search_scope, Hit};

use crate::write::{Event, Tx, WriteOp};
use crate::{Kind, Result, StoreError};
use async_trait::async_trait;
use dialplane_core::CreatedBy;
use std::sync::Arc;

/// A document's origin: Callin's two values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    Url,
    File,
}

/// Where a document is on its way to being searchable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentStatus {
    Processing,
    Ready,
    Failed,
}

macro_rules! wire_names {
    ($ty:ident { $($variant:ident = $wire:literal),+ }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $wire),+ }
            }

            pub fn parse(s: &str) -> Result<Self> {
                match s {
                    $($wire => Ok(Self::$variant),)+
                    other => Err(StoreError::Internal(format!(
                        concat!("stored ", stringify!($ty), " {:?}"), other
                    ))),
                }
            }
        }
    };
}

wire_names!(DocumentKind { Url = "url", File = "file" });
wire_names!(DocumentStatus { Processing = "processing", Ready = "ready", Failed = "failed" });

/// A document as stored (without its bytes and text, which are read on their own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDocument {
    pub document_id: String,
    pub kind: DocumentKind,
    pub name: String,
    pub url: Option<String>,
    /// `pdf`, `docx`, `tsx`, `txt` or `md` (file documents).
    pub file_type: Option<String>,
    pub size_bytes: u64,
    pub group_id: Option<String>,
    pub status: DocumentStatus,
    pub status_message: Option<String>,
    pub text_chars: u64,
    pub created_at: String,
    pub updated_at: String,
    pub created_by: CreatedBy,
}

/// A document to store, with what goes beside its row.
#[derive(Debug, Clone)]
pub struct NewDocument {
    pub document: StoredDocument,
    /// The original bytes (none for a URL document not fetched yet).
    pub bytes: Option<Blob>,
    /// The extracted text and its passages (none unless `ready`).
    pub text: Option<Arc<Extracted>>,
}

/// A document's text, and that text cut into passages (byte ranges of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    pub text: String,
    pub passages: Vec<std::ops::Range<usize>>,
}

impl Extracted {
    /// The passages' text, in order (a range that is not of the text is skipped).
    pub fn passages(&self) -> impl Iterator<Item = &str> {
        self.passages
            .iter()
            .filter_map(|r| self.text.get(r.clone()))
    }
}

/// A group of documents: what an upload's `groupName` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub group_id: String,
    pub name: String,
    pub created_at: String,
    pub created_by: CreatedBy,
}

/// The knowledge-base statements of a write's transaction.
#[async_trait]
pub trait KnowledgeTx: Send {
    /// The group of `workspace` whose name folds to `folded`.
    async fn group_named(&mut self, workspace: &str, folded: &str) -> Result<Option<Group>>;
    async fn insert_group(&mut self, workspace: &str, group: &Group) -> Result<()>;
    /// The original bytes `workspace` stores, all documents together; holds off other writes of
    /// the workspace's documents until this transaction ends (the quota is checked on it).
    async fn stored_bytes(&mut self, workspace: &str) -> Result<u64>;
    /// The document's row, its text and its passages (its bytes go through [`BlobTx`]).
    async fn insert_document(&mut self, workspace: &str, document: &NewDocument) -> Result<()>;
    /// The document, locked for this transaction.
    async fn lock_document(&mut self, workspace: &str, id: &str) -> Result<Option<StoredDocument>>;
    async fn rename_document(
        &mut self,
        workspace: &str,
        id: &str,
        name: &str,
        updated_at: &str,
    ) -> Result<()>;
    /// Removes the row, its text and its passages.
    async fn delete_document(&mut self, workspace: &str, id: &str) -> Result<()>;
    /// Writes the document's row as it is now (status, message, size, type, text length, time).
    async fn update_document(&mut self, workspace: &str, document: &StoredDocument) -> Result<()>;
    /// Replaces the document's text and passages (none: removes them).
    async fn replace_text(
        &mut self,
        workspace: &str,
        id: &str,
        text: Option<&Extracted>,
    ) -> Result<()>;
    /// Which of `ids` are documents of the workspace, kept from being deleted until the
    /// transaction ends.
    async fn existing_documents(&mut self, workspace: &str, ids: &[String]) -> Result<Vec<String>>;
    /// The agents that name document `id`, with the index at which each names it first.
    async fn document_referrers(&mut self, workspace: &str, id: &str)
        -> Result<Vec<(String, u32)>>;
}

/// Where original bytes are kept: the database today (BLOB / `bytea`, in the same transaction as
/// the row, so a backup holds them and a crash leaves no orphan).
#[async_trait]
pub trait BlobTx: Send {
    async fn put_blob(&mut self, workspace: &str, id: &str, blob: &Blob) -> Result<()>;
    async fn delete_blob(&mut self, workspace: &str, id: &str) -> Result<()>;
}

/// A message or a row this large grows a pooled connection's buffers past what its other work needs,
/// so the connection is asked to give the memory back afterwards (`shrink_buffers`).
pub(crate) const LARGE_MESSAGE: usize = 1 << 20;

/// A count or size as the databases' signed integers hold it.
pub(crate) fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A count or size read back from the databases' signed integers.
pub(crate) fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Stores documents, all or none, in a group if `group_name` is given (created, or matched without
/// regard to case), within the workspace's quota.
#[derive(Debug, Clone)]
pub struct CreateDocuments {
    pub workspace: String,
    pub group: Option<Group>,
    pub documents: Vec<NewDocument>,
    /// The most original bytes the workspace may store.
    pub quota_bytes: u64,
}

/// What [`CreateDocuments`] stored.
#[derive(Debug, Clone)]
pub struct CreatedDocuments {
    pub group: Option<Group>,
    pub documents: Vec<StoredDocument>,
    /// The workspace's stored bytes before and after.
    pub used_before: u64,
    pub used_after: u64,
}

#[async_trait]
impl WriteOp for CreateDocuments {
    type Output = CreatedDocuments;
    const NAME: &'static str = "create_documents";

    async fn run(self, tx: &mut dyn Tx) -> Result<CreatedDocuments> {
        let used_before = tx.stored_bytes(&self.workspace).await?;
        let adding: u64 = self.documents.iter().map(|d| d.document.size_bytes).sum();
        if used_before + adding > self.quota_bytes {
            return Err(StoreError::QuotaExceeded {
                allowed: self.quota_bytes,
                used: used_before,
                adding,
            });
        }
        let group = match self.group {
            None => None,
            Some(group) => match tx
                .group_named(&self.workspace, &crate::fold_name(&group.name))
                .await?
            {
                Some(existing) => Some(existing),
                None => {
                    tx.insert_group(&self.workspace, &group).await?;
                    Some(group)
                }
            },
        };
        let mut stored = Vec::with_capacity(self.documents.len());
        for mut new in self.documents {
            new.document.group_id = group.as_ref().map(|g| g.group_id.clone());
            tx.insert_document(&self.workspace, &new).await?;
            if let Some(bytes) = &new.bytes {
                tx.put_blob(&self.workspace, &new.document.document_id, bytes)
                    .await?;
            }
            tx.emit(Event::DocumentCreated {
                workspace: self.workspace.clone(),
                document_id: new.document.document_id.clone(),
            });
            if new.document.status != DocumentStatus::Processing {
                tx.emit(Event::DocumentSettled {
                    workspace: self.workspace.clone(),
                    document_id: new.document.document_id.clone(),
                    ready: new.document.status == DocumentStatus::Ready,
                });
            }
            stored.push(new.document);
        }
        Ok(CreatedDocuments {
            group,
            documents: stored,
            used_before,
            used_after: used_before + adding,
        })
    }
}

/// Gives a document a new name.
#[derive(Debug, Clone)]
pub struct RenameDocument {
    pub workspace: String,
    pub id: String,
    pub name: String,
    pub now: String,
}

#[async_trait]
impl WriteOp for RenameDocument {
    type Output = StoredDocument;
    const NAME: &'static str = "rename_document";

    async fn run(self, tx: &mut dyn Tx) -> Result<StoredDocument> {
        let Some(mut document) = tx.lock_document(&self.workspace, &self.id).await? else {
            return Err(StoreError::NotFound {
                kind: Kind::Document,
            });
        };
        if document.name == self.name {
            return Ok(document);
        }
        tx.rename_document(&self.workspace, &self.id, &self.name, &self.now)
            .await?;
        document.name = self.name;
        document.updated_at = self.now;
        tx.emit(Event::DocumentUpdated {
            workspace: self.workspace,
            document_id: self.id,
        });
        Ok(document)
    }
}

/// Removes a document with its bytes, text and passages.
#[derive(Debug, Clone)]
pub struct DeleteDocument {
    pub workspace: String,
    pub id: String,
}

#[async_trait]
impl WriteOp for DeleteDocument {
    type Output = ();
    const NAME: &'static str = "delete_document";

    async fn run(self, tx: &mut dyn Tx) -> Result<()> {
        if tx.lock_document(&self.workspace, &self.id).await?.is_none() {
            return Err(StoreError::NotFound {
                kind: Kind::Document,
            });
        }
        let referrers = tx.document_referrers(&self.workspace, &self.id).await?;
        if !referrers.is_empty() {
            return Err(StoreError::NamedBy(
                referrers
                    .into_iter()
                    .map(|(agent_id, i)| {
                        (
                            agent_id,
                            format!("/conversationConfig/agent/prompt/knowledgeBase/{i}"),
                        )
                    })
                    .collect(),
            ));
        }
        tx.delete_document(&self.workspace, &self.id).await?;
        tx.delete_blob(&self.workspace, &self.id).await?;
        tx.emit(Event::DocumentDeleted {
            workspace: self.workspace,
            document_id: self.id,
        });
        Ok(())
    }
}

/// What fetching a URL document gave: its bytes with their type and text, or why it failed.
#[derive(Debug, Clone)]
pub enum FetchOutcome {
    Fetched {
        bytes: bytes::Bytes,
        file_type: String,
        /// The text, or why it could not be had from those bytes.
        text: std::result::Result<Arc<Extracted>, String>,
    },
    Failed(String),
}

/// Stores what a fetch of a `processing` URL document gave (nothing if the document is gone or no
/// longer `processing`); the fetched bytes count against the quota.
#[derive(Debug, Clone)]
pub struct CompleteFetch {
    pub workspace: String,
    pub id: String,
    pub outcome: FetchOutcome,
    pub quota_bytes: u64,
    pub now: String,
}

#[async_trait]
impl WriteOp for CompleteFetch {
    type Output = Option<StoredDocument>;
    const NAME: &'static str = "complete_fetch";

    async fn run(self, tx: &mut dyn Tx) -> Result<Option<StoredDocument>> {
        let Some(mut document) = tx.lock_document(&self.workspace, &self.id).await? else {
            return Ok(None);
        };
        if document.status != DocumentStatus::Processing {
            return Ok(None);
        }
        let used = tx.stored_bytes(&self.workspace).await? - document.size_bytes;
        let outcome = match self.outcome {
            FetchOutcome::Fetched { bytes, .. } if used + bytes.len() as u64 > self.quota_bytes => {
                FetchOutcome::Failed(format!(
                    "the page's {} bytes would pass the workspace's quota of {} MiB",
                    bytes.len(),
                    self.quota_bytes >> 20
                ))
            }
            other => other,
        };
        document.updated_at = self.now;
        match outcome {
            FetchOutcome::Fetched {
                bytes,
                file_type,
                text,
            } => {
                tx.delete_blob(&self.workspace, &self.id).await?;
                document.size_bytes = bytes.len() as u64;
                tx.put_blob(&self.workspace, &self.id, &Blob::Memory(bytes))
                    .await?;
                document.file_type = Some(file_type);
                match text {
                    Ok(extracted) => {
                        document.status = DocumentStatus::Ready;
                        document.status_message = None;
                        document.text_chars = extracted.text.chars().count() as u64;
                        tx.replace_text(&self.workspace, &self.id, Some(&extracted))
                            .await?;
                    }
                    Err(why) => {
                        document.status = DocumentStatus::Failed;
                        document.status_message = Some(why);
                        document.text_chars = 0;
                        tx.replace_text(&self.workspace, &self.id, None).await?;
                    }
                }
            }
            // What an earlier fetch got (a refresh that failed) is kept: its bytes can still be
            // read, though the document, `failed`, is not searched.
            FetchOutcome::Failed(why) => {
                document.status = DocumentStatus::Failed;
                document.status_message = Some(why);
                document.text_chars = 0;
            }
        }
        tx.update_document(&self.workspace, &document).await?;
        tx.emit(Event::DocumentSettled {
            workspace: self.workspace.clone(),
            document_id: self.id.clone(),
            ready: document.status == DocumentStatus::Ready,
        });
        tx.emit(Event::DocumentUpdated {
            workspace: self.workspace,
            document_id: self.id,
        });
        Ok(Some(document))
    }
}

/// Sets a URL document `processing` again, to be fetched anew; refused for a file document and
/// while a fetch is under way.
#[derive(Debug, Clone)]
pub struct StartRefresh {
    pub workspace: String,
    pub id: String,
    pub now: String,
}

#[async_trait]
impl WriteOp for StartRefresh {
    type Output = StoredDocument;
    const NAME: &'static str = "start_refresh";

    async fn run(self, tx: &mut dyn Tx) -> Result<StoredDocument> {
        let Some(mut document) = tx.lock_document(&self.workspace, &self.id).await? else {
            return Err(StoreError::NotFound {
                kind: Kind::Document,
            });
        };
        if document.kind != DocumentKind::Url {
            return Err(StoreError::Conflict(
                "a file document has no URL to fetch again".into(),
            ));
        }
        if document.status == DocumentStatus::Processing {
            return Err(StoreError::Conflict(
                "the document is being fetched already".into(),
            ));
        }
        document.status = DocumentStatus::Processing;
        document.status_message = None;
        document.text_chars = 0;
        document.updated_at = self.now;
        tx.update_document(&self.workspace, &document).await?;
        tx.emit(Event::DocumentUpdated {
            workspace: self.workspace,
            document_id: self.id,
        });
        Ok(document)
    }
}

/// The knowledge-base reads, timed for the storage metric like every other.
impl crate::Store {
    pub async fn get_document(&self, workspace: &str, id: &str) -> Result<Option<StoredDocument>> {
        self.timed("get_document", self.reads().get_document(workspace, id))
            .await
    }

    /// Up to `page_size + 1` documents.
    pub async fn list_documents(
        &self,
        workspace: &str,
        query: &DocumentQuery,
    ) -> Result<Vec<StoredDocument>> {
        self.timed(
            "list_documents",
            self.reads().list_documents(workspace, query),
        )
        .await
    }

    /// Every URL document left `processing` (by a fetch a stop cut short), of every workspace:
    /// (workspace, id, url).
    pub async fn unfetched_documents(&self) -> Result<Vec<(String, String, String)>> {
        self.timed("unfetched_documents", self.reads().unfetched_documents())
            .await
    }

    pub async fn stored_bytes(&self, workspace: &str) -> Result<u64> {
        self.timed("stored_bytes", self.reads().stored_bytes(workspace))
            .await
    }

    pub async fn document_bytes(&self, workspace: &str, id: &str) -> Result<Option<Vec<u8>>> {
        self.timed("document_bytes", self.reads().document_bytes(workspace, id))
            .await
    }

    pub async fn document_text(&self, workspace: &str, id: &str) -> Result<Option<String>> {
        self.timed("document_text", self.reads().document_text(workspace, id))
            .await
    }

    /// Up to `page_size + 1` of the agents that name document `id`.
    pub async fn document_agents(
        &self,
        workspace: &str,
        id: &str,
        after: Option<&str>,
        page_size: u32,
    ) -> Result<Vec<crate::AgentSummary>> {
        self.timed(
            "document_agents",
            self.reads()
                .document_agents(workspace, id, after, page_size),
        )
        .await
    }

    /// Up to `page_size + 1` groups, in the order `query` asks (its filters do not apply).
    pub async fn list_groups(
        &self,
        workspace: &str,
        query: &DocumentQuery,
    ) -> Result<Vec<GroupSummary>> {
        self.timed("list_groups", self.reads().list_groups(workspace, query))
            .await
    }

    pub async fn search(
        &self,
        workspace: &str,
        q: &str,
        documents: Option<&[String]>,
        limit: u32,
    ) -> Result<Vec<Hit>> {
        self.timed(
            "search",
            self.reads().search(workspace, q, documents, limit),
        )
        .await
    }
}

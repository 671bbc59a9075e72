//! The one write path, for every resource on every backend.
//!
//! A write is a [`WriteOp`]: a value with a typed [`WriteOp::Output`] whose [`WriteOp::run`] holds
//! its rules (If-Match, references, revisions, idempotency) once, against the [`Tx`] of whichever
//! backend runs it. [`crate::Store::write`] hands it to the backend (queued on the SQLite writer, or
//! run in a PostgreSQL transaction), times it, bounds its wait, and answers with its output once it
//! has committed.
//!
//! What a write changed is announced as [`Event`]s: [`Tx::emit`] records them inside the
//! transaction (the hook a transactional outbox will write its rows from), and they reach the
//! [`crate::Store::on_commit`] listeners after the commit and before the write is answered, only if
//! it committed (never for a dry run or a write that failed).

use crate::agents::AgentTx;
use crate::conversations::ConversationTx;
use crate::idempotency::IdempotencyTx;
use crate::keys::KeyTx;
use crate::knowledge::{BlobTx, KnowledgeTx};
use crate::opt_outs::OptOutTx;
use crate::phone_numbers::PhoneNumberTx;
use crate::webhooks::outbox::{self, OutboxSettings};
use crate::webhooks::WebhookTx;
use crate::{Result, StoreError, StoredAgent};
use async_trait::async_trait;
use dialplane_core::{AgentId, ConversationId, EndpointId};
use std::sync::{Arc, RwLock};
use tokio::sync::oneshot;

/// One transactional write.
#[async_trait]
pub trait WriteOp: Clone + Send + Sync + 'static {
    /// What the write answers once it has committed.
    type Output: Send + 'static;

    /// The operation's name, for the storage metric.
    const NAME: &'static str;

    /// Whether it is run, answered, and rolled back (`?dryRun=true`).
    fn dry_run(&self) -> bool {
        false
    }

    /// Works out what it can before it reaches the transaction, from what the backend knows already
    /// (the SQLite writer's recent agents). The transaction must check it still holds.
    fn prepare(&mut self, _beforehand: &dyn Beforehand) {}

    /// Runs inside one transaction. It may run more than once (PostgreSQL retries a transaction that
    /// lost a deadlock), each time on a fresh clone.
    async fn run(self, tx: &mut dyn Tx) -> Result<Self::Output>;
}

/// Everything a write's transaction can do: the statements of each resource, and events.
pub trait Tx:
    AgentTx
    + KeyTx
    + IdempotencyTx
    + KnowledgeTx
    + BlobTx
    + OptOutTx
    + PhoneNumberTx
    + ConversationTx
    + WebhookTx
    + Send
{
    /// Records that the write changed something; announced if and when it commits.
    fn emit(&mut self, event: Event);
    /// What the running write has emitted so far.
    fn emitted(&self) -> &[Event];
    /// Counts an update worked out beforehand: used as it was (`true`), or worked out again because
    /// the agent had changed meanwhile.
    fn prepared(&mut self, _used: bool) {}
}

/// What a backend knows before a write reaches its transaction.
pub trait Beforehand {
    /// The agent as last committed, with its stored document, if it is known without a query.
    fn committed_agent(&self, workspace: &str, id: AgentId)
        -> Option<(Arc<StoredAgent>, Arc<str>)>;
}

/// A committed change: what a cache must forget, what a webhook announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    AgentCreated {
        workspace: String,
        agent_id: AgentId,
        version: u64,
    },
    AgentUpdated {
        workspace: String,
        agent_id: AgentId,
        version: u64,
        changed_paths: Vec<String>,
    },
    AgentDeleted {
        workspace: String,
        agent_id: AgentId,
        /// The version it had.
        version: u64,
    },
    /// An API key was created or revoked.
    KeysChanged,
    DocumentCreated {
        workspace: String,
        document_id: String,
    },
    DocumentUpdated {
        workspace: String,
        document_id: String,
    },
    DocumentDeleted {
        workspace: String,
        document_id: String,
    },
    /// A number was put on or taken off the workspace's opt-out list.
    OptOutsChanged { workspace: String },
    /// A document reached `ready` or `failed` (at upload, after a fetch).
    DocumentSettled {
        workspace: String,
        document_id: String,
        ready: bool,
    },
    /// A conversation was recorded finished, or reached `completed`, `failed` or `cancelled`.
    ConversationCompleted {
        workspace: String,
        conversation_id: ConversationId,
        agent_id: AgentId,
        /// The agent's `platformSettings.callActions.postCallWebhook` (`""`: none).
        post_call_webhook: String,
    },
    /// The analysis of a finished conversation changed.
    ConversationAnalyzed {
        workspace: String,
        conversation_id: ConversationId,
        agent_id: AgentId,
        post_call_webhook: String,
    },
    /// A webhook endpoint was disabled: it answered 410, or failed every attempt for days.
    EndpointDisabled {
        workspace: String,
        endpoint_id: EndpointId,
        reason: String,
    },
    /// Webhook deliveries became due (the outbox stored some, or one is redelivered).
    DeliveriesDue,
}

/// Called with the events of each committed write, before the write is answered.
pub type Listener = Arc<dyn Fn(&[Event]) + Send + Sync>;

/// What a store does with every write's events: the outbox, inside the transaction; the
/// listeners, after the commit.
#[derive(Default)]
pub(crate) struct Hooks {
    listeners: RwLock<Vec<Listener>>,
    outbox: RwLock<OutboxSettings>,
}

impl Hooks {
    pub fn add(&self, listener: Listener) {
        if let Ok(mut all) = self.listeners.write() {
            all.push(listener);
        }
    }

    pub fn set_outbox(&self, settings: OutboxSettings) {
        if let Ok(mut outbox) = self.outbox.write() {
            *outbox = settings;
        }
    }

    fn outbox(&self) -> OutboxSettings {
        self.outbox.read().map(|o| o.clone()).unwrap_or_default()
    }

    fn announce(&self, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        if let Ok(all) = self.listeners.read() {
            for listener in all.iter() {
                listener(events);
            }
        }
    }
}

/// How one run of a job went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ran {
    Ok,
    Failed,
    /// Lost a deadlock or a serialization conflict: worth running again.
    Retry,
}

/// A [`WriteOp`] on its way through a backend, with its typed answer erased: the SQLite writer
/// queues jobs of every kind on one channel.
#[async_trait]
pub(crate) trait Job: Send {
    fn dry_run(&self) -> bool;
    fn prepare(&mut self, beforehand: &dyn Beforehand);
    /// Runs the op in `tx` and keeps its outcome. With `again`, a clone runs, so that the op can run
    /// once more if this run must be retried.
    async fn run(&mut self, tx: &mut dyn Tx, again: bool) -> Ran;
    /// The transaction ended: committed (`Ok`), or rolled back for everyone (`Err`: why). Announces
    /// `events` if it committed and the op stood, then answers.
    fn finish(self: Box<Self>, committed: Result<()>, events: Vec<Event>);
}

pub(crate) struct Queued<W: WriteOp> {
    op: Option<W>,
    outcome: Option<Result<W::Output>>,
    reply: oneshot::Sender<Result<W::Output>>,
    hooks: Arc<Hooks>,
}

impl<W: WriteOp> Queued<W> {
    pub fn new(op: W, hooks: Arc<Hooks>) -> (Box<Self>, oneshot::Receiver<Result<W::Output>>) {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Self {
            op: Some(op),
            outcome: None,
            reply,
            hooks,
        });
        (job, answer)
    }
}

#[async_trait]
impl<W: WriteOp> Job for Queued<W> {
    fn dry_run(&self) -> bool {
        self.op.as_ref().is_some_and(W::dry_run)
    }

    fn prepare(&mut self, beforehand: &dyn Beforehand) {
        if let Some(op) = &mut self.op {
            op.prepare(beforehand);
        }
    }

    async fn run(&mut self, tx: &mut dyn Tx, again: bool) -> Ran {
        let op = if again {
            self.op.clone()
        } else {
            self.op.take()
        };
        let Some(op) = op else {
            self.outcome = Some(Err(StoreError::Internal("a write ran twice".into())));
            return Ran::Failed;
        };
        let dry_run = op.dry_run();
        let mut outcome = op.run(tx).await;
        if outcome.is_ok() && !dry_run && !tx.emitted().is_empty() {
            // The events it emitted go into the outbox in its own transaction.
            let events = tx.emitted().to_vec();
            if let Err(e) = outbox::record(tx, &events, &self.hooks.outbox()).await {
                outcome = Err(e);
            }
        }
        let ran = match &outcome {
            Ok(_) => Ran::Ok,
            Err(StoreError::Retry(_)) => Ran::Retry,
            Err(_) => Ran::Failed,
        };
        self.outcome = Some(outcome);
        ran
    }

    fn finish(self: Box<Self>, committed: Result<()>, events: Vec<Event>) {
        let outcome = match committed {
            Ok(()) => self
                .outcome
                .unwrap_or_else(|| Err(StoreError::Internal("a write never ran".into()))),
            Err(e) => Err(e),
        };
        if outcome.is_ok() {
            self.hooks.announce(&events);
        }
        // The caller may have gone away (client disconnected); the write stands either way.
        let _ = self.reply.send(outcome);
    }
}

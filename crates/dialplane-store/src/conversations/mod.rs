//! Conversations: the calls voice runtimes record. Each write locks the conversation, applies the
//! lifecycle rules of [`dialplane_core::conversation`] and the agent's settings (read in the same
//! transaction), and stores the record whole, a new revision each time it changes. The statements
//! each backend runs are [`ConversationTx`].

pub(crate) mod reads;

use crate::agents::{IfMatch, Lock};
use crate::opt_outs::OptOut;
use crate::write::{Event, Tx, WriteOp};
use crate::{now, Kind, Result, StoreError};
use async_trait::async_trait;
use dialplane_core::calls::{render_transcript, CallDirection, ConversationStatus, Turn};
use dialplane_core::conversation::{
    apply, create, Changes, Conversation, Recorded, Refusal, Settings,
};
use dialplane_core::{
    AgentId, ConversationId, CreatedBy, Metadata, Pointer, ProblemCode, Problems,
};

pub use reads::{ConversationQuery, ConversationSummary, Cursor};

/// The most turns one conversation holds.
pub const MAX_TURNS: usize = 10_000;

/// A conversation as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredConversation {
    pub recorded: Recorded,
    /// Counts its changes: its ETag.
    pub revision: u64,
    /// The fingerprint of the body that created it, when it has an `externalId` (a retry with the
    /// same body answers it; another body is a conflict).
    pub digest: Option<String>,
}

impl StoredConversation {
    pub fn conversation(&self) -> &Conversation {
        &self.recorded.conversation
    }
}

/// The conversation statements of a write's transaction.
#[async_trait]
pub trait ConversationTx: Send {
    /// The workspace's conversation with this `externalId`.
    async fn find_external(
        &mut self,
        workspace: &str,
        external_id: &str,
    ) -> Result<Option<StoredConversation>>;
    /// Stores a new conversation: `false` (and nothing stored) if its `externalId` is taken.
    async fn insert_conversation(
        &mut self,
        workspace: &str,
        conversation: &StoredConversation,
    ) -> Result<bool>;
    /// The conversation, locked against concurrent writers until the transaction ends.
    async fn lock_conversation(
        &mut self,
        workspace: &str,
        id: ConversationId,
    ) -> Result<Option<StoredConversation>>;
    async fn update_conversation(
        &mut self,
        workspace: &str,
        conversation: &StoredConversation,
    ) -> Result<()>;
    /// Erases it: whether there was one.
    async fn delete_conversation(&mut self, workspace: &str, id: ConversationId) -> Result<bool>;
    /// Erases up to `limit` conversations of any workspace that started before `before` (Unix
    /// seconds), skipping any another transaction holds: how many.
    async fn purge_conversations(&mut self, before: i64, limit: u32) -> Result<u64>;
}

/// What a write of a conversation answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub stored: StoredConversation,
    /// Whether this write created it (a `POST` answered 201, not 200).
    pub created: bool,
    /// The fields the agent's settings kept out of it (JSON Pointers).
    pub dropped: Vec<&'static str>,
}

/// Records a new conversation; with an `externalId` recorded already, answers that one if the body
/// is the same as the first.
#[derive(Debug, Clone)]
pub struct CreateConversation {
    pub workspace: String,
    pub agent_id: AgentId,
    pub agent_version: Option<u64>,
    pub direction: CallDirection,
    pub external_id: Option<String>,
    /// The turns it is recorded with (in any order: kept in order of `startMs`).
    pub turns: Vec<Turn>,
    /// Everything else of the body (`status` default `in_progress`, `startTimeUnix` default now).
    pub changes: Changes,
    /// The fingerprint of the body.
    pub digest: String,
    pub user: CreatedBy,
}

#[async_trait]
impl WriteOp for CreateConversation {
    type Output = Written;
    const NAME: &'static str = "create_conversation";

    async fn run(mut self, tx: &mut dyn Tx) -> Result<Written> {
        let agent = tx
            .lock_agent(&self.workspace, self.agent_id, Lock::Share)
            .await?;
        let Some(agent) = agent else {
            return Err(invalid(
                "agentId",
                ProblemCode::NotFound,
                format!("no agent {} in this workspace", self.agent_id),
            ));
        };
        let settings = Settings::of(&agent.agent);
        let webhook = post_call_webhook(Some(&agent));
        // Every problem of the body at once: its data, its version, its times.
        let mut problems = settings.check(&self.changes);
        let version = self.agent_version.unwrap_or(agent.revision);
        if version == 0 || version > agent.revision {
            problems.push(
                &Pointer::root().key("agentVersion"),
                ProblemCode::NotFound,
                format!(
                    "the agent never had version {version} (its versions are 1..={})",
                    agent.revision
                ),
            );
        }
        let dropped = settings.enforce(&mut self.changes);
        let at = now();
        self.changes
            .status
            .get_or_insert(ConversationStatus::InProgress);
        let start = *self.changes.start_time_unix.get_or_insert_with(unix_now);
        let mut blank = Recorded {
            conversation: blank(&self, &agent.agent.spec.name, version, start, &at),
            transcript_sent: false,
        };
        let c = &mut blank.conversation;
        c.turns = std::mem::take(&mut self.turns);
        c.turns.sort_by_key(|t| t.start_ms);
        c.transcript = render_transcript(&c.turns);
        // Created in any status (the blank is `scheduled`, and no move is checked).
        let recorded = match create(&blank, &self.changes, &at, unix_now()) {
            Ok(recorded) => recorded.unwrap_or(blank),
            Err(Refusal::Invalid(more)) => {
                problems.extend(more);
                blank
            }
            Err(refusal) => return Err(refused(refusal)),
        };
        if let Some(external) = &self.external_id {
            if let Some(existing) = tx.find_external(&self.workspace, external).await? {
                // A retry of the body recorded answers its record, even where a default that
                // moves with the clock (the start: now) would now fail a check it passed then.
                if problems.is_empty() || existing.digest.as_deref() == Some(&self.digest) {
                    return again(existing, &self.digest, dropped);
                }
            }
        }
        if !problems.is_empty() {
            return Err(StoreError::Invalid(problems));
        }
        let stored = StoredConversation {
            recorded,
            revision: 1,
            digest: self.external_id.as_ref().map(|_| self.digest.clone()),
        };
        if !tx.insert_conversation(&self.workspace, &stored).await? {
            // Another request recorded the same `externalId` meanwhile.
            let external = self.external_id.as_deref().unwrap_or_default();
            let existing = tx.find_external(&self.workspace, external).await?;
            let existing = existing.ok_or_else(|| StoreError::Retry("externalId".into()))?;
            return again(existing, &self.digest, dropped);
        }
        recorded_effects(
            tx,
            &self.workspace,
            &settings,
            webhook,
            None,
            &stored,
            &self.user,
        )
        .await?;
        Ok(Written {
            stored,
            created: true,
            dropped,
        })
    }
}

fn blank(
    create: &CreateConversation,
    agent_name: &str,
    agent_version: u64,
    start: i64,
    at: &str,
) -> Conversation {
    Conversation {
        conversation_id: ConversationId::generate(),
        agent_id: create.agent_id,
        agent_name: agent_name.to_owned(),
        agent_version,
        status: ConversationStatus::Scheduled,
        direction: create.direction,
        conversation_duration: None,
        start_time_unix: start,
        end_time_unix: None,
        summary: String::new(),
        transcript: String::new(),
        contact_number: None,
        caller_number: None,
        sentiment: None,
        key_moments: Vec::new(),
        appointment_scheduled: Default::default(),
        data_collected: Default::default(),
        voice_mail_detected: false,
        error_message: None,
        call_transferred: false,
        recording_url: None,
        opted_out: false,
        external_id: create.external_id.clone(),
        turns: Vec::new(),
        metadata: Metadata {
            created_at: at.to_owned(),
            updated_at: at.to_owned(),
            created_by: create.user.clone(),
        },
    }
}

/// The answer to a `POST` whose `externalId` is recorded already.
fn again(
    existing: StoredConversation,
    digest: &str,
    dropped: Vec<&'static str>,
) -> Result<Written> {
    if existing.digest.as_deref() != Some(digest) {
        return Err(StoreError::Conflict(format!(
            "externalId {:?} is recorded already, with another body: conversation {}",
            existing
                .conversation()
                .external_id
                .as_deref()
                .unwrap_or_default(),
            existing.conversation().conversation_id
        )));
    }
    Ok(Written {
        stored: existing,
        created: false,
        dropped,
    })
}

/// Changes a conversation (a merge patch) under the lifecycle rules.
#[derive(Debug, Clone)]
pub struct UpdateConversation {
    pub workspace: String,
    pub id: ConversationId,
    pub if_match: Option<IfMatch>,
    pub changes: Changes,
    pub user: CreatedBy,
}

#[async_trait]
impl WriteOp for UpdateConversation {
    type Output = Written;
    const NAME: &'static str = "update_conversation";

    async fn run(mut self, tx: &mut dyn Tx) -> Result<Written> {
        let current = locked(tx, &self.workspace, self.id, self.if_match.as_ref()).await?;
        let agent_id = current.conversation().agent_id;
        let agent = tx
            .lock_agent(&self.workspace, agent_id, Lock::Share)
            .await?;
        let settings = match &agent {
            Some(agent) => Settings::of(&agent.agent),
            None => Settings::of_deleted_agent(),
        };
        let webhook = post_call_webhook(agent.as_deref());
        let problems = settings.check(&self.changes);
        if !problems.is_empty() {
            return Err(StoreError::Invalid(problems));
        }
        let dropped = settings.enforce(&mut self.changes);
        let next = apply(&current.recorded, &self.changes, &now(), unix_now()).map_err(refused)?;
        let Some(recorded) = next else {
            return Ok(Written {
                stored: current,
                created: false,
                dropped,
            });
        };
        let stored = StoredConversation {
            recorded,
            revision: current.revision + 1,
            digest: current.digest.clone(),
        };
        tx.update_conversation(&self.workspace, &stored).await?;
        recorded_effects(
            tx,
            &self.workspace,
            &settings,
            webhook,
            Some(&current),
            &stored,
            &self.user,
        )
        .await?;
        Ok(Written {
            stored,
            created: false,
            dropped,
        })
    }
}

/// Appends turns to a conversation in progress, kept in order of `startMs`.
#[derive(Debug, Clone)]
pub struct AppendTurns {
    pub workspace: String,
    pub id: ConversationId,
    pub turns: Vec<Turn>,
}

#[async_trait]
impl WriteOp for AppendTurns {
    type Output = StoredConversation;
    const NAME: &'static str = "append_turns";

    async fn run(self, tx: &mut dyn Tx) -> Result<StoredConversation> {
        let current = locked(tx, &self.workspace, self.id, None).await?;
        let status = current.conversation().status;
        if status != ConversationStatus::InProgress {
            use dialplane_core::agent::Choice;
            return Err(StoreError::Conflict(format!(
                "turns are appended only while the call is in_progress, and it is {}",
                status.wire()
            )));
        }
        let held = current.conversation().turns.len();
        if held + self.turns.len() > MAX_TURNS {
            return Err(invalid(
                "turns",
                ProblemCode::TooLong,
                format!(
                    "a conversation holds at most {MAX_TURNS} turns: it has {held}, and {} more would pass that",
                    self.turns.len()
                ),
            ));
        }
        let mut next = current.clone();
        let c = &mut next.recorded.conversation;
        c.turns.extend(self.turns);
        // Stable: turns that start at the same moment stay in the order they came.
        c.turns.sort_by_key(|t| t.start_ms);
        if !next.recorded.transcript_sent {
            c.transcript = render_transcript(&c.turns);
        }
        c.metadata.updated_at = now();
        next.revision += 1;
        tx.update_conversation(&self.workspace, &next).await?;
        Ok(next)
    }
}

/// Erases a conversation (its `externalId` may then be used again).
#[derive(Debug, Clone)]
pub struct DeleteConversation {
    pub workspace: String,
    pub id: ConversationId,
}

#[async_trait]
impl WriteOp for DeleteConversation {
    type Output = ();
    const NAME: &'static str = "delete_conversation";

    async fn run(self, tx: &mut dyn Tx) -> Result<()> {
        if tx.delete_conversation(&self.workspace, self.id).await? {
            // Its webhook payloads go with it.
            tx.erase_conversation_deliveries(&self.workspace, self.id, crate::webhooks::now_ms())
                .await?;
            Ok(())
        } else {
            Err(not_found())
        }
    }
}

/// Erases a batch of conversations past retention (every workspace's): how many it erased.
#[derive(Debug, Clone)]
pub struct PurgeConversations {
    /// Unix seconds: conversations that started before this go.
    pub started_before: i64,
    /// At most this many in one transaction.
    pub limit: u32,
}

#[async_trait]
impl WriteOp for PurgeConversations {
    type Output = u64;
    const NAME: &'static str = "purge_conversations";

    async fn run(self, tx: &mut dyn Tx) -> Result<u64> {
        tx.purge_conversations(self.started_before, self.limit)
            .await
    }
}

/// The agent's `postCallWebhook` (`""` for none, or a deleted agent).
fn post_call_webhook(agent: Option<&crate::StoredAgent>) -> String {
    agent.map_or_else(String::new, |a| {
        a.agent
            .spec
            .platform_settings
            .call_actions
            .post_call_webhook
            .clone()
    })
}

fn not_found() -> StoreError {
    StoreError::NotFound {
        kind: Kind::Conversation,
    }
}

/// The conversation, locked; `If-Match` checked.
async fn locked(
    tx: &mut dyn Tx,
    workspace: &str,
    id: ConversationId,
    if_match: Option<&IfMatch>,
) -> Result<StoredConversation> {
    let current = tx
        .lock_conversation(workspace, id)
        .await?
        .ok_or_else(not_found)?;
    if if_match.is_some_and(|m| !m.matches(current.revision)) {
        return Err(StoreError::PreconditionFailed {
            kind: Kind::Conversation,
        });
    }
    Ok(current)
}

/// What recording `after` (over `before`) sets off: the caller's opt-out, and the events.
async fn recorded_effects(
    tx: &mut dyn Tx,
    workspace: &str,
    settings: &Settings,
    post_call_webhook: String,
    before: Option<&StoredConversation>,
    after: &StoredConversation,
    user: &CreatedBy,
) -> Result<()> {
    let c = after.conversation();
    if let Some(number) = settings.opt_out(c) {
        let entry = OptOut {
            number: number.to_owned(),
            reason: format!(
                "smartOptOut: the caller opted out on conversation {}",
                c.conversation_id
            ),
            created_at: now(),
            created_by: user.clone(),
        };
        if tx.add_opt_out(workspace, &entry).await?.1 {
            tx.emit(Event::OptOutsChanged {
                workspace: workspace.to_owned(),
            });
        }
    }
    let was_finished = before.is_some_and(|b| b.conversation().status.is_finished());
    if c.status.is_finished() {
        let (workspace, conversation_id, agent_id) =
            (workspace.to_owned(), c.conversation_id, c.agent_id);
        tx.emit(if was_finished {
            Event::ConversationAnalyzed {
                workspace,
                conversation_id,
                agent_id,
                post_call_webhook,
            }
        } else {
            Event::ConversationCompleted {
                workspace,
                conversation_id,
                agent_id,
                post_call_webhook,
            }
        });
    }
    Ok(())
}

fn refused(refusal: Refusal) -> StoreError {
    match refusal {
        Refusal::Invalid(problems) => StoreError::Invalid(problems),
        Refusal::Conflict(why) => StoreError::Conflict(why),
    }
}

/// A `validation_error` of one problem at `/key`.
fn invalid(key: &str, code: ProblemCode, why: String) -> StoreError {
    let mut problems = Problems::new();
    problems.push(&Pointer::root().key(key), code, why);
    StoreError::Invalid(problems)
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A conversation's columns, as both backends write them.
pub(crate) struct Columns<'a> {
    pub id: String,
    pub agent_id: String,
    pub direction: &'static str,
    pub status: &'static str,
    pub conversation: &'a Conversation,
    pub revision: i64,
    pub transcript_sent: bool,
    pub digest: Option<&'a str>,
    pub document: String,
}

impl<'a> Columns<'a> {
    pub fn of(stored: &'a StoredConversation) -> Result<Self> {
        use dialplane_core::agent::Choice;
        let c = stored.conversation();
        Ok(Self {
            id: c.conversation_id.to_string(),
            agent_id: c.agent_id.to_string(),
            direction: c.direction.wire(),
            status: c.status.wire(),
            conversation: c,
            revision: i64::try_from(stored.revision).unwrap_or(i64::MAX),
            transcript_sent: stored.recorded.transcript_sent,
            digest: stored.digest.as_deref(),
            document: reads::encode(c)?,
        })
    }
}

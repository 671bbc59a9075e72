//! [`Store`]: what the HTTP layer and the CLI hold. Every call goes through here once, whatever the
//! resource: it is timed for the storage metric, bounded by the backend's answer deadline, and a
//! write's committed events reach the listeners before the write is answered.

use crate::reads::Reads;
use crate::write::{Hooks, Job, Listener, Queued, WriteOp};
use crate::{Result, StoreError, WriteBatching};
use async_trait::async_trait;
use std::future::Future;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

/// Told how long each storage call took, and whether it succeeded (the storage latency metric).
pub trait Observer: Send + Sync {
    fn observe(&self, operation: &'static str, elapsed: Duration, ok: bool);
}

/// A database, as every caller sees it: cheap to clone, one per process.
#[derive(Clone)]
pub struct Store(Arc<Shared>);

struct Shared {
    backend: Box<dyn Backend>,
    hooks: Arc<Hooks>,
    /// Held weakly: the observer (the metrics) may hold the store.
    observer: RwLock<Option<Weak<dyn Observer>>>,
    /// See [`Backend::answer_deadline`].
    deadline: Option<Duration>,
}

/// What each database does: run jobs in its transactions, and the reads.
#[async_trait]
pub(crate) trait Backend: Send + Sync + 'static {
    /// Takes `job` to run it in a transaction of its own (SQLite: queued on the writer; PostgreSQL:
    /// on a task of its own). The job runs to its end and answers through itself, whether or not
    /// anyone still waits; `Err` if it could not be taken (nothing ran).
    async fn submit(&self, job: Box<dyn Job>) -> Result<()>;
    async fn ready(&self) -> Result<()>;
    /// Finishes pending writes and closes the database.
    async fn close(&self);
    /// See [`Store::write_batching`].
    fn write_batching(&self) -> Option<WriteBatching> {
        None
    }
    /// How long a caller should wait for any one call before giving it up as unavailable, where the
    /// database can fall silent without an error: over a network partition no answer and no reset
    /// ever comes, and the database's own timeouts cannot fire for statements it never received.
    /// `None` where every wait is bounded already (SQLite).
    fn answer_deadline(&self) -> Option<Duration> {
        None
    }

    /// The pool that reads use.
    fn reads(&self) -> &Reads;

    /// Tells `listener` of the changes other instances commit, if other instances can write to
    /// this database (`false`: none can, and nothing is started).
    fn watch_others(&self, _listener: crate::OthersListener) -> bool {
        false
    }
}

impl Store {
    pub(crate) fn new(backend: impl Backend) -> Self {
        Self(Arc::new(Shared {
            deadline: backend.answer_deadline(),
            backend: Box::new(backend),
            hooks: Arc::default(),
            observer: RwLock::new(None),
        }))
    }

    /// Calls `listener` with the events of every write that commits from now on, after its commit
    /// and before it is answered.
    pub fn on_commit(&self, listener: Listener) {
        self.0.hooks.add(listener);
    }

    /// What the webhook outbox needs of the server: how many attempts a delivery gets, how a
    /// document is rendered.
    pub fn set_outbox(&self, settings: crate::webhooks::outbox::OutboxSettings) {
        self.0.hooks.set_outbox(settings);
    }

    /// Tells `listener` when another instance commits a change of agents, documents or opt-outs
    /// (PostgreSQL: `NOTIFY`, sent in the change's transaction); `false` if no other instance can
    /// write to this database (SQLite), and then it is never called.
    pub fn watch_other_instances(&self, listener: crate::OthersListener) -> bool {
        self.backend().watch_others(listener)
    }

    /// Tells `observer` how long each call takes from now on, for as long as it lives.
    pub fn observe(&self, observer: &Arc<dyn Observer>) {
        if let Ok(mut slot) = self.0.observer.write() {
            *slot = Some(Arc::downgrade(observer));
        }
    }

    pub(crate) fn backend(&self) -> &dyn Backend {
        self.0.backend.as_ref()
    }

    pub(crate) fn reads(&self) -> &Reads {
        self.0.backend.reads()
    }

    /// Runs `op` in one transaction and answers its output once it has committed (a dry run: once it
    /// has run and been rolled back).
    ///
    /// Past the deadline the caller is answered `Unavailable` and the write goes on: whether it is
    /// stored in the end is unknown, as with any write whose answer was lost. A caller that goes away
    /// does not stop it either: once taken, a write runs to its end, and its events are announced.
    pub async fn write<W: WriteOp>(&self, op: W) -> Result<W::Output> {
        let (job, answer) = Queued::new(op, self.0.hooks.clone());
        self.timed(W::NAME, async {
            self.0.backend.submit(job).await?;
            answer
                .await
                .unwrap_or_else(|_| Err(StoreError::Internal("a write was dropped".into())))
        })
        .await
    }

    /// `work`, timed for the metric and bounded by the backend's deadline.
    pub(crate) async fn timed<T>(
        &self,
        operation: &'static str,
        work: impl Future<Output = Result<T>> + Send,
    ) -> Result<T> {
        let started = Instant::now();
        let result = match self.0.deadline {
            None => work.await,
            Some(deadline) => tokio::time::timeout(deadline, work)
                .await
                .unwrap_or_else(|_| {
                    Err(StoreError::Unavailable(format!(
                        "the database gave no answer within {} ms",
                        deadline.as_millis()
                    )))
                }),
        };
        let observer = self
            .0
            .observer
            .read()
            .ok()
            .and_then(|o| o.as_ref()?.upgrade());
        if let Some(observer) = observer {
            observer.observe(operation, started.elapsed(), result.is_ok());
        }
        result
    }

    /// Whether the database answers.
    pub async fn ready(&self) -> Result<()> {
        self.timed("ready", self.backend().ready()).await
    }

    /// The newest migration applied to the database, and how many are.
    pub async fn schema_version(&self) -> Result<(i64, i64)> {
        let sql = "SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT), CAST(COUNT(*) AS BIGINT)
                   FROM _sqlx_migrations WHERE success";
        let reads = self.reads();
        let version: (i64, i64) =
            crate::reads::on_pool!(reads, |pool| { sqlx::query_as(sql).fetch_one(pool).await? });
        Ok(version)
    }

    /// Finishes pending writes and closes the database.
    pub async fn close(&self) {
        self.backend().close().await;
    }

    /// How this process's writes were grouped into commits, where one writer groups them (SQLite);
    /// `None` where every write commits on its own (PostgreSQL).
    pub fn write_batching(&self) -> Option<WriteBatching> {
        self.backend().write_batching()
    }
}

//! A [`Store`] that times every operation of the store it wraps, for the storage latency metric, and
//! tells the read cache about every write, so that no cached answer outlives the write that changed it.

use crate::cache::ReadCache;
use crate::metrics::{Metrics, StorageLabels};
use async_trait::async_trait;
use dialplane_core::{Agent, AgentId, KeyHash, KeyId};
use dialplane_store::{
    Change, Created, Idempotency, IfMatch, KeyRecord, ListQuery, NewKey, Page, Principal, Result,
    Store, StoreError, StoredAgent, Transform, Updated, VersionPage, WriteBatching,
};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

pub struct MeteredStore {
    inner: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    cache: Arc<ReadCache>,
    /// [`Store::answer_deadline`] of `inner`.
    deadline: Option<Duration>,
}

impl MeteredStore {
    pub fn new(inner: Arc<dyn Store>, metrics: Arc<Metrics>, cache: Arc<ReadCache>) -> Self {
        Self {
            deadline: inner.answer_deadline(),
            inner,
            metrics,
            cache,
        }
    }

    /// `work`'s result, or `Unavailable` once the store's deadline has passed without one.
    async fn within_deadline<T>(&self, work: impl Future<Output = Result<T>> + Send) -> Result<T> {
        match self.deadline {
            None => work.await,
            Some(deadline) => tokio::time::timeout(deadline, work)
                .await
                .unwrap_or_else(|_| {
                    Err(StoreError::Unavailable(format!(
                        "the database gave no answer within {} ms",
                        deadline.as_millis()
                    )))
                }),
        }
    }

    async fn timed<T>(
        &self,
        operation: &'static str,
        work: impl Future<Output = Result<T>> + Send,
    ) -> Result<T> {
        let started = Instant::now();
        let result = self.within_deadline(work).await;
        observe(&self.metrics, operation, started, result.is_ok());
        result
    }

    /// Runs a write of agent `id`, then forgets the agent's cached answer, even if the caller goes
    /// away halfway.
    ///
    /// hyper drops a request's handler when its client hangs up, but a write already handed to the
    /// store still happens. If the caller's future is dropped before the write's end, the rest of it
    /// goes on on a task of its own ([`RunsToTheEnd`]), so the cache forgets the agent after the
    /// write whether or not anyone still waits for the answer: a cached answer never outlives the
    /// write that made it stale.
    async fn write_to_the_end<T: Send + 'static>(
        &self,
        operation: &'static str,
        workspace: &str,
        id: AgentId,
        write: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let (metrics, cache) = (self.metrics.clone(), self.cache.clone());
        let workspace = workspace.to_owned();
        // Past the deadline the caller is answered 503 and the write goes on on its own: whether it
        // is stored in the end is unknown, as with any write whose answer was lost.
        self.within_deadline(RunsToTheEnd::new(async move {
            let started = Instant::now();
            let result = write.await;
            observe(&metrics, operation, started, result.is_ok());
            cache.forget_agent(&workspace, id);
            result
        }))
        .await
    }
}

/// A future that, dropped before it is done, finishes on a task of its own (its output unused).
///
/// Polled to the end, it runs where it is awaited, as any future does: a write answered normally
/// pays for no task.
struct RunsToTheEnd<T: Send + 'static> {
    rest: Option<Pin<Box<dyn Future<Output = T> + Send>>>,
}

impl<T: Send + 'static> RunsToTheEnd<T> {
    fn new(future: impl Future<Output = T> + Send + 'static) -> Self {
        Self {
            rest: Some(Box::pin(future)),
        }
    }
}

impl<T: Send + 'static> Future for RunsToTheEnd<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let Some(rest) = self.rest.as_mut() else {
            panic!("RunsToTheEnd polled after it was done");
        };
        let output = ready!(rest.as_mut().poll(cx));
        self.rest = None;
        Poll::Ready(output)
    }
}

impl<T: Send + 'static> Drop for RunsToTheEnd<T> {
    fn drop(&mut self) {
        if let (Some(rest), Ok(runtime)) = (self.rest.take(), tokio::runtime::Handle::try_current())
        {
            runtime.spawn(rest);
        }
    }
}

fn observe(metrics: &Metrics, operation: &'static str, started: Instant, ok: bool) {
    let outcome = if ok { "ok" } else { "error" };
    metrics
        .storage_seconds
        .get_or_create(&StorageLabels { operation, outcome })
        .observe(started.elapsed().as_secs_f64());
}

#[async_trait]
impl Store for MeteredStore {
    async fn ready(&self) -> Result<()> {
        self.timed("ready", self.inner.ready()).await
    }

    async fn authenticate(&self, hash: &KeyHash) -> Result<Option<Principal>> {
        self.timed("authenticate", self.inner.authenticate(hash))
            .await
    }

    async fn has_keys(&self) -> Result<bool> {
        self.timed("has_keys", self.inner.has_keys()).await
    }

    async fn create_key(&self, key: NewKey) -> Result<KeyRecord> {
        let created = self.timed("create_key", self.inner.create_key(key)).await;
        self.cache.forget_keys();
        created
    }

    async fn create_first_key(&self, key: NewKey) -> Result<Option<KeyRecord>> {
        self.timed("create_first_key", self.inner.create_first_key(key))
            .await
    }

    async fn list_keys(&self) -> Result<Vec<KeyRecord>> {
        self.timed("list_keys", self.inner.list_keys()).await
    }

    async fn revoke_key(&self, key_id: KeyId) -> Result<bool> {
        let revoked = self
            .timed("revoke_key", self.inner.revoke_key(key_id))
            .await;
        self.cache.forget_keys();
        revoked
    }

    async fn get_agent(&self, workspace: &str, id: AgentId) -> Result<Option<StoredAgent>> {
        self.timed("get_agent", self.inner.get_agent(workspace, id))
            .await
    }

    async fn list_agents(&self, workspace: &str, query: &ListQuery) -> Result<Page> {
        self.timed("list_agents", self.inner.list_agents(workspace, query))
            .await
    }

    async fn create_agent(
        &self,
        workspace: &str,
        agent: Agent,
        idempotency: Option<Idempotency>,
        dry_run: bool,
    ) -> Result<Created> {
        self.timed(
            "create_agent",
            self.inner
                .create_agent(workspace, agent, idempotency, dry_run),
        )
        .await
    }

    async fn update_agent(
        &self,
        workspace: &str,
        id: AgentId,
        if_match: Option<IfMatch>,
        change: Change,
        transform: Transform,
    ) -> Result<Updated> {
        let (inner, owned) = (self.inner.clone(), workspace.to_owned());
        let write = async move {
            inner
                .update_agent(&owned, id, if_match, change, transform)
                .await
        };
        self.write_to_the_end("update_agent", workspace, id, write)
            .await
    }

    async fn list_versions(
        &self,
        workspace: &str,
        id: AgentId,
        before: Option<u64>,
        page_size: u32,
    ) -> Result<Option<VersionPage>> {
        self.timed(
            "list_versions",
            self.inner.list_versions(workspace, id, before, page_size),
        )
        .await
    }

    async fn get_version(
        &self,
        workspace: &str,
        id: AgentId,
        version: u64,
    ) -> Result<Option<StoredAgent>> {
        self.timed(
            "get_version",
            self.inner.get_version(workspace, id, version),
        )
        .await
    }

    async fn delete_agent(
        &self,
        workspace: &str,
        id: AgentId,
        if_match: Option<IfMatch>,
        dry_run: bool,
    ) -> Result<()> {
        let (inner, owned) = (self.inner.clone(), workspace.to_owned());
        let write = async move { inner.delete_agent(&owned, id, if_match, dry_run).await };
        self.write_to_the_end("delete_agent", workspace, id, write)
            .await
    }

    async fn purge_idempotency_keys(&self, expired_before: &str) -> Result<u64> {
        self.timed(
            "purge_idempotency_keys",
            self.inner.purge_idempotency_keys(expired_before),
        )
        .await
    }

    async fn idempotent_answer(
        &self,
        workspace: &str,
        idempotency: &Idempotency,
    ) -> Result<Option<StoredAgent>> {
        self.timed(
            "idempotent_answer",
            self.inner.idempotent_answer(workspace, idempotency),
        )
        .await
    }

    async fn close(&self) {
        self.inner.close().await;
    }

    fn write_batching(&self) -> Option<WriteBatching> {
        self.inner.write_batching()
    }
}

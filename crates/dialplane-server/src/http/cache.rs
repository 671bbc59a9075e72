//! The read path's two caches: what an API key resolves to, and the bytes of `GET /agents/{id}`.
//!
//! **Keys** are remembered for a short time (`--key-cache-ms`, 100 ms by default): a key revoked or
//! expired, by this process or any other, stops working within that time. Unknown keys are never
//! remembered, so guessing fills nothing.
//!
//! **Agents** are remembered as the finished answer (body and ETag), bounded in bytes, and only when
//! this process is the only writer of the database (SQLite, guarded by the server lock): every
//! committed write's events reach [`ReadCache::forget`] before the write is answered. A read that raced a write may not keep what it read: a read takes the write sequence
//! number before it loads, stores its answer, then forgets it again if any write finished meanwhile.
//! Since a writer bumps the sequence and then forgets the agent, a stale answer never outlives the
//! write that made it stale.

use axum::body::Bytes;
use axum::http::HeaderValue;
use dialplane_core::{AgentId, KeyHash};
use dialplane_store::Principal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How much the caches may hold.
#[derive(Debug, Clone, Copy)]
pub struct CacheOptions {
    /// How long a resolved key is trusted without asking storage again; zero turns it off.
    pub key_ttl: Duration,
    /// Bytes of agent answers to keep; zero turns the agent cache off.
    pub agent_bytes: u64,
    /// Runtime configurations to keep as finished answers; zero keeps none.
    pub runtime_configs: usize,
    /// Where other instances write too: check every remembered runtime configuration against the
    /// database before serving it, rather than trust their change notifications.
    pub strict_runtime_config: bool,
}

impl Default for CacheOptions {
    fn default() -> Self {
        Self {
            key_ttl: Duration::from_millis(100),
            agent_bytes: 0,
            runtime_configs: 10_000,
            strict_runtime_config: false,
        }
    }
}

/// A finished `GET /agents/{id}` answer.
#[derive(Debug)]
pub struct CachedAgent {
    pub etag: HeaderValue,
    pub body: Bytes,
}

#[derive(Clone)]
struct ByLength;

impl quick_cache::Weighter<(Arc<str>, AgentId), Arc<CachedAgent>> for ByLength {
    fn weight(&self, _: &(Arc<str>, AgentId), agent: &Arc<CachedAgent>) -> u64 {
        agent.body.len() as u64 + 64
    }
}

type AgentMap = quick_cache::sync::Cache<(Arc<str>, AgentId), Arc<CachedAgent>, ByLength>;

/// Keys resolve to at most this many remembered principals.
const KEY_ENTRIES: usize = 10_000;

pub struct ReadCache {
    key_ttl: Duration,
    keys: Option<quick_cache::sync::Cache<KeyHash, (Principal, Instant)>>,
    agents: Option<AgentMap>,
    /// Bumped after every agent write, before the agent is forgotten.
    writes: AtomicU64,
}

impl ReadCache {
    pub fn new(options: CacheOptions) -> Self {
        Self {
            key_ttl: options.key_ttl,
            keys: (!options.key_ttl.is_zero()).then(|| quick_cache::sync::Cache::new(KEY_ENTRIES)),
            agents: (options.agent_bytes > 0).then(|| {
                let estimated = (options.agent_bytes / 4096).max(16) as usize;
                AgentMap::with_weighter(estimated, options.agent_bytes, ByLength)
            }),
            writes: AtomicU64::new(0),
        }
    }

    /// A nothing-cached cache.
    pub fn off() -> Self {
        Self::new(CacheOptions {
            key_ttl: Duration::ZERO,
            agent_bytes: 0,
            runtime_configs: 0,
            strict_runtime_config: false,
        })
    }

    /// The principal `hash` resolved to less than the key TTL ago.
    pub fn principal(&self, hash: &KeyHash) -> Option<Principal> {
        let (principal, at) = self.keys.as_ref()?.get(hash)?;
        (at.elapsed() < self.key_ttl).then_some(principal)
    }

    pub fn remember_principal(&self, hash: KeyHash, principal: &Principal) {
        if let Some(keys) = &self.keys {
            keys.insert(hash, (principal.clone(), Instant::now()));
        }
    }

    /// Forgets every key: one was created or revoked here.
    pub fn forget_keys(&self) {
        if let Some(keys) = &self.keys {
            keys.clear();
        }
    }

    pub fn caches_agents(&self) -> bool {
        self.agents.is_some()
    }

    /// The remembered answer for agent `id` of `workspace`.
    pub fn agent(&self, workspace: &str, id: AgentId) -> Option<Arc<CachedAgent>> {
        self.agents.as_ref()?.get(&(Arc::from(workspace), id))
    }

    /// Where writes stand: take it before loading an agent, give it to [`Self::remember_agent`].
    pub fn write_sequence(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    /// Remembers an answer loaded after `sequence` was taken, unless a write finished since.
    pub fn remember_agent(
        &self,
        workspace: &str,
        id: AgentId,
        sequence: u64,
        agent: Arc<CachedAgent>,
    ) {
        let Some(agents) = &self.agents else { return };
        let key = (Arc::<str>::from(workspace), id);
        agents.insert(key.clone(), agent);
        if self.writes.load(Ordering::SeqCst) != sequence {
            agents.remove(&key);
        }
    }

    /// Forgets what the committed changes `events` made stale.
    pub fn forget(&self, events: &[dialplane_store::Event]) {
        use dialplane_store::Event;
        for event in events {
            match event {
                Event::AgentCreated {
                    workspace,
                    agent_id,
                    ..
                }
                | Event::AgentUpdated {
                    workspace,
                    agent_id,
                    ..
                }
                | Event::AgentDeleted {
                    workspace,
                    agent_id,
                    ..
                } => self.forget_agent(workspace, *agent_id),
                Event::KeysChanged => self.forget_keys(),
                // No answer about a document is cached.
                Event::DocumentCreated { .. }
                | Event::DocumentUpdated { .. }
                | Event::DocumentDeleted { .. }
                | Event::ConversationCompleted { .. }
                | Event::DocumentSettled { .. }
                | Event::ConversationAnalyzed { .. }
                | Event::OptOutsChanged { .. }
                | Event::EndpointDisabled { .. }
                | Event::DeliveriesDue => {}
            }
        }
    }

    /// Called after every committed write of agent `id`, before it is answered.
    pub fn forget_agent(&self, workspace: &str, id: AgentId) {
        let Some(agents) = &self.agents else { return };
        self.writes.fetch_add(1, Ordering::SeqCst);
        agents.remove(&(Arc::<str>::from(workspace), id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dialplane_core::{CreatedBy, KeyId, Scope};

    fn answer(text: &str) -> Arc<CachedAgent> {
        Arc::new(CachedAgent {
            etag: HeaderValue::from_static("\"1\""),
            body: Bytes::from(text.to_owned()),
        })
    }

    fn agents() -> ReadCache {
        ReadCache::new(CacheOptions {
            key_ttl: Duration::from_millis(50),
            agent_bytes: 1 << 20,
            runtime_configs: 0,
            strict_runtime_config: false,
        })
    }

    #[test]
    fn an_answer_loaded_before_a_write_finished_is_not_kept() {
        let cache = agents();
        let id = AgentId::generate();
        let before = cache.write_sequence();
        // A write of any agent finishes while the load is under way.
        cache.forget_agent("w", AgentId::generate());
        cache.remember_agent("w", id, before, answer("old"));
        assert!(cache.agent("w", id).is_none());

        let now = cache.write_sequence();
        cache.remember_agent("w", id, now, answer("new"));
        assert_eq!(cache.agent("w", id).unwrap().body, "new");
        cache.forget_agent("w", id);
        assert!(cache.agent("w", id).is_none(), "a write forgets its agent");
    }

    #[test]
    fn answers_are_per_workspace_and_bounded_in_bytes() {
        let cache = ReadCache::new(CacheOptions {
            key_ttl: Duration::ZERO,
            agent_bytes: 64 * 1024,
            runtime_configs: 0,
            strict_runtime_config: false,
        });
        let id = AgentId::generate();
        cache.remember_agent("a", id, cache.write_sequence(), answer("a's"));
        assert!(cache.agent("b", id).is_none());
        for _ in 0..200 {
            let big = "x".repeat(4096);
            cache.remember_agent(
                "a",
                AgentId::generate(),
                cache.write_sequence(),
                answer(&big),
            );
        }
        assert!(cache.agents.as_ref().unwrap().weight() <= 64 * 1024);
    }

    #[test]
    fn a_key_is_trusted_only_for_its_ttl_and_off_means_off() {
        let cache = agents();
        let hash = dialplane_core::ApiKey::generate().hash();
        let principal = Principal {
            key_id: KeyId::generate(),
            workspace: "w".into(),
            scope: Scope::Read,
            user: CreatedBy {
                user_id: "u".into(),
                user_email: "u@x.io".into(),
            },
        };
        cache.remember_principal(hash, &principal);
        assert_eq!(cache.principal(&hash), Some(principal.clone()));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.principal(&hash), None, "older than the TTL");

        let off = ReadCache::off();
        off.remember_principal(hash, &principal);
        assert_eq!(off.principal(&hash), None);
        assert!(!off.caches_agents());
    }
}

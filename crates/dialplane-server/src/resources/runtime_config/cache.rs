//! Runtime configurations remembered as finished answers (body and ETag).
//!
//! On a database this process alone writes (SQLite), every committed change reaches [`ConfigCache::
//! forget`] before it is answered: an answer is current while no change that could touch a
//! configuration (an agent, a document, the opt-out list) has been made since it was built, which a
//! generation counter tells without asking storage. A build that raced a change is never served,
//! since it carries the generation taken before it began.
//!
//! Where other instances write too (PostgreSQL), their changes reach this process as notifications
//! (`NOTIFY`, sent by each change's transaction and delivered on its commit), which bump the same
//! generation: an answer may then lag a change another instance acknowledged by the time its
//! notification takes to arrive (milliseconds; measured by the benchmarks). While the listening
//! connection is lost (or fell silent: it pings itself), and always with
//! `--strict-runtime-config`, an answer carries the fingerprint of what it was built from (each
//! agent's revision, each document's state, the opt-out) and is served only after one small query
//! finds the same fingerprint in the database: then no instance serves a configuration older than a
//! change acknowledged before the request began.

use crate::AppState;
use axum::body::Bytes;
use axum::http::HeaderValue;
use dialplane_core::AgentId;
use dialplane_store::runtime::ConfigInputs;
use dialplane_store::{Event, OtherInstances};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// What one request asks for: the workspace, the agent, `?version=`, `?to=`, and the `Host` its
/// links are made from (none with `--public-url`). Made on every request: it copies nothing it can
/// take.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConfigKey {
    pub workspace: String,
    pub agent: AgentId,
    pub version: Option<u64>,
    pub to: Option<String>,
    pub host: Option<HeaderValue>,
}

/// A finished answer.
#[derive(Debug)]
pub struct CachedConfig {
    /// The generation when its build began.
    pub generation: u64,
    pub inputs: ConfigInputs,
    /// What it was built from, as [`dialplane_store::Store::config_fingerprint`] writes it.
    pub fingerprint: String,
    pub etag: HeaderValue,
    pub body: Bytes,
}

pub struct ConfigCache {
    /// `None`: nothing is kept.
    entries: Option<quick_cache::sync::Cache<ConfigKey, Arc<CachedConfig>>>,
    /// Bumped by every change that could touch a configuration.
    generation: AtomicU64,
    /// Whether every change reaches this process: it is the only writer, or it hears the others'.
    hears_every_change: AtomicBool,
}

impl ConfigCache {
    pub fn new(entries: usize) -> Self {
        Self {
            entries: (entries > 0).then(|| quick_cache::sync::Cache::new(entries)),
            generation: AtomicU64::new(0),
            hears_every_change: AtomicBool::new(false),
        }
    }

    /// This process is the database's only writer: every change reaches [`Self::forget`].
    pub fn only_writer(&self) {
        self.hears_every_change.store(true, Ordering::SeqCst);
    }

    /// What the other instances' notifications say.
    pub fn other_instances(&self, news: OtherInstances) {
        // Bumped first: an answer built before the news is not served after it.
        self.generation.fetch_add(1, Ordering::SeqCst);
        match news {
            OtherInstances::Listening => self.hears_every_change.store(true, Ordering::SeqCst),
            OtherInstances::Lost => self.hears_every_change.store(false, Ordering::SeqCst),
            OtherInstances::Changed => {}
        }
    }

    /// Where changes stand: take it before a build begins.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub fn remember(&self, key: ConfigKey, config: Arc<CachedConfig>) {
        if let Some(entries) = &self.entries {
            entries.insert(key, config);
        }
    }

    /// The remembered answer for `key`, if it is still current.
    pub async fn current(
        &self,
        state: &AppState,
        key: &ConfigKey,
    ) -> Result<Option<Arc<CachedConfig>>, dialplane_store::StoreError> {
        let Some(cached) = self.entries.as_ref().and_then(|e| e.get(key)) else {
            return Ok(None);
        };
        let current = if self.hears_every_change.load(Ordering::SeqCst) {
            cached.generation == self.generation()
        } else {
            let now = state
                .store
                .config_fingerprint(&key.workspace, &cached.inputs)
                .await?;
            now == cached.fingerprint
        };
        Ok(current.then_some(cached))
    }

    /// Makes every remembered answer stale if `events` could have touched a configuration.
    pub fn forget(&self, events: &[Event]) {
        let touches = events.iter().any(|e| {
            !matches!(
                e,
                Event::KeysChanged
                    | Event::ConversationCompleted { .. }
                    | Event::ConversationAnalyzed { .. }
            )
        });
        if touches {
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
    }
}

//! Who an event fans out to: the enabled endpoints of a workspace and the types they subscribe to.
//!
//! Every write that emits an event asks this inside its transaction, so a store's only writer (the
//! SQLite one) keeps each workspace's answer in memory instead of reading and parsing the endpoints
//! again per write. It can, because every change of an endpoint goes through it too: what it keeps
//! is what is committed, exactly, as [`SubscriptionCache`] explains. Stores that share their
//! database with other instances (PostgreSQL) read them in every transaction.

use dialplane_core::webhooks::EventType;
use dialplane_core::EndpointId;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// An enabled endpoint, as the outbox fans out to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: EndpointId,
    pub url: String,
    pub event_types: Vec<EventType>,
}

/// A workspace's enabled endpoints, in the order of their ids.
pub type Subscriptions = Arc<[Subscription]>;

/// Workspaces kept at most; past it the cache starts over (each is read again when next needed).
const MAX_WORKSPACES: usize = 100_000;

/// The enabled endpoints of each workspace, as committed, kept by the one writer of a database.
///
/// The writer runs a batch of writes in one transaction. What a write of the batch reads is kept
/// only once the batch commits; a workspace whose endpoints a write of the batch changed (even one
/// undone later) is read from the transaction, never from here, until the batch ends, and is
/// forgotten when it commits. A batch that rolls back changed nothing, so what was kept before it
/// still holds.
#[derive(Debug, Default)]
pub struct SubscriptionCache {
    committed: HashMap<String, Subscriptions>,
    /// Read by the running batch, from endpoints it has not changed.
    read: HashMap<String, Subscriptions>,
    /// Workspaces whose endpoints the running batch changed.
    changed: HashSet<String>,
}

impl SubscriptionCache {
    /// The workspace's endpoints, if they are known here.
    pub fn get(&self, workspace: &str) -> Option<Subscriptions> {
        if self.changed.contains(workspace) {
            return None;
        }
        self.committed
            .get(workspace)
            .or_else(|| self.read.get(workspace))
            .cloned()
    }

    /// Remembers what the running batch read of the workspace's endpoints.
    pub fn read(&mut self, workspace: &str, endpoints: Subscriptions) {
        if !self.changed.contains(workspace) {
            self.read.insert(workspace.to_owned(), endpoints);
        }
    }

    /// The running batch wrote an endpoint of the workspace.
    pub fn changed(&mut self, workspace: &str) {
        self.read.remove(workspace);
        self.changed.insert(workspace.to_owned());
    }

    /// The running batch committed (`true`) or rolled back.
    pub fn end_batch(&mut self, committed: bool) {
        if committed {
            for workspace in self.changed.drain() {
                self.committed.remove(&workspace);
            }
            if self.committed.len() + self.read.len() > MAX_WORKSPACES {
                self.committed.clear();
            }
            self.committed.extend(self.read.drain());
        } else {
            self.read.clear();
            self.changed.clear();
        }
    }
}

/// Those of `endpoints` subscribed to `event_type`.
pub fn subscribed(endpoints: &[Subscription], event_type: EventType) -> Vec<Subscription> {
    endpoints
        .iter()
        .filter(|e| e.event_types.contains(&event_type))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints(url: &str) -> Subscriptions {
        Arc::from(vec![Subscription {
            id: EndpointId::generate(),
            url: url.to_owned(),
            event_types: vec![EventType::AgentUpdated],
        }])
    }

    #[test]
    fn what_a_batch_read_is_kept_once_it_commits() {
        let mut cache = SubscriptionCache::default();
        cache.read("w", endpoints("http://a/"));
        assert!(cache.get("w").is_some(), "the batch that read it sees it");
        cache.end_batch(false);
        assert!(
            cache.get("w").is_none(),
            "a rolled back batch keeps nothing"
        );
        cache.read("w", endpoints("http://a/"));
        cache.end_batch(true);
        assert_eq!(cache.get("w").unwrap()[0].url, "http://a/");
    }

    #[test]
    fn a_workspace_whose_endpoints_changed_is_read_again() {
        let mut cache = SubscriptionCache::default();
        cache.read("w", endpoints("http://a/"));
        cache.end_batch(true);
        cache.changed("w");
        assert!(cache.get("w").is_none(), "read from the transaction");
        cache.read("w", endpoints("http://b/"));
        assert!(
            cache.get("w").is_none(),
            "what the batch read after its change is not kept"
        );
        cache.end_batch(true);
        assert!(
            cache.get("w").is_none(),
            "forgotten once the change commits"
        );
    }

    #[test]
    fn a_change_rolled_back_leaves_what_was_committed() {
        let mut cache = SubscriptionCache::default();
        cache.read("w", endpoints("http://a/"));
        cache.end_batch(true);
        cache.changed("w");
        cache.end_batch(false);
        assert_eq!(cache.get("w").unwrap()[0].url, "http://a/");
    }

    #[test]
    fn a_read_before_a_change_in_the_same_batch_is_not_kept() {
        let mut cache = SubscriptionCache::default();
        cache.read("w", endpoints("http://a/"));
        cache.changed("w");
        cache.end_batch(true);
        assert!(cache.get("w").is_none());
    }

    #[test]
    fn subscribed_filters_by_type() {
        let all = endpoints("http://a/");
        assert_eq!(subscribed(&all, EventType::AgentUpdated).len(), 1);
        assert!(subscribed(&all, EventType::AgentDeleted).is_empty());
    }
}

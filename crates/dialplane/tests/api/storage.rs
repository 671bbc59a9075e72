//! One storage story per resource, told to the store directly (no HTTP), on the backend the suite
//! runs on (SQLite, or PostgreSQL with `DIALPLANE_TEST_POSTGRES_URL`): every write, the events its
//! commit announces, and the errors that name their kind.

use crate::support::{minimal_agent, TestDb};
use dialplane_core::{Agent, AgentId, ApiKey, CreatedBy, Metadata, Rules, Scope};
use dialplane_store::{
    Answer, Change, CreateAgent, CreateFirstKey, CreateKey, DeleteAgent, Event, Idempotency,
    Idempotent, IdempotentWrite, IfMatch, Kind, ListQuery, NewKey, PurgeIdempotencyKeys, Recorded,
    RevokeKey, SortBy, SortDirection, Store, StoreError, StoredAgent, Transform, UpdateAgent,
    Updated,
};
use std::sync::{Arc, Mutex};

/// A store on a fresh database, and the events of every write it commits.
async fn store() -> (TestDb, Store, Arc<Mutex<Vec<Event>>>) {
    let db = TestDb::new().await;
    let store = dialplane_store::open(&db.url.parse().unwrap(), &Default::default())
        .await
        .expect("the store opens");
    let events: Arc<Mutex<Vec<Event>>> = Arc::default();
    let seen = events.clone();
    store.on_commit(Arc::new(move |e| seen.lock().unwrap().extend_from_slice(e)));
    (db, store, events)
}

fn taken(events: &Arc<Mutex<Vec<Event>>>) -> Vec<Event> {
    std::mem::take(&mut *events.lock().unwrap())
}

fn agent(name: &str) -> Agent {
    let body = minimal_agent(name);
    let spec =
        dialplane_core::validate::validate_create(body.as_object().unwrap(), &Rules::default())
            .expect("a valid agent");
    let now = dialplane_core::agent::timestamp(chrono::Utc::now());
    Agent {
        agent_id: AgentId::generate(),
        spec,
        phone_numbers: Vec::new(),
        metadata: Metadata {
            created_at: now.clone(),
            updated_at: now,
            created_by: user(),
        },
    }
}

fn user() -> CreatedBy {
    CreatedBy {
        user_id: "u".into(),
        user_email: "u@example.com".into(),
    }
}

fn change(dry_run: bool) -> Change {
    Change {
        actor: user(),
        restored_from: None,
        dry_run,
        max_document_bytes: usize::MAX,
        heavy: false,
    }
}

/// A change that renames the agent to `name`.
fn rename(name: &'static str) -> Transform {
    Arc::new(move |current: &StoredAgent| {
        let mut agent = current.agent.clone();
        agent.spec.name = name.into();
        Ok((agent.spec != current.agent.spec).then_some(agent))
    })
}

async fn create(store: &Store, agent: Agent) -> StoredAgent {
    store
        .write(CreateAgent::new("w", agent, false))
        .await
        .expect("created")
}

fn update(
    id: AgentId,
    if_match: Option<IfMatch>,
    dry_run: bool,
    name: &'static str,
) -> UpdateAgent {
    UpdateAgent::new("w", id, if_match, change(dry_run), rename(name))
}

fn delete(id: AgentId) -> DeleteAgent {
    DeleteAgent {
        workspace: "w".into(),
        id,
        if_match: None,
        dry_run: false,
    }
}

#[tokio::test]
async fn the_agent_story() {
    let (_db, store, events) = store().await;
    let first = create(&store, agent("First")).await;
    let id = first.agent.agent_id;
    assert_eq!(first.revision, 1);
    assert_eq!(
        taken(&events),
        [Event::AgentCreated {
            workspace: "w".into(),
            agent_id: id,
            version: 1
        }]
    );
    assert_eq!(store.get_agent("w", id).await.unwrap(), Some(first.clone()));
    assert_eq!(store.get_agent("other", id).await.unwrap(), None, "tenancy");

    // A change is a new version, announced with the paths it changed.
    let Updated::Changed {
        stored,
        changed_paths,
        ..
    } = store
        .write(update(id, None, false, "Renamed"))
        .await
        .unwrap()
    else {
        panic!("a change");
    };
    assert_eq!(
        (stored.revision, changed_paths.as_slice()),
        (2, ["/name".to_owned()].as_slice())
    );
    assert_eq!(
        taken(&events),
        [Event::AgentUpdated {
            workspace: "w".into(),
            agent_id: id,
            version: 2,
            changed_paths: vec!["/name".into()]
        }]
    );
    // Nothing changed, a dry run, a failed condition: nothing stored, nothing announced.
    let same = store
        .write(update(id, None, false, "Renamed"))
        .await
        .unwrap();
    assert!(matches!(same, Updated::Unchanged(_)), "{same:?}");
    let dry = store.write(update(id, None, true, "Dry")).await.unwrap();
    assert!(matches!(dry, Updated::Changed { .. }), "{dry:?}");
    let stale = store
        .write(update(
            id,
            Some(IfMatch::Revisions(vec![1])),
            false,
            "Stale",
        ))
        .await;
    assert!(
        matches!(
            stale,
            Err(StoreError::PreconditionFailed { kind: Kind::Agent })
        ),
        "{stale:?}"
    );
    assert_eq!(taken(&events), []);
    let now = store.get_agent("w", id).await.unwrap().unwrap();
    assert_eq!((now.agent.spec.name.as_str(), now.revision), ("Renamed", 2));

    // History: every version, the oldest as it was.
    let versions = store
        .list_versions("w", id, None, 10)
        .await
        .unwrap()
        .unwrap();
    let numbers: Vec<u64> = versions.items.iter().map(|v| v.version).collect();
    assert_eq!(numbers, [2, 1]);
    let old = store.get_version("w", id, 1).await.unwrap().unwrap();
    assert_eq!(old.agent.spec.name, "First");

    // A referenced agent cannot be deleted; the error names who refers to it.
    let mut referrer = agent("Referrer");
    referrer
        .spec
        .conversation_config
        .agent
        .prompt
        .built_in_tools
        .transfer_to_agent
        .transfers = vec![dialplane_core::agent::AgentTransfer {
        agent_id: id.to_string(),
        condition: "c".into(),
        ..Default::default()
    }];
    let referrer = create(&store, referrer).await.agent.agent_id;
    taken(&events);
    match store.write(delete(id)).await {
        Err(StoreError::Referenced { kind, by, ids }) => {
            assert_eq!(
                (kind, by, ids),
                (Kind::Agent, Kind::Agent, vec![referrer.to_string()])
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    store.write(delete(referrer)).await.unwrap();
    store.write(delete(id)).await.unwrap();
    assert_eq!(
        taken(&events),
        [
            Event::AgentDeleted {
                workspace: "w".into(),
                agent_id: referrer,
                version: 1,
            },
            Event::AgentDeleted {
                workspace: "w".into(),
                agent_id: id,
                version: 2,
            },
        ]
    );
    assert_eq!(store.get_agent("w", id).await.unwrap(), None);
    let gone = store.write(update(id, None, false, "Gone")).await;
    assert!(
        matches!(gone, Err(StoreError::NotFound { kind: Kind::Agent })),
        "{gone:?}"
    );
    let page = store
        .list_agents(
            "w",
            &ListQuery {
                sort_by: SortBy::CreatedAt,
                sort_direction: SortDirection::Desc,
                page_size: 10,
                after: None,
                search: None,
                tags: Vec::new(),
                direction: None,
            },
        )
        .await
        .unwrap();
    assert!(page.items.is_empty() && !page.has_more);
    store.close().await;
}

fn new_key(workspace: &str) -> (ApiKey, NewKey) {
    let key = ApiKey::generate();
    let new = NewKey {
        hash: key.hash(),
        workspace: workspace.into(),
        scope: Scope::Read,
        user: user(),
        expires_at: None,
    };
    (key, new)
}

#[tokio::test]
async fn the_key_story() {
    let (_db, store, events) = store().await;
    assert!(!store.has_keys().await.unwrap());
    let (first, new) = new_key("w");
    let record = store
        .write(CreateFirstKey(new))
        .await
        .unwrap()
        .expect("the first key");
    let (_, again) = new_key("w");
    assert_eq!(
        store.write(CreateFirstKey(again)).await.unwrap(),
        None,
        "only the first"
    );
    let (second, new) = new_key("x");
    store.write(CreateKey(new)).await.unwrap();
    assert_eq!(store.list_keys().await.unwrap().len(), 2);
    let principal = store.authenticate(&first.hash()).await.unwrap().unwrap();
    assert_eq!(
        (principal.workspace.as_str(), principal.scope),
        ("w", Scope::Read)
    );
    assert!(store.write(RevokeKey(record.key_id)).await.unwrap());
    assert!(
        !store.write(RevokeKey(record.key_id)).await.unwrap(),
        "revoked already"
    );
    assert_eq!(store.authenticate(&first.hash()).await.unwrap(), None);
    assert!(store.authenticate(&second.hash()).await.unwrap().is_some());
    assert_eq!(
        taken(&events),
        vec![Event::KeysChanged; 3],
        "create, create, revoke"
    );
    store.close().await;
}

#[tokio::test]
async fn the_idempotency_story() {
    let (_db, store, events) = store().await;
    let key = |fingerprint: &str| Idempotency {
        key: "k".into(),
        fingerprint: fingerprint.into(),
        expired_before: dialplane_core::agent::timestamp_ago(std::time::Duration::from_secs(3600)),
    };
    // The answer a create is sent as: here its agent's name.
    let answer: Answer<StoredAgent> = Arc::new(|stored: &StoredAgent| Recorded {
        status: 201,
        headers: vec![("x-name".into(), stored.agent.spec.name.clone())],
        body: stored.agent.agent_id.to_string().into_bytes(),
    });
    let write = |fingerprint: &str, name: &str| IdempotentWrite {
        workspace: "w".into(),
        idempotency: key(fingerprint),
        op: CreateAgent::new("w", agent(name), false),
        answer: answer.clone(),
    };
    let Idempotent::Fresh { output: first, .. } = store.write(write("a", "One")).await.unwrap()
    else {
        panic!("a new agent");
    };
    assert_eq!(taken(&events).len(), 1);
    let recorded = Recorded {
        status: 201,
        headers: vec![("x-name".into(), "One".into())],
        body: first.agent.agent_id.to_string().into_bytes(),
    };
    // The same key and body: the first answer, and nothing written.
    assert_eq!(
        store.write(write("a", "Two")).await.unwrap(),
        Idempotent::Replayed(recorded.clone())
    );
    assert_eq!(taken(&events), [], "a replay writes nothing");
    let reused = store.write(write("b", "Three")).await;
    assert!(
        matches!(reused, Err(StoreError::IdempotencyKeyReused)),
        "{reused:?}"
    );
    assert_eq!(
        store.idempotent_answer("w", &key("a")).await.unwrap(),
        Some(recorded)
    );
    assert_eq!(
        store.idempotent_answer("other", &key("a")).await.unwrap(),
        None
    );
    // A write that fails claims nothing: the key is free for the next try.
    let mut broken = agent("Broken");
    broken
        .spec
        .conversation_config
        .agent
        .prompt
        .built_in_tools
        .transfer_to_agent
        .transfers = vec![dialplane_core::agent::AgentTransfer {
        agent_id: AgentId::generate().to_string(),
        condition: "c".into(),
        ..Default::default()
    }];
    let failed = IdempotentWrite {
        idempotency: Idempotency {
            key: "k2".into(),
            ..key("c")
        },
        op: CreateAgent::new("w", broken, false),
        ..write("c", "unused")
    };
    assert!(matches!(
        store.write(failed).await,
        Err(StoreError::Invalid(_))
    ));
    let retry = IdempotentWrite {
        idempotency: Idempotency {
            key: "k2".into(),
            ..key("c")
        },
        ..write("c", "Fixed")
    };
    assert!(matches!(
        store.write(retry).await.unwrap(),
        Idempotent::Fresh { .. }
    ));
    let later = dialplane_core::agent::timestamp_ago(std::time::Duration::ZERO);
    assert_eq!(store.write(PurgeIdempotencyKeys(later)).await.unwrap(), 2);
    assert_eq!(store.idempotent_answer("w", &key("a")).await.unwrap(), None);
    store.close().await;
}

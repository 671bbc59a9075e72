//! The SQLite backend's own tests: group commit, the writer's cache, checkpoints, query plans.

use super::*;
use crate::agents::{
    Change, CreateAgent, DeleteAgent, ListQuery, Prepared, StoredAgent, UpdateAgent, Updated,
};
use crate::{SortBy, SortDirection, Store};
use dialplane_core::{Agent, AgentId, CreatedBy};
use sqlx::Row as _;

/// Updates worked out beside the writer: (used as they were, worked out again).
fn prepared_counts(store: &Store) -> (u64, u64) {
    let b = store.write_batching().unwrap();
    (b.prepared_used, b.prepared_redone)
}

/// A store on a new file `name` in `dir`, and its URL.
async fn open_store(
    dir: &tempfile::TempDir,
    name: &str,
    options: &StoreOptions,
) -> (String, Store) {
    let url = format!("sqlite://{}", dir.path().join(name).display());
    let store = Store::new(SqliteStore::open(&url, options).await.unwrap());
    (url, store)
}

fn agent(name: &str) -> Agent {
    let body = serde_json::json!({"name": name, "conversationConfig": {"agent": {"prompt": {"prompt": "p"}}}});
    let spec = dialplane_core::validate::validate_create(
        body.as_object().unwrap(),
        &dialplane_core::Rules::default(),
    )
    .unwrap();
    let now = dialplane_core::agent::timestamp(chrono::Utc::now());
    Agent {
        agent_id: AgentId::generate(),
        spec,
        phone_numbers: Vec::new(),
        metadata: dialplane_core::Metadata {
            created_at: now.clone(),
            updated_at: now,
            created_by: CreatedBy {
                user_id: "u".into(),
                user_email: "u@example.com".into(),
            },
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_commits_and_a_failing_one_spoils_none() {
    let dir = tempfile::tempdir().unwrap();
    let (_, store) = open_store(&dir, "g.db", &StoreOptions::default()).await;
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for i in 0..64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut a = agent(&format!("a{i}"));
            if i % 8 == 0 {
                // Names an agent that does not exist: refused inside the batch.
                a.spec
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
            }
            store.write(CreateAgent::new("w", a, false)).await
        }));
    }
    let mut ok = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::Invalid(_)) => assert_eq!(i % 8, 0),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(ok, 56);
    let WriteBatching {
        writes, commits, ..
    } = store.write_batching().unwrap();
    assert_eq!(writes, 64);
    assert!(
        commits < writes,
        "{commits} commits for {writes} writes: no batching"
    );
    let page = store
        .list_agents(
            "w",
            &ListQuery {
                sort_by: SortBy::Name,
                sort_direction: SortDirection::Asc,
                page_size: 100,
                after: None,
                search: None,
                tags: Vec::new(),
                direction: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        page.items.len(),
        56,
        "every acknowledged create is stored, no refused one"
    );
    store.close().await;
}

/// A store with default options in `dir`, holding agent `n` of workspace `w`.
async fn store_with_agent_n(
    dir: &tempfile::TempDir,
) -> (Store, Arc<writer::CommittedAgents>, AgentId) {
    let url = format!("sqlite://{}", dir.path().join("n.db").display());
    let sqlite = SqliteStore::open(&url, &StoreOptions::default())
        .await
        .unwrap();
    let committed = sqlite.agents.clone();
    let store = Store::new(sqlite);
    match store.write(CreateAgent::new("w", agent("n"), false)).await {
        Ok(a) => (store, committed, a.agent.agent_id),
        other => panic!("unexpected {other:?}"),
    }
}

/// A change that appends `suffix` to the agent's name.
fn append(suffix: &'static str) -> crate::Transform {
    Arc::new(move |current: &StoredAgent| {
        let mut agent = current.agent.clone();
        agent.spec.name.push_str(suffix);
        Ok(Some(agent))
    })
}

fn change(dry_run: bool) -> Change {
    Change {
        actor: CreatedBy {
            user_id: "u".into(),
            user_email: "u@example.com".into(),
        },
        restored_from: None,
        dry_run,
        max_document_bytes: usize::MAX,
        heavy: false,
    }
}

/// An update is worked out beside the writer on the agent as last committed. The writer uses that
/// work only if the agent is still that revision; otherwise it works the change out again on the
/// agent as it is, and no change is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn updates_worked_out_beside_the_writer_lose_no_change() {
    let dir = tempfile::tempdir().unwrap();
    let (store, committed, id) = store_with_agent_n(&dir).await;
    let name = |updated: Updated| match updated {
        Updated::Changed { stored, .. } => (stored.agent.spec.name, stored.revision),
        other => panic!("unexpected {other:?}"),
    };
    // One at a time, each is worked out on the current revision and used as it is.
    for _ in 0..3 {
        store
            .write(UpdateAgent::new("w", id, None, change(false), append("a")))
            .await
            .unwrap();
    }
    assert_eq!(prepared_counts(&store), (3, 0));
    // Worked out on revision 4, but another change makes revision 5 first.
    let current = committed.get("w", id).expect("the agent is cached");
    assert_eq!(current.agent.revision, 4);
    let prepared = Prepared::work_out(
        &current.agent,
        &current.document,
        &append("x"),
        &change(false),
    );
    assert!(prepared.is_some());
    store
        .write(UpdateAgent::new("w", id, None, change(false), append("y")))
        .await
        .unwrap();
    let late = UpdateAgent {
        prepared: prepared.map(Box::new),
        ..UpdateAgent::new("w", id, None, change(false), append("x"))
    };
    let (late_name, revision) = name(store.write(late).await.unwrap());
    assert_eq!((late_name.as_str(), revision), ("naaayx", 6));
    assert_eq!(prepared_counts(&store), (4, 1), "the stale work was redone");
    // Many at once: most are worked out on a revision that another replaces first.
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .write(UpdateAgent::new("w", id, None, change(false), append("+")))
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let stored = store.get_agent("w", id).await.unwrap().unwrap();
    assert_eq!(stored.agent.spec.name, format!("naaayx{}", "+".repeat(40)));
    assert_eq!(stored.revision, 46);
    let (used, stale) = prepared_counts(&store);
    assert_eq!(used + stale, 45, "every update was worked out beforehand");
    store.close().await;
}

/// Agents stored before the list's columns existed get them from their documents (migration
/// 0004); list pages then read the columns.
#[tokio::test]
async fn the_list_columns_of_agents_stored_before_them_come_from_their_documents() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    // The database as the migrations before 0004 left it, with one agent.
    let mut conn = database_before(&url, "0004").await;
    let mut stored = agent("Old");
    stored.spec.tags = vec!["b".into(), "a".into()];
    sqlx::query(
        "INSERT INTO agents (workspace, agent_id, name, name_folded, direction, created_at,
                             revision, document)
         VALUES ('w', ?, 'Old', 'old', 'outbound', ?, 1, ?)",
    )
    .bind(stored.agent_id.to_string())
    .bind(&stored.metadata.created_at)
    .bind(serde_json::to_string(&stored).unwrap())
    .execute(&mut conn)
    .await
    .unwrap();
    let store = upgraded(conn, &url).await;
    let query = ListQuery {
        sort_by: SortBy::CreatedAt,
        sort_direction: SortDirection::Desc,
        page_size: 10,
        after: None,
        search: None,
        tags: Vec::new(),
        direction: None,
    };
    let page = store.list_agents("w", &query).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].tags, ["b", "a"]);
    assert_eq!(page.items[0].metadata, stored.metadata);
    // A change writes the columns with the document.
    let retag: crate::Transform = Arc::new(|current: &StoredAgent| {
        let mut agent = current.agent.clone();
        agent.spec.tags = vec!["c".into()];
        agent.metadata.updated_at = "2030-01-01T00:00:00.000000Z".into();
        Ok(Some(agent))
    });
    store
        .write(UpdateAgent::new(
            "w",
            stored.agent_id,
            None,
            change(false),
            retag,
        ))
        .await
        .unwrap();
    let page = store.list_agents("w", &query).await.unwrap();
    assert_eq!(page.items[0].tags, ["c"]);
    assert_eq!(
        page.items[0].metadata.updated_at,
        "2030-01-01T00:00:00.000000Z"
    );
    store.close().await;
}

/// The database as the migrations before `before` left it, at `url`.
async fn database_before(url: &str, before: &str) -> sqlx::SqliteConnection {
    let old = tempfile::tempdir().unwrap();
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    for file in std::fs::read_dir(&here).unwrap() {
        let file = file.unwrap();
        let name = file.file_name().into_string().unwrap();
        if name.as_str() < before {
            std::fs::copy(file.path(), old.path().join(&name)).unwrap();
        }
    }
    let mut conn = connect_options(url).unwrap().connect().await.unwrap();
    sqlx::migrate::Migrator::new(old.path())
        .await
        .unwrap()
        .run(&mut conn)
        .await
        .unwrap();
    conn
}

/// The store opened on the old database `conn` is connected to: the migrations since applied.
async fn upgraded(conn: sqlx::SqliteConnection, url: &str) -> Store {
    sqlx::Connection::close(conn).await.unwrap();
    Store::new(
        SqliteStore::open(url, &StoreOptions::default())
            .await
            .unwrap(),
    )
}

#[tokio::test]
async fn passages_and_keys_stored_before_0007_and_0008_come_through_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    let mut conn = database_before(&url, "0007").await;
    let key = dialplane_core::ApiKey::generate();
    sqlx::query(
        "INSERT INTO api_keys (key_id, key_hash, workspace, scope, user_id, user_email, created_at)
         VALUES (?, ?, 'a', 'read', 'u', 'u@a.test', '2026-01-01T00:00:00.000000Z')",
    )
    .bind(dialplane_core::KeyId::generate().to_string())
    .bind(key.hash().as_bytes().to_vec())
    .execute(&mut conn)
    .await
    .unwrap();
    // Passages of two workspaces, their ids interleaved as a shared sequence gave them.
    for (workspace, document, text) in [
        ("a", "d1", "the lighthouse keeper"),
        ("b", "d2", "a lighthouse in the fog"),
        ("a", "d3", "the harbour master"),
    ] {
        sqlx::query(
            "INSERT INTO kb_documents (workspace, document_id, kind, name, name_folded, size_bytes,
                 status, text_chars, created_at, updated_at, user_id, user_email)
             VALUES (?, ?, 'file', ?, ?, 1, 'ready', 1, '2026-01-01T00:00:00.000000Z',
                     '2026-01-01T00:00:00.000000Z', 'u', 'u@a.test')",
        )
        .bind(workspace)
        .bind(document)
        .bind(document)
        .bind(document)
        .execute(&mut conn)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO kb_passages (workspace, document_id, ordinal, scope, text)
             VALUES (?, ?, 0, ?, ?)",
        )
        .bind(workspace)
        .bind(document)
        .bind(crate::knowledge::search_scope(workspace, Some(document)))
        .bind(text)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    let store = upgraded(conn, &url).await;
    let principal = store.authenticate(&key.hash()).await.unwrap().unwrap();
    assert_eq!(principal.workspace, "a");
    assert_eq!(principal.scope, dialplane_core::Scope::Read);
    let found = |workspace: &'static str, q: &'static str| {
        let store = store.clone();
        async move {
            let hits = store.search(workspace, q, None, 10).await.unwrap();
            let mut ids: Vec<String> = hits.into_iter().map(|h| h.document_id).collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(found("a", "lighthouse").await, ["d1"]);
    assert_eq!(found("b", "lighthouse").await, ["d2"]);
    assert_eq!(found("a", "harbour").await, ["d3"]);
    assert!(found("b", "harbour").await.is_empty());
    store.close().await;
}

/// The writer keeps recent agents parsed; what it keeps must be what was committed, never what a
/// dry run wrote before it was rolled back, even inside a batch shared with real writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_keeps_only_what_was_committed() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, id) = store_with_agent_n(&dir).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        for dry_run in [true, false] {
            let store = store.clone();
            let (change, transform) = (change(dry_run), append(if dry_run { "x" } else { "+" }));
            tasks.push(tokio::spawn(async move {
                store
                    .write(UpdateAgent::new("w", id, None, change, transform))
                    .await
                    .map(|_| ())
            }));
        }
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .write(DeleteAgent {
                    workspace: "w".into(),
                    id,
                    if_match: None,
                    dry_run: true,
                })
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let expected = format!("n{}", "+".repeat(20));
    let stored = store.get_agent("w", id).await.unwrap().unwrap();
    assert_eq!(stored.agent.spec.name, expected, "as stored");
    assert_eq!(stored.revision, 21);
    // The writer's own copy: the next change starts from the committed agent.
    let next = store
        .write(UpdateAgent::new("w", id, None, change(false), append("!")))
        .await
        .unwrap();
    match next {
        Updated::Changed { stored: a, .. } => {
            assert_eq!(a.agent.spec.name, format!("{expected}!"));
            assert_eq!(a.revision, 22);
        }
        other => panic!("unexpected {other:?}"),
    }
    store.close().await;
}

/// Under a steady write load the checkpointer alone never catches up with the writer, and the WAL
/// would grow without end; the writer folds it in past its limit so that it starts over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_starts_over_under_a_steady_write_load() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        wal_limit_bytes: 256 << 10,
        ..StoreOptions::default()
    };
    let (url, store) = open_store(&dir, "wal.db", &options).await;
    let store = Arc::new(store);
    // Each agent and each of its versions spills onto an overflow page of its own: every create
    // appends at least two frames to the WAL.
    let prompt = "Answer the phone politely. ".repeat(200);
    let until = tokio::time::Instant::now() + Duration::from_millis(2500);
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (store, prompt) = (store.clone(), prompt.clone());
            tokio::spawn(async move {
                let mut created = 0u64;
                while tokio::time::Instant::now() < until {
                    let mut a = agent(&format!("w{w} {created}"));
                    a.spec.conversation_config.agent.prompt.prompt = prompt.clone();
                    store.write(CreateAgent::new("w", a, false)).await.unwrap();
                    created += 1;
                }
                created
            })
        })
        .collect();
    let mut created = 0;
    for w in writers {
        created += w.await.unwrap();
    }
    let mut conn = connect_options(&url).unwrap().connect().await.unwrap();
    // The store's checkpointer may hold the checkpoint lock (busy, and no figures): ask again.
    let mut wal_frames = -1;
    for _ in 0..100 {
        let (busy, frames, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        if busy == 0 {
            wal_frames = frames;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(wal_frames >= 0, "the WAL could not be checkpointed");
    assert!(
        (wal_frames as u64) < created,
        "{created} agents written (at least {} frames) and the WAL holds {wal_frames} frames: \
         it never started over",
        created * 2
    );
    store.close().await;
}

#[tokio::test]
async fn connections_are_durable_wal_with_synchronous_full() {
    let dir = tempfile::tempdir().unwrap();
    let (url, store) = open_store(&dir, "d.db", &StoreOptions::default()).await;
    let mut conn = connect_options(&url).unwrap().connect().await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(sync, 2, "synchronous=FULL is 2");
    store.close().await;
}

/// The `detail` column of `EXPLAIN QUERY PLAN` for one list page's SQL (parameters unbound).
async fn list_plan(conn: &mut sqlx::SqliteConnection, query: &ListQuery) -> Vec<String> {
    let sql = format!(
        "EXPLAIN QUERY PLAN {}",
        crate::agents::list::list_sql::<sqlx::Sqlite>(&crate::reads::SQLITE, "default", query)
            .sql()
    );
    sqlx::query(&sql)
        .fetch_all(conn)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<String, _>("detail"))
        .collect()
}

#[tokio::test]
async fn list_pages_seek_through_the_sort_index_instead_of_sorting_or_skipping() {
    let dir = tempfile::tempdir().unwrap();
    let (url, store) = open_store(&dir, "plan.db", &StoreOptions::default()).await;
    let mut conn = connect_options(&url).unwrap().connect().await.unwrap();
    for (sort_by, index, column) in [
        (SortBy::CreatedAt, "agents_by_created_at", "created_at"),
        (SortBy::Name, "agents_by_name", "name_folded"),
    ] {
        for sort_direction in [SortDirection::Asc, SortDirection::Desc] {
            let exact = crate::After {
                key: "k".into(),
                id: Some(AgentId::generate()),
            };
            let plain = crate::After {
                key: "k".into(),
                id: None,
            };
            let cmp = match sort_direction {
                SortDirection::Asc => ">",
                SortDirection::Desc => "<",
            };
            for (after, seek) in [
                (Some(exact), format!(" AND ({column},agent_id){cmp}(?,?)")),
                (Some(plain), format!(" AND {column}{cmp}?")),
                (None, String::new()),
            ] {
                let case = format!("{sort_by:?} {sort_direction:?} after {after:?}");
                let query = ListQuery {
                    sort_by,
                    sort_direction,
                    page_size: 30,
                    after,
                    search: None,
                    tags: Vec::new(),
                    direction: None,
                };
                let plan = list_plan(&mut conn, &query).await;
                assert!(
                    !plan.iter().any(|d| d.contains("TEMP B-TREE")),
                    "{case}: sorts rows instead of reading them in index order: {plan:?}"
                );
                let expected = format!("SEARCH agents USING INDEX {index} (workspace=?{seek})");
                assert!(
                    plan.contains(&expected),
                    "{case}: does not seek through {index} ({expected}): {plan:?}"
                );
            }
        }
    }
    store.close().await;
}

#[test]
fn busy_and_locked_are_unavailable_whatever_their_extended_code() {
    for code in ["5", "6", "261", "517", "262"] {
        assert!(
            matches!(
                database_error(Some(code), "x".into()),
                StoreError::Unavailable(_)
            ),
            "{code}"
        );
    }
    for code in [Some("1"), Some("19"), Some("2067"), None] {
        assert!(
            matches!(database_error(code, "x".into()), StoreError::Internal(_)),
            "{code:?}"
        );
    }
}

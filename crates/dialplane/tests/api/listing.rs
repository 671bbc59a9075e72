//! `GET /agents`: summaries, pagination over every sort, exact cursors among ties, the hosted API's
//! plain cursors, filters, parameter errors and workspace walls.

use crate::support::*;
use dialplane_core::{Agent, AgentId, Scope};
use serde_json::{json, Value};

pub(crate) const SORTS: [(&str, &str); 4] = [
    ("created_at", "asc"),
    ("created_at", "desc"),
    ("name", "asc"),
    ("name", "desc"),
];

/// Percent-encodes a query parameter value.
pub(crate) fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub(crate) fn field(items: &[Value], name: &str) -> Vec<String> {
    let text = |i: &Value| i[name].as_str().expect(name).to_owned();
    items.iter().map(text).collect()
}

pub(crate) fn ids(items: &[Value]) -> Vec<String> {
    field(items, "agentId")
}

pub(crate) fn names(items: &[Value]) -> Vec<String> {
    field(items, "name")
}

pub(crate) fn keys(object: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = object
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort();
    keys
}

/// One page; panics unless it is a 200 list envelope.
pub(crate) async fn page(app: &TestApp, key: &str, query: &str) -> (Vec<Value>, Value) {
    let r = app.list_agents_as(key, query).await;
    assert_eq!(r.status, 200, "GET /agents?{query}: {}", r.text);
    assert_eq!(r.body["success"], json!(true), "{}", r.text);
    let items = r.data().as_array().expect("data is an array").clone();
    (items, r.body["pagination"].clone())
}

/// Follows `nextCursor` from the first page of `query` (which may hold its own plain `cursor`) to
/// the last, checking each page's `pagination`, and returns every item in the order seen.
pub(crate) async fn walk(app: &TestApp, key: &str, query: &str, page_size: usize) -> Vec<Value> {
    // Later pages replace a plain cursor of the first with the `nextCursor` handed out.
    let rest: Vec<&str> = query
        .split('&')
        .filter(|p| !p.starts_with("cursor="))
        .collect();
    let rest = rest.join("&");
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let q = match &cursor {
            Some(c) => format!("{rest}&pageSize={page_size}&cursor={}", enc(c)),
            None => format!("{query}&pageSize={page_size}"),
        };
        let (items, p) = page(app, key, &q).await;
        assert_eq!(p["pageSize"], json!(page_size), "{q}: {p}");
        assert!(items.len() <= page_size, "{q}: {} items", items.len());
        all.extend(items.iter().cloned());
        if p["hasMore"] == json!(true) {
            assert_eq!(
                items.len(),
                page_size,
                "{q}: a page before the last is full"
            );
            let next = p["nextCursor"].as_str().expect("nextCursor while hasMore");
            assert!(!next.is_empty(), "{q}: {p}");
            cursor = Some(next.to_owned());
        } else {
            assert_eq!(p["hasMore"], json!(false), "{q}: {p}");
            assert_eq!(p["nextCursor"], Value::Null, "{q}: {p}");
            assert!(
                !items.is_empty() || cursor.is_none(),
                "{q}: hasMore was true on the page before an empty last page"
            );
            return all;
        }
    }
    panic!("{query}: more than 1000 pages");
}

/// Orders `items` as the server must: by the sort key, ties broken by agentId, in `dir`.
pub(crate) fn expected_order(items: &[Value], sort_by: &str, dir: &str) -> Vec<String> {
    let mut keyed: Vec<(String, String)> = items
        .iter()
        .map(|a| {
            let key = match sort_by {
                "name" => a["name"].as_str(),
                _ => a["metadata"]["createdAt"].as_str(),
            };
            (
                key.unwrap().to_owned(),
                a["agentId"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    keyed.sort();
    if dir == "desc" {
        keyed.reverse();
    }
    keyed.into_iter().map(|(_, id)| id).collect()
}

/// Creates one agent per body over HTTP, all at once; returns each created agent in body order.
pub(crate) async fn create_all(app: &TestApp, bodies: Vec<Value>) -> Vec<Value> {
    let answers = futures::future::join_all(bodies.iter().map(|b| app.create_agent(b))).await;
    answers
        .into_iter()
        .map(|r| {
            assert_eq!(r.status, 201, "{}", r.text);
            r.data().clone()
        })
        .collect()
}

/// A valid stored agent to copy: created over HTTP in a scratch workspace, so it lists nowhere else.
pub(crate) async fn template(app: &TestApp) -> Agent {
    let scratch = app.new_key("scratch", Scope::Write, "alice").await;
    let r = app
        .create_agent_as(&scratch, &minimal_agent("Template"))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    serde_json::from_value(r.data().clone()).expect("an agent")
}

/// Stores a copy of `template` in workspace `default` directly, with its own id, `name` and a fixed
/// `createdAt`; returns it as GET shows it.
pub(crate) async fn store_copy(
    app: &TestApp,
    template: &Agent,
    name: &str,
    created_at: &str,
) -> Value {
    let mut agent = template.clone();
    agent.agent_id = AgentId::generate();
    agent.spec.name = name.to_owned();
    agent.metadata.created_at = created_at.to_owned();
    agent.metadata.updated_at = created_at.to_owned();
    app.store
        .write(dialplane_store::CreateAgent::new(
            "default",
            agent.clone(),
            false,
        ))
        .await
        .expect("stored");
    let r = app.get_agent(&agent.agent_id.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.data().clone()
}

#[tokio::test]
pub(crate) async fn list_items_are_summaries_with_exactly_agent_id_name_tags_and_metadata() {
    let app = TestApp::spawn().await;
    let mut body = minimal_agent("Front desk");
    body["tags"] = json!(["vip", "emea"]);
    body["direction"] = json!("inbound");
    let id = app.create_agent(&body).await.data()["agentId"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .patch_agent(&id, &json!({"name": "Reception", "tags": ["emea"]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let full = app.get_agent(&id).await;

    let (items, _) = page(&app, &app.key, "").await;
    assert_eq!(items.len(), 1, "{items:?}");
    let want = ["agentId", "metadata", "name", "tags"];
    assert_eq!(keys(&items[0]), want, "{}", items[0]);
    for field in ["agentId", "name", "tags", "metadata"] {
        assert_eq!(items[0][field], full.data()[field], "{field}: {}", items[0]);
    }
    assert_eq!(
        items[0]["name"], "Reception",
        "the list shows the current name"
    );
    assert_eq!(items[0]["tags"], json!(["emea"]));
}

#[tokio::test]
pub(crate) async fn the_list_defaults_to_30_items_newest_first_and_the_last_page_has_a_null_cursor()
{
    let app = TestApp::spawn().await;
    let created = create_all(
        &app,
        (0..31)
            .map(|i| minimal_agent(&format!("Agent {i}")))
            .collect(),
    )
    .await;
    let newest_first = expected_order(&created, "created_at", "desc");

    let r = app.list_agents("").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let p = &r.body["pagination"];
    let want = [
        "hasMore",
        "nextCursor",
        "pageSize",
        "sortBy",
        "sortDirection",
    ];
    assert_eq!(keys(p), want, "{}", r.text);
    assert_eq!(p["pageSize"], 30, "{}", r.text);
    assert_eq!(p["sortBy"], "created_at", "{}", r.text);
    assert_eq!(p["sortDirection"], "desc", "{}", r.text);
    assert_eq!(p["hasMore"], true, "{}", r.text);
    let first = ids(r.data().as_array().unwrap());
    assert_eq!(first, newest_first[..30], "{}", r.text);

    let cursor = p["nextCursor"].as_str().expect("a cursor while hasMore");
    let (last, p) = page(&app, &app.key, &format!("cursor={}", enc(cursor))).await;
    assert_eq!(ids(&last), newest_first[30..], "{p}");
    assert_eq!(p["hasMore"], false, "{p}");
    assert_eq!(p["nextCursor"], Value::Null, "{p}");
}

#[tokio::test]
pub(crate) async fn walking_every_page_returns_each_agent_once_in_order_for_every_sort() {
    let app = TestApp::spawn().await;
    let mut created = Vec::new();
    // Names out of creation order, so that the two sorts differ.
    for i in [7, 2, 9, 0, 5, 3, 8, 1, 6, 4] {
        created.extend(create_all(&app, vec![minimal_agent(&format!("Agent {i:02}"))]).await);
    }
    for (sort_by, dir) in SORTS {
        let query = format!("sortBy={sort_by}&sortDirection={dir}");
        let seen = walk(&app, &app.key, &query, 3).await;
        assert_eq!(
            ids(&seen),
            expected_order(&created, sort_by, dir),
            "{query}: got names {:?}",
            names(&seen)
        );
    }
    // The name order is the names' own order, not only "some" order.
    let seen = walk(&app, &app.key, "sortBy=name&sortDirection=asc", 4).await;
    let want: Vec<String> = (0..10).map(|i| format!("Agent {i:02}")).collect();
    assert_eq!(names(&seen), want);
}

#[tokio::test]
pub(crate) async fn agents_with_the_same_name_paginate_without_skips_or_repeats() {
    let app = TestApp::spawn().await;
    let mut bodies: Vec<Value> = (0..8).map(|_| minimal_agent("Same name")).collect();
    bodies.push(minimal_agent("Aardvark"));
    bodies.push(minimal_agent("Zebra"));
    let created = create_all(&app, bodies).await;
    for dir in ["asc", "desc"] {
        for page_size in [1, 3, 4] {
            let query = format!("sortBy=name&sortDirection={dir}");
            let seen = walk(&app, &app.key, &query, page_size).await;
            assert_eq!(
                ids(&seen),
                expected_order(&created, "name", dir),
                "{query}, pageSize {page_size}: got names {:?}",
                names(&seen)
            );
        }
    }
}

#[tokio::test]
pub(crate) async fn agents_with_the_same_created_at_paginate_without_skips_or_repeats() {
    let app = TestApp::spawn().await;
    let template = template(&app).await;
    let mut stored = Vec::new();
    for (i, at) in [
        "2024-05-01T00:00:00.000000Z",
        "2024-05-02T00:00:00.000000Z",
        "2024-05-03T00:00:00.000000Z",
    ]
    .iter()
    .enumerate()
    {
        // Two older, seven at the same instant, two newer: page edges fall inside the tie.
        let count = if i == 1 { 7 } else { 2 };
        for n in 0..count {
            stored.push(store_copy(&app, &template, &format!("Tied {i}.{n}"), at).await);
        }
    }
    for dir in ["asc", "desc"] {
        for page_size in [1, 3, 5] {
            let query = format!("sortBy=created_at&sortDirection={dir}");
            let seen = walk(&app, &app.key, &query, page_size).await;
            assert_eq!(
                ids(&seen),
                expected_order(&stored, "created_at", dir),
                "{query}, pageSize {page_size}: got names {:?}",
                names(&seen)
            );
        }
    }
}

#[tokio::test]
pub(crate) async fn a_cursor_continues_after_its_agent_even_when_that_agent_is_deleted() {
    let app = TestApp::spawn().await;
    for name in ["A", "B", "C", "D", "E", "F"] {
        app.create_named(name).await;
    }
    let (first, p) = page(&app, &app.key, "sortBy=name&sortDirection=asc&pageSize=3").await;
    assert_eq!(names(&first), ["A", "B", "C"]);
    let r = app
        .delete_agent(first[2]["agentId"].as_str().unwrap())
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let cursor = p["nextCursor"].as_str().unwrap();
    let (next, _) = page(
        &app,
        &app.key,
        &format!(
            "sortBy=name&sortDirection=asc&pageSize=3&cursor={}",
            enc(cursor)
        ),
    )
    .await;
    assert_eq!(names(&next), ["D", "E", "F"], "no agent is skipped");
}

#[tokio::test]
pub(crate) async fn agents_created_while_paging_newest_first_neither_shift_nor_repeat_later_pages()
{
    let app = TestApp::spawn().await;
    let older = create_all(
        &app,
        (0..6).map(|i| minimal_agent(&format!("Old {i}"))).collect(),
    )
    .await;
    let older = expected_order(&older, "created_at", "desc");
    let (first, p) = page(&app, &app.key, "pageSize=3").await;
    assert_eq!(ids(&first), older[..3]);
    for i in 0..3 {
        app.create_named(&format!("New {i}")).await;
    }
    let cursor = p["nextCursor"].as_str().unwrap();
    let (next, p) = page(
        &app,
        &app.key,
        &format!("pageSize=3&cursor={}", enc(cursor)),
    )
    .await;
    assert_eq!(ids(&next), older[3..], "got {:?}", names(&next));
    assert_eq!(p["hasMore"], false, "{p}");
}

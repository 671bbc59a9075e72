//! `GET /agents`: summaries, pagination over every sort, exact cursors among ties, the hosted API's
//! plain cursors, filters, parameter errors and workspace walls.

use crate::support::*;
use dialplane_core::{Agent, AgentId, Scope};
use serde_json::{json, Value};

const SORTS: [(&str, &str); 4] = [
    ("created_at", "asc"),
    ("created_at", "desc"),
    ("name", "asc"),
    ("name", "desc"),
];

/// Percent-encodes a query parameter value.
fn enc(s: &str) -> String {
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

fn field(items: &[Value], name: &str) -> Vec<String> {
    let text = |i: &Value| i[name].as_str().expect(name).to_owned();
    items.iter().map(text).collect()
}

fn ids(items: &[Value]) -> Vec<String> {
    field(items, "agentId")
}

fn names(items: &[Value]) -> Vec<String> {
    field(items, "name")
}

fn keys(object: &Value) -> Vec<&str> {
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
async fn page(app: &TestApp, key: &str, query: &str) -> (Vec<Value>, Value) {
    let r = app.list_agents_as(key, query).await;
    assert_eq!(r.status, 200, "GET /agents?{query}: {}", r.text);
    assert_eq!(r.body["success"], json!(true), "{}", r.text);
    let items = r.data().as_array().expect("data is an array").clone();
    (items, r.body["pagination"].clone())
}

/// Follows `nextCursor` from the first page of `query` (which may hold its own plain `cursor`) to
/// the last, checking each page's `pagination`, and returns every item in the order seen.
async fn walk(app: &TestApp, key: &str, query: &str, page_size: usize) -> Vec<Value> {
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
fn expected_order(items: &[Value], sort_by: &str, dir: &str) -> Vec<String> {
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
async fn create_all(app: &TestApp, bodies: Vec<Value>) -> Vec<Value> {
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
async fn template(app: &TestApp) -> Agent {
    let scratch = app.new_key("scratch", Scope::Write, "alice").await;
    let r = app
        .create_agent_as(&scratch, &minimal_agent("Template"))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    serde_json::from_value(r.data().clone()).expect("an agent")
}

/// Stores a copy of `template` in workspace `default` directly, with its own id, `name` and a fixed
/// `createdAt`; returns it as GET shows it.
async fn store_copy(app: &TestApp, template: &Agent, name: &str, created_at: &str) -> Value {
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
async fn list_items_are_summaries_with_exactly_agent_id_name_tags_and_metadata() {
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
async fn the_list_defaults_to_30_items_newest_first_and_the_last_page_has_a_null_cursor() {
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
async fn walking_every_page_returns_each_agent_once_in_order_for_every_sort() {
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
async fn agents_with_the_same_name_paginate_without_skips_or_repeats() {
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
async fn agents_with_the_same_created_at_paginate_without_skips_or_repeats() {
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
async fn a_cursor_continues_after_its_agent_even_when_that_agent_is_deleted() {
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
async fn agents_created_while_paging_newest_first_neither_shift_nor_repeat_later_pages() {
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

#[tokio::test]
async fn search_matches_any_part_of_the_name_ignoring_case() {
    let app = TestApp::spawn().await;
    for name in [
        "Front Desk",
        "Back office",
        "petite école",
        "École normale",
        "100% sure",
    ] {
        app.create_named(name).await;
    }
    let cases: [(&str, &[&str]); 9] = [
        ("desk", &["Front Desk"]),
        ("FRONT D", &["Front Desk"]),
        (
            "O",
            &["Back office", "Front Desk", "petite école", "École normale"],
        ),
        ("cole n", &["École normale"]),
        ("ÉCOLE", &["École normale", "petite école"]),
        ("école", &["École normale", "petite école"]),
        ("%", &["100% sure"]),
        ("_", &[]),
        ("nowhere", &[]),
    ];
    for (search, want) in cases {
        // Matching is what is tested here, not the order of names.
        let (items, _) = page(&app, &app.key, &format!("search={}", enc(search))).await;
        let mut got = names(&items);
        got.sort();
        let mut want: Vec<&str> = want.to_vec();
        want.sort();
        assert_eq!(got, want, "search={search:?}");
    }
}

#[tokio::test]
async fn tag_filters_return_agents_having_every_given_tag() {
    let app = TestApp::spawn().await;
    for (name, tags) in [
        ("red big", json!(["red", "big"])),
        ("red", json!(["red"])),
        ("big", json!(["big"])),
        ("red big old", json!(["old", "big", "red"])),
        ("untagged", json!([])),
    ] {
        let mut body = minimal_agent(name);
        body["tags"] = tags;
        let r = app.create_agent(&body).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let cases: [(&str, &[&str]); 6] = [
        ("tag=red", &["red", "red big", "red big old"]),
        ("tag=red&tag=big", &["red big", "red big old"]),
        ("tag=big&tag=red&tag=old", &["red big old"]),
        ("tag=red&tag=red", &["red", "red big", "red big old"]),
        ("tag=red&tag=nope", &[]),
        ("tag=RED", &[]),
    ];
    for (filter, want) in cases {
        let query = format!("{filter}&sortBy=name&sortDirection=asc");
        let (items, _) = page(&app, &app.key, &query).await;
        assert_eq!(names(&items), want, "{filter}");
    }
}

#[tokio::test]
async fn list_pages_follow_renames_and_changes_that_keep_the_name() {
    let app = TestApp::spawn().await;
    let mut agent = Vec::new();
    for name in ["Alpha", "Bravo", "Charlie"] {
        agent.push(app.create_named(name).await);
    }
    // A rename, then a change to an agent that keeps its name, then one that changes its direction.
    for (id, body) in [
        (&agent[2], json!({"name": "Able"})),
        (
            &agent[1],
            json!({"conversationConfig": {"tts": {"voiceId": "kept-name"}}}),
        ),
        (&agent[1], json!({"direction": "both"})),
    ] {
        let r = app.patch_agent(id, &body).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let (items, _) = page(&app, &app.key, "sortBy=name&sortDirection=asc").await;
    assert_eq!(names(&items), ["Able", "Alpha", "Bravo"]);
    assert_eq!(ids(&items), [agent[2].as_str(), &agent[0], &agent[1]]);
    for (query, want) in [
        ("search=abl", &["Able"][..]),
        ("search=charlie", &[][..]),
        ("search=bravo", &["Bravo"][..]),
        ("direction=both", &["Bravo"][..]),
    ] {
        let (items, _) = page(&app, &app.key, query).await;
        assert_eq!(names(&items), want, "{query}");
    }
}

#[tokio::test]
async fn the_direction_filter_returns_only_agents_of_that_direction() {
    let app = TestApp::spawn().await;
    for direction in ["inbound", "outbound", "both", "inbound"] {
        let mut body = minimal_agent(direction);
        body["direction"] = json!(direction);
        let r = app.create_agent(&body).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    for (direction, want) in [
        ("inbound", &["inbound", "inbound"][..]),
        ("outbound", &["outbound"][..]),
        ("both", &["both"][..]),
    ] {
        let (items, _) = page(&app, &app.key, &format!("direction={direction}")).await;
        assert_eq!(names(&items), want, "direction={direction}");
    }
}

#[tokio::test]
async fn filters_combine_with_each_other_and_with_pagination() {
    let app = TestApp::spawn().await;
    let bodies: Vec<Value> = (0..16)
        .map(|i| {
            let mut body = minimal_agent(&format!(
                "{} {i:02}",
                if i < 11 { "Sales" } else { "Support" }
            ));
            body["tags"] = if i % 2 == 0 {
                json!(["vip"])
            } else {
                json!([])
            };
            body["direction"] = json!(if i % 3 == 0 { "inbound" } else { "outbound" });
            body
        })
        .collect();
    let created = create_all(&app, bodies).await;
    type Keep = fn(&Value) -> bool;
    let cases: [(&str, Keep); 3] = [
        ("search=SALES&tag=vip", |a| {
            a["name"].as_str().unwrap().starts_with("Sales") && a["tags"] == json!(["vip"])
        }),
        ("direction=outbound&search=s", |a| {
            a["direction"] == "outbound"
        }),
        ("search=sales&tag=vip&direction=inbound", |a| {
            a["name"].as_str().unwrap().starts_with("Sales")
                && a["tags"] == json!(["vip"])
                && a["direction"] == "inbound"
        }),
    ];
    for (filter, keep) in cases {
        let matching: Vec<Value> = created.iter().filter(|a| keep(a)).cloned().collect();
        assert!(matching.len() >= 2, "{filter}: the fixture is too small");
        for (sort_by, dir) in SORTS {
            let query = format!("{filter}&sortBy={sort_by}&sortDirection={dir}");
            let seen = walk(&app, &app.key, &query, 2).await;
            assert_eq!(
                ids(&seen),
                expected_order(&matching, sort_by, dir),
                "{query}: got names {:?}",
                names(&seen)
            );
        }
    }
}

#[tokio::test]
async fn a_plain_timestamp_cursor_starts_strictly_after_that_instant() {
    let app = TestApp::spawn().await;
    let template = template(&app).await;
    for day in 1..=5 {
        let at = format!("2024-03-0{day}T00:00:00.000000Z");
        store_copy(&app, &template, &format!("Day {day}"), &at).await;
    }
    let cases: [(&str, &str, &[&str]); 12] = [
        // Finer than the microseconds stored: Day 3 is before the cursor, not at it.
        (
            "desc",
            "2024-03-03T00:00:00.0000005Z",
            &["Day 3", "Day 2", "Day 1"],
        ),
        ("asc", "2024-03-03T00:00:00.0000005Z", &["Day 4", "Day 5"]),
        ("desc", "2024-03-02T23:59:59.9999995Z", &["Day 2", "Day 1"]),
        (
            "asc",
            "2024-03-02T23:59:59.9999995Z",
            &["Day 3", "Day 4", "Day 5"],
        ),
        ("asc", "2024-03-03T00:00:00Z", &["Day 4", "Day 5"]),
        ("desc", "2024-03-03T00:00:00Z", &["Day 2", "Day 1"]),
        ("asc", "2024-03-03T00:00:00.000000Z", &["Day 4", "Day 5"]),
        ("asc", "2024-03-03T02:00:00+02:00", &["Day 4", "Day 5"]),
        (
            "asc",
            "2024-03-02T12:00:00.5Z",
            &["Day 3", "Day 4", "Day 5"],
        ),
        ("desc", "2024-03-02T12:00:00Z", &["Day 2", "Day 1"]),
        ("asc", "2024-03-05T00:00:00Z", &[]),
        ("desc", "2024-03-01T00:00:00Z", &[]),
    ];
    for (dir, cursor, want) in cases {
        // pageSize 1: the plain cursor's first page hands over to exact cursors.
        let query = format!(
            "sortBy=created_at&sortDirection={dir}&cursor={}",
            enc(cursor)
        );
        let seen = walk(&app, &app.key, &query, 1).await;
        assert_eq!(names(&seen), want, "{query}");
    }
}

#[tokio::test]
async fn a_plain_name_cursor_starts_strictly_after_that_name() {
    let app = TestApp::spawn().await;
    for name in ["Alpha", "Bravo", "Charlie", "Delta", "Charlie"] {
        app.create_named(name).await;
    }
    let cases: [(&str, &str, &[&str]); 6] = [
        ("asc", "Bravo", &["Charlie", "Charlie", "Delta"]),
        ("desc", "Bravo", &["Alpha"]),
        ("asc", "C", &["Charlie", "Charlie", "Delta"]),
        ("desc", "Charlie", &["Bravo", "Alpha"]),
        ("asc", "Charlie", &["Delta"]),
        ("asc", "Delta", &[]),
    ];
    for (dir, cursor, want) in cases {
        let query = format!("sortBy=name&sortDirection={dir}&cursor={}", enc(cursor));
        let seen = walk(&app, &app.key, &query, 2).await;
        assert_eq!(names(&seen), want, "{query}");
    }
}

#[tokio::test]
async fn malformed_parameters_are_refused_with_invalid_parameter_naming_the_parameter() {
    let app = TestApp::spawn().await;
    app.create_named("One").await;
    app.create_named("Two").await;
    let cursor_of = |query: &'static str| {
        let app = &app;
        async move {
            let (_, p) = page(app, &app.key, query).await;
            enc(p["nextCursor"].as_str().expect("a next cursor"))
        }
    };
    let by_name_desc = cursor_of("sortBy=name&pageSize=1").await;
    let by_time_desc = cursor_of("pageSize=1").await;
    // A cursor of ours, forged: its key holds U+0000, which PostgreSQL refuses in a query.
    let forged = {
        use base64::Engine;
        let raw = format!("c1\nname\ndesc\n{}\na\0b", app.create_named("Three").await);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    };
    let cases = [
        (format!("sortBy=name&cursor={forged}"), "cursor"),
        ("pageSize=0".to_owned(), "pageSize"),
        ("pageSize=101".to_owned(), "pageSize"),
        ("pageSize=abc".to_owned(), "pageSize"),
        ("pageSize=-1".to_owned(), "pageSize"),
        ("sortBy=age".to_owned(), "sortBy"),
        ("sortBy=createdAt".to_owned(), "sortBy"),
        ("sortDirection=up".to_owned(), "sortDirection"),
        ("sortBy=created_at&cursor=garbage".to_owned(), "cursor"),
        ("cursor=2024-13-01T00:00:00Z".to_owned(), "cursor"),
        (format!("sortBy=created_at&cursor={by_name_desc}"), "cursor"),
        (format!("sortBy=name&cursor={by_time_desc}"), "cursor"),
        (
            format!("sortBy=name&sortDirection=asc&cursor={by_name_desc}"),
            "cursor",
        ),
        ("page_size=10".to_owned(), "page_size"),
        ("direction=sideways".to_owned(), "direction"),
    ];
    for (query, parameter) in cases {
        let r = app.list_agents(&query).await;
        assert_eq!(r.status, 400, "{query}: {}", r.text);
        r.assert_error(400, "invalid_parameter");
        assert_eq!(
            r.body["error"]["details"][0]["parameter"], parameter,
            "{query}: {}",
            r.text
        );
    }
}

#[tokio::test]
async fn page_sizes_from_1_to_100_are_accepted() {
    let app = TestApp::spawn().await;
    app.create_named("One").await;
    app.create_named("Two").await;
    for (size, want_items, has_more) in [(1, 1, true), (2, 2, false), (100, 2, false)] {
        let (items, p) = page(&app, &app.key, &format!("pageSize={size}")).await;
        assert_eq!(items.len(), want_items, "pageSize={size}: {p}");
        assert_eq!(p["pageSize"], size, "{p}");
        assert_eq!(p["hasMore"], has_more, "pageSize={size}: {p}");
    }
}

#[tokio::test]
async fn another_workspaces_key_lists_none_of_these_agents() {
    let app = TestApp::spawn().await;
    for i in 0..4 {
        app.create_named(&format!("Ours {i}")).await;
    }
    let theirs = app.new_key("elsewhere", Scope::Write, "mallory").await;
    for (sort_by, dir) in SORTS {
        let query = format!("sortBy={sort_by}&sortDirection={dir}");
        let seen = walk(&app, &theirs, &query, 3).await;
        assert!(seen.is_empty(), "{query}: {seen:?}");
    }
    let r = app.create_agent_as(&theirs, &minimal_agent("Theirs")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let (items, _) = page(&app, &theirs, "").await;
    assert_eq!(names(&items), ["Theirs"]);
    let (items, _) = page(&app, &app.key, "search=theirs").await;
    assert!(items.is_empty(), "{items:?}");
    // A cursor of one workspace shows nothing of another.
    let (_, p) = page(&app, &app.key, "pageSize=1&sortBy=name&sortDirection=asc").await;
    let cursor = enc(p["nextCursor"].as_str().unwrap());
    let (items, _) = page(
        &app,
        &theirs,
        &format!("pageSize=10&sortBy=name&sortDirection=asc&cursor={cursor}"),
    )
    .await;
    assert_eq!(names(&items), ["Theirs"]);
}

#[tokio::test]
async fn a_read_scoped_key_lists_its_workspaces_agents() {
    let app = TestApp::spawn().await;
    let created = create_all(
        &app,
        (0..5)
            .map(|i| minimal_agent(&format!("Agent {i}")))
            .collect(),
    )
    .await;
    let reader = app.new_key("default", Scope::Read, "bob").await;
    let seen = walk(&app, &reader, "sortBy=created_at&sortDirection=asc", 2).await;
    assert_eq!(ids(&seen), expected_order(&created, "created_at", "asc"));
}

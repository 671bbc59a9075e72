//! Listing, continued: search, tag and direction filters, plain cursors, parameters, tenancy.

use super::listing::*;
use crate::support::*;
use dialplane_core::Scope;
use serde_json::{json, Value};

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

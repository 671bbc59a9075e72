//! `GET /conversations`: Callin's filters and their edges (seconds or milliseconds, empty ranges,
//! `min > max`, unknown status), the order and exact keyset paging with ties on start time while new
//! calls arrive, the ISO timestamp cursor, and ours (`externalId`, `contactNumber`, `search`).

use crate::support::*;
use serde_json::{json, Value};

/// 2026-12-05T00:00:00Z.
const B: i64 = 1_796_428_800;

fn ids(r: &Resp) -> Vec<String> {
    assert_eq!(r.status, 200, "{}", r.text);
    r.data()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["conversationId"].as_str().unwrap().to_owned())
        .collect()
}

/// Every page of `query`, `page_size` at a time: the ids in order.
async fn all_pages(app: &TestApp, query: &str, page_size: u32) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("{CONVERSATIONS}?pageSize={page_size}{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let r = app.get(&path).await;
        out.extend(ids(&r));
        match r.body["pagination"]["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

#[tokio::test]
async fn pages_are_newest_first_exact_across_ties_while_new_calls_arrive() {
    let app = TestApp::spawn().await;
    let agent = app.keeping_agent("Front desk", false).await;
    // Twelve calls, four at each of three moments.
    let mut expected: Vec<(i64, String)> = Vec::new();
    for i in 0..12 {
        let start = 1_000 + (i % 3) * 10;
        expected.push((start, app.call_started(&agent, start).await));
    }
    expected.sort_by(|a, b| b.cmp(a));
    let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();
    // Page through, five at a time, while more calls (newer, and at a tied moment) arrive.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("{CONVERSATIONS}?pageSize=5&cursor={c}"),
            None => format!("{CONVERSATIONS}?pageSize=5"),
        };
        let r = app.get(&path).await;
        seen.extend(ids(&r));
        app.call_started(&agent, 5_000).await;
        let Some(c) = r.body["pagination"]["nextCursor"].as_str() else {
            break;
        };
        assert_eq!(r.body["pagination"]["hasMore"], true);
        cursor = Some(c.to_owned());
    }
    assert_eq!(seen, expected, "none skipped or repeated, in order");
    // The list item is Callin's.
    let first = app.get(&format!("{CONVERSATIONS}?pageSize=1")).await;
    let item = &first.data()[0];
    let mut keys: Vec<&str> = item
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "agentId",
            "agentName",
            "conversationDuration",
            "conversationId",
            "direction",
            "endTimeUnix",
            "metadata",
            "startTimeUnix",
            "status",
            "summary"
        ]
    );
    assert_eq!(first.body["pagination"]["pageSize"], 1);
}

#[tokio::test]
async fn the_time_and_duration_filters_and_their_edges() {
    let app = TestApp::spawn().await;
    let agent = app.keeping_agent("Front desk", false).await;
    let other = app.keeping_agent("Back office", false).await;
    // Finished calls at B+1000 (30 s), B+2000 (60 s), B+3000 (90 s); one in progress at B+4000,
    // B being 2026-12-05T00:00:00Z.
    let mut by_start = std::collections::BTreeMap::new();
    for (start, length, who) in [
        (1_000, 30, &agent),
        (2_000, 60, &agent),
        (3_000, 90, &other),
    ] {
        let c = app
            .record(
                &json!({"agentId": who, "direction": "inbound", "status": "completed",
                            "startTimeUnix": B + start, "endTimeUnix": B + start + length}),
            )
            .await;
        by_start.insert(start, c["conversationId"].as_str().unwrap().to_owned());
    }
    by_start.insert(4_000, app.call_started(&agent, B + 4_000).await);
    let get = |q: String| {
        let app = &app;
        async move { ids(&app.get(&format!("{CONVERSATIONS}?{q}")).await) }
    };
    let at =
        |starts: &[i64]| -> Vec<String> { starts.iter().map(|s| by_start[s].clone()).collect() };
    // Exclusive bounds, in seconds or milliseconds.
    assert_eq!(
        get(format!("startAfterUnix={}", B + 1000)).await,
        at(&[4_000, 3_000, 2_000])
    );
    assert_eq!(
        get(format!("startAfterUnix={}", (B + 2000) * 1000 + 999)).await,
        at(&[4_000, 3_000])
    );
    assert_eq!(
        get(format!("startBeforeUnix={}", B + 3000)).await,
        at(&[2_000, 1_000])
    );
    assert_eq!(
        get(format!(
            "startBeforeUnix={}&startAfterUnix={}",
            (B + 3000) * 1000,
            B + 1000
        ))
        .await,
        at(&[2_000])
    );
    // An empty range is an empty page, not an error.
    assert_eq!(
        get(format!(
            "startAfterUnix={}&startBeforeUnix={}",
            B + 3000,
            B + 2000
        ))
        .await,
        Vec::<String>::new()
    );
    // Durations inclusive; a call in progress has none.
    assert_eq!(get("minCallDuration=60".into()).await, at(&[3_000, 2_000]));
    assert_eq!(get("maxCallDuration=60".into()).await, at(&[2_000, 1_000]));
    assert_eq!(
        get("minCallDuration=60&maxCallDuration=60".into()).await,
        at(&[2_000])
    );
    app.get(&format!(
        "{CONVERSATIONS}?minCallDuration=61&maxCallDuration=60"
    ))
    .await
    .assert_error(400, "invalid_parameter");
    // Agent and status.
    assert_eq!(get(format!("agentId={other}")).await, at(&[3_000]));
    assert_eq!(get("status=in_progress".into()).await, at(&[4_000]));
    assert_eq!(
        get("status=completed&agentId=".to_owned() + &agent).await,
        at(&[2_000, 1_000])
    );
    for bad in [
        "status=ringing",
        "minCallDuration=-1",
        "startAfterUnix=soon",
        "pageSize=101",
        "agentId=nope",
        "cursor=nonsense",
        "colour=red",
        "contactNumber=555",
    ] {
        app.get(&format!("{CONVERSATIONS}?{bad}"))
            .await
            .assert_error(400, "invalid_parameter");
    }
    // An ISO timestamp as the cursor: conversations that started before it.
    assert_eq!(
        get("cursor=2026-12-05T00:50:00Z".into()).await,
        at(&[2_000, 1_000])
    );
    assert_eq!(
        get("cursor=2026-12-05T00:33:20.5Z".into()).await,
        at(&[2_000, 1_000])
    );
    assert_eq!(all_pages(&app, "", 1).await.len(), 4);
}

#[tokio::test]
async fn external_id_contact_number_and_full_text_search_narrow_the_list() {
    let app = TestApp::spawn().await;
    let agent = app.keeping_agent("Front desk", false).await;
    let booking = app
        .record(
            &json!({"agentId": agent, "direction": "inbound", "startTimeUnix": 100,
                        "externalId": "CA-1", "contactNumber": "+14155550123",
                        "summary": "The caller booked a table for four."}),
        )
        .await;
    let complaint = app
        .record(
            &json!({"agentId": agent, "direction": "inbound", "startTimeUnix": 200,
                        "contactNumber": "+14155550100"}),
        )
        .await;
    let complaint_id = complaint["conversationId"].as_str().unwrap();
    app.append_turns(
        complaint_id,
        &json!([{"role": "user", "text": "The soup was cold and the waiter rude.", "startMs": 0, "endMs": 10}]),
    )
    .await;
    let id = |c: &Value| c["conversationId"].as_str().unwrap().to_owned();
    let get = |q: &str| {
        let path = format!("{CONVERSATIONS}?{q}");
        let app = &app;
        async move { ids(&app.get(&path).await) }
    };
    assert_eq!(get("externalId=CA-1").await, [id(&booking)]);
    assert_eq!(get("externalId=CA-2").await, Vec::<String>::new());
    assert_eq!(get("contactNumber=%2B14155550100").await, [id(&complaint)]);
    // Summary and transcript, stemmed; phrases, exclusions; a later summary is found at once.
    assert_eq!(get("search=tables").await, [id(&booking)]);
    assert_eq!(get("search=waiter").await, [id(&complaint)]);
    assert_eq!(get("search=%22cold%20soup%22").await, Vec::<String>::new());
    assert_eq!(
        get("search=%22soup%20was%20cold%22").await,
        [id(&complaint)]
    );
    assert_eq!(get("search=the%20-soup").await, [id(&booking)]);
    app.patch_conversation(complaint_id, &json!({"summary": "A table complaint"}))
        .await;
    assert_eq!(get("search=table").await, [id(&complaint), id(&booking)]);
    assert_eq!(get("search=table&pageSize=1").await, [id(&complaint)]);
    // An erased call is no longer found.
    app.send(
        reqwest::Method::DELETE,
        &conversation_path(complaint_id, ""),
        Some(&app.key),
        &[],
        None,
    )
    .await;
    assert_eq!(get("search=waiter").await, Vec::<String>::new());
}

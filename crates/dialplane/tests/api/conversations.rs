//! Recording calls over HTTP: Callin's detail shape with every field present, the forward-only
//! lifecycle, turns, retries by `externalId`, `If-Match`, erasure; scopes and workspace walls.

use crate::support::*;
use dialplane_core::Scope;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn a_call_is_recorded_in_callins_shape_with_every_field_present() {
    let app = TestApp::spawn().await;
    let agent = app.keeping_agent("Front desk", false).await;
    let r = app
        .record_as(
            &app.key,
            &json!({"agentId": agent, "direction": "inbound", "startTimeUnix": 1_764_930_000_500_i64,
                    "callerNumber": "+14155550123", "contactNumber": "+14155550123"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.etag(), "\"1\"");
    let c = r.data();
    let mut keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "agentId",
            "agentName",
            "agentVersion",
            "appointmentScheduled",
            "callTransferred",
            "callerNumber",
            "contactNumber",
            "conversationDuration",
            "conversationId",
            "dataCollected",
            "direction",
            "endTimeUnix",
            "errorMessage",
            "externalId",
            "keyMoments",
            "metadata",
            "optedOut",
            "recordingUrl",
            "sentiment",
            "startTimeUnix",
            "status",
            "summary",
            "transcript",
            "turns",
            "voiceMailDetected",
        ]
    );
    // Milliseconds are floored to seconds; defaults as the spec lists them.
    assert_eq!(c["startTimeUnix"], 1_764_930_000);
    assert_eq!(c["status"], "in_progress");
    assert_eq!(c["agentName"], "Front desk");
    assert_eq!(c["agentVersion"], 1);
    for (key, default) in [
        ("summary", json!("")),
        ("transcript", json!("")),
        ("sentiment", Value::Null),
        ("keyMoments", json!([])),
        ("appointmentScheduled", json!({})),
        ("dataCollected", json!({})),
        ("voiceMailDetected", json!(false)),
        ("errorMessage", Value::Null),
        ("callTransferred", json!(false)),
        ("endTimeUnix", Value::Null),
        ("conversationDuration", Value::Null),
        ("recordingUrl", Value::Null),
        ("optedOut", json!(false)),
        ("turns", json!([])),
        ("externalId", Value::Null),
    ] {
        assert_eq!(c[key], default, "{key}");
    }
    assert_eq!(c["metadata"]["createdBy"]["userId"], "alice");
    let id = c["conversationId"].as_str().unwrap();
    let got = app.get(&conversation_path(id, "")).await;
    assert_eq!(got.data(), c);
    assert_eq!(got.etag(), "\"1\"");

    // Turns in two requests, one out of order: kept in order of startMs, the transcript rendered.
    let turns = json!([
        {"role": "agent", "text": "Hello, Luigi's.", "startMs": 0, "endMs": 900},
        {"role": "user", "text": "A table for four?", "startMs": 1200, "endMs": 2500}
    ]);
    assert_eq!(app.append_turns(id, &turns).await.status, 200);
    let late = json!([
        {"role": "tool", "text": "{\"free\": true}", "startMs": 2600, "endMs": 2700},
        {"role": "agent", "text": "Yes, at eight.", "startMs": 2550, "endMs": 3000}
    ]);
    let r = app.append_turns(id, &late).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.etag(), "\"3\"");
    assert_eq!(
        r.data()["transcript"],
        "Agent: Hello, Luigi's.\nUser: A table for four?\nAgent: Yes, at eight.\nTool: {\"free\": true}"
    );
    // Finished, analysed: duration computed; Callin's snake_case inside sentiment kept.
    let sentiment = json!({"sentiment_score": 0.8, "sentiment_overall": "positive",
        "sentiment_by_turn": [{"text": "A table for four?", "sentiment_score": 0.5,
                               "sentiment_label": "neutral", "speaker": "user"}]});
    let done = app
        .patch_conversation(
            id,
            &json!({"status": "completed", "endTimeUnix": 1_764_930_095, "summary": "Booked for four",
                    "sentiment": sentiment, "dataCollected": {"party_size": 4},
                    "keyMoments": [{"text": "Booked", "label": "booking", "speaker": "agent", "timestamp": 3.0}],
                    "appointmentScheduled": {"at": "2026-12-05T20:00:00Z"},
                    "recordingUrl": "https://recordings.invalid/1.wav"}),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.header("dropped-fields"), None);
    let d = done.data();
    assert_eq!(d["conversationDuration"], 95);
    assert_eq!(d["sentiment"], sentiment);
    assert_eq!(d["dataCollected"], json!({"party_size": 4}));
    assert_eq!(d["recordingUrl"], "https://recordings.invalid/1.wav");
    assert_eq!(app.get(&conversation_path(id, "")).await.data(), d);
}

#[tokio::test]
async fn a_patch_merges_into_the_analysis_objects_and_loses_nothing_it_does_not_name() {
    let app = TestApp::spawn().await;
    let agent = app.keeping_agent("Bookings", false).await;
    let call = app
        .record(&json!({
            "agentId": agent, "direction": "inbound", "status": "completed",
            "startTimeUnix": 2_000, "endTimeUnix": 2_060,
            "sentiment": {"sentiment_score": 0.5, "sentiment_overall": "positive",
                          "sentiment_by_turn": [{"text": "Hi", "sentiment_score": 0.1}]},
            "dataCollected": {"name": "Ada", "party_size": 2},
            "appointmentScheduled": {"at": "noon", "where": {"room": 1, "floor": 2}}
        }))
        .await;
    let id = call["conversationId"].as_str().unwrap();
    // Analysis arriving in parts: each part changes what it names, as RFC 7396 merges objects.
    let r = app
        .patch_conversation(
            id,
            &json!({
                "sentiment": {"sentiment_score": 0.9},
                "dataCollected": {"party_size": 4, "name": null},
                "appointmentScheduled": {"where": {"room": 3}}
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let detail = r.data();
    assert_eq!(detail["sentiment"]["sentiment_score"], 0.9);
    assert_eq!(detail["sentiment"]["sentiment_overall"], "positive", "kept");
    assert_eq!(
        detail["sentiment"]["sentiment_by_turn"][0]["text"], "Hi",
        "kept"
    );
    assert_eq!(
        detail["dataCollected"],
        json!({"party_size": 4}),
        "null removes a key"
    );
    assert_eq!(
        detail["appointmentScheduled"],
        json!({"at": "noon", "where": {"room": 3, "floor": 2}})
    );
    // The same through GET, and null still resets a whole member.
    let got = app.get(&format!("/api/public/v1/conversations/{id}")).await;
    assert_eq!(
        got.data()["appointmentScheduled"],
        detail["appointmentScheduled"]
    );
    let r = app
        .patch_conversation(
            id,
            &json!({"sentiment": null, "appointmentScheduled": null}),
        )
        .await;
    assert_eq!(r.data()["sentiment"], Value::Null);
    assert_eq!(r.data()["appointmentScheduled"], json!({}));
    assert_eq!(r.data()["dataCollected"], json!({"party_size": 4}));
}

#[tokio::test]
async fn status_moves_forward_only_and_a_finished_call_takes_only_its_analysis() {
    let app = TestApp::spawn().await;
    let agent = app.keeping_agent("Front desk", false).await;
    let scheduled = app
        .record(
            &json!({"agentId": agent, "direction": "outbound", "status": "scheduled",
                        "startTimeUnix": 2_000}),
        )
        .await;
    let id = scheduled["conversationId"].as_str().unwrap();
    // Turns only while in progress.
    let turn = json!([{"role": "agent", "text": "Hi", "startMs": 0, "endMs": 1}]);
    app.append_turns(id, &turn)
        .await
        .assert_error(409, "conflict");
    // A scheduled call may be cancelled or fail at once; it completes only once it has been live.
    app.patch_conversation(id, &json!({"status": "completed"}))
        .await
        .assert_error(409, "conflict");
    let live = app
        .patch_conversation(id, &json!({"status": "in_progress"}))
        .await;
    assert_eq!(live.data()["status"], "in_progress");
    // The same status again changes nothing (no new revision).
    let again = app
        .patch_conversation(id, &json!({"status": "in_progress"}))
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.etag(), live.etag());
    app.patch_conversation(id, &json!({"status": "scheduled"}))
        .await
        .assert_error(409, "conflict");
    // An end before the start is invalid; an end while in progress is too.
    app.patch_conversation(id, &json!({"status": "failed", "endTimeUnix": 1_999}))
        .await
        .assert_problem("/endTimeUnix", "out_of_range");
    app.patch_conversation(id, &json!({"endTimeUnix": 2_100}))
        .await
        .assert_problem("/endTimeUnix", "invalid_combination");
    let failed = app
        .patch_conversation(
            id,
            &json!({"status": "failed", "errorMessage": "line dropped"}),
        )
        .await;
    assert_eq!(failed.status, 200, "{}", failed.text);
    assert!(
        failed.data()["endTimeUnix"].as_i64().unwrap() >= 2_000,
        "ended when reported"
    );
    for change in [
        json!({"status": "completed"}),
        json!({"errorMessage": "other"}),
        json!({"transcript": "rewritten"}),
        json!({"callTransferred": true}),
    ] {
        app.patch_conversation(id, &change)
            .await
            .assert_error(409, "conflict");
    }
    app.append_turns(id, &turn)
        .await
        .assert_error(409, "conflict");
    let analysed = app
        .patch_conversation(
            id,
            &json!({"summary": "Dropped after 10 s", "optedOut": true,
                                       "errorMessage": "line dropped"}),
        )
        .await;
    assert_eq!(analysed.status, 200, "{}", analysed.text);
    assert_eq!(analysed.data()["summary"], "Dropped after 10 s");
    // The fields set at recording, as they are, change nothing; changed, they are a change outside
    // the analysis of a finished call: 409, as the spec says of anything but the analysis.
    let same = app
        .patch_conversation(id, &json!({"agentId": agent, "direction": "outbound"}))
        .await;
    assert_eq!(same.status, 200, "{}", same.text);
    assert_eq!(same.etag(), analysed.etag());
    for change in [
        json!({"direction": "inbound"}),
        json!({"externalId": "x"}),
        json!({"agentVersion": 2}),
        json!({"turns": [{"role": "user", "text": "x", "startMs": 0, "endMs": 0}]}),
    ] {
        let r = app.patch_conversation(id, &change).await;
        r.assert_error(409, "conflict");
        let field = change.as_object().unwrap().keys().next().unwrap().clone();
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(message.ends_with(&format!("not {field}")), "{message}");
    }
    // A body that is invalid besides is named as invalid first (nothing is changed either way).
    app.patch_conversation(id, &json!({"direction": "inbound", "summary": 5}))
        .await
        .assert_problem("/summary", "invalid_type");
    assert_eq!(
        app.get(&conversation_path(id, "")).await.etag(),
        analysed.etag()
    );
    // While the call runs, they are read-only fields.
    let live = app.call_started(&agent, 3_000).await;
    let r = app
        .patch_conversation(
            &live,
            &json!({"direction": "outbound", "externalId": "x", "turns": [{"role": "user", "text": "x", "startMs": 0, "endMs": 0}]}),
        )
        .await;
    r.assert_details(
        400,
        "validation_error",
        &[
            ("/direction", "read_only"),
            ("/externalId", "read_only"),
            ("/turns", "read_only"),
        ],
    );
}

#[tokio::test]
async fn a_retried_post_answers_the_same_record_and_another_body_is_a_conflict() {
    let app = TestApp::spawn().await;
    let agent = app.keeping_agent("Front desk", false).await;
    let body = json!({"agentId": agent, "direction": "inbound", "startTimeUnix": 5_000,
                      "externalId": "CA-1", "contactNumber": "+14155550123"});
    let first = app.record(&body).await;
    // The same body, its keys in another order: the same record, 200.
    let reordered: Value = serde_json::from_str(&format!(
        r#"{{"externalId": "CA-1", "contactNumber": "+14155550123", "startTimeUnix": 5000,
                      "direction": "inbound", "agentId": "{agent}"}}"#
    ))
    .unwrap();
    let again = app.record_as(&app.key, &reordered).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.data(), &first);
    // A retry that sends its time in milliseconds where the first sent seconds: the same record.
    let seconds = json!({"agentId": agent, "direction": "inbound", "externalId": "CA-2",
                         "startTimeUnix": 1_764_930_000_i64});
    let recorded = app.record(&seconds).await;
    let mut in_ms = seconds.clone();
    in_ms["startTimeUnix"] = json!(1_764_930_000_123_i64);
    let retried = app.record_as(&app.key, &in_ms).await;
    assert_eq!(retried.status, 200, "{}", retried.text);
    assert_eq!(retried.data(), &recorded);
    in_ms["startTimeUnix"] = json!(1_764_930_001_000_i64);
    app.record_as(&app.key, &in_ms)
        .await
        .assert_error(409, "conflict");
    let other = app
        .record_as(
            &app.key,
            &json!({"agentId": agent, "direction": "inbound", "externalId": "CA-1"}),
        )
        .await;
    other.assert_error(409, "conflict");
    // Another body that is invalid besides is named as invalid, not as the conflict.
    app.record_as(
        &app.key,
        &json!({"agentId": agent, "direction": "inbound", "externalId": "CA-1",
                "dataCollected": {"shoe_size": 44}}),
    )
    .await
    .assert_problem("/dataCollected/shoe_size", "unknown_field");
    // A call reported over with its end and no start starts "now": retried once the clock has
    // passed that end, its start would now be after its end, yet the retry is the same body and
    // answers the same record. (The one wait of this suite on the clock: two seconds at most.)
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let ended = json!({"agentId": agent, "direction": "inbound", "externalId": "CA-3",
                       "status": "completed", "endTimeUnix": now() + 1});
    let over = app.record_as(&app.key, &ended).await;
    assert_eq!(over.status, 201, "{}", over.text);
    let end = ended["endTimeUnix"].as_u64().unwrap();
    while now() <= end {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let again = app.record_as(&app.key, &ended).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.data(), over.data());
    let listed = app.get(&format!("{CONVERSATIONS}?externalId=CA-1")).await;
    assert_eq!(listed.data().as_array().unwrap().len(), 1, "one record");
    // Erased, its externalId is free again; erasing twice is 404.
    let id = first["conversationId"].as_str().unwrap();
    let erased = app
        .send(
            Method::DELETE,
            &conversation_path(id, ""),
            Some(&app.key),
            &[],
            None,
        )
        .await;
    assert_eq!(erased.status, 200, "{}", erased.text);
    assert_eq!(
        erased.data(),
        &json!({"conversationId": id, "deleted": true})
    );
    app.get(&conversation_path(id, ""))
        .await
        .assert_error(404, "not_found");
    app.send(
        Method::DELETE,
        &conversation_path(id, ""),
        Some(&app.key),
        &[],
        None,
    )
    .await
    .assert_error(404, "not_found");
    let fresh = app
        .record_as(
            &app.key,
            &json!({"agentId": agent, "direction": "inbound", "externalId": "CA-1"}),
        )
        .await;
    assert_eq!(fresh.status, 201, "{}", fresh.text);
    assert_ne!(fresh.data()["conversationId"], id);
}

#[tokio::test]
async fn if_match_guards_a_patch_and_concurrent_patches_lose_nothing() {
    let app = TestApp::spawn().await;
    let agent = app.keeping_agent("Front desk", false).await;
    let id = app.call_started(&agent, 1_000).await;
    let stale = app.get(&conversation_path(id.as_str(), "")).await.etag();
    app.patch_conversation(&id, &json!({"summary": "first"}))
        .await;
    let refused = app
        .send(
            Method::PATCH,
            &conversation_path(&id, ""),
            Some(&app.key),
            &[("if-match", &stale), ("content-type", "application/json")],
            Some(json!({"summary": "second"}).to_string().into_bytes()),
        )
        .await;
    refused.assert_error(412, "precondition_failed");
    // Ten writers at once, each one field and a batch of turns: every one of them is there.
    let fields = [
        ("summary", json!("s")),
        ("voiceMailDetected", json!(true)),
        ("callTransferred", json!(true)),
        ("optedOut", json!(true)),
        ("errorMessage", json!("e")),
        ("callerNumber", json!("+14155550100")),
        ("contactNumber", json!("+14155550101")),
        ("appointmentScheduled", json!({"at": "noon"})),
        ("dataCollected", json!({"name": "Ada"})),
        ("keyMoments", json!([{"text": "k"}])),
    ];
    let patches = fields.iter().map(|(key, value)| {
        let mut body = serde_json::Map::new();
        body.insert((*key).to_owned(), value.clone());
        let (app, id) = (&app, id.clone());
        async move { app.patch_conversation(&id, &Value::Object(body)).await }
    });
    let turns = (0..10).map(|i| {
        let turn = json!([{"role": "user", "text": format!("t{i}"), "startMs": i * 10, "endMs": i * 10 + 5}]);
        let app = &app;
        let id = id.clone();
        async move { app.append_turns(&id, &turn).await }
    });
    let (patched, appended) = tokio::join!(
        futures::future::join_all(patches),
        futures::future::join_all(turns)
    );
    for r in patched.iter().chain(&appended) {
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let c = app.get(&conversation_path(&id, "")).await;
    for (key, value) in &fields {
        if *key == "keyMoments" {
            assert_eq!(c.data()[key][0]["text"], "k");
        } else {
            assert_eq!(&c.data()[key], value, "{key}");
        }
    }
    assert_eq!(c.data()["turns"].as_array().unwrap().len(), 10);
    assert_eq!(c.etag(), "\"22\"", "every write a revision");
}

#[tokio::test]
async fn every_problem_of_a_body_is_named_and_nothing_is_recorded() {
    let app = TestApp::spawn().await;
    let agent = app.keeping_agent("Front desk", false).await;
    let r = app
        .record_as(
            &app.key,
            &json!({"agentId": "nope", "direction": "sideways", "status": "ringing",
                    "startTimeUnix": -1, "contactNumber": "555", "recordingUrl": "ftp://x/y",
                    "externalId": "", "voiceMailDetected": "yes", "sentiment": {"mood": 1},
                    "turns": [{"role": "agent", "text": "x", "startMs": 10, "endMs": 5}],
                    "color": "red"}),
        )
        .await;
    r.assert_details(
        400,
        "validation_error",
        &[
            ("/agentId", "invalid_format"),
            ("/color", "unknown_field"),
            ("/contactNumber", "invalid_format"),
            ("/direction", "invalid_value"),
            ("/externalId", "too_short"),
            ("/recordingUrl", "invalid_format"),
            ("/sentiment/mood", "unknown_field"),
            ("/startTimeUnix", "out_of_range"),
            ("/status", "invalid_value"),
            ("/turns/0/endMs", "out_of_range"),
            ("/voiceMailDetected", "invalid_type"),
        ],
    );
    let required = app.record_as(&app.key, &json!({})).await;
    required.assert_details(
        400,
        "validation_error",
        &[("/agentId", "required"), ("/direction", "required")],
    );
    // An agent that is not the workspace's, a version the agent never had, an entity it lacks.
    let missing = "0193a5b2-7c1d-7e3f-9a4b-5c6d7e8f9a0b";
    app.record_as(
        &app.key,
        &json!({"agentId": missing, "direction": "inbound"}),
    )
    .await
    .assert_problem("/agentId", "not_found");
    app.record_as(
        &app.key,
        &json!({"agentId": agent, "direction": "inbound", "agentVersion": 2}),
    )
    .await
    .assert_problem("/agentVersion", "not_found");
    app.record_as(
        &app.key,
        &json!({"agentId": agent, "direction": "inbound",
                                     "dataCollected": {"shoe_size": 44}}),
    )
    .await
    .assert_problem("/dataCollected/shoe_size", "unknown_field");
    // The problems only the agent can tell are named together too: a version it never had, a value
    // not of its entity's type, an end on a live call.
    app.record_as(
        &app.key,
        &json!({"agentId": agent, "direction": "inbound", "agentVersion": 2, "startTimeUnix": 5,
                "endTimeUnix": 9, "dataCollected": {"party_size": "four", "name": "Ada", "shoe_size": 44}}),
    )
    .await
    .assert_details(
        400,
        "validation_error",
        &[
            ("/agentVersion", "not_found"),
            ("/dataCollected/party_size", "invalid_type"),
            ("/dataCollected/shoe_size", "unknown_field"),
            ("/endTimeUnix", "invalid_combination"),
        ],
    );
    // A finished call without its end... is ended at once; a live one with an end is refused.
    app.record_as(
        &app.key,
        &json!({"agentId": agent, "direction": "inbound", "startTimeUnix": 5, "endTimeUnix": 9}),
    )
    .await
    .assert_problem("/endTimeUnix", "invalid_combination");
    // Turns: 0 or 501 a request.
    let id = app.call_started(&agent, 1_000).await;
    app.append_turns(&id, &json!([]))
        .await
        .assert_problem("/turns", "too_short");
    let many: Vec<Value> = (0..501)
        .map(|i| json!({"role": "user", "text": "x", "startMs": i, "endMs": i}))
        .collect();
    app.append_turns(&id, &json!(many))
        .await
        .assert_problem("/turns", "too_long");
    let listed = app.get(CONVERSATIONS).await;
    assert_eq!(
        listed.data().as_array().unwrap().len(),
        1,
        "only the one started"
    );
    app.get(&conversation_path("nope", ""))
        .await
        .assert_error(400, "invalid_parameter");
}

#[tokio::test]
async fn a_runtime_key_records_a_read_key_reads_and_only_a_write_key_erases() {
    let app = TestApp::spawn().await;
    let agent = app.keeping_agent("Front desk", false).await;
    let runtime = app.new_key("default", Scope::Runtime, "runtime").await;
    let reader = app.new_key("default", Scope::Read, "rita").await;
    let body = json!({"agentId": agent, "direction": "inbound"});
    let recorded = app.record_as(&runtime, &body).await;
    assert_eq!(recorded.status, 201, "{}", recorded.text);
    let id = recorded.data()["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = conversation_path(&id, "");
    let turns = json!({"turns": [{"role": "user", "text": "hi", "startMs": 0, "endMs": 1}]});
    let r = app
        .json(
            Method::POST,
            &conversation_path(&id, "/turns"),
            &runtime,
            &turns,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .json(
            Method::PATCH,
            &path,
            &runtime,
            &json!({"status": "completed"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // A runtime key cannot change an agent, nor erase a call.
    app.patch_agent_as(&runtime, &agent, &json!({"name": "x"}))
        .await
        .assert_error(403, "forbidden");
    app.send(Method::DELETE, &path, Some(&runtime), &[], None)
        .await
        .assert_error(403, "forbidden");
    // A read key reads and cannot record.
    for p in [path.clone(), CONVERSATIONS.to_owned()] {
        let r = app.send(Method::GET, &p, Some(&reader), &[], None).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    app.record_as(&reader, &body)
        .await
        .assert_error(403, "forbidden");
    app.json(Method::PATCH, &path, &reader, &json!({"summary": "x"}))
        .await
        .assert_error(403, "forbidden");
    app.json(
        Method::POST,
        &conversation_path(&id, "/turns"),
        &reader,
        &turns,
    )
    .await
    .assert_error(403, "forbidden");
    // Another workspace sees nothing of it and cannot record calls of this agent.
    let other = app.new_key("elsewhere", Scope::Write, "eve").await;
    for method in [Method::GET, Method::DELETE] {
        app.send(method, &path, Some(&other), &[], None)
            .await
            .assert_error(404, "not_found");
    }
    app.json(Method::PATCH, &path, &other, &json!({"summary": "x"}))
        .await
        .assert_error(404, "not_found");
    let listed = app
        .send(Method::GET, CONVERSATIONS, Some(&other), &[], None)
        .await;
    assert_eq!(listed.data(), &json!([]));
    app.record_as(&other, &body)
        .await
        .assert_problem("/agentId", "not_found");
}

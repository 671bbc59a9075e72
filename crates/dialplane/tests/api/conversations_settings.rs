//! The agent's settings enforced when a call is recorded, not trusted to the runtime: `storeData`,
//! `recordVoice`, `smartOptOut` (the opt-out flow end to end), each drop named in `Dropped-Fields`;
//! `agentVersion` and `agentName` as recorded, after the agent changes or is deleted.

use crate::support::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn an_agent_that_keeps_nothing_has_data_and_recordings_dropped_and_named() {
    let app = TestApp::spawn().await;
    // The defaults: storeData false, recordVoice false.
    let agent = app.create_named("Discreet").await;
    let r = app
        .record_as(
            &app.key,
            &json!({"agentId": agent, "direction": "inbound", "status": "completed",
                    "startTimeUnix": 100, "endTimeUnix": 160,
                    "dataCollected": {"anything": 1}, "recordingUrl": "https://rec.invalid/1"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.header("dropped-fields"),
        Some("/dataCollected,/recordingUrl")
    );
    assert_eq!(r.data()["dataCollected"], json!({}));
    assert_eq!(r.data()["recordingUrl"], json!(null));
    let id = r.data()["conversationId"].as_str().unwrap();
    // Later analysis is held to the same settings.
    let later = app
        .patch_conversation(id, &json!({"dataCollected": {"x": 2}, "summary": "ok"}))
        .await;
    assert_eq!(later.status, 200, "{}", later.text);
    assert_eq!(later.header("dropped-fields"), Some("/dataCollected"));
    assert_eq!(later.data()["dataCollected"], json!({}));
    assert_eq!(later.data()["summary"], "ok");
    // An agent that keeps them stores them, and says nothing dropped.
    let keeper = app.keeping_agent("Keeper", false).await;
    let kept = app
        .record_as(
            &app.key,
            &json!({"agentId": keeper, "direction": "outbound",
                    "dataCollected": {"name": "Ada"}, "recordingUrl": "https://rec.invalid/2"}),
        )
        .await;
    assert_eq!(kept.status, 201, "{}", kept.text);
    assert_eq!(kept.header("dropped-fields"), None);
    assert_eq!(kept.data()["dataCollected"], json!({"name": "Ada"}));
    assert_eq!(kept.data()["recordingUrl"], "https://rec.invalid/2");
}

#[tokio::test]
async fn a_caller_who_opts_out_joins_the_list_of_a_smart_opt_out_agent_only() {
    let app = TestApp::spawn().await;
    let smart = app.keeping_agent("Smart", true).await;
    let plain = app.keeping_agent("Plain", false).await;
    let opt_out = |n: &str| format!("/api/public/v1/opt-outs/{}", n.replace('+', "%2B"));
    for (agent, number) in [(&smart, "+14155550123"), (&plain, "+14155550100")] {
        let id = app
            .record(&json!({"agentId": agent, "direction": "outbound", "contactNumber": number}))
            .await["conversationId"]
            .as_str()
            .unwrap()
            .to_owned();
        // Opted out mid-call: nothing yet, the call is not over.
        app.patch_conversation(&id, &json!({"optedOut": true}))
            .await;
        app.get(&opt_out(number))
            .await
            .assert_error(404, "not_found");
        let done = app
            .patch_conversation(&id, &json!({"status": "completed"}))
            .await;
        assert_eq!(done.status, 200, "{}", done.text);
    }
    let listed = app.get(&opt_out("+14155550123")).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert!(listed.data()["reason"]
        .as_str()
        .unwrap()
        .contains("smartOptOut"));
    app.get(&opt_out("+14155550100"))
        .await
        .assert_error(404, "not_found");
    // A call recorded finished and opted out at once lists its number too.
    app.record(
        &json!({"agentId": smart, "direction": "inbound", "status": "completed",
                       "startTimeUnix": 10, "endTimeUnix": 20, "optedOut": true,
                       "contactNumber": "+14155550111"}),
    )
    .await;
    assert_eq!(app.get(&opt_out("+14155550111")).await.status, 200);
}

#[tokio::test]
async fn a_call_keeps_the_agent_version_and_name_it_ran_with() {
    let app = TestApp::spawn().await;
    let agent = app.keeping_agent("Before", false).await;
    app.patch_agent(&agent, &json!({"name": "After"})).await;
    let current = app
        .record(&json!({"agentId": agent, "direction": "inbound"}))
        .await;
    assert_eq!(current["agentVersion"], 2);
    assert_eq!(current["agentName"], "After");
    let pinned = app
        .record(&json!({"agentId": agent, "direction": "inbound", "agentVersion": 1}))
        .await;
    assert_eq!(pinned["agentVersion"], 1);
    // Renamed and then deleted: the calls keep what they recorded and are still found by agent.
    app.patch_agent(&agent, &json!({"name": "Later"})).await;
    let id = pinned["conversationId"].as_str().unwrap();
    assert_eq!(
        app.get(&conversation_path(id, "")).await.data()["agentName"],
        "After"
    );
    let deleted = app.delete_agent(&agent).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    let by_agent = app.get(&format!("{CONVERSATIONS}?agentId={agent}")).await;
    assert_eq!(by_agent.data().as_array().unwrap().len(), 2);
    let kept = app.get(&conversation_path(id, "")).await;
    assert_eq!(kept.data()["agentVersion"], 1);
    assert_eq!(kept.data()["agentName"], "After");
    // Its analysis may still arrive; what a deleted agent's settings cannot vouch for is dropped.
    let late = app
        .send(
            Method::PATCH,
            &conversation_path(id, ""),
            Some(&app.key),
            &[("content-type", "application/json")],
            Some(
                json!({"summary": "late", "recordingUrl": "https://rec.invalid/3"})
                    .to_string()
                    .into_bytes(),
            ),
        )
        .await;
    assert_eq!(late.status, 200, "{}", late.text);
    assert_eq!(late.header("dropped-fields"), Some("/recordingUrl"));
    assert_eq!(late.data()["summary"], "late");
}

use crate::support::*;
use serde_json::json;

#[tokio::test]
async fn a_created_agent_can_be_read_back_with_every_default_filled_in() {
    let app = TestApp::spawn().await;
    let created = app.create_agent(&minimal_agent("Front desk")).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.etag(), "\"1\"");
    let id = created.data()["agentId"].as_str().unwrap();
    let got = app.get_agent(id).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["success"], json!(true));
    assert_eq!(got.data(), created.data());
    assert_eq!(got.data()["direction"], "outbound");
    assert_eq!(got.data()["metadata"]["createdBy"]["userId"], "alice");
}

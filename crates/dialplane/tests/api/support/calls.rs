//! Calls: agents set up to keep what calls collect, and conversations recorded over HTTP.

use super::*;
use reqwest::Method;
use serde_json::{json, Value};

pub const CONVERSATIONS: &str = "/api/public/v1/conversations";

/// `/api/public/v1/conversations/{id}{rest}`.
pub fn conversation_path(id: &str, rest: &str) -> String {
    format!("{CONVERSATIONS}/{id}{rest}")
}

impl TestApp {
    /// An agent that keeps everything a call collects (`storeData`, `recordVoice`), with the entities
    /// `party_size` and `name`, and `smartOptOut` as given.
    pub async fn keeping_agent(&self, name: &str, smart_opt_out: bool) -> String {
        let mut body = minimal_agent(name);
        body["platformSettings"] = json!({
            "dataCollection": {
                "storeData": true,
                "entities": {
                    "party_size": {"type": "integer", "description": "How many people"},
                    "name": {"type": "string", "description": "Who"}
                }
            },
            "privacy": {"recordVoice": true},
            "callActions": {"smartOptOut": smart_opt_out}
        });
        let r = self.create_agent(&body).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.data()["agentId"].as_str().unwrap().to_owned()
    }

    /// `POST /conversations` of `body` with `key`.
    pub async fn record_as(&self, key: &str, body: &Value) -> Resp {
        self.json(Method::POST, CONVERSATIONS, key, body).await
    }

    /// Records `body`, which must be taken (201); the conversation.
    pub async fn record(&self, body: &Value) -> Value {
        let r = self.record_as(&self.key, body).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.data().clone()
    }

    /// A call of `agent` in progress, started at `start`; its id.
    pub async fn call_started(&self, agent: &str, start: i64) -> String {
        let body = json!({"agentId": agent, "direction": "inbound", "startTimeUnix": start});
        self.record(&body).await["conversationId"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// `PATCH /conversations/{id}` of `body`.
    pub async fn patch_conversation(&self, id: &str, body: &Value) -> Resp {
        self.json(Method::PATCH, &conversation_path(id, ""), &self.key, body)
            .await
    }

    /// `POST /conversations/{id}/turns` of `turns`.
    pub async fn append_turns(&self, id: &str, turns: &Value) -> Resp {
        let body = json!({"turns": turns});
        self.json(
            Method::POST,
            &conversation_path(id, "/turns"),
            &self.key,
            &body,
        )
        .await
    }
}

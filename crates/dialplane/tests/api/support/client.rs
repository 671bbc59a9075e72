//! Answers as tests read them, and one helper per endpoint beyond the basic ones.

use super::TestApp;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// One HTTP answer, body parsed as JSON (or `Value::Null` when empty or not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `data` of a success envelope.
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// `error.code` of an error envelope.
    pub fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// `(path, code)` of each `error.details` entry.
    pub fn detail_paths(&self) -> Vec<(String, String)> {
        self.body["error"]["details"]
            .as_array()
            .map(|d| {
                d.iter()
                    .map(|e| {
                        (
                            e["path"].as_str().unwrap_or("").to_owned(),
                            e["code"].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Panics unless this is the error `status`/`code` with exactly the `(path, code)` details
    /// `expected`, in any order.
    pub fn assert_details(&self, status: u16, code: &str, expected: &[(&str, &str)]) {
        self.assert_error(status, code);
        let mut details = self.detail_paths();
        details.sort();
        let mut expected: Vec<(String, String)> = expected
            .iter()
            .map(|(p, c)| ((*p).to_owned(), (*c).to_owned()))
            .collect();
        expected.sort();
        assert_eq!(details, expected, "{}", self.text);
    }

    /// Panics unless this is the error envelope with `code` and a `requestId` equal to the header.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        assert_eq!(self.body["success"], json!(false), "body: {}", self.text);
        assert_eq!(self.error_code(), code, "body: {}", self.text);
        assert!(self.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
        assert_eq!(
            self.body["error"]["requestId"].as_str(),
            self.header("x-request-id"),
            "requestId matches x-request-id"
        );
    }

    /// Panics unless this is a validation error naming exactly `path` with `code` among its details.
    pub fn assert_problem(&self, path: &str, code: &str) {
        self.assert_error(400, "validation_error");
        let details = self.detail_paths();
        assert!(
            details.iter().any(|(p, c)| p == path && c == code),
            "expected ({path}, {code}) in {details:?}"
        );
    }

    /// The agents a 409 `conflict` names in its details, sorted.
    pub fn conflicting_agents(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.body["error"]["details"]
            .as_array()
            .unwrap_or_else(|| panic!("details: {}", self.text))
            .iter()
            .map(|d| d["agentId"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    }

    pub fn etag(&self) -> String {
        self.header("etag").expect("an ETag").to_owned()
    }
}

/// `/api/public/v1/agents/{id}{rest}`.
pub fn agent_path(id: &str, rest: &str) -> String {
    format!("/api/public/v1/agents/{id}{rest}")
}

/// The media type of JSON Patch (RFC 6902) bodies.
pub const JSON_PATCH: &str = "application/json-patch+json";

impl TestApp {
    /// `GET path` with the app's key.
    pub async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, Some(&self.key), &[], None)
            .await
    }

    /// `POST path` with the app's key, `headers` and no body.
    pub async fn post_empty(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.send(Method::POST, path, Some(&self.key), headers, None)
            .await
    }

    /// `PATCH /agents/{id}{query}` with a JSON Patch body (sent as-is) and `headers`.
    pub async fn json_patch(
        &self,
        id: &str,
        query: &str,
        ops: &Value,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut all = vec![("content-type", JSON_PATCH)];
        all.extend_from_slice(headers);
        self.send(
            Method::PATCH,
            &format!("{}{query}", agent_path(id, "")),
            Some(&self.key),
            &all,
            Some(ops.to_string().into_bytes()),
        )
        .await
    }

    /// `POST path` of `body` with the app's key and `Idempotency-Key: idempotency_key`.
    pub async fn post_idempotent(&self, path: &str, idempotency_key: &str, body: &Value) -> Resp {
        self.send(
            Method::POST,
            path,
            Some(&self.key),
            &[("idempotency-key", idempotency_key)],
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    /// Runs `sql` straight on the instance's database, behind the server's back (SQLite or PostgreSQL).
    pub async fn execute_sql(&self, sql: &str) {
        super::execute_sql(&self.db_url, sql).await;
    }

    /// The version numbers of the agent's whole history, newest first (one page of 100).
    pub async fn version_numbers(&self, id: &str) -> Vec<u64> {
        let r = self.get(&agent_path(id, "/versions?pageSize=100")).await;
        assert_eq!(r.status, 200, "versions: {}", r.text);
        r.data()
            .as_array()
            .expect("an array of versions")
            .iter()
            .map(|v| v["version"].as_u64().expect("a version number"))
            .collect()
    }
}

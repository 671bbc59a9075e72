//! Knowledge-base helpers: uploads and text documents.

use super::{form, FormPart, Resp, TestApp};
use reqwest::Method;
use serde_json::json;

/// Where the documents are.
pub const DOCUMENTS: &str = "/api/public/v1/knowledge-base/documents";

impl TestApp {
    /// `POST /knowledge-base/documents/file` of `parts` with `key`.
    pub async fn upload_as(&self, key: &str, parts: &[FormPart<'_>]) -> Resp {
        let (content_type, body) = form(parts);
        self.send(
            Method::POST,
            &format!("{DOCUMENTS}/file"),
            Some(key),
            &[("content-type", &content_type)],
            Some(body),
        )
        .await
    }

    pub async fn upload(&self, parts: &[FormPart<'_>]) -> Resp {
        self.upload_as(&self.key, parts).await
    }

    /// Creates a text document; returns its id.
    pub async fn text_document(&self, name: &str, text: &str) -> String {
        let r = self
            .json(
                Method::POST,
                &format!("{DOCUMENTS}/text"),
                &self.key,
                &json!({"name": name, "text": text}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.data()["documentId"].as_str().unwrap().to_owned()
    }
}

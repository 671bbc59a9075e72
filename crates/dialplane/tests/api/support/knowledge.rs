//! Knowledge-base helpers: uploads and text documents.

use super::{form, FormPart, Resp, TestApp};
use reqwest::Method;
use serde_json::json;

/// Where the documents are.
pub const DOCUMENTS: &str = "/api/public/v1/knowledge-base/documents";

/// The path of document `id`, with `rest` after it (`/content`).
pub fn document_path(id: &str, rest: &str) -> String {
    format!("{DOCUMENTS}/{id}{rest}")
}

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

    /// `POST /knowledge-base/documents/file` of a body made by hand, with `headers`.
    pub async fn upload_raw(
        &self,
        content_type: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut all = vec![("content-type", content_type)];
        all.extend_from_slice(headers);
        self.send(
            Method::POST,
            &format!("{DOCUMENTS}/file"),
            Some(&self.key),
            &all,
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

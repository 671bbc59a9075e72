//! The knowledge base: Callin's four document routes and ours beside them (text documents, rename,
//! delete, content, text, groups, search). See `docs/api/knowledge-base-api.md`.

pub mod documents;
pub mod form;
pub mod listing;
pub mod search;
pub mod upload;
pub mod urls;

use crate::error::ApiError;
use crate::AppState;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use dialplane_api::knowledge_base::{Document, DocumentDetails, DocumentMetadata};
use dialplane_store::{DocumentKind, StoredDocument};
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The knowledge base's settings.
#[derive(Clone)]
pub struct KnowledgeOptions {
    /// The most bytes one uploaded file may have (`--kb-max-file-mib`).
    pub max_file_bytes: usize,
    /// The most files one upload may carry (`--kb-max-files`).
    pub max_files: usize,
    /// The most original bytes a workspace may store (`--kb-quota-mib`).
    pub quota_bytes: u64,
    /// The server's public base URL for `details.fileUrl` (`--public-url`); else the request's
    /// `Host`.
    pub public_url: Option<String>,
    /// Time limit and inflation cap of text extraction.
    pub extraction: dialplane_extract::Limits,
    /// Extractions at once: a hostile file that runs past its time limit keeps a thread until it
    /// ends, so their number is bounded.
    pub extractions: Arc<tokio::sync::Semaphore>,
    /// The file bytes uploads may be reading, extracting and storing at once
    /// (`--kb-upload-memory-mib`); the others wait with their files spooled on disk.
    pub upload_memory: UploadBudget,
    /// Fetches URL documents, under the SSRF guard (`--allow-private-urls` lifts it).
    pub fetcher: crate::net::fetch::Fetcher,
}

impl KnowledgeOptions {
    /// These options with URL documents fetched under `policy` through `lookup`.
    pub fn fetching(
        self,
        policy: crate::net::AddressPolicy,
        lookup: Arc<dyn crate::net::fetch::Lookup>,
        limits: crate::net::fetch::FetchLimits,
    ) -> Self {
        Self {
            fetcher: crate::net::fetch::Fetcher::new(policy, lookup, limits),
            ..self
        }
    }
}

/// A bound on the file bytes that uploads work on in memory at once. An upload reserves its files'
/// size before it reads them back from their spool, and keeps it until it is answered; one larger
/// than the whole budget reserves all of it and so runs alone.
#[derive(Clone)]
pub struct UploadBudget {
    permits: Arc<tokio::sync::Semaphore>,
    kib: u32,
}

impl UploadBudget {
    pub fn new(bytes: u64) -> Self {
        let kib = u32::try_from(bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .max(1);
        Self {
            permits: Arc::new(tokio::sync::Semaphore::new(kib as usize)),
            kib,
        }
    }

    /// Waits until `bytes` (at most the whole budget) are free, and holds them until dropped.
    pub async fn reserve(&self, bytes: u64) -> tokio::sync::OwnedSemaphorePermit {
        let kib = u32::try_from(bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, self.kib);
        self.permits
            .clone()
            .acquire_many_owned(kib)
            .await
            .expect("the upload budget's semaphore is never closed")
    }
}

/// The most characters of a text document.
pub const MAX_TEXT_CHARS: usize = 1_000_000;
/// The body limit of the text route.
pub const TEXT_BODY_BYTES: usize = 4 << 20;

impl Default for KnowledgeOptions {
    fn default() -> Self {
        Self {
            max_file_bytes: 5 << 20,
            max_files: 20,
            quota_bytes: 100 << 20,
            public_url: None,
            extraction: dialplane_extract::Limits::default(),
            extractions: Arc::new(tokio::sync::Semaphore::new(4)),
            upload_memory: UploadBudget::new(8 << 20),
            fetcher: crate::net::fetch::Fetcher::new(
                crate::net::AddressPolicy::GlobalOnly,
                Arc::new(crate::net::fetch::SystemLookup),
                crate::net::fetch::FetchLimits::default(),
            ),
        }
    }
}

/// The knowledge-base routes, each with its documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(documents::list))
        .routes(routes!(
            documents::get,
            documents::rename,
            documents::delete
        ))
        .routes(routes!(documents::content))
        .routes(routes!(documents::text))
        .routes(routes!(documents::agents))
        .routes(routes!(listing::groups))
        .routes(routes!(search::search))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(upload::text_document))
                .route_layer(crate::limits::body_limit(TEXT_BODY_BYTES)),
        )
        // The upload reads its body itself, within the limit the server's settings give it.
        .routes(routes!(upload::upload))
        .routes(routes!(urls::create_url))
        .routes(routes!(urls::refresh))
}

/// A document on the wire; `base` is the server's public URL (for `details.fileUrl`).
pub fn wire(document: StoredDocument, base: &str) -> Document {
    let details = match document.kind {
        DocumentKind::Url => DocumentDetails {
            url: document.url,
            file_url: None,
            file_type: None,
            file_size: None,
        },
        DocumentKind::File => DocumentDetails {
            url: None,
            file_url: Some(format!(
                "{base}{}/knowledge-base/documents/{}/content",
                crate::http::API,
                document.document_id
            )),
            file_type: document.file_type,
            file_size: Some(document.size_bytes),
        },
    };
    Document {
        document_id: document.document_id,
        kind: document.kind.as_str().into(),
        name: document.name,
        details,
        group_id: document.group_id,
        status: document.status.as_str().into(),
        status_message: document.status_message,
        text_chars: document.text_chars,
        metadata: DocumentMetadata {
            created_at: document.created_at,
            updated_at: document.updated_at,
            created_by: document.created_by,
        },
    }
}

/// The server's base URL as clients reach it: `--public-url`, else `http://<Host>`.
pub fn base_url(state: &AppState, headers: &axum::http::HeaderMap) -> String {
    if let Some(public) = &state.knowledge.public_url {
        return public.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        // A host name or address with its port: anything else would break the link.
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// A document id from a path: any id we could have made (a UUID).
pub fn parse_document_id(raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::try_parse(raw)
        .map(|id| id.to_string())
        .map_err(|_| ApiError::parameter("documentId", format!("is not a document id: {raw:?}")))
}

/// An opaque cursor holding the last item's sort key and id, and the order it was made for.
pub fn encode_cursor(order: &str, key: &str, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("kb1\n{order}\n{id}\n{key}"))
}

/// The (key, id) of a cursor made by [`encode_cursor`] for `order`.
pub fn decode_cursor(cursor: &str, order: &str) -> Result<(String, String), ApiError> {
    let refused = || {
        ApiError::parameter(
            "cursor",
            "is not a cursor this list gave out (for this order)",
        )
    };
    let raw = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(refused)?;
    let mut parts = raw.splitn(4, '\n');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("kb1"), Some(o), Some(id), Some(key)) if o == order && !key.contains('\0') => {
            Ok((key.to_owned(), id.to_owned()))
        }
        _ => Err(refused()),
    }
}

#[cfg(test)]
mod tests {
    use super::UploadBudget;
    use std::time::Duration;

    /// Whether `reserve(bytes)` is granted without waiting (a zero timeout polls it once first).
    async fn granted_now(budget: &UploadBudget, bytes: u64) -> bool {
        tokio::time::timeout(Duration::ZERO, budget.reserve(bytes))
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn uploads_past_the_budget_wait_and_one_larger_than_it_runs_alone() {
        let budget = UploadBudget::new(8 << 20);
        let five = budget.reserve(5 << 20).await;
        assert!(granted_now(&budget, 3 << 20).await, "3 MiB more fits");
        assert!(!granted_now(&budget, 4 << 20).await, "4 MiB more must wait");
        drop(five);
        let all = budget.reserve(50 << 20).await;
        assert!(
            !granted_now(&budget, 1).await,
            "a larger one holds the whole budget"
        );
        drop(all);
        assert!(granted_now(&budget, 8 << 20).await);
    }
}

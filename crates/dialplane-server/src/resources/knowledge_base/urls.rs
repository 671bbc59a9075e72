//! URL documents: created `processing`, fetched in the background under the SSRF guard, then
//! `ready` or `failed`; fetched again on `refresh`; a fetch a stop cut short is taken up again at
//! the next start.

use super::upload::{extract_text, one_document, store, string_fields};
use super::{base_url, parse_document_id, wire};
use crate::auth::Writer;
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{idempotency, JsonObject, NoBody};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use dialplane_api::knowledge_base::DocumentEnvelope;
use dialplane_api::Envelope;
use dialplane_core::{Pointer, ProblemCode, Problems};
use dialplane_extract::FileType;
use dialplane_store::{
    Blob, CompleteFetch, CreateDocuments, DocumentKind, DocumentStatus, FetchOutcome, NewDocument,
    StartRefresh, StoredDocument,
};
use serde_json::Value;
use std::sync::Arc;

/// The longest URL taken.
const MAX_URL_CHARS: usize = 2048;

/// Create a document from a URL
///
/// Callin's `{url, name}`. The document is `processing` until its page has been fetched (in the
/// background: 10 s, at most 5 redirects, at most 5 MB, HTML reduced to its text), then `ready` or
/// `failed`. Only `http` and `https`; the address of every hop must be public unless the server
/// runs with `--allow-private-urls`.
#[utoipa::path(post, path = "/api/public/v1/knowledge-base/documents/url", operation_id = "createUrlDocument",
    tag = "knowledge-base",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the same key and body within 24 hours replay the first answer")),
    request_body(content = dialplane_api::knowledge_base::UrlDocumentCreate, content_type = "application/json",
        example = json!({"url": "https://docs.example.com/opening-hours", "name": "Opening hours"})),
    responses(
        (status = 201, description = "Created, `processing`", body = DocumentEnvelope),
        (status = 400, description = "`invalid_json` or `validation_error` (`invalid_format` at `/url`)", body = ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`", body = ErrorEnvelope),
        (status = 422, description = "`idempotency_key_reused`", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn create_url(
    State(state): State<AppState>,
    Writer(principal): Writer,
    headers: HeaderMap,
    JsonObject { body, .. }: JsonObject,
) -> Result<Response, ApiError> {
    let request = Value::Object(body.clone());
    let mut problems = Problems::new();
    let [name, url] = string_fields(&body, ["name", "url"], &mut problems);
    if let Some(url) = &url {
        if let Err(why) = check_url(&state, url) {
            problems.push(&Pointer::root().key("url"), ProblemCode::InvalidFormat, why);
        }
    }
    let (Some(name), Some(url)) = problems
        .into_result((name, url))
        .map_err(ApiError::validation)?
    else {
        return Err(ApiError::internal("a checked URL document lost its fields"));
    };
    let idempotency = idempotency(&headers, &request, state.idempotency_ttl)?;
    let now = dialplane_core::agent::timestamp(chrono::Utc::now());
    let document = StoredDocument {
        document_id: uuid::Uuid::now_v7().to_string(),
        kind: DocumentKind::Url,
        name: name.trim().to_owned(),
        url: Some(url.clone()),
        file_type: None,
        size_bytes: 0,
        group_id: None,
        status: DocumentStatus::Processing,
        status_message: None,
        text_chars: 0,
        created_at: now.clone(),
        updated_at: now,
        created_by: principal.user.clone(),
    };
    let (workspace, id) = (principal.workspace.clone(), document.document_id.clone());
    let create = CreateDocuments {
        workspace: workspace.clone(),
        group: None,
        documents: vec![NewDocument {
            document,
            bytes: None,
            text: None,
        }],
        quota_bytes: state.knowledge.quota_bytes,
    };
    let answer = one_document(base_url(&state, &headers));
    let (response, created) = store(&state, create, idempotency, answer).await?;
    // A replayed answer names the document its first request made (and fetched).
    if created.is_some() {
        spawn_fetch(&state, workspace, id, url);
    }
    Ok(response)
}

/// What is wrong with `url` as a document's URL, if anything.
fn check_url(state: &AppState, url: &str) -> Result<(), String> {
    if url.trim().is_empty() {
        return Err("is empty: an http or https URL is required".into());
    }
    let chars = url.chars().count();
    if chars > MAX_URL_CHARS {
        return Err(format!(
            "must have at most {MAX_URL_CHARS} characters, got {chars}"
        ));
    }
    let parsed = url::Url::parse(url).map_err(|e| format!("is not a URL: {e}"))?;
    state.knowledge.fetcher.check(&parsed).map_err(|e| e.0)
}

/// Fetch a URL document again
///
/// Sets it `processing` and fetches its page anew (202); 409 for a file document or while a
/// fetch is under way.
#[utoipa::path(post, path = "/api/public/v1/knowledge-base/documents/{documentId}/refresh", operation_id = "refreshDocument",
    tag = "knowledge-base",
    params(("documentId" = String, Path, description = "The document's id")),
    responses(
        (status = 202, description = "Being fetched again", body = DocumentEnvelope),
        (status = 400, description = "`invalid_parameter`; `invalid_json` or `validation_error` (`unknown_field`): a body, which none is needed", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: a file document, or a fetch under way", body = ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`: a body that is not JSON (none is needed)", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn refresh(
    State(state): State<AppState>,
    Writer(principal): Writer,
    headers: HeaderMap,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<Response, ApiError> {
    let id = parse_document_id(&id)?;
    let workspace = principal.workspace.clone();
    let document = state
        .store
        .write(StartRefresh {
            workspace: workspace.clone(),
            id: id.clone(),
            now: dialplane_core::agent::timestamp(chrono::Utc::now()),
        })
        .await?;
    if let Some(url) = document.url.clone() {
        spawn_fetch(&state, workspace, id, url);
    }
    let base = base_url(&state, &headers);
    Ok((
        StatusCode::ACCEPTED,
        Json(Envelope::of(wire(document, &base))),
    )
        .into_response())
}

/// Takes up every fetch a stop cut short.
pub async fn resume_fetches(state: &AppState) -> Result<usize, dialplane_store::StoreError> {
    let unfetched = state.store.unfetched_documents().await?;
    let count = unfetched.len();
    for (workspace, id, url) in unfetched {
        spawn_fetch(state, workspace, id, url);
    }
    Ok(count)
}

fn spawn_fetch(state: &AppState, workspace: String, id: String, url: String) {
    let state = state.clone();
    tokio::spawn(async move {
        let outcome = fetch(&state, &url).await;
        let complete = CompleteFetch {
            workspace,
            id: id.clone(),
            outcome,
            quota_bytes: state.knowledge.quota_bytes,
            now: dialplane_core::agent::timestamp(chrono::Utc::now()),
        };
        match state.store.write(complete).await {
            Ok(Some(document)) => state
                .metrics
                .documents_stored(std::slice::from_ref(&document)),
            Ok(None) => {}
            // Left `processing`: the next start takes it up again.
            Err(e) => tracing::warn!(document = %id, error = %e, "storing a fetched page failed"),
        }
    });
}

/// The page at `url`, typed by its `Content-Type` (or, for a PDF or a DOCX, by its bytes), with its
/// text.
async fn fetch(state: &AppState, url: &str) -> FetchOutcome {
    let fetched = state.knowledge.fetcher.get(url).await;
    let outcome = match &fetched {
        Ok(_) => "ok",
        Err(why) if why.is_refused() => "refused",
        Err(_) => "failed",
    };
    state
        .metrics
        .kb_fetches
        .get_or_create(&crate::metrics::OutcomeLabels { outcome })
        .inc();
    let fetched = match fetched {
        Ok(fetched) => fetched,
        Err(why) => return FetchOutcome::Failed(why.0),
    };
    let content_type = fetched.content_type.as_deref().unwrap_or("");
    let charset = fetched.charset.clone();
    let html = matches!(content_type, "text/html" | "application/xhtml+xml");
    let bytes = bytes::Bytes::from(fetched.bytes);
    let file_type = if html {
        None
    } else if bytes.starts_with(b"%PDF-") || content_type == "application/pdf" {
        Some(FileType::Pdf)
    } else if dialplane_extract::sniff("page.docx", &bytes) == Ok(FileType::Docx) {
        Some(FileType::Docx)
    } else if content_type == "text/markdown" {
        Some(FileType::Md)
    } else if content_type.starts_with("text/")
        || content_type.is_empty()
        || matches!(content_type, "application/json" | "application/xml")
        || content_type.ends_with("+json")
        || content_type.ends_with("+xml")
    {
        Some(FileType::Txt)
    } else {
        return FetchOutcome::Failed(format!(
            "the page is {content_type}, which has no text to read"
        ));
    };
    let text = match file_type {
        Some(file_type @ (FileType::Pdf | FileType::Docx)) => {
            match extract_text(state, file_type, Blob::Memory(bytes.clone())).await {
                Ok(text) => text,
                Err(e) => Err(e.message),
            }
        }
        // Text in the page's charset.
        _ => {
            let page = dialplane_extract::html::decode(&bytes, charset.as_deref());
            let text = dialplane_store::cpu::run(page.len() >= 1 << 20, || {
                if html {
                    dialplane_extract::tidy(&dialplane_extract::html::text(&page))
                } else {
                    dialplane_extract::tidy(&page)
                }
            });
            Ok(Arc::new(dialplane_store::Extracted {
                passages: dialplane_extract::passages(&text),
                text,
            }))
        }
    };
    FetchOutcome::Fetched {
        bytes,
        file_type: file_type.map_or("html", FileType::wire).to_owned(),
        text,
    }
}

//! Documents: list, get, rename, delete, their bytes and their text; and the groups.

use super::listing::{page, paging, Order};
use super::{base_url, encode_cursor, parse_document_id, wire};
use crate::auth::{Caller, Writer};
use crate::error::{ApiError, ErrorCode, ErrorEnvelope};
use crate::extract::JsonObject;
use crate::query::Query;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use dialplane_api::knowledge_base::{CursorPagination, DocumentEnvelope, DocumentListEnvelope};
use dialplane_api::Envelope;
use dialplane_core::{Pointer, ProblemCode, Problems};
use dialplane_store::{
    DeleteDocument, DocumentKind, DocumentQuery, DocumentStatus, RenameDocument,
};

/// List documents
///
/// Whole documents, newest first by default, a page at a time.
#[utoipa::path(get, path = "/api/public/v1/knowledge-base/documents", operation_id = "listDocuments",
    tag = "knowledge-base",
    params(
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
        ("pageSize" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..=100, default 30"),
        ("search" = Option<String>, Query, description = "Part of the name, without regard to case"),
        ("sortBy" = Option<String>, Query, description = "`name` or `created_at` (default)"),
        ("sortDirection" = Option<String>, Query, description = "`asc` or `desc` (default)"),
        ("type" = Option<String>, Query, description = "`url` or `file`"),
        ("groupId" = Option<String>, Query, description = "Only this group's documents"),
    ),
    responses(
        (status = 200, description = "A page of documents", body = DocumentListEnvelope),
        (status = 400, description = "`invalid_parameter`", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    headers: HeaderMap,
    query: Query,
) -> Result<Response, ApiError> {
    let q = query.known(
        &[
            "cursor",
            "pageSize",
            "search",
            "sortBy",
            "sortDirection",
            "type",
            "groupId",
        ],
        &[],
    )?;
    let order = Order::read(&q)?;
    let kind = match q.get("type") {
        None => None,
        Some("url") => Some(DocumentKind::Url),
        Some("file") => Some(DocumentKind::File),
        Some(other) => {
            return Err(ApiError::parameter(
                "type",
                format!("must be url or file, got {other:?}"),
            ))
        }
    };
    let query = DocumentQuery {
        search: q.get("search").filter(|s| !s.is_empty()).map(str::to_owned),
        kind,
        group_id: q
            .get("groupId")
            .map(|g| {
                uuid::Uuid::try_parse(g)
                    .map(|id| id.to_string())
                    .map_err(|_| {
                        ApiError::parameter("groupId", format!("is not a group id: {g:?}"))
                    })
            })
            .transpose()?,
        ..order.query()
    };
    let documents = state
        .store
        .list_documents(&principal.workspace, &query)
        .await?;
    let (documents, has_more) = page(documents, order.page_size);
    let next = documents
        .last()
        .filter(|_| has_more)
        .map(|last| order.cursor_after(&last.name, &last.created_at, &last.document_id));
    let base = base_url(&state, &headers);
    Ok(Json(DocumentListEnvelope {
        success: true,
        data: documents.into_iter().map(|d| wire(d, &base)).collect(),
        pagination: order.pagination(has_more, next),
    })
    .into_response())
}

/// Get a document
#[utoipa::path(get, path = "/api/public/v1/knowledge-base/documents/{documentId}", operation_id = "getDocument",
    tag = "knowledge-base",
    params(("documentId" = String, Path, description = "The document's id")),
    responses(
        (status = 200, description = "The document", body = DocumentEnvelope),
        (status = 400, description = "`invalid_parameter`", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Caller(principal): Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (_, document) = document_at(&state, &principal.workspace, &id).await?;
    Ok(Json(Envelope::of(wire(document, &base_url(&state, &headers)))).into_response())
}

fn no_document() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such document")
}

/// The document a path names, of the caller's workspace: its id and the document.
async fn document_at(
    state: &AppState,
    workspace: &str,
    raw: &str,
) -> Result<(String, dialplane_store::StoredDocument), ApiError> {
    let id = parse_document_id(raw)?;
    let document = state
        .store
        .get_document(workspace, &id)
        .await?
        .ok_or_else(no_document)?;
    Ok((id, document))
}

/// Rename a document
///
/// A merge patch of `{name}`; the other fields are read-only.
#[utoipa::path(patch, path = "/api/public/v1/knowledge-base/documents/{documentId}", operation_id = "renameDocument",
    tag = "knowledge-base",
    params(("documentId" = String, Path, description = "The document's id")),
    request_body(content = dialplane_api::knowledge_base::DocumentPatch, content_type = "application/json",
        example = json!({"name": "Opening hours (2027)"})),
    responses(
        (status = 200, description = "The renamed document", body = DocumentEnvelope),
        (status = 400, description = "`invalid_json` or `validation_error`", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn rename(
    State(state): State<AppState>,
    Writer(principal): Writer,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonObject { body, .. }: JsonObject,
) -> Result<Response, ApiError> {
    let id = parse_document_id(&id)?;
    let mut problems = Problems::new();
    for key in body.keys().filter(|k| k.as_str() != "name") {
        let (code, message) = match key.as_str() {
            "documentId" | "type" | "details" | "groupId" | "status" | "statusMessage"
            | "textChars" | "metadata" => (ProblemCode::ReadOnly, "is read-only"),
            _ => (ProblemCode::UnknownField, "is not a known field"),
        };
        problems.push(&Pointer::root().key(key), code, message);
    }
    let name = match body.get("name") {
        None => None,
        Some(serde_json::Value::String(name)) => {
            if let Err((code, message)) = dialplane_core::validate::check_name(name) {
                problems.push(&Pointer::root().key("name"), code, message);
            }
            Some(name.trim().to_owned())
        }
        Some(_) => {
            problems.push(
                &Pointer::root().key("name"),
                ProblemCode::InvalidType,
                "must be a string",
            );
            None
        }
    };
    let name = problems.into_result(name).map_err(ApiError::validation)?;
    let workspace = principal.workspace.clone();
    let document = match name {
        Some(name) => {
            state
                .store
                .write(RenameDocument {
                    workspace,
                    id,
                    name,
                    now: dialplane_core::agent::timestamp(chrono::Utc::now()),
                })
                .await?
        }
        None => state
            .store
            .get_document(&workspace, &id)
            .await?
            .ok_or_else(no_document)?,
    };
    Ok(Json(Envelope::of(wire(document, &base_url(&state, &headers)))).into_response())
}

/// Delete a document
///
/// Removes the document with its bytes, text and passages.
#[utoipa::path(delete, path = "/api/public/v1/knowledge-base/documents/{documentId}", operation_id = "deleteDocument",
    tag = "knowledge-base",
    params(("documentId" = String, Path, description = "The document's id")),
    responses(
        (status = 200, description = "Deleted", body = dialplane_api::knowledge_base::DocumentDeletedEnvelope),
        (status = 400, description = "`invalid_parameter`", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: agents name it (each in `details`, code `referenced`)", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Writer(principal): Writer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_document_id(&id)?;
    state
        .store
        .write(DeleteDocument {
            workspace: principal.workspace.clone(),
            id: id.clone(),
        })
        .await?;
    Ok(Json(Envelope::of(
        dialplane_api::knowledge_base::DocumentDeleted {
            document_id: id,
            deleted: true,
        },
    ))
    .into_response())
}

/// Get a document's original bytes
///
/// With their `Content-Type`; a URL document's fetched bytes.
#[utoipa::path(get, path = "/api/public/v1/knowledge-base/documents/{documentId}/content", operation_id = "getDocumentContent",
    tag = "knowledge-base",
    params(("documentId" = String, Path, description = "The document's id")),
    responses(
        (status = 200, description = "The original bytes, with their type", content(
            (Vec<u8> = "application/pdf"),
            (Vec<u8> = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
            (String = "text/plain; charset=utf-8"),
            (String = "text/markdown; charset=utf-8"),
            (String = "text/html"),
            (String = "text/plain"),
            (String = "text/markdown"),
            (Vec<u8> = "application/octet-stream"),
        )),
        (status = 400, description = "`invalid_parameter`", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: a URL document not fetched yet", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn content(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (id, document) = document_at(&state, &principal.workspace, &id).await?;
    let bytes = state
        .store
        .document_bytes(&principal.workspace, &id)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Conflict,
                "the document has no content yet: it was not fetched",
            )
        })?;
    // A page is served as fetched, in its own charset, which is not kept: so none is claimed.
    let content_type = match (document.kind, document.file_type.as_deref()) {
        (DocumentKind::Url, Some("html")) => "text/html",
        (DocumentKind::Url, Some("txt")) => "text/plain",
        (DocumentKind::Url, Some("md")) => "text/markdown",
        (_, other) => other
            .and_then(dialplane_extract::FileType::from_wire)
            .map_or(
                "application/octet-stream",
                dialplane_extract::FileType::content_type,
            ),
    };
    Ok(([(header::CONTENT_TYPE, content_type)], bytes).into_response())
}

/// Get a document's extracted text
#[utoipa::path(get, path = "/api/public/v1/knowledge-base/documents/{documentId}/text", operation_id = "getDocumentText",
    tag = "knowledge-base",
    params(("documentId" = String, Path, description = "The document's id")),
    responses(
        (status = 200, description = "The text", content_type = "text/plain; charset=utf-8", body = String),
        (status = 400, description = "`invalid_parameter`", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: the document is not `ready`", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn text(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (id, document) = document_at(&state, &principal.workspace, &id).await?;
    let not_ready = || {
        ApiError::new(
            ErrorCode::Conflict,
            format!(
                "the document is {}, not ready: it has no text",
                document.status.as_str()
            ),
        )
    };
    if document.status != DocumentStatus::Ready {
        return Err(not_ready());
    }
    let text = state
        .store
        .document_text(&principal.workspace, &id)
        .await?
        .ok_or_else(not_ready)?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// List the agents that name a document
///
/// The agents whose `conversationConfig.agent.prompt.knowledgeBase` names it (summaries, by id).
#[utoipa::path(get, path = "/api/public/v1/knowledge-base/documents/{documentId}/agents", operation_id = "listDocumentAgents",
    tag = "knowledge-base",
    params(
        ("documentId" = String, Path, description = "The document's id"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
        ("pageSize" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..=100, default 30"),
    ),
    responses(
        (status = 200, description = "A page of agent summaries", body = dialplane_api::knowledge_base::DocumentAgentsEnvelope),
        (status = 400, description = "`invalid_parameter`", body = ErrorEnvelope),
        (status = 404, description = "`not_found`", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn agents(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    query: Query,
) -> Result<Response, ApiError> {
    let q = query.known(&["cursor", "pageSize"], &[])?;
    let (page_size, after) = paging(&q, "agents")?;
    let workspace = &principal.workspace;
    let (id, _) = document_at(&state, workspace, &id).await?;
    let agents = state
        .store
        .document_agents(
            workspace,
            &id,
            after.as_ref().map(|(_, id)| id.as_str()),
            page_size,
        )
        .await?;
    let (agents, has_more) = page(agents, page_size);
    let next_cursor = agents
        .last()
        .filter(|_| has_more)
        .map(|last| encode_cursor("agents", "", &last.agent_id.to_string()));
    Ok(Json(dialplane_api::knowledge_base::DocumentAgentsEnvelope {
        success: true,
        data: agents
            .into_iter()
            .map(|a| dialplane_api::agents::AgentListItem {
                agent_id: a.agent_id,
                name: a.name,
                tags: a.tags,
                metadata: a.metadata,
            })
            .collect(),
        pagination: CursorPagination {
            page_size,
            has_more,
            next_cursor,
        },
    })
    .into_response())
}

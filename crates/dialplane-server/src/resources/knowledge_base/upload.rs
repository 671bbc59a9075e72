//! Creating documents: Callin's multipart upload into a group, and ours from a JSON text body.
//! Each file's type is told by its bytes, its text extracted on a blocking thread, and the
//! documents stored all or none in one transaction with their bytes.

use super::form::read_form;
use super::{base_url, wire, MAX_TEXT_CHARS};
use crate::auth::Writer;
use crate::error::{mib, ApiError, ErrorCode, ErrorEnvelope};
use crate::extract::{idempotency, JsonObject};
use crate::resources::write_answered;
use crate::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use dialplane_api::knowledge_base::{DocumentEnvelope, QuotaUse, Upload, UploadEnvelope};
use dialplane_api::Envelope;
use dialplane_core::{CreatedBy, Pointer, ProblemCode, Problems};
use dialplane_extract::FileType;
use dialplane_store::{
    Blob, CreateDocuments, CreatedDocuments, DocumentKind, DocumentStatus, Extracted, Group,
    NewDocument, Recorded, Spool, StoredDocument,
};
use serde_json::Value;
use std::sync::Arc;

/// Create a text document
///
/// A `file` document of `fileType: "txt"` from `{name, text}`; `ready` when answered.
#[utoipa::path(post, path = "/api/public/v1/knowledge-base/documents/text", operation_id = "createTextDocument",
    tag = "knowledge-base",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the same key and body within 24 hours replay the first answer")),
    request_body(content = dialplane_api::knowledge_base::TextDocumentCreate, content_type = "application/json",
        example = json!({"name": "Opening hours", "text": "We are open Monday to Friday, 9 to 5."})),
    responses(
        (status = 201, description = "Created", body = DocumentEnvelope),
        (status = 400, description = "`invalid_json` or `validation_error`", body = ErrorEnvelope),
        (status = 403, description = "`quota_exceeded`", body = ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`", body = ErrorEnvelope),
        (status = 422, description = "`idempotency_key_reused`", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn text_document(
    State(state): State<AppState>,
    Writer(principal): Writer,
    headers: HeaderMap,
    JsonObject { body, .. }: JsonObject,
) -> Result<Response, ApiError> {
    let request = Value::Object(body.clone());
    let mut problems = Problems::new();
    let [name, text] = string_fields(&body, ["name", "text"], &mut problems);
    if let Some(text) = &text {
        let chars = text.chars().count();
        if chars == 0 || chars > MAX_TEXT_CHARS {
            let code = if chars == 0 {
                ProblemCode::TooShort
            } else {
                ProblemCode::TooLong
            };
            problems.push(
                &Pointer::root().key("text"),
                code,
                format!("must have 1 to {MAX_TEXT_CHARS} characters, got {chars}"),
            );
        }
    }
    let (Some(name), Some(text)) = problems
        .into_result((name, text))
        .map_err(ApiError::validation)?
    else {
        return Err(ApiError::internal(
            "a checked text document lost its fields",
        ));
    };
    let idempotency = idempotency(&headers, &request, state.idempotency_ttl)?;
    let blob = Blob::Memory(bytes::Bytes::from(text.into_bytes()));
    let document = new_document(&state, &principal.user, name, FileType::Txt, blob).await?;
    let create = CreateDocuments {
        workspace: principal.workspace.clone(),
        group: None,
        documents: vec![document],
        quota_bytes: state.knowledge.quota_bytes,
    };
    let answer = one_document(base_url(&state, &headers));
    let (response, _) = store(&state, create, idempotency, answer).await?;
    Ok(response)
}

/// The answer to a create of one document: 201 with it.
pub(super) fn one_document(base: String) -> impl Fn(&CreatedDocuments) -> Recorded + Send + Sync {
    move |created| {
        let document = created.documents.first().cloned().map(|d| wire(d, &base));
        created_answer(&Envelope::of(document))
    }
}

/// Runs `create` (at most once per `Idempotency-Key`) and answers what `answer` makes of it;
/// counts what it stored. The documents, when this request stored them.
pub(super) async fn store(
    state: &AppState,
    create: CreateDocuments,
    idempotency: Option<dialplane_store::Idempotency>,
    answer: impl Fn(&CreatedDocuments) -> Recorded + Send + Sync + 'static,
) -> Result<(Response, Option<CreatedDocuments>), ApiError> {
    let workspace = create.workspace.clone();
    let (response, created) =
        write_answered(state, &workspace, create, idempotency, Arc::new(answer)).await?;
    if let Some(created) = &created {
        state.metrics.documents_stored(&created.documents);
    }
    Ok((response, created))
}

/// 201 with `body` as JSON.
pub(super) fn created_answer(body: &impl serde::Serialize) -> Recorded {
    Recorded {
        status: StatusCode::CREATED.as_u16(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: serde_json::to_vec(body).unwrap_or_default(),
    }
}

/// The members `fields` of a JSON body, each a required string, with every problem reported:
/// members it does not know, missing or non-string ones, and the name rule on `name`.
pub(super) fn string_fields<const N: usize>(
    body: &serde_json::Map<String, Value>,
    fields: [&str; N],
    problems: &mut Problems,
) -> [Option<String>; N] {
    for key in body.keys().filter(|k| !fields.contains(&k.as_str())) {
        problems.push(
            &Pointer::root().key(key),
            ProblemCode::UnknownField,
            "is not a known field",
        );
    }
    fields.map(|key| {
        let at = Pointer::root().key(key);
        match body.get(key) {
            Some(Value::String(s)) => {
                if key == "name" {
                    if let Err((code, message)) = dialplane_core::validate::check_name(s) {
                        problems.push(&at, code, message);
                    }
                }
                Some(s.clone())
            }
            None | Some(Value::Null) => {
                problems.push(&at, ProblemCode::Required, "is required");
                None
            }
            Some(_) => {
                problems.push(&at, ProblemCode::InvalidType, "must be a string");
                None
            }
        }
    })
}

/// The text of `blob` and its passages, extracted on a blocking thread (a bounded number at once),
/// or why it cannot be had. A spooled blob is read on that thread and freed there.
pub(super) async fn extract_text(
    state: &AppState,
    file_type: FileType,
    blob: Blob,
) -> Result<Result<Arc<Extracted>, String>, ApiError> {
    let limits = state.knowledge.extraction;
    let text = {
        let _permit = state.knowledge.extractions.acquire().await;
        let started = std::time::Instant::now();
        let text = match blob {
            Blob::Memory(bytes) => dialplane_extract::extract(file_type, bytes, limits).await,
            Blob::Spooled(spool) => {
                let len = usize::try_from(spool.len()).unwrap_or(usize::MAX);
                let load = move |buf: &mut [u8]| spool.read_into(buf);
                dialplane_extract::extract_loaded(file_type, len, load, limits)
                    .await
                    .map_err(|e| read_back_failed(&e))?
            }
        };
        let outcome = if text.is_ok() { "ok" } else { "failed" };
        state
            .metrics
            .kb_extraction_seconds
            .get_or_create(&crate::metrics::ExtractionLabels {
                file_type: file_type.wire(),
                outcome,
            })
            .observe(started.elapsed().as_secs_f64());
        text
    };
    let text = match text {
        Ok(text) => text,
        Err(failure) => return Ok(Err(failure.0)),
    };
    let passages =
        dialplane_store::cpu::run(text.len() >= 1 << 20, || dialplane_extract::passages(&text));
    Ok(Ok(Arc::new(Extracted { text, passages })))
}

/// A document of `blob`, its text extracted now (a file whose text cannot be had is `failed`).
async fn new_document(
    state: &AppState,
    user: &CreatedBy,
    name: String,
    file_type: FileType,
    blob: Blob,
) -> Result<NewDocument, ApiError> {
    let (status, status_message, text) = match extract_text(state, file_type, blob.clone()).await? {
        Ok(text) => (DocumentStatus::Ready, None, Some(text)),
        Err(why) => (DocumentStatus::Failed, Some(why), None),
    };
    let now = dialplane_core::agent::timestamp(chrono::Utc::now());
    Ok(NewDocument {
        document: StoredDocument {
            document_id: uuid::Uuid::now_v7().to_string(),
            kind: DocumentKind::File,
            name: name.trim().to_owned(),
            url: None,
            file_type: Some(file_type.wire().to_owned()),
            size_bytes: blob.len(),
            group_id: None,
            status,
            status_message,
            text_chars: text.as_ref().map_or(0, |t| t.text.chars().count() as u64),
            created_at: now.clone(),
            updated_at: now,
            created_by: user.clone(),
        },
        bytes: Some(blob),
        text,
    })
}

/// Upload files into a group
///
/// Callin's upload: `multipart/form-data` with `groupName` (the group is created, or matched without
/// regard to case) and one or more `files` (`.pdf`, `.docx`, `.tsx`, `.txt`, `.md`; at most
/// `--kb-max-file-mib` each, `--kb-max-files` in all). All or nothing: if any file is refused,
/// nothing is stored and every refused file is listed at `/files/<i>`. Each file's text is
/// extracted before the answer: a file of the right type whose text cannot be had is stored as
/// `failed` with a `statusMessage`.
#[utoipa::path(post, path = "/api/public/v1/knowledge-base/documents/file", operation_id = "uploadDocuments",
    tag = "knowledge-base",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the same key, group name and files (name, type, bytes, in order) replay the first answer")),
    request_body(content = inline(UploadForm), content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored: the group, its new documents, and the quota in MiB", body = UploadEnvelope),
        (status = 400, description = "`validation_error`: every refused file at `/files/<i>`", body = ErrorEnvelope),
        (status = 403, description = "`quota_exceeded`", body = ErrorEnvelope),
        (status = 413, description = "`payload_too_large`: a file over the size limit (each listed)", body = ErrorEnvelope),
        (status = 415, description = "`unsupported_media_type`: not `multipart/form-data`", body = ErrorEnvelope),
        (status = 422, description = "`idempotency_key_reused`", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn upload(
    State(state): State<AppState>,
    Writer(principal): Writer,
    headers: HeaderMap,
    req: Request,
) -> Result<Response, ApiError> {
    let key_given = crate::extract::idempotency_key(&headers)?.is_some();
    let (group_name, parts, mut problems) = read_form(&state, req).await?;
    // "The same body": the same group name and the same files in the same order (name, type, bytes),
    // whatever the multipart boundary.
    let idempotency = if key_given {
        let files: Vec<Value> = parts
            .iter()
            .map(|p| {
                serde_json::json!({
                    "name": p.name,
                    "contentType": p.content_type,
                    "size": p.size,
                    "sha256": p.sha256,
                })
            })
            .collect();
        let request = serde_json::json!({"groupName": group_name, "files": files});
        idempotency(&headers, &request, state.idempotency_ttl)?
    } else {
        None
    };
    let options = &state.knowledge;
    // From here the files are read back into memory: within the servers' budget for that.
    let in_memory: u64 = parts
        .iter()
        .filter_map(|p| p.spool.as_ref().map(|s| s.len()))
        .sum();
    let _budget = options.upload_memory.reserve(in_memory).await;
    let used = state.store.stored_bytes(&principal.workspace).await?;
    let (typed, statuses) = check_files(options, used, parts, &mut problems).await?;
    if !problems.is_empty() {
        return Err(refused(options, used, &statuses, problems));
    }
    // One file at a time: its bytes are read back, its text extracted, and its bytes dropped.
    let mut documents = Vec::with_capacity(typed.len());
    for (name, file_type, blob) in typed {
        documents.push(new_document(&state, &principal.user, name, file_type, blob).await?);
    }
    let now = dialplane_core::agent::timestamp(chrono::Utc::now());
    let group = Group {
        group_id: uuid::Uuid::now_v7().to_string(),
        name: group_name.trim().to_owned(),
        created_at: now,
        created_by: principal.user.clone(),
    };
    let create = CreateDocuments {
        workspace: principal.workspace.clone(),
        group: Some(group.clone()),
        documents,
        quota_bytes: options.quota_bytes,
    };
    let base = base_url(&state, &headers);
    let quota = options.quota_bytes;
    store(&state, create, idempotency, move |created| {
        let group = created.group.clone().unwrap_or_else(|| group.clone());
        created_answer(&UploadEnvelope {
            success: true,
            data: Upload {
                group_id: group.group_id,
                name: group.name,
                documents: created
                    .documents
                    .iter()
                    .cloned()
                    .map(|d| wire(d, &base))
                    .collect(),
                metadata: QuotaUse {
                    allowed_mb: mib(quota),
                    used_mb: mib(created.used_before),
                    used_mb_after: mib(created.used_after),
                    remaining_mb_after: mib(quota.saturating_sub(created.used_after)),
                },
            },
        })
    })
    .await
    .map(|(response, _)| response)
}

/// What was wrong with an upload's files, for the status of its answer.
#[derive(Default)]
struct Statuses {
    too_large: usize,
    over_quota: bool,
    adding: u64,
}

/// Every problem of every file, each at `/files/<i>`: over the size limit, past the quota (from the
/// first file that would pass it, as far as it can be told before the write, which checks again),
/// a name that is none, a type not taken, bytes that are not of their type. The files that pass.
/// Each file's bytes are read back to tell its type, one file at a time.
async fn check_files(
    options: &super::KnowledgeOptions,
    used: u64,
    parts: Vec<super::form::Part>,
    problems: &mut Problems,
) -> Result<(Vec<(String, FileType, Blob)>, Statuses), ApiError> {
    let mut statuses = Statuses::default();
    let mut typed = Vec::with_capacity(parts.len());
    let mut total = used;
    for (i, part) in parts.into_iter().enumerate() {
        let at = Pointer::root().key("files").index(i);
        let Some(spool) = part.spool.filter(|_| part.size <= options.max_file_bytes) else {
            statuses.too_large += 1;
            problems.push(
                &at,
                ProblemCode::TooLarge,
                format!(
                    "{:?} has {} bytes, over the limit of {} MiB (--kb-max-file-mib)",
                    part.name,
                    part.size,
                    options.max_file_bytes >> 20
                ),
            );
            continue;
        };
        total += part.size as u64;
        statuses.adding += part.size as u64;
        if total > options.quota_bytes {
            statuses.over_quota = true;
            problems.push(
                &at,
                ProblemCode::QuotaExceeded,
                format!(
                    "{:?} would take the workspace past its quota of {} MiB",
                    part.name,
                    options.quota_bytes >> 20
                ),
            );
        }
        if part.name.is_empty() {
            problems.push(
                &at,
                ProblemCode::Required,
                "the part has no file name to read (filename=\"…\" in its Content-Disposition, in UTF-8)",
            );
            continue;
        }
        if let Err((code, message)) = dialplane_core::validate::check_name(&part.name) {
            problems.push(&at, code, format!("file name {message}"));
        }
        match sniff(&part.name, &spool).await? {
            Ok(file_type) => typed.push((part.name, file_type, Blob::Spooled(spool))),
            Err(dialplane_extract::Refusal::UnsupportedType(why)) => {
                problems.push(&at, ProblemCode::UnsupportedType, why)
            }
            Err(dialplane_extract::Refusal::InvalidFormat(why)) => {
                problems.push(&at, ProblemCode::InvalidFormat, why)
            }
        }
    }
    Ok((typed, statuses))
}

/// The answer when a spooled upload cannot be read back from its temporary file: the server's fault.
fn read_back_failed(e: &dyn std::fmt::Display) -> ApiError {
    ApiError::internal(format!("a spooled upload could not be read back: {e}"))
}

/// The type of the spooled file named `name`, read on a blocking thread a piece at a time.
async fn sniff(
    name: &str,
    spool: &Arc<Spool>,
) -> Result<Result<FileType, dialplane_extract::Refusal>, ApiError> {
    let (name, spool) = (name.to_owned(), spool.clone());
    tokio::task::spawn_blocking(move || {
        spool.with_file(|file| dialplane_extract::sniff_reader(&name, file))
    })
    .await
    .map_err(|e| read_back_failed(&e))?
    .and_then(|read| read)
    .map_err(|e| read_back_failed(&e))
}

/// The refusal of an upload: every problem in `details`, under the first status that applies of
/// 413 (a file over the size limit), 403 (the quota), 400.
fn refused(
    options: &super::KnowledgeOptions,
    used: u64,
    statuses: &Statuses,
    problems: Problems,
) -> ApiError {
    let all = ApiError::validation(problems);
    if statuses.too_large > 0 {
        return ApiError {
            code: ErrorCode::PayloadTooLarge,
            message: format!(
                "{} file(s) over the size limit of {} MiB; nothing was stored (every refused file is in details)",
                statuses.too_large,
                options.max_file_bytes >> 20
            ),
            ..all
        };
    }
    if statuses.over_quota {
        let quota: ApiError = dialplane_store::StoreError::QuotaExceeded {
            allowed: options.quota_bytes,
            used,
            adding: statuses.adding,
        }
        .into();
        return ApiError {
            code: quota.code,
            message: quota.message,
            ..all
        };
    }
    all
}

/// The form of an upload, for the document.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct UploadForm {
    /// The group's name: 1..=200 characters; created, or matched without regard to case.
    #[schema(rename = "groupName")]
    group_name: String,
    /// One or more files.
    #[schema(inline)]
    files: Vec<FilePart>,
}

/// A file part: its bytes, and its name in `filename`.
struct FilePart;

impl utoipa::PartialSchema for FilePart {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let mut part = utoipa::openapi::schema::Object::with_type(utoipa::openapi::Type::String);
        part.content_media_type = "application/octet-stream".into();
        part.description = Some("A file: its name (in the part's filename) says its type, `.pdf`, `.docx`, `.tsx`, `.txt` or `.md`".into());
        part.into()
    }
}

impl utoipa::ToSchema for FilePart {}

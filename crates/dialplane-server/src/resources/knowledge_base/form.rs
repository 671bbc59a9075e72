//! Reading an upload's `multipart/form-data` body as it streams in: the group's name and each
//! file, within the route's own limits (each file past its own limit counted, not kept). Files are
//! spooled to anonymous temporary files (in `$TMPDIR`) as they arrive, so an upload holds none of
//! its files in memory while it is read or while it waits for its turn to be stored.

use crate::error::{ApiError, ErrorCode};
use crate::AppState;
use axum::extract::Request;
use axum::http::header;
use dialplane_core::{Pointer, ProblemCode, Problems};
use dialplane_store::Spool;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// The most bytes of the `groupName` part.
const MAX_GROUP_FIELD_BYTES: usize = 4096;

/// One `files` part as read.
pub(super) struct Part {
    pub name: String,
    pub content_type: Option<String>,
    /// Its bytes, if it is within the size limit.
    pub spool: Option<Arc<Spool>>,
    /// Bytes the part had in all (past the limit, they were counted and dropped).
    pub size: usize,
    /// The SHA-256 of every byte of the part, in hex.
    pub sha256: String,
}

/// Reads the form: the group's name (checked) and each file, past its size limit only counted.
pub(super) async fn read_form(
    state: &AppState,
    req: Request,
) -> Result<(String, Vec<Part>, Problems), ApiError> {
    let options = &state.knowledge;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = multer::parse_boundary(content_type).map_err(|_| {
        ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "the body must be sent as multipart/form-data with a boundary",
        )
    })?;
    let limit = options.max_files.saturating_add(1) * (options.max_file_bytes + (64 << 10));
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let over = || {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the upload is over {} MiB in all", limit >> 20),
        )
    };
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(over());
    }
    let constraints =
        multer::Constraints::new().size_limit(multer::SizeLimit::new().whole_stream(limit as u64));
    let mut form = multer::Multipart::with_constraints(
        req.into_body().into_data_stream(),
        boundary,
        constraints,
    );
    let mut problems = Problems::new();
    let mut group_name = None;
    let mut parts = Vec::new();
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return Err(form_error(e, over)),
        };
        match field.name().unwrap_or("") {
            "groupName" => {
                let at = Pointer::root().key("groupName");
                let (bytes, size) = read_field(field, MAX_GROUP_FIELD_BYTES, over).await?;
                if group_name.is_some() {
                    problems.push(
                        &at,
                        ProblemCode::Duplicate,
                        "is sent more than once: send one",
                    );
                }
                group_name = Some(match String::from_utf8(bytes) {
                    Ok(name) if size <= MAX_GROUP_FIELD_BYTES => name,
                    Ok(_) => {
                        problems.push(
                            &at,
                            ProblemCode::TooLong,
                            format!("must have at most 200 characters, got {size} bytes"),
                        );
                        String::new()
                    }
                    Err(_) => {
                        problems.push(&at, ProblemCode::InvalidFormat, "is not UTF-8");
                        String::new()
                    }
                });
            }
            "files" => {
                let name = field
                    .file_name()
                    .map(|n| n.rsplit(['/', '\\']).next().unwrap_or("").trim().to_owned())
                    .unwrap_or_default();
                let content_type = field.content_type().map(|m| m.to_string());
                let (spool, size, sha256) = spool_part(field, options.max_file_bytes, over).await?;
                parts.push(Part {
                    name,
                    content_type,
                    spool,
                    size,
                    sha256,
                });
            }
            other => problems.push(
                &Pointer::root().key(other),
                ProblemCode::UnknownField,
                "is not a part of an upload (groupName, files)",
            ),
        }
    }
    let group_at = Pointer::root().key("groupName");
    let group_reported = problems.iter().any(|p| p.path == group_at.as_str());
    match &group_name {
        None => problems.push(&group_at, ProblemCode::Required, "is required"),
        Some(_) if group_reported => {}
        Some(name) => {
            if let Err((code, message)) = dialplane_core::validate::check_name(name) {
                problems.push(&group_at, code, message);
            }
        }
    }
    if parts.is_empty() {
        problems.push(
            &Pointer::root().key("files"),
            ProblemCode::Required,
            "at least one file is required",
        );
    } else if parts.len() > options.max_files {
        problems.push(
            &Pointer::root().key("files"),
            ProblemCode::TooLong,
            format!(
                "{} files, over the limit of {} an upload (--kb-max-files)",
                parts.len(),
                options.max_files
            ),
        );
    }
    Ok((group_name.unwrap_or_default(), parts, problems))
}

/// A field's bytes up to `keep` (the rest counted, not kept) and its size in all.
async fn read_field(
    mut field: multer::Field<'_>,
    keep: usize,
    over: impl Fn() -> ApiError,
) -> Result<(Vec<u8>, usize), ApiError> {
    let mut bytes = Vec::new();
    let mut size = 0usize;
    while let Some(chunk) = field.chunk().await.map_err(|e| form_error(e, &over))? {
        size += chunk.len();
        if size <= keep {
            bytes.extend_from_slice(&chunk);
        }
    }
    Ok((bytes, size))
}

/// A file part written to a temporary file as it streams in, if it is within `keep` bytes (past
/// that, counted and dropped); its size in all and the SHA-256 of its bytes.
async fn spool_part(
    mut field: multer::Field<'_>,
    keep: usize,
    over: impl Fn() -> ApiError,
) -> Result<(Option<Arc<Spool>>, usize, String), ApiError> {
    let spool_failed = |e: std::io::Error| {
        ApiError::internal(format!(
            "an upload could not be spooled to a temporary file: {e}"
        ))
    };
    let mut file = Some(tokio::fs::File::from_std(
        tempfile::tempfile().map_err(spool_failed)?,
    ));
    let mut digest = dialplane_core::json::Digester::default();
    let mut size = 0usize;
    while let Some(chunk) = field.chunk().await.map_err(|e| form_error(e, &over))? {
        size += chunk.len();
        digest.update(&chunk);
        match &mut file {
            Some(f) if size <= keep => f.write_all(&chunk).await.map_err(spool_failed)?,
            _ => file = None,
        }
    }
    let spool = match file {
        Some(mut f) => {
            f.flush().await.map_err(spool_failed)?;
            Some(Arc::new(Spool::new(f.into_std().await, size as u64)))
        }
        None => None,
    };
    Ok((spool, size, digest.finish()))
}

fn form_error(e: multer::Error, over: impl Fn() -> ApiError) -> ApiError {
    use std::error::Error as _;
    if matches!(e, multer::Error::StreamSizeExceeded { .. }) {
        return over();
    }
    let mut cause = e.source();
    let mut timed_out = false;
    while let Some(c) = cause {
        timed_out |= c.is::<crate::limits::BodyTimedOut>();
        cause = c.source();
    }
    if timed_out {
        return ApiError::new(
            ErrorCode::RequestTimeout,
            crate::limits::BodyTimedOut.to_string(),
        );
    }
    let mut problems = Problems::new();
    problems.push(
        &Pointer::root(),
        ProblemCode::InvalidFormat,
        format!("the multipart body could not be read: {e}"),
    );
    ApiError::validation(problems)
}

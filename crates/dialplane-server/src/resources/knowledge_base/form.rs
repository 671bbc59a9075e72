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
#[derive(Debug)]
pub struct Part {
    pub name: String,
    pub content_type: Option<String>,
    /// Its bytes, if it is within the size limit.
    pub spool: Option<Arc<Spool>>,
    /// Bytes the part had in all (past the limit, they were counted and dropped).
    pub size: usize,
    /// The SHA-256 of every byte of the part, in hex.
    pub sha256: String,
}

/// What an upload's form holds: the group's name, each file, and every problem found in them.
pub type Form = (String, Vec<Part>, Problems);

/// The limits an upload's form is read within.
#[derive(Debug, Clone, Copy)]
pub struct FormLimits {
    /// The most bytes one file may have (`--kb-max-file-mib`).
    pub max_file_bytes: usize,
    /// The most files one upload may carry (`--kb-max-files`).
    pub max_files: usize,
}

/// Reads the request's form within the server's limits (see [`read`]).
pub(super) async fn read_form(state: &AppState, req: Request) -> Result<Form, ApiError> {
    // In a block of its own: a closure that borrows the request must not live across the await.
    let (content_type, declared) = {
        let header = |name| Some(req.headers().get(name)?.to_str().ok()?.to_owned());
        (
            header(header::CONTENT_TYPE).unwrap_or_default(),
            header(header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok()),
        )
    };
    let limits = FormLimits {
        max_file_bytes: state.knowledge.max_file_bytes,
        max_files: state.knowledge.max_files,
    };
    read(&content_type, declared, req.into_body(), limits).await
}

/// Reads a `multipart/form-data` body of `content_type` (and `declared` length, if the request
/// gave one) as it streams in: the group's name (checked) and each file, spooled, past its size
/// limit only counted. A body that cannot be read is an error; what is wrong with the fields it
/// holds is in the form's problems.
pub async fn read(
    content_type: &str,
    declared: Option<u64>,
    body: axum::body::Body,
    limits: FormLimits,
) -> Result<Form, ApiError> {
    let boundary = multer::parse_boundary(content_type).map_err(|_| {
        ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "the body must be sent as multipart/form-data with a boundary",
        )
    })?;
    let limit = limits.max_files.saturating_add(1) * (limits.max_file_bytes + (64 << 10));
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
    let mut form =
        multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
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
                let (spool, size, sha256) = spool_part(field, limits.max_file_bytes, over).await?;
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
    } else if parts.len() > limits.max_files {
        problems.push(
            &Pointer::root().key("files"),
            ProblemCode::TooLong,
            format!(
                "{} files, over the limit of {} an upload (--kb-max-files)",
                parts.len(),
                limits.max_files
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

#[cfg(test)]
mod tests {
    //! The multipart reader on whole and mangled bodies, delivered in pieces of any size: the short
    //! fuzz run that CI makes of it (the `multipart` cargo-fuzz target runs it longer).
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;
    use std::convert::Infallible;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    const BOUNDARY: &str = "x-boundary-7e1";

    /// A body that arrives in the pieces given.
    struct Pieces(VecDeque<bytes::Bytes>);

    impl http_body::Body for Pieces {
        type Data = bytes::Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, Infallible>>> {
            Poll::Ready(self.0.pop_front().map(|b| Ok(http_body::Frame::data(b))))
        }
    }

    fn form_body(group: &str, files: &[(String, Vec<u8>)]) -> Vec<u8> {
        let mut body = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"groupName\"\r\n\r\n{group}\r\n"
        )
        .into_bytes();
        for (name, bytes) in files {
            body.extend(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; \
                     filename=\"{name}\"\r\nContent-Type: text/plain\r\n\r\n"
                )
                .bytes(),
            );
            body.extend(bytes);
            body.extend(b"\r\n");
        }
        body.extend(format!("--{BOUNDARY}--\r\n").bytes());
        body
    }

    /// `body` read in pieces cut at `cuts` (offsets, any order), within small limits.
    fn read_in_pieces(body: &[u8], cuts: &[usize]) -> Result<Form, ApiError> {
        let mut at: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
        at.extend([0, body.len()]);
        at.sort_unstable();
        at.dedup();
        let pieces = at
            .windows(2)
            .map(|w| bytes::Bytes::copy_from_slice(&body[w[0]..w[1]]))
            .collect();
        let limits = FormLimits {
            max_file_bytes: 2048,
            max_files: 3,
        };
        let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
        let body = axum::body::Body::new(Pieces(pieces));
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
            .block_on(read(&content_type, None, body, limits))
    }

    fn files() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
        prop::collection::vec(
            (
                "[a-z]{1,8}\\.txt",
                prop::collection::vec(any::<u8>(), 0..3000),
            ),
            1..4,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn a_form_in_pieces_of_any_size_gives_back_every_file(
            files in files(),
            cuts in prop::collection::vec(any::<usize>(), 0..12),
        ) {
            // A random file could hold the boundary line itself; then it would not be one file.
            let needle = format!("--{BOUNDARY}");
            prop_assume!(files.iter().all(|(_, b)| !b.windows(needle.len()).any(|w| w == needle.as_bytes())));
            let (group, parts, problems) = read_in_pieces(&form_body("Front desk", &files), &cuts).unwrap();
            prop_assert_eq!(group, "Front desk");
            prop_assert!(problems.is_empty(), "{:?}", problems.iter().collect::<Vec<_>>());
            prop_assert_eq!(parts.len(), files.len());
            for (part, (name, bytes)) in parts.iter().zip(&files) {
                prop_assert_eq!(&part.name, name);
                prop_assert_eq!(part.size, bytes.len());
                prop_assert_eq!(&part.sha256, &dialplane_core::json::digest(bytes));
                match &part.spool {
                    Some(spool) => prop_assert_eq!(&spool.read_all().unwrap(), bytes),
                    None => prop_assert!(bytes.len() > 2048, "only a file over the limit is dropped"),
                }
            }
        }

        #[test]
        fn a_mangled_form_is_a_4xx_or_its_fields_never_a_panic_or_a_5xx(
            files in files(),
            cuts in prop::collection::vec(any::<usize>(), 0..12),
            flips in prop::collection::vec((any::<usize>(), any::<u8>()), 0..6),
            truncate in prop::option::of(any::<usize>()),
        ) {
            let mut body = form_body("Front desk", &files);
            for (at, byte) in flips {
                let at = at % body.len();
                body[at] = byte;
            }
            if let Some(at) = truncate {
                body.truncate(at % (body.len() + 1));
            }
            match read_in_pieces(&body, &cuts) {
                Ok((_, parts, _)) => {
                    for part in parts {
                        let kept = part.spool.map_or(0, |s| s.len());
                        prop_assert!(kept as usize <= part.size && part.size <= body.len());
                    }
                }
                Err(e) => {
                    use crate::error::Status as _;
                    let status = e.code.status();
                    prop_assert!(status.is_client_error(), "{status} {}", e.message);
                }
            }
        }
    }
}

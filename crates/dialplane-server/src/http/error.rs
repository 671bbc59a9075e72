//! The one API error type and its JSON shape.
//!
//! Handlers and extractors return [`ApiError`]. Its response carries the error as an extension with an
//! empty body; the [`crate::observe`] middleware renders every error once, with the request id, and logs
//! it once. Responses that other layers produce (unknown routes, wrong methods) are mapped there too.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use dialplane_core::Problems;
use dialplane_store::StoreError;
use std::sync::Arc;

pub use dialplane_api::{Detail, ErrorBody, ErrorCode, ErrorEnvelope};

/// The HTTP status of an [`ErrorCode`].
pub trait Status {
    fn status(self) -> StatusCode;
}

impl Status for ErrorCode {
    fn status(self) -> StatusCode {
        StatusCode::from_u16(self.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// An error answer. `internal` goes to the log only.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Vec<Detail>,
    pub internal: Option<String>,
    pub retry_after: Option<u64>,
}

/// The most problems one error lists in `details`: a body of a megabyte can hold tens of thousands of
/// bad map keys, and their list would be ten times the body. The message gives the whole count.
pub const MAX_DETAILS: usize = 100;

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: Vec::new(),
            internal: None,
            retry_after: None,
        }
    }

    pub fn internal(cause: impl Into<String>) -> Self {
        Self {
            internal: Some(cause.into()),
            ..Self::new(ErrorCode::Internal, "internal error")
        }
    }

    /// `404 not_found`: "no such {kind}".
    pub fn not_found(kind: dialplane_store::Kind) -> Self {
        Self::new(ErrorCode::NotFound, format!("no such {kind}"))
    }

    pub fn unauthorized() -> Self {
        Self::new(
            ErrorCode::Unauthorized,
            "a valid API key is required in the x-api-key header",
        )
    }

    /// A malformed query or path parameter.
    pub fn parameter(name: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            details: vec![Detail {
                path: None,
                parameter: Some(name.to_owned()),
                agent_id: None,
                code: "invalid_value".into(),
                message: message.clone(),
            }],
            ..Self::new(ErrorCode::InvalidParameter, format!("{name}: {message}"))
        }
    }

    pub fn validation(problems: Problems) -> Self {
        let message = match problems.len() {
            n if n > MAX_DETAILS => format!("{problems}; the first {MAX_DETAILS} are listed"),
            _ => problems.to_string(),
        };
        Self {
            details: problems
                .into_vec()
                .into_iter()
                .take(MAX_DETAILS)
                .map(|p| Detail {
                    path: Some(p.path),
                    parameter: None,
                    agent_id: None,
                    code: serde_json::to_value(p.code)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    message: p.message,
                })
                .collect(),
            ..Self::new(ErrorCode::ValidationError, message)
        }
    }

    /// This error with anything that looks like an API key cut from its messages: they echo what
    /// the client sent (a key pasted as an id, say), and they are logged.
    pub fn redacted(&self) -> Self {
        let redact = |s: &str| dialplane_core::keys::redact_keys(s).into_owned();
        Self {
            code: self.code,
            message: redact(&self.message),
            details: self
                .details
                .iter()
                .map(|d| Detail {
                    message: redact(&d.message),
                    path: d.path.as_deref().map(redact),
                    parameter: d.parameter.as_deref().map(redact),
                    agent_id: d.agent_id.clone(),
                    code: d.code.clone(),
                })
                .collect(),
            internal: self.internal.as_deref().map(redact),
            retry_after: self.retry_after,
        }
    }

    /// The JSON body, with the request id.
    pub fn body(&self, request_id: &str) -> ErrorEnvelope {
        ErrorEnvelope {
            success: false,
            error: ErrorBody {
                code: self.code,
                message: self.message.clone(),
                details: (!self.details.is_empty()).then(|| self.details.clone()),
                request_id: request_id.to_owned(),
            },
        }
    }
}

/// Marks a response as an [`ApiError`] waiting to be rendered.
#[derive(Clone)]
pub struct Pending(pub Arc<ApiError>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.code.status().into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response.extensions_mut().insert(Pending(Arc::new(self)));
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { kind } => Self::not_found(kind),
            StoreError::PreconditionFailed { kind } => Self::new(
                ErrorCode::PreconditionFailed,
                format!("the {kind} has changed: its ETag no longer matches If-Match"),
            ),
            // Agents that transfer to an agent are the only references so far.
            StoreError::Referenced { ids, .. } => Self {
                details: ids
                    .iter()
                    .map(|id| Detail {
                        path: None,
                        parameter: None,
                        agent_id: Some(id.clone()),
                        code: "referenced_by".into(),
                        message: format!("agent {id} transfers to this agent"),
                    })
                    .collect(),
                ..Self::new(
                    ErrorCode::Conflict,
                    format!(
                        "{} other agent(s) transfer to this agent; remove those transfers first",
                        ids.len()
                    ),
                )
            },
            StoreError::Conflict(why) => Self::new(ErrorCode::Conflict, why),
            StoreError::NamedBy(references) => Self {
                details: references
                    .iter()
                    .map(|(agent_id, path)| Detail {
                        path: Some(path.clone()),
                        parameter: None,
                        agent_id: Some(agent_id.clone()),
                        code: "referenced".into(),
                        message: format!("agent {agent_id} names this document at {path}"),
                    })
                    .collect(),
                ..Self::new(
                    ErrorCode::Conflict,
                    format!(
                        "{} agent(s) name this document in their knowledge base; remove it there first",
                        references.len()
                    ),
                )
            },
            StoreError::Invalid(problems) => Self::validation(problems),
            StoreError::TestFailed(problems) => Self {
                code: ErrorCode::Conflict,
                message:
                    "a JSON Patch test failed: the agent is not in the state the patch expects"
                        .into(),
                ..Self::validation(problems)
            },
            StoreError::QuotaExceeded {
                allowed,
                used,
                adding,
            } => Self::new(
                ErrorCode::QuotaExceeded,
                format!(
                    "the workspace's knowledge-base quota is {} MiB (allowedMb); {} MiB are used (usedMb) \
                     and this adds {} MiB",
                    mib(allowed),
                    mib(used),
                    mib(adding)
                ),
            ),
            StoreError::IdempotencyKeyReused => Self::new(
                ErrorCode::IdempotencyKeyReused,
                "this Idempotency-Key was already used with a different body",
            ),
            StoreError::Unavailable(cause) | StoreError::Retry(cause) => Self {
                internal: Some(cause),
                ..Self::new(
                    ErrorCode::Unavailable,
                    "storage is unavailable; retry shortly",
                )
            },
            StoreError::Internal(cause) => Self::internal(cause),
        }
    }
}

/// Bytes in MiB, rounded to 2 places.
pub fn mib(bytes: u64) -> f64 {
    (bytes as f64 / f64::from(1u32 << 20) * 100.0).round() / 100.0
}

//! The error envelope: `{"success": false, "error": {"code", "message", "details"?, "requestId"}}`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every error code the API answers with. The list is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidJson,
    ValidationError,
    InvalidParameter,
    Unauthorized,
    Forbidden,
    /// The workspace's knowledge-base quota would be passed.
    QuotaExceeded,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PreconditionFailed,
    RequestTimeout,
    PayloadTooLarge,
    UnsupportedMediaType,
    IdempotencyKeyReused,
    HeadersTooLarge,
    RateLimited,
    Internal,
    Unavailable,
}

impl ErrorCode {
    /// The HTTP status every answer with this code has.
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidJson | Self::ValidationError | Self::InvalidParameter => 400,
            Self::Unauthorized => 401,
            Self::Forbidden | Self::QuotaExceeded => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Conflict => 409,
            Self::PreconditionFailed => 412,
            Self::RequestTimeout => 408,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::IdempotencyKeyReused => 422,
            Self::HeadersTooLarge => 431,
            Self::RateLimited => 429,
            Self::Internal => 500,
            Self::Unavailable => 503,
        }
    }

    /// The code for an error status that some other layer produced.
    pub fn for_status(status: u16) -> Self {
        match status {
            400 => Self::InvalidParameter,
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            405 => Self::MethodNotAllowed,
            409 => Self::Conflict,
            412 => Self::PreconditionFailed,
            408 => Self::RequestTimeout,
            413 => Self::PayloadTooLarge,
            431 => Self::HeadersTooLarge,
            415 => Self::UnsupportedMediaType,
            429 => Self::RateLimited,
            503 => Self::Unavailable,
            _ => Self::Internal,
        }
    }
}

/// One entry of `error.details`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Detail {
    /// JSON Pointer into the request body (for PATCH: into the merged agent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The query or path parameter at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    /// Another agent involved (for `conflict`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    pub code: String,
    pub message: String,
}

/// `{"success": false, "error": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorEnvelope {
    /// Always false.
    pub success: bool,
    pub error: ErrorBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    /// Every problem found, for validation errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<Detail>>,
    pub request_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_maps_to_its_status_and_back() {
        use ErrorCode::*;
        for code in [
            Unauthorized,
            Forbidden,
            NotFound,
            MethodNotAllowed,
            Conflict,
            PreconditionFailed,
            RequestTimeout,
            PayloadTooLarge,
            UnsupportedMediaType,
            HeadersTooLarge,
            RateLimited,
            Internal,
            Unavailable,
        ] {
            assert_eq!(ErrorCode::for_status(code.http_status()), code, "{code:?}");
        }
        assert_eq!(ErrorCode::for_status(400), InvalidParameter);
        assert_eq!(ErrorCode::for_status(418), Internal);
    }
}

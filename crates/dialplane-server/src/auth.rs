//! Authentication (`x-api-key`) and scopes. A missing, malformed, unknown or revoked key gets the same
//! answer, so a caller learns nothing about which it was.

use crate::error::{ApiError, ErrorCode};
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use dialplane_core::{ApiKey, Scope};
use dialplane_store::Principal;

pub const API_KEY_HEADER: &str = "x-api-key";

/// Any valid key.
pub struct Caller(pub Principal);

/// A valid key with the `write` scope.
pub struct Writer(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = parts
            .headers
            .get(API_KEY_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(ApiKey::parse)
            .ok_or_else(ApiError::unauthorized)?;
        let principal = state
            .store
            .authenticate(&key.hash())
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        tracing::Span::current().record("workspace", principal.workspace.as_str());
        Ok(Caller(principal))
    }
}

impl FromRequestParts<AppState> for Writer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Caller(principal) = Caller::from_request_parts(parts, state).await?;
        if principal.scope != Scope::Write {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "this API key is read-only; a key with the write scope is needed",
            ));
        }
        Ok(Writer(principal))
    }
}

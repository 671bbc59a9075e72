//! Authentication (`x-api-key`), rate limiting and scopes.
//!
//! The [`authenticate`] middleware guards every agents route: it resolves the key (a missing,
//! malformed, unknown, revoked or repeated key gets the same answer, so a caller learns nothing about which it
//! was), counts the request against the key's rate limit, and hands the [`Principal`] to the handler.
//! Every answer to an authenticated request carries the `RateLimit-*` headers.

use crate::error::{ApiError, ErrorCode};
use crate::ratelimit::Decision;
use crate::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dialplane_core::{ApiKey, Scope};
use dialplane_store::Principal;

pub const API_KEY_HEADER: &str = "x-api-key";

async fn resolve(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    // Exactly one key: with two, a proxy that reads the last would disagree with us about who calls.
    let mut sent = headers.get_all(API_KEY_HEADER).iter();
    let (key, second) = (sent.next(), sent.next());
    if second.is_some() {
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "send exactly one x-api-key header",
        ));
    }
    let Some(key) = key else {
        return Err(ApiError::unauthorized());
    };
    let key = Some(key)
        .and_then(|v| v.to_str().ok())
        .and_then(ApiKey::parse)
        .ok_or_else(ApiError::unauthorized)?;
    let hash = key.hash();
    if let Some(principal) = state.cache.principal(&hash) {
        return Ok(principal);
    }
    let principal = state
        .store
        .authenticate(&hash)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    state.cache.remember_principal(hash, &principal);
    Ok(principal)
}

fn rate_limit_headers(response: &mut Response, d: &Decision) {
    let headers = response.headers_mut();
    headers.insert("ratelimit-limit", HeaderValue::from(d.limit));
    headers.insert("ratelimit-remaining", HeaderValue::from(d.remaining));
    headers.insert("ratelimit-reset", HeaderValue::from(d.reset));
}

pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let principal = match resolve(&state, req.headers()).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let decision = state.limiter.check(&principal.key_id, &state.metrics).await;
    if let Some(d) = decision.filter(|d| !d.allowed) {
        let mut response = ApiError {
            retry_after: Some(d.reset),
            ..ApiError::new(
                ErrorCode::RateLimited,
                format!(
                    "this API key is over its limit of {} requests a minute; retry in {} s",
                    d.limit, d.reset
                ),
            )
        }
        .into_response();
        rate_limit_headers(&mut response, &d);
        return response;
    }
    req.extensions_mut().insert(principal);
    let mut response = next.run(req).await;
    if let Some(d) = decision {
        rate_limit_headers(&mut response, &d);
    }
    response
}

/// Any valid key.
pub struct Caller(pub Principal);

/// A valid key with the `write` scope.
pub struct Writer(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        // Set by `authenticate`; a route without it is a wiring mistake, refused like a bad key.
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Caller)
            .ok_or_else(ApiError::unauthorized)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Writer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Caller(principal) = Caller::from_request_parts(parts, state).await?;
        if principal.scope != Scope::Write {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                format!(
                    "this API key has the {} scope; a key with the write scope is needed",
                    principal.scope.as_str()
                ),
            ));
        }
        Ok(Writer(principal))
    }
}

/// A valid key that may record calls: the `runtime` or the `write` scope.
pub struct Recorder(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Recorder {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Caller(principal) = Caller::from_request_parts(parts, state).await?;
        if !principal.scope.records_calls() {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "this API key is read-only; a key with the runtime or write scope is needed",
            ));
        }
        Ok(Recorder(principal))
    }
}

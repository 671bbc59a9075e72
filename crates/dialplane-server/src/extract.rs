//! Extractors that answer in our envelope: JSON bodies, agent ids in paths, and request headers.

use crate::error::{ApiError, ErrorCode};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use dialplane_core::AgentId;
use dialplane_store::IfMatch;
use serde_json::{Map, Value};

/// Media types accepted for JSON bodies.
const JSON_TYPES: &[&str] = &["application/json", "application/merge-patch+json"];

/// A request body that is one JSON object: right media type, within the size limit, no duplicate
/// keys, not nested too deeply.
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let media_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            });
        match media_type {
            Some(t) if JSON_TYPES.contains(&t.as_str()) => {}
            other => {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedMediaType,
                    format!(
                        "the body must be sent with Content-Type: application/json (got {})",
                        other.map_or_else(|| "none".to_owned(), |t| format!("{t:?}"))
                    ),
                ))
            }
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    "the body is over the size limit",
                )
            } else {
                ApiError::new(
                    ErrorCode::InvalidJson,
                    format!("the body could not be read: {rejection}"),
                )
            }
        })?;
        dialplane_core::json::parse_object(&bytes)
            .map(JsonObject)
            .map_err(|e| ApiError::new(ErrorCode::InvalidJson, e.0))
    }
}

/// The `{agentId}` of a path.
pub struct AgentPath(pub AgentId);

impl<S: Send + Sync> FromRequestParts<S> for AgentPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::parameter("agentId", e.body_text()))?;
        raw.parse()
            .map(AgentPath)
            .map_err(|_| ApiError::parameter("agentId", format!("is not an agent id: {raw:?}")))
    }
}

/// The ETag of a revision.
pub fn etag(revision: u64) -> String {
    format!("\"{revision}\"")
}

/// `If-Match`, if sent. Entity tags that are not ours never match.
pub fn if_match(headers: &HeaderMap) -> Option<IfMatch> {
    let values: Vec<&str> = headers
        .get_all(header::IF_MATCH)
        .iter()
        .map(|v| v.to_str().unwrap_or(""))
        .collect();
    if values.is_empty() {
        return None;
    }
    let tags: Vec<&str> = values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    if tags.contains(&"*") {
        return Some(IfMatch::Any);
    }
    Some(IfMatch::Revisions(
        tags.iter()
            .filter_map(|t| {
                t.trim_start_matches("W/")
                    .strip_prefix('"')?
                    .strip_suffix('"')?
                    .parse()
                    .ok()
            })
            .collect(),
    ))
}

/// `Idempotency-Key`, if sent: 1..=255 visible ASCII characters.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(s) if (1..=255).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(s.to_owned()))
        }
        _ => Err(ApiError::parameter(
            "Idempotency-Key",
            "must be 1..=255 visible ASCII characters",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::IF_MATCH, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn if_match_reads_strong_weak_lists_and_star() {
        assert_eq!(if_match(&HeaderMap::new()), None);
        assert_eq!(
            if_match(&headers("\"3\"")),
            Some(IfMatch::Revisions(vec![3]))
        );
        assert_eq!(
            if_match(&headers("W/\"3\", \"4\"")),
            Some(IfMatch::Revisions(vec![3, 4]))
        );
        assert_eq!(if_match(&headers("*")), Some(IfMatch::Any));
        assert_eq!(if_match(&headers("3")), Some(IfMatch::Revisions(vec![])));
    }
}

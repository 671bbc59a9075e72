//! Extractors that answer in our envelope: JSON bodies, agent ids in paths, and request headers.

use crate::error::{ApiError, ErrorCode};
use crate::limits::read_body;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use dialplane_core::AgentId;
use dialplane_store::IfMatch;
use serde_json::{Map, Value};

/// Media types of JSON Merge Patch bodies (and of create bodies).
const JSON_TYPES: &[&str] = &["application/json", "application/merge-patch+json"];
/// The media type of JSON Patch (RFC 6902) bodies.
pub const JSON_PATCH_TYPE: &str = "application/json-patch+json";

/// The body's media type, if it is one of `allowed`; else 415.
fn media_type(headers: &HeaderMap, allowed: &[&str]) -> Result<String, ApiError> {
    let media_type = headers
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
        Some(t) if allowed.contains(&t.as_str()) => Ok(t),
        other => Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!(
                "the body must be sent with Content-Type {} (got {})",
                allowed.join(" or "),
                other.map_or_else(|| "none".to_owned(), |t| format!("{t:?}"))
            ),
        )),
    }
}

/// A request body of any kind, read like every other (size limit, deadline, errors in the envelope).
pub struct BodyBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for BodyBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        read_body(req).await.map(BodyBytes)
    }
}

fn invalid_json(e: dialplane_core::json::JsonError) -> ApiError {
    ApiError::new(ErrorCode::InvalidJson, e.0)
}

/// A request body that is one JSON object: right media type, within the size limit, no duplicate
/// keys, not nested too deeply.
pub struct JsonObject {
    pub body: Map<String, Value>,
    /// The body's size in bytes.
    pub bytes: usize,
}

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        media_type(req.headers(), JSON_TYPES)?;
        let bytes = read_body(req).await?;
        let body = dialplane_core::json::parse_object(&bytes).map_err(invalid_json)?;
        Ok(JsonObject {
            body,
            bytes: bytes.len(),
        })
    }
}

/// The body of a route that needs none and takes a few options at most: nothing at all, or one JSON
/// object sent as JSON (checked like [`JsonObject`]). Its members are the route's to check, with
/// [`only_known`].
pub struct OptionalJsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for OptionalJsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let bytes = read_body(req).await?;
        if bytes.is_empty() {
            return Ok(OptionalJsonObject(Map::new()));
        }
        media_type(&headers, JSON_TYPES)?;
        dialplane_core::json::parse_object(&bytes)
            .map(OptionalJsonObject)
            .map_err(invalid_json)
    }
}

/// The body of a route that takes none: nothing at all, or a JSON object without members (each
/// member is `unknown_field`; a body that is not JSON is refused as [`OptionalJsonObject`] does).
pub struct NoBody;

impl<S: Send + Sync> FromRequest<S> for NoBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let OptionalJsonObject(body) = OptionalJsonObject::from_request(req, state).await?;
        only_known(body, &[]).map(|_| NoBody)
    }
}

/// `body`, unless it has members other than `known`: each of those is `unknown_field`.
pub fn only_known(
    body: Map<String, Value>,
    known: &[&str],
) -> Result<Map<String, Value>, ApiError> {
    let mut problems = dialplane_core::Problems::new();
    for key in body.keys().filter(|k| !known.contains(&k.as_str())) {
        problems.push(
            &dialplane_core::Pointer::root().key(key),
            dialplane_core::ProblemCode::UnknownField,
            "is not a known field",
        );
    }
    problems.into_result(body).map_err(ApiError::validation)
}

/// A PATCH body: a JSON Merge Patch (`application/json`, `application/merge-patch+json`) or a JSON
/// Patch (`application/json-patch+json`) of at most [`Rules::max_patch_operations`] operations.
///
/// [`Rules::max_patch_operations`]: dialplane_core::Rules::max_patch_operations
pub struct PatchBody {
    pub patch: Patch,
    /// The body's size in bytes.
    pub bytes: usize,
}

pub enum Patch {
    Merge(Map<String, Value>),
    JsonPatch(Vec<json_patch::PatchOperation>),
}

impl FromRequest<AppState> for PatchBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let all = [JSON_TYPES[0], JSON_TYPES[1], JSON_PATCH_TYPE];
        let media_type = media_type(req.headers(), &all)?;
        Self::read(req, state, media_type == JSON_PATCH_TYPE).await
    }
}

/// A body that is always a JSON Patch (`application/json-patch+json`, or plain `application/json`),
/// for the route that documents JSON Patch on its own: `PATCH /agents/{agentId}/json-patch`.
pub struct JsonPatchBody(pub PatchBody);

impl FromRequest<AppState> for JsonPatchBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        media_type(req.headers(), &[JSON_PATCH_TYPE, JSON_TYPES[0]])?;
        PatchBody::read(req, state, true).await.map(JsonPatchBody)
    }
}

impl PatchBody {
    async fn read(req: Request, state: &AppState, json_patch: bool) -> Result<Self, ApiError> {
        let bytes = read_body(req).await?;
        let patch = if json_patch {
            let value = dialplane_core::json::parse_value(&bytes).map_err(invalid_json)?;
            dialplane_core::json_patch::parse(value, state.rules.max_patch_operations)
                .map(Patch::JsonPatch)
                .map_err(ApiError::validation)?
        } else {
            dialplane_core::json::parse_object(&bytes)
                .map(Patch::Merge)
                .map_err(invalid_json)?
        };
        Ok(PatchBody {
            patch,
            bytes: bytes.len(),
        })
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
        parse_agent_id(&raw).map(AgentPath)
    }
}

/// An `{agentId}` from a path.
pub fn parse_agent_id(raw: &str) -> Result<AgentId, ApiError> {
    parse_path_id(raw, "agentId", "an agent id")
}

/// An id of ours (`what`) from the path parameter `name` (`400 invalid_parameter` if it is not one).
pub fn parse_path_id<T: std::str::FromStr>(
    raw: &str,
    name: &str,
    what: &str,
) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::parameter(name, format!("is not {what}: {raw:?}")))
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
                let opaque = t
                    .trim_start_matches("W/")
                    .strip_prefix('"')?
                    .strip_suffix('"')?;
                // Tags compare character by character: `"03"` or `"+3"` is not our `"3"`.
                let revision: u64 = opaque.parse().ok()?;
                (revision.to_string() == opaque).then_some(revision)
            })
            .collect(),
    ))
}

/// The `Idempotency-Key` of a request whose content is `request`; uses of the key older than `ttl`
/// have expired.
pub fn idempotency(
    headers: &HeaderMap,
    request: &Value,
    ttl: std::time::Duration,
) -> Result<Option<dialplane_store::Idempotency>, ApiError> {
    let Some(key) = idempotency_key(headers)? else {
        return Ok(None);
    };
    Ok(Some(dialplane_store::Idempotency {
        key,
        fingerprint: dialplane_core::json::fingerprint(request),
        expired_before: dialplane_core::agent::timestamp_ago(ttl),
    }))
}

/// `Idempotency-Key`, if sent: 1..=255 visible ASCII characters.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut sent = headers.get_all("idempotency-key").iter();
    let Some(value) = sent.next() else {
        return Ok(None);
    };
    if sent.next().is_some() {
        return Err(ApiError::parameter(
            "Idempotency-Key",
            "is given more than once: send one",
        ));
    }
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
        assert_eq!(
            if_match(&headers("\"03\", \"+3\", \" 3\", \"4\"")),
            Some(IfMatch::Revisions(vec![4])),
            "only our exact tags"
        );
    }
}

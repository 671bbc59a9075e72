//! The outermost middleware: request ids, request limits, one log line per request, and the rendering
//! of every error into the envelope, whichever layer produced it.

use crate::error::{ApiError, ErrorCode, Pending, Status};
use crate::limits::{limit_request, HttpOptions};
use crate::metrics::{HttpLabels, Metrics};
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::any::Any;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

pub const REQUEST_ID: &str = "x-request-id";

/// The request id of the request being served, for handlers that want it.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// A client's request id is echoed when it is 1..=128 visible ASCII characters; else one is made.
fn request_id(req: &Request) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|s| {
            (1..=128).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=".contains(&b))
        })
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned)
}

/// What the outermost middleware needs.
#[derive(Clone)]
pub struct Observe {
    pub metrics: Arc<Metrics>,
    pub log: Arc<dyn RequestLog>,
    pub limits: HttpOptions,
    /// Counts the requests under way (what webhook deliveries yield to).
    pub load: Arc<crate::webhooks::load::ApiLoad>,
}

/// A served request, as the request log records it.
#[derive(Debug, Clone, Copy)]
pub struct Served<'a> {
    pub method: &'a str,
    pub route: &'a str,
    pub request_id: &'a str,
    pub status: u16,
    pub latency_ms: f64,
}

/// The target of the request log's lines.
pub const REQUEST_LOG_TARGET: &str = "dialplane_server::observe";

/// Where the line for each served request goes.
pub trait RequestLog: Send + Sync {
    fn served(&self, served: &Served<'_>);
}

/// The request log as tracing events: `served`, at `info`, with the request's fields.
pub struct TracingRequestLog;

impl RequestLog for TracingRequestLog {
    fn served(&self, s: &Served<'_>) {
        tracing::info!(
            target: REQUEST_LOG_TARGET,
            method = %s.method,
            route = %s.route,
            request_id = %s.request_id,
            status = s.status,
            latency_ms = s.latency_ms,
            "served"
        );
    }
}

/// The outermost middleware: it also applies the request limits ([`limit_request`]), in the same
/// layer, since every layer costs each request a clone of the service inside it.
pub async fn observe(
    State(Observe {
        metrics,
        log,
        limits,
        load,
    }): State<Observe>,
    mut req: Request,
    next: Next,
) -> Response {
    let _under_way = load.enter();
    let started = Instant::now();
    let id = request_id(&req);
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    req.extensions_mut().insert(RequestId(id.clone()));
    // The request's span carries its id to whatever is logged while it is served. Only at `debug`:
    // a span costs as much as the request's log line (its fields are formatted when it opens), and
    // the line and every error below name the request themselves.
    let span = tracing::debug_span!("request", %method, %route, request_id = %id);
    span.in_scope(|| tracing::debug!("started"));
    let response = limit_request(&limits, req, next)
        .instrument(span.clone())
        .await;
    let mut response = render_error(response, &id, &span);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let elapsed = started.elapsed();
    let labels = HttpLabels {
        method: method_label(&method).to_owned(),
        route,
        status: response.status().as_u16(),
    };
    metrics.requests.get_or_create(&labels).inc();
    metrics
        .request_seconds
        .get_or_create(&labels)
        .observe(elapsed.as_secs_f64());
    log.served(&Served {
        method: &labels.method,
        route: &labels.route,
        request_id: &id,
        status: labels.status,
        latency_ms: elapsed.as_secs_f64() * 1000.0,
    });
    response
}

/// Marks a response that keeps its own body, error or not: the routes outside the JSON API (a web
/// console's pages) answer in their own format. Insert it as a response extension.
#[derive(Debug, Clone, Copy)]
pub struct OwnBody;

/// Renders a pending [`ApiError`], or turns a bare error status from another layer into one.
fn render_error(response: Response, request_id: &str, span: &tracing::Span) -> Response {
    if response.extensions().get::<OwnBody>().is_some() {
        return response;
    }
    let status = response.status();
    let pending = response.extensions().get::<Pending>().cloned();
    let error = match pending {
        Some(Pending(e)) => e,
        None if status.is_client_error() || status.is_server_error() => {
            let code = ErrorCode::for_status(status.as_u16());
            let message = match code {
                ErrorCode::NotFound => "no such route".to_owned(),
                ErrorCode::MethodNotAllowed => "method not allowed on this route".to_owned(),
                _ => status
                    .canonical_reason()
                    .unwrap_or("error")
                    .to_ascii_lowercase(),
            };
            std::sync::Arc::new(ApiError::new(code, message))
        }
        None => return response,
    };
    let error = error.redacted();
    span.in_scope(|| {
        if error.code.status().is_server_error() {
            tracing::error!(request_id, code = ?error.code, cause = error.internal.as_deref().unwrap_or(""), "{}", error.message);
        } else {
            tracing::debug!(request_id, code = ?error.code, "{}", error.message);
        }
    });
    let (mut parts, _) = response.into_parts();
    parts.extensions.remove::<Pending>();
    let body = serde_json::to_vec(&error.body(request_id)).unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// The method as a metric label, from a fixed set so that clients cannot create new series.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// For `CatchPanicLayer`: a panic becomes a 500 `internal` in the envelope.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let what = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    ApiError::internal(format!("handler panicked: {what}")).into_response()
}

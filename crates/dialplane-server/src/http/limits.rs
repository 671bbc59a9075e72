//! What a client may send and how long it may take: header and body sizes, and read deadlines.
//!
//! Two layers enforce them. The HTTP/1 parser closes a connection whose request head does not arrive
//! within the header timeout (an idle keep-alive connection included), and refuses a head far over
//! the header limit ([`PARSER_HEADER_FACTOR`] times it) with a bare 431 before any of our code runs.
//! Everything it lets through meets [`limit_request`], which answers 431 in the error envelope for
//! headers over the limit, gives the body a deadline and records the route's [`BodyLimit`]. Bodies
//! are read only by [`read_body`] (through the extractors, after authentication): 415 for a
//! `Content-Encoding` other than `identity`, 413 at once for a declared `Content-Length` over the
//! limit and as soon as the bytes read pass it, 408 for a body that misses its deadline.
//!
//! [`read_body`] copies each frame into one buffer of the body's own as it arrives. Collecting the
//! frames as they are would keep each one's slice of the connection's read buffer alive: a body sent
//! a byte per TCP segment would hold a read buffer (8 KiB) per byte, a thousand times the body.

use crate::error::{ApiError, ErrorCode};
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;

/// The default limit on request bodies: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// The default limit on a request's line and headers together: 16 KiB.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;
/// How far over the header limit the parser itself cuts a request off (with a bare 431).
pub const PARSER_HEADER_FACTOR: usize = 4;

/// Settings of the HTTP layer.
#[derive(Debug, Clone, Copy)]
pub struct HttpOptions {
    /// Largest request body accepted (413 above it).
    pub max_body_bytes: usize,
    /// Largest request line plus headers accepted (431 above it).
    pub max_header_bytes: usize,
    /// How long a client may take to send a request's head, and how long an idle keep-alive
    /// connection stays open.
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request's body, from the end of its head (408 after).
    pub body_read_timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
        }
    }
}

/// The bytes a request's line and headers take on the wire, give or take the line endings.
fn head_bytes(req: &Request) -> usize {
    let line = req.method().as_str().len()
        + req.uri().path_and_query().map_or(1, |p| p.as_str().len())
        + " HTTP/1.1\r\n".len();
    req.headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + ": \r\n".len())
        .sum::<usize>()
        + line
}

/// The error a body gives once its deadline has passed.
#[derive(Debug, thiserror::Error)]
#[error("the body did not arrive in time")]
pub struct BodyTimedOut;

/// A request body that fails with [`BodyTimedOut`] once `deadline` passes, however slowly it
/// trickles in before then.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<Sleep>>,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(BodyTimedOut.into())));
        }
        Pin::new(&mut self.inner)
            .poll_frame(cx)
            .map_err(axum::BoxError::from)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The most bytes the body of the request may take: set for every request by [`limit_request`],
/// read by [`read_body`]. A route with bodies of another size sets its own with [`body_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimit(pub usize);

/// A route layer giving the route's bodies a limit of their own (uploads), in place of
/// `--max-body-bytes`: `.route_layer(body_limit(5 << 20))`.
pub fn body_limit(bytes: usize) -> axum::Extension<BodyLimit> {
    axum::Extension(BodyLimit(bytes))
}

/// Refuses oversized heads, puts a deadline on the body and records its size limit, then runs
/// `next`. Bodies are read only by the handlers that take one, after authentication.
pub async fn limit_request(limits: &HttpOptions, mut req: Request, next: Next) -> Response {
    let head = head_bytes(&req);
    if head > limits.max_header_bytes {
        return ApiError::new(
            ErrorCode::HeadersTooLarge,
            format!(
                "the request line and headers take {head} bytes, over the limit of {}",
                limits.max_header_bytes
            ),
        )
        .into_response();
    }
    req.extensions_mut()
        .insert(BodyLimit(limits.max_body_bytes));
    if req.body().is_end_stream() {
        return next.run(req).await;
    }
    let req = req.map(|inner| {
        Body::new(DeadlineBody {
            inner,
            deadline: Box::pin(tokio::time::sleep(limits.body_read_timeout)),
        })
    });
    next.run(req).await
}

/// The bytes a body may take before they are copied into a buffer of its own (see the module's
/// documentation): at most this much is set aside up front, whatever `Content-Length` says.
const FIRST_BUFFER_BYTES: usize = 16 * 1024;

/// The body of `req`, read whole within its [`BodyLimit`] and deadline; errors in the envelope.
pub async fn read_body(req: Request) -> Result<Bytes, ApiError> {
    let limit = req
        .extensions()
        .get::<BodyLimit>()
        .map_or(DEFAULT_MAX_BODY_BYTES, |l| l.0);
    let headers = req.headers();
    for encoding in headers.get_all(header::CONTENT_ENCODING) {
        let encoding = encoding.to_str().unwrap_or("?").trim();
        if !encoding.eq_ignore_ascii_case("identity") {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                format!(
                    "Content-Encoding {:?} is not supported: send the body unencoded (identity)",
                    dialplane_core::keys::redact_keys(encoding)
                ),
            ));
        }
    }
    let too_large = || {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the body is over the size limit of {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let capacity = declared.map_or(0, |n| (n as usize).min(FIRST_BUFFER_BYTES));
    let mut body = req.into_body();
    let mut bytes = Vec::with_capacity(capacity);
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(|e| {
            let timed_out =
                std::iter::successors(Some(&e as &(dyn std::error::Error + 'static)), |e| {
                    e.source()
                })
                .any(|e| e.is::<BodyTimedOut>());
            if timed_out {
                ApiError::new(ErrorCode::RequestTimeout, BodyTimedOut.to_string())
            } else {
                ApiError::new(
                    ErrorCode::InvalidJson,
                    format!("the body could not be read: {e}"),
                )
            }
        })?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > limit {
                return Err(too_large());
            }
            // Copied, and the frame dropped here: see the module's documentation.
            bytes.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(bytes))
}

//! What a client may send and how long it may take: header and body sizes, and read deadlines.
//!
//! Two layers enforce them. The HTTP/1 parser closes a connection whose request head does not arrive
//! within the header timeout (an idle keep-alive connection included), and refuses a head far over
//! the header limit ([`PARSER_HEADER_FACTOR`] times it) with a bare 431 before any of our code runs.
//! Everything it lets through meets [`limit_request`], which answers 431 in the error envelope for
//! headers over the limit and gives the body a deadline; the extractors that read bodies answer 413
//! for a body over the limit and 408 for one that misses its deadline.

use crate::error::{ApiError, ErrorCode};
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body::{Frame, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
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

/// Refuses oversized heads and puts a deadline on the body, then runs `next`. Bodies are read (within
/// the size limit) only by the handlers that take one, after authentication.
pub async fn limit_request(limits: &HttpOptions, req: Request, next: Next) -> Response {
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

/// Serves `app` on `listener` over HTTP/1.1 until `shutdown` resolves, then lets in-flight requests
/// finish and closes idle connections.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    options: &HttpOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let parser_limit = options
        .max_header_bytes
        .saturating_mul(PARSER_HEADER_FACTOR);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .max_header_size(parser_limit)
        .max_buf_size(parser_limit.saturating_add(64 * 1024));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

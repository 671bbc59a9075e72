//! The API's resources: one module each, with its routes, handlers and request rules; and how a
//! write that honours `Idempotency-Key` is answered, for all of them.

pub mod agents;
pub mod conversations;
pub mod fields;
pub mod knowledge_base;
pub mod opt_outs;
pub mod phone_numbers;
pub mod runtime_config;
pub mod webhooks;

use crate::error::ApiError;
use crate::AppState;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use dialplane_store::{Answer, Idempotency, Idempotent, IdempotentWrite, Recorded, WriteOp};

/// A list answer with an opaque cursor, from up to `page_size + 1` items in the list's order: the
/// first `page_size` as `wire` makes them, whether more follow, and `cursor` of the last.
pub fn cursor_list<T, W: serde::Serialize>(
    items: Vec<T>,
    page_size: u32,
    cursor: impl Fn(&T) -> String,
    wire: impl FnMut(T) -> W,
) -> Response {
    use axum::response::IntoResponse;
    let (items, has_more) = knowledge_base::listing::page(items, page_size);
    let next_cursor = has_more.then(|| items.last().map(cursor)).flatten();
    axum::Json(dialplane_api::ListEnvelope {
        success: true,
        data: items.into_iter().map(wire).collect::<Vec<_>>(),
        pagination: dialplane_api::knowledge_base::CursorPagination {
            page_size,
            has_more,
            next_cursor,
        },
    })
    .into_response()
}

/// The id in a cursor that [`cursor_list`] made with `encode_cursor(order, &id.to_string(), "")`.
pub fn id_cursor<T: std::str::FromStr>(raw: &str, order: &str) -> Result<T, ApiError> {
    let (key, _) = knowledge_base::decode_cursor(raw, order)?;
    key.parse()
        .map_err(|_| ApiError::parameter("cursor", "is not a cursor this list gave out"))
}

/// Runs `op`, at most once per `Idempotency-Key` when one is sent, and answers what `answer` makes of
/// its output: a retry gets the first answer again, byte for byte, marked `Idempotent-Replayed`.
/// Also hands back the output when this request is the one that ran it.
pub async fn write_answered<W: WriteOp>(
    state: &AppState,
    workspace: &str,
    op: W,
    idempotency: Option<Idempotency>,
    answer: Answer<W::Output>,
) -> Result<(Response, Option<W::Output>), ApiError> {
    let Some(idempotency) = idempotency else {
        let output = state.store.write(op).await?;
        return Ok((recorded_response(answer(&output), false), Some(output)));
    };
    let written = state
        .store
        .write(IdempotentWrite {
            workspace: workspace.to_owned(),
            idempotency,
            op,
            answer,
        })
        .await?;
    Ok(match written {
        Idempotent::Fresh { answer, output } => (recorded_response(answer, false), Some(output)),
        Idempotent::Replayed(first) => (recorded_response(first, true), None),
    })
}

/// A recorded answer as a response, marked `Idempotent-Replayed: true` if it answers the same
/// request again.
pub fn recorded_response(answer: Recorded, replayed: bool) -> Response {
    let mut response = Response::new(axum::body::Body::from(answer.body));
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    for (name, value) in &answer.headers {
        if let (Ok(name), Ok(value)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
    if replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

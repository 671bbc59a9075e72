//! Paged lists of the knowledge base: the order a list is asked for (`sortBy`, `sortDirection`,
//! `pageSize`, `cursor`) and the cursors it gives out. Like the hosted API's lists, a cursor may also
//! be a plain RFC 3339 timestamp (sorted by time) or a name (sorted by name).

use super::{decode_cursor, encode_cursor};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorEnvelope};
use crate::query::{Known, Query};
use crate::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use dialplane_api::agents::Pagination;
use dialplane_api::knowledge_base::{GroupItem, GroupListEnvelope, GroupMetadata};
use dialplane_store::{DocumentQuery, DocumentSort};

pub const DEFAULT_PAGE_SIZE: u32 = 30;
pub const MAX_PAGE_SIZE: u32 = 100;

/// The order of a list and where its page starts: `created_at desc` unless asked otherwise.
pub struct Order {
    pub sort: DocumentSort,
    pub descending: bool,
    pub page_size: u32,
    pub after: Option<(String, Option<String>)>,
}

impl Order {
    pub fn read(q: &Known) -> Result<Self, ApiError> {
        let sort = match q.get("sortBy") {
            None | Some("created_at") => DocumentSort::CreatedAt,
            Some("name") => DocumentSort::Name,
            Some(other) => {
                return Err(ApiError::parameter(
                    "sortBy",
                    format!("must be name or created_at, got {other:?}"),
                ))
            }
        };
        let descending = match q.get("sortDirection") {
            None | Some("desc") => true,
            Some("asc") => false,
            Some(other) => {
                return Err(ApiError::parameter(
                    "sortDirection",
                    format!("must be asc or desc, got {other:?}"),
                ))
            }
        };
        let mut order = Self {
            sort,
            descending,
            page_size: q
                .integer("pageSize", 1..=MAX_PAGE_SIZE)?
                .unwrap_or(DEFAULT_PAGE_SIZE),
            after: None,
        };
        if let Some(cursor) = q.get("cursor") {
            order.after = Some(order.after_cursor(cursor)?);
        }
        Ok(order)
    }

    fn name(&self) -> String {
        format!("{} {}", self.sort_by(), self.sort_direction())
    }

    fn sort_by(&self) -> &'static str {
        match self.sort {
            DocumentSort::Name => "name",
            DocumentSort::CreatedAt => "created_at",
        }
    }

    fn sort_direction(&self) -> &'static str {
        if self.descending {
            "desc"
        } else {
            "asc"
        }
    }

    /// Where a page starts: after our cursor, or after a plain timestamp or name.
    fn after_cursor(&self, cursor: &str) -> Result<(String, Option<String>), ApiError> {
        if let Ok((key, id)) = decode_cursor(cursor, &self.name()) {
            return Ok((key, Some(id)));
        }
        if cursor.contains('\0') {
            return Err(ApiError::parameter("cursor", "holds a NUL character"));
        }
        match self.sort {
            DocumentSort::Name => Ok((dialplane_store::fold_name(cursor), None)),
            DocumentSort::CreatedAt => chrono::DateTime::parse_from_rfc3339(cursor)
                .map(|t| {
                    let direction = if self.descending {
                        dialplane_store::SortDirection::Desc
                    } else {
                        dialplane_store::SortDirection::Asc
                    };
                    let at = crate::resources::agents::listing::stored_precision(
                        t.with_timezone(&chrono::Utc),
                        direction,
                    );
                    (dialplane_core::agent::timestamp(at), None)
                })
                .map_err(|_| {
                    ApiError::parameter(
                        "cursor",
                        "is neither a cursor from a previous page nor an RFC 3339 timestamp",
                    )
                }),
        }
    }

    /// A query of this order (no filters).
    pub fn query(&self) -> DocumentQuery {
        DocumentQuery {
            search: None,
            kind: None,
            group_id: None,
            sort: self.sort,
            descending: self.descending,
            after: self.after.clone(),
            page_size: self.page_size,
        }
    }

    /// The cursor after an item named `name`, created at `created_at`, of id `id`.
    pub fn cursor_after(&self, name: &str, created_at: &str, id: &str) -> String {
        let key = match self.sort {
            DocumentSort::Name => dialplane_store::fold_name(name),
            DocumentSort::CreatedAt => created_at.to_owned(),
        };
        encode_cursor(&self.name(), &key, id)
    }

    pub fn pagination(&self, has_more: bool, next_cursor: Option<String>) -> Pagination {
        Pagination {
            page_size: self.page_size,
            has_more,
            next_cursor,
            sort_by: self.sort_by().into(),
            sort_direction: self.sort_direction().into(),
        }
    }
}

/// `cursor` and `pageSize` of a list paged by a cursor made for `order`: the page size and the
/// (key, id) the previous page ended at.
pub fn paging(
    q: &crate::query::Known,
    order: &str,
) -> Result<(u32, Option<(String, String)>), ApiError> {
    let page_size = q
        .integer("pageSize", 1..=MAX_PAGE_SIZE)?
        .unwrap_or(DEFAULT_PAGE_SIZE);
    let after = q
        .get("cursor")
        .map(|c| decode_cursor(c, order))
        .transpose()?;
    Ok((page_size, after))
}

/// A page of `items` (one more than the page was read, to tell whether more follow) and whether
/// more follow.
pub fn page<T>(mut items: Vec<T>, page_size: u32) -> (Vec<T>, bool) {
    let has_more = items.len() > page_size as usize;
    items.truncate(page_size as usize);
    (items, has_more)
}

/// List groups
///
/// Each group an upload made, with how many documents and bytes it holds; newest first unless
/// asked otherwise.
#[utoipa::path(get, path = "/api/public/v1/knowledge-base/groups", operation_id = "listGroups",
    tag = "knowledge-base",
    params(
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page (or a timestamp or name)"),
        ("pageSize" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..=100, default 30"),
        ("sortBy" = Option<String>, Query, description = "`name` or `created_at` (default)"),
        ("sortDirection" = Option<String>, Query, description = "`asc` or `desc` (default)"),
    ),
    responses(
        (status = 200, description = "A page of groups", body = GroupListEnvelope),
        (status = 400, description = "`invalid_parameter`", body = ErrorEnvelope),
    ),
    security(("apiKey" = [])))]
pub async fn groups(
    State(state): State<AppState>,
    Caller(principal): Caller,
    query: Query,
) -> Result<Response, ApiError> {
    let q = query.known(&["cursor", "pageSize", "sortBy", "sortDirection"], &[])?;
    let order = Order::read(&q)?;
    let groups = state
        .store
        .list_groups(&principal.workspace, &order.query())
        .await?;
    let (groups, has_more) = page(groups, order.page_size);
    let next = groups.last().filter(|_| has_more).map(|last| {
        order.cursor_after(
            &last.group.name,
            &last.group.created_at,
            &last.group.group_id,
        )
    });
    Ok(Json(GroupListEnvelope {
        success: true,
        data: groups
            .into_iter()
            .map(|g| GroupItem {
                group_id: g.group.group_id,
                name: g.group.name,
                document_count: g.document_count,
                bytes: g.bytes,
                metadata: GroupMetadata {
                    created_at: g.group.created_at,
                    created_by: g.group.created_by,
                },
            })
            .collect(),
        pagination: order.pagination(has_more, next),
    })
    .into_response())
}

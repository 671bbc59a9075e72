//! The agent list's query parameters and cursors.
//!
//! A cursor we hand out is exact: it carries the last item's sort key and id, so paging never skips
//! or repeats an item among equal names or timestamps. For compatibility with the hosted API a plain
//! RFC 3339 timestamp (`sortBy=created_at`) or a plain name (`sortBy=name`) is accepted too; those
//! start strictly after the given value.

use crate::error::ApiError;
use crate::query::Query;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use dialplane_core::agent::{Choice, Direction};
use dialplane_core::AgentId;
use dialplane_store::{After, ListQuery, SortBy, SortDirection};

pub const DEFAULT_PAGE_SIZE: u32 = 30;
pub const MAX_PAGE_SIZE: u32 = 100;
const CURSOR_VERSION: &str = "c1";
/// An agent has at most 50 tags, so more `tag` filters than that can match nothing.
pub const MAX_TAG_FILTERS: usize = 50;

pub fn sort_by_name(s: SortBy) -> &'static str {
    match s {
        SortBy::Name => "name",
        SortBy::CreatedAt => "created_at",
    }
}

pub fn sort_direction_name(d: SortDirection) -> &'static str {
    match d {
        SortDirection::Asc => "asc",
        SortDirection::Desc => "desc",
    }
}

/// The cursor that continues after an item with `key` and `id`.
pub fn encode_cursor(q: &ListQuery, key: &str, id: AgentId) -> String {
    let raw = format!(
        "{CURSOR_VERSION}\n{}\n{}\n{id}\n{key}",
        sort_by_name(q.sort_by),
        sort_direction_name(q.sort_direction)
    );
    URL_SAFE_NO_PAD.encode(raw)
}

fn decode_cursor(cursor: &str, q: &ListQuery) -> Result<After, ApiError> {
    let ours = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|s| s.starts_with(&format!("{CURSOR_VERSION}\n")));
    if let Some(raw) = ours {
        let mut parts = raw.splitn(5, '\n').skip(1);
        let (sort, dir, id, key) = (parts.next(), parts.next(), parts.next(), parts.next());
        // A cursor is ours to read but anyone's to forge: its key reaches the database's query, and
        // PostgreSQL refuses text holding U+0000.
        let (Some(sort), Some(dir), Some(Ok(id)), Some(key)) = (
            sort,
            dir,
            id.map(str::parse::<AgentId>),
            key.filter(|k| !k.contains('\0')),
        ) else {
            return Err(ApiError::parameter("cursor", "is not a valid cursor"));
        };
        if sort != sort_by_name(q.sort_by) || dir != sort_direction_name(q.sort_direction) {
            return Err(ApiError::parameter(
                "cursor",
                "belongs to a different sortBy or sortDirection",
            ));
        }
        return Ok(After {
            key: key.to_owned(),
            id: Some(id),
        });
    }
    match q.sort_by {
        SortBy::Name => Ok(After {
            key: dialplane_store::fold_name(cursor),
            id: None,
        }),
        SortBy::CreatedAt => chrono::DateTime::parse_from_rfc3339(cursor)
            .map(|t| After {
                key: dialplane_core::agent::timestamp(stored_precision(
                    t.with_timezone(&chrono::Utc),
                    q.sort_direction,
                )),
                id: None,
            })
            .map_err(|_| {
                ApiError::parameter(
                    "cursor",
                    "is neither a cursor from a previous page nor an RFC 3339 timestamp",
                )
            }),
    }
}

/// A timestamp cursor at the microseconds timestamps are stored with, rounded so that the page still
/// starts strictly after it: down when ascending, up when descending (an agent created at `.126685`
/// is before a cursor of `.1266855`, and a newest-first page after that cursor must hold it).
pub fn stored_precision(
    at: chrono::DateTime<chrono::Utc>,
    direction: SortDirection,
) -> chrono::DateTime<chrono::Utc> {
    use chrono::{SubsecRound, TimeDelta};
    let floor = at.trunc_subsecs(6);
    match direction {
        SortDirection::Desc if floor != at => floor + TimeDelta::microseconds(1),
        _ => floor,
    }
}

/// The parameters of the list.
const KNOWN: [&str; 7] = [
    "cursor",
    "pageSize",
    "sortBy",
    "sortDirection",
    "search",
    "tag",
    "direction",
];

/// Reads the list's query string; unknown or repeated parameters (but `tag`) are refused.
pub fn parse_query(query: Query) -> Result<ListQuery, ApiError> {
    let query = query.known(&KNOWN, &["tag"])?;
    let mut q = ListQuery {
        sort_by: SortBy::CreatedAt,
        sort_direction: SortDirection::Desc,
        page_size: query
            .integer("pageSize", 1..=MAX_PAGE_SIZE)?
            .unwrap_or(DEFAULT_PAGE_SIZE),
        after: None,
        search: query
            .get("search")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        tags: Vec::new(),
        direction: None,
    };
    if let Some(value) = query.get("sortBy") {
        q.sort_by = match value {
            "name" => SortBy::Name,
            "created_at" => SortBy::CreatedAt,
            _ => {
                return Err(ApiError::parameter(
                    "sortBy",
                    format!("must be \"name\" or \"created_at\", got {value:?}"),
                ))
            }
        }
    }
    if let Some(value) = query.get("sortDirection") {
        q.sort_direction = match value {
            "asc" => SortDirection::Asc,
            "desc" => SortDirection::Desc,
            _ => {
                return Err(ApiError::parameter(
                    "sortDirection",
                    format!("must be \"asc\" or \"desc\", got {value:?}"),
                ))
            }
        }
    }
    for tag in query.all("tag") {
        if tag.is_empty() {
            return Err(ApiError::parameter("tag", "must not be empty"));
        }
        if q.tags.len() == MAX_TAG_FILTERS {
            return Err(ApiError::parameter(
                "tag",
                format!("is given more than {MAX_TAG_FILTERS} times"),
            ));
        }
        q.tags.push(tag.to_owned());
    }
    if let Some(value) = query.get("direction") {
        q.direction = Some(Direction::from_wire(value).ok_or_else(|| {
            ApiError::parameter(
                "direction",
                format!("must be one of {}, got {value:?}", Direction::allowed()),
            )
        })?);
    }
    if let Some(cursor) = query.get("cursor") {
        if cursor.is_empty() {
            return Err(ApiError::parameter("cursor", "must not be empty"));
        }
        q.after = Some(decode_cursor(cursor, &q)?);
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn defaults_match_the_hosted_api() {
        let q = parse_query(Query::parse(None)).unwrap();
        assert_eq!(q.page_size, 30);
        assert_eq!(q.sort_by, SortBy::CreatedAt);
        assert_eq!(q.sort_direction, SortDirection::Desc);
    }

    #[test]
    fn bad_parameters_are_refused() {
        for bad in [
            "pageSize=0",
            "pageSize=101",
            "pageSize=x",
            "sortBy=age",
            "sortDirection=up",
            "direction=sideways",
            "cursor=",
            "sortBy=created_at&cursor=yesterday",
            "page_size=10",
            "pageSize=10&pageSize=20",
            "search=a%00b",
            "sortBy=name&cursor=%00",
        ] {
            assert!(parse_query(Query::parse(Some(bad))).is_err(), "{bad}");
        }
        // A forged cursor of ours whose key holds U+0000.
        for (sort, dir) in [("name", "asc"), ("created_at", "desc")] {
            let raw = format!(
                "{CURSOR_VERSION}\n{sort}\n{dir}\n{}\na\0b",
                AgentId::generate()
            );
            let bad = format!(
                "sortBy={sort}&sortDirection={dir}&cursor={}",
                URL_SAFE_NO_PAD.encode(raw)
            );
            assert!(parse_query(Query::parse(Some(&bad))).is_err(), "{bad}");
        }
        let many_tags: Vec<String> = (0..51).map(|i| format!("tag=t{i}")).collect();
        assert!(parse_query(Query::parse(Some(&many_tags[..50].join("&")))).is_ok());
        assert!(
            parse_query(Query::parse(Some(&many_tags.join("&")))).is_err(),
            "51 tags"
        );
    }

    #[test]
    fn a_cursor_is_tied_to_its_sort() {
        let q = parse_query(Query::parse(Some("sortBy=name"))).unwrap();
        let c = encode_cursor(&q, "Ada", AgentId::generate());
        assert!(parse_query(Query::parse(Some(&format!("sortBy=name&cursor={c}")))).is_ok());
        assert!(parse_query(Query::parse(Some(&format!("sortBy=created_at&cursor={c}")))).is_err());
        assert!(parse_query(Query::parse(Some(&format!(
            "sortBy=name&sortDirection=asc&cursor={c}"
        ))))
        .is_err());
    }

    proptest! {
        #[test]
        fn cursors_round_trip_any_key(key in "\\PC{0,80}") {
            let q = parse_query(Query::parse(Some("sortBy=name&sortDirection=asc"))).unwrap();
            let id = AgentId::generate();
            let c = encode_cursor(&q, &key, id);
            let back = parse_query(Query::parse(Some(&format!("sortBy=name&sortDirection=asc&cursor={c}")))).unwrap();
            prop_assert_eq!(back.after, Some(After { key, id: Some(id) }));
        }
    }
}

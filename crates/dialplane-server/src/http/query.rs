//! [`Query`]: the one way routes read their query string, strictly. A parameter the route does not
//! know, one given twice (unless the route lets it repeat), or one holding U+0000 is refused with
//! `invalid_parameter` naming it, before any value is read: which of two values counts would be a
//! guess (`?dryRun=true&dryRun=false` must not turn a dry run into a write).

use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

/// A query string, its parameters in order.
#[derive(Debug, Default)]
pub struct Query(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(Self::parse(parts.uri.query()))
    }
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        Self(
            form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .map(|(name, value)| (name.into_owned(), value.into_owned()))
                .collect(),
        )
    }

    /// Checks the names: each one of `known`, none given twice unless `repeatable`, no value with
    /// U+0000. The values are the route's to read.
    pub fn known(self, known: &[&str], repeatable: &[&str]) -> Result<Known, ApiError> {
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in &self.0 {
            if value.contains('\0') {
                return Err(ApiError::parameter(
                    name,
                    "must not contain the character U+0000",
                ));
            }
            if !known.contains(&name.as_str()) {
                return Err(ApiError::parameter(
                    name,
                    format!("is not a known parameter ({})", known.join(", ")),
                ));
            }
            if !repeatable.contains(&name.as_str()) {
                if seen.contains(&name.as_str()) {
                    return Err(ApiError::parameter(name, "is given more than once"));
                }
                seen.push(name);
            }
        }
        Ok(Known(self.0))
    }
}

/// A query string whose names have been checked ([`Query::known`]).
#[derive(Debug)]
pub struct Known(Vec<(String, String)>);

impl Known {
    /// The value of `name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeatable `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `name` as `true` or `false`, if given.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(ApiError::parameter(
                name,
                format!("must be true or false, got {other:?}"),
            )),
        }
    }

    /// `name` as a whole number in `range`, if given.
    pub fn integer<T>(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<Option<T>, ApiError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display,
    {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        raw.parse::<T>()
            .ok()
            .filter(|n| range.contains(n))
            .map(Some)
            .ok_or_else(|| {
                ApiError::parameter(
                    name,
                    format!(
                        "must be an integer from {} to {}, got {raw:?}",
                        range.start(),
                        range.end()
                    ),
                )
            })
    }
}

/// `?dryRun=true|false`, the only parameter of the write routes.
pub fn dry_run(query: Query) -> Result<bool, ApiError> {
    Ok(query
        .known(&["dryRun"], &[])?
        .bool("dryRun")?
        .unwrap_or(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(raw: &str, known: &[&str], repeatable: &[&str]) -> String {
        let e = Query::parse(Some(raw))
            .known(known, repeatable)
            .unwrap_err();
        e.details[0].parameter.clone().unwrap_or_default() + ": " + &e.details[0].message
    }

    #[test]
    fn unknown_repeated_and_nul_parameters_are_refused_by_name() {
        assert_eq!(
            refused("dryRun=true&x=1", &["dryRun"], &[]),
            "x: is not a known parameter (dryRun)"
        );
        assert_eq!(
            refused("dryRun=true&dryRun=false", &["dryRun"], &[]),
            "dryRun: is given more than once"
        );
        assert_eq!(
            refused("tag=a%00", &["tag"], &["tag"]),
            "tag: must not contain the character U+0000"
        );
        let q = Query::parse(Some("tag=a&tag=b&pageSize=5"))
            .known(&["tag", "pageSize"], &["tag"])
            .unwrap();
        assert_eq!(q.all("tag").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(q.integer("pageSize", 1u32..=100).unwrap(), Some(5));
        assert!(q.integer("pageSize", 1u32..=4).is_err());
    }

    #[test]
    fn dry_run_is_true_false_or_absent() {
        assert!(dry_run(Query::parse(Some("dryRun=true"))).unwrap());
        assert!(!dry_run(Query::parse(Some("dryRun=false"))).unwrap());
        assert!(!dry_run(Query::parse(None)).unwrap());
        assert!(dry_run(Query::parse(Some("dryRun=1"))).is_err());
    }
}

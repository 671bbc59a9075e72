//! Reading the fields of a small JSON object body (opt-outs, phone numbers, conversations) and
//! naming every problem with its JSON Pointer, so that one answer lists them all.

use dialplane_core::agent::Choice;
use dialplane_core::{Pointer, ProblemCode, Problems};
use serde_json::{Map, Value};
use std::str::FromStr;

/// The fields of one JSON object at `at`, read one by one; problems collect in `problems`.
pub struct Fields<'a> {
    object: &'a Map<String, Value>,
    at: Pointer,
    pub problems: &'a mut Problems,
}

impl<'a> Fields<'a> {
    /// Reads `object` at `at`, reporting each of its keys that is not in `known`.
    pub fn new(
        object: &'a Map<String, Value>,
        at: Pointer,
        known: &[&str],
        problems: &'a mut Problems,
    ) -> Self {
        for key in object.keys().filter(|k| !known.contains(&k.as_str())) {
            problems.push(
                &at.key(key),
                ProblemCode::UnknownField,
                format!("is not a known field ({})", known.join(", ")),
            );
        }
        Self {
            object,
            at,
            problems,
        }
    }

    /// Where `key` is.
    pub fn pointer(&self, key: &str) -> Pointer {
        self.at.key(key)
    }

    /// The value of `key`, `None` if absent or `null`.
    pub fn value(&self, key: &str) -> Option<&'a Value> {
        self.object.get(key).filter(|v| !v.is_null())
    }

    /// Whether `key` is given as `null` (a merge patch's reset).
    pub fn is_null(&self, key: &str) -> bool {
        self.object.get(key).is_some_and(Value::is_null)
    }

    /// Whether `key` is there at all (`null` included).
    pub fn has(&self, key: &str) -> bool {
        self.object.contains_key(key)
    }

    pub fn problem(&mut self, key: &str, code: ProblemCode, why: impl Into<String>) {
        let at = self.pointer(key);
        self.problems.push(&at, code, why);
    }

    /// Reports `key` as required if it is absent or `null`; its value otherwise.
    pub fn required(&mut self, key: &str) -> Option<&'a Value> {
        let value = self.value(key);
        if value.is_none() {
            self.problem(key, ProblemCode::Required, "is required");
        }
        value
    }

    fn wrong_type<T>(&mut self, key: &str, expected: &str) -> Option<T> {
        self.problem(key, ProblemCode::InvalidType, format!("must be {expected}"));
        None
    }

    /// A string of at most `max_chars` characters.
    pub fn text(&mut self, key: &str, max_chars: usize) -> Option<String> {
        match self.value(key)? {
            Value::String(s) if s.chars().count() <= max_chars => Some(s.clone()),
            Value::String(s) => {
                let why = format!(
                    "must have at most {max_chars} characters, got {}",
                    s.chars().count()
                );
                self.problem(key, ProblemCode::TooLong, why);
                None
            }
            _ => self.wrong_type(key, "a string"),
        }
    }

    /// An E.164 number.
    pub fn e164(&mut self, key: &str) -> Option<String> {
        let number = self.text(key, usize::MAX)?;
        match dialplane_core::validate::check_e164(&number) {
            Ok(()) => Some(number),
            Err((code, why)) => {
                self.problem(key, code, why);
                None
            }
        }
    }

    /// An absolute http or https URL of at most `max_chars` characters.
    pub fn http_url(&mut self, key: &str, max_chars: usize) -> Option<String> {
        let text = self.text(key, max_chars)?;
        match url::Url::parse(&text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Some(text),
            _ => {
                self.problem(
                    key,
                    ProblemCode::InvalidFormat,
                    "must be an absolute http(s) URL",
                );
                None
            }
        }
    }

    /// Reports `key` if it is `null` (a field a merge patch cannot reset); whether it was.
    pub fn not_null(&mut self, key: &str) -> bool {
        let null = self.is_null(key);
        if null {
            self.problem(key, ProblemCode::InvalidType, "must not be null");
        }
        null
    }

    /// One of a closed set of strings.
    pub fn choice<C: Choice>(&mut self, key: &str) -> Option<C> {
        match self.value(key)? {
            Value::String(s) => C::from_wire(s).or_else(|| {
                let why = format!("must be {}, got {s:?}", C::allowed());
                self.problem(key, ProblemCode::InvalidValue, why);
                None
            }),
            _ => self.wrong_type(key, "a string"),
        }
    }

    /// An id of ours (`T` parses only canonical ids).
    pub fn id<T: FromStr>(&mut self, key: &str) -> Option<T> {
        match self.value(key)? {
            Value::String(s) => s.parse().ok().or_else(|| {
                self.problem(
                    key,
                    ProblemCode::InvalidFormat,
                    format!("is not an id: {s:?}"),
                );
                None
            }),
            _ => self.wrong_type(key, "a string"),
        }
    }

    pub fn boolean(&mut self, key: &str) -> Option<bool> {
        match self.value(key)? {
            Value::Bool(b) => Some(*b),
            _ => self.wrong_type(key, "true or false"),
        }
    }

    /// A whole number in `range`.
    pub fn integer(&mut self, key: &str, range: std::ops::RangeInclusive<i64>) -> Option<i64> {
        let value = self.value(key)?;
        match value.as_i64() {
            Some(n) if range.contains(&n) => Some(n),
            Some(n) => {
                let why = format!("must be {}..={}, got {n}", range.start(), range.end());
                self.problem(key, ProblemCode::OutOfRange, why);
                None
            }
            None => self.wrong_type(key, "a whole number"),
        }
    }

    /// A number (whole or not) in `range`.
    pub fn number(&mut self, key: &str, range: std::ops::RangeInclusive<f64>) -> Option<f64> {
        let value = self.value(key)?;
        match value.as_f64() {
            Some(n) if range.contains(&n) => Some(n),
            Some(n) => {
                let why = format!("must be {}..={}, got {n}", range.start(), range.end());
                self.problem(key, ProblemCode::OutOfRange, why);
                None
            }
            None => self.wrong_type(key, "a number"),
        }
    }

    /// A JSON object.
    pub fn object(&mut self, key: &str) -> Option<&'a Map<String, Value>> {
        match self.value(key)? {
            Value::Object(o) => Some(o),
            _ => self.wrong_type(key, "an object"),
        }
    }

    /// A JSON array.
    pub fn array(&mut self, key: &str) -> Option<&'a Vec<Value>> {
        match self.value(key)? {
            Value::Array(a) => Some(a),
            _ => self.wrong_type(key, "an array"),
        }
    }
}

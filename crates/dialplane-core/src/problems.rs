//! Validation problems: where (a JSON Pointer), what (a closed list of codes), and a human message.

use serde::Serialize;
use std::fmt;

/// A JSON Pointer (RFC 6901), built one token at a time.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pointer(String);

impl Pointer {
    /// The pointer to the whole document (`""`).
    pub fn root() -> Self {
        Self::default()
    }

    /// The pointer to member `key` of the object this pointer names.
    pub fn key(&self, key: &str) -> Self {
        let mut s = String::with_capacity(self.0.len() + key.len() + 1);
        s.push_str(&self.0);
        push_token(&mut s, key);
        Self(s)
    }

    /// The pointer to element `index` of the array this pointer names.
    pub fn index(&self, index: usize) -> Self {
        Self(format!("{}/{index}", self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Appends `/` and `key` to the JSON Pointer `path`, escaped as a reference token (`~` as `~0`, `/`
/// as `~1`).
pub(crate) fn push_token(path: &mut String, key: &str) {
    path.push('/');
    if !key.bytes().any(|b| b == b'~' || b == b'/') {
        path.push_str(key);
        return;
    }
    for c in key.chars() {
        match c {
            '~' => path.push_str("~0"),
            '/' => path.push_str("~1"),
            c => path.push(c),
        }
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What is wrong with a value. The list is closed: clients may match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProblemCode {
    /// A required field is missing (or was reset with `null` and has no default).
    Required,
    /// The value has the wrong JSON type.
    InvalidType,
    /// The field is not part of the schema.
    UnknownField,
    /// A read-only field was given a value other than the stored one.
    ReadOnly,
    /// A number is outside its allowed range.
    OutOfRange,
    /// A string or list is shorter than allowed (includes empty strings that must not be).
    TooShort,
    /// A string, list or map is longer than allowed.
    TooLong,
    /// A list holds the same value twice.
    Duplicate,
    /// A string does not have the required format (E.164, e-mail, URL, identifier...).
    InvalidFormat,
    /// The value is not one of the allowed values.
    InvalidValue,
    /// A reference names something that does not exist.
    NotFound,
    /// The agent refers to itself where that is not allowed.
    SelfReference,
    /// A rule across several fields is broken.
    InvalidCombination,
    /// A JSON Patch operation cannot be applied (its path or `from` names nothing there).
    InvalidOperation,
    /// A JSON Patch `test` operation found another value.
    TestFailed,
    /// A file is not of a type the knowledge base takes.
    UnsupportedType,
    /// A file is over the size limit.
    TooLarge,
    /// A file would take the workspace past its storage quota.
    QuotaExceeded,
}

/// One problem found in a request body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    pub path: String,
    pub code: ProblemCode,
    pub message: String,
}

/// Every problem found in one document, in the order they were found.
///
/// When a document has other problems, the agents it transfers to and the knowledge-base documents
/// it names are not looked up by the store's write; they travel here as `references` so that whoever
/// reports the problems can look them up too and report every problem at once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Problems(Vec<Problem>, Vec<(Pointer, Reference)>);

/// A name in a document that only the store can tell exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// An agent of the workspace (a transfer target).
    Agent(crate::AgentId),
    /// A knowledge-base document of the workspace.
    Document(String),
}

impl Problems {
    pub fn new() -> Self {
        Self::default()
    }

    /// Notes that `reference`, named at `path`, must still be looked up.
    pub fn defer_reference(&mut self, path: &Pointer, reference: Reference) {
        self.1.push((path.clone(), reference));
    }

    /// The references still to look up (see [`Problems::defer_reference`]).
    pub fn take_references(&mut self) -> Vec<(Pointer, Reference)> {
        std::mem::take(&mut self.1)
    }

    pub fn push(&mut self, path: &Pointer, code: ProblemCode, message: impl Into<String>) {
        self.0.push(Problem {
            path: path.to_string(),
            code,
            message: message.into(),
        });
    }

    pub fn extend(&mut self, other: Problems) {
        self.0.extend(other.0);
        self.1.extend(other.1);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Problem> {
        self.0.iter()
    }

    pub fn into_vec(self) -> Vec<Problem> {
        self.0
    }

    /// `Ok(value)` when nothing was found, else every problem.
    pub fn into_result<T>(self, value: T) -> Result<T, Problems> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.len() {
            1 => write!(f, "1 field is invalid"),
            n => write!(f, "{n} fields are invalid"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_escapes_tilde_and_slash_per_rfc_6901() {
        let p = Pointer::root().key("a/b").key("m~n").index(3);
        assert_eq!(p.as_str(), "/a~1b/m~0n/3");
    }

    #[test]
    fn problems_summary_counts_fields() {
        let mut p = Problems::new();
        p.push(&Pointer::root().key("a"), ProblemCode::Required, "x");
        assert_eq!(p.to_string(), "1 field is invalid");
        p.push(&Pointer::root().key("b"), ProblemCode::Required, "x");
        assert_eq!(p.to_string(), "2 fields are invalid");
    }
}

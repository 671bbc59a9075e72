//! Table-driven checks: bodies that must be refused at one pointer, or accepted as sent.

use super::{agent_with, json_missing, TestApp};
use serde_json::{json, Value};

/// A create body that must be refused with exactly one problem, `(path, code)`.
pub struct Refusal {
    pub label: String,
    pub body: Value,
    pub path: String,
    pub code: &'static str,
}

impl Refusal {
    /// [`agent_with`]`(pointer, value)`, reported at `pointer`.
    pub fn at(pointer: &str, value: Value, code: &'static str) -> Self {
        Self::reported_at(pointer, value, pointer, code)
    }

    /// [`agent_with`]`(pointer, value)`, reported at `path`.
    pub fn reported_at(pointer: &str, value: Value, path: &str, code: &'static str) -> Self {
        Self {
            label: short_label(pointer, &value),
            body: agent_with(pointer, value),
            path: path.to_owned(),
            code,
        }
    }

    /// A whole body, reported at `path`.
    pub fn body(label: &str, body: Value, path: &str, code: &'static str) -> Self {
        Self {
            label: label.to_owned(),
            body,
            path: path.to_owned(),
            code,
        }
    }
}

/// Creates each case's body and checks that it is a 400 `validation_error` whose details are exactly
/// `[(path, code)]`; reports every failing case at once.
pub async fn assert_refusals(app: &TestApp, cases: &[Refusal]) {
    let mut failures = Vec::new();
    for case in cases {
        let r = app.create_agent(&case.body).await;
        let want = vec![(case.path.clone(), case.code.to_owned())];
        if r.status != 400 || r.error_code() != "validation_error" || r.detail_paths() != want {
            failures.push(format!(
                "{}: expected 400 with {want:?}, got {} {}",
                case.label, r.status, r.text
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// A create body that must be accepted, keeping the value at `pointer` as sent.
pub struct Acceptance {
    pub label: String,
    pub body: Value,
    pub pointer: String,
}

impl Acceptance {
    /// [`agent_with`]`(pointer, value)`.
    pub fn at(pointer: &str, value: Value) -> Self {
        Self {
            label: short_label(pointer, &value),
            body: agent_with(pointer, value),
            pointer: pointer.to_owned(),
        }
    }
}

/// Creates each case's body and checks that it is a 201 whose agent holds, at the case's pointer, all
/// that was sent (numbers by value; defaults may be filled in around it); reports every failing case
/// at once.
pub async fn assert_acceptances(app: &TestApp, cases: &[Acceptance]) {
    let mut failures = Vec::new();
    for case in cases {
        let r = app.create_agent(&case.body).await;
        let sent = case.body.pointer(&case.pointer).unwrap_or(&Value::Null);
        let got = r.data().pointer(&case.pointer).unwrap_or(&Value::Null);
        if r.status != 201 {
            failures.push(format!(
                "{}: expected 201, got {} {}",
                case.label, r.status, r.text
            ));
        } else if let Some(diff) = json_missing(got, sent) {
            failures.push(format!("{}: not kept as sent: {diff}", case.label));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// A JSON array of `n` items, item `i` being `f(i)`.
pub fn json_list(n: usize, f: impl Fn(usize) -> Value) -> Value {
    Value::Array((0..n).map(f).collect())
}

/// A JSON object of `n` keys `k0, k1, ...`, key `ki` holding `f(i)`.
pub fn json_map(n: usize, f: impl Fn(usize) -> Value) -> Value {
    Value::Object((0..n).map(|i| (format!("k{i}"), f(i))).collect())
}

/// Panics unless the app's default workspace lists no agent (nothing was stored).
pub async fn assert_no_agents(app: &TestApp) {
    let list = app.list_agents("").await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.data(), &json!([]), "agents were stored: {}", list.text);
}

fn short_label(pointer: &str, value: &Value) -> String {
    let mut v = value.to_string();
    if v.chars().count() > 60 {
        v = format!("{}…", v.chars().take(60).collect::<String>());
    }
    format!("{pointer} = {v}")
}

//! JSON Patch (RFC 6902) bodies: read with a pointer to each bad operation, applied all or nothing.

use crate::json::type_name;
use crate::problems::{Pointer, ProblemCode, Problems};
use ::json_patch::{PatchErrorKind, PatchOperation};
use serde_json::Value;

/// Why a JSON Patch could not be applied.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// A `test` operation found another value: the document is not in the state the client expected.
    TestFailed(Problems),
    /// An operation names a location that does not exist.
    Invalid(Problems),
}

/// Reads a JSON Patch document: an array of operations, each checked on its own.
pub fn parse(body: Value) -> Result<Vec<PatchOperation>, Problems> {
    let mut problems = Problems::new();
    let Value::Array(items) = body else {
        problems.push(
            &Pointer::root(),
            ProblemCode::InvalidType,
            format!(
                "a JSON Patch must be an array of operations, got {}",
                type_name(&body)
            ),
        );
        return Err(problems);
    };
    let mut ops = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        match serde_json::from_value::<PatchOperation>(item) {
            Ok(op) => ops.push(op),
            Err(e) => problems.push(
                &Pointer::root().index(i),
                ProblemCode::InvalidOperation,
                format!("is not a JSON Patch operation: {e}"),
            ),
        }
    }
    problems.into_result(ops)
}

/// Applies `ops` to `doc`; on failure `doc` is left as it was.
pub fn apply(doc: &mut Value, ops: &[PatchOperation]) -> Result<(), Failure> {
    let mut patched = doc.clone();
    match ::json_patch::patch(&mut patched, ops) {
        Ok(()) => {
            *doc = patched;
            Ok(())
        }
        Err(e) => {
            let mut problems = Problems::new();
            let at = Pointer::root().index(e.operation);
            let path = e.path.to_string();
            match e.kind {
                PatchErrorKind::TestFailed => {
                    problems.push(
                        &at.key("value"),
                        ProblemCode::TestFailed,
                        format!("the value at {path:?} is not the one tested for"),
                    );
                    Err(Failure::TestFailed(problems))
                }
                PatchErrorKind::InvalidFromPointer => {
                    problems.push(
                        &at.key("from"),
                        ProblemCode::InvalidOperation,
                        "names no value of the agent",
                    );
                    Err(Failure::Invalid(problems))
                }
                other => {
                    problems.push(
                        &at.key("path"),
                        ProblemCode::InvalidOperation,
                        format!("cannot be applied at {path:?}: {other}"),
                    );
                    Err(Failure::Invalid(problems))
                }
            }
        }
    }
}

/// The operations that turn `from` into `to`.
pub fn diff(from: &Value, to: &Value) -> Vec<PatchOperation> {
    ::json_patch::diff(from, to).0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operations_apply_in_order_and_all_or_nothing() {
        let mut doc = json!({"tags": ["a"], "n": 1});
        let ops = parse(json!([
            {"op": "add", "path": "/tags/-", "value": "b"},
            {"op": "test", "path": "/n", "value": 1},
            {"op": "replace", "path": "/n", "value": 2}
        ]))
        .unwrap();
        apply(&mut doc, &ops).unwrap();
        assert_eq!(doc, json!({"tags": ["a", "b"], "n": 2}));

        let failing = parse(json!([
            {"op": "add", "path": "/tags/-", "value": "c"},
            {"op": "test", "path": "/n", "value": 1}
        ]))
        .unwrap();
        let err = apply(&mut doc, &failing).unwrap_err();
        let Failure::TestFailed(problems) = err else {
            panic!("{err:?}")
        };
        assert_eq!(problems.iter().next().unwrap().path, "/1/value");
        assert_eq!(doc, json!({"tags": ["a", "b"], "n": 2}), "nothing applied");
    }

    #[test]
    fn bad_operations_are_reported_by_index() {
        let problems = parse(json!([
            {"op": "add", "path": "/a", "value": 1},
            {"op": "launch", "path": "/a"},
            {"path": "/b"}
        ]))
        .unwrap_err();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["/1", "/2"]);
        assert!(parse(json!({"op": "add"})).is_err());
        let mut doc = json!({});
        let ops = parse(json!([{"op": "remove", "path": "/missing"}])).unwrap();
        let Err(Failure::Invalid(p)) = apply(&mut doc, &ops) else {
            panic!()
        };
        assert_eq!(p.iter().next().unwrap().path, "/0/path");
    }

    #[test]
    fn diff_turns_one_document_into_the_other() {
        let (a, b) = (
            json!({"x": 1, "t": ["a"]}),
            json!({"x": 2, "y": true, "t": []}),
        );
        let mut doc = a.clone();
        apply(&mut doc, &diff(&a, &b)).unwrap();
        assert_eq!(doc, b);
    }
}

//! JSON Patch (RFC 6902) bodies: read with a pointer to each bad operation, applied all or nothing.

use crate::json::{encoded_len, nesting, size, type_name, MAX_DEPTH};
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

/// How many operations one JSON Patch may have unless configured otherwise (`--max-patch-operations`).
pub const DEFAULT_MAX_OPERATIONS: usize = 1000;

/// Reads a JSON Patch document: an array of at most `max_operations` operations (`too_long` at the
/// root past it, before any is read), each checked on its own.
pub fn parse(body: Value, max_operations: usize) -> Result<Vec<PatchOperation>, Problems> {
    let mut problems = Problems::new();
    if let Value::Array(items) = &body {
        if items.len() > max_operations {
            problems.push(
                &Pointer::root(),
                ProblemCode::TooLong,
                format!(
                    "a JSON Patch may have at most {max_operations} operations, got {}",
                    items.len()
                ),
            );
            return Err(problems);
        }
    }
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

/// The most values that `copy` operations may add to a document, all of them together: each `copy`
/// can double a document, so without a bound a 2 KB patch could exhaust memory.
pub const MAX_COPIED_VALUES: usize = 100_000;

/// The most bytes of JSON that `copy` operations may add to a document, all of them together: a
/// string counts as one value however long it is, so copies of one long string need this bound too.
pub const MAX_COPIED_BYTES: usize = 1 << 20;

/// Applies `ops` to `doc`, one at a time; on failure `doc` is left as it was. The result may not nest
/// deeper than a body may ([`MAX_DEPTH`]), and copies may add at most [`MAX_COPIED_VALUES`] values
/// and [`MAX_COPIED_BYTES`] bytes.
pub fn apply(doc: &mut Value, ops: &[PatchOperation]) -> Result<(), Failure> {
    // All or nothing by patching a copy. Not `json_patch::patch`, which undoes the operations applied
    // before a failing one and panics when it cannot (after a `move` onto an ancestor of `from`).
    let mut patched = doc.clone();
    let (mut values, mut bytes) = (0, 0);
    for (i, op) in ops.iter().enumerate() {
        if let PatchOperation::Copy(copy) = op {
            if let Some(from) = patched.pointer(copy.from.as_str()) {
                values += size(from);
                bytes += encoded_len(from);
            }
            let too_much = if values > MAX_COPIED_VALUES {
                Some(format!("{MAX_COPIED_VALUES} values"))
            } else if bytes > MAX_COPIED_BYTES {
                Some(format!("{} MiB of JSON", MAX_COPIED_BYTES >> 20))
            } else {
                None
            };
            if let Some(limit) = too_much {
                let mut problems = Problems::new();
                problems.push(
                    &Pointer::root().index(i),
                    ProblemCode::TooLong,
                    format!("the copies would add more than {limit}"),
                );
                return Err(Failure::Invalid(problems));
            }
        }
        // `test` compares numbers by value (RFC 6902 4.6: `7` equals `7.0`), which `json_patch`
        // does not; a path that names nothing is left to it to report.
        if let PatchOperation::Test(test) = op {
            if let Some(found) = patched.pointer(test.path.as_str()) {
                if !equal(found, &test.value) {
                    return Err(test_failed(i, test.path.as_str()));
                }
                continue;
            }
        }
        ::json_patch::patch_unsafe(&mut patched, std::slice::from_ref(op))
            .map_err(|e| failure(i, e))?;
    }
    if nesting(&patched) > MAX_DEPTH {
        let mut problems = Problems::new();
        problems.push(
            &Pointer::root(),
            ProblemCode::TooLong,
            format!("the patched agent would be nested deeper than {MAX_DEPTH} levels"),
        );
        return Err(Failure::Invalid(problems));
    }
    *doc = patched;
    Ok(())
}

/// JSON equality as RFC 6902 defines it for `test`: numbers are equal when their values are, and
/// objects when they have the same members, in any order.
fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i128(), y.as_i128()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| equal(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => a == b,
    }
}

/// Operation `i`, a `test`, found another value at `path`.
fn test_failed(i: usize, path: &str) -> Failure {
    let mut problems = Problems::new();
    problems.push(
        &Pointer::root().index(i).key("value"),
        ProblemCode::TestFailed,
        format!("the value at {path:?} is not the one tested for"),
    );
    Failure::TestFailed(problems)
}

/// What went wrong with operation `i`.
fn failure(i: usize, e: ::json_patch::PatchError) -> Failure {
    let mut problems = Problems::new();
    let at = Pointer::root().index(i);
    let path = e.path.to_string();
    match e.kind {
        PatchErrorKind::TestFailed => test_failed(i, &path),
        PatchErrorKind::InvalidFromPointer => {
            problems.push(
                &at.key("from"),
                ProblemCode::InvalidOperation,
                "names no value of the agent",
            );
            Failure::Invalid(problems)
        }
        other => {
            problems.push(
                &at.key("path"),
                ProblemCode::InvalidOperation,
                format!("cannot be applied at {path:?}: {other}"),
            );
            Failure::Invalid(problems)
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

    fn parse(body: Value) -> Result<Vec<PatchOperation>, Problems> {
        super::parse(body, DEFAULT_MAX_OPERATIONS)
    }

    #[test]
    fn a_patch_over_the_operation_limit_is_too_long_at_the_root() {
        let op = json!({"op": "add", "path": "/tags/0", "value": "t"});
        assert!(super::parse(Value::Array(vec![op.clone(); 3]), 3).is_ok());
        let problems = super::parse(Value::Array(vec![op; 4]), 3).unwrap_err();
        let all = problems.into_vec();
        assert_eq!(all.len(), 1);
        assert_eq!(
            (all[0].path.as_str(), all[0].code),
            ("", ProblemCode::TooLong)
        );
        assert!(all[0].message.contains("at most 3"), "{}", all[0].message);
    }
    use crate::testing::{json_value, key};
    use proptest::prelude::*;
    use serde_json::{json, Map};

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
    fn test_compares_numbers_by_value_and_objects_in_any_order() {
        let doc = json!({"n": 7.0, "z": 0, "o": {"a": 1, "b": [2.5, 3]}, "s": "7"});
        let passes = |path: &str, value: Value| {
            let ops = parse(json!([{"op": "test", "path": path, "value": value}])).unwrap();
            apply(&mut doc.clone(), &ops).is_ok()
        };
        assert!(passes("/n", json!(7)));
        assert!(passes("/n", json!(7.0)));
        assert!(passes("/z", json!(0.0)));
        assert!(passes("/o", json!({"b": [2.5, 3.0], "a": 1.0})));
        assert!(!passes("/n", json!(8)));
        assert!(!passes("/n", json!(7.5)));
        assert!(!passes("/s", json!(7)));
        assert!(!passes("/n", json!("7")));
        assert!(!passes("/o", json!({"a": 1, "b": [2.5]})));
        assert!(!passes("/o", json!({"a": 1, "b": [2.5, 3], "c": null})));
        assert!(!passes("/o", json!([1])));
        // A path that names nothing is still an invalid operation, not a failed test.
        let ops = parse(json!([{"op": "test", "path": "/missing", "value": 1}])).unwrap();
        assert!(matches!(
            apply(&mut doc.clone(), &ops),
            Err(Failure::Invalid(_))
        ));
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
    fn a_failure_after_a_move_onto_an_ancestor_leaves_the_document_unchanged() {
        // json_patch::patch could not undo the move (it would be a move inside itself) and panicked.
        let original = json!({"a": {"b": {"c": [2]}}});
        let ops = parse(json!([
            {"op": "move", "from": "/a/b/c/0", "path": "/a"},
            {"op": "remove", "path": "/missing"}
        ]))
        .unwrap();
        let mut doc = original.clone();
        let Err(Failure::Invalid(p)) = apply(&mut doc, &ops) else {
            panic!()
        };
        assert_eq!(p.iter().next().unwrap().path, "/1/path");
        assert_eq!(doc, original);
    }

    #[test]
    fn copies_that_would_blow_the_document_up_are_refused_and_change_nothing() {
        let mut doc = json!({"a": [1]});
        let before = doc.clone();
        let bomb: Vec<Value> = (0..40)
            .map(|_| json!({"op": "copy", "from": "/a", "path": "/a/-"}))
            .collect();
        let ops = parse(Value::Array(bomb)).unwrap();
        let Err(Failure::Invalid(problems)) = apply(&mut doc, &ops) else {
            panic!("the bomb was applied");
        };
        let p = problems.iter().next().unwrap();
        assert_eq!(p.code, ProblemCode::TooLong);
        // Each copy puts `a` inside itself, doubling it from two values: the 16th copy passes 100 000.
        assert_eq!(p.path, "/15");
        assert_eq!(doc, before);
        // A handful of copies is fine.
        let few = parse(json!([{"op": "copy", "from": "/a", "path": "/b"}])).unwrap();
        apply(&mut doc, &few).unwrap();
        assert_eq!(doc, json!({"a": [1], "b": [1]}));
    }

    #[test]
    fn a_patch_may_not_nest_the_document_deeper_than_a_body_may() {
        // Each round wraps the document's `x` one level deeper: add a holder, move x in, move it back.
        let mut ops = Vec::new();
        for _ in 0..crate::json::MAX_DEPTH {
            ops.push(json!({"op": "add", "path": "/h", "value": {}}));
            ops.push(json!({"op": "move", "from": "/x", "path": "/h/x"}));
            ops.push(json!({"op": "move", "from": "/h", "path": "/x"}));
        }
        let mut doc = json!({"x": 1});
        let ops = parse(Value::Array(ops)).unwrap();
        let Err(Failure::Invalid(problems)) = apply(&mut doc, &ops) else {
            panic!("nested deeper than allowed");
        };
        assert_eq!(problems.iter().next().unwrap().code, ProblemCode::TooLong);
        assert_eq!(doc, json!({"x": 1}));
        assert_eq!(crate::json::nesting(&json!({"a": [{"b": 1}]})), 3);
        assert_eq!(crate::json::size(&json!({"a": [{"b": 1}]})), 4);
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

    /// JSON Pointers into documents made by [`json_value`]: keys (escaped), indices, `-`, a few levels.
    fn pointer() -> impl Strategy<Value = String> {
        let token = prop_oneof![
            key().prop_map(|k| k.replace('~', "~0").replace('/', "~1")),
            (0usize..4).prop_map(|i| i.to_string()),
            Just("-".to_owned()),
        ];
        prop::collection::vec(token, 0..4)
            .prop_map(|tokens| tokens.iter().map(|t| format!("/{t}")).collect::<String>())
    }

    /// Every pointer that names a value of `doc`, the root included.
    fn pointers_in(doc: &Value) -> Vec<String> {
        fn walk(v: &Value, at: Pointer, out: &mut Vec<String>) {
            out.push(at.to_string());
            match v {
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        walk(item, at.index(i), out);
                    }
                }
                Value::Object(map) => {
                    for (k, item) in map {
                        walk(item, at.key(k), out);
                    }
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(doc, Pointer::root(), &mut out);
        out
    }

    /// Operation-shaped JSON for `doc`: mostly valid operations, mostly at pointers that exist in `doc`
    /// (or one level below them), some with a missing member or an unknown `op`.
    fn operation(doc: &Value) -> impl Strategy<Value = Value> {
        let existing = prop::sample::select(pointers_in(doc));
        let somewhere = prop_oneof![
            3 => existing.clone(),
            1 => (existing, prop_oneof![key(), Just("-".to_owned()), Just("0".to_owned())])
                .prop_map(|(p, t)| format!("{p}/{}", t.replace('~', "~0").replace('/', "~1"))),
            1 => pointer(),
        ];
        let name = prop::sample::select(vec![
            "add", "remove", "replace", "move", "copy", "test", "launch",
        ]);
        (
            name,
            prop::option::weighted(0.95, somewhere.clone()),
            prop::option::weighted(0.95, somewhere),
            prop::option::weighted(0.95, json_value()),
        )
            .prop_map(|(op, path, from, value)| {
                let mut m = Map::new();
                m.insert("op".into(), op.into());
                if let Some(path) = path {
                    m.insert("path".into(), path.into());
                }
                if matches!(op, "move" | "copy") {
                    if let Some(from) = from {
                        m.insert("from".into(), from.into());
                    }
                }
                if matches!(op, "add" | "replace" | "test") {
                    if let Some(value) = value {
                        m.insert("value".into(), value);
                    }
                }
                Value::Object(m)
            })
    }

    /// A document and a JSON Patch body for it.
    fn doc_and_operations() -> impl Strategy<Value = (Value, Value)> {
        json_value().prop_flat_map(|doc| {
            let ops = prop::collection::vec(operation(&doc), 0..6).prop_map(Value::Array);
            (Just(doc), ops)
        })
    }

    proptest! {
        #[test]
        fn a_diff_applied_to_its_source_gives_its_target(a in json_value(), b in json_value()) {
            let mut doc = a.clone();
            prop_assert_eq!(apply(&mut doc, &diff(&a, &b)), Ok(()));
            prop_assert_eq!(doc, b);
        }

        #[test]
        fn a_patch_applies_whole_or_leaves_the_document_unchanged(
            (doc, body) in doc_and_operations()
        ) {
            let Ok(ops) = parse(body) else {
                return Ok(());
            };
            // What applying the operations one at a time gives: the result, or the first that fails.
            let mut stepwise = doc.clone();
            let first_failure = ops
                .iter()
                .position(|op| apply(&mut stepwise, std::slice::from_ref(op)).is_err());
            let mut patched = doc.clone();
            match (apply(&mut patched, &ops), first_failure) {
                (Ok(()), None) => prop_assert_eq!(patched, stepwise),
                (Err(Failure::TestFailed(p) | Failure::Invalid(p)), Some(i)) => {
                    prop_assert_eq!(&patched, &doc, "nothing applied");
                    let path = &p.iter().next().unwrap().path;
                    prop_assert!(path.starts_with(&format!("/{i}/")), "{} for operation {}", path, i);
                }
                (outcome, first_failure) => {
                    prop_assert!(false, "{:?} but operation {:?} fails alone", outcome, first_failure)
                }
            }
        }

        #[test]
        fn parse_never_panics_and_reports_json_pointers(
            body in prop_oneof![json_value(), doc_and_operations().prop_map(|(_, ops)| ops)]
        ) {
            if let Err(problems) = parse(body) {
                prop_assert!(!problems.is_empty());
                for p in problems.iter() {
                    prop_assert!(p.path.is_empty() || p.path.starts_with('/'), "{}", p.path);
                    prop_assert!(!p.message.is_empty());
                }
            }
        }
    }
}

//! Strategies shared by the property tests of the JSON modules.

use proptest::prelude::*;
use serde_json::{Map, Value};

/// Object keys: few enough that two generated objects share some, with the characters a JSON Pointer
/// escapes (`~`, `/`) and tokens that look like array indices.
pub(crate) fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["", "a", "b", "0", "1", "-", "a/b", "m~n", "~1", "é"])
            .prop_map(str::to_owned),
        "[a-c]{1,2}",
    ]
}

/// Strings, including the characters JSON writes escaped (quotes, backslashes, control characters
/// other than U+0000, which bodies may not hold).
fn string() -> impl Strategy<Value = String> {
    prop_oneof!["\\PC{0,8}", "[\\x01-\\x1f\"\\\\/a]{0,4}"]
}

/// Any JSON scalar, with every kind of number serde_json keeps apart (u64, i64, finite f64).
pub(crate) fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        string().prop_map(Value::String),
    ]
}

/// Any JSON value a body may hold: no U+0000 and, being built from maps, no duplicate keys; nested a
/// few levels deep.
pub(crate) fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(6, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

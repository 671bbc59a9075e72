//! JSON Merge Patch (RFC 7396): the one way a PATCH body is applied to a stored document.

use serde_json::{Map, Value};

/// Returns `target` with `patch` applied: absent keys keep their value, `null` removes a key (which the
/// validator then fills with its default), objects merge key by key, anything else replaces.
pub fn merge(target: &Value, patch: &Value) -> Value {
    let mut out = target.clone();
    merge_in_place(&mut out, patch);
    out
}

/// [`merge`], writing into `target`.
pub fn merge_in_place(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge_in_place(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn rfc_7396_appendix_a_examples() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (
                json!({"a":"b","b":"c"}),
                json!({"a":null}),
                json!({"b":"c"}),
            ),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a":"b"}), json!(["c"]), json!(["c"])),
            (json!({"a":"foo"}), json!(null), json!(null)),
            (json!({"a":"foo"}), json!("bar"), json!("bar")),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (target, patch, expected) in cases {
            assert_eq!(merge(&target, &patch), expected, "{target} + {patch}");
        }
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(Value::from),
            "[a-c]{0,3}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-d]", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn merging_an_empty_patch_changes_nothing(target in json_value()) {
            prop_assume!(target.is_object());
            prop_assert_eq!(merge(&target, &serde_json::json!({})), target);
        }

        #[test]
        fn merging_is_idempotent(target in json_value(), patch in json_value()) {
            let once = merge(&target, &patch);
            prop_assert_eq!(merge(&once, &patch), once);
        }

        #[test]
        fn every_patched_key_ends_up_as_the_patch_says(target in json_value(), patch in json_value()) {
            let out = merge(&target, &patch);
            if let (Value::Object(p), Value::Object(o)) = (&patch, &out) {
                for (k, v) in p {
                    match v {
                        Value::Null => prop_assert!(!o.contains_key(k)),
                        Value::Object(_) => prop_assert!(o[k].is_object()),
                        other => prop_assert_eq!(&o[k], other),
                    }
                }
            }
        }

        #[test]
        fn keys_absent_from_the_patch_keep_their_value(target in json_value(), patch in json_value()) {
            let out = merge(&target, &patch);
            if let (Value::Object(t), Value::Object(p), Value::Object(o)) = (&target, &patch, &out) {
                for (k, v) in t {
                    if !p.contains_key(k) {
                        prop_assert_eq!(&o[k], v);
                    }
                }
            }
        }
    }
}

//! JSON Merge Patch (RFC 7396): the result is exactly what the RFC's algorithm gives, merging the same
//! patch twice changes nothing more, and no `null` of an object patch ends up in the result.
//!
//! Input: the target on the first line, then the patch.

#![no_main]

use dialplane_core::json::parse_value;
use dialplane_core::merge::{merge, merge_in_place};
use dialplane_fuzz::{has_null, split_lines};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

/// Checks `out` against RFC 7396 section 2, member by member.
fn check(target: &Value, patch: &Value, out: &Value) {
    let Value::Object(patch) = patch else {
        assert_eq!(
            out, patch,
            "a patch that is not an object replaces the target"
        );
        return;
    };
    let empty = Map::new();
    let target = target.as_object().unwrap_or(&empty);
    let Value::Object(out) = out else {
        panic!("an object patch gave {out}");
    };
    for (key, value) in patch {
        match value {
            Value::Null => assert!(!out.contains_key(key), "{key:?} set to null stays"),
            value => {
                let Some(merged) = out.get(key) else {
                    panic!("patched key {key:?} is missing");
                };
                check(target.get(key).unwrap_or(&Value::Null), value, merged);
            }
        }
    }
    for (key, value) in out {
        if !patch.contains_key(key) {
            assert_eq!(
                target.get(key),
                Some(value),
                "{key:?} untouched by the patch"
            );
        }
    }
    for key in target.keys() {
        assert!(
            patch.contains_key(key) || out.contains_key(key),
            "{key:?} lost"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((target, patch)) = split_lines(data) else {
        return;
    };
    let (Ok(target), Ok(patch)) = (parse_value(target), parse_value(patch)) else {
        return;
    };
    let once = merge(&target, &patch);
    check(&target, &patch, &once);
    assert_eq!(
        merge(&once, &patch),
        once,
        "merging twice differs from once"
    );
    let mut in_place = target.clone();
    merge_in_place(&mut in_place, &patch);
    assert_eq!(in_place, once);
    if patch.is_object() && !has_null(&target) && !has_kept_null(&patch) {
        // The nulls of an object patch remove keys: none of them ends up in the result.
        assert!(!has_null(&once), "{once}");
    }
});

/// Whether a patch holds a `null` that is set as a value (inside an array, or the whole patch), as
/// opposed to one that removes a key of an object.
fn has_kept_null(patch: &Value) -> bool {
    match patch {
        Value::Object(map) => map.values().any(|v| !v.is_null() && has_kept_null(v)),
        other => has_null(other),
    }
}

//! Tests of the changed paths of a change: against a full RFC 6902 diff, on edited, reordered and
//! pretty-printed documents.

use super::tests::{minimal, rules, stored};
use super::*;
use proptest::prelude::*;
use serde_json::json;

/// The paths of an RFC 6902 diff, each once: what `changes::diff` must give, from the two values'
/// text, without building the diff.
fn paths_of_a_full_diff(before: &Value, after: &Value) -> Vec<String> {
    let mut paths: Vec<String> = Vec::new();
    for op in json_patch::diff(before, after).iter() {
        let path = op.path().to_string();
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    paths
}

/// `changes::diff` of the two values written as JSON text.
fn diff_of_texts(before: &Value, after: &Value) -> Vec<String> {
    let (before, after) = (before.to_string(), after.to_string());
    fn raw(text: &str) -> &serde_json::value::RawValue {
        serde_json::from_str(text).unwrap()
    }
    let (before, after) = (raw(&before), raw(&after));
    let mut paths = Vec::new();
    changes::diff(before, after, &mut String::new(), &mut paths);
    paths
}

proptest! {
    #[test]
    fn changed_paths_are_those_of_a_full_diff(
        before in crate::testing::json_value(),
        after in crate::testing::json_value(),
    ) {
        prop_assert_eq!(diff_of_texts(&before, &after), paths_of_a_full_diff(&before, &after));
    }
}

/// Every node of `value`, as a JSON Pointer, parents before children.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            out.push(at.clone());
            for (key, inner) in map {
                let key = key.replace('~', "~0").replace('/', "~1");
                pointers(inner, format!("{at}/{key}"), out);
            }
        }
        Value::Array(items) => {
            out.push(at.clone());
            for (i, inner) in items.iter().enumerate() {
                pointers(inner, format!("{at}/{i}"), out);
            }
        }
        _ => out.push(at),
    }
}

/// `value` with a few edits, each at a node picked by `pick`: replaced by `with`, removed from its
/// object or array, or (an object or array) given one more member or element. Most of the result
/// is as it was, as with two revisions of one agent.
fn edited(mut value: Value, edits: Vec<(usize, u8, Value)>) -> Value {
    for (pick, kind, with) in edits {
        let mut nodes = Vec::new();
        pointers(&value, String::new(), &mut nodes);
        let at = &nodes[pick % nodes.len()];
        let (parent, last) = at.rsplit_once('/').unwrap_or(("", ""));
        match kind % 3 {
            0 => *value.pointer_mut(at).unwrap() = with,
            1 if !at.is_empty() => match value.pointer_mut(parent).unwrap() {
                Value::Object(map) => {
                    map.remove(&last.replace("~1", "/").replace("~0", "~"));
                }
                Value::Array(items) => {
                    items.remove(last.parse().unwrap());
                }
                _ => unreachable!("a parent is an object or an array"),
            },
            _ => match value.pointer_mut(at).unwrap() {
                Value::Object(map) => {
                    map.insert("zz".into(), with);
                }
                Value::Array(items) => items.push(with),
                other => *other = with,
            },
        }
    }
    value
}

/// `value` as compact JSON text with every object's members in reverse order, as a struct's fields
/// may be: not sorted by key.
fn reversed_text(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let members: Vec<String> = map
                .iter()
                .rev()
                .map(|(key, inner)| {
                    format!("{}:{}", Value::from(key.as_str()), reversed_text(inner))
                })
                .collect();
            format!("{{{}}}", members.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(reversed_text).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

proptest! {
    #[test]
    fn changed_paths_read_side_by_side_are_those_of_a_full_diff(
        before in crate::testing::json_value(),
        edits in prop::collection::vec(
            (any::<usize>(), any::<u8>(), crate::testing::json_value()),
            0..4,
        ),
        unrelated in crate::testing::json_value(),
        layout in 0..3,
    ) {
        let edited = edited(before.clone(), edits);
        for after in [&edited, &unrelated] {
            // Compact; the second text pretty-printed; members in another order than by key.
            let (before_text, after_text) = match layout {
                0 => (before.to_string(), after.to_string()),
                1 => (before.to_string(), serde_json::to_string_pretty(after).unwrap()),
                _ => (reversed_text(&before), reversed_text(after)),
            };
            prop_assert_eq!(
                changes::changed_paths_of_values(&before_text, &after_text),
                Some(paths_of_a_full_diff(&before, after))
            );
        }
    }
}

#[test]
fn changed_paths_of_documents_that_are_not_json_objects_are_none() {
    let agent =
        serde_json::to_string(&stored(validate_create(&minimal(), &rules()).unwrap())).unwrap();
    for (before, after) in [
        (agent.as_str(), "[1]"),
        (agent.as_str(), "{"),
        (agent.as_str(), &agent[..agent.len() - 1]),
        ("{\"a\": tru}", "{\"a\": false}"),
        ("{\"a\": 1} x", "{\"a\": 2}"),
    ] {
        assert!(
            changed_paths(before, after).is_empty(),
            "{before} -> {after}"
        );
        assert!(
            changed_paths(after, before).is_empty(),
            "{after} -> {before}"
        );
    }
}

#[test]
fn changed_paths_of_arrays_that_grow_or_shrink() {
    for (before, after) in [
        (json!({"t": [1, 2, 3]}), json!({"t": [1]})),
        (json!({"t": [1]}), json!({"t": [1, 2, 3]})),
        (
            json!({"t": [{"a": 1}], "u~/": 1}),
            json!({"t": [{"a": 2}, 3]}),
        ),
    ] {
        assert_eq!(
            diff_of_texts(&before, &after),
            paths_of_a_full_diff(&before, &after),
            "{before} -> {after}"
        );
    }
}

#[test]
fn the_read_only_values_are_those_of_the_stored_document() {
    let agent = stored(validate_create(&minimal(), &rules()).unwrap());
    let document = serde_json::to_value(&agent).unwrap();
    let read_only = read_only_values(&agent);
    for key in READ_ONLY {
        assert_eq!(read_only.get(key), document.get(key), "{key}");
    }
    assert_eq!(read_only.as_object().unwrap().len(), READ_ONLY.len());
}

#[test]
fn a_change_of_the_phone_numbers_is_one_change_of_the_list() {
    let before = stored(validate_create(&minimal(), &rules()).unwrap());
    let mut after = before.clone();
    let number = |n: &str| crate::agent::PhoneNumber {
        provider: "twilio".into(),
        number: n.into(),
        label: String::new(),
    };
    after.phone_numbers = vec![number("+14155550100"), number("+14155550123")];
    after.spec.name = "Renamed".into();
    let text = |a: &crate::Agent| serde_json::to_string(a).unwrap();
    assert_eq!(
        changed_paths(&text(&before), &text(&after)),
        vec!["/name", "/phoneNumbers"]
    );
    let mut relabelled = after.clone();
    relabelled.phone_numbers[1].label = "Main".into();
    assert_eq!(
        changed_paths(&text(&after), &text(&relabelled)),
        vec!["/phoneNumbers"]
    );
}

#[test]
fn changed_paths_compare_values_and_leave_out_the_read_only_members() {
    let before = stored(validate_create(&minimal(), &rules()).unwrap());
    let mut after = before.clone();
    after.spec.name = "Renamed".into();
    after.spec.conversation_config.tts.voice_id = "v2".into();
    after.metadata.updated_at = "2030-01-01T00:00:00.000000Z".into();
    let (before, after) = (
        serde_json::to_string(&before).unwrap(),
        serde_json::to_string(&after).unwrap(),
    );
    assert_eq!(
        changed_paths(&before, &after),
        vec!["/conversationConfig/tts/voiceId", "/name"]
    );
    assert!(changed_paths(&before, &before).is_empty());
    // The same values written differently are no change; a different value is one.
    assert!(changed_paths(r#"{"a": [1, {"b": "x"}]}"#, r#"{"a":[1,{"b":"x"}]}"#).is_empty());
    assert_eq!(
        changed_paths(
            r#"{"a": {"b": 1}, "agentId": 1}"#,
            r#"{"a":{"b":2},"agentId":2}"#
        ),
        vec!["/a/b"]
    );
}

//! Request bodies and JSON comparisons.

use serde_json::{json, Value};

/// The smallest valid create body.
pub fn minimal_agent(name: &str) -> Value {
    json!({"name": name, "conversationConfig": {"agent": {"prompt": {"prompt": "You are helpful."}}}})
}

/// A create body that sets `value` at the JSON Pointer `pointer` on top of [`minimal_agent`].
pub fn agent_with(pointer: &str, value: Value) -> Value {
    let mut body = minimal_agent("With");
    set_pointer(&mut body, pointer, value);
    body
}

/// Sets `value` at `pointer`, creating objects on the way.
pub fn set_pointer(doc: &mut Value, pointer: &str, value: Value) {
    let mut cur = doc;
    let tokens: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    for (i, token) in tokens.iter().enumerate() {
        if !cur.is_object() {
            *cur = json!({});
        }
        let map = cur.as_object_mut().unwrap();
        if i == tokens.len() - 1 {
            map.insert(token.clone(), value);
            return;
        }
        cur = map.entry(token.clone()).or_insert_with(|| json!({}));
    }
}

/// The first place where `actual` and `expected` differ, as `"<pointer>: <actual> != <expected>"`, or
/// `None` when they are the same JSON. Numbers compare by value (`600` equals `600.0`).
pub fn json_difference(actual: &Value, expected: &Value) -> Option<String> {
    json_walk(actual, expected, "", false)
}

/// Like [`json_difference`], but objects of `actual` may hold more keys than those of `expected`
/// (for example defaults filled in around what a client sent).
pub fn json_missing(actual: &Value, expected: &Value) -> Option<String> {
    json_walk(actual, expected, "", true)
}

fn json_walk(a: &Value, e: &Value, at: &str, subset: bool) -> Option<String> {
    let here = if at.is_empty() { "/" } else { at };
    match (a, e) {
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => None,
        (Value::Object(x), Value::Object(y)) => {
            let keys: Vec<&String> = if subset {
                y.keys().collect()
            } else {
                x.keys().chain(y.keys()).collect()
            };
            keys.into_iter().find_map(|key| {
                let next = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                match (x.get(key), y.get(key)) {
                    (Some(xa), Some(ya)) => json_walk(xa, ya, &next, subset),
                    (xa, ya) => Some(format!("{next}: {xa:?} != {ya:?}")),
                }
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (xa, ya))| json_walk(xa, ya, &format!("{at}/{i}"), subset)),
        _ if a == e => None,
        _ => Some(format!("{here}: {a} != {e}")),
    }
}

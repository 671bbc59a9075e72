//! Helpers shared by the fuzz targets.

use serde_json::Value;

/// Splits a fuzz input in two at its first newline: the first line and the rest.
///
/// Compact JSON has no raw newline (one inside a string is written `\n`), so seed files read as a
/// one-line document followed by a second JSON value.
pub fn split_lines(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = data.iter().position(|&b| b == b'\n')?;
    Some((&data[..at], &data[at + 1..]))
}

/// How many arrays and objects are nested at the deepest point of `value` (a scalar is 0).
pub fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Whether any string or key of `value` holds U+0000.
pub fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// Whether `value` holds `null` anywhere.
pub fn has_null(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.iter().any(has_null),
        Value::Object(map) => map.values().any(has_null),
        _ => false,
    }
}

/// Whether a problem's path is a JSON Pointer: empty (the whole document) or starting with `/`.
pub fn is_pointer(path: &str) -> bool {
    path.is_empty() || path.starts_with('/')
}

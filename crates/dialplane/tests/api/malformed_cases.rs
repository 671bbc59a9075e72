//! The malformed bodies that `malformed` sends: broken JSON, invalid documents, broken JSON Patches.

use serde_json::{json, Value};

/// Bodies that are not one well-formed JSON object within our limits: always `invalid_json`.
pub(crate) fn broken_json() -> Vec<(&'static str, Vec<u8>)> {
    let deep = |n: usize| format!("{}{}", "{\"a\":".repeat(n), "}".repeat(n)).replace(":}", ":1}");
    let mut utf16 = Vec::new();
    for unit in r#"{"name":"x"}"#.encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    vec![
        (
            "invalid UTF-8 in a string",
            b"{\"name\": \"\xff\xfe\"}".to_vec(),
        ),
        (
            "invalid UTF-8 outside strings",
            b"{\"name\": \"x\"\xff}".to_vec(),
        ),
        ("overlong UTF-8", b"{\"name\": \"\xc0\xaf\"}".to_vec()),
        ("UTF-16", utf16),
        ("truncated", br#"{"name": "x""#.to_vec()),
        ("duplicate keys", br#"{"name": "a", "name": "b"}"#.to_vec()),
        (
            "nested duplicate keys",
            br#"{"conversationConfig": {"agent": {"language": "en", "language": "de"}}}"#.to_vec(),
        ),
        ("65 levels deep", deep(65).into_bytes()),
        ("10 000 levels deep", deep(10_000).into_bytes()),
        (
            "a number too large for a double",
            br#"{"name": 1e400}"#.to_vec(),
        ),
        (
            "a number too small for a double",
            br#"{"name": -1e400}"#.to_vec(),
        ),
        ("NaN", br#"{"name": NaN}"#.to_vec()),
        ("Infinity", br#"{"name": Infinity}"#.to_vec()),
        ("hex number", br#"{"name": 0x10}"#.to_vec()),
        ("leading zero", br#"{"name": 01}"#.to_vec()),
        ("trailing garbage", br#"{"name": "x"} x"#.to_vec()),
        ("two objects", br#"{}{}"#.to_vec()),
        ("whitespace only", b"   \n ".to_vec()),
        ("an array", b"[]".to_vec()),
        ("a string", br#""x""#.to_vec()),
        ("null", b"null".to_vec()),
        ("a number", b"42".to_vec()),
        ("a byte-order mark", b"\xef\xbb\xbf{}".to_vec()),
        ("an escaped U+0000", br#"{"name": "a\u0000b"}"#.to_vec()),
        ("a lone surrogate", br#"{"name": "\ud800"}"#.to_vec()),
        ("an invalid escape", br#"{"name": "\x"}"#.to_vec()),
        ("a raw control character", b"{\"name\": \"a\nb\"}".to_vec()),
        ("a comment", br#"{/* c */ "name": "x"}"#.to_vec()),
        ("single quotes", br#"{'name': 'x'}"#.to_vec()),
        ("an unquoted key", br#"{name: "x"}"#.to_vec()),
        ("a trailing comma", br#"{"name": "x",}"#.to_vec()),
    ]
}

/// Well-formed JSON objects that break the schema: always `validation_error`.
pub(crate) fn invalid_documents() -> Vec<(&'static str, Vec<u8>)> {
    let tags: Vec<String> = (0..60_000).map(|i| format!("t{i}")).collect();
    vec![
        ("a name that is a number", br#"{"name": 5}"#.to_vec()),
        ("an empty name", br#"{"name": ""}"#.to_vec()),
        (
            "a 10 000-character name",
            json!({"name": "n".repeat(10_000)}).to_string().into_bytes(),
        ),
        ("an unknown field", br#"{"bogus": 1}"#.to_vec()),
        (
            "a read-only field",
            br#"{"agentId": "01937a8e-0000-7000-8000-000000000000"}"#.to_vec(),
        ),
        (
            "a huge integer",
            br#"{"conversationConfig": {"agent": {"prompt": {"temperature": 123456789012345678901234567890}}}}"#
                .to_vec(),
        ),
        (
            "60 000 tags",
            json!({ "tags": tags }).to_string().into_bytes(),
        ),
        ("a name that is an object", br#"{"name": {"first": "x"}}"#.to_vec()),
    ]
}

/// Content types that are not JSON, sent with a reasonable body: always 415.
pub(crate) const ODD_TYPES: &[&[u8]] = &[
    b"text/plain",
    b"application/xml",
    b"multipart/form-data; boundary=x",
    b"application/x-www-form-urlencoded",
    b"application/jsonp",
    b"json",
    b"",
    b"application/\xffjson",
];

/// JSON Patch documents that are not valid patches, or whose result is invalid: `validation_error`.
pub(crate) fn broken_json_patches() -> Vec<(&'static str, Value)> {
    vec![
        ("an object", json!({"op": "replace"})),
        ("an unknown op", json!([{"op": "bogus", "path": "/name"}])),
        ("no path", json!([{"op": "replace", "value": "x"}])),
        (
            "a path that is no pointer",
            json!([{"op": "replace", "path": "name", "value": "x"}]),
        ),
        ("no value", json!([{"op": "add", "path": "/tags/-"}])),
        ("no from", json!([{"op": "move", "path": "/name"}])),
        (
            "an op that is a number",
            json!([{"op": 1, "path": "/name"}]),
        ),
        (
            "removing a read-only field",
            json!([{"op": "remove", "path": "/agentId"}]),
        ),
        (
            "adding under a missing parent",
            json!([{"op": "add", "path": "/nope/deeper", "value": 1}]),
        ),
        (
            "a wrong type",
            json!([{"op": "replace", "path": "/name", "value": 5}]),
        ),
        (
            "an index past the end",
            json!([{"op": "add", "path": "/tags/7", "value": "x"}]),
        ),
    ]
}

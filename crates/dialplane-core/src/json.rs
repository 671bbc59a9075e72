//! Strict JSON body parsing: one object, no duplicate keys, bounded nesting.
//!
//! `serde_json::from_slice::<Value>` silently keeps the last of two duplicate keys and allows 128
//! levels; a configuration API should refuse both, so bodies go through [`parse_object`].

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Bodies nested deeper than this many levels are refused.
pub const MAX_DEPTH: usize = 64;

/// Why a body is not acceptable JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError(pub String);

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses `bytes` as one JSON object, refusing duplicate keys and nesting deeper than [`MAX_DEPTH`].
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JsonError> {
    match parse_value(bytes)? {
        Value::Object(map) => Ok(map),
        other => Err(JsonError(format!(
            "the body must be a JSON object, got {}",
            type_name(&other)
        ))),
    }
}

/// Parses `bytes` as one JSON value with the same rules as [`parse_object`].
pub fn parse_value(bytes: &[u8]) -> Result<Value, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Strict { depth: 0 }
        .deserialize(&mut de)
        .map_err(|e| JsonError(describe(&e)))?;
    de.end().map_err(|e| JsonError(describe(&e)))?;
    Ok(value)
}

/// A stable digest of a JSON value (keys are sorted), to tell whether two bodies are the same request.
pub fn fingerprint(value: &Value) -> String {
    digest(&serde_json::to_vec(value).unwrap_or_default())
}

/// The SHA-256 of `bytes`, in hex.
pub fn digest(bytes: &[u8]) -> String {
    let mut digester = Digester::default();
    digester.update(bytes);
    digester.finish()
}

/// The SHA-256 of bytes given piece by piece (as they stream in), in hex: what [`digest`] gives
/// for them all at once.
#[derive(Default, Clone)]
pub struct Digester(sha2::Sha256);

impl Digester {
    pub fn update(&mut self, bytes: &[u8]) {
        sha2::Digest::update(&mut self.0, bytes);
    }

    pub fn finish(self) -> String {
        sha2::Digest::finalize(self.0)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// The JSON type of a value, as used in messages.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn describe(e: &serde_json::Error) -> String {
    if e.line() == 0 {
        e.to_string()
    } else {
        // serde_json already appends "at line L column C" to the message.
        format!("the body is not valid JSON: {e}")
    }
}

/// U+0000 cannot be stored everywhere (PostgreSQL refuses it in text and jsonb), so no string or key
/// may hold it.
fn no_nul<E: de::Error>(s: &str) -> Result<(), E> {
    if s.contains('\0') {
        Err(E::custom("strings must not contain the character U+0000"))
    } else {
        Ok(())
    }
}

/// How deeply `value` nests: the most arrays and objects on one path from the root (a scalar is 0).
pub fn nesting(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 0)];
    while let Some((value, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        deepest = deepest.max(depth + 1);
        stack.extend(children.map(|child| (child, depth + 1)));
    }
    deepest
}

/// How many bytes `value` takes as compact JSON text.
pub fn encoded_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing a `Value` to a writer that never fails cannot fail.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// How many values `value` holds, itself included.
pub fn size(value: &Value) -> usize {
    let mut count = 0;
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        count += 1;
        match value {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.values()),
            _ => {}
        }
    }
    count
}

struct Strict {
    depth: usize,
}

impl Strict {
    fn nested<E: de::Error>(&self) -> Result<Strict, E> {
        let depth = self.depth + 1;
        if depth > MAX_DEPTH {
            return Err(E::custom(format_args!(
                "the body is nested deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(Strict { depth })
    }
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // `-0.0` is read as `0.0`: PostgreSQL's `jsonb` has no negative zero, and an agent must read
        // the same on both backends as in the answer that stored it.
        let v = if v == 0.0 { 0.0 } else { v };
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        no_nul(v)?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        no_nul(&v)?;
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let child = self.nested()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Strict { depth: child.depth })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let child = self.nested()?;
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            no_nul(&key)?;
            if map.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate key {key:?}")));
            }
            let value = access.next_value_seed(Strict { depth: child.depth })?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{json_value, scalar};
    use proptest::prelude::*;

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        assert!(parse_object(br#"{"a":1,"a":2}"#)
            .unwrap_err()
            .0
            .contains("duplicate key \"a\""));
        assert!(parse_object(br#"{"x":{"b":1,"b":1}}"#).is_err());
        assert!(parse_object(br#"{"a":1,"b":2}"#).is_ok());
    }

    #[test]
    fn nesting_is_allowed_to_64_levels_and_refused_beyond() {
        let ok = format!("{}{}", "[".repeat(63), "]".repeat(63));
        let body = format!("{{\"a\":{ok}}}");
        assert!(parse_object(body.as_bytes()).is_ok());
        let deep = format!("{}{}", "[".repeat(64), "]".repeat(64));
        let body = format!("{{\"a\":{deep}}}");
        let err = parse_object(body.as_bytes()).unwrap_err();
        assert!(err.0.contains("nested deeper than 64"), "{err}");
    }

    #[test]
    fn nul_characters_are_refused_in_strings_and_keys() {
        assert!(parse_object(br#"{"a":"x\u0000y"}"#)
            .unwrap_err()
            .0
            .contains("U+0000"));
        assert!(parse_object(br#"{"a\u0000":1}"#).is_err());
        assert!(parse_object(br#"{"a":["\u0000"]}"#).is_err());
        assert!(parse_object(br#"{"a":"\u0001"}"#).is_ok());
    }

    #[test]
    fn non_objects_and_trailing_garbage_are_refused() {
        assert!(parse_object(b"[]").unwrap_err().0.contains("got an array"));
        assert!(parse_object(b"{} x").is_err());
        assert!(parse_object(b"").is_err());
        assert!(parse_object(b"{\"a\": 1e400}").is_err());
    }

    #[test]
    fn a_float_written_out_is_read_back_as_the_same_number() {
        // Found by fuzzing: without serde_json's float_roundtrip feature this came back one ulp off.
        let v = parse_value(b"-922337203685477734508709551615").unwrap();
        assert_eq!(parse_value(&serde_json::to_vec(&v).unwrap()), Ok(v));
        let f = 0.091_443_385_120_928_87;
        assert_eq!(parse_value(f.to_string().as_bytes()), Ok(Value::from(f)));
    }

    /// `leaf` inside one array or object per item of `kinds` (true: an object), outermost first.
    fn nest(kinds: &[bool], leaf: Value) -> Value {
        kinds.iter().rev().fold(leaf, |inner, &object| {
            if object {
                Value::Object(Map::from_iter([("k".to_owned(), inner)]))
            } else {
                Value::Array(vec![inner])
            }
        })
    }

    proptest! {
        #[test]
        fn any_json_value_written_out_is_read_back_unchanged(v in json_value()) {
            prop_assert_eq!(parse_value(&serde_json::to_vec(&v).unwrap()), Ok(v.clone()));
            prop_assert_eq!(parse_value(&serde_json::to_vec_pretty(&v).unwrap()), Ok(v));
        }

        #[test]
        fn any_finite_float_is_read_back_as_the_same_f64(
            f in any::<f64>().prop_filter("finite", |f| f.is_finite())
        ) {
            let v = Value::from(f);
            prop_assert_eq!(parse_value(&serde_json::to_vec(&v).unwrap()), Ok(v));
        }

        #[test]
        fn nesting_of_any_kind_is_accepted_to_64_levels_and_refused_at_65(
            kinds in prop::collection::vec(any::<bool>(), MAX_DEPTH + 1),
            leaf in scalar(),
        ) {
            let deepest = nest(&kinds[..MAX_DEPTH], leaf.clone());
            prop_assert_eq!(parse_value(&serde_json::to_vec(&deepest).unwrap()), Ok(deepest));
            let too_deep = serde_json::to_vec(&nest(&kinds, leaf)).unwrap();
            let err = parse_value(&too_deep).unwrap_err();
            prop_assert!(err.0.contains("nested deeper than 64"), "{}", err);
        }

        #[test]
        fn parse_value_never_panics_on_arbitrary_bytes(
            bytes in prop::collection::vec(any::<u8>(), 0..256)
        ) {
            let _ = parse_value(&bytes);
            let _ = parse_object(&bytes);
        }

        #[test]
        fn parse_value_never_panics_on_json_like_text(
            text in "[\\[\\]{}:,\"0-9eE.+\\-ntrufasl\\\\u ]{0,64}"
        ) {
            // Refused or accepted, an accepted value obeys the strict rules.
            if let Ok(v) = parse_value(text.as_bytes()) {
                prop_assert_eq!(serde_json::from_str::<Value>(&text).ok(), Some(v));
            }
        }
    }
}

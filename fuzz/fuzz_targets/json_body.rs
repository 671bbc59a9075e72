//! The strict body parser never panics, agrees with `parse_value` for objects, and accepts exactly
//! what serde_json accepts minus duplicate keys, nesting deeper than `MAX_DEPTH` and U+0000.

#![no_main]

use dialplane_core::json::{parse_object, parse_value, MAX_DEPTH};
use dialplane_fuzz::{depth, has_nul};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// `written` is accepted and read as `value`, floats to the last bit (serde_json's float_roundtrip).
fn reads_back_as(written: &[u8], value: &Value) {
    match parse_value(written) {
        Ok(read) => assert_eq!(&read, value),
        Err(e) => panic!("{value} written out is refused: {e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let strict = parse_value(data);
    let object = parse_object(data);
    match (&strict, &object) {
        (Ok(Value::Object(value)), Ok(object)) => assert_eq!(value, object),
        (Ok(value), Err(e)) => {
            assert!(!value.is_object(), "parse_object refused an object: {e}");
            assert!(e.0.contains("must be a JSON object"), "{e}");
        }
        (Ok(value), Ok(_)) => panic!("parse_object accepted a non-object: {value}"),
        (Err(e), Ok(_)) => panic!("parse_object accepted what parse_value refused: {e}"),
        (Err(a), Err(b)) => assert_eq!(a, b, "both refuse, for the same reason"),
    }

    let loose = serde_json::from_slice::<Value>(data);
    match (strict, loose) {
        (Ok(strict), Ok(loose)) => {
            assert_eq!(strict, loose);
            assert!(depth(&strict) <= MAX_DEPTH);
            assert!(!has_nul(&strict));
            // What was accepted is accepted again once written out, compact or pretty.
            for written in [
                serde_json::to_vec(&strict).unwrap(),
                serde_json::to_vec_pretty(&strict).unwrap(),
            ] {
                reads_back_as(&written, &strict);
            }
        }
        (Ok(strict), Err(e)) => panic!("accepted {strict} which serde_json refuses: {e}"),
        (Err(_), Err(_)) => {}
        (Err(e), Ok(loose)) => {
            // Refused only for one of the strict rules. serde_json kept the last of duplicate keys, so
            // when `loose` breaks neither of the other two rules the input must have had duplicates.
            let reason = &e.0;
            if depth(&loose) > MAX_DEPTH || has_nul(&loose) {
                assert!(
                    reason.contains("nested deeper than")
                        || reason.contains("U+0000")
                        || reason.contains("duplicate key"),
                    "{reason}"
                );
            } else {
                assert!(reason.contains("duplicate key"), "{reason}");
                // Written out again (so without duplicates), it is accepted.
                reads_back_as(&serde_json::to_vec(&loose).unwrap(), &loose);
            }
        }
    }
});

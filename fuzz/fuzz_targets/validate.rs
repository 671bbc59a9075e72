//! Create validation never panics, every problem carries a JSON Pointer and a message, and a document
//! it accepts is accepted again, unchanged, once written out (as it is stored and returned).

#![no_main]

use dialplane_core::json::parse_object;
use dialplane_core::validate::{read_candidate, validate_create};
use dialplane_core::Rules;
use dialplane_fuzz::is_pointer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = parse_object(data) else {
        return;
    };
    let rules = Rules::default();
    match validate_create(&body, &rules) {
        Ok(spec) => {
            let written = serde_json::to_value(&spec).unwrap();
            let again = validate_create(written.as_object().unwrap(), &rules);
            assert_eq!(again.as_ref(), Ok(&spec), "{written}");
            assert_eq!(read_candidate(&written, &rules), Ok(spec));
        }
        Err(problems) => {
            assert!(!problems.is_empty());
            for p in problems.iter() {
                assert!(is_pointer(&p.path), "{}", p.path);
                assert!(!p.message.is_empty(), "{}", p.path);
            }
        }
    }
});

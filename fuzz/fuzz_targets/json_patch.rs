//! JSON Patch: `parse` and `apply` never panic, `apply` is all or nothing, every problem has a
//! pointer, and `diff` gives operations that turn one document into the other.
//!
//! Input: a JSON document on the first line, then a second JSON value: the patch, and also the target
//! of a diff from the document.

#![no_main]

use dialplane_core::json::parse_value;
use dialplane_core::json_patch::{apply, diff, parse, Failure};
use dialplane_fuzz::{is_pointer, split_lines};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// `diff(from, to)` applied to `from` gives `to`, and survives being written out and read back (as
/// the history stores it).
fn check_diff(from: &Value, to: &Value) {
    let ops = diff(from, to);
    let mut doc = from.clone();
    if let Err(e) = apply(&mut doc, &ops) {
        panic!("the diff of {from} to {to} does not apply: {e:?}");
    }
    assert_eq!(&doc, to, "diff of {from}");
    let written = serde_json::to_value(&ops).unwrap();
    assert_eq!(parse(written, usize::MAX).as_deref(), Ok(&ops[..]));
}

fuzz_target!(|data: &[u8]| {
    let Some((doc, patch)) = split_lines(data) else {
        return;
    };
    let (Ok(doc), Ok(patch)) = (parse_value(doc), parse_value(patch)) else {
        return;
    };

    check_diff(&doc, &patch);

    let ops = match parse(patch, dialplane_core::json_patch::DEFAULT_MAX_OPERATIONS) {
        Ok(ops) => ops,
        Err(problems) => {
            assert!(!problems.is_empty());
            for p in problems.iter() {
                assert!(is_pointer(&p.path), "{}", p.path);
                assert!(!p.message.is_empty());
            }
            return;
        }
    };
    let mut patched = doc.clone();
    match apply(&mut patched, &ops) {
        Ok(()) => check_diff(&doc, &patched),
        Err(Failure::TestFailed(problems) | Failure::Invalid(problems)) => {
            assert_eq!(patched, doc, "a failed patch changed the document");
            assert_eq!(problems.len(), 1);
            for p in problems.iter() {
                // `/<index of the operation>/<its member at fault>`.
                let index = p
                    .path
                    .split('/')
                    .nth(1)
                    .and_then(|i| i.parse::<usize>().ok());
                assert!(index.is_some_and(|i| i < ops.len()), "{}", p.path);
                assert!(!p.message.is_empty());
            }
        }
    }
});

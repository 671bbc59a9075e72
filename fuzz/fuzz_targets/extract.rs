//! Knowledge-base files: telling a file's type and extracting its text never takes the process down
//! whatever the bytes (a parser's panic is caught, as the server catches it), and the passages of any
//! text keep every word.
//!
//! Input: the first byte picks the claimed type (pdf, docx, txt, md, tsx), the rest is the file.

#![no_main]

use dialplane_extract::{extract_now, passages, sniff, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let name = ["a.pdf", "a.docx", "a.txt", "a.md", "a.tsx"][usize::from(pick) % 5];
    let Ok(file_type) = sniff(name, bytes) else {
        return;
    };
    let limits = Limits {
        inflated_bytes: 1 << 20,
        ..Limits::default()
    };
    // pdf-extract panics on some hostile files: the server runs it under catch_unwind too.
    let text = std::panic::catch_unwind(|| extract_now(file_type, bytes, limits));
    if let Ok(Ok(text)) = text {
        let words = |s: &str| s.split_whitespace().collect::<String>();
        let joined: String = passages(&text).into_iter().map(|r| words(&text[r])).collect();
        assert_eq!(joined, words(&text));
    }
});

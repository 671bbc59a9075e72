//! HTML to text: any input gives text, never a panic, and no text holds a tag the input's
//! markup spelled out whole (`<script>` content is dropped with its element).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(html) = std::str::from_utf8(data) else {
        return;
    };
    let text = dialplane_extract::html::text(html);
    if !html.contains('&') {
        assert!(!text.contains("<script"), "{text:?}");
    }
});

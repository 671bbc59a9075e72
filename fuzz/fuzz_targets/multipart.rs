//! Uploads: the multipart form reader answers any body with its fields or a 4xx error, never a
//! panic or a 5xx, and keeps no more of a file than it says it read.
//!
//! Input: the body of a `multipart/form-data` request with the boundary `fuzz-boundary` (seeds in
//! fuzz/seeds/multipart are whole forms).

#![no_main]

use dialplane_server::error::Status;
use dialplane_server::resources::knowledge_base::form::{read, FormLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = FormLimits {
        max_file_bytes: 4096,
        max_files: 4,
    };
    let body = axum::body::Body::from(data.to_vec());
    let read = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(read(
            "multipart/form-data; boundary=fuzz-boundary",
            None,
            body,
            limits,
        ));
    match read {
        Ok((_, parts, _)) => {
            for part in parts {
                let kept = part.spool.map_or(0, |s| s.len());
                assert!(kept as usize <= part.size && part.size <= data.len());
            }
        }
        Err(e) => assert!(e.code.status().is_client_error(), "{}", e.message),
    }
});

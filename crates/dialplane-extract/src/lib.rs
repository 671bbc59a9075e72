//! Knowledge-base files: what type they are (told by their bytes, not only their name), their text,
//! and that text cut into passages for search.
//!
//! Parsers of hostile files panic, loop or blow up; [`extract`] runs one on a blocking thread under
//! a time limit and `catch_unwind`, and a DOCX is read with a cap on the bytes it inflates to. A file
//! whose text cannot be had is a [`Failure`] with a message a user can act on, never a crash.

#![forbid(unsafe_code)]

mod docx;
pub mod fixtures;
pub mod html;
mod passages;
mod sniff;

pub use passages::passages;
pub use sniff::{sniff, sniff_reader, FileType, Refusal};

use std::time::Duration;

/// Why a file of the right type gave no text: said to the user as the document's `statusMessage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(pub String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How far extraction may go.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Wall time for one file.
    pub time: Duration,
    /// The most bytes a DOCX may inflate to (its XML parts together).
    pub inflated_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            time: Duration::from_secs(30),
            inflated_bytes: 64 << 20,
        }
    }
}

/// The text of `bytes`, a file of type `file_type` (see [`sniff`]), extracted on a blocking thread:
/// a panic or the time limit is a [`Failure`]. A thread that overruns the limit is left to finish
/// on its own; its result is dropped.
pub async fn extract(
    file_type: FileType,
    bytes: bytes::Bytes,
    limits: Limits,
) -> Result<String, Failure> {
    let text = text_buffer(file_type, bytes.len());
    on_blocking_thread(file_type, limits, move || {
        Ok(extract_into(file_type, &bytes, limits, text))
    })
    .await
    .unwrap_or_else(|e| Err(Failure(e.to_string())))
}

/// [`extract`] of `len` bytes that `load` reads into the buffer it is given (from a file on disk),
/// on the same blocking thread. An error of `load` is returned as is: it is the server's, not the
/// file's.
///
/// The two large buffers, the bytes and (for a text file, whose text is at most as long) the text,
/// are allocated here on the caller's thread, an async worker that runs all the time, rather than on
/// a blocking thread that may then sit idle: allocators keep memory a thread freed for that thread's
/// next allocations, so megabytes freed by idle threads would stay resident.
pub async fn extract_loaded(
    file_type: FileType,
    len: usize,
    load: impl FnOnce(&mut [u8]) -> std::io::Result<()> + Send + 'static,
    limits: Limits,
) -> std::io::Result<Result<String, Failure>> {
    let mut bytes = vec![0; len];
    let text = text_buffer(file_type, len);
    on_blocking_thread(file_type, limits, move || {
        load(&mut bytes)?;
        Ok(extract_into(file_type, &bytes, limits, text))
    })
    .await
}

/// The buffer a file's text is written into: for a text file, room for all of it.
fn text_buffer(file_type: FileType, len: usize) -> String {
    match file_type {
        FileType::Txt | FileType::Md | FileType::Tsx => String::with_capacity(len),
        FileType::Pdf | FileType::Docx => String::new(),
    }
}

/// Runs `work` on a blocking thread under the time limit, a panic a [`Failure`].
async fn on_blocking_thread(
    file_type: FileType,
    limits: Limits,
    work: impl FnOnce() -> std::io::Result<Result<String, Failure>> + Send + 'static,
) -> std::io::Result<Result<String, Failure>> {
    // Unwind safe: `work` owns what it touches, and nothing of it is looked at after a panic.
    let work = tokio::task::spawn_blocking(move || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
    });
    Ok(match tokio::time::timeout(limits.time, work).await {
        Err(_) => Err(Failure(format!(
            "text extraction took longer than {} s and was given up",
            limits.time.as_secs_f64()
        ))),
        Ok(Ok(Ok(Err(e)))) => return Err(e),
        Ok(Err(_)) | Ok(Ok(Err(_))) => Err(Failure(format!(
            "the {} could not be read (its parser failed on it)",
            file_type.describe()
        ))),
        Ok(Ok(Ok(Ok(text)))) => text,
    })
}

/// [`extract`] on this thread, with no time limit or panic guard: for callers that have their own.
pub fn extract_now(file_type: FileType, bytes: &[u8], limits: Limits) -> Result<String, Failure> {
    extract_into(file_type, bytes, limits, String::new())
}

/// [`extract_now`], the text written into `out` (emptied first).
fn extract_into(
    file_type: FileType,
    bytes: &[u8],
    limits: Limits,
    mut out: String,
) -> Result<String, Failure> {
    let text = match file_type {
        FileType::Pdf => pdf_extract::extract_text_from_mem(bytes).map_err(|e| {
            Failure(format!(
                "the PDF is damaged or in a form that cannot be read ({e})"
            ))
        })?,
        FileType::Docx => docx::text(bytes, limits.inflated_bytes)?,
        FileType::Txt | FileType::Md | FileType::Tsx => {
            let text =
                std::str::from_utf8(bytes).map_err(|_| Failure("the text is not UTF-8".into()))?;
            tidy_into(text.trim_start_matches('\u{feff}'), &mut out);
            return Ok(out);
        }
    };
    tidy_into(&text, &mut out);
    if out.is_empty() && file_type == FileType::Pdf {
        return Err(Failure(
            "the PDF has no text layer (a scan or images only): nothing to search".into(),
        ));
    }
    Ok(out)
}

/// Line ends made `\n`, runs of blank lines made one, trailing spaces and NULs dropped. One pass,
/// one allocation: a document's text can be megabytes.
pub fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    tidy_into(text, &mut out);
    out
}

/// [`tidy`] into `out` (emptied first; never longer than `text`).
fn tidy_into(text: &str, out: &mut String) {
    out.clear();
    let mut blank = 0;
    for piece in text.split('\n') {
        let piece = piece.strip_suffix('\r').unwrap_or(piece);
        for line in piece.split('\r') {
            let line = line.trim_end_matches(|c: char| c.is_whitespace() || c == '\0');
            if line.chars().all(|c| c == '\0') {
                blank += 1;
                continue;
            }
            if !out.is_empty() {
                out.push_str(if blank > 0 { "\n\n" } else { "\n" });
            }
            blank = 0;
            out.extend(line.chars().filter(|c| *c != '\0'));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidy_keeps_paragraphs_and_drops_the_noise() {
        assert_eq!(tidy("a  \r\n\r\n\r\nb\rc\0\n\n"), "a\n\nb\nc");
        assert_eq!(tidy("\n\n"), "");
    }

    #[tokio::test]
    async fn a_text_file_is_its_text_and_a_pdf_without_text_is_a_failure() {
        let text = extract(
            FileType::Md,
            b"\xef\xbb\xbf# Title\n".to_vec().into(),
            Limits::default(),
        )
        .await;
        assert_eq!(text.unwrap(), "# Title");
        let broken = extract(
            FileType::Pdf,
            b"%PDF-1.4 nothing else".to_vec().into(),
            Limits::default(),
        )
        .await;
        assert!(broken.unwrap_err().0.contains("PDF"));
    }
}

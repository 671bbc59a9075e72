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
    on_blocking_thread(file_type, limits, move || {
        Ok(extract_owned(file_type, Vec::from(bytes), limits))
    })
    .await
    .unwrap_or_else(|e| Err(Failure(e.to_string())))
}

/// [`extract`] of `len` bytes that `load` reads into the buffer it is given (from a file on disk),
/// on the same blocking thread. An error of `load` is returned as is: it is the server's, not the
/// file's.
///
/// The buffer for the bytes is allocated here on the caller's thread, an async worker that runs all
/// the time, rather than on a blocking thread that may then sit idle: allocators keep memory a thread
/// freed for that thread's next allocations, so megabytes freed by idle threads would stay resident.
/// A text file's text is made in that same buffer.
pub async fn extract_loaded(
    file_type: FileType,
    len: usize,
    load: impl FnOnce(&mut [u8]) -> std::io::Result<()> + Send + 'static,
    limits: Limits,
) -> std::io::Result<Result<String, Failure>> {
    let mut bytes = vec![0; len];
    on_blocking_thread(file_type, limits, move || {
        load(&mut bytes)?;
        Ok(extract_owned(file_type, bytes, limits))
    })
    .await
}

/// [`extract_now`] of bytes it owns: a text file's text is tidied in their own buffer.
fn extract_owned(file_type: FileType, bytes: Vec<u8>, limits: Limits) -> Result<String, Failure> {
    match file_type {
        FileType::Txt | FileType::Md | FileType::Tsx => String::from_utf8(bytes)
            .map(tidy_in_place)
            .map_err(|_| Failure("the text is not UTF-8".into())),
        FileType::Pdf | FileType::Docx => extract_document(file_type, &bytes, limits),
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
    match file_type {
        FileType::Txt | FileType::Md | FileType::Tsx => {
            extract_owned(file_type, bytes.to_vec(), limits)
        }
        FileType::Pdf | FileType::Docx => extract_document(file_type, bytes, limits),
    }
}

/// The text of a PDF or a DOCX file.
fn extract_document(file_type: FileType, bytes: &[u8], limits: Limits) -> Result<String, Failure> {
    let text = match file_type {
        FileType::Pdf => pdf_extract::extract_text_from_mem(bytes).map_err(|e| {
            Failure(format!(
                "the PDF is damaged or in a form that cannot be read ({e})"
            ))
        })?,
        _ => docx::text(bytes, limits.inflated_bytes)?,
    };
    let text = tidy(&text);
    if text.is_empty() && file_type == FileType::Pdf {
        return Err(Failure(
            "the PDF has no text layer (a scan or images only): nothing to search".into(),
        ));
    }
    Ok(text)
}

/// Line ends made `\n`, runs of blank lines made one, trailing spaces and NULs dropped. One pass,
/// one allocation: a document's text can be megabytes.
pub fn tidy(text: &str) -> String {
    tidy_in_place(text.to_owned())
}

/// [`tidy`] of a text without a leading byte-order mark, made in the text's own buffer: what it
/// writes is never longer than what it has read (a separator it writes stands for at least as many
/// line ends it has read), so a text of megabytes is never copied.
fn tidy_in_place(text: String) -> String {
    let skip = text.len() - text.trim_start_matches('\u{feff}').len();
    let mut buf = text.into_bytes();
    let len = buf.len();
    let (mut out, mut blank, mut at) = (0, 0, skip);
    loop {
        let end = buf[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(len, |i| at + i);
        let piece_end = if end > at && buf[end - 1] == b'\r' {
            end - 1
        } else {
            end
        };
        let mut start = at;
        loop {
            let line_end = buf[start..piece_end]
                .iter()
                .position(|&b| b == b'\r')
                .map_or(piece_end, |i| start + i);
            // Cut at ASCII bytes only, so every line is UTF-8 as the whole text is.
            let line = std::str::from_utf8(&buf[start..line_end]).unwrap_or("");
            let kept = start
                + line
                    .trim_end_matches(|c: char| c.is_whitespace() || c == '\0')
                    .len();
            if buf[start..kept].iter().all(|&b| b == 0) {
                blank += 1;
            } else {
                if out > 0 {
                    let separator: &[u8] = if blank > 0 { b"\n\n" } else { b"\n" };
                    buf[out..out + separator.len()].copy_from_slice(separator);
                    out += separator.len();
                }
                blank = 0;
                for i in start..kept {
                    // A NUL byte is never part of a longer UTF-8 character.
                    if buf[i] != 0 {
                        buf[out] = buf[i];
                        out += 1;
                    }
                }
            }
            if line_end == piece_end {
                break;
            }
            start = line_end + 1;
        }
        if end == len {
            break;
        }
        at = end + 1;
    }
    buf.truncate(out);
    String::from_utf8(buf).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidy_keeps_paragraphs_and_drops_the_noise() {
        assert_eq!(tidy("a  \r\n\r\n\r\nb\rc\0\n\n"), "a\n\nb\nc");
        assert_eq!(tidy("\n\n"), "");
        assert_eq!(tidy("\u{feff}\u{feff}x\u{3000}\n\0\ny"), "x\n\ny");
        assert_eq!(tidy("é\r\r\0é\u{2003}\n"), "é\n\né");
    }

    /// What `tidy` did before it worked in place: line by line into a new string.
    fn tidy_by_copy(text: &str) -> String {
        let text = text.trim_start_matches('\u{feff}');
        let mut out = String::new();
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
        out
    }

    proptest::proptest! {
        #[test]
        fn tidy_in_place_gives_what_tidy_by_copy_gave(text in "[a\u{e9}\u{feff}\u{3000} \t\r\n\0]{0,200}") {
            proptest::prop_assert_eq!(tidy(&text), tidy_by_copy(&text));
        }
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

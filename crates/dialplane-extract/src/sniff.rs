//! A file's type: its name's extension says what it claims to be, its bytes must agree.

use std::io::{Read, Seek, SeekFrom};

/// The file types a knowledge base takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    Pdf,
    Docx,
    Tsx,
    Txt,
    Md,
}

impl FileType {
    /// The wire name (`details.fileType`).
    pub fn wire(self) -> &'static str {
        match self {
            Self::Pdf => "pdf",
            Self::Docx => "docx",
            Self::Tsx => "tsx",
            Self::Txt => "txt",
            Self::Md => "md",
        }
    }

    pub fn from_wire(s: &str) -> Option<Self> {
        [Self::Pdf, Self::Docx, Self::Tsx, Self::Txt, Self::Md]
            .into_iter()
            .find(|t| t.wire() == s)
    }

    /// The `Content-Type` its bytes are served with.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Pdf => "application/pdf",
            Self::Docx => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            Self::Tsx => "text/plain; charset=utf-8",
            Self::Txt => "text/plain; charset=utf-8",
            Self::Md => "text/markdown; charset=utf-8",
        }
    }

    /// For messages: "PDF", "DOCX file", "text file".
    pub fn describe(self) -> &'static str {
        match self {
            Self::Pdf => "PDF",
            Self::Docx => "DOCX file",
            _ => "text file",
        }
    }
}

/// Why a file is refused at upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The name's extension is not one of the types taken (`unsupported_type`).
    UnsupportedType(String),
    /// The bytes are not of the type the name claims (`invalid_format`).
    InvalidFormat(String),
}

/// The type of a file named `name` holding `bytes`.
pub fn sniff(name: &str, bytes: &[u8]) -> Result<FileType, Refusal> {
    sniff_reader(name, std::io::Cursor::new(bytes)).unwrap_or_else(|e| {
        Err(Refusal::InvalidFormat(format!(
            "{name:?} could not be read: {e}"
        )))
    })
}

/// [`sniff`] on a file read from `file` (from its start), holding no more than a small buffer of
/// it in memory: what an upload spooled to disk is checked with. An error is the file's own.
pub fn sniff_reader(
    name: &str,
    mut file: impl Read + Seek,
) -> std::io::Result<Result<FileType, Refusal>> {
    let extension = name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    let claimed = match extension.as_str() {
        "pdf" => FileType::Pdf,
        "docx" => FileType::Docx,
        "tsx" => FileType::Tsx,
        "txt" => FileType::Txt,
        "md" => FileType::Md,
        _ => {
            return Ok(Err(Refusal::UnsupportedType(format!(
                "{name:?} is not a .pdf, .docx, .tsx, .txt or .md file"
            ))))
        }
    };
    file.seek(SeekFrom::Start(0))?;
    let agrees = match claimed {
        FileType::Pdf => {
            let mut head = [0u8; 5];
            let mut read = 0;
            while read < head.len() {
                match file.read(&mut head[read..])? {
                    0 => break,
                    n => read += n,
                }
            }
            &head[..read] == b"%PDF-"
        }
        FileType::Docx => crate::docx::is_docx(file),
        _ => is_utf8(file)?,
    };
    if agrees {
        return Ok(Ok(claimed));
    }
    Ok(Err(Refusal::InvalidFormat(match claimed {
        FileType::Pdf => format!("{name:?} is not a PDF: it does not start with %PDF-"),
        FileType::Docx => {
            format!("{name:?} is not a DOCX file: not a ZIP holding word/document.xml")
        }
        _ => format!("{name:?} is not UTF-8 text"),
    })))
}

/// Whether everything `reader` gives is UTF-8, read a piece at a time (a character cut between
/// two pieces is carried into the next).
fn is_utf8(mut reader: impl Read) -> std::io::Result<bool> {
    let mut buf = vec![0u8; 64 << 10];
    let mut carried = 0;
    loop {
        let n = reader.read(&mut buf[carried..])?;
        if n == 0 {
            return Ok(carried == 0);
        }
        let filled = carried + n;
        match std::str::from_utf8(&buf[..filled]) {
            Ok(_) => carried = 0,
            // Only the end is cut short: keep it for the next piece.
            Err(e) if e.error_len().is_none() => {
                buf.copy_within(e.valid_up_to()..filled, 0);
                carried = filled - e.valid_up_to();
            }
            Err(_) => return Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extension_names_the_claim_and_the_bytes_must_agree() {
        assert_eq!(sniff("a.PDF", b"%PDF-1.7\n"), Ok(FileType::Pdf));
        assert_eq!(sniff("notes.md", "é".as_bytes()), Ok(FileType::Md));
        assert_eq!(sniff("App.tsx", b"export {}"), Ok(FileType::Tsx));
        assert!(matches!(
            sniff("a.exe", b"MZ"),
            Err(Refusal::UnsupportedType(_))
        ));
        assert!(matches!(
            sniff("noext", b"x"),
            Err(Refusal::UnsupportedType(_))
        ));
        let png = b"\x89PNG\r\n\x1a\n";
        assert!(matches!(
            sniff("scan.pdf", png),
            Err(Refusal::InvalidFormat(_))
        ));
        assert!(matches!(
            sniff("a.txt", b"\xff\xfe"),
            Err(Refusal::InvalidFormat(_))
        ));
        assert!(matches!(
            sniff("a.docx", b"PK\x03\x04"),
            Err(Refusal::InvalidFormat(_))
        ));
        assert!(matches!(
            sniff("a.pdf", b"%PD"),
            Err(Refusal::InvalidFormat(_))
        ));
    }

    #[test]
    fn text_is_checked_as_utf8_across_the_pieces_it_is_read_in() {
        // A reader that gives one byte at a time cuts every multi-byte character.
        struct Dribble<'a>(&'a [u8]);
        impl Read for Dribble<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let Some((first, rest)) = self.0.split_first() else {
                    return Ok(0);
                };
                buf[0] = *first;
                self.0 = rest;
                Ok(1)
            }
        }
        let text = "héllo wörld ✓ 🎉".repeat(5000);
        assert!(is_utf8(Dribble(text.as_bytes())).unwrap());
        assert!(is_utf8(text.as_bytes()).unwrap());
        let cut = &text.as_bytes()[..text.len() - 1];
        assert!(
            !is_utf8(Dribble(cut)).unwrap(),
            "a character cut at the very end"
        );
        let mut bad = text.clone().into_bytes();
        bad[70_000] = 0xff;
        assert!(!is_utf8(&bad[..]).unwrap());
    }
}

//! A file's type: its name's extension says what it claims to be, its bytes must agree.

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
            return Err(Refusal::UnsupportedType(format!(
                "{name:?} is not a .pdf, .docx, .tsx, .txt or .md file"
            )))
        }
    };
    let agrees = match claimed {
        FileType::Pdf => bytes.starts_with(b"%PDF-"),
        FileType::Docx => crate::docx::is_docx(bytes),
        _ => std::str::from_utf8(bytes).is_ok(),
    };
    if agrees {
        return Ok(claimed);
    }
    Err(Refusal::InvalidFormat(match claimed {
        FileType::Pdf => format!("{name:?} is not a PDF: it does not start with %PDF-"),
        FileType::Docx => {
            format!("{name:?} is not a DOCX file: not a ZIP holding word/document.xml")
        }
        _ => format!("{name:?} is not UTF-8 text"),
    }))
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
    }
}

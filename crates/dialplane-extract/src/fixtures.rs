//! Real files made on the spot, for tests here and in the server's suite: a PDF with a text layer,
//! one without, a DOCX, and a DOCX that is a zip bomb. Small enough to read: each is built the way
//! its format says, with nothing a parser could call a shortcut.

use std::io::{Cursor, Write};

/// A one-page PDF whose text layer holds `lines` (Helvetica; ASCII only, parentheses and
/// backslashes escaped).
pub fn pdf(lines: &[&str]) -> Vec<u8> {
    let mut content = String::from("BT /F1 12 Tf 72 720 Td 16 TL\n");
    for line in lines {
        let escaped = line
            .replace('\\', "\\\\")
            .replace('(', "\\(")
            .replace(')', "\\)");
        content.push_str(&format!("({escaped}) Tj T*\n"));
    }
    content.push_str("ET\n");
    pdf_with_content(&content, true)
}

/// A one-page PDF that only draws a rectangle: no text layer, like a scan.
pub fn pdf_without_text() -> Vec<u8> {
    pdf_with_content("0 0 1 rg 72 600 200 100 re f\n", false)
}

fn pdf_with_content(content: &str, font: bool) -> Vec<u8> {
    let resources = if font {
        "/Resources << /Font << /F1 5 0 R >> >>"
    } else {
        ""
    };
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R {resources} >>"
        ),
        format!(
            "<< /Length {} >>\nstream\n{content}endstream",
            content.len()
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_owned(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// A DOCX whose body holds `paragraphs` (XML-escaped).
pub fn docx(paragraphs: &[&str]) -> Vec<u8> {
    let body: String = paragraphs
        .iter()
        .map(|p| {
            let p = p
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;");
            format!("<w:p><w:r><w:t xml:space=\"preserve\">{p}</w:t></w:r></w:p>")
        })
        .collect();
    let document = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
         <w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">\
         <w:body>{body}</w:body></w:document>"
    );
    zip_of(&[
        ("[Content_Types].xml", CONTENT_TYPES.as_bytes()),
        ("word/document.xml", document.as_bytes()),
    ])
}

/// A DOCX whose `word/document.xml` inflates to `inflated` bytes of spaces from a few KiB.
pub fn docx_bomb(inflated: usize) -> Vec<u8> {
    let head = "<w:document xmlns:w=\"x\"><w:body><w:p><w:r><w:t>";
    let mut xml = head.as_bytes().to_vec();
    xml.resize(inflated, b' ');
    zip_of(&[("word/document.xml", &xml)])
}

/// A ZIP of `entries`, deflated.
pub fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in entries {
        zip.start_file(*name, options).expect("a ZIP entry");
        zip.write_all(bytes).expect("ZIP bytes");
    }
    zip.finish().expect("a ZIP").into_inner()
}

const CONTENT_TYPES: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
<Default Extension=\"xml\" ContentType=\"application/xml\"/>\
<Override PartName=\"/word/document.xml\" \
ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/>\
</Types>";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{extract_now, sniff, FileType, Limits};

    #[test]
    fn each_fixture_is_what_it_says() {
        let limits = Limits::default();
        let pdf = pdf(&["Opening hours (weekdays)", "Nine to five"]);
        assert_eq!(sniff("a.pdf", &pdf), Ok(FileType::Pdf));
        let text = extract_now(FileType::Pdf, &pdf, limits).unwrap();
        assert!(
            text.contains("Opening hours (weekdays)") && text.contains("Nine to five"),
            "{text:?}"
        );
        let scan = pdf_without_text();
        assert!(extract_now(FileType::Pdf, &scan, limits)
            .unwrap_err()
            .0
            .contains("no text layer"));
        let docx = docx(&["First <para>", "Second & last"]);
        assert_eq!(sniff("a.docx", &docx), Ok(FileType::Docx));
        assert_eq!(
            extract_now(FileType::Docx, &docx, limits).unwrap(),
            "First <para>\nSecond & last"
        );
        let bomb = docx_bomb(80 << 20);
        assert!(bomb.len() < 1 << 20, "{}", bomb.len());
        let refused = extract_now(FileType::Docx, &bomb, limits).unwrap_err();
        assert!(refused.0.contains("zip bomb"), "{refused}");
        let not_docx = zip_of(&[("readme.txt", b"hello")]);
        assert!(sniff("a.docx", &not_docx).is_err());
    }
}

/// A short fuzz in CI: real files with bytes flipped, cut or spliced go through the guarded
/// extraction, which answers text or a failure and never takes the process down. (`fuzz/` runs
/// the same for as long as you let it.)
#[cfg(test)]
mod hostile {
    use super::*;
    use crate::{extract, sniff, Limits};
    use proptest::prelude::*;

    fn mangled(original: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
        let len = original.len();
        (
            proptest::collection::vec((0..len, any::<u8>()), 1..24),
            0..=len,
        )
            .prop_map(move |(flips, cut)| {
                let mut bytes = original.clone();
                for (at, byte) in flips {
                    bytes[at] = byte;
                }
                bytes.truncate(cut.max(8));
                bytes
            })
    }

    fn survives(name: &str, bytes: Vec<u8>) {
        let Ok(file_type) = sniff(name, &bytes) else {
            return;
        };
        let limits = Limits {
            time: std::time::Duration::from_secs(10),
            inflated_bytes: 1 << 20,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _ = runtime.block_on(extract(file_type, bytes.into(), limits));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn a_mangled_pdf_is_text_or_a_failure(bytes in mangled(pdf(&["Mangled (text) here.", "Second line"]))) {
            survives("m.pdf", bytes);
        }

        #[test]
        fn a_mangled_docx_is_text_or_a_failure(bytes in mangled(docx(&["Mangled", "document"]))) {
            survives("m.docx", bytes);
        }
    }
}

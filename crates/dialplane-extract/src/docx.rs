//! DOCX: a ZIP holding `word/document.xml`, whose paragraphs (`w:p`) hold runs of text (`w:t`).

use crate::Failure;
use quick_xml::events::Event;
use std::io::{Cursor, Read};

const DOCUMENT: &str = "word/document.xml";

/// Whether `file` is a ZIP holding `word/document.xml`.
pub fn is_docx(file: impl Read + std::io::Seek) -> bool {
    zip::ZipArchive::new(file).is_ok_and(|mut zip| zip.by_name(DOCUMENT).is_ok())
}

/// The document's paragraphs in order, one a line; `inflated` caps the XML's size (a zip bomb is
/// a [`Failure`], not a gigabyte in memory).
pub fn text(bytes: &[u8], inflated: u64) -> Result<String, Failure> {
    let unreadable =
        |e: &dyn std::fmt::Display| Failure(format!("the DOCX file could not be read: {e}"));
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| unreadable(&e))?;
    let part = zip.by_name(DOCUMENT).map_err(|e| unreadable(&e))?;
    let mut xml = Vec::new();
    part.take(inflated + 1)
        .read_to_end(&mut xml)
        .map_err(|e| unreadable(&e))?;
    if xml.len() as u64 > inflated {
        return Err(Failure(format!(
            "the DOCX file's text inflates past {} MiB: refused as a zip bomb",
            inflated >> 20
        )));
    }
    paragraphs(&xml).map_err(|e| unreadable(&e))
}

fn paragraphs(xml: &[u8]) -> Result<String, quick_xml::Error> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut out = String::new();
    let mut in_text = false;
    loop {
        match reader.read_event_into(&mut buf)? {
            Event::Start(e) if e.local_name().as_ref() == "t" => in_text = true,
            Event::End(e) => match e.local_name().as_ref() {
                "t" => in_text = false,
                "p" => out.push('\n'),
                _ => {}
            },
            Event::Empty(e) => match e.local_name().as_ref() {
                "tab" => out.push('\t'),
                "br" | "cr" => out.push('\n'),
                "p" => out.push('\n'),
                _ => {}
            },
            Event::Text(t) if in_text => out.push_str(&t.xml10_content()),
            Event::CData(t) if in_text => out.push_str(&t.xml10_content()),
            Event::GeneralRef(r) if in_text => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    out.push(c);
                } else {
                    out.push_str(match r.as_ref() {
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "quot" => "\"",
                        "apos" => "'",
                        _ => "",
                    });
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_come_in_order_with_entities_tabs_and_breaks() {
        let xml = br#"<w:document xmlns:w="x"><w:body>
            <w:p><w:r><w:t>Opening hours</w:t></w:r></w:p>
            <w:p><w:r><w:t xml:space="preserve">Mon &amp; Tue</w:t><w:tab/><w:t>9&#8211;5</w:t></w:r><w:r><w:br/><w:t>Closed Sunday</w:t></w:r></w:p>
            </w:body></w:document>"#;
        assert_eq!(
            paragraphs(xml).unwrap(),
            "Opening hours\nMon & Tue\t9\u{2013}5\nClosed Sunday\n"
        );
    }
}

//! HTML reduced to its readable text: scripts, styles and the head dropped, block elements made
//! line breaks, entities decoded. Tolerant of any input: it never fails.

/// Elements whose content is not text a reader sees.
const SKIPPED: [&str; 6] = ["script", "style", "head", "noscript", "template", "svg"];
/// Elements whose content is set apart from what follows by a space (table cells).
const CELLS: [&str; 2] = ["td", "th"];
/// Elements that start a new line.
const BLOCKS: [&str; 22] = [
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "tr",
    "table",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "section",
    "article",
    "header",
    "footer",
    "blockquote",
    "pre",
    "hr",
    "title",
];

/// `bytes` as text in `charset` (a `Content-Type` parameter): UTF-8 unless it names Latin-1 or
/// Windows-1252 (or ASCII); bytes that are not valid UTF-8 become U+FFFD.
pub fn decode(bytes: &[u8], charset: Option<&str>) -> String {
    let charset = charset
        .unwrap_or("utf-8")
        .trim()
        .trim_matches('"')
        .to_ascii_lowercase();
    match charset.as_str() {
        "iso-8859-1" | "latin1" | "latin-1" | "l1" | "iso8859-1" | "windows-1252" | "cp1252"
        | "us-ascii" | "ascii" => bytes.iter().map(|b| windows_1252(*b)).collect(),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// A byte of Windows-1252 (what pages labelled ISO-8859-1 are in practice, as browsers read them).
fn windows_1252(b: u8) -> char {
    const HIGH: [u16; 32] = [
        0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039,
        0x152, 0x8d, 0x17d, 0x8f, 0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
        0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
    ];
    match b {
        0x80..=0x9f => char::from_u32(u32::from(HIGH[usize::from(b - 0x80)])).unwrap_or('\u{fffd}'),
        _ => char::from(b),
    }
}

/// The readable text of `html`.
pub fn text(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    let mut skipping: Option<&str> = None;
    while let Some(lt) = rest.find('<') {
        if skipping.is_none() {
            push_text(&mut out, &rest[..lt]);
        }
        rest = &rest[lt..];
        if rest.starts_with("<!--") {
            rest = rest.find("-->").map_or("", |end| &rest[end + 3..]);
            continue;
        }
        let Some(gt) = rest.find('>') else {
            rest = "";
            break;
        };
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        match skipping {
            Some(skipped) => {
                if closing && name == skipped {
                    skipping = None;
                }
            }
            None => {
                if let Some(skipped) = SKIPPED.iter().find(|s| **s == name) {
                    if !closing && !tag.ends_with('/') {
                        skipping = Some(skipped);
                    }
                } else if BLOCKS.contains(&name.as_str()) && !out.ends_with('\n') {
                    out.push('\n');
                } else if CELLS.contains(&name.as_str()) {
                    out.push(' ');
                }
            }
        }
    }
    if skipping.is_none() {
        push_text(&mut out, rest);
    }
    out.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn push_text(out: &mut String, raw: &str) {
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let window = rest.char_indices().nth(12).map_or(rest.len(), |(i, _)| i);
        let end = rest[..window].find(';');
        let decoded = end.and_then(|end| entity(&rest[1..end]).map(|c| (c, end)));
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
}

/// The named entities of Latin-1, U+00A0 to U+00FF in order (HTML 4).
const LATIN1: [&str; 96] = [
    "nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect", "uml", "copy", "ordf",
    "laquo", "not", "shy", "reg", "macr", "deg", "plusmn", "sup2", "sup3", "acute", "micro",
    "para", "middot", "cedil", "sup1", "ordm", "raquo", "frac14", "frac12", "frac34", "iquest",
    "Agrave", "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig", "Ccedil", "Egrave", "Eacute",
    "Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml", "ETH", "Ntilde", "Ograve", "Oacute",
    "Ocirc", "Otilde", "Ouml", "times", "Oslash", "Ugrave", "Uacute", "Ucirc", "Uuml", "Yacute",
    "THORN", "szlig", "agrave", "aacute", "acirc", "atilde", "auml", "aring", "aelig", "ccedil",
    "egrave", "eacute", "ecirc", "euml", "igrave", "iacute", "icirc", "iuml", "eth", "ntilde",
    "ograve", "oacute", "ocirc", "otilde", "ouml", "divide", "oslash", "ugrave", "uacute", "ucirc",
    "uuml", "yacute", "thorn", "yuml",
];

/// Other named entities pages use often.
const OTHERS: [(&str, char); 37] = [
    ("euro", '\u{20ac}'),
    ("trade", '\u{2122}'),
    ("bull", '\u{2022}'),
    ("bdquo", '\u{201e}'),
    ("sbquo", '\u{201a}'),
    ("lsaquo", '\u{2039}'),
    ("rsaquo", '\u{203a}'),
    ("dagger", '\u{2020}'),
    ("Dagger", '\u{2021}'),
    ("permil", '\u{2030}'),
    ("OElig", '\u{152}'),
    ("oelig", '\u{153}'),
    ("Scaron", '\u{160}'),
    ("scaron", '\u{161}'),
    ("Yuml", '\u{178}'),
    ("fnof", '\u{192}'),
    ("circ", '\u{2c6}'),
    ("tilde", '\u{2dc}'),
    ("ensp", '\u{2002}'),
    ("emsp", '\u{2003}'),
    ("thinsp", '\u{2009}'),
    ("prime", '\u{2032}'),
    ("Prime", '\u{2033}'),
    ("larr", '\u{2190}'),
    ("rarr", '\u{2192}'),
    ("minus", '\u{2212}'),
    ("le", '\u{2264}'),
    ("ge", '\u{2265}'),
    ("ne", '\u{2260}'),
    ("infin", '\u{221e}'),
    ("mdash", '\u{2014}'),
    ("ndash", '\u{2013}'),
    ("hellip", '\u{2026}'),
    ("rsquo", '\u{2019}'),
    ("lsquo", '\u{2018}'),
    ("rdquo", '\u{201d}'),
    ("ldquo", '\u{201c}'),
];

fn entity(name: &str) -> Option<char> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        return char::from_u32(code).filter(|c| *c != '\0');
    }
    match name {
        "amp" => return Some('&'),
        "lt" => return Some('<'),
        "gt" => return Some('>'),
        "quot" => return Some('"'),
        "apos" => return Some('\''),
        _ => {}
    }
    if let Some(i) = LATIN1.iter().position(|n| *n == name) {
        return char::from_u32(0xa0 + i as u32);
    }
    OTHERS.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_page_becomes_its_readable_text() {
        let page = r#"<!doctype html><html><head><title>T</title><style>p{}</style></head>
            <body><script>var x = "<p>no</p>";</script><!-- a <p> comment -->
            <h1>Opening&nbsp;hours</h1><p>Mon &amp; Tue: 9&ndash;5</p><ul><li>Closed&#33;</li><li>Call &#x41;nna</li></ul>
            <p>Broken &bogus; and & alone</p><noscript>enable js</noscript>
            <table><tr><td>caf&eacute;</td><td>na&iuml;ve &euro;5</td></tr></table></body></html>"#;
        let text = crate::tidy(&text(page));
        assert_eq!(
            text,
            "Opening hours\nMon & Tue: 9\u{2013}5\nClosed!\nCall Anna\n\nBroken &bogus; and & alone\n\ncaf\u{e9} na\u{ef}ve \u{20ac}5"
        );
    }

    #[test]
    fn a_page_is_read_in_its_charset() {
        assert_eq!(
            decode(b"caf\xe9 \x80", Some("ISO-8859-1")),
            "caf\u{e9} \u{20ac}"
        );
        assert_eq!(decode("café".as_bytes(), None), "café");
        assert_eq!(decode(b"caf\xe9", Some("utf-8")), "caf\u{fffd}");
    }

    proptest! {
        #[test]
        fn any_input_is_text_without_its_tags(html in ".{0,400}") {
            let out = text(&html);
            // Every `<` starts markup, dropped with it; one can only come back from an entity.
            if !html.contains('&') {
                prop_assert!(!out.contains('<'), "{out:?}");
            }
        }
    }
}

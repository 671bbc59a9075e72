//! HTML reduced to its readable text: scripts, styles and the head dropped, block elements made
//! line breaks, entities decoded. Tolerant of any input: it never fails.

/// Elements whose content is not text a reader sees.
const SKIPPED: [&str; 6] = ["script", "style", "head", "noscript", "template", "svg"];
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

fn entity(name: &str) -> Option<char> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        return char::from_u32(code).filter(|c| *c != '\0');
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" | "#39" => '\'',
        "nbsp" => ' ',
        "mdash" => '\u{2014}',
        "ndash" => '\u{2013}',
        "hellip" => '\u{2026}',
        "copy" => '\u{a9}',
        "rsquo" => '\u{2019}',
        "lsquo" => '\u{2018}',
        "rdquo" => '\u{201d}',
        "ldquo" => '\u{201c}',
        _ => return None,
    })
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
            <p>Broken &bogus; and & alone</p><noscript>enable js</noscript></body></html>"#;
        let text = crate::tidy(&text(page));
        assert_eq!(
            text,
            "Opening hours\nMon & Tue: 9\u{2013}5\nClosed!\nCall Anna\n\nBroken &bogus; and & alone"
        );
    }

    proptest! {
        #[test]
        fn any_input_is_text_without_its_tags(html in ".{0,400}") {
            let _ = text(&html);
        }
    }
}

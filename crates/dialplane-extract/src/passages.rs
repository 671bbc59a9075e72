//! Text cut into passages of about [`TARGET`] characters, at paragraph, sentence or word ends, so
//! that a search answers with a readable piece rather than a whole document.

/// The length a passage aims at, in characters.
pub const TARGET: usize = 1000;

/// `text` in passages of at most about [`TARGET`] characters, in order; none is empty.
pub fn passages(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut current_chars = 0;
    for paragraph in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        for piece in pieces(paragraph) {
            let chars = piece.chars().count();
            if current_chars > 0 && current_chars + 2 + chars > TARGET {
                out.push(std::mem::take(&mut current));
                current_chars = 0;
            }
            if current_chars > 0 {
                current.push_str("\n\n");
                current_chars += 2;
            }
            current.push_str(piece);
            current_chars += chars;
        }
    }
    if current_chars > 0 {
        out.push(current);
    }
    out
}

/// A paragraph in pieces of at most [`TARGET`] characters: cut after the last sentence end in
/// reach, else the last space, else anywhere.
fn pieces(paragraph: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = paragraph;
    while rest.chars().count() > TARGET {
        let limit = rest
            .char_indices()
            .nth(TARGET)
            .map_or(rest.len(), |(i, _)| i);
        let window = &rest[..limit];
        let cut = window
            .rfind(". ")
            .map(|i| i + 1)
            .filter(|&i| i > limit / 2)
            .or_else(|| window.rfind(char::is_whitespace).filter(|&i| i > limit / 2))
            .unwrap_or(limit);
        let (head, tail) = rest.split_at(cut);
        if !head.trim().is_empty() {
            out.push(head.trim());
        }
        rest = tail.trim_start();
    }
    if !rest.trim().is_empty() {
        out.push(rest.trim());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_paragraphs_share_a_passage_and_long_ones_are_cut_at_sentences() {
        assert_eq!(passages("a\n\nb"), ["a\n\nb"]);
        assert!(passages("  \n\n ").is_empty());
        let sentence = "This sentence is about forty characters. ";
        let long = sentence.repeat(60);
        let cut = passages(&long);
        assert!(cut.len() >= 3, "{}", cut.len());
        for passage in &cut {
            assert!(passage.chars().count() <= TARGET);
            assert!(passage.ends_with('.'), "{passage:?}");
        }
    }

    proptest! {
        #[test]
        fn passages_keep_every_word_in_order_and_stay_near_the_target(text in "[a-zé .\n]{0,3000}") {
            let cut = passages(&text);
            let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
            let joined: Vec<String> = cut.iter().flat_map(|p| words(p)).collect();
            // Cutting inside a word (no space in reach) splits it in two; joined back, nothing is lost.
            prop_assert_eq!(joined.concat(), words(&text).concat());
            for passage in &cut {
                prop_assert!(!passage.is_empty());
                prop_assert!(passage.chars().count() <= TARGET);
            }
        }
    }
}

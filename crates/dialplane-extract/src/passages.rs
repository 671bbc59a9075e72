//! Text cut into passages of about [`TARGET`] characters, at paragraph, sentence or word ends, so
//! that a search answers with a readable piece rather than a whole document.

use std::ops::Range;

/// The length a passage aims at, in characters.
pub const TARGET: usize = 1000;

/// `text` in passages of at most about [`TARGET`] characters, in order, as byte ranges of `text`
/// (so a document's passages cost no second copy of its text); none is empty, and none starts or
/// ends with white space. A passage holds whole paragraphs while they fit; a longer paragraph is cut
/// after the last sentence end in reach, else the last space, else anywhere.
pub fn passages(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut current: Option<Range<usize>> = None;
    for paragraph in paragraphs(text) {
        for piece in pieces(text, paragraph) {
            current = match current.take() {
                Some(range) if text[range.start..piece.end].chars().count() <= TARGET => {
                    Some(range.start..piece.end)
                }
                Some(range) => {
                    out.push(range);
                    Some(piece)
                }
                None => Some(piece),
            };
        }
    }
    out.extend(current);
    out
}

/// The paragraphs of `text` (split at blank lines), trimmed, as byte ranges; none empty.
fn paragraphs(text: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut at = 0;
    text.split("\n\n").filter_map(move |paragraph| {
        let start = at;
        at += paragraph.len() + 2;
        trimmed(text, start..start + paragraph.len())
    })
}

/// `range` of `text` without white space at either end; none if nothing is left.
fn trimmed(text: &str, range: Range<usize>) -> Option<Range<usize>> {
    let s = &text[range.clone()];
    let start = range.start + (s.len() - s.trim_start().len());
    let end = range.end - (s.len() - s.trim_end().len());
    (start < end).then_some(start..end)
}

/// A paragraph (a trimmed range of `text`) in pieces of at most [`TARGET`] characters: cut after
/// the last sentence end in reach, else the last space, else anywhere. Each step looks only as far
/// as one piece, so a paragraph of megabytes without a space is cut in linear time.
fn pieces(text: &str, paragraph: Range<usize>) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut rest = paragraph;
    while let Some((limit, _)) = text[rest.clone()].char_indices().nth(TARGET) {
        let window = &text[rest.start..rest.start + limit];
        let cut = window
            .rfind(". ")
            .map(|i| i + 1)
            .filter(|&i| i > limit / 2)
            .or_else(|| window.rfind(char::is_whitespace).filter(|&i| i > limit / 2))
            .unwrap_or(limit);
        out.extend(trimmed(text, rest.start..rest.start + cut));
        match trimmed(text, rest.start + cut..rest.end) {
            Some(tail) => rest = tail,
            None => return out,
        }
    }
    out.push(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_paragraphs_share_a_passage_and_long_ones_are_cut_at_sentences() {
        assert_eq!(cut("a\n\nb"), ["a\n\nb"]);
        assert!(passages("  \n\n ").is_empty());
        let sentence = "This sentence is about forty characters. ";
        let long = sentence.repeat(60);
        let long = cut(&long);
        assert!(long.len() >= 3, "{}", long.len());
        for passage in &long {
            assert!(passage.chars().count() <= TARGET);
            assert!(passage.ends_with('.'), "{passage:?}");
        }
    }

    /// The passages of `text` as strings.
    fn cut(text: &str) -> Vec<&str> {
        passages(text).into_iter().map(|r| &text[r]).collect()
    }

    #[test]
    fn megabytes_without_a_space_are_cut_into_adjacent_passages() {
        let text = "x".repeat(8 << 20);
        let ranges = passages(&text);
        assert_eq!(ranges.len(), (8 << 20) / TARGET + 1);
        assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
    }

    proptest! {
        #[test]
        fn passages_keep_every_word_in_order_and_stay_near_the_target(text in "[a-zé .\n]{0,3000}") {
            let ranges = passages(&text);
            prop_assert!(ranges.windows(2).all(|w| w[0].end <= w[1].start), "in order, apart");
            let cut = cut(&text);
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

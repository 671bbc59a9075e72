//! Full-text search over the passages of `ready` documents: FTS5 with bm25 on SQLite,
//! `websearch_to_tsquery` with `ts_rank_cd` on PostgreSQL. The query is plain text read as
//! web-search syntax (`"a phrase"`, `-word`, `or`) and is never a syntax error.

use crate::reads::Reads;
use crate::Result;

/// A passage that matches, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub document_id: String,
    pub name: String,
    pub passage: String,
    /// Higher is better.
    pub score: f64,
}

/// `q` in FTS5's syntax, every term quoted (so that nothing in it is an operator of FTS5's own):
/// `"a phrase"` stays a phrase, `-word` excludes, `or` between terms is OR, the rest must all
/// match. `None` when nothing is left to look for (only exclusions, or no term at all).
pub fn fts5_query(q: &str) -> Option<String> {
    let mut positive: Vec<String> = Vec::new();
    let mut negative: Vec<String> = Vec::new();
    let mut or_next = false;
    for (term, quoted) in terms(q) {
        if !quoted && term.eq_ignore_ascii_case("or") {
            or_next = !positive.is_empty();
            continue;
        }
        let (exclude, term) = match term.strip_prefix('-') {
            Some(rest) if !quoted && !rest.is_empty() => (true, rest.to_owned()),
            _ => (false, term),
        };
        if !term.chars().any(char::is_alphanumeric) {
            continue;
        }
        let phrase = format!("\"{}\"", term.replace('"', "\"\""));
        if exclude {
            negative.push(phrase);
        } else if or_next {
            if let Some(last) = positive.last_mut() {
                *last = format!("{last} OR {phrase}");
            }
            or_next = false;
        } else {
            positive.push(phrase);
        }
    }
    if positive.is_empty() {
        return None;
    }
    let mut query = positive
        .iter()
        .map(|p| format!("({p})"))
        .collect::<Vec<_>>()
        .join(" AND ");
    for n in negative {
        query = format!("({query}) NOT {n}");
    }
    Some(query)
}

/// The terms of `q`: words, and `"quoted phrases"` (flagged).
fn terms(q: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut rest = q;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return out;
        }
        if let Some(after) = rest.strip_prefix('"') {
            let end = after.find('"').unwrap_or(after.len());
            out.push((after[..end].trim().to_owned(), true));
            rest = after.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            out.push((rest[..end].to_owned(), false));
            rest = &rest[end..];
        }
    }
}

/// The FTS5 tokens of a workspace and, if given, a document: `w<hex of the workspace>` and
/// `d<document id without dashes>`, single tokens whatever the workspace's name holds.
pub fn search_scope(workspace: &str, document: Option<&str>) -> String {
    let mut scope = String::with_capacity(1 + 2 * workspace.len() + 34);
    scope.push('w');
    for b in workspace.bytes() {
        scope.push_str(&format!("{b:02x}"));
    }
    if let Some(id) = document {
        scope.push_str(" d");
        scope.extend(id.chars().filter(char::is_ascii_alphanumeric));
    }
    scope
}

/// The whole FTS5 query: `q` on the text, and the documents' tokens on the scope if given (the
/// workspace is a rowid range, see `sqlite/knowledge.rs`).
fn scoped_query(documents: Option<&[String]>, q: &str) -> Option<String> {
    let text = fts5_query(q)?;
    let mut query = format!("text : ({text})");
    if let Some(ids) = documents {
        let alternatives: Vec<String> = ids
            .iter()
            .map(|id| {
                let token = search_scope("", Some(id));
                format!("\"{}\"", token.trim_start_matches('w').trim())
            })
            .collect();
        if alternatives.is_empty() {
            return None;
        }
        query = format!("{query} AND scope : ({})", alternatives.join(" OR "));
    }
    Some(query)
}

impl Reads {
    /// The best `limit` passages of `workspace`'s ready documents for `q`, among `documents` if
    /// given.
    pub async fn search(
        &self,
        workspace: &str,
        q: &str,
        documents: Option<&[String]>,
        limit: u32,
    ) -> Result<Vec<Hit>> {
        let limit = i64::from(limit);
        if documents.is_some_and(<[String]>::is_empty) {
            return Ok(Vec::new());
        }
        type Entry = (String, String, String, f64);
        let rows: Vec<Entry> = match self {
            Reads::Sqlite(pool) => {
                let Some(query) = scoped_query(documents, q) else {
                    return Ok(Vec::new());
                };
                // The workspace's rowid range (see migration 0007), then the best passages in it
                // straight from the index (a few more than asked, for those of documents no longer
                // `ready`), then their rows.
                let slot: Option<i64> =
                    sqlx::query_scalar("SELECT slot FROM kb_workspaces WHERE workspace = $1")
                        .bind(workspace)
                        .fetch_optional(pool)
                        .await?;
                let Some(slot) = slot else {
                    return Ok(Vec::new());
                };
                sqlx::query_as(
                    "SELECT p.document_id, d.name, p.text, -h.rank AS score
                     FROM (SELECT rowid, bm25(kb_passages_fts, 0.0, 1.0) AS rank FROM kb_passages_fts
                           WHERE kb_passages_fts MATCH $1 AND rowid BETWEEN $4 AND $5
                           ORDER BY rank LIMIT $2) h
                     JOIN kb_passages p ON p.passage_id = h.rowid
                     JOIN kb_documents d ON d.workspace = p.workspace AND d.document_id = p.document_id
                     WHERE d.status = 'ready'
                     ORDER BY h.rank, p.passage_id LIMIT $3",
                )
                .bind(query)
                .bind(limit + 20)
                .bind(limit)
                .bind(slot << 32)
                .bind((slot << 32) | 0xFFFF_FFFF)
                .fetch_all(pool)
                .await?
            }
            Reads::Postgres(pool) => {
                let within = documents.map(|ids| serde_json::to_string(ids).unwrap_or_default());
                // The best passages ranked first (a few more than asked, for those of documents
                // no longer `ready`), then only their text and their documents' names.
                sqlx::query_as(
                    "WITH hits AS MATERIALIZED (
                         SELECT passage_id, document_id,
                                CAST(ts_rank_cd(tsv, query) AS DOUBLE PRECISION) AS score
                         FROM kb_passages, websearch_to_tsquery('english', $1) query
                         WHERE workspace = $2 AND tsv @@ query
                           AND ($3::jsonb IS NULL OR document_id IN
                                (SELECT jsonb_array_elements_text($3::jsonb)))
                         ORDER BY score DESC, passage_id LIMIT $4 + 20)
                     SELECT h.document_id, d.name, p.text, h.score
                     FROM hits h
                     JOIN kb_passages p ON p.passage_id = h.passage_id
                     JOIN kb_documents d ON d.workspace = $2 AND d.document_id = h.document_id
                     WHERE d.status = 'ready'
                     ORDER BY h.score DESC, h.passage_id LIMIT $4",
                )
                .bind(q)
                .bind(workspace)
                .bind(within)
                .bind(limit)
                .fetch_all(pool)
                .await?
            }
        };
        Ok(rows
            .into_iter()
            .map(|(document_id, name, passage, score)| Hit {
                document_id,
                name,
                passage,
                score,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_is_scoped_to_its_workspace_and_documents_by_tokens() {
        assert_eq!(search_scope("ab", Some("0193-aa")), "w6162 d0193aa");
        let q = scoped_query(Some(&["01-a".to_owned(), "02-b".to_owned()]), "hours").unwrap();
        assert_eq!(q, r#"text : (("hours")) AND scope : ("d01a" OR "d02b")"#);
        assert_eq!(
            scoped_query(None, "hours").unwrap(),
            r#"text : (("hours"))"#
        );
        assert_eq!(scoped_query(Some(&[]), "hours"), None);
    }

    #[test]
    fn web_search_syntax_becomes_quoted_fts5() {
        assert_eq!(
            fts5_query("opening hours").unwrap(),
            r#"("opening") AND ("hours")"#
        );
        assert_eq!(
            fts5_query(r#""opening hours""#).unwrap(),
            r#"("opening hours")"#
        );
        assert_eq!(fts5_query("cats or dogs").unwrap(), r#"("cats" OR "dogs")"#);
        assert_eq!(
            fts5_query("price -tax").unwrap(),
            r#"(("price")) NOT "tax""#
        );
        // What FTS5 would read as its own syntax is only text here.
        assert_eq!(
            fts5_query(r#"NEAR(a b) col:x *"#).unwrap(),
            r#"("NEAR(a") AND ("b)") AND ("col:x")"#
        );
        assert_eq!(fts5_query(r#"say "hi"#).unwrap(), r#"("say") AND ("hi")"#);
        assert_eq!(fts5_query("-only -negatives"), None);
        assert_eq!(fts5_query("  \" \" or -"), None);
    }
}

//! Reads, written once for both backends: the same SQL text runs on SQLite and PostgreSQL.
//!
//! Parameters are written `$1`, `$2`, … in the order they first appear (PostgreSQL's syntax; SQLite
//! reads `$1` as a named parameter and numbers named parameters in order of appearance, so the
//! positions agree). Conversions are `CAST(x AS TEXT)` (PostgreSQL's `jsonb` to text; a no-op on
//! SQLite's text columns). What cannot be written alike lives in a [`Dialect`].
//!
//! [`on_pool!`] runs one body against whichever pool the store has: the body is compiled once per
//! backend, so each gets its own driver's types, with no generic bounds to spell out.

use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;

/// The read pool of a store.
#[derive(Clone, Debug)]
pub enum Reads {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// What the backends' SQL differs in.
pub struct Dialect {
    /// `SELECT agent_id, name, <tags as JSON text> AS tags, <metadata as JSON text> AS metadata
    /// FROM agents`: SQLite keeps both in columns of their own, PostgreSQL reads them from the
    /// document.
    pub agent_summaries: &'static str,
    /// The function that finds a substring: `instr` or `strpos`.
    pub find: &'static str,
}

pub(crate) const SQLITE: Dialect = Dialect {
    agent_summaries: "SELECT agent_id, name, tags, metadata FROM agents",
    find: "instr",
};

pub(crate) const POSTGRES: Dialect = Dialect {
    agent_summaries: "SELECT agent_id, name, (document->'tags')::text AS tags,
                             (document->'metadata')::text AS metadata
                      FROM agents",
    find: "strpos",
};

impl Reads {
    pub fn dialect(&self) -> &'static Dialect {
        match self {
            Reads::Sqlite(_) => &SQLITE,
            Reads::Postgres(_) => &POSTGRES,
        }
    }
}

/// Runs `$body` with `$pool` bound to the store's pool, whichever backend it is.
macro_rules! on_pool {
    ($reads:expr, |$pool:ident| $body:expr) => {
        match $reads {
            $crate::reads::Reads::Sqlite($pool) => $body,
            $crate::reads::Reads::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

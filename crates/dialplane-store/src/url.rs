//! [`DatabaseUrl`]: a database URL read once, so that which backend it names is decided in one place.

use crate::redact_url;
use std::path::PathBuf;

/// A database URL: `sqlite://PATH` or `postgres://…` (`postgresql://…`). Shown with its password
/// replaced, in `Debug` and `Display` alike.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(String),
    Postgres(String),
}

/// A URL that names no database dialplane knows. Its message does not quote the URL: a mistyped one
/// may hold a password where no parser finds it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported database URL: it must start with sqlite:// or postgres:// (or postgresql://)")]
pub struct BadDatabaseUrl;

impl std::str::FromStr for DatabaseUrl {
    type Err = BadDatabaseUrl;

    fn from_str(url: &str) -> Result<Self, BadDatabaseUrl> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite(url.to_owned()))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(url.to_owned()))
        } else {
            Err(BadDatabaseUrl)
        }
    }
}

impl DatabaseUrl {
    /// The URL as given (with its password: for connecting, never for showing).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Sqlite(url) | Self::Postgres(url) => url,
        }
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self, Self::Sqlite(_))
    }

    /// The file of a SQLite database (`None` for PostgreSQL, or a URL SQLite cannot read).
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        match self {
            Self::Sqlite(url) => crate::sqlite::connect_options(url)
                .ok()
                .map(|o| o.get_filename().to_path_buf()),
            Self::Postgres(_) => None,
        }
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_url(self.as_str()))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_names_its_backend_once_and_never_shows_its_password() {
        let pg: DatabaseUrl = "postgres://u:secret@h/db".parse().unwrap();
        assert!(!pg.is_sqlite());
        assert_eq!(pg.to_string(), "postgres://u:***@h/db");
        assert!(!format!("{pg:?}").contains("secret"));
        assert_eq!(pg.as_str(), "postgres://u:secret@h/db");
        let also_pg: DatabaseUrl = "postgresql://h/db".parse().unwrap();
        assert!(!also_pg.is_sqlite());
        let lite: DatabaseUrl = "sqlite://./x.db".parse().unwrap();
        assert!(lite.is_sqlite());
        assert_eq!(lite.sqlite_file(), Some(PathBuf::from("./x.db")));
        let err = "mysql://u:secret@h/db".parse::<DatabaseUrl>().unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}

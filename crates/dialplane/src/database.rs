//! `dialplane migrate`, and opening the database for the commands that work on it directly.

use crate::cli::DatabaseArgs;
use anyhow::{bail, Context};
use dialplane_store::{Store, StoreOptions};

pub async fn open(db: &DatabaseArgs) -> anyhow::Result<Store> {
    dialplane_store::open(&db.url, &StoreOptions::default())
        .await
        .with_context(|| format!("opening {}", db.url))
}

/// Opens a database that must exist already: the key commands never create one. A typo in
/// `--database`, or a relative SQLite path run from another directory, would otherwise create an
/// empty database, print a key of it, and succeed, while the server refuses that key.
pub async fn open_existing(db: &DatabaseArgs) -> anyhow::Result<Store> {
    if let Some(file) = db.url.sqlite_file() {
        if file != std::path::Path::new(":memory:") && !file.exists() {
            bail!(
                "there is no database at {}: `dialplane serve` or `dialplane migrate` creates one \
                 (is --database or DIALPLANE_DATABASE_URL the server's?)",
                file.display()
            );
        }
    }
    open(db).await
}

pub async fn migrate(db: &DatabaseArgs) -> anyhow::Result<()> {
    let existed = db.url.sqlite_file().is_none_or(|file| file.exists());
    let before = dialplane_store::migrations_applied(&db.url)
        .await
        .with_context(|| format!("reading {}", db.url))?;
    let store = open(db).await?;
    let version = store.schema_version().await;
    store.close().await;
    let (version, applied) = version?;
    let now_applied = applied - before;
    if !existed {
        eprintln!(
            "dialplane: created {} and applied its {applied} migrations (schema version {version})",
            db.url
        );
    } else if now_applied > 0 {
        eprintln!(
            "dialplane: applied {now_applied} migration(s) to {} (schema version {version})",
            db.url
        );
    } else {
        eprintln!(
            "dialplane: {} is up to date (schema version {version}, {applied} migrations)",
            db.url
        );
    }
    Ok(())
}

//! `dialplane backup` and `dialplane restore`: SQLite snapshots taken online, restored offline.

use crate::cli::{BackupArgs, RestoreArgs};
use anyhow::{bail, Context};
use dialplane_store::sqlite::backup;
use dialplane_store::DatabaseUrl;

/// The SQLite URL of `url`: these commands copy SQLite files; PostgreSQL has its own tools.
fn sqlite_only<'u>(url: &'u DatabaseUrl, command: &str) -> anyhow::Result<&'u str> {
    match url {
        DatabaseUrl::Sqlite(sqlite) => Ok(sqlite),
        DatabaseUrl::Postgres(_) => bail!(
            "`dialplane {command}` works on SQLite databases; for PostgreSQL use its own tools \
             (see docs/operations.md), for example:\n  \
             pg_dump --format=custom --file=dialplane.dump '{url}'\n  \
             pg_restore --clean --if-exists --no-owner --dbname='{url}' dialplane.dump"
        ),
    }
}

pub async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let url = sqlite_only(&args.database.url, "backup")?;
    let summary = backup::backup(url, &args.file)
        .await
        .with_context(|| format!("backing up {}", args.database.url))?;
    eprintln!(
        "dialplane: wrote {} ({} agents, {} bytes)",
        args.file.display(),
        summary.agents,
        summary.bytes
    );
    Ok(())
}

pub async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let url = sqlite_only(&args.database.url, "restore")?;
    let summary = backup::restore(&args.file, url).await.with_context(|| {
        format!(
            "restoring {} into {}",
            args.file.display(),
            args.database.url
        )
    })?;
    eprintln!(
        "dialplane: restored {} agents into {}",
        summary.agents, args.database.url
    );
    if let Some(aside) = summary.replaced {
        eprintln!(
            "dialplane: the database it replaced is kept as {}",
            aside.display()
        );
    }
    Ok(())
}

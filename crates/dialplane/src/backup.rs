//! `dialplane backup` and `dialplane restore`: SQLite snapshots taken online, restored offline.

use crate::cli::{BackupArgs, RestoreArgs};
use anyhow::{bail, Context};
use dialplane_store::redact_url;
use dialplane_store::sqlite::backup;

/// These commands copy SQLite files; PostgreSQL has its own tools.
fn sqlite_only(url: &str, command: &str) -> anyhow::Result<()> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        bail!(
            "`dialplane {command}` works on SQLite databases; for PostgreSQL use its own tools \
             (see docs/operations.md), for example:\n  \
             pg_dump --format=custom --file=dialplane.dump '{url}'\n  \
             pg_restore --clean --if-exists --no-owner --dbname='{url}' dialplane.dump",
            url = redact_url(url)
        );
    }
    if !url.starts_with("sqlite:") {
        bail!(
            "unsupported database URL (expected sqlite://PATH): {}",
            redact_url(url)
        );
    }
    Ok(())
}

pub async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let url = &args.database.url;
    sqlite_only(url, "backup")?;
    let summary = backup::backup(url, &args.file)
        .await
        .with_context(|| format!("backing up {}", redact_url(url)))?;
    eprintln!(
        "dialplane: wrote {} ({} agents, {} bytes)",
        args.file.display(),
        summary.agents,
        summary.bytes
    );
    Ok(())
}

pub async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let url = &args.database.url;
    sqlite_only(url, "restore")?;
    let summary = backup::restore(&args.file, url)
        .await
        .with_context(|| format!("restoring {} into {}", args.file.display(), redact_url(url)))?;
    eprintln!(
        "dialplane: restored {} agents into {}",
        summary.agents,
        redact_url(url)
    );
    if let Some(aside) = summary.replaced {
        eprintln!(
            "dialplane: the database it replaced is kept as {}",
            aside.display()
        );
    }
    Ok(())
}

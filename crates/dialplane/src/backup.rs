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
             (docs/operations.md, \"PostgreSQL: pg_dump and pg_restore\"):\n  \
             pg_dump --format=custom --file=dialplane.dump '{url}'\n  \
             createdb NEW_DATABASE, then\n  \
             pg_restore --no-owner --dbname='postgres://USER@HOST/NEW_DATABASE' dialplane.dump"
        ),
    }
}

/// `n agent` or `n agents`.
fn agents(n: u64) -> String {
    format!("{n} agent{}", if n == 1 { "" } else { "s" })
}

pub async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let url = sqlite_only(&args.database.url, "backup")?;
    let dir = match args.file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    if !dir.is_dir() {
        bail!(
            "the directory {} does not exist: create it first, or name a file in another one",
            dir.display()
        );
    }
    let summary = backup::backup(url, &args.file)
        .await
        .with_context(|| format!("backing up {}", args.database.url))?;
    eprintln!(
        "dialplane: wrote {} ({}, {} bytes)",
        args.file.display(),
        agents(summary.agents),
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
        "dialplane: restored {} into {}",
        agents(summary.agents),
        args.database.url
    );
    if let Some(aside) = summary.replaced {
        eprintln!(
            "dialplane: the database it replaced is kept as {}",
            aside.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn agents_are_counted_in_words() {
        assert_eq!(super::agents(0), "0 agents");
        assert_eq!(super::agents(1), "1 agent");
        assert_eq!(super::agents(2), "2 agents");
    }
}

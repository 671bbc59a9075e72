//! Online backups of a SQLite database and restores from them.
//!
//! A backup is `VACUUM INTO` a new file: one read transaction, so the copy is the database as of one
//! instant, taken while a server keeps writing. The copy is written beside its destination, checked,
//! fsynced and only then linked into place (a hard link, which never replaces a file that appeared at
//! the destination meanwhile), so a file at the destination is always a whole backup.
//!
//! A restore needs the database to itself: it refuses while any other connection (a running server)
//! has it open. It checks the backup, moves the current database aside (never deletes it) and puts a
//! copy of the backup in its place.

use super::connect_options;
use sqlx::sqlite::{SqliteConnectOptions, SqliteLockingMode};
use sqlx::{ConnectOptions, Connection};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} already exists; choose a new file")]
    Exists(PathBuf),
    #[error("{0} is the database itself (or a link to it); restore from a backup made with `dialplane backup`")]
    SameFile(PathBuf),
    #[error("{0} does not exist")]
    Missing(PathBuf),
    #[error("the database is in use (is a server running on it?); stop it, then restore")]
    InUse,
    #[error("{path} is not a usable dialplane backup: {why}")]
    NotABackup { path: PathBuf, why: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Sqlite(#[from] sqlx::Error),
}

/// What a backup or restore found in the copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Agents in the copy.
    pub agents: u64,
    /// The copy's size in bytes.
    pub bytes: u64,
    /// Where the database that a restore replaced was moved.
    pub replaced: Option<PathBuf>,
}

/// The file a `sqlite://` URL names.
fn database_file(url: &str) -> Result<PathBuf, BackupError> {
    Ok(connect_options(url)
        .map_err(|e| BackupError::NotABackup {
            path: PathBuf::from(url),
            why: e.to_string(),
        })?
        .get_filename()
        .to_path_buf())
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Flushes a file and the directory entry that names it.
fn sync(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path)?.sync_all()?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    std::fs::File::open(dir.unwrap_or(Path::new(".")))?.sync_all()
}

/// Checks a copy: intact, and a dialplane database this binary can open (not from a newer version).
async fn check_copy(path: &Path) -> Result<Summary, BackupError> {
    let not_a_backup = |why: String| BackupError::NotABackup {
        path: path.to_owned(),
        why,
    };
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .map_err(|e| not_a_backup(e.to_string()))?;
    let checked: Result<Summary, BackupError> = async {
        let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await
            .map_err(|e| not_a_backup(e.to_string()))?;
        if integrity != "ok" {
            return Err(not_a_backup(format!("integrity check: {integrity}")));
        }
        let newest: i64 =
            sqlx::query_scalar("SELECT COALESCE(max(version), 0) FROM _sqlx_migrations WHERE success")
                .fetch_one(&mut conn)
                .await
                .map_err(|_| not_a_backup("it is not a dialplane database".into()))?;
        let known = super::migrator().iter().map(|m| m.version).max().unwrap_or(0);
        if newest > known {
            return Err(not_a_backup(format!(
                "it was made by a newer dialplane (schema version {newest:?}, this one knows up to {known:?})"
            )));
        }
        let agents: i64 = sqlx::query_scalar("SELECT count(*) FROM agents")
            .fetch_one(&mut conn)
            .await
            .map_err(|_| not_a_backup("it is not a dialplane database".into()))?;
        Ok(Summary {
            agents: agents.unsigned_abs(),
            bytes: std::fs::metadata(path)?.len(),
            replaced: None,
        })
    }
    .await;
    let _ = conn.close().await;
    checked
}

/// Writes a consistent snapshot of the database at `url` to `file`, which must not exist yet. Safe
/// while a server runs on the database.
pub async fn backup(url: &str, file: &Path) -> Result<Summary, BackupError> {
    if file.exists() {
        return Err(BackupError::Exists(file.to_owned()));
    }
    let source = database_file(url)?;
    if !source.exists() {
        return Err(BackupError::Missing(source));
    }
    let partial = with_suffix(file, ".partial");
    let _ = std::fs::remove_file(&partial);
    let mut conn = connect_options(url)
        .map_err(|e| BackupError::NotABackup {
            path: source.clone(),
            why: e.to_string(),
        })?
        .create_if_missing(false)
        .read_only(true)
        .connect()
        .await?;
    let into = partial.to_string_lossy().into_owned();
    let vacuumed = sqlx::query("VACUUM INTO ?")
        .bind(&into)
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
    let checked = match vacuumed {
        Ok(_) => check_copy(&partial).await,
        Err(e) => Err(e.into()),
    };
    let summary = match checked {
        Ok(summary) => summary,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    sync(&partial)?;
    let placed = place_without_replacing(&partial, file);
    let _ = std::fs::remove_file(&partial);
    placed?;
    sync(file)?;
    Ok(summary)
}

/// Gives the file at `from` the name `to` as well, failing if anything is at `to` (a file made
/// meanwhile, a symlink, even a dangling one): a hard link never replaces. `from` is left for the
/// caller to remove (if it is still there). A plain rename would replace whatever is there.
///
/// On a filesystem without hard links (FAT, exFAT, some network mounts) it falls back to a rename
/// after checking that nothing is at `to`: there, a file created at `to` in between would be
/// replaced.
fn place_without_replacing(from: &Path, to: &Path) -> Result<(), BackupError> {
    use std::io::ErrorKind;
    match std::fs::hard_link(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Err(BackupError::Exists(to.to_owned())),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::Unsupported | ErrorKind::PermissionDenied
            ) =>
        {
            if to.symlink_metadata().is_ok() {
                return Err(BackupError::Exists(to.to_owned()));
            }
            std::fs::rename(from, to)?;
            Ok(())
        }
        Err(e) => Err(BackupError::Io(e)),
    }
}

/// Whether `a` and `b` name the same file (through a link or another spelling of the path).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// Waits at most this long for the database to be free before calling it in use.
const IN_USE_WAIT: Duration = Duration::from_millis(500);

/// Takes the database at `path` for this process alone, folds its WAL into the main file, and lets
/// go; fails with [`BackupError::InUse`] while any other connection has it open.
async fn quiesce(path: &Path) -> Result<(), BackupError> {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .locking_mode(SqliteLockingMode::Exclusive)
        .busy_timeout(IN_USE_WAIT)
        .connect()
        .await?;
    let taken = async {
        sqlx::query("BEGIN EXCLUSIVE").execute(&mut conn).await?;
        sqlx::query("COMMIT").execute(&mut conn).await?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut conn)
            .await
    }
    .await;
    let _ = conn.close().await;
    match taken {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) if e.message().contains("locked") => Err(BackupError::InUse),
        Err(e) => Err(e.into()),
    }
}

/// Replaces the database at `url` with the backup in `file`. The database must not be in use; the
/// one it replaces is moved aside, beside it, never deleted.
pub async fn restore(file: &Path, url: &str) -> Result<Summary, BackupError> {
    if !file.exists() {
        return Err(BackupError::Missing(file.to_owned()));
    }
    let target = database_file(url)?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(BackupError::Missing(dir.to_owned()));
    }
    if same_file(file, &target) {
        return Err(BackupError::SameFile(file.to_owned()));
    }
    let mut summary = check_copy(file).await?;
    // Held to the end: a server started meanwhile (by a supervisor, say) would keep the replaced
    // file open and write to a WAL that is being deleted.
    let _lock = super::try_server_lock(url, false)
        .map_err(|e| BackupError::Io(std::io::Error::other(e.to_string())))?
        .ok_or(BackupError::InUse)?;
    let incoming = with_suffix(&target, ".restoring");
    std::fs::copy(file, &incoming)?;
    sync(&incoming)?;
    if target.exists() {
        if let Err(e) = quiesce(&target).await {
            let _ = std::fs::remove_file(&incoming);
            return Err(e);
        }
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let aside = with_suffix(&target, &format!(".replaced-{stamp}"));
        std::fs::rename(&target, &aside)?;
        // Checkpointed and closed: a WAL left behind holds nothing; a new one starts empty.
        for leftover in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(with_suffix(&target, leftover));
        }
        summary.replaced = Some(aside);
    }
    std::fs::rename(&incoming, &target)?;
    sync(&target)?;
    Ok(summary)
}

//! The server lock of a SQLite database: one `serve` per database file, whatever name reaches it.

use super::connect_options;
use crate::{Result, StoreError};

/// Held by the one server that serves a SQLite database: while it is held, no other server can
/// start on the same file, so the server may cache what it reads (its own writes are the only
/// writes of agents). `dialplane restore` takes it too, so that no server starts on a database
/// while it is being replaced; `dialplane keys`, `backup` and `migrate` do not take it.
///
/// Two locks, both released by the operating system if the process dies: one on a `.lock` file
/// beside the database's real path (symlinks resolved), which outlives the database file being
/// replaced by a restore; and one on the database file itself, which every name of the file shares,
/// so a hard link to it is refused too (SQLite would give each name a WAL of its own and corrupt it).
#[derive(Debug)]
pub struct ServerLock {
    _lock_file: std::fs::File,
    _database: Option<std::fs::File>,
    pub path: std::path::PathBuf,
}

/// Takes the server lock of the SQLite database at `url` (see [`ServerLock`]), for as long as the
/// returned value lives.
pub fn lock_for_serving(url: &str) -> Result<ServerLock> {
    try_server_lock(url, true)?.ok_or_else(|| {
        let db = connect_options(url).map(|o| o.get_filename().display().to_string());
        StoreError::Unavailable(format!(
            "another dialplane server is serving {} (under this name or another: a link); stop it first",
            db.unwrap_or_else(|_| url.to_owned())
        ))
    })
}

/// `path` with its directory's symlinks and its own resolved, if it exists; else its directory's.
fn real_path(path: &std::path::Path) -> std::path::PathBuf {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real;
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    match (std::fs::canonicalize(dir), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => path.to_owned(),
    }
}

/// Opens `path` (creating it if missing and `create`) and locks it; `None` while another process
/// holds it.
fn try_lock_file(path: &std::path::Path, create: bool) -> Result<Option<std::fs::File>> {
    let file = std::fs::OpenOptions::new()
        .create(create)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Unavailable(format!(
            "cannot lock {}: {e}",
            path.display()
        ))),
    }
}

/// The server lock of the SQLite database at `url`, or `None` while another process holds it.
/// With `create`, a database file that does not exist yet is created (empty) to be locked, as a
/// server that is about to create it needs; without, only an existing file is locked (a restore
/// into a new path must not find an empty database there to move aside).
pub fn try_server_lock(url: &str, create: bool) -> Result<Option<ServerLock>> {
    let named = connect_options(url)?.get_filename().to_path_buf();
    let in_memory = named == std::path::Path::new(":memory:");
    let db = if in_memory { named } else { real_path(&named) };
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    let path = std::path::PathBuf::from(name);
    let Some(lock_file) = try_lock_file(&path, true)? else {
        return Ok(None);
    };
    // The database file itself: every name of it shares this lock.
    let database = if in_memory || !(create || db.exists()) {
        None
    } else {
        match try_lock_file(&db, create)? {
            Some(file) => Some(file),
            None => return Ok(None),
        }
    };
    Ok(Some(ServerLock {
        _lock_file: lock_file,
        _database: database,
        path,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_is_shared_by_every_name_of_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        std::fs::write(&db, b"").unwrap();
        let url = |p: &std::path::Path| format!("sqlite://{}", p.display());
        let held = try_server_lock(&url(&db), true)
            .unwrap()
            .expect("free at first");
        let hard = dir.path().join("hard.db");
        std::fs::hard_link(&db, &hard).unwrap();
        let soft = dir.path().join("soft.db");
        std::os::unix::fs::symlink(&db, &soft).unwrap();
        let dotted = dir.path().join(".").join("a.db");
        for other in [&db, &hard, &soft, &dotted] {
            assert!(
                try_server_lock(&url(other), true).unwrap().is_none(),
                "{} is the same database",
                other.display()
            );
        }
        drop(held);
        for other in [&hard, &soft] {
            assert!(try_server_lock(&url(other), true).unwrap().is_some());
        }
    }

    #[test]
    fn a_missing_database_is_locked_under_its_real_directory() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let linked = dir.path().join("linked");
        std::os::unix::fs::symlink(&real, &linked).unwrap();
        let held = try_server_lock(
            &format!("sqlite://{}", linked.join("new.db").display()),
            false,
        )
        .unwrap()
        .expect("free");
        assert_eq!(
            held.path,
            std::fs::canonicalize(&real).unwrap().join("new.db.lock")
        );
        assert!(try_server_lock(
            &format!("sqlite://{}", real.join("new.db").display()),
            false
        )
        .unwrap()
        .is_none());
    }
}

//! The SQLite backend: one file, WAL mode, `synchronous=FULL`, so an acknowledged write survives a
//! power cut. Reads use a small pool; every write goes through one writer task (see [`writer`]) that
//! shares one commit among the writes that arrive together.

mod agents;
pub mod backup;
mod conversations;
mod idempotency;
mod keys;
mod knowledge;
mod lock;
mod opt_outs;
mod phone_numbers;
mod webhooks;
mod writer;

pub use lock::{lock_for_serving, try_server_lock, ServerLock};

use crate::reads::Reads;
use crate::store::Backend;
use crate::write::Job;
use crate::{Result, StoreError, StoreOptions, WriteBatching};
use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::ConnectOptions;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The schema's migrations, applied when a store opens. See [`crate::tolerant`] for why migrations a
/// newer release applied are let be.
pub fn migrator() -> sqlx::migrate::Migrator {
    crate::tolerant(sqlx::migrate!("./migrations/sqlite"))
}

/// How long a connection waits for another process (`dialplane keys`) to release the write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct SqliteStore {
    reads: Reads,
    /// Agents as the writer last committed them.
    agents: Arc<writer::CommittedAgents>,
    stats: Arc<writer::Stats>,
    writes: Mutex<Option<mpsc::Sender<Box<dyn Job>>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    checkpointer: Mutex<Option<(oneshot::Sender<()>, JoinHandle<()>)>>,
}

/// Checkpoint passes in a row, at most, to catch up with the writer once the WAL is past its limit.
const CATCH_UP_PASSES: usize = 8;

/// Folds the WAL into the database file `every` so often on a connection of its own, so the
/// writer seldom stalls on it (the writer's automatic checkpoints are off). `PASSIVE` waits for no
/// one: it copies what it can while writes go on.
///
/// SQLite syncs the database file only when a checkpoint reaches the end of the WAL, which under a
/// steady write load only the writer's own checkpoint does: it would then flush everything this task
/// copied. So this task syncs the database file itself after each pass.
///
/// Past the WAL's limit it passes again at once until little is left to fold in (a sixteenth of the
/// limit), then tells the writer how many frames the WAL holds: the writer folds in that little rest
/// itself, so the WAL can start over (see [`writer::FoldWanted`]), and stalls only for the rest.
async fn checkpoint(
    mut conn: sqlx::SqliteConnection,
    database: Arc<std::fs::File>,
    fold_wanted: writer::FoldWanted,
    limit_bytes: u64,
    every: Duration,
    mut stop: oneshot::Receiver<()>,
) {
    let page_size = sqlx::query_scalar::<_, i64>("PRAGMA page_size")
        .fetch_one(&mut conn)
        .await
        .ok()
        .and_then(|p| u64::try_from(p).ok())
        .unwrap_or(4096);
    let limit = (limit_bytes / page_size).max(1);
    let mut every = tokio::time::interval(every);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = every.tick() => {
                let mut over_limit = false;
                for _ in 0..CATCH_UP_PASSES {
                    // One row: busy, frames in the WAL, frames folded in (-1 and -1 when busy).
                    match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
                        .fetch_one(&mut conn)
                        .await
                    {
                        Ok((_, frames, folded)) if frames >= 0 => {
                            let frames = u64::try_from(frames).unwrap_or(0);
                            let left = frames.saturating_sub(u64::try_from(folded).unwrap_or(0));
                            over_limit = frames >= limit;
                            if folded > 0 {
                                let database = database.clone();
                                let synced =
                                    tokio::task::spawn_blocking(move || database.sync_data()).await;
                                if let Ok(Err(e)) = synced {
                                    tracing::warn!(error = %e, "syncing the database file failed");
                                }
                            }
                            if !over_limit || left <= limit / 16 {
                                break;
                            }
                        }
                        Ok(_) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "checkpointing the WAL failed; retrying");
                            break;
                        }
                    }
                }
                if over_limit {
                    fold_wanted.set();
                }
            }
            _ = &mut stop => break,
        }
    }
    let _ = sqlx::Connection::close(conn).await;
}

impl SqliteStore {
    /// The read pool.
    fn pool(&self) -> &SqlitePool {
        match &self.reads {
            Reads::Sqlite(pool) => pool,
            Reads::Postgres(_) => unreachable!("a SQLite store reads from SQLite"),
        }
    }

    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self> {
        let connect = connect_options(url)?;
        let mut conn = connect
            .connect()
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot open {url}: {e}")))?;
        migrator()
            .run(&mut conn)
            .await
            .map_err(|e| StoreError::Internal(format!("migrating {url}: {e}")))?;
        sqlx::Connection::close(conn).await?;
        let (stop_checkpoints, stopped) = oneshot::channel();
        let fold_wanted = writer::FoldWanted::default();
        let database = std::fs::File::open(connect.get_filename()).map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot open {}: {e}",
                connect.get_filename().display()
            ))
        })?;
        let checkpointer = tokio::spawn(checkpoint(
            connect.connect().await?,
            Arc::new(database),
            fold_wanted.clone(),
            options.wal_limit_bytes,
            options.checkpoint_every,
            stopped,
        ));
        let reads = SqlitePoolOptions::new()
            .max_connections(options.read_connections.max(1))
            .connect_with(connect.clone().read_only(true))
            .await?;
        let conn = writer::open(
            connect.get_filename(),
            BUSY_TIMEOUT,
            options.wal_limit_bytes,
            options.page_cache_bytes,
        )?;
        let agents = Arc::new(writer::CommittedAgents::new(options.writer_cache_bytes));
        let writer_agents = writer::AgentCache::new(agents.clone());
        let max_batch = options.max_batch.max(1);
        let (tx, rx) = mpsc::channel(max_batch * 4);
        let stats = Arc::new(writer::Stats::default());
        let thread_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                writer::run(
                    conn,
                    rx,
                    max_batch,
                    fold_wanted,
                    writer_agents,
                    thread_stats,
                )
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the SQLite writer: {e}")))?;
        Ok(Self {
            reads: Reads::Sqlite(reads),
            agents,
            stats,
            writes: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(thread)),
            checkpointer: Mutex::new(Some((stop_checkpoints, checkpointer))),
        })
    }
}

/// A SQLite error by its result `code`, as the store reports it: busy or locked (another
/// process holds the database) is "unavailable", anything else internal.
pub(crate) fn database_error(code: Option<&str>, message: String) -> StoreError {
    // sqlx gives the extended result code (`SQLITE_BUSY_RECOVERY` is 261); its low byte is the
    // primary one.
    match code.and_then(|c| c.parse::<i32>().ok()).map(|c| c & 0xff) {
        // SQLITE_BUSY, SQLITE_LOCKED.
        Some(5 | 6) => StoreError::Unavailable(message),
        _ => StoreError::Internal(message),
    }
}

/// How every connection is opened: WAL with `synchronous=FULL`, so a commit is on disk (the WAL is
/// fsynced) before it is acknowledged.
pub fn connect_options(url: &str) -> Result<SqliteConnectOptions> {
    Ok(SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::Unavailable(format!("bad SQLite URL {url}: {e}")))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true))
}

#[async_trait]
impl Backend for SqliteStore {
    async fn submit(&self, mut job: Box<dyn Job>) -> Result<()> {
        // Worked out here, beside the writer, on what it last committed; the writer checks that it
        // still holds.
        job.prepare(self.agents.as_ref());
        let sender = self
            .writes
            .lock()
            .map_err(|_| StoreError::Internal("writer lock poisoned".into()))?
            .clone()
            .ok_or_else(|| StoreError::Unavailable("the store is closed".into()))?;
        sender
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable("the writer has stopped".into()))
    }

    fn write_batching(&self) -> Option<WriteBatching> {
        let count = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Some(WriteBatching {
            writes: count(&self.stats.writes),
            commits: count(&self.stats.commits),
            prepared_used: count(&self.stats.prepared_used),
            prepared_redone: count(&self.stats.prepared_redone),
        })
    }

    async fn ready(&self) -> Result<()> {
        let writer_stopped = self
            .writer
            .lock()
            .map_err(|_| StoreError::Internal("writer lock poisoned".into()))?
            .as_ref()
            .is_none_or(std::thread::JoinHandle::is_finished);
        if writer_stopped {
            return Err(StoreError::Unavailable(
                "the SQLite writer has stopped".into(),
            ));
        }
        sqlx::query("SELECT 1").execute(self.pool()).await?;
        Ok(())
    }
    async fn close(&self) {
        let checkpointer = self.checkpointer.lock().ok().and_then(|mut c| c.take());
        if let Some((stop, task)) = checkpointer {
            let _ = stop.send(());
            let _ = task.await;
        }
        // Dropping the last sender lets the writer finish what is queued and stop (with a last,
        // truncating checkpoint).
        let sender = self.writes.lock().ok().and_then(|mut s| s.take());
        drop(sender);
        let thread = self.writer.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        self.pool().close().await;
    }

    fn reads(&self) -> &Reads {
        &self.reads
    }
}

#[cfg(test)]
mod tests;

//! The PostgreSQL backend, for many dialplane instances over one database.
//!
//! Each write is one transaction. A PATCH locks its agent (`SELECT ... FOR UPDATE`), so concurrent
//! writers through any instance apply one after another and lose nothing; transfer targets are locked
//! `FOR SHARE`, so an agent cannot be deleted while another write starts referring to it. A transaction
//! that loses a deadlock is retried. PostgreSQL's own group commit shares fsyncs between transactions.

mod agents;
mod conversations;
mod idempotency;
mod keys;
mod knowledge;
mod notify;
mod opt_outs;
mod phone_numbers;
mod webhooks;

use crate::reads::Reads;
use crate::store::Backend;
use crate::write::{Event, Job, Ran, Tx};
use crate::{Result, StoreError, StoreOptions};
use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::sync::Arc;

/// How often a write that lost a deadlock is tried again.
const RETRIES: usize = 5;

pub struct PgStore {
    pool: PgPool,
    /// A pool of one connection, for listening to the other instances' changes.
    listening: PgPool,
    /// This instance, as its notifications name it (it ignores its own).
    instance: Arc<str>,
    /// The same pool, for the reads.
    reads: Reads,
    /// See [`Store::answer_deadline`]: waiting for a connection, then up to two statement timeouts.
    deadline: std::time::Duration,
}

impl PgStore {
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self> {
        // A statement, a wait for a row lock, and a transaction left idle are all bounded: an
        // instance that lost its network mid-transaction would otherwise hold its row locks until
        // PostgreSQL noticed (hours, with default keepalives), and every write of that agent from
        // the other instances would wait as long, each holding a connection.
        let base = PgConnectOptions::from_str(url).map_err(|e| {
            StoreError::Unavailable(format!(
                "bad PostgreSQL URL {}: {e}",
                crate::redact_url(url)
            ))
        })?;
        let unreachable = |e: sqlx::Error| {
            StoreError::Unavailable(format!("cannot connect to {}: {e}", crate::redact_url(url)))
        };
        // Migrations run on a connection of their own, without the timeouts: one that rewrites a
        // large table may take longer than any request should.
        let mut migrating: PgConnection = sqlx::Connection::connect_with(&base)
            .await
            .map_err(unreachable)?;
        migrator()
            .run(&mut migrating)
            .await
            .map_err(|e| StoreError::Internal(format!("migrating: {e}")))?;
        let _ = sqlx::Connection::close(migrating).await;
        let timeout_ms = options.statement_timeout.as_millis().max(1).to_string();
        let connect = base.clone().options([
            ("statement_timeout", timeout_ms.as_str()),
            ("lock_timeout", timeout_ms.as_str()),
            ("idle_in_transaction_session_timeout", timeout_ms.as_str()),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(options.pool_size.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(unreachable)?;
        let listening = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .connect_lazy_with(base.clone());
        Ok(Self {
            reads: Reads::Postgres(pool.clone()),
            pool,
            listening,
            instance: notify::instance().into(),
            deadline: options.acquire_timeout + 2 * options.statement_timeout,
        })
    }
}

/// Runs `job` in a transaction, again when it loses a deadlock, and answers through it.
async fn run_job(pool: PgPool, instance: Arc<str>, mut job: Box<dyn Job>) {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let again = attempt < RETRIES;
        let retry = match run_once(&pool, &instance, job.as_mut(), again).await {
            Ok((Ran::Retry, _)) => true,
            // The transaction itself failed (begin or commit): nothing of it stands.
            Err(StoreError::Retry(_)) => true,
            Ok((_, events)) => return job.finish(Ok(()), events),
            Err(e) => return job.finish(Err(e), Vec::new()),
        };
        if !(retry && again) {
            // Out of tries: the op's own outcome says why (a commit that lost says it here).
            return job.finish(
                Err(StoreError::Unavailable(
                    "the write lost a deadlock on every try".into(),
                )),
                Vec::new(),
            );
        }
        tracing::debug!(attempt, "retrying a write that lost a deadlock");
        // Back off a little, differently for each writer, so they do not collide again.
        let jitter = u64::from(jitter_bits()) % (10 * attempt as u64 + 1);
        tokio::time::sleep(std::time::Duration::from_millis(
            5 * attempt as u64 + jitter,
        ))
        .await;
    }
}

/// Runs `job` once in a transaction of its own: commits it if it stood and is not a dry run, else
/// rolls it back. Answers how it ran and its events (none unless it committed).
async fn run_once(
    pool: &PgPool,
    instance: &str,
    job: &mut dyn Job,
    again: bool,
) -> Result<(Ran, Vec<Event>)> {
    let mut tx = pool.begin().await?;
    let dry_run = job.dry_run();
    let mut pg = PgTx {
        conn: &mut tx,
        events: Vec::new(),
        large: false,
    };
    let ran = job.run(&mut pg, again).await;
    let events = std::mem::take(&mut pg.events);
    if pg.large {
        // The connection's buffers grew to hold the largest message; it goes back to the pool, so
        // give that memory back now rather than keep it for as long as the connection lives.
        sqlx::Connection::shrink_buffers(&mut *tx);
    }
    if ran == Ran::Ok && !dry_run {
        if let Some(payload) = notify::payload(instance, &events) {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(notify::CHANNEL)
                .bind(payload)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok((ran, events))
    } else {
        // Dropping the transaction rolls it back; say so explicitly to return the connection
        // clean.
        let _ = tx.rollback().await;
        Ok((ran, Vec::new()))
    }
}

/// A few varying bits, for retry jitter.
fn jitter_bits() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_micros())
}

#[async_trait]
impl Backend for PgStore {
    /// Runs the job to its end on a task of its own, so that a client going away mid-request cannot
    /// cancel a transaction half way: a `begin` cancelled at the wrong moment leaves its pooled
    /// connection inside an open transaction (sqlx 0.8), which the next user of the connection would
    /// inherit.
    async fn submit(&self, job: Box<dyn Job>) -> Result<()> {
        tokio::spawn(run_job(self.pool.clone(), self.instance.clone(), job));
        Ok(())
    }

    async fn ready(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.listening.close().await;
        self.pool.close().await;
    }

    fn watch_others(&self, listener: crate::OthersListener) -> bool {
        tokio::spawn(notify::listen(
            self.pool.clone(),
            self.listening.clone(),
            self.instance.clone(),
            listener,
        ));
        true
    }

    fn answer_deadline(&self) -> Option<std::time::Duration> {
        Some(self.deadline)
    }

    fn reads(&self) -> &Reads {
        &self.reads
    }
}

/// A PostgreSQL error by its SQLSTATE `code`, as the store reports it.
pub(crate) fn database_error(code: Option<&str>, message: String) -> StoreError {
    match code {
        // Deadlock, serialization failure: run the transaction again.
        Some("40P01" | "40001") => StoreError::Retry(message),
        // Connection exceptions, shutdowns, too many connections, a statement, lock wait or idle
        // transaction past its timeout.
        Some(code)
            if code.starts_with("08")
                || code.starts_with("57P")
                || matches!(code, "57014" | "55P03" | "25P03" | "53300") =>
        {
            StoreError::Unavailable(message)
        }
        _ => StoreError::Internal(message),
    }
}

/// The schema's migrations, applied when a store opens (see [`crate::tolerant`]).
pub fn migrator() -> sqlx::migrate::Migrator {
    crate::tolerant(sqlx::migrate!("./migrations/postgres"))
}

/// One write transaction.
pub(super) struct PgTx<'c> {
    pub conn: &'c mut PgConnection,
    /// What the running job emitted.
    events: Vec<Event>,
    /// Whether the job sent a message of megabytes (a document's bytes or text).
    pub large: bool,
}

impl Tx for PgTx<'_> {
    fn emit(&mut self, event: Event) {
        self.events.push(event);
    }

    fn emitted(&self) -> &[Event] {
        &self.events
    }
}

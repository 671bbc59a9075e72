//! `dialplane serve`: open storage, make sure someone can log in, serve until told to stop.

use crate::cli::{LogFormat, ServeArgs};
use anyhow::Context;
use dialplane_core::{ApiKey, CreatedBy, Rules, Scope};
use dialplane_server::cache::CacheOptions;
use dialplane_server::ratelimit::RateLimiter;
use dialplane_server::{router, AppState, HttpOptions};
use dialplane_store::{NewKey, Store, StoreOptions};
use std::time::Duration;
use tokio::net::TcpListener;

/// How often expired idempotency keys are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(600);

/// Logs go to stderr through a buffer that a thread of its own writes out (see [`crate::logs`]). The
/// guard flushes what is left when it is dropped. With plain output (not a terminal), the request
/// log comes with it: the same lines, written without tracing's formatter.
pub fn init_logging(format: LogFormat) -> (crate::logs::Logs, Option<crate::logs::FastRequestLog>) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let logs = crate::logs::Logs::to_stderr();
    let writer = logs.writer();
    // Colours only for a terminal: a log file or a collector gets plain text.
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(terminal)
        .with_writer(writer);
    let json = matches!(format, LogFormat::Json);
    let installed = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    }
    .is_ok();
    let request_log =
        (installed && !terminal).then(|| crate::logs::FastRequestLog::new(logs.writer(), json));
    (logs, request_log)
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let (_logs, request_log) = init_logging(args.log_format);
    let mut rules = match &args.llm_models {
        Some(models) => {
            let models: Vec<String> = models
                .iter()
                .map(|m| m.trim().to_owned())
                .filter(|m| !m.is_empty())
                .collect();
            anyhow::ensure!(!models.is_empty(), "--llm-models names no model");
            Rules {
                llm_models: models,
                ..Rules::default()
            }
        }
        None => Rules::default(),
    };
    rules.max_agent_bytes = args.max_agent_bytes;
    rules.max_patch_operations = args.max_patch_operations;
    let store_options = StoreOptions {
        max_batch: args.write_batch as usize,
        read_connections: args.read_connections,
        wal_limit_bytes: args.wal_limit_mib << 20,
        writer_cache_bytes: args.writer_cache_mib << 20,
        page_cache_bytes: args.sqlite_cache_mib << 20,
        checkpoint_every: Duration::from_millis(args.checkpoint_ms),
        pool_size: args.db_pool_size,
        acquire_timeout: std::time::Duration::from_millis(args.db_acquire_timeout_ms),
        statement_timeout: std::time::Duration::from_millis(args.db_statement_timeout_ms),
    };
    // The one server of a SQLite file may cache agents: its writes are the only writes of agents.
    let sqlite = args.database.url.starts_with("sqlite:");
    let _server_lock = if sqlite {
        Some(dialplane_store::sqlite::lock_for_serving(
            &args.database.url,
        )?)
    } else {
        None
    };
    let store = dialplane_store::open(&args.database.url, &store_options)
        .await
        .with_context(|| {
            format!(
                "opening {}",
                dialplane_store::redact_url(&args.database.url)
            )
        })?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    if let Err(e) = bootstrap_key(&store, &addr.to_string()).await {
        store.close().await;
        return Err(e);
    }
    let limiter = match &args.redis_url {
        Some(url) => RateLimiter::redis(args.rate_limit_per_minute, url)
            .map_err(|e| anyhow::anyhow!("--redis-url: {e}"))?,
        None => RateLimiter::local(args.rate_limit_per_minute),
    };
    let cache = CacheOptions {
        key_ttl: Duration::from_millis(args.key_cache_ms),
        agent_bytes: if sqlite {
            args.agent_cache_mib * 1024 * 1024
        } else {
            0
        },
    };
    let mut state = AppState::new(store.clone(), rules, cache)
        .with_limiter(limiter)
        .with_idempotency_ttl(Duration::from_secs(args.idempotency_ttl_minutes * 60));
    if let Some(log) = request_log {
        state = state.with_request_log(std::sync::Arc::new(log));
    }
    let metrics = match args.metrics_listen.as_deref() {
        None | Some("off") => None,
        Some(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding --metrics-listen {addr}"))?;
            tracing::info!("metrics on http://{}/metrics", listener.local_addr()?);
            Some(listener)
        }
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let purge_task = tokio::spawn(purge_expired_keys(state.clone(), stopped.clone()));
    let metrics_task = metrics.map(|listener| {
        let app = dialplane_server::metrics::router(state.metrics.clone());
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let _ = dialplane_server::serve(listener, app, &HttpOptions::default(), async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await;
        })
    });
    let http = HttpOptions {
        max_body_bytes: args.max_body_bytes,
        max_header_bytes: usize::try_from(args.max_header_bytes)?,
        header_read_timeout: Duration::from_millis(args.header_read_timeout_ms),
        body_read_timeout: Duration::from_millis(args.body_read_timeout_ms),
    };
    let app = router(state, &http);
    tracing::info!(
        database = %dialplane_store::redact_url(&args.database.url),
        "listening on http://{addr}"
    );
    let served = dialplane_server::serve(listener, app, &http, async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    })
    .await;
    if let Some(task) = metrics_task {
        let _ = task.await;
    }
    let _ = purge_task.await;
    tracing::info!("draining done; closing storage");
    store.close().await;
    tracing::info!("stopped");
    served.context("serving")
}

/// On a database with no key at all, creates workspace `default` with a write key for `admin` and
/// prints it once on stdout (never in the logs).
async fn bootstrap_key(store: &Store, addr: &str) -> anyhow::Result<()> {
    if store.has_keys().await? {
        return Ok(());
    }
    let key = ApiKey::generate();
    let first = NewKey {
        hash: key.hash(),
        workspace: "default".into(),
        scope: Scope::Write,
        user: CreatedBy {
            user_id: "admin".into(),
            user_email: "admin@localhost".into(),
        },
        expires_at: None,
    };
    // Instances starting together on an empty database: only one of them creates (and prints) it.
    if store
        .write(dialplane_store::CreateFirstKey(first))
        .await?
        .is_none()
    {
        return Ok(());
    }
    let key = key.expose();
    println!(
        "\n  No API key existed, so dialplane created workspace \"default\" with a write key for user \"admin\".\n  \
         It is shown only this once; keep it somewhere safe:\n\n    {key}\n\n  \
         Use it in the x-api-key header, for example:\n\n    \
         curl -H 'x-api-key: {key}' http://{addr}/api/public/v1/agents\n"
    );
    Ok(())
}

/// Forgets expired idempotency keys every few minutes until told to stop.
async fn purge_expired_keys(state: AppState, mut stopped: tokio::sync::watch::Receiver<bool>) {
    let mut every = tokio::time::interval(PURGE_EVERY);
    loop {
        tokio::select! {
            _ = every.tick() => {
                match state.purge_idempotency_keys().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(purged = n, "forgot expired idempotency keys"),
                    Err(e) => tracing::warn!(error = %e, "purging expired idempotency keys failed"),
                }
            }
            () = async { let _ = stopped.wait_for(|s| *s).await; } => return,
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}

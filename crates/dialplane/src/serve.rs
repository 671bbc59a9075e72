//! `dialplane serve`: settings to an [`App`], make sure someone can log in, serve until told to stop.

use crate::app::{App, AppConfig};
use crate::cli::{LogFormat, ServeArgs};
use dialplane_core::{ApiKey, CreatedBy, Rules, Scope};
use dialplane_server::cache::CacheOptions;
use dialplane_server::resources::knowledge_base::{KnowledgeOptions, UploadBudget};
use dialplane_server::HttpOptions;
use dialplane_store::{NewKey, Store, StoreOptions};
use std::time::Duration;

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

impl ServeArgs {
    /// What these settings make of a server.
    pub fn app_config(&self) -> anyhow::Result<AppConfig> {
        // The SSRF guard of URL documents and webhook deliveries alike.
        let policy = if self.allow_private_urls {
            dialplane_server::net::AddressPolicy::Any
        } else {
            dialplane_server::net::AddressPolicy::GlobalOnly
        };
        let mut rules = match &self.llm_models {
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
        rules.max_agent_bytes = self.max_agent_bytes;
        rules.max_patch_operations = self.max_patch_operations;
        Ok(AppConfig {
            metrics_listen: match self.metrics_listen.as_deref() {
                None | Some("off") => None,
                Some(addr) => Some(addr.to_owned()),
            },
            exclusive: true,
            rules,
            http: HttpOptions {
                max_body_bytes: self.max_body_bytes,
                max_header_bytes: usize::try_from(self.max_header_bytes)?,
                header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
                body_read_timeout: Duration::from_millis(self.body_read_timeout_ms),
            },
            store: StoreOptions {
                max_batch: self.write_batch as usize,
                read_connections: self.read_connections,
                wal_limit_bytes: self.wal_limit_mib << 20,
                writer_cache_bytes: self.writer_cache_mib << 20,
                page_cache_bytes: self.sqlite_cache_mib << 20,
                checkpoint_every: Duration::from_millis(self.checkpoint_ms),
                pool_size: self.db_pool_size,
                acquire_timeout: Duration::from_millis(self.db_acquire_timeout_ms),
                statement_timeout: Duration::from_millis(self.db_statement_timeout_ms),
            },
            cache: CacheOptions {
                key_ttl: Duration::from_millis(self.key_cache_ms),
                agent_bytes: self.agent_cache_mib << 20,
                runtime_configs: usize::try_from(self.runtime_config_cache_entries)
                    .unwrap_or(usize::MAX),
                strict_runtime_config: self.strict_runtime_config,
            },
            rate_limit_per_minute: self.rate_limit_per_minute,
            redis_url: self.redis_url.clone(),
            idempotency_ttl: Duration::from_secs(self.idempotency_ttl_minutes * 60),
            retention: dialplane_server::Retention {
                days: self.conversation_retention_days,
                batch: self.conversation_retention_batch,
            },
            knowledge: KnowledgeOptions {
                fetcher: dialplane_server::net::fetch::Fetcher::new(
                    if self.kb_url_fetch {
                        policy.clone()
                    } else {
                        dialplane_server::net::AddressPolicy::Nothing
                    },
                    std::sync::Arc::new(dialplane_server::net::fetch::SystemLookup),
                    dialplane_server::net::fetch::FetchLimits::default(),
                ),
                max_file_bytes: usize::try_from(self.kb_max_file_mib << 20)?,
                max_files: usize::try_from(self.kb_max_files)?,
                quota_bytes: self.kb_quota_mib << 20,
                upload_memory: UploadBudget::new(self.kb_upload_memory_mib << 20),
                public_url: match &self.public_url {
                    Some(url) => Some(public_url(url)?),
                    None => None,
                },
                ..KnowledgeOptions::default()
            },
            webhooks: self.webhooks.options(policy, self.allow_private_urls),
            ..AppConfig::new(self.listen, self.database.url.clone())
        })
    }
}

/// `--public-url` as links are built from it: an absolute http(s) URL, without a trailing slash.
fn public_url(raw: &str) -> anyhow::Result<String> {
    let url = url::Url::parse(raw).map_err(|e| anyhow::anyhow!("--public-url {raw:?}: {e}"))?;
    anyhow::ensure!(
        matches!(url.scheme(), "http" | "https") && url.host().is_some(),
        "--public-url {raw:?}: must be an http or https URL with a host"
    );
    Ok(raw.trim_end_matches('/').to_owned())
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    if let Some(effective) = &args.effective {
        // Settings that serve would refuse are refused here too, not printed as if they were fine.
        args.app_config()?;
        print!("{effective}");
        return Ok(());
    }
    let (_logs, request_log) = init_logging(args.log_format);
    let mut config = args.app_config()?;
    if let Some(log) = request_log {
        config.request_log = Some(std::sync::Arc::new(log));
    }
    let database = config.database.clone();
    let redis = config.redis_url.as_deref().map(dialplane_store::redact_url);
    let app = App::build(config).await?;
    if let Err(e) = bootstrap_key(&app.store, &app.addr.to_string()).await {
        app.store.close().await;
        return Err(e);
    }
    if let Some(addr) = app.metrics_addr {
        tracing::info!("metrics on http://{addr}/metrics");
    }
    if let (Some(redis), Err(cause)) = (&redis, app.state.limiter.probe().await) {
        tracing::warn!(
            %redis,
            error = %cause,
            "Redis cannot be reached: requests are served without a rate limit until it can"
        );
    }
    tracing::info!(
        %database,
        redis = redis.as_ref().map(tracing::field::display),
        "listening on http://{}",
        app.addr
    );
    let served = app.run_until_stopped(shutdown_signal()).await;
    tracing::info!("stopped");
    served
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

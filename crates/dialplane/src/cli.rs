//! Command-line interface. Every flag has an environment twin (`DIALPLANE_...`).

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use dialplane_store::DatabaseUrl;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::process::ExitCode;

/// The default database: a SQLite file in the working directory, created if missing.
pub const DEFAULT_DATABASE: &str = "sqlite://./dialplane.db";

#[derive(Debug, Parser)]
#[command(
    name = "dialplane",
    version,
    about = "A self-hosted control plane for voice-AI agents"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API server.
    Serve(Box<ServeArgs>),
    /// Create, list and revoke API keys (works while a server runs on the same database).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Create the database if needed and apply migrations, then exit.
    Migrate(DatabaseArgs),
    /// Write a consistent snapshot of a SQLite database to a new FILE, while a server runs on it.
    /// (PostgreSQL: use pg_dump; see docs/operations.md.)
    Backup(BackupArgs),
    /// Replace a SQLite database with a backup. Stop the server first; the database it replaces is
    /// kept beside it as `<name>.replaced-<time>`.
    Restore(RestoreArgs),
    /// Print the OpenAPI 3.1 document.
    Openapi,
    /// Webhook tools for receivers: `verify` says why a signature does not verify.
    Webhooks {
        #[command(subcommand)]
        command: crate::webhooks::WebhooksCommand,
    },
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB. `serve` and `migrate` create a missing
    /// SQLite file; the other commands refuse one.
    #[arg(long = "database", env = "DIALPLANE_DATABASE_URL", hide_env_values = true, default_value = DEFAULT_DATABASE, value_parser = DatabaseUrlParser)]
    pub url: DatabaseUrl,
}

/// Reads `--database`; a URL it cannot read is refused without being echoed (clap quotes a refused
/// value, and a database URL may hold a password).
#[derive(Debug, Clone, Copy)]
struct DatabaseUrlParser;

impl clap::builder::TypedValueParser for DatabaseUrlParser {
    type Value = DatabaseUrl;

    fn parse_ref(
        &self,
        _: &clap::Command,
        _: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<DatabaseUrl, clap::Error> {
        let refused = |why: String| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("--database: {why}\n"),
            )
        };
        value
            .to_str()
            .ok_or_else(|| refused("the URL is not valid UTF-8".into()))?
            .parse()
            .map_err(|e: dialplane_store::BadDatabaseUrl| refused(e.to_string()))
    }
}

/// `--database` of the SQLite-only commands (`backup`, `restore`).
#[derive(Debug, Clone, Args)]
pub struct SqliteDatabaseArgs {
    /// The SQLite database: sqlite://PATH (PostgreSQL has pg_dump and pg_restore; see
    /// docs/operations.md).
    #[arg(long = "database", env = "DIALPLANE_DATABASE_URL", hide_env_values = true, default_value = DEFAULT_DATABASE, value_parser = DatabaseUrlParser)]
    pub url: DatabaseUrl,
}

#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub database: SqliteDatabaseArgs,
    /// The backup file to write; it must not exist yet.
    pub file: std::path::PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct RestoreArgs {
    /// The backup file to restore.
    pub file: std::path::PathBuf,
    #[command(flatten)]
    pub database: SqliteDatabaseArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// A TOML file of settings, keyed by the flags' names (`max-body-bytes = 2097152`): below flags
    /// and environment variables, above the defaults.
    #[arg(long, env = "DIALPLANE_CONFIG")]
    pub config: Option<std::path::PathBuf>,
    /// Print the settings in effect (each with where it came from; passwords replaced) and exit.
    #[arg(long)]
    pub print_config: bool,
    /// What `--print-config` prints, once the settings are read.
    #[arg(skip)]
    pub effective: Option<String>,
    /// Address to listen on.
    #[arg(long, env = "DIALPLANE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "DIALPLANE_MAX_BODY_BYTES", default_value_t = dialplane_server::DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// The most bytes an agent's stored document may take, defaults filled in: a change that would
    /// store a larger one (merge patches adding up, JSON Patch copies) is refused with `too_long`.
    #[arg(long, env = "DIALPLANE_MAX_AGENT_BYTES", default_value_t = dialplane_core::validate::DEFAULT_MAX_AGENT_BYTES)]
    pub max_agent_bytes: usize,
    /// The most operations one JSON Patch (`application/json-patch+json`) may have; more is
    /// `validation_error` (`too_long` at the root), checked before any operation is applied.
    #[arg(long, env = "DIALPLANE_MAX_PATCH_OPERATIONS", default_value_t = dialplane_core::json_patch::DEFAULT_MAX_OPERATIONS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub max_patch_operations: usize,
    /// Largest request line plus headers accepted, in bytes (431 above it).
    #[arg(long, env = "DIALPLANE_MAX_HEADER_BYTES", default_value_t = dialplane_server::DEFAULT_MAX_HEADER_BYTES as u64, value_parser = clap::value_parser!(u64).range(1024..=1024 * 1024))]
    pub max_header_bytes: u64,
    /// Milliseconds a client may take to send a request's headers; also how long an idle
    /// keep-alive connection stays open.
    #[arg(long, env = "DIALPLANE_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(10..=600_000))]
    pub header_read_timeout_ms: u64,
    /// Milliseconds a client may take to send a request's body (408 after).
    #[arg(long, env = "DIALPLANE_BODY_READ_TIMEOUT_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(10..=600_000))]
    pub body_read_timeout_ms: u64,
    /// Knowledge base: the most MiB one uploaded file may have.
    #[arg(long, env = "DIALPLANE_KB_MAX_FILE_MIB", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub kb_max_file_mib: u64,
    /// Knowledge base: the most files one upload may carry.
    #[arg(long, env = "DIALPLANE_KB_MAX_FILES", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub kb_max_files: u64,
    /// Knowledge base: the MiB of uploaded files the server reads back, extracts and stores at
    /// once, all uploads together; the others wait, their files spooled in the temporary directory
    /// (`TMPDIR`). Bounds an upload burst's memory (about two to three times this); the SQLite writer
    /// stores one upload at a time, so more rarely makes uploads faster.
    #[arg(long, env = "DIALPLANE_KB_UPLOAD_MEMORY_MIB", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub kb_upload_memory_mib: u64,
    /// Knowledge base: the most MiB of original bytes a workspace may store.
    #[arg(long, env = "DIALPLANE_KB_QUOTA_MIB", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    pub kb_quota_mib: u64,
    /// Fetch URL documents at all: `false` refuses every URL document at creation, without resolving
    /// its host (air-gapped servers).
    #[arg(long, env = "DIALPLANE_KB_URL_FETCH", default_value_t = true, action = clap::ArgAction::Set)]
    pub kb_url_fetch: bool,
    /// Fetch URL documents and deliver webhooks to private, loopback and other non-public addresses
    /// too, and take `http` webhook URLs to any host (tests, private deployments). Off by default:
    /// the SSRF guard refuses them.
    #[arg(long, env = "DIALPLANE_ALLOW_PRIVATE_URLS")]
    pub allow_private_urls: bool,
    /// The server's base URL as clients reach it (`https://dialplane.example.com`), for the links it
    /// answers with (a document's `fileUrl`); without it, the request's Host.
    #[arg(long, env = "DIALPLANE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Models that `prompt.llm` may name, comma-separated (replaces the built-in list).
    #[arg(long, env = "DIALPLANE_LLM_MODELS", value_delimiter = ',')]
    pub llm_models: Option<Vec<String>>,
    /// Most writes that share one commit (group commit).
    #[arg(long, env = "DIALPLANE_WRITE_BATCH", default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub write_batch: u32,
    /// SQLite: database connections for reads.
    #[arg(long, env = "DIALPLANE_READ_CONNECTIONS", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub read_connections: u32,
    /// SQLite: WAL size in MiB past which the writer folds the WAL into the database file and starts it
    /// over, so the WAL stays about this size under any write load.
    #[arg(long, env = "DIALPLANE_WAL_LIMIT_MIB", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub wal_limit_mib: u64,
    /// SQLite: MiB of stored documents that the writer keeps parsed, so that a change to a recently
    /// read or written agent skips reading and parsing it (0 turns it off).
    #[arg(long, env = "DIALPLANE_WRITER_CACHE_MIB", default_value_t = 8, value_parser = clap::value_parser!(u64).range(0..=65_536))]
    pub writer_cache_mib: u64,
    /// SQLite: MiB of database pages that the writer's connection keeps in memory (SQLite's page
    /// cache), so that a change rewrites pages without reading them from the file first. Larger is
    /// not always faster: a commit after a B-tree split walks every cached page.
    #[arg(long, env = "DIALPLANE_SQLITE_CACHE_MIB", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub sqlite_cache_mib: u64,
    /// SQLite: milliseconds between two checkpoints, which fold the WAL into the database file and
    /// sync it beside the writer. Each sync writes what the writes since the last one changed: more
    /// often means smaller syncs, which hold up the writer's own WAL syncs less.
    #[arg(long, env = "DIALPLANE_CHECKPOINT_MS", default_value_t = 50, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub checkpoint_ms: u64,
    /// PostgreSQL: connections this instance keeps open at most.
    #[arg(long, env = "DIALPLANE_DB_POOL_SIZE", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_pool_size: u32,
    /// PostgreSQL: milliseconds a request waits for a free connection before answering 503.
    #[arg(long, env = "DIALPLANE_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub db_acquire_timeout_ms: u64,
    /// PostgreSQL: milliseconds a statement may run, wait for a row lock, or a transaction stay
    /// idle, before PostgreSQL cancels it and the request answers 503. Any storage call also ends
    /// (503) after the acquire timeout plus twice this, answer or not (a network partition).
    #[arg(long, env = "DIALPLANE_DB_STATEMENT_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub db_statement_timeout_ms: u64,
    /// Requests a minute per API key; 0 turns rate limiting off.
    #[arg(long, env = "DIALPLANE_RATE_LIMIT_PER_MINUTE", default_value_t = 0)]
    pub rate_limit_per_minute: u32,
    /// Count rate limits in Redis (redis://HOST:PORT) so the limit holds across instances.
    #[arg(long, env = "DIALPLANE_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Address of the Prometheus /metrics listener, or `off`.
    #[arg(
        long,
        env = "DIALPLANE_METRICS_LISTEN",
        default_value = "127.0.0.1:9733"
    )]
    pub metrics_listen: Option<String>,
    /// Minutes an Idempotency-Key is remembered (its first answer replayed).
    #[arg(long, env = "DIALPLANE_IDEMPOTENCY_TTL_MINUTES", default_value_t = 24 * 60, value_parser = clap::value_parser!(u64).range(1..=525_600))]
    pub idempotency_ttl_minutes: u64,
    /// Days a conversation is kept after it started; older ones are erased by a background task
    /// (at start, then every 10 minutes). Default: kept forever.
    #[arg(long, env = "DIALPLANE_CONVERSATION_RETENTION_DAYS", value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub conversation_retention_days: Option<u32>,
    /// Conversations erased in one transaction by retention (it goes on, batch by batch, until none
    /// is left).
    #[arg(long, env = "DIALPLANE_CONVERSATION_RETENTION_BATCH", default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub conversation_retention_batch: u32,
    /// Milliseconds a resolved API key is trusted before the database is asked again: a revoked or
    /// expired key stops working within this time. 0: ask on every request.
    #[arg(long, env = "DIALPLANE_KEY_CACHE_MS", default_value_t = 100, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub key_cache_ms: u64,
    /// SQLite: MiB of finished GET answers kept in memory (0: none). PostgreSQL instances share their
    /// database, so they never cache agents.
    #[arg(long, env = "DIALPLANE_AGENT_CACHE_MIB", default_value_t = 32, value_parser = clap::value_parser!(u64).range(0..=65_536))]
    pub agent_cache_mib: u64,
    /// Runtime configurations kept in memory as finished answers (0: none). On PostgreSQL each is
    /// served only after one small query finds nothing it was built from has changed.
    #[arg(long, env = "DIALPLANE_RUNTIME_CONFIG_CACHE_ENTRIES", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    pub runtime_config_cache_entries: u64,
    /// PostgreSQL: check every runtime configuration answered from memory against the database (one
    /// small query each) instead of trusting the other instances' change notifications, so that none
    /// is older than a change acknowledged before the request began (without it: by at most the
    /// notification's delay).
    #[arg(long, env = "DIALPLANE_STRICT_RUNTIME_CONFIG", default_value_t = false, action = clap::ArgAction::Set)]
    pub strict_runtime_config: bool,
    /// Log format on stderr.
    #[arg(long, env = "DIALPLANE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(flatten)]
    pub webhooks: crate::webhooks::WebhookArgs,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it once.
    Create(CreateKeyArgs),
    /// List keys (never the keys themselves).
    List {
        #[command(flatten)]
        database: DatabaseArgs,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by its id; running servers refuse it within their --key-cache-ms (100 ms).
    Revoke {
        #[command(flatten)]
        database: DatabaseArgs,
        /// The key's id (from `keys list`).
        key_id: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScopeArg {
    Read,
    Write,
    Runtime,
}

#[derive(Debug, Clone, Args)]
pub struct CreateKeyArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The workspace the key belongs to (created with its first key).
    #[arg(long)]
    pub workspace: String,
    /// The user the key acts as (`metadata.createdBy.userId`).
    #[arg(long)]
    pub user_id: String,
    /// The user's e-mail (`metadata.createdBy.userEmail`).
    #[arg(long)]
    pub user_email: String,
    /// `read` (GET only), `write` (everything) or `runtime` (a voice runtime's: what `read` may, and
    /// recording calls: conversations, their turns, opt-outs).
    #[arg(long, value_enum, default_value_t = ScopeArg::Write)]
    pub scope: ScopeArg,
    /// Make the key stop working after this long (e.g. `90d`, `12h`, `30min`; at least a second);
    /// default: never.
    #[arg(long, value_parser = parse_expires_in)]
    pub expires_in: Option<std::time::Duration>,
    /// Print one JSON line: {"key", "keyId", "workspace", "scope", "expiresAt"}.
    #[arg(long)]
    pub json: bool,
}

/// `--expires-in`: a duration of at least a second (`0s` would make a key that never works).
fn parse_expires_in(raw: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(raw).map_err(|e| e.to_string())?;
    if d < std::time::Duration::from_secs(1) {
        return Err("must be at least 1s: a key that expires at once could never be used".into());
    }
    Ok(d)
}

impl Cli {
    /// The command line of this process, with `serve`'s settings file read (see [`crate::config`]).
    /// Exits for `--help`, `--version` and command-line errors, as clap does.
    pub fn load() -> anyhow::Result<Self> {
        Self::load_from(std::env::args_os().collect())
    }

    pub fn load_from(args: Vec<OsString>) -> anyhow::Result<Self> {
        let mut command = Cli::command();
        let mut from_file = Vec::new();
        if let Some(path) = crate::config::config_file(&args) {
            let serve = command
                .find_subcommand("serve")
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("no serve command"))?;
            let (serve, set) = crate::config::with_file(serve, &path)?;
            command = command.mut_subcommand("serve", move |_| serve);
            from_file = set;
        }
        let matches = command.clone().try_get_matches_from(args).unwrap_or_else(|e| {
            if !from_file.is_empty() && e.use_stderr() {
                eprintln!(
                    "dialplane: the settings file's values ({}) count as the defaults of their flags",
                    from_file.join(", ")
                );
            }
            e.exit()
        });
        let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        if let (Command::Serve(serve), Some(("serve", serve_matches))) =
            (&mut cli.command, matches.subcommand())
        {
            if serve.print_config {
                let definition = command
                    .find_subcommand("serve")
                    .ok_or_else(|| anyhow::anyhow!("no serve command"))?;
                serve.effective = Some(crate::config::effective(
                    definition,
                    serve_matches,
                    &from_file,
                ));
            }
        }
        Ok(cli)
    }

    pub async fn run(self) -> ExitCode {
        let result = match self.command {
            Command::Serve(args) => crate::serve::run(*args).await,
            Command::Keys { command } => crate::keys::run(command).await,
            Command::Migrate(db) => crate::database::migrate(&db).await,
            Command::Backup(args) => crate::backup::backup(args).await,
            Command::Restore(args) => crate::backup::restore(args).await,
            Command::Webhooks { command } => {
                return match crate::webhooks::run(command) {
                    Ok(true) => ExitCode::SUCCESS,
                    Ok(false) => ExitCode::from(1),
                    Err(e) => {
                        eprintln!("dialplane: {e:#}");
                        ExitCode::from(2)
                    }
                };
            }
            Command::Openapi => {
                // A reader that stops early (`| head`) is not an error.
                use std::io::Write;
                let _ =
                    std::io::stdout().write_all(dialplane_server::openapi::document().as_bytes());
                Ok(())
            }
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("dialplane: {e:#}");
                ExitCode::FAILURE
            }
        }
    }
}

//! Webhooks on the command line: `serve`'s delivery flags, and `dialplane webhooks verify`, a
//! receiver's aid that says exactly why a delivery's signature does not verify.

use clap::{Args, Subcommand};
use dialplane_core::webhooks::{verify, RetrySchedule};
use std::path::PathBuf;
use std::time::Duration;

/// How `serve` delivers webhooks.
#[derive(Debug, Clone, Args)]
pub struct WebhookArgs {
    /// The delays between attempts of a delivery, comma-separated (`5s,5m,30m,2h`: N delays, N + 1
    /// attempts), each moved by up to ±10 %. The first attempt is at once.
    #[arg(long, env = "DIALPLANE_WEBHOOK_RETRY_SCHEDULE", default_value = "5s,5m,30m,2h,5h,10h,10h", value_parser = schedule)]
    pub webhook_retry_schedule: RetrySchedule,
    /// Milliseconds an attempt may take: a 2xx within it succeeds.
    #[arg(long, env = "DIALPLANE_WEBHOOK_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..=300_000))]
    pub webhook_timeout_ms: u64,
    /// Attempts under way at once, in all, in this process.
    #[arg(long, env = "DIALPLANE_WEBHOOK_CONCURRENCY", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub webhook_concurrency: u64,
    /// Attempts under way at once to one endpoint or URL, in this process: a slow receiver holds up
    /// no more than this many of the others' slots.
    #[arg(long, env = "DIALPLANE_WEBHOOK_TARGET_CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub webhook_target_concurrency: u64,
    /// Days an ended delivery (and its attempt log) is kept, for reading and redelivery.
    #[arg(long, env = "DIALPLANE_WEBHOOK_LOG_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3_650))]
    pub webhook_log_days: u32,
    /// An endpoint whose every attempt failed for this long is disabled (`5d`, `12h`).
    #[arg(long, env = "DIALPLANE_WEBHOOK_DISABLE_AFTER", default_value = "5d", value_parser = duration)]
    pub webhook_disable_after: Duration,
    /// Milliseconds between looks for due deliveries when nothing wakes the worker sooner (other
    /// instances' deliveries, retries falling due are found this way at the latest).
    #[arg(long, env = "DIALPLANE_WEBHOOK_POLL_MS", default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub webhook_poll_ms: u64,
    /// Milliseconds the worker, once woken, waits for more deliveries to fall due or finish before it
    /// claims and records them together (fewer, larger database writes under load; 0: at once).
    #[arg(long, env = "DIALPLANE_WEBHOOK_BATCH_MS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=1_000))]
    pub webhook_batch_ms: u64,
    /// Deliver webhooks at all. `false`: deliveries are recorded, and each attempt fails without
    /// resolving or connecting anywhere (air-gapped servers, and CI's conformance run, whose
    /// made-up URLs must not leave the machine).
    #[arg(long, env = "DIALPLANE_WEBHOOK_DELIVER", default_value_t = true, action = clap::ArgAction::Set)]
    pub webhook_deliver: bool,
    /// The CPU priority of deliveries. `low`: the worker and its attempts run on a thread of its
    /// own at the lowest priority (nice 19), so that when requests want every core they go first and
    /// deliveries catch up after (`dialplane_webhook_oldest_pending_age_seconds` shows how far
    /// behind they are); `normal`: beside the requests.
    #[arg(long, env = "DIALPLANE_WEBHOOK_PRIORITY", default_value = "low", value_parser = priority)]
    pub webhook_priority: dialplane_server::webhooks::Priority,
    /// At `--webhook-priority low`, how long deliveries wait for a moment when no API request is
    /// under way before they go beside the requests (`30s`, `2m`). Under any load short of
    /// saturation such moments come many times a second; a server whose every core the API wants
    /// makes its deliveries after the load, or this late.
    #[arg(long, env = "DIALPLANE_WEBHOOK_MAX_LAG", default_value = "30s", value_parser = duration)]
    pub webhook_max_lag: Duration,
}

fn priority(s: &str) -> Result<dialplane_server::webhooks::Priority, String> {
    use dialplane_server::webhooks::Priority;
    match s {
        "low" => Ok(Priority::Low),
        "normal" => Ok(Priority::Normal),
        _ => Err(format!("{s:?} is neither low nor normal")),
    }
}

fn schedule(s: &str) -> Result<RetrySchedule, String> {
    s.parse()
}

fn duration(s: &str) -> Result<Duration, String> {
    let schedule: RetrySchedule = s.parse()?;
    match schedule.attempts() {
        2 => Ok(schedule.total()),
        _ => Err(format!("{s:?} is not one duration such as 5d or 12h")),
    }
}

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Check a delivery's signature as a receiver would, and say why it does not verify (the
    /// secret, the body, the timestamp). Exits 0 when it verifies, 1 when it does not.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The secret (`whsec_…`): the endpoint's, or the workspace's for `postCallWebhook`.
    #[arg(long, env = "DIALPLANE_WEBHOOK_SECRET", hide_env_values = true)]
    pub secret: String,
    /// The raw request body, as received (`-`: standard input).
    #[arg(long)]
    pub file: PathBuf,
    /// The `webhook-id` header.
    #[arg(long)]
    pub id: String,
    /// The `webhook-timestamp` header (Unix seconds).
    #[arg(long)]
    pub timestamp: i64,
    /// The `webhook-signature` header (`v1,…`, space-separated).
    #[arg(long)]
    pub signature: String,
    /// Check the timestamp against this time (Unix seconds) instead of now: for a delivery saved
    /// earlier.
    #[arg(long)]
    pub now: Option<i64>,
}

/// Runs `webhooks verify`: `Ok(true)` if the signature verifies.
pub fn run(command: WebhooksCommand) -> anyhow::Result<bool> {
    let WebhooksCommand::Verify(args) = command;
    let body = if args.file.as_os_str() == "-" {
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut body)?;
        body
    } else {
        std::fs::read(&args.file)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", args.file.display()))?
    };
    let now = args.now.unwrap_or_else(|| chrono::Utc::now().timestamp());
    match verify(
        args.secret.trim(),
        &args.id,
        args.timestamp,
        &body,
        args.signature.trim(),
        now,
    ) {
        Ok(()) => {
            println!("verified: the signature matches this body, id and timestamp");
            Ok(true)
        }
        Err(why) => {
            println!("not verified: {why}");
            Ok(false)
        }
    }
}

impl WebhookArgs {
    /// The delivery worker's options, under the SSRF guard `policy`.
    pub fn options(
        &self,
        policy: dialplane_server::net::AddressPolicy,
        allow_private_urls: bool,
    ) -> dialplane_server::webhooks::WebhookOptions {
        use dialplane_server::net::{fetch::SystemLookup, post::Poster};
        dialplane_server::webhooks::WebhookOptions {
            concurrency: usize::try_from(self.webhook_concurrency).unwrap_or(usize::MAX),
            per_target: usize::try_from(self.webhook_target_concurrency).unwrap_or(usize::MAX),
            timeout: Duration::from_millis(self.webhook_timeout_ms),
            schedule: self.webhook_retry_schedule.clone(),
            disable_after: self.webhook_disable_after,
            poll: Duration::from_millis(self.webhook_poll_ms),
            batch: Duration::from_millis(self.webhook_batch_ms),
            log_days: self.webhook_log_days,
            poster: Poster::new(
                if self.webhook_deliver {
                    policy
                } else {
                    dialplane_server::net::AddressPolicy::Nothing
                },
                std::sync::Arc::new(SystemLookup),
                dialplane_server::webhooks::MAX_RESPONSE_BODY,
            ),
            allow_private_urls,
            paused: false,
            priority: self.webhook_priority,
            max_lag: self.webhook_max_lag,
        }
    }
}

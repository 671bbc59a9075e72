//! dialplane's integration tests: a real server over real HTTP, one module per feature.

mod support;

mod backend;
mod backup;
mod cli;
mod concurrency;
mod crash;
mod dry_run;
mod duplicate;
mod errors;
mod fields_defaults;
mod fields_rules;
mod fields_rules_conversation;
mod fields_rules_platform;
mod history;
mod history_diff;
mod history_restore;
mod hostile;
mod http_limits;
mod idempotency_expiry;
mod json_patch;
mod key_expiry;
mod listing;
mod malformed;
mod metrics;
mod multi_instance;
mod openapi;
mod operations;
mod outage;
mod patch;
mod rate_limit;
mod read_cache;
mod settings;
mod smoke;
mod tenancy;
mod writes;

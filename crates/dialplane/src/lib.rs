//! The `dialplane` binary's library: command-line parsing and the commands it runs.

#![forbid(unsafe_code)]

pub mod app;
pub mod backup;
pub mod cli;
pub mod config;
pub mod database;
pub mod keys;
pub mod logs;
pub mod serve;
pub mod webhooks;

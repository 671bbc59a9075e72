//! dialplane's integration tests: a real server over real HTTP, one module per feature.

mod support;

mod cli;
mod errors;
mod listing;
mod openapi;
mod operations;
mod smoke;
mod tenancy;

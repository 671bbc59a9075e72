//! What the integration tests share, by concern: the app, its client helpers, request bodies,
//! validation tables, databases, proxies and raw HTTP.

mod app;
mod bodies;
mod calls;
mod client;
mod db;
mod knowledge;
mod multipart;
mod proxy;
mod raw;
mod tables;
mod webhooks;

pub use app::*;
pub use bodies::*;
pub use calls::*;
pub use client::*;
pub use db::*;
pub use knowledge::*;
pub use multipart::*;
pub use proxy::*;
pub use raw::*;
pub use tables::*;
pub use webhooks::*;

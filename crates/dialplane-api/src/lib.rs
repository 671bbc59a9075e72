//! dialplane's wire types: what goes over HTTP, for the server and for clients alike.
//!
//! `{"success": true, "data": …}` is [`Envelope`] (with a `pagination` too: [`ListEnvelope`]);
//! `{"success": false, "error": …}` is [`ErrorEnvelope`], whose `code` is one of the closed list
//! [`ErrorCode`]. The agent document itself is [`dialplane_core::Agent`]. This crate pulls in no
//! HTTP server and no database driver, so a client crate or the CLI can use it.

#![forbid(unsafe_code)]

pub mod agents;
pub mod conversations;
mod envelope;
mod error;
pub mod knowledge_base;
pub mod opt_outs;
pub mod phone_numbers;
pub mod runtime_config;
pub mod views;
pub mod webhooks;

pub use dialplane_core::{Agent, AgentId, AgentSpec, CreatedBy, Metadata};
#[doc(hidden)]
pub use envelope::success as envelope_success;
pub use envelope::{schema_ref, Envelope, ListEnvelope};
pub use error::{Detail, ErrorBody, ErrorCode, ErrorEnvelope};

// The answer of `GET /healthz` and `GET /readyz` (no doc comment: it would become the schema's description).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` or `ready`.
    pub status: String,
}

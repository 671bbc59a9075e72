//! dialplane's agent document and the rules about it: ids, defaults, JSON Merge Patch, validation and
//! API keys. Pure code: no I/O, no database, no HTTP, so every rule can be tested in isolation.

#![forbid(unsafe_code)]

pub mod agent;
pub mod calls;
pub mod conversation;
pub mod ids;
pub mod json;
pub mod json_patch;
pub mod keys;
pub mod merge;
pub mod problems;
pub mod validate;
pub mod webhooks;

#[cfg(test)]
mod testing;

pub use agent::{Agent, AgentSpec, CreatedBy, Metadata};
pub use ids::{AgentId, ConversationId, DeliveryId, EndpointId, EventId, KeyId, PhoneNumberId};
pub use keys::{ApiKey, KeyHash, Scope};
pub use problems::{Pointer, Problem, ProblemCode, Problems, Reference};
pub use validate::Rules;

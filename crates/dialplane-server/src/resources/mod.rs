//! The API's resources: one module each, with its routes, handlers and request rules.

pub mod agents;
pub mod knowledge_base;

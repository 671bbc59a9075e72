#[path = "api/support.rs"]
mod support;
#[path = "api/writes.rs"]
mod writes;

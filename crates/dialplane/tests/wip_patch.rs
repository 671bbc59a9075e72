#[path = "api/patch.rs"]
mod patch;
#[path = "api/support.rs"]
mod support;

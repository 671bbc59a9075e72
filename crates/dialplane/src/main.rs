#![forbid(unsafe_code)]

use clap::Parser;

/// mimalloc instead of the system allocator: a write's documents are built on the SQLite writer's
/// thread and freed on the runtime's, which glibc's allocator serialises on an arena lock (a quarter
/// of the writer's time in profiles; see docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    dialplane::cli::Cli::parse().run().await
}

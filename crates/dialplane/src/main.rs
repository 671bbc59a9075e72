#![forbid(unsafe_code)]

/// mimalloc instead of the system allocator: a write's documents are built on the SQLite writer's
/// thread and freed on the runtime's, which glibc's allocator serialises on an arena lock (a quarter
/// of the writer's time in profiles; see docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match dialplane::cli::Cli::load() {
        Ok(cli) => cli.run().await,
        Err(e) => {
            eprintln!("dialplane: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

//! CPU-heavy work (merging, validating and diffing large documents) run where it cannot stall the
//! async workers: a request that takes milliseconds of CPU on a worker delays every other request
//! queued on it, `/healthz` included.

/// Stored documents from this size on are worked on off the async workers, however small the change.
pub const HEAVY_DOCUMENT_BYTES: usize = 256 * 1024;

/// Runs `work`, off the async workers when `heavy`: on a multi-threaded runtime's worker the worker
/// hands its other tasks to another thread for the while ([`tokio::task::block_in_place`]). Elsewhere
/// (a thread of our own, or a single-threaded runtime, which has no other worker to hand them to)
/// `work` simply runs. Light work always runs in place: moving it would cost more than it takes.
pub fn run<R>(heavy: bool, work: impl FnOnce() -> R) -> R {
    let on_worker = heavy
        && tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if on_worker {
        tokio::task::block_in_place(work)
    } else {
        work()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_runs_in_place_without_a_runtime() {
        assert_eq!(run(true, || 7), 7);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn heavy_work_runs_in_place_on_a_single_threaded_runtime() {
        // `block_in_place` would panic here.
        assert_eq!(run(true, || 7), 7);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn heavy_work_on_a_worker_leaves_the_other_tasks_to_run() {
        // One worker: a task spawned before the heavy work can finish while it is still running only
        // if the worker's other tasks were handed on.
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = tokio::spawn(async move {
            tx.send(()).unwrap();
        });
        let waited = run(true, || rx.recv_timeout(std::time::Duration::from_secs(30)));
        assert!(waited.is_ok(), "the other task ran during the heavy work");
        spawned.await.unwrap();
    }
}

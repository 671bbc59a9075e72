//! Where the server's logs go: stderr, through one shared buffer that is written out when it is full
//! and at least every [`FLUSH_EVERY`] by a thread of its own, and at shutdown.
//!
//! A request's log line is formatted on the request's own thread and copied into the buffer under a
//! lock held for that copy. Nothing is dropped: a full buffer is written out by the thread that
//! filled it. Handing every line to a logging thread instead (tracing-appender) cost a wake-up of that
//! thread per line, about a sixth of a cached GET's cost.

use std::io::{BufWriter, Stderr, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The longest a log line waits in the buffer.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

const BUFFER_BYTES: usize = 64 * 1024;

/// The shared buffer in front of stderr.
#[derive(Clone)]
pub struct LogBuffer(Arc<Mutex<BufWriter<Stderr>>>);

impl LogBuffer {
    fn flush(&self) {
        if let Ok(mut out) = self.0.lock() {
            let _ = out.flush();
        }
    }
}

/// One log line's writer: the buffer, locked until the line is in it.
pub struct LineWriter<'a>(std::sync::MutexGuard<'a, BufWriter<Stderr>>);

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        // A thread that panicked while holding the lock left at worst a partial line behind.
        LineWriter(
            self.0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }
}

/// Keeps the flushing thread running; dropping it writes out what is left.
pub struct Logs {
    buffer: LogBuffer,
    stop: Arc<AtomicBool>,
    flusher: Option<JoinHandle<()>>,
}

impl Logs {
    pub fn to_stderr() -> Self {
        let buffer = LogBuffer(Arc::new(Mutex::new(BufWriter::with_capacity(
            BUFFER_BYTES,
            std::io::stderr(),
        ))));
        let stop = Arc::new(AtomicBool::new(false));
        let flusher = {
            let (buffer, stop) = (buffer.clone(), stop.clone());
            std::thread::Builder::new()
                .name("log-flush".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::park_timeout(FLUSH_EVERY);
                        buffer.flush();
                    }
                })
                .ok()
        };
        Self {
            buffer,
            stop,
            flusher,
        }
    }

    pub fn writer(&self) -> LogBuffer {
        self.buffer.clone()
    }
}

impl Drop for Logs {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(flusher) = self.flusher.take() {
            flusher.thread().unpark();
            let _ = flusher.join();
        }
        self.buffer.flush();
    }
}

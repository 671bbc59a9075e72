//! Where the server's logs go: stderr, through one shared buffer that is written out when it is full
//! and at least every [`FLUSH_EVERY`] by a thread of its own, and at shutdown.
//!
//! A request's log line is formatted on the request's own thread and copied into the buffer under a
//! lock held for that copy. Nothing is dropped: a full buffer is written out by the thread that
//! filled it. Handing every line to a logging thread instead (tracing-appender) cost a wake-up of that
//! thread per line, about a sixth of a cached GET's cost.

use dialplane_server::observe::{RequestLog, Served, REQUEST_LOG_TARGET};
use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The longest a log line waits in the buffer.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

const BUFFER_BYTES: usize = 64 * 1024;

/// Where the buffer writes: stderr, or a test's sink.
type Output = Box<dyn Write + Send>;

/// The shared buffer in front of stderr.
#[derive(Clone)]
pub struct LogBuffer(Arc<Mutex<BufWriter<Output>>>);

impl LogBuffer {
    fn flush(&self) {
        if let Ok(mut out) = self.0.lock() {
            let _ = out.flush();
        }
    }
}

/// One log line's writer: the buffer, locked until the line is in it.
pub struct LineWriter<'a>(std::sync::MutexGuard<'a, BufWriter<Output>>);

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
        Self::to(std::io::stderr())
    }

    pub fn to(out: impl Write + Send + 'static) -> Self {
        let buffer = LogBuffer(Arc::new(Mutex::new(BufWriter::with_capacity(
            BUFFER_BYTES,
            Box::new(out) as Output,
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

/// The request log written straight into the log buffer, in exactly the text or JSON lines that
/// tracing's formatter makes of the same event ([`TracingRequestLog`]), for a fraction of its cost:
/// formatting one line per request through tracing's generic field visitors was the largest part
/// of a cached GET's own CPU time. Only for plain output (no terminal colours); the filter
/// (`RUST_LOG`) still decides whether the line is written.
///
/// [`TracingRequestLog`]: dialplane_server::observe::TracingRequestLog
pub struct FastRequestLog {
    buffer: LogBuffer,
    json: bool,
}

impl FastRequestLog {
    pub fn new(buffer: LogBuffer, json: bool) -> Self {
        Self { buffer, json }
    }

    /// The line for `s`, logged at `timestamp`.
    fn line(&self, s: &Served<'_>, timestamp: &str) -> String {
        use std::fmt::Write as _;
        let mut line = String::with_capacity(224);
        if self.json {
            let text = |v: &str| serde_json::to_string(v).unwrap_or_default();
            let _ = write!(
                line,
                "{{\"timestamp\":\"{timestamp}\",\"level\":\"INFO\",\"fields\":{{\"message\":\"served\",\
                 \"method\":{},\"route\":{},\"request_id\":{},\"status\":{},\"latency_ms\":{}}},\
                 \"target\":\"{REQUEST_LOG_TARGET}\"}}",
                text(s.method),
                text(s.route),
                text(s.request_id),
                s.status,
                serde_json::to_string(&s.latency_ms).unwrap_or_default(),
            );
        } else {
            let _ = write!(
                line,
                "{timestamp}  INFO {REQUEST_LOG_TARGET}: served method={} route={} request_id={} \
                 status={} latency_ms={:?}",
                s.method, s.route, s.request_id, s.status, s.latency_ms
            );
        }
        line.push('\n');
        line
    }
}

impl RequestLog for FastRequestLog {
    fn served(&self, s: &Served<'_>) {
        if !tracing::enabled!(target: REQUEST_LOG_TARGET, tracing::Level::INFO) {
            return;
        }
        let now = chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string();
        let line = self.line(s, &now);
        let _ = tracing_subscriber::fmt::MakeWriter::make_writer(&self.buffer)
            .write_all(line.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dialplane_server::observe::TracingRequestLog;
    use std::sync::{Arc, Mutex};

    /// What tracing's formatter writes, collected.
    #[derive(Clone, Default)]
    struct Collected(Arc<Mutex<Vec<u8>>>);

    impl Write for Collected {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    struct FixedTime;

    impl tracing_subscriber::fmt::time::FormatTime for FixedTime {
        fn format_time(
            &self,
            w: &mut tracing_subscriber::fmt::format::Writer<'_>,
        ) -> std::fmt::Result {
            w.write_str("2026-12-02T08:29:50.240681Z")
        }
    }

    /// The line tracing's formatter, as the server sets it up, makes of the request log's event.
    fn through_tracing(s: &Served<'_>, json: bool) -> String {
        let out = Collected::default();
        let sink = out.clone();
        let builder = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_timer(FixedTime)
            .with_writer(move || sink.clone());
        if json {
            tracing::subscriber::with_default(builder.json().finish(), || {
                TracingRequestLog.served(s)
            });
        } else {
            tracing::subscriber::with_default(builder.finish(), || TracingRequestLog.served(s));
        }
        let bytes = out.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn the_fast_request_log_writes_what_tracing_would_in_both_formats() {
        let fast = |json| FastRequestLog::new(Logs::to(std::io::sink()).writer(), json);
        let cases = [
            Served {
                method: "GET",
                route: "/api/public/v1/agents/{agentId}",
                request_id: "01a235df-d120-76b0-8e02-3c5b122cb28d",
                status: 200,
                latency_ms: 0.32757000000000003,
            },
            Served {
                method: "PATCH",
                route: "unmatched",
                request_id: "b1-17-4022",
                status: 404,
                latency_ms: 12.0,
            },
            Served {
                method: "POST",
                route: "/api/public/v1/agents",
                request_id: "a:b/c+d=e_f.g",
                status: 201,
                latency_ms: 1.5e-5,
            },
        ];
        for s in &cases {
            for json in [false, true] {
                let expected = through_tracing(s, json);
                assert!(expected.contains("served"), "{expected}");
                assert_eq!(
                    fast(json).line(s, "2026-12-02T08:29:50.240681Z"),
                    expected,
                    "json: {json}"
                );
            }
        }
    }

    #[test]
    fn the_fast_request_log_follows_the_filter() {
        let out = Collected::default();
        let logs = Logs::to(out.clone());
        let log = FastRequestLog::new(logs.writer(), false);
        let s = Served {
            method: "GET",
            route: "/healthz",
            request_id: "r1",
            status: 200,
            latency_ms: 0.5,
        };
        let quiet = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
            .finish();
        tracing::subscriber::with_default(quiet, || log.served(&s));
        let info = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .finish();
        tracing::subscriber::with_default(info, || log.served(&s));
        drop(logs);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text.lines().count(),
            1,
            "only the line logged at info: {text}"
        );
        assert!(text.contains(" INFO dialplane_server::observe: served method=GET route=/healthz request_id=r1 status=200 latency_ms=0.5"), "{text}");
        let stamp = text.split("  ").next().unwrap();
        chrono::DateTime::parse_from_rfc3339(stamp).expect("an RFC 3339 timestamp");
    }
}

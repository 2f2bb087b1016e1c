//! Captures the log lines of the whole test process, for tests about what reaches the logs.

use std::sync::{Arc, Mutex};

/// Collects every INFO-and-above log line of the test process. A process-wide subscriber,
/// because a thread-scoped one (`set_default`) missed events under load: callsite interest
/// is cached across threads, and other tests' threads have no subscriber.
#[derive(Clone, Default)]
pub struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuf {
    /// The process-wide capture; `None` when another global subscriber came first (`TEST_LOG`).
    pub fn global() -> Option<&'static LogBuf> {
        static LOGS: std::sync::OnceLock<Option<LogBuf>> = std::sync::OnceLock::new();
        LOGS.get_or_init(|| {
            let buf = LogBuf::default();
            let writer = buf.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_writer(move || writer.clone())
                .with_max_level(tracing::Level::INFO)
                .with_ansi(false)
                .finish();
            tracing::subscriber::set_global_default(subscriber).ok().map(|()| buf)
        })
        .as_ref()
    }
    /// Everything captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

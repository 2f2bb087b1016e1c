//! Shared counters for rate limits and lockout: Redis when configured, in-process otherwise.
//!
//! [`Counters`] is the one interface the rest of the code sees. With Redis it falls back to
//! the in-process counters whenever Redis fails or is slow, logs that at most once per
//! interval, reports itself degraded, and goes back to Redis once it answers again.

mod memory;
mod redis_backend;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

pub use memory::MemoryCounters;
pub use redis_backend::RedisCounters;

/// The state of one counter after an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// Value after the operation.
    pub count: u64,
    /// Time until the counter expires.
    pub ttl: Duration,
}

/// Outcome of a conditional increment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    /// Whether the increment happened (the count was below the limit).
    pub granted: bool,
    /// The counter's state afterwards.
    pub hit: Hit,
}

/// A counter backend failed.
#[derive(Debug, thiserror::Error)]
#[error("counter backend: {0}")]
pub struct CounterError(pub String);

/// What every counter backend does; each operation is atomic on its own.
#[async_trait]
pub trait CounterBackend: Send + Sync {
    /// Adds one; a new counter lives for `window`.
    async fn incr(&self, key: &str, window: Duration) -> Result<Hit, CounterError>;
    /// Adds one only while the count is below `max`.
    async fn incr_below(&self, key: &str, max: u64, window: Duration) -> Result<Reservation, CounterError>;
    /// Takes one away (never below zero), keeping the expiry.
    async fn decr(&self, key: &str) -> Result<(), CounterError>;
    /// The current state, `None` when absent or expired.
    async fn get(&self, key: &str) -> Result<Option<Hit>, CounterError>;
    /// Sets a value with a lifetime.
    async fn set(&self, key: &str, value: u64, ttl: Duration) -> Result<(), CounterError>;
    /// Removes a counter.
    async fn delete(&self, key: &str) -> Result<(), CounterError>;
    /// Checks the backend answers.
    async fn ping(&self) -> Result<(), CounterError>;
}

/// How long Redis is skipped after a failure before it is tried again.
const RETRY_AFTER_FAILURE_MS: i64 = 2_000;
/// At most one "Redis is failing" log line per this interval.
const LOG_INTERVAL_MS: i64 = 30_000;

/// Counters with Redis first and in-process as the fallback.
#[derive(Clone)]
pub struct Counters {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Option<Arc<dyn CounterBackend>>,
    local: MemoryCounters,
    timeout: Duration,
    degraded: AtomicBool,
    skip_until_ms: AtomicI64,
    last_log_ms: AtomicI64,
}

macro_rules! with_backend {
    ($self:ident, |$b:ident| $call:expr) => {{
        if let Some(shared) = $self.shared_if_healthy() {
            let $b = shared.as_ref();
            match tokio::time::timeout($self.inner.timeout, $call).await {
                Ok(Ok(v)) => {
                    $self.mark_ok();
                    return v;
                }
                Ok(Err(e)) => $self.mark_failed(&e.0),
                Err(_) => $self.mark_failed("timed out"),
            }
        }
        let $b: &dyn CounterBackend = &$self.inner.local;
        // The in-process backend cannot fail; a default keeps the signature total.
        $call.await.unwrap_or_else(|_| Default::default())
    }};
}

impl Default for Hit {
    fn default() -> Self {
        Hit {
            count: 0,
            ttl: Duration::ZERO,
        }
    }
}

impl Default for Reservation {
    fn default() -> Self {
        Reservation {
            granted: true,
            hit: Hit::default(),
        }
    }
}

impl Counters {
    /// In-process counters only.
    pub fn local() -> Self {
        Self::build(None, Duration::from_millis(250))
    }

    /// Shared counters with in-process fallback.
    pub fn shared(backend: Arc<dyn CounterBackend>, timeout: Duration) -> Self {
        Self::build(Some(backend), timeout)
    }

    fn build(shared: Option<Arc<dyn CounterBackend>>, timeout: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                shared,
                local: MemoryCounters::new(),
                timeout,
                degraded: AtomicBool::new(false),
                skip_until_ms: AtomicI64::new(0),
                last_log_ms: AtomicI64::new(0),
            }),
        }
    }

    /// Whether a shared backend is configured.
    pub fn is_shared(&self) -> bool {
        self.inner.shared.is_some()
    }

    /// Whether the shared backend failed and local counters are in use.
    pub fn is_degraded(&self) -> bool {
        self.inner.degraded.load(Ordering::Relaxed)
    }

    /// Pings the shared backend (for readiness); `Ok` when none is configured.
    pub async fn check(&self) -> Result<(), CounterError> {
        let Some(shared) = &self.inner.shared else {
            return Ok(());
        };
        let res = match tokio::time::timeout(self.inner.timeout, shared.ping()).await {
            Ok(r) => r,
            Err(_) => Err(CounterError("timed out".into())),
        };
        match &res {
            Ok(()) => self.mark_ok(),
            Err(e) => self.mark_failed(&e.0),
        }
        res
    }

    /// See [`CounterBackend::incr`].
    pub async fn incr(&self, key: &str, window: Duration) -> Hit {
        with_backend!(self, |b| b.incr(key, window))
    }

    /// See [`CounterBackend::incr_below`].
    pub async fn incr_below(&self, key: &str, max: u64, window: Duration) -> Reservation {
        with_backend!(self, |b| b.incr_below(key, max, window))
    }

    /// See [`CounterBackend::decr`].
    pub async fn decr(&self, key: &str) {
        with_backend!(self, |b| b.decr(key))
    }

    /// See [`CounterBackend::get`].
    pub async fn get(&self, key: &str) -> Option<Hit> {
        with_backend!(self, |b| b.get(key))
    }

    /// See [`CounterBackend::set`].
    pub async fn set(&self, key: &str, value: u64, ttl: Duration) {
        with_backend!(self, |b| b.set(key, value, ttl))
    }

    /// See [`CounterBackend::delete`].
    pub async fn delete(&self, key: &str) {
        with_backend!(self, |b| b.delete(key))
    }

    fn shared_if_healthy(&self) -> Option<&Arc<dyn CounterBackend>> {
        let shared = self.inner.shared.as_ref()?;
        (now_ms() >= self.inner.skip_until_ms.load(Ordering::Relaxed)).then_some(shared)
    }

    fn mark_ok(&self) {
        if self.inner.degraded.swap(false, Ordering::Relaxed) {
            tracing::info!("shared counters reachable again; using Redis");
        }
    }

    fn mark_failed(&self, why: &str) {
        let now = now_ms();
        self.inner.degraded.store(true, Ordering::Relaxed);
        self.inner
            .skip_until_ms
            .store(now + RETRY_AFTER_FAILURE_MS, Ordering::Relaxed);
        let last = self.inner.last_log_ms.load(Ordering::Relaxed);
        if now - last >= LOG_INTERVAL_MS
            && self
                .inner
                .last_log_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::error!(error = why, "shared counters failing; serving on in-process counters");
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests;

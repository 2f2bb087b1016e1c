//! Per-IP and per-account limits on the shared counters (SPEC §7).
//!
//! A refusal is [`DomainError::Throttled`]. So that the HTTP layer can describe *which*
//! limit refused (IETF `RateLimit`/`RateLimit-Policy` headers) without the domain knowing
//! about headers, the refusing policy is also noted in a request-scoped slot that the
//! HTTP layer opens with [`report_refusals`]; outside such a scope nothing is noted.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Domain, DomainError, DomainResult};
use crate::config::WindowLimit;

/// A limit: its name, how many events it allows and per how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitPolicy {
    /// Stable name, e.g. `failed_logins_ip`.
    pub name: &'static str,
    /// Events allowed per window.
    pub quota: u64,
    /// The window.
    pub window: Duration,
}

impl LimitPolicy {
    /// A named policy from a configured window limit.
    pub fn new(name: &'static str, limit: WindowLimit) -> Self {
        Self {
            name,
            quota: limit.max,
            window: limit.window,
        }
    }
}

/// The limit that refused a request, with the seconds until a retry may succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The refusing limit.
    pub policy: LimitPolicy,
    /// Seconds until the limit lets a request through again.
    pub retry_after: u64,
}

type Slot = Arc<Mutex<Option<Refusal>>>;

tokio::task_local! {
    static REFUSAL: Slot;
}

/// Runs `fut` and returns its output with the last limit refusal noted while it ran.
pub async fn report_refusals<F: Future>(fut: F) -> (F::Output, Option<Refusal>) {
    let slot: Slot = Arc::default();
    let out = REFUSAL.scope(slot.clone(), fut).await;
    let refusal = *slot.lock().unwrap_or_else(|p| p.into_inner());
    (out, refusal)
}

/// A `Throttled` error for `policy`, noted for the HTTP layer when it listens.
pub fn throttled(policy: LimitPolicy, ttl: Duration) -> DomainError {
    let retry_after = u64::try_from(ttl.as_millis().div_ceil(1000)).unwrap_or(u64::MAX).max(1);
    let _ = REFUSAL.try_with(|slot| {
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(Refusal { policy, retry_after });
    });
    DomainError::Throttled { retry_after }
}

impl Domain {
    /// Counts a sign-up from `ip`; refuses past the configured rate.
    pub async fn limit_signup(&self, ip: &str) -> DomainResult<()> {
        let l = self.config.limits.signups_per_ip;
        let r = self
            .counters
            .incr_below(&format!("signup:ip:{ip}"), l.max, l.window)
            .await;
        if r.granted {
            Ok(())
        } else {
            Err(throttled(LimitPolicy::new("signups_ip", l), r.hit.ttl))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: LimitPolicy = LimitPolicy {
        name: "p",
        quota: 3,
        window: Duration::from_secs(60),
    };

    #[tokio::test]
    async fn a_refusal_is_reported_inside_the_scope_only() {
        let (err, seen) = report_refusals(async { throttled(P, Duration::from_millis(1500)) }).await;
        assert!(matches!(err, DomainError::Throttled { retry_after: 2 }));
        assert_eq!(
            seen,
            Some(Refusal {
                policy: P,
                retry_after: 2
            })
        );
        let ((), seen) = report_refusals(async {}).await;
        assert_eq!(seen, None);
        // Outside a scope the error is still returned, nothing is noted and nothing fails.
        assert!(matches!(
            throttled(P, Duration::ZERO),
            DomainError::Throttled { retry_after: 1 }
        ));
    }
}

//! Per-IP and per-account limits on the shared counters (SPEC §7).

use super::{Domain, DomainError, DomainResult};

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
            Err(DomainError::Throttled {
                retry_after: r.hit.ttl.as_secs().max(1),
            })
        }
    }
}

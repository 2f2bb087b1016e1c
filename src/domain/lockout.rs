//! Failed-password accounting around every password check (SPEC §7).
//!
//! Before a password is checked, [`Domain::begin_password_check`] reserves one failure slot
//! atomically (`incr_below` on the shared counters), so N parallel wrong passwords can never
//! run more than the allowed number of checks. [`Domain::finish_password_check`] keeps the
//! slot on a wrong password, and clears the count on success.

use super::{Domain, DomainError, DomainResult, Meta};
use crate::storage::users::{UserRecord, normalize};

/// A reserved password check.
#[derive(Debug)]
pub struct PasswordAttempt {
    failures_key: String,
    lock_key: String,
    ip_key: Option<String>,
}

impl Domain {
    /// Refuses when the account is locked; otherwise reserves one failure slot.
    /// `account` names the user (its id) or, for unknown logins, the normalized login.
    pub async fn begin_password_check(&self, account: &str, meta: &Meta) -> DomainResult<PasswordAttempt> {
        let attempt = PasswordAttempt {
            failures_key: format!("fail:{account}"),
            lock_key: format!("lock:{account}"),
            ip_key: meta.ip.as_ref().map(|ip| format!("failip:{ip}")),
        };
        let limits = &self.config.limits;
        if let Some(lock) = self.counters.get(&attempt.lock_key).await {
            return Err(DomainError::AccountLocked {
                retry_after: lock.ttl.as_secs().max(1),
            });
        }
        let r = self
            .counters
            .incr_below(&attempt.failures_key, limits.lockout_threshold, limits.lockout_window)
            .await;
        if !r.granted {
            return Err(DomainError::AccountLocked {
                retry_after: r.hit.ttl.as_secs().max(1),
            });
        }
        Ok(attempt)
    }

    /// Settles a reserved check: a wrong password keeps its slot (and locks at the
    /// threshold), a right one clears the failures.
    pub async fn finish_password_check(&self, attempt: PasswordAttempt, ok: bool) {
        let limits = &self.config.limits;
        if ok {
            self.counters.delete(&attempt.failures_key).await;
            return;
        }
        if let Some(ip_key) = &attempt.ip_key {
            self.counters.incr(ip_key, limits.failed_logins_per_ip.window).await;
        }
        if let Some(hit) = self.counters.get(&attempt.failures_key).await
            && hit.count >= limits.lockout_threshold
        {
            self.counters.set(&attempt.lock_key, 1, limits.lockout_base).await;
        }
    }
}

impl Domain {
    /// Gives back a reserved slot when the check could not run (not a wrong password).
    pub async fn release_password_check(&self, attempt: PasswordAttempt) {
        self.counters.decr(&attempt.failures_key).await;
    }

    /// Refuses credential checks from an IP with too many recent failures.
    pub async fn limit_login_ip(&self, meta: &Meta) -> DomainResult<()> {
        let Some(ip) = &meta.ip else { return Ok(()) };
        let l = self.config.limits.failed_logins_per_ip;
        match self.counters.get(&format!("failip:{ip}")).await {
            Some(hit) if hit.count >= l.max => Err(DomainError::Throttled {
                retry_after: hit.ttl.as_secs().max(1),
            }),
            _ => Ok(()),
        }
    }
}

/// The lockout account key of a user (by id, so email and username share one count).
pub fn account_key(user: Option<&UserRecord>, tenant: &str, login: &str) -> String {
    match user {
        Some(u) => format!("user:{}", u.id),
        None => format!("login:{tenant}:{}", normalize(login)),
    }
}

impl Domain {
    /// Locks a user's password logins for `duration` (admin action).
    pub async fn lock_user(&self, user: &UserRecord, duration: std::time::Duration) {
        let account = account_key(Some(user), &user.tenant_id, "");
        self.counters.set(&format!("lock:{account}"), 1, duration).await;
    }

    /// Lifts a lock and forgets the failures (admin action).
    pub async fn unlock_user(&self, user: &UserRecord) {
        let account = account_key(Some(user), &user.tenant_id, "");
        self.counters.delete(&format!("lock:{account}")).await;
        self.counters.delete(&format!("fail:{account}")).await;
    }

    /// Seconds left on a user's lock, if locked.
    pub async fn lock_remaining(&self, user: &UserRecord) -> Option<u64> {
        let account = account_key(Some(user), &user.tenant_id, "");
        self.counters
            .get(&format!("lock:{account}"))
            .await
            .map(|h| h.ttl.as_secs().max(1))
    }
}

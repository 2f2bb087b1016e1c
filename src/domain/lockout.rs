//! Failed-password accounting and lockout around every password check (SPEC §7).
//!
//! Two scopes are counted, so that one IP cannot lock a real user out cheaply
//! (docs/abuse-protection.md explains the trade-off):
//! - **IP + account**: `lockout_threshold` failures (default 5) from one IP lock *that IP*
//!   out of the account;
//! - **account**: `lockout_account_threshold` failures (default 20) from all IPs together
//!   lock the account for everyone.
//!
//! Each lock lasts `lockout_base`, doubling for every earlier lock of the same scope still
//! remembered (`lockout_memory`), up to `lockout_max`.
//!
//! Before a password is checked, [`Domain::begin_password_check`] reserves one failure slot
//! in every scope atomically (`incr_below` on the shared counters), so N parallel wrong
//! passwords can never run more than the allowed number of checks. A refused request
//! (locked, throttled) gives back what it reserved, so only wrong passwords count.
//! [`Domain::finish_password_check`] keeps the slots on a wrong password (and locks at the
//! threshold) and clears the failures on success.
//!
//! A reservation refused only because *other checks still running* hold the slots is not a
//! refusal yet: each reserved slot is also counted in an in-flight counter (`<key>:run`), and
//! a request whose slot is held by checks in flight waits (polling, bounded) until they
//! settle. A right password gives its slot back and lets the waiter in; a wrong one keeps it,
//! and the waiter is then refused. So correct logins are never refused because other checks
//! are in flight, and N parallel wrong passwords still run at most the allowed checks.
//!
//! Every key of an account carries its *epoch*; an admin unlock moves the epoch on, which
//! forgets every lock and failure of the account at once, per-IP ones included, without
//! having to enumerate the IPs.

use std::time::Duration;

use serde_json::json;

use super::limits::{LimitPolicy, throttled};
use super::{Domain, DomainError, DomainResult, Meta};
use crate::storage::users::{UserRecord, normalize};

/// How long an account's epoch (set by an admin unlock) is kept; far beyond any lock.
const EPOCH_TTL: Duration = Duration::from_secs(400 * 86_400);
/// Lifetime of an in-flight counter, so checks of an instance that died stop counting.
const IN_FLIGHT_TTL: Duration = Duration::from_secs(60);
/// How often a request waiting for checks in flight looks again.
const IN_FLIGHT_POLL: Duration = Duration::from_millis(15);

/// Outcome of reserving one failure slot.
enum Slot {
    /// Reserved; the count including this slot.
    Granted(u64),
    /// Full, but checks in flight hold slots: wait for them to settle.
    Busy,
    /// Full with settled failures: refuse (the counter lives this much longer).
    Refused(Duration),
}

fn in_flight(key: &str) -> String {
    format!("{key}:run")
}

/// Which scope a lock applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockScope {
    /// One IP is locked out of one account.
    Ip,
    /// The account is locked for every IP.
    Account,
}

impl LockScope {
    /// The name used in audit events.
    pub fn as_str(self) -> &'static str {
        match self {
            LockScope::Ip => "ip",
            LockScope::Account => "account",
        }
    }
}

/// The counter keys of one scope.
#[derive(Debug, Clone)]
struct ScopeKeys {
    fail: String,
    lock: String,
    strikes: String,
}

impl ScopeKeys {
    fn new(base: String) -> Self {
        Self {
            fail: format!("{base}:fail"),
            lock: format!("{base}:lock"),
            strikes: format!("{base}:strikes"),
        }
    }
}

/// A reserved password check.
#[derive(Debug)]
pub struct PasswordAttempt {
    account: ScopeKeys,
    pair: ScopeKeys,
    ip_key: Option<String>,
    /// Failures in each scope once this attempt's slot is counted.
    pair_count: u64,
    account_count: u64,
    /// Who is being logged in, for the `user.locked` audit event.
    tenant: String,
    user_id: Option<String>,
    meta: Meta,
}

/// A lock that a wrong password just caused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockApplied {
    /// Whom it locks out.
    pub scope: LockScope,
    /// How long.
    pub period: Duration,
}

/// The lock period after `earlier_locks` remembered locks of the same scope:
/// `base`, doubled for each earlier lock, never above `max`.
pub fn lock_period(base: Duration, max: Duration, earlier_locks: u64) -> Duration {
    let factor = 1u32.checked_shl(u32::try_from(earlier_locks).unwrap_or(u32::MAX));
    match factor.and_then(|f| base.checked_mul(f)) {
        Some(p) => p.min(max),
        None => max,
    }
}

fn secs(d: Duration) -> u64 {
    // Round up, so a client told to wait N seconds is not refused again at N.
    d.as_millis().div_ceil(1000).max(1).try_into().unwrap_or(u64::MAX)
}

/// The lockout account key of a user (by id, so email and username share one count).
pub fn account_key(user: Option<&UserRecord>, tenant: &str, login: &str) -> String {
    match user {
        Some(u) => format!("user:{}", u.id),
        None => format!("login:{tenant}:{}", normalize(login)),
    }
}

impl Domain {
    /// The current epoch of an account (0 until an admin first unlocks it).
    async fn lock_epoch(&self, account: &str) -> u64 {
        self.counters
            .get(&format!("lk:epoch:{account}"))
            .await
            .map_or(0, |h| h.count)
    }

    async fn account_scope(&self, account: &str) -> (String, ScopeKeys) {
        let base = format!("lk:{account}#{}", self.lock_epoch(account).await);
        let keys = ScopeKeys::new(base.clone());
        (base, keys)
    }

    /// Refuses when the account is locked (for everyone or for this IP) or a limit is hit;
    /// otherwise reserves one failure slot in every scope. A slot held only by checks still
    /// in flight is waited for (up to the hash-queue timeout plus a margin), not refused.
    ///
    /// `user` is the account when it exists; unknown logins are counted under the
    /// normalized login, exactly like real ones, so locks tell nothing about existence.
    pub async fn begin_password_check(
        &self,
        tenant: &str,
        user: Option<&UserRecord>,
        login: &str,
        meta: &Meta,
    ) -> DomainResult<PasswordAttempt> {
        let limits = &self.config.limits;
        let account = account_key(user, tenant, login);
        let (base, account_keys) = self.account_scope(&account).await;
        let ip = meta.ip.as_deref().unwrap_or("unknown");
        let mut attempt = PasswordAttempt {
            account: account_keys,
            pair: ScopeKeys::new(format!("{base}:ip:{ip}")),
            ip_key: meta.ip.as_ref().map(|ip| format!("failip:{ip}")),
            pair_count: 0,
            account_count: 0,
            tenant: tenant.to_string(),
            user_id: user.map(|u| u.id.clone()),
            meta: meta.clone(),
        };

        // A locked request is refused before anything is counted.
        self.refuse_if_locked(&attempt).await?;

        // Requests per account, any outcome: bounds the work one account can cause.
        let l = limits.logins_per_account;
        let r = self
            .counters
            .incr_below(&format!("rate:account:{account}"), l.max, l.window)
            .await;
        if !r.granted {
            return Err(throttled(LimitPolicy::new("logins_account", l), r.hit.ttl));
        }

        let deadline = tokio::time::Instant::now() + self.config.hash_queue_timeout + Duration::from_secs(2);
        loop {
            let refusal = match self.try_reserve(&mut attempt).await {
                Ok(()) => return Ok(attempt),
                Err(Some(refusal)) => refusal,
                Err(None) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(IN_FLIGHT_POLL).await;
                    // A wrong password among those in flight may have locked meanwhile.
                    self.refuse_if_locked(&attempt).await?;
                    continue;
                }
                // Waited long enough: refuse as if the slots were settled failures.
                Err(None) => self.settled_refusal(&attempt).await,
            };
            return Err(refusal);
        }
    }

    async fn refuse_if_locked(&self, attempt: &PasswordAttempt) -> DomainResult<()> {
        for lock in [&attempt.account.lock, &attempt.pair.lock] {
            if let Some(hit) = self.counters.get(lock).await {
                return Err(DomainError::AccountLocked {
                    retry_after: secs(hit.ttl),
                });
            }
        }
        Ok(())
    }

    /// Reserves a slot on `key` and marks it in flight.
    async fn reserve(&self, key: &str, max: u64, window: Duration) -> Slot {
        let run = in_flight(key);
        self.counters.incr(&run, IN_FLIGHT_TTL).await;
        let r = self.counters.incr_below(key, max, window).await;
        if r.granted {
            return Slot::Granted(r.hit.count);
        }
        self.counters.decr(&run).await;
        match self.counters.get(&run).await {
            Some(h) if h.count > 0 => Slot::Busy,
            _ => Slot::Refused(r.hit.ttl),
        }
    }

    /// Ends a slot's flight; `give_back` also returns the slot itself (not a failure).
    async fn settle(&self, key: &str, give_back: bool) {
        // The slot first, then the in-flight mark: a waiter that sees nothing in flight must
        // also see the freed slot.
        if give_back {
            self.counters.decr(key).await;
        }
        self.counters.decr(&in_flight(key)).await;
    }

    /// One round of reservations in every scope. `Err(None)`: some scope is full only
    /// because of checks in flight (everything reserved in this round is given back).
    async fn try_reserve(&self, attempt: &mut PasswordAttempt) -> Result<(), Option<DomainError>> {
        let limits = &self.config.limits;
        // Failed credential checks per IP, reserved before the check like the others.
        if let Some(ip_key) = &attempt.ip_key {
            let l = limits.failed_logins_per_ip;
            match self.reserve(ip_key, l.max, l.window).await {
                Slot::Granted(_) => {}
                Slot::Busy => return Err(None),
                Slot::Refused(ttl) => return Err(Some(throttled(LimitPolicy::new("failed_logins_ip", l), ttl))),
            }
        }
        let pair = self
            .reserve(&attempt.pair.fail, limits.lockout_threshold, limits.lockout_window)
            .await;
        let pair_count = match pair {
            Slot::Granted(n) => n,
            other => {
                self.give_back_ip_slot(attempt).await;
                return match other {
                    Slot::Refused(ttl) => Err(Some(self.locked(&attempt.pair.lock, ttl).await)),
                    _ => Err(None),
                };
            }
        };
        let account = self
            .reserve(
                &attempt.account.fail,
                limits.lockout_account_threshold,
                limits.lockout_window,
            )
            .await;
        let account_count = match account {
            Slot::Granted(n) => n,
            other => {
                self.settle(&attempt.pair.fail, true).await;
                self.give_back_ip_slot(attempt).await;
                return match other {
                    Slot::Refused(ttl) => Err(Some(self.locked(&attempt.account.lock, ttl).await)),
                    _ => Err(None),
                };
            }
        };
        attempt.pair_count = pair_count;
        attempt.account_count = account_count;
        Ok(())
    }

    /// The refusal for a request that waited in vain for checks in flight.
    async fn settled_refusal(&self, attempt: &PasswordAttempt) -> DomainError {
        let limits = &self.config.limits;
        if let Some(ip_key) = &attempt.ip_key
            && let Some(hit) = self.counters.get(ip_key).await
            && hit.count >= limits.failed_logins_per_ip.max
        {
            return throttled(
                LimitPolicy::new("failed_logins_ip", limits.failed_logins_per_ip),
                hit.ttl,
            );
        }
        let (lock, fallback) = match self.counters.get(&attempt.pair.fail).await {
            Some(hit) if hit.count >= limits.lockout_threshold => (&attempt.pair.lock, hit.ttl),
            _ => (&attempt.account.lock, limits.lockout_window),
        };
        self.locked(lock, fallback).await
    }

    async fn locked(&self, lock_key: &str, fallback: Duration) -> DomainError {
        let ttl = self.counters.get(lock_key).await.map_or(fallback, |h| h.ttl);
        DomainError::AccountLocked { retry_after: secs(ttl) }
    }

    async fn give_back_ip_slot(&self, attempt: &PasswordAttempt) {
        if let Some(ip_key) = &attempt.ip_key {
            self.settle(ip_key, true).await;
        }
    }

    async fn end_ip_flight(&self, attempt: &PasswordAttempt) {
        if let Some(ip_key) = &attempt.ip_key {
            self.settle(ip_key, false).await;
        }
    }

    /// Settles a reserved check. A wrong password keeps its slots, and the one that
    /// reaches a threshold locks that scope (recording `user.locked`); a right one clears
    /// the failures and gives back the per-IP failure slot. Returns the locks applied.
    pub async fn finish_password_check(&self, attempt: PasswordAttempt, ok: bool) -> Vec<LockApplied> {
        let limits = &self.config.limits;
        if ok {
            // The password is known from this IP: forget this IP's history with the account,
            // and the account's recent failures (its lock history stays, to keep doubling).
            self.counters.delete(&attempt.pair.fail).await;
            self.counters.delete(&attempt.pair.strikes).await;
            self.counters.delete(&attempt.account.fail).await;
            self.settle(&attempt.pair.fail, false).await;
            self.settle(&attempt.account.fail, false).await;
            self.give_back_ip_slot(&attempt).await;
            return Vec::new();
        }
        let mut applied = Vec::new();
        // Only the check holding the threshold-th slot locks, so parallel failures lock once.
        if attempt.account_count == limits.lockout_account_threshold {
            applied.push(self.apply_lock(&attempt, LockScope::Account).await);
        }
        if attempt.pair_count == limits.lockout_threshold {
            applied.push(self.apply_lock(&attempt, LockScope::Ip).await);
        }
        // Locks first, then the end of the flight: a waiter then sees the lock.
        self.settle(&attempt.pair.fail, false).await;
        self.settle(&attempt.account.fail, false).await;
        self.end_ip_flight(&attempt).await;
        applied
    }

    async fn apply_lock(&self, attempt: &PasswordAttempt, scope: LockScope) -> LockApplied {
        let limits = &self.config.limits;
        let keys = match scope {
            LockScope::Ip => &attempt.pair,
            LockScope::Account => &attempt.account,
        };
        let earlier = self.counters.get(&keys.strikes).await.map_or(0, |h| h.count);
        let period = lock_period(limits.lockout_base, limits.lockout_max, earlier);
        let threshold = match scope {
            LockScope::Ip => limits.lockout_threshold,
            LockScope::Account => limits.lockout_account_threshold,
        };
        // Lock first, then let the failure count end with the lock, so the next round
        // starts from zero. The count stays full (not deleted) while the lock lasts: a
        // request that saw no lock yet still cannot reserve a slot and run a check.
        self.counters.set(&keys.lock, 1, period).await;
        self.counters.set(&keys.fail, threshold, period).await;
        self.counters
            .set(&keys.strikes, earlier + 1, period + limits.lockout_memory)
            .await;
        tracing::info!(
            scope = scope.as_str(),
            seconds = period.as_secs(),
            "locked password logins after repeated failures"
        );
        // Unknown logins lock the same way (no oracle) but have no user to audit.
        if let Some(user_id) = &attempt.user_id {
            let event = attempt
                .meta
                .event(&attempt.tenant, "user.locked", Some(user_id), self.clock.now_ms())
                .with_detail(json!({
                    "scope": scope.as_str(),
                    "seconds": period.as_secs(),
                    "reason": "failed_passwords",
                }));
            if let Err(e) = self.store.record(&event).await {
                tracing::warn!(error = %e, "could not record a lock");
            }
        }
        LockApplied { scope, period }
    }

    /// Gives back the reserved slots when the check could not run (not a wrong password).
    pub async fn release_password_check(&self, attempt: PasswordAttempt) {
        self.settle(&attempt.pair.fail, true).await;
        self.settle(&attempt.account.fail, true).await;
        self.give_back_ip_slot(&attempt).await;
    }

    /// Refuses credential checks early from an IP whose failure budget is spent by settled
    /// failures (slots of checks in flight do not count: they may yet be given back; the
    /// atomic reservation happens in [`Domain::begin_password_check`]).
    pub async fn limit_login_ip(&self, meta: &Meta) -> DomainResult<()> {
        let Some(ip) = &meta.ip else { return Ok(()) };
        let l = self.config.limits.failed_logins_per_ip;
        let key = format!("failip:{ip}");
        let Some(hit) = self.counters.get(&key).await else {
            return Ok(());
        };
        if hit.count < l.max {
            return Ok(());
        }
        let running = self.counters.get(&in_flight(&key)).await.map_or(0, |h| h.count);
        if hit.count.saturating_sub(running) >= l.max {
            Err(throttled(LimitPolicy::new("failed_logins_ip", l), hit.ttl))
        } else {
            Ok(())
        }
    }
}

impl Domain {
    /// Locks a user's password logins for `duration` (admin action).
    pub async fn lock_user(&self, user: &UserRecord, duration: std::time::Duration) {
        let account = account_key(Some(user), &user.tenant_id, "");
        let (_, keys) = self.account_scope(&account).await;
        self.counters.set(&keys.lock, 1, duration).await;
    }

    /// Lifts every lock (account-wide and per IP) and forgets the failures (admin action).
    pub async fn unlock_user(&self, user: &UserRecord) {
        let account = account_key(Some(user), &user.tenant_id, "");
        // A new epoch orphans every key of the old one; they expire on their own.
        let epoch_key = format!("lk:epoch:{account}");
        let next = self.lock_epoch(&account).await.saturating_add(1);
        let stamp = u64::try_from(self.clock.now_ms()).unwrap_or(0).max(next);
        self.counters.set(&epoch_key, stamp, EPOCH_TTL).await;
    }

    /// Seconds left on a user's account-wide lock, if locked.
    pub async fn lock_remaining(&self, user: &UserRecord) -> Option<u64> {
        let account = account_key(Some(user), &user.tenant_id, "");
        let (_, keys) = self.account_scope(&account).await;
        self.counters.get(&keys.lock).await.map(|h| secs(h.ttl))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn the_lock_period_doubles_on_each_repeat_up_to_the_maximum() {
        let (base, max) = (15 * MIN, 24 * 60 * MIN);
        let periods: Vec<u64> = (0..9).map(|n| lock_period(base, max, n).as_secs() / 60).collect();
        assert_eq!(periods, [15, 30, 60, 120, 240, 480, 960, 1440, 1440]);
    }

    #[test]
    fn huge_repeat_counts_stay_at_the_maximum() {
        let (base, max) = (15 * MIN, 24 * 60 * MIN);
        for n in [31, 32, 33, 64, u64::MAX] {
            assert_eq!(lock_period(base, max, n), max, "{n}");
        }
        assert_eq!(lock_period(Duration::MAX, max, 1), max);
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(secs(Duration::ZERO), 1);
        assert_eq!(secs(Duration::from_millis(1)), 1);
        assert_eq!(secs(Duration::from_millis(1001)), 2);
        assert_eq!(secs(Duration::from_secs(900)), 900);
    }
}

//! Password hashing: argon2id for new hashes, legacy bcrypt verified and upgraded.
//!
//! Hashing is CPU-heavy, so it runs on the blocking pool behind a semaphore that bounds how
//! many hashes run at once (a login flood queues instead of starving the runtime). The queue
//! itself is bounded too, by length and by wait: past either, a check is shed at once with
//! [`HashError::Busy`] (503 + `Retry-After`) instead of waiting for seconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::{Semaphore, TryAcquireError};

use crate::config::Argon2Params;
use crate::config::Secret;

/// Outcome of a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// Whether the password matched.
    pub ok: bool,
    /// Whether the stored hash should be replaced by one with current parameters.
    pub needs_rehash: bool,
}

/// Hashing could not be done.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Failed for a reason that is not the caller's.
    #[error("password hashing failed: {0}")]
    Failed(String),
    /// Too many checks wait already, or this one waited too long: retry later.
    #[error("too many password checks in progress")]
    Busy {
        /// Seconds after which a retry may succeed.
        retry_after: u64,
    },
}

fn failed(e: impl std::fmt::Display) -> HashError {
    HashError::Failed(e.to_string())
}

/// Hashes and verifies passwords off the async executor.
#[derive(Clone)]
pub struct Hasher {
    params: Argon2Params,
    permits: Arc<Semaphore>,
    /// A hash of a random password, verified for unknown users so they cost the same time.
    dummy: Arc<String>,
    queue: Arc<Queue>,
}

/// Bounds on the checks waiting for a slot.
struct Queue {
    max: usize,
    timeout: Duration,
    waiting: AtomicUsize,
}

/// Counts one waiter while it lives (also when its request is dropped mid-wait).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Hasher {
    /// Builds a hasher with an unbounded queue; computes the dummy hash once.
    pub fn new(params: Argon2Params, concurrency: usize) -> Result<Self, HashError> {
        let dummy = hash_blocking(params, &uuid::Uuid::new_v4().to_string())?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy: Arc::new(dummy),
            queue: Arc::new(Queue {
                max: usize::MAX,
                timeout: Duration::MAX,
                waiting: AtomicUsize::new(0),
            }),
        })
    }

    /// Bounds the queue: at most `max` checks wait for a slot, each at most `timeout`.
    pub fn with_queue(mut self, max: usize, timeout: Duration) -> Self {
        self.queue = Arc::new(Queue {
            max,
            timeout,
            waiting: AtomicUsize::new(0),
        });
        self
    }

    /// Hashes a password with argon2id and the configured cost.
    pub async fn hash(&self, password: &Secret) -> Result<String, HashError> {
        let params = self.params;
        let password = password.clone();
        self.run(move || hash_blocking(params, password.expose())).await?
    }

    /// Verifies a password against a stored argon2 or bcrypt hash.
    pub async fn verify(&self, password: &Secret, stored: &str) -> Result<Verified, HashError> {
        let params = self.params;
        let password = password.clone();
        let stored = stored.to_string();
        self.run(move || verify_blocking(params, password.expose(), &stored))
            .await?
    }

    /// Spends the time of one verification and fails, for users that do not exist.
    pub async fn verify_dummy(&self, password: &Secret) -> Result<(), HashError> {
        let dummy = self.dummy.clone();
        self.verify(password, &dummy).await.map(|_| ())
    }

    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, HashError> {
        let _permit = match self.permits.try_acquire() {
            Ok(p) => p,
            Err(TryAcquireError::Closed) => return Err(failed("hashing slots closed")),
            Err(TryAcquireError::NoPermits) => {
                let q = &self.queue;
                let before = q.waiting.fetch_add(1, Ordering::Relaxed);
                let _waiting = Waiting(&q.waiting);
                if before >= q.max {
                    return Err(self.shed());
                }
                match tokio::time::timeout(q.timeout, self.permits.acquire()).await {
                    Ok(p) => p.map_err(failed)?,
                    Err(_) => return Err(self.shed()),
                }
            }
        };
        tokio::task::spawn_blocking(f).await.map_err(failed)
    }

    fn shed(&self) -> HashError {
        metrics::counter!("portcullis_password_checks_shed_total").increment(1);
        HashError::Busy { retry_after: 1 }
    }
}

fn argon2(params: Argon2Params) -> Result<Argon2<'static>, HashError> {
    let p = Params::new(params.memory_kib, params.iterations, params.parallelism, None).map_err(failed)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, p))
}

fn hash_blocking(params: Argon2Params, password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2(params)?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(failed)
}

fn verify_blocking(params: Argon2Params, password: &str, stored: &str) -> Result<Verified, HashError> {
    if stored.starts_with("$2a$") || stored.starts_with("$2b$") || stored.starts_with("$2y$") {
        // bcrypt only looks at the first 72 bytes; a stored legacy hash is always upgraded.
        let ok = bcrypt::verify(password, stored).unwrap_or(false);
        return Ok(Verified { ok, needs_rehash: ok });
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        return Ok(Verified {
            ok: false,
            needs_rehash: false,
        });
    };
    // Verify with the hash's own parameters, then compare them to the current ones.
    let ok = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
    let weaker = match Params::try_from(&parsed) {
        Ok(p) => {
            parsed.algorithm.as_str() != "argon2id"
                || p.m_cost() < params.memory_kib
                || p.t_cost() < params.iterations
                || p.p_cost() < params.parallelism
        }
        Err(_) => true,
    };
    Ok(Verified {
        ok,
        needs_rehash: ok && weaker,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIGHT: Argon2Params = Argon2Params {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    #[tokio::test]
    async fn argon2id_round_trip() {
        let h = Hasher::new(LIGHT, 2).unwrap();
        let hash = h.hash(&Secret::new("correct horse")).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(h.verify(&Secret::new("correct horse"), &hash).await.unwrap().ok);
        assert!(!h.verify(&Secret::new("wrong horse"), &hash).await.unwrap().ok);
    }

    #[tokio::test]
    async fn weaker_hash_asks_for_rehash() {
        let weak = Hasher::new(LIGHT, 1).unwrap();
        let hash = weak.hash(&Secret::new("pw-123456")).await.unwrap();
        let strong = Hasher::new(
            Argon2Params {
                memory_kib: 128,
                ..LIGHT
            },
            1,
        )
        .unwrap();
        let v = strong.verify(&Secret::new("pw-123456"), &hash).await.unwrap();
        assert_eq!(
            v,
            Verified {
                ok: true,
                needs_rehash: true
            }
        );
    }

    #[tokio::test]
    async fn legacy_bcrypt_verifies_and_is_upgraded() {
        let h = Hasher::new(LIGHT, 1).unwrap();
        for prefix in ["$2b$", "$2a$", "$2y$"] {
            let hash = bcrypt::hash("legacy-pass", 4).unwrap().replacen("$2b$", prefix, 1);
            let v = h.verify(&Secret::new("legacy-pass"), &hash).await.unwrap();
            assert_eq!(
                v,
                Verified {
                    ok: true,
                    needs_rehash: true
                },
                "{prefix}"
            );
            assert!(!h.verify(&Secret::new("other"), &hash).await.unwrap().ok);
        }
    }

    #[tokio::test]
    async fn garbage_hash_never_matches() {
        let h = Hasher::new(LIGHT, 1).unwrap();
        assert!(!h.verify(&Secret::new("x"), "not a hash").await.unwrap().ok);
        assert!(h.verify_dummy(&Secret::new("x")).await.is_ok());
    }

    #[tokio::test]
    async fn a_full_queue_sheds_at_once_and_a_long_wait_sheds_too() {
        let slow = Argon2Params {
            memory_kib: 8192,
            iterations: 4,
            parallelism: 1,
        };
        let h = Hasher::new(slow, 1).unwrap().with_queue(1, Duration::from_secs(60));
        let pw = Secret::new("pw-123456");
        // One runs, one waits, the third finds the queue full.
        let (a, b, c) = tokio::join!(h.hash(&pw), h.hash(&pw), async {
            tokio::task::yield_now().await;
            h.hash(&pw).await
        });
        assert!(a.is_ok() && b.is_ok());
        assert!(matches!(c, Err(HashError::Busy { retry_after: 1 })), "{c:?}");
        // Nothing is left counted as waiting.
        assert_eq!(h.queue.waiting.load(Ordering::Relaxed), 0);

        let h = Hasher::new(slow, 1).unwrap().with_queue(10, Duration::ZERO);
        let (a, b) = tokio::join!(h.hash(&pw), async {
            tokio::task::yield_now().await;
            h.hash(&pw).await
        });
        assert!(a.is_ok());
        assert!(matches!(b, Err(HashError::Busy { .. })), "{b:?}");
    }

    #[test]
    fn production_parameters_hash_and_verify() {
        let params = Argon2Params {
            memory_kib: 19456,
            iterations: 2,
            parallelism: 1,
        };
        let hash = hash_blocking(params, "production-grade").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(
            verify_blocking(params, "production-grade", &hash).unwrap(),
            Verified {
                ok: true,
                needs_rehash: false
            }
        );
    }
}

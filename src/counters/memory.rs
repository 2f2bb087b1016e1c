//! In-process counters: the embedded default and the fallback when Redis fails.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{CounterBackend, CounterError, Hit, Reservation};

/// Counters in a mutex-guarded map; expired entries are pruned as the map grows.
#[derive(Clone, Default)]
pub struct MemoryCounters {
    map: Arc<Mutex<HashMap<String, (u64, Instant)>>>,
}

/// Prune expired entries once the map holds this many.
const PRUNE_AT: usize = 10_000;

impl MemoryCounters {
    /// An empty set of counters.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, (u64, Instant)>> {
        // A panic while holding the lock cannot leave a counter half-written.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn live(map: &mut HashMap<String, (u64, Instant)>, key: &str, now: Instant) -> Option<(u64, Instant)> {
        match map.get(key) {
            Some(&(c, exp)) if exp > now => Some((c, exp)),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }

    fn bump(&self, key: &str, max: Option<u64>, window: Duration) -> Reservation {
        let now = Instant::now();
        let mut map = self.lock();
        if map.len() >= PRUNE_AT {
            map.retain(|_, (_, exp)| *exp > now);
        }
        let (count, exp) = Self::live(&mut map, key, now).unwrap_or((0, now + window));
        if max.is_some_and(|m| count >= m) {
            return Reservation {
                granted: false,
                hit: Hit { count, ttl: exp - now },
            };
        }
        map.insert(key.to_string(), (count + 1, exp));
        Reservation {
            granted: true,
            hit: Hit {
                count: count + 1,
                ttl: exp - now,
            },
        }
    }
}

#[async_trait]
impl CounterBackend for MemoryCounters {
    async fn incr(&self, key: &str, window: Duration) -> Result<Hit, CounterError> {
        Ok(self.bump(key, None, window).hit)
    }

    async fn incr_below(&self, key: &str, max: u64, window: Duration) -> Result<Reservation, CounterError> {
        Ok(self.bump(key, Some(max), window))
    }

    async fn decr(&self, key: &str) -> Result<(), CounterError> {
        let now = Instant::now();
        let mut map = self.lock();
        if let Some((c, exp)) = Self::live(&mut map, key, now) {
            map.insert(key.to_string(), (c.saturating_sub(1), exp));
        }
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Hit>, CounterError> {
        let now = Instant::now();
        let mut map = self.lock();
        Ok(Self::live(&mut map, key, now).map(|(count, exp)| Hit { count, ttl: exp - now }))
    }

    async fn set(&self, key: &str, value: u64, ttl: Duration) -> Result<(), CounterError> {
        self.lock().insert(key.to_string(), (value, Instant::now() + ttl));
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), CounterError> {
        self.lock().remove(key);
        Ok(())
    }

    async fn ping(&self) -> Result<(), CounterError> {
        Ok(())
    }
}

//! Redis counters: every decision is one Lua script, so it is atomic across instances.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};
use tokio::sync::Mutex;

use super::{CounterBackend, CounterError, Hit, Reservation};

/// Counters kept in Redis under a key prefix.
pub struct RedisCounters {
    client: Client,
    prefix: String,
    conn: Mutex<Option<ConnectionManager>>,
    incr_below: Script,
    decr: Script,
}

const INCR_BELOW: &str = r"
local c = tonumber(redis.call('GET', KEYS[1]) or '0')
local max = tonumber(ARGV[1])
if max >= 0 and c >= max then
  return {0, c, redis.call('PTTL', KEYS[1])}
end
c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]); ttl = tonumber(ARGV[2]) end
return {1, c, ttl}
";

const DECR: &str = r"
local c = tonumber(redis.call('GET', KEYS[1]) or '0')
if c > 0 then redis.call('DECR', KEYS[1]) end
return 0
";

fn err(e: redis::RedisError) -> CounterError {
    CounterError(e.to_string())
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn hit(count: i64, ttl_ms: i64) -> Hit {
    Hit {
        count: count.max(0) as u64,
        ttl: Duration::from_millis(ttl_ms.max(0) as u64),
    }
}

impl RedisCounters {
    /// Parses the URL; the connection is made lazily, so a Redis that is down at start
    /// does not stop the server.
    pub fn new(url: &str, prefix: &str) -> Result<Self, CounterError> {
        Ok(Self {
            client: Client::open(url).map_err(err)?,
            prefix: prefix.to_string(),
            conn: Mutex::new(None),
            incr_below: Script::new(INCR_BELOW),
            decr: Script::new(DECR),
        })
    }

    async fn conn(&self) -> Result<ConnectionManager, CounterError> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_millis(500))
            .set_response_timeout(Duration::from_millis(500))
            .set_number_of_retries(1)
            .set_max_delay(500);
        let c = ConnectionManager::new_with_config(self.client.clone(), config)
            .await
            .map_err(err)?;
        *slot = Some(c.clone());
        Ok(c)
    }

    fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    async fn reserve(&self, key: &str, max: i64, window: Duration) -> Result<Reservation, CounterError> {
        let mut c = self.conn().await?;
        let (granted, count, ttl): (i64, i64, i64) = self
            .incr_below
            .key(self.key(key))
            .arg(max)
            .arg(ms(window))
            .invoke_async(&mut c)
            .await
            .map_err(err)?;
        Ok(Reservation {
            granted: granted == 1,
            hit: hit(count, ttl),
        })
    }
}

#[async_trait]
impl CounterBackend for RedisCounters {
    async fn incr(&self, key: &str, window: Duration) -> Result<Hit, CounterError> {
        Ok(self.reserve(key, -1, window).await?.hit)
    }

    async fn incr_below(&self, key: &str, max: u64, window: Duration) -> Result<Reservation, CounterError> {
        self.reserve(key, i64::try_from(max).unwrap_or(i64::MAX), window).await
    }

    async fn decr(&self, key: &str) -> Result<(), CounterError> {
        let mut c = self.conn().await?;
        let _: i64 = self.decr.key(self.key(key)).invoke_async(&mut c).await.map_err(err)?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Hit>, CounterError> {
        let mut c = self.conn().await?;
        let (count, ttl): (Option<i64>, i64) = redis::pipe()
            .atomic()
            .get(self.key(key))
            .pttl(self.key(key))
            .query_async(&mut c)
            .await
            .map_err(err)?;
        Ok(count.map(|n| hit(n, ttl)))
    }

    async fn set(&self, key: &str, value: u64, ttl: Duration) -> Result<(), CounterError> {
        let mut c = self.conn().await?;
        redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("PX")
            .arg(ms(ttl))
            .query_async::<()>(&mut c)
            .await
            .map_err(err)
    }

    async fn delete(&self, key: &str) -> Result<(), CounterError> {
        let mut c = self.conn().await?;
        redis::cmd("DEL")
            .arg(self.key(key))
            .query_async::<()>(&mut c)
            .await
            .map_err(err)
    }

    async fn ping(&self) -> Result<(), CounterError> {
        let mut c = self.conn().await?;
        redis::cmd("PING")
            .query_async::<String>(&mut c)
            .await
            .map_err(err)
            .map(|_| ())
    }
}

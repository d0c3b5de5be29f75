//! Which events were handed over already: in memory ([`Remembered`]) or,
//! for several receivers behind one load balancer, in Redis
//! ([`RedisSeen`], feature `redis`).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::sync::lock;

/// Remembers the events a receiver handed over, so that a repeated delivery
/// is acknowledged without being handed over again.
pub trait Seen: Send + Sync {
    /// Claims `key` before its event is handed over: `Ok(true)` when no
    /// event with it was handed over (or is being), `Ok(false)` for a
    /// repeat. An error leaves the delivery unanswered (500), so that it
    /// comes again.
    fn claim(&self, key: &str) -> Result<bool, String>;
    /// Gives a claim back: its event could not be handled, and a repeat of
    /// it must be.
    fn release(&self, key: &str);
}

/// The keys of the last `capacity` events, each for at most `ttl`: memory
/// is bounded by `capacity` (about 100 bytes a key).
///
/// ```
/// use tim_follow::receiver::{Remembered, Seen};
/// let seen = Remembered::new(2, std::time::Duration::from_secs(600));
/// assert_eq!(seen.claim("a"), Ok(true));
/// assert_eq!(seen.claim("a"), Ok(false));
/// seen.release("a");
/// assert_eq!(seen.claim("a"), Ok(true));
/// seen.claim("b").unwrap();
/// seen.claim("c").unwrap(); // "a" is forgotten: two keys at most
/// assert_eq!(seen.claim("a"), Ok(true));
/// ```
#[derive(Debug)]
pub struct Remembered {
    capacity: usize,
    ttl: Duration,
    keys: Mutex<Keys>,
}

#[derive(Debug, Default)]
struct Keys {
    at: HashMap<String, Instant>,
    order: VecDeque<(String, Instant)>,
}

impl Remembered {
    /// Remembers up to `capacity` keys (at least 1), each for `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Remembered {
        Remembered {
            capacity: capacity.max(1),
            ttl,
            keys: Mutex::new(Keys::default()),
        }
    }

    /// Remembers `key` as handed over (for a restart: the keys of the
    /// events already stored).
    pub fn insert(&self, key: &str) {
        let _ = self.claim(key);
    }

    /// Keys remembered now.
    pub fn len(&self) -> usize {
        lock(&self.keys).at.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Seen for Remembered {
    fn claim(&self, key: &str) -> Result<bool, String> {
        let now = Instant::now();
        let mut keys = lock(&self.keys);
        // Forget the expired and, past the capacity, the oldest.
        while let Some((k, at)) = keys.order.front() {
            let expired = now.duration_since(*at) > self.ttl;
            if !expired && keys.order.len() < self.capacity {
                break;
            }
            // A key claimed again later has a newer entry: keep that one.
            if keys.at.get(k) == Some(at) {
                let k = k.clone();
                keys.at.remove(&k);
            }
            keys.order.pop_front();
        }
        if let Some(at) = keys.at.get(key) {
            if now.duration_since(*at) <= self.ttl {
                return Ok(false);
            }
        }
        keys.at.insert(key.to_string(), now);
        keys.order.push_back((key.to_string(), now));
        Ok(true)
    }

    fn release(&self, key: &str) {
        lock(&self.keys).at.remove(key);
    }
}

/// The keys of handled events in Redis, shared by every receiver that uses
/// the same Redis: `SET key 1 NX EX ttl` claims, `DEL` gives back. Keys are
/// `tim-follow:{sdkappid}:event:{key}`. While Redis cannot be reached,
/// deliveries are answered 500 (not handled), so that they come again.
#[cfg(feature = "redis")]
pub struct RedisSeen {
    pool: crate::redis_pool::Pool,
    prefix: String,
    ttl_secs: u64,
}

#[cfg(feature = "redis")]
impl std::fmt::Debug for RedisSeen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSeen")
            .field("prefix", &self.prefix)
            .field("ttl_secs", &self.ttl_secs)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "redis")]
impl RedisSeen {
    /// Keys of app `sdkappid` in the Redis at `url`, each kept for `ttl`
    /// (at least a second). Nothing is connected yet.
    pub fn new(url: &str, sdkappid: u64, ttl: Duration) -> Result<RedisSeen, crate::Error> {
        Ok(RedisSeen {
            pool: crate::redis_pool::Pool::open(url, Duration::from_millis(500))?,
            prefix: format!("tim-follow:{sdkappid}:event:"),
            ttl_secs: ttl.as_secs().max(1),
        })
    }
}

#[cfg(feature = "redis")]
impl Seen for RedisSeen {
    fn claim(&self, key: &str) -> Result<bool, String> {
        let name = format!("{}{key}", self.prefix);
        self.pool
            .with(|con| {
                ::redis::cmd("SET")
                    .arg(&name)
                    .arg(1)
                    .arg("NX")
                    .arg("EX")
                    .arg(self.ttl_secs)
                    .query::<Option<String>>(con)
            })
            .map(|set| set.is_some())
            .map_err(|e| format!("Redis: {e}"))
    }

    fn release(&self, key: &str) {
        let name = format!("{}{key}", self.prefix);
        let _ = self
            .pool
            .with(|con| ::redis::cmd("DEL").arg(&name).query::<i64>(con));
    }
}

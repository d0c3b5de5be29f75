//! Which events were handed over already: in memory ([`Remembered`]) or,
//! for several receivers behind one load balancer, in Redis
//! ([`RedisSeen`], feature `redis`).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::sync::lock;

/// What [`Seen::claim`] found for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Claim {
    /// No event with this key was handled nor is being: the caller holds
    /// the key now and must end with [`Seen::done`] or [`Seen::release`].
    Claimed,
    /// An event with this key was handled (stored): a repeat, to be
    /// acknowledged without being handed over again.
    Done,
    /// Another copy of the event is being handled right now: its outcome
    /// is not known yet, so the repeat must not be acknowledged yet.
    InFlight,
}

/// Remembers the events a receiver handed over, so that a repeated delivery
/// is acknowledged without being handed over again, and only once the first
/// copy is stored.
pub trait Seen: Send + Sync {
    /// Claims `key` before its event is handed over. An error leaves the
    /// delivery unanswered (500), so that it comes again.
    fn claim(&self, key: &str) -> Result<Claim, String>;
    /// The claimed event was handled: repeats of it are acknowledged from
    /// now on.
    fn done(&self, key: &str);
    /// Gives a claim back: its event could not be handled, and a repeat of
    /// it must be.
    fn release(&self, key: &str);
    /// Whether claims can be made now (for `GET /healthz`): `Err(why)`
    /// when not, such as a database that does not answer.
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

/// The keys of the last `capacity` events, each for at most `ttl`: memory
/// is bounded by `capacity` (about 100 bytes a key).
///
/// ```
/// use tim_follow::receiver::{Claim, Remembered, Seen};
/// let seen = Remembered::new(2, std::time::Duration::from_secs(600));
/// assert_eq!(seen.claim("a"), Ok(Claim::Claimed));
/// assert_eq!(seen.claim("a"), Ok(Claim::InFlight)); // not handled yet
/// seen.release("a"); // its handler failed
/// assert_eq!(seen.claim("a"), Ok(Claim::Claimed));
/// seen.done("a");
/// assert_eq!(seen.claim("a"), Ok(Claim::Done));
/// seen.claim("b").unwrap();
/// seen.claim("c").unwrap(); // "a" is forgotten: two keys at most
/// assert_eq!(seen.claim("a"), Ok(Claim::Claimed));
/// ```
#[derive(Debug)]
pub struct Remembered {
    capacity: usize,
    ttl: Duration,
    keys: Mutex<Keys>,
}

#[derive(Debug, Default)]
struct Keys {
    /// When each key was claimed, and whether its event was handled.
    at: HashMap<String, (Instant, bool)>,
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

    /// Remembers `key` as handled (for a restart: the keys of the events
    /// already stored).
    pub fn insert(&self, key: &str) {
        if self.claim(key) == Ok(Claim::Claimed) {
            self.done(key);
        }
    }

    /// Remembers `key` as handled `age` ago (for a restart: an event
    /// stored then), for what is left of `ttl`; nothing when `age` is past it.
    pub fn insert_aged(&self, key: &str, age: Duration) {
        if age > self.ttl {
            return;
        }
        let at = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
        let mut keys = lock(&self.keys);
        if keys.at.contains_key(key) {
            return;
        }
        while keys.order.len() >= self.capacity {
            let Some((k, t)) = keys.order.pop_front() else {
                break;
            };
            if keys.at.get(&k).map(|(t, _)| t) == Some(&t) {
                keys.at.remove(&k);
            }
        }
        keys.at.insert(key.to_string(), (at, true));
        keys.order.push_back((key.to_string(), at));
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
    fn claim(&self, key: &str) -> Result<Claim, String> {
        let now = Instant::now();
        let mut keys = lock(&self.keys);
        // Forget the expired and, past the capacity, the oldest.
        while let Some((k, at)) = keys.order.front() {
            let expired = now.duration_since(*at) > self.ttl;
            if !expired && keys.order.len() < self.capacity {
                break;
            }
            // A key claimed again later has a newer entry: keep that one.
            if keys.at.get(k).map(|(t, _)| t) == Some(at) {
                let k = k.clone();
                keys.at.remove(&k);
            }
            keys.order.pop_front();
        }
        if let Some((at, done)) = keys.at.get(key) {
            if now.duration_since(*at) <= self.ttl {
                return Ok(if *done { Claim::Done } else { Claim::InFlight });
            }
        }
        keys.at.insert(key.to_string(), (now, false));
        keys.order.push_back((key.to_string(), now));
        Ok(Claim::Claimed)
    }

    fn done(&self, key: &str) {
        if let Some((_, done)) = lock(&self.keys).at.get_mut(key) {
            *done = true;
        }
    }

    fn release(&self, key: &str) {
        let mut keys = lock(&self.keys);
        if keys.at.get(key).is_some_and(|(_, done)| !done) {
            keys.at.remove(key);
        }
    }
}

/// The keys of handled events in Redis, shared by every receiver that uses
/// the same Redis. A claim is `in-flight` for a short time (60 s by
/// default, [`in_flight_ttl`](RedisSeen::in_flight_ttl)), so that a
/// receiver that died while handling an event does not hold it for the
/// whole window; a handled event's key is `done` for `ttl`. Keys are
/// `tim-follow:{sdkappid}:event:{key}`. While Redis cannot be reached,
/// deliveries are answered 500 (not handled), so that they come again.
#[cfg(feature = "redis")]
pub struct RedisSeen {
    pool: crate::redis_pool::Pool,
    claim: ::redis::Script,
    release: ::redis::Script,
    prefix: String,
    ttl_secs: u64,
    in_flight_secs: u64,
}

/// Claims a key atomically: 0 claimed (now `in-flight`), 1 handled, 2 in
/// flight elsewhere. A value other than `in-flight` (such as the `1` that
/// earlier versions wrote) is a handled event.
#[cfg(feature = "redis")]
const CLAIM: &str = r"
if redis.call('SET', KEYS[1], 'in-flight', 'NX', 'EX', ARGV[1]) then return 0 end
if redis.call('GET', KEYS[1]) == 'in-flight' then return 2 end
return 1
";

/// Gives a claim back: only an `in-flight` key is deleted, never a `done`.
#[cfg(feature = "redis")]
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == 'in-flight' then return redis.call('DEL', KEYS[1]) end
return 0
";

#[cfg(feature = "redis")]
impl std::fmt::Debug for RedisSeen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSeen")
            .field("prefix", &self.prefix)
            .field("ttl_secs", &self.ttl_secs)
            .field("in_flight_secs", &self.in_flight_secs)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "redis")]
impl RedisSeen {
    /// Keys of app `sdkappid` in the Redis at `url`, each handled event's
    /// kept for `ttl` (at least a second). Nothing is connected yet.
    pub fn new(url: &str, sdkappid: u64, ttl: Duration) -> Result<RedisSeen, crate::Error> {
        Ok(RedisSeen {
            pool: crate::redis_pool::Pool::open(url, Duration::from_millis(500))?,
            claim: ::redis::Script::new(CLAIM),
            release: ::redis::Script::new(RELEASE),
            prefix: format!("tim-follow:{sdkappid}:event:"),
            ttl_secs: ttl.as_secs().max(1),
            in_flight_secs: 60,
        })
    }

    /// How long a claim holds an event whose handler has not ended (default
    /// 60 s, at least a second): longer than the handler may take, short
    /// enough that a receiver that died mid-event does not keep its repeats
    /// unhandled for long.
    #[must_use]
    pub fn in_flight_ttl(mut self, ttl: Duration) -> RedisSeen {
        self.in_flight_secs = ttl.as_secs().max(1);
        self
    }
}

#[cfg(feature = "redis")]
impl Seen for RedisSeen {
    fn claim(&self, key: &str) -> Result<Claim, String> {
        let name = format!("{}{key}", self.prefix);
        self.pool
            .with(|con| {
                self.claim
                    .key(&name)
                    .arg(self.in_flight_secs)
                    .invoke::<i64>(con)
            })
            .map(|found| match found {
                0 => Claim::Claimed,
                2 => Claim::InFlight,
                _ => Claim::Done,
            })
            .map_err(|e| format!("Redis: {e}"))
    }

    fn done(&self, key: &str) {
        let name = format!("{}{key}", self.prefix);
        let _ = self.pool.with(|con| {
            ::redis::cmd("SET")
                .arg(&name)
                .arg("done")
                .arg("EX")
                .arg(self.ttl_secs)
                .query::<Option<String>>(con)
        });
    }

    fn release(&self, key: &str) {
        let name = format!("{}{key}", self.prefix);
        let _ = self
            .pool
            .with(|con| self.release.key(&name).invoke::<i64>(con));
    }

    fn check(&self) -> Result<(), String> {
        self.pool
            .with(|con| ::redis::cmd("PING").query::<String>(con))
            .map(|_| ())
            .map_err(|e| format!("Redis: {e}"))
    }
}

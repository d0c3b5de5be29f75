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
/// is bounded by `capacity`: each key is kept as a 128-bit digest, about
/// 50 bytes a key (so 1,000,000 keys take about 50 MiB, up to twice that
/// while the table grows).
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
    /// Times are kept as nanoseconds since this (negative for an event
    /// remembered from before it).
    epoch: Instant,
    keys: Mutex<Keys>,
}

/// A key's digest: the first 128 bits of its SHA-256.
type Digest = (u64, u64);

#[derive(Debug, Default)]
struct Keys {
    /// When each key was claimed (ns since the epoch, shifted left once)
    /// and, in the lowest bit, whether its event was handled.
    at: HashMap<Digest, i64>,
    /// Keys in the order they were claimed, with when (ns): that time also
    /// tells an entry from a later claim of the same key.
    order: VecDeque<(Digest, i64)>,
    /// The last claim's time: each claim is later than the one before.
    last: i64,
}

fn digest(key: &str) -> Digest {
    let h = hmac_sha256::Hash::hash(key.as_bytes());
    let half = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&h[i..i + 8]);
        u64::from_le_bytes(b)
    };
    (half(0), half(8))
}

fn pack(ms: i64, done: bool) -> i64 {
    (ms << 1) | i64::from(done)
}

fn unpack(packed: i64) -> (i64, bool) {
    (packed >> 1, packed & 1 == 1)
}

impl Remembered {
    /// Remembers up to `capacity` keys (at least 1), each for `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Remembered {
        Remembered {
            capacity: capacity.max(1),
            ttl,
            epoch: Instant::now(),
            keys: Mutex::new(Keys::default()),
        }
    }

    fn now_ns(&self) -> i64 {
        i64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(i64::MAX >> 2)
    }

    fn ttl_ns(&self) -> i64 {
        i64::try_from(self.ttl.as_nanos()).unwrap_or(i64::MAX >> 2)
    }

    /// Remembers `key` as handled (for a restart: the keys of the events
    /// already stored).
    pub fn insert(&self, key: &str) {
        self.insert_aged(key, Duration::ZERO);
    }

    /// Remembers `key` as handled `age` ago (for a restart: an event
    /// stored then), for what is left of `ttl`; nothing when `age` is past it.
    pub fn insert_aged(&self, key: &str, age: Duration) {
        if age > self.ttl {
            return;
        }
        let age = i64::try_from(age.as_nanos()).unwrap_or(i64::MAX >> 2);
        let now = self.now_ns();
        let at = now - age;
        let d = digest(key);
        let mut keys = lock(&self.keys);
        self.forget(&mut keys, now);
        if keys.at.contains_key(&d) {
            return;
        }
        keys.at.insert(d, pack(at, true));
        keys.order.push_back((d, at));
    }

    /// Forgets the expired keys and, past the capacity, the oldest.
    fn forget(&self, keys: &mut Keys, now: i64) {
        while let Some(&(d, at)) = keys.order.front() {
            let expired = now - at > self.ttl_ns();
            if !expired && keys.order.len() < self.capacity {
                break;
            }
            // A key claimed again later has a newer entry: keep that one.
            if keys.at.get(&d).map(|&p| unpack(p).0) == Some(at) {
                keys.at.remove(&d);
            }
            keys.order.pop_front();
        }
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
        let d = digest(key);
        let mut keys = lock(&self.keys);
        let now = self.now_ns().max(keys.last + 1);
        keys.last = now;
        self.forget(&mut keys, now);
        if let Some(&packed) = keys.at.get(&d) {
            let (at, done) = unpack(packed);
            if now - at <= self.ttl_ns() {
                return Ok(if done { Claim::Done } else { Claim::InFlight });
            }
        }
        keys.at.insert(d, pack(now, false));
        keys.order.push_back((d, now));
        Ok(Claim::Claimed)
    }

    fn done(&self, key: &str) {
        if let Some(packed) = lock(&self.keys).at.get_mut(&digest(key)) {
            *packed |= 1;
        }
    }

    fn release(&self, key: &str) {
        let d = digest(key);
        let mut keys = lock(&self.keys);
        if keys.at.get(&d).is_some_and(|&p| !unpack(p).1) {
            keys.at.remove(&d);
        }
    }
}

/// The keys of handled events in Redis, shared by every receiver that uses
/// the same Redis. A claim is `in-flight` for a short time (60 s by
/// default, [`in_flight_ttl`](RedisSeen::in_flight_ttl)), so that a
/// receiver that died while handling an event does not hold it for the
/// whole window; a handled event's key is `done` for `ttl`. Keys are
/// `tim-follow:{sdkappid}:event:{key}`. While Redis cannot be reached,
/// deliveries are answered 500 (not handled), so that they come again. A
/// handled event whose `done` could not be written stays `in-flight` until
/// that TTL ends, and may then be handed over again: a repeat, never a loss.
/// Each claim carries a token of its own, so that a receiver that kept a
/// claim past its TTL gives back only its own, never another receiver's
/// later claim of the same event.
#[cfg(feature = "redis")]
pub struct RedisSeen {
    pool: crate::redis_pool::Pool,
    claim: ::redis::Script,
    release: ::redis::Script,
    /// The token of each claim this receiver holds (until done or released).
    held: std::sync::Mutex<std::collections::HashMap<String, String>>,
    prefix: String,
    ttl_secs: u64,
    in_flight_secs: u64,
}

/// Claims a key atomically with the claim's token (`in-flight:…`, ARGV[2]):
/// 0 claimed, 1 handled, 2 in flight elsewhere. A value that does not start
/// with `in-flight` (`done`, or the `1` that earlier versions wrote) is a
/// handled event.
#[cfg(feature = "redis")]
const CLAIM: &str = r"
if redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[1]) then return 0 end
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 9) == 'in-flight' then return 2 end
return 1
";

/// Gives a claim back: the key is deleted only while it still holds this
/// claim's token (ARGV[1]), never a `done` nor another receiver's claim.
#[cfg(feature = "redis")]
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
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
            held: std::sync::Mutex::new(std::collections::HashMap::new()),
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
        let token = format!(
            "in-flight:{}:{:016x}",
            std::process::id(),
            fastrand::u64(..)
        );
        let found = self
            .pool
            .with(|con| {
                self.claim
                    .key(&name)
                    .arg(self.in_flight_secs)
                    .arg(&token)
                    .invoke::<i64>(con)
            })
            .map_err(|e| format!("Redis: {e}"))?;
        Ok(match found {
            0 => {
                crate::sync::lock(&self.held).insert(name, token);
                Claim::Claimed
            }
            2 => Claim::InFlight,
            _ => Claim::Done,
        })
    }

    fn done(&self, key: &str) {
        let name = format!("{}{key}", self.prefix);
        crate::sync::lock(&self.held).remove(&name);
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
        let Some(token) = crate::sync::lock(&self.held).remove(&name) else {
            return;
        };
        let _ = self
            .pool
            .with(|con| self.release.key(&name).arg(&token).invoke::<i64>(con));
    }

    fn check(&self) -> Result<(), String> {
        self.pool
            .with(|con| ::redis::cmd("PING").query::<String>(con))
            .map(|_| ())
            .map_err(|e| format!("Redis: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_remembered_from_before_a_restart_last_what_is_left_of_the_window() {
        let day = Duration::from_secs(24 * 3600);
        let seen = Remembered::new(10, day);
        seen.insert_aged("old", day + Duration::from_secs(1));
        seen.insert_aged("recent", Duration::from_secs(3600));
        assert_eq!(seen.len(), 1);
        assert_eq!(seen.claim("recent"), Ok(Claim::Done));
        assert_eq!(seen.claim("old"), Ok(Claim::Claimed));
        // Handled keys are not given back by a failed copy.
        seen.release("recent");
        assert_eq!(seen.claim("recent"), Ok(Claim::Done));
    }

    #[test]
    fn a_key_claimed_again_after_a_release_is_not_forgotten_with_its_old_entry() {
        let seen = Remembered::new(2, Duration::from_secs(600));
        for _ in 0..1000 {
            assert_eq!(seen.claim("a"), Ok(Claim::Claimed));
            seen.release("a");
        }
        assert_eq!(seen.claim("a"), Ok(Claim::Claimed));
        seen.done("a");
        assert_eq!(seen.claim("a"), Ok(Claim::Done));
        assert!(seen.len() <= 2);
    }
}

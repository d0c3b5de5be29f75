//! A rate budget shared by any number of processes through Redis (feature
//! `redis`): one atomic script per call reserves the next slot of the app's
//! endpoint (GCRA: the "theoretical arrival time" is kept in one key per
//! SDKAppID and endpoint, on Redis's own clock).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{interval, LocalLimiter, RateLimit};
use crate::error::Error;
use crate::redis_pool::Pool;
use crate::sync::lock;

/// Reserves the next slot: returns how many microseconds to wait for it.
/// KEYS[1]: the budget's key; ARGV[1]: the spacing in microseconds.
const RESERVE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local spacing = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local next_tat = tat + spacing
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.floor((next_tat - now) / 1000) + 1000)
return tat - now
";

/// How long Redis may take to connect or answer before the fallback is used.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);
/// How long the fallback is used before Redis is tried again.
const RETRY_REDIS_AFTER: Duration = Duration::from_secs(5);
/// The longest wait a reservation may ask for: past it the budget is far
/// oversubscribed, and the call waits this long and asks again.
const LONGEST_WAIT: Duration = Duration::from_secs(10);

/// A calls-per-second budget shared through Redis by every process (on any
/// machine) that uses the same Redis, SDKAppID and rate: together they stay
/// within it. Tencent's limit is per app and per endpoint, whoever calls.
///
/// When Redis cannot be reached or answers too slowly (250 ms), the limiter
/// falls back to an in-process limit of a conservative share of the budget
/// (a quarter by default: [`fallback_share`](RedisLimiter::fallback_share)),
/// says so once in the log, and tries Redis again 5 s later. It never
/// blocks for long on Redis.
///
/// ```no_run
/// use std::sync::Arc;
/// use tim_follow::{Client, RedisLimiter};
///
/// # fn main() -> Result<(), tim_follow::Error> {
/// let budget = RedisLimiter::new("redis://127.0.0.1:6379", 1400000000, 200.0)?;
/// let client = Client::builder(1400000000, "administrator")
///     .secret_key("...")
///     .rate_limiter(Arc::new(budget))
///     .build()?;
/// # let _ = client; Ok(()) }
/// ```
pub struct RedisLimiter {
    pool: Pool,
    script: ::redis::Script,
    prefix: String,
    rate: f64,
    fallback: LocalLimiter,
    share: f64,
    down_until: Mutex<Option<Instant>>,
    warned: AtomicBool,
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("prefix", &self.prefix)
            .field("rate", &self.rate)
            .field("fallback_share", &self.share)
            .finish_non_exhaustive()
    }
}

impl RedisLimiter {
    /// A budget of `per_second` calls per second to each endpoint of app
    /// `sdkappid`, kept in the Redis at `url` (`redis://host:port[/db]`,
    /// `rediss://` for TLS if the `redis` crate was built with it). Nothing
    /// is connected yet: a bad URL is an error, an unreachable server is not.
    pub fn new(url: &str, sdkappid: u64, per_second: f64) -> Result<RedisLimiter, Error> {
        let pool = Pool::open(url, REDIS_TIMEOUT)?;
        if !(per_second.is_finite() && per_second > 0.0) {
            return Err(Error::invalid(
                crate::error::Field::RateLimit,
                "must be more than 0 calls per second",
            ));
        }
        let share = 0.25;
        Ok(RedisLimiter {
            pool,
            script: ::redis::Script::new(RESERVE),
            prefix: format!("tim-follow:{sdkappid}:"),
            rate: per_second,
            fallback: LocalLimiter::new(per_second * share),
            share,
            down_until: Mutex::new(None),
            warned: AtomicBool::new(false),
        })
    }

    /// The share of the budget this process takes while Redis is away
    /// (default 0.25, for up to four processes; 0 < share ≤ 1).
    pub fn fallback_share(mut self, share: f64) -> RedisLimiter {
        let share = if share.is_finite() {
            share.clamp(0.01, 1.0)
        } else {
            0.25
        };
        self.share = share;
        self.fallback = LocalLimiter::new(self.rate * share);
        self
    }

    /// One reservation through Redis: the wait it asks for.
    fn reserve(&self, endpoint: &str) -> Result<Duration, ::redis::RedisError> {
        let spacing = interval(self.rate).as_micros() as u64;
        let key = format!("{}{endpoint}", self.prefix);
        let micros: i64 = self
            .pool
            .with(|con| self.script.key(&key).arg(spacing).invoke(con))?;
        Ok(Duration::from_micros(micros.max(0) as u64))
    }

    fn is_down(&self, now: Instant) -> bool {
        lock(&self.down_until).is_some_and(|until| now < until)
    }
}

impl RateLimit for RedisLimiter {
    fn acquire(&self, endpoint: &str) -> Duration {
        let now = Instant::now();
        if self.is_down(now) {
            return self.fallback.acquire(endpoint);
        }
        match self.reserve(endpoint) {
            Ok(wait) => {
                if self.warned.swap(false, Ordering::SeqCst) {
                    log::info!("tim-follow: Redis answers again: the shared budget is back");
                }
                wait.min(LONGEST_WAIT)
            }
            Err(e) => {
                *lock(&self.down_until) = Some(now + RETRY_REDIS_AFTER);
                self.pool.clear();
                if !self.warned.swap(true, Ordering::SeqCst) {
                    log::warn!(
                        "tim-follow: Redis is unreachable ({}); this process sends at most {:.0} calls/s per endpoint until it is back",
                        self.pool.describe(&e),
                        self.rate * self.share
                    );
                }
                self.fallback.acquire(endpoint)
            }
        }
    }

    fn max_rate(&self) -> f64 {
        self.rate
    }
}

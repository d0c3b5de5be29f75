//! Client-side rate limits: the [`RateLimit`] trait every client asks before
//! each call, the even-spacing [`LocalLimiter`] and the [`Adaptive`] pacing
//! that follows the service's rate-limit answers.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::sync::lock;

#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
pub use self::redis::RedisLimiter;

/// Decides when a client may send one call of an endpoint. Every clone and
/// thread of a client asks the same one, so it holds the budget they share;
/// an implementation shared by several processes (such as the Redis one of
/// feature `redis`) makes them share an app's budget too.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use tim_follow::{Client, LocalLimiter, RateLimit};
///
/// let limiter = Arc::new(LocalLimiter::new(100.0));
/// assert_eq!(limiter.acquire("follow/follow_add"), Duration::ZERO);
/// // The next call waits for its slot, about 10 ms later.
/// assert!(limiter.acquire("follow/follow_add") > Duration::ZERO);
/// // Two clients of the same app in one process, one budget:
/// let a = Client::builder(1400000000, "administrator").usersig("sig").rate_limiter(limiter.clone()).build()?;
/// let b = Client::builder(1400000000, "administrator").usersig("sig").rate_limiter(limiter).build()?;
/// # let _ = (a, b); Ok::<(), tim_follow::Error>(())
/// ```
pub trait RateLimit: Send + Sync + fmt::Debug {
    /// Reserves the next slot for one call of `endpoint` (such as
    /// `follow/follow_add`) and says how long to wait before sending it:
    /// [`Duration::ZERO`] to send now. It may wait part of that time itself
    /// (an adaptive limiter waits for its own pace before it asks a shared
    /// budget), returning what is left.
    fn acquire(&self, endpoint: &str) -> Duration;

    /// The service answered a call of `endpoint`, sent at `sent`, with a
    /// rate-limit code: an adaptive limiter slows down.
    fn throttled(&self, endpoint: &str, sent: Instant) {
        let _ = (endpoint, sent);
    }

    /// The service accepted a call of `endpoint`: an adaptive limiter speeds
    /// up again, gradually.
    fn accepted(&self, endpoint: &str) {
        let _ = endpoint;
    }

    /// The highest rate it lets through, calls per second per endpoint (for
    /// `Debug` and logs).
    fn max_rate(&self) -> f64;
}

/// Even spacing in one process: calls to each endpoint are at least
/// `1 s / rate` apart, plus 2 %.
///
/// The margin absorbs up to about 20 ms of delivery jitter, so that the
/// server, which sees arrival times rather than send times, still counts at
/// most `rate` calls in any second. There is no burst: an idle limiter lets
/// the next call through at once, and every later one waits for its slot.
#[derive(Debug)]
pub struct LocalLimiter {
    rate: f64,
    next: Mutex<HashMap<String, Instant>>,
}

impl LocalLimiter {
    /// At most `per_second` calls per second to each endpoint (at least one
    /// call per hour).
    pub fn new(per_second: f64) -> LocalLimiter {
        LocalLimiter {
            rate: clamp_rate(per_second),
            next: Mutex::new(HashMap::new()),
        }
    }

    /// Reserves the next slot at or after `now`, `interval` after the last one.
    fn reserve(&self, endpoint: &str, now: Instant, interval: Duration) -> Duration {
        let mut next = lock(&self.next);
        let slot = match next.get_mut(endpoint) {
            Some(n) => {
                let slot = (*n).max(now);
                *n = slot + interval;
                slot
            }
            None => {
                next.insert(endpoint.to_string(), now + interval);
                now
            }
        };
        slot - now
    }
}

/// The spacing of calls at `rate` per second, with the 2 % margin.
fn interval(rate: f64) -> Duration {
    Duration::from_secs_f64(1.0 / rate * 1.02)
}

/// Rates from one call per hour to a million per second.
fn clamp_rate(rate: f64) -> f64 {
    if rate.is_nan() {
        return 1.0;
    }
    rate.clamp(1.0 / 3600.0, 1e6)
}

impl RateLimit for LocalLimiter {
    fn acquire(&self, endpoint: &str) -> Duration {
        self.reserve(endpoint, Instant::now(), interval(self.rate))
    }

    fn max_rate(&self) -> f64 {
        self.rate
    }
}

/// Adaptive pacing on top of another limiter: when the service answers with
/// a rate-limit code, the pace of that endpoint drops to 70 % (once for all
/// the calls sent before that drop, so that one burst of answers counts
/// once, as TCP counts one loss per window); after that it
/// climbs back along a cubic curve (the congestion control the AWS SDKs'
/// "adaptive" retry mode uses), reaching the pace it was throttled at after
/// about `∛(0.3 × rate / 0.4)` seconds — 5 s at 200 calls/s — and probing
/// above it, up to the inner limiter's own rate. Calls go no faster than the
/// inner limiter allows, nor than the current pace.
///
/// Several processes sharing an app's budget each find their share this way
/// without talking to each other; [`ClientBuilder`](crate::ClientBuilder)
/// puts one in front of its limiter unless told not to.
#[derive(Debug)]
pub struct Adaptive<L> {
    inner: L,
    paces: Mutex<HashMap<String, Pace>>,
    local: LocalLimiter,
}

/// The cubic window's constant: calls/s per s³.
const CUBIC_C: f64 = 0.4;
/// What a throttle keeps of the pace.
const CUBIC_BETA: f64 = 0.7;
/// The slowest adaptive pace, calls per second.
const MIN_PACE: f64 = 1.0;

/// One endpoint's pace.
#[derive(Debug, Clone)]
struct Pace {
    /// When calls were accepted, over the last second.
    accepted: std::collections::VecDeque<Instant>,
    /// Calls per second now.
    rate: f64,
    /// The pace when it was last throttled.
    w_max: f64,
    /// When it was last throttled (never: at the ceiling).
    since: Option<Instant>,
    /// How many times it was lowered.
    drops: u64,
}

impl<L: RateLimit> Adaptive<L> {
    /// Adaptive pacing in front of `inner`, starting at its rate.
    pub fn new(inner: L) -> Adaptive<L> {
        let rate = inner.max_rate();
        Adaptive {
            inner,
            paces: Mutex::new(HashMap::new()),
            local: LocalLimiter::new(rate),
        }
    }

    /// The current pace of `endpoint`, calls per second.
    pub fn pace(&self, endpoint: &str) -> f64 {
        self.pace_at(endpoint, Instant::now())
    }

    fn pace_at(&self, endpoint: &str, now: Instant) -> f64 {
        self.pace_and_drops(endpoint, now).0
    }

    /// The current pace and how many times it was lowered so far.
    fn pace_and_drops(&self, endpoint: &str, now: Instant) -> (f64, u64) {
        let mut paces = lock(&self.paces);
        match paces.get_mut(endpoint) {
            Some(p) => {
                p.rate = cubic(p, now, self.inner.max_rate());
                (p.rate, p.drops)
            }
            None => (self.inner.max_rate(), 0),
        }
    }

    /// A call sent at `sent` was throttled, as seen at `now`.
    fn throttled_at(&self, endpoint: &str, sent: Instant, now: Instant) {
        let ceiling = self.inner.max_rate();
        let mut paces = lock(&self.paces);
        let p = paces
            .entry(endpoint.to_string())
            .or_insert_with(|| Pace::new(ceiling));
        // Sent before the last drop: it measured the old pace.
        if p.since.is_some_and(|last| sent < last) {
            return;
        }
        let before = cubic(p, now, ceiling);
        // What the service took from this client over the last second is its
        // share now: the curve climbs back to it, then probes above.
        let taken = p.taken(now);
        p.w_max = if taken >= 1.0 { taken } else { before };
        p.rate = (p.w_max * CUBIC_BETA).clamp(MIN_PACE, ceiling.max(MIN_PACE));
        p.since = Some(now);
        p.drops += 1;
        log::info!(
            "tim-follow: {endpoint}: the service answered with a rate limit; pace {before:.1} → {:.1} calls/s",
            p.rate
        );
    }
}

impl Pace {
    fn new(ceiling: f64) -> Pace {
        Pace {
            accepted: std::collections::VecDeque::new(),
            rate: ceiling,
            w_max: ceiling,
            since: None,
            drops: 0,
        }
    }

    /// Calls accepted over the last second (older ones are forgotten).
    fn taken(&mut self, now: Instant) -> f64 {
        while self
            .accepted
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= Duration::from_secs(1))
        {
            self.accepted.pop_front();
        }
        self.accepted.len() as f64
    }
}

/// The pace on the cubic curve, `t` seconds after the last throttle.
fn cubic(p: &Pace, now: Instant, ceiling: f64) -> f64 {
    let Some(since) = p.since else {
        return ceiling;
    };
    let t = now.saturating_duration_since(since).as_secs_f64();
    let k = (p.w_max * (1.0 - CUBIC_BETA) / CUBIC_C).cbrt();
    let w = CUBIC_C * (t - k).powi(3) + p.w_max;
    w.max(p.w_max * CUBIC_BETA)
        .clamp(MIN_PACE, ceiling.max(MIN_PACE))
}

impl<L: RateLimit> RateLimit for Adaptive<L> {
    fn acquire(&self, endpoint: &str) -> Duration {
        // A call still waiting for its slot when the pace drops queues again
        // at the new pace (a few times at most: each drop needs an answer).
        for _ in 0..8 {
            let now = Instant::now();
            let (pace, drops) = self.pace_and_drops(endpoint, now);
            let own = self.local.reserve(endpoint, now, interval(pace));
            if !own.is_zero() {
                std::thread::sleep(own);
            }
            if self.pace_and_drops(endpoint, Instant::now()).1 == drops {
                break;
            }
        }
        // The inner limiter is asked when this call's slot comes, so that a
        // shared budget is not reserved ahead of its use.
        self.inner.acquire(endpoint)
    }

    fn throttled(&self, endpoint: &str, sent: Instant) {
        self.inner.throttled(endpoint, sent);
        self.throttled_at(endpoint, sent, Instant::now());
    }

    fn accepted(&self, endpoint: &str) {
        self.inner.accepted(endpoint);
        let now = Instant::now();
        let ceiling = self.inner.max_rate();
        let mut paces = lock(&self.paces);
        // Every accepted call comes here: no allocation once the endpoint is known.
        let p = match paces.get_mut(endpoint) {
            Some(p) => p,
            None => paces
                .entry(endpoint.to_string())
                .or_insert_with(|| Pace::new(ceiling)),
        };
        p.accepted.push_back(now);
        p.taken(now);
    }

    fn max_rate(&self) -> f64 {
        self.inner.max_rate()
    }
}

impl<T: RateLimit + ?Sized> RateLimit for Arc<T> {
    fn acquire(&self, endpoint: &str) -> Duration {
        (**self).acquire(endpoint)
    }
    fn throttled(&self, endpoint: &str, sent: Instant) {
        (**self).throttled(endpoint, sent)
    }
    fn accepted(&self, endpoint: &str) {
        (**self).accepted(endpoint)
    }
    fn max_rate(&self) -> f64 {
        (**self).max_rate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_second_holds_more_than_the_rate_and_endpoints_are_separate() {
        let rl = LocalLimiter::new(200.0);
        let t0 = Instant::now();
        let step = interval(200.0);
        let slots: Vec<Duration> = (0..1000).map(|_| rl.reserve("a", t0, step)).collect();
        for w in slots.windows(201) {
            assert!(
                w[200] - w[0] > Duration::from_secs(1),
                "{:?}",
                w[200] - w[0]
            );
        }
        // 1000 calls take just over 5 s.
        assert!(slots[999] < Duration::from_millis(5200));
        assert_eq!(rl.reserve("b", t0, step), Duration::ZERO);
        // After an idle pause, the next call goes at once, with no burst after it.
        let later = t0 + Duration::from_secs(60);
        assert_eq!(rl.reserve("a", later, step), Duration::ZERO);
        assert!(rl.reserve("a", later, step) >= Duration::from_millis(5));
    }

    #[test]
    fn a_throttle_slows_one_endpoint_which_then_climbs_back_along_the_cubic() {
        let a = Adaptive::new(LocalLimiter::new(200.0));
        let t0 = Instant::now();
        assert_eq!(a.pace_at("x", t0), 200.0);
        a.throttled_at("x", t0, t0);
        let after = a.pace_at("x", t0);
        assert!((after - 140.0).abs() < 0.5, "{after}");
        assert_eq!(a.pace_at("y", t0), 200.0, "other endpoints keep their pace");
        // Answers to calls sent before the drop count for nothing more.
        a.throttled_at(
            "x",
            t0 - Duration::from_millis(1),
            t0 + Duration::from_millis(50),
        );
        let burst = a.pace_at("x", t0 + Duration::from_millis(50));
        assert!(
            (140.0..143.0).contains(&burst),
            "not lowered again: {burst}"
        );
        // Back at the old pace after ∛(0.3 × 200 / 0.4) ≈ 5.3 s, never past the ceiling.
        let mid = a.pace_at("x", t0 + Duration::from_secs(3));
        assert!(mid > 140.0 && mid < 200.0, "{mid}");
        assert!(a.pace_at("x", t0 + Duration::from_millis(5400)) > 199.0);
        assert_eq!(a.pace_at("x", t0 + Duration::from_secs(60)), 200.0);
        // Repeated throttles go on lowering it, but never below one call a second.
        for i in 1..200 {
            let t = t0 + Duration::from_millis(200 * i);
            a.throttled_at("x", t, t);
        }
        let low = a.pace_at("x", t0 + Duration::from_millis(200 * 199));
        assert_eq!(low, MIN_PACE);
    }

    #[test]
    fn a_throttle_aims_at_what_the_service_took_over_the_last_second() {
        let a = Adaptive::new(LocalLimiter::new(200.0));
        for _ in 0..25 {
            a.accepted("x");
        }
        let t = Instant::now();
        a.throttled_at("x", t, t);
        // 70 % of the 25 calls accepted, not of 200.
        assert!(
            (a.pace_at("x", t) - 17.5).abs() < 0.5,
            "{}",
            a.pace_at("x", t)
        );
        // While the service's window drains, more refusals of later calls
        // do not compound below that share.
        let later = t + Duration::from_millis(300);
        a.throttled_at("x", later, later);
        assert!(
            (a.pace_at("x", later) - 17.5).abs() < 0.5,
            "{}",
            a.pace_at("x", later)
        );
    }

    #[test]
    fn odd_rates_are_clamped_not_panics() {
        for r in [0.0, -5.0, f64::NAN, f64::INFINITY, 1e300] {
            let l = LocalLimiter::new(r);
            assert!(l.max_rate() > 0.0 && l.max_rate().is_finite(), "{r}");
            let _ = l.acquire("a");
        }
    }
}

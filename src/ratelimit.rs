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

    /// Whether it slows down by itself after [`throttled`](RateLimit::throttled),
    /// so that a call answered with a rate-limit code is retried at its next
    /// slot, with no backoff of its own on top. `false` unless a limiter says
    /// otherwise; [`Adaptive`] does.
    fn paces_retries(&self) -> bool {
        false
    }
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

    /// Forgets the slots reserved for `endpoint` after `now`: the calls that
    /// hold them reserve again, at a new pace whose spacing is `interval`.
    /// The next slot is one such interval away (the last slot used was at
    /// `now` at the latest), so that a restart never lets a call through
    /// sooner than the new pace allows, nor before `not_before`.
    fn restart(&self, endpoint: &str, now: Instant, interval: Duration, not_before: Instant) {
        let mut next = lock(&self.next);
        let n = next.entry(endpoint.to_string()).or_insert(now);
        *n = (*n).min(now + interval).max(not_before);
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
/// a rate-limit code, the pace of that endpoint drops (once for all the
/// calls sent before that drop, so that one burst of answers counts once, as
/// TCP counts one loss per window), then climbs back along a cubic curve, the
/// congestion control the AWS SDKs' "adaptive" retry mode uses.
///
/// - The first drop, from a start at the ceiling, goes to what the service
///   accepted from this client over the last second: its share, measured.
/// - A later drop keeps 70 % of the pace the call was sent at, but never goes
///   below the share the service is taking from this client now, so that
///   refusals which only say its window is still full do not compound.
/// - The curve is back at the pace it was throttled at after about 2 s at
///   Tencent's 200 calls/s (`∛(0.3 × pace / c)`, with `c` growing with the
///   ceiling), then probes above it, doubling every second, up to the inner
///   limiter's own rate: a share another process no longer uses is taken up
///   in a second or two.
///
/// - Calls already waiting for a slot when the pace changes (a drop, or a
///   climb of a quarter) queue again at the new pace within 100 ms; after a
///   drop the first of them goes no sooner than the oldest call the service
///   took from this client in the last second leaves the service's window
///   (before it, every call would be refused).
///
/// Calls go no faster than the inner limiter allows, nor than the current
/// pace; a call answered with a rate-limit code is retried at its next slot,
/// with no backoff on top ([`RateLimit::paces_retries`]).
///
/// Several processes sharing an app's budget each find their share this way
/// without talking to each other (four processes against a 100 calls/s
/// service finish within 1.3× the time the budget allows: BENCHMARKS.md);
/// [`ClientBuilder`](crate::ClientBuilder) puts one in front of its limiter
/// unless told not to.
#[derive(Debug)]
pub struct Adaptive<L> {
    inner: L,
    paces: Mutex<HashMap<String, Pace>>,
    local: LocalLimiter,
}

/// The cubic window's constant, calls/s per s³, for a ceiling of 10 calls/s
/// (the AWS SDKs' value); it grows with the ceiling, so that the time to
/// climb back does not: about 2 s at Tencent's 200 calls/s.
const CUBIC_C: f64 = 0.4;

/// The cubic constant for a limiter whose ceiling is `ceiling` calls/s.
fn cubic_c(ceiling: f64) -> f64 {
    CUBIC_C * (ceiling / 10.0).max(1.0)
}
/// What a throttle keeps of the pace.
const CUBIC_BETA: f64 = 0.7;
/// How often a call waiting for its slot checks that the pace it was given
/// still holds.
const REQUEUE_CHECK: Duration = Duration::from_millis(100);
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
    /// Changes whenever the slots reserved so far were given at a pace that
    /// no longer holds (lowered, or risen by a quarter): the calls waiting
    /// for them reserve again.
    epoch: u64,
    /// The pace the current epoch's slots are given at.
    epoch_rate: f64,
    /// The share the service was taking at the last throttle: the pace
    /// stays at or above it.
    floor: f64,
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
        self.pace_and_epoch(endpoint, now).0
    }

    /// The current pace and its epoch. When the pace has climbed a quarter
    /// above the one the waiting calls' slots were given at, a new epoch
    /// starts: they reserve again, closer together.
    fn pace_and_epoch(&self, endpoint: &str, now: Instant) -> (f64, u64) {
        let mut paces = lock(&self.paces);
        match paces.get_mut(endpoint) {
            Some(p) => {
                p.rate = cubic(p, now, self.inner.max_rate());
                if p.rate > p.epoch_rate * 1.25 {
                    p.epoch += 1;
                    p.epoch_rate = p.rate;
                    self.local.restart(endpoint, now, interval(p.rate), now);
                }
                (p.rate, p.epoch)
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
        // share now. The first throttle (after a start at the ceiling) aims
        // there; a later one lowers the pace it was sent at, as CUBIC does,
        // but never below that share: refusals that only say the service's
        // window is still full do not compound.
        let taken = p.taken(now);
        p.w_max = if p.since.is_none() && taken >= 1.0 {
            taken
        } else {
            before
        };
        p.floor = taken.min(p.w_max);
        p.rate = (p.w_max * CUBIC_BETA)
            .max(p.floor)
            .clamp(MIN_PACE, ceiling.max(MIN_PACE));
        p.since = Some(now);
        p.drops += 1;
        // The slots reserved at the old pace are void: without this, the
        // calls waiting for them queued again behind them, and a drop soon
        // after another left a queue of several seconds with nothing sent.
        // The service's window is full: the next call it can take from this
        // client is when the oldest it took in the last second leaves the
        // window (that answer came a latency after the service counted it,
        // so this errs late by one latency at most). Sent sooner, as after
        // a first burst from several processes at once, the calls of that
        // second were all refused.
        p.epoch += 1;
        p.epoch_rate = p.rate;
        let frees = p
            .accepted
            .front()
            .map_or(now, |oldest| *oldest + Duration::from_secs(1));
        self.local.restart(endpoint, now, interval(p.rate), frees);
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
            epoch: 0,
            epoch_rate: ceiling,
            floor: 0.0,
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
    let c = cubic_c(ceiling);
    let k = (p.w_max * (1.0 - CUBIC_BETA) / c).cbrt();
    let w = c * (t - k).powi(3) + p.w_max;
    // Past the pace it was throttled at, and still not throttled: probe
    // upwards by doubling every second too, so that a share another process
    // no longer uses is taken up in a second or two, not several.
    let w = if t > k {
        w.max(p.w_max * (t - k).exp2())
    } else {
        w
    };
    w.max(p.w_max * CUBIC_BETA)
        .max(p.floor)
        .clamp(MIN_PACE, ceiling.max(MIN_PACE))
}

impl<L: RateLimit> RateLimit for Adaptive<L> {
    fn acquire(&self, endpoint: &str) -> Duration {
        // A call still waiting for its slot when the pace changes (an epoch
        // ends) queues again at the new pace, within 100 ms of the change;
        // a bounded number of times (each change needs an answer or a
        // climb of a quarter); the last time, it waits for its slot
        // whatever the pace does meanwhile.
        const REQUEUES: usize = 32;
        'queue: for attempt in 0..=REQUEUES {
            let now = Instant::now();
            let (pace, epoch) = self.pace_and_epoch(endpoint, now);
            let slot = now + self.local.reserve(endpoint, now, interval(pace));
            loop {
                let now = Instant::now();
                if now >= slot {
                    break 'queue;
                }
                std::thread::sleep((slot - now).min(REQUEUE_CHECK));
                if attempt < REQUEUES && self.pace_and_epoch(endpoint, Instant::now()).1 != epoch {
                    continue 'queue;
                }
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

    fn paces_retries(&self) -> bool {
        true
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
    fn paces_retries(&self) -> bool {
        (**self).paces_retries()
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
            (140.0..146.0).contains(&burst),
            "not lowered again: {burst}"
        );
        // Back at the old pace after ∛(0.3 × 200 / 8) ≈ 2 s, never past the ceiling.
        let mid = a.pace_at("x", t0 + Duration::from_secs(1));
        assert!(mid > 146.0 && mid < 200.0, "{mid}");
        assert!(a.pace_at("x", t0 + Duration::from_millis(2000)) > 199.0);
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
    fn a_change_of_pace_voids_the_slots_given_at_the_old_one() {
        let a = Adaptive::new(LocalLimiter::new(200.0));
        let t0 = Instant::now();
        // 200 calls waiting for their slots at 200/s: the last is 1 s out.
        for _ in 0..200 {
            a.local.reserve("x", t0, interval(200.0));
        }
        let (_, before) = a.pace_and_epoch("x", t0);
        a.throttled_at("x", t0, t0);
        let (pace, after) = a.pace_and_epoch("x", t0);
        assert!(pace < 150.0, "{pace}");
        assert_ne!(before, after, "the waiting calls are told to reserve again");
        // They queue again from now at the new pace, not behind the second
        // of slots no call will use: the first one new interval away (never
        // sooner than the new pace), the 20th well under a second.
        let waits: Vec<Duration> = (0..20)
            .map(|_| a.local.reserve("x", t0, interval(pace)))
            .collect();
        assert_eq!(waits[0], interval(pace));
        assert!(waits[19] < Duration::from_millis(500), "{:?}", waits[19]);
        // When the pace has climbed a quarter above it, another epoch
        // starts: the slots given at the low pace are given again.
        let later = t0 + Duration::from_secs(1);
        let (risen, epoch) = a.pace_and_epoch("x", later);
        assert!(risen > pace * 1.25, "{risen} after {pace}");
        assert_ne!(epoch, after);
        assert!(a.local.reserve("x", later, interval(risen)) <= interval(risen));
    }

    #[test]
    fn after_a_throttle_the_next_call_waits_until_the_oldest_accepted_leaves_the_window() {
        let a = Adaptive::new(LocalLimiter::new(200.0));
        let t0 = Instant::now();
        for _ in 0..25 {
            a.accepted("x");
        }
        let oldest = a.paces.lock().unwrap()["x"].accepted[0];
        a.throttled_at("x", t0, t0);
        let (pace, _) = a.pace_and_epoch("x", t0);
        // The service's window holds those 25 for a second: calls sent
        // before the first of them leaves it would only be refused.
        let first = t0 + a.local.reserve("x", t0, interval(pace));
        assert_eq!(first, oldest + Duration::from_secs(1));
        let second = t0 + a.local.reserve("x", t0, interval(pace));
        assert_eq!(second - first, interval(pace));
    }

    #[test]
    fn an_adaptive_limiter_shared_in_an_arc_still_paces_its_retries() {
        // A limiter given to several clients as an `Arc` keeps what it says
        // about itself: the retry of a rate-limit answer waits for its slot,
        // not a backoff on top.
        let shared = Arc::new(Adaptive::new(LocalLimiter::new(200.0)));
        assert!(shared.paces_retries());
        let as_dyn: Arc<dyn RateLimit> = Arc::new(shared.clone());
        assert!(as_dyn.paces_retries());
        assert!(!Arc::new(LocalLimiter::new(200.0)).paces_retries());
    }

    #[test]
    fn a_throttle_aims_at_what_the_service_took_over_the_last_second() {
        let a = Adaptive::new(LocalLimiter::new(200.0));
        for _ in 0..25 {
            a.accepted("x");
        }
        let t = Instant::now();
        a.throttled_at("x", t, t);
        // The 25 calls the service accepted, not 70 % of 200.
        assert!(
            (a.pace_at("x", t) - 25.0).abs() < 0.5,
            "{}",
            a.pace_at("x", t)
        );
        // While the service's window drains, more refusals of later calls
        // do not compound below that share.
        let later = t + Duration::from_millis(300);
        a.throttled_at("x", later, later);
        assert!(
            (a.pace_at("x", later) - 25.0).abs() < 0.5,
            "{}",
            a.pace_at("x", later)
        );
        // Past it, the pace probes upwards: twice that share a second or so
        // after the curve is back at it.
        let probe = a.pace_at("x", later + Duration::from_secs(2));
        assert!(probe > 40.0, "{probe}");
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

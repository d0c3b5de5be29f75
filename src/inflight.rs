//! How many requests a client keeps in flight: as many as its rate limit
//! and the measured latency need, within a cap.
//!
//! Little's law: to send `rate` calls a second when each takes `latency`,
//! `rate × latency` must be in flight. The latency is estimated from the
//! measured attempts (a moving mean plus twice the moving deviation, about
//! the 90th percentile of a spread-out latency), the rate is the limiter's
//! for each endpoint in use, and a fifth more plus two are kept for what the
//! estimate misses. The target grows and shrinks as the latency does (a call
//! waiting longer than the estimate raises it at once), never below a small
//! floor (so that a fast service never waits on the client's own overhead)
//! nor above the cap ([`ClientBuilder::concurrency`]). Before the first
//! answer it is 16; a call in flight for four times the estimate (at least
//! 1 s) no longer holds its place.
//!
//! [`Controller`] is the pure arithmetic (unit-tested with made-up times);
//! [`Gate`] lets at most its target of requests hold a place at once: a
//! request takes its place before it asks the rate limiter and gives it
//! back once answered, so that a place waiting for the limiter's slot
//! counts too (the limiter's spacing is never bunched up behind the gate).
//!
//! [`ClientBuilder::concurrency`]: crate::ClientBuilder::concurrency

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::sync::lock;

/// The default cap: with the headroom, enough for 200 calls a second at up
/// to about 1 s a call on one endpoint, or on two at once (a job that reads
/// each request first) at up to about 500 ms; on small-stack threads
/// started only as needed.
pub(crate) const DEFAULT_CAP: usize = 256;

/// The stack of a worker thread: a request's work is shallow (building a
/// body, signing, one HTTP exchange through ureq and rustls, parsing the
/// reply with serde_json's bounded recursion). An unoptimised build
/// overflowed 256 KiB on its first call; 512 KiB keeps a margin there, and
/// only the pages touched cost memory.
pub(crate) const WORKER_STACK: usize = 512 * 1024;

/// Starts one more worker thread (`name`, on [`WORKER_STACK`]) running `work`
/// when fewer than `wanted` have been started (`started` counts them, and
/// is given back when the system has no thread to give): whether one
/// started. The batches, the jobs and the export grow their workers so.
pub(crate) fn start_worker<'scope, 'env>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    started: &std::sync::atomic::AtomicUsize,
    wanted: usize,
    name: &str,
    work: impl FnOnce() + Send + 'scope,
) -> bool {
    use std::sync::atomic::Ordering;
    let now = started.load(Ordering::SeqCst);
    if now >= wanted
        || started
            .compare_exchange(now, now + 1, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
    {
        return false;
    }
    let spawned = std::thread::Builder::new()
        .name(name.into())
        .stack_size(WORKER_STACK)
        .spawn_scoped(scope, work);
    if spawned.is_err() {
        // Out of threads: the ones there are do the work.
        started.fetch_sub(1, Ordering::SeqCst);
        return false;
    }
    true
}

/// How many worker threads a bulk path keeps for `target` requests in
/// flight: a quarter more and two, so that when the target grows a worker
/// is already waiting at the gate with its request, and so that a worker's
/// work outside its calls (journaling, merging) does not leave a place
/// empty; few enough that waking the ones waiting costs little.
pub(crate) fn workers_for(target: usize) -> usize {
    target.saturating_add(target / 4).saturating_add(2)
}

/// The target before any latency was measured: what a fixed pool had.
const START: usize = 16;
/// The target never goes below this (or the cap, if lower).
const FLOOR: usize = 4;
/// Kept on top of rate × latency for what the estimate misses (the time a
/// call spends outside its HTTP exchange: signing, pacing, parsing): a
/// fifth more, and two requests.
const HEADROOM: f64 = 1.2;
const SPARE: usize = 2;
/// The weight of a new sample in the moving mean and deviation.
const GAIN: f64 = 0.125;
/// An endpoint is counted in use for this long after its last call.
const IN_USE: Duration = Duration::from_secs(2);
/// At most this many endpoints are remembered (the follow API has five).
const ENDPOINTS: usize = 8;

/// The arithmetic of the target, without locks or clocks.
#[derive(Debug, Clone)]
pub(crate) struct Controller {
    cap: usize,
    adaptive: bool,
    /// Calls per second per endpoint (`None`: no limiter, the cap is used).
    rate: Option<f64>,
    /// Moving mean and mean deviation of the measured latency, in seconds.
    estimate: Option<(f64, f64)>,
    /// The endpoints called lately, and when last.
    endpoints: Vec<(String, Instant)>,
}

impl Controller {
    /// A controller for `cap` requests at most, `rate` calls per second per
    /// endpoint; a fixed one (`adaptive` false) always targets the cap.
    pub(crate) fn new(cap: usize, adaptive: bool, rate: Option<f64>) -> Controller {
        Controller {
            cap: cap.max(1),
            adaptive,
            rate: rate.filter(|r| r.is_finite() && *r > 0.0),
            estimate: None,
            endpoints: Vec::new(),
        }
    }

    /// One attempt took `took` from sending to its answer.
    pub(crate) fn observe(&mut self, took: Duration) {
        let x = took.as_secs_f64();
        self.estimate = Some(match self.estimate {
            None => (x, x / 2.0),
            Some((mean, dev)) => {
                let err = x - mean;
                (mean + GAIN * err, dev + GAIN * (err.abs() - dev))
            }
        });
    }

    /// A call of `endpoint` is starting at `now`; whether the endpoint was
    /// not in use.
    pub(crate) fn note_endpoint(&mut self, endpoint: &str, now: Instant) -> bool {
        if let Some(e) = self.endpoints.iter_mut().find(|(p, _)| p == endpoint) {
            let was_idle = now.saturating_duration_since(e.1) >= IN_USE;
            e.1 = now;
            return was_idle;
        }
        self.endpoints
            .retain(|(_, at)| now.saturating_duration_since(*at) < IN_USE);
        if self.endpoints.len() >= ENDPOINTS {
            // The oldest makes room (the list is short).
            if let Some(oldest) = (0..self.endpoints.len()).min_by_key(|&i| self.endpoints[i].1) {
                self.endpoints.swap_remove(oldest);
            }
        }
        self.endpoints.push((endpoint.to_string(), now));
        true
    }

    /// The latency estimate: mean plus twice the deviation.
    pub(crate) fn latency(&self) -> Option<Duration> {
        self.estimate
            .map(|(mean, dev)| Duration::from_secs_f64((mean + 2.0 * dev).clamp(0.0, 86_400.0)))
    }

    /// How many requests may be in flight at `now`, with no call waiting.
    #[cfg(test)]
    fn target(&self, now: Instant) -> usize {
        self.target_waiting(now, Duration::ZERO)
    }

    /// How many requests may be in flight at `now` when a call has been
    /// waiting for its answer for `waiting`: the latency is at least that
    /// (so that the target grows as soon as the latency rises). Before the
    /// first answer it stays at the start: a service that never answers
    /// gets one wave of requests, not more.
    pub(crate) fn target_waiting(&self, now: Instant, waiting: Duration) -> usize {
        let (Some(rate), true) = (self.rate, self.adaptive) else {
            return self.cap;
        };
        let Some(estimate) = self.latency() else {
            return START.min(self.cap);
        };
        let latency = estimate.max(waiting);
        let in_use = self
            .endpoints
            .iter()
            .filter(|(_, at)| now.saturating_duration_since(*at) < IN_USE)
            .count()
            .max(1);
        let need = (rate * in_use as f64 * latency.as_secs_f64() * HEADROOM).ceil();
        let need = if need.is_finite() {
            (need as usize).saturating_add(SPARE)
        } else {
            self.cap
        };
        need.clamp(FLOOR.min(self.cap), self.cap)
    }

    /// A call in flight for longer than this is not waited for: it no longer
    /// holds its place (a hung connection must not stall the others).
    fn stalled_after(&self) -> Duration {
        self.latency()
            .map_or(Duration::from_secs(5), |l| l.saturating_mul(4))
            .max(Duration::from_secs(1))
    }
}

/// Lets at most the controller's target of requests hold a place at once.
#[derive(Debug)]
pub(crate) struct Gate {
    state: Mutex<State>,
    freed: Condvar,
}

#[derive(Debug)]
struct State {
    controller: Controller,
    /// The places held: `None` while waiting for the limiter, then when the
    /// attempt was sent.
    places: Vec<Option<Option<Instant>>>,
    held: usize,
    /// Calls waiting for a place.
    waiters: usize,
}

impl State {
    /// Places held by calls not stalled at `now`.
    fn holding(&self, now: Instant) -> usize {
        let after = self.controller.stalled_after();
        self.places
            .iter()
            .filter(|p| match p {
                Some(Some(sent)) => now.saturating_duration_since(*sent) < after,
                Some(None) => true,
                None => false,
            })
            .count()
    }

    /// The longest a call not stalled has been waiting for its answer.
    fn waiting(&self, now: Instant) -> Duration {
        let after = self.controller.stalled_after();
        self.places
            .iter()
            .filter_map(|p| match p {
                Some(Some(sent)) => Some(now.saturating_duration_since(*sent)),
                _ => None,
            })
            .filter(|age| *age < after)
            .max()
            .unwrap_or_default()
    }

    fn target(&self, now: Instant) -> usize {
        self.controller.target_waiting(now, self.waiting(now))
    }
}

/// A place held; given back when dropped.
#[must_use]
pub(crate) struct Place<'a> {
    gate: &'a Gate,
    at: usize,
    /// How long the attempt took to be answered, noted when given back.
    took: Option<Duration>,
}

impl Gate {
    /// A gate over `controller`.
    pub(crate) fn new(controller: Controller) -> Gate {
        Gate {
            state: Mutex::new(State {
                controller,
                places: Vec::new(),
                held: 0,
                waiters: 0,
            }),
            freed: Condvar::new(),
        }
    }

    /// How many requests may be in flight now.
    pub(crate) fn target(&self) -> usize {
        lock(&self.state).target(Instant::now())
    }

    /// Waits up to `within` until a place is free, without taking it;
    /// whether one is. A worker asks before it takes its next piece of work,
    /// so that work taken is sent at once (and a stop or a deadline is seen
    /// by the work not yet taken).
    pub(crate) fn room(&self, within: Duration) -> bool {
        let until = Instant::now() + within;
        let mut state = lock(&self.state);
        loop {
            let now = Instant::now();
            if state.holding(now) < state.target(now) {
                return true;
            }
            if now >= until {
                return false;
            }
            state.waiters += 1;
            let wait = until
                .saturating_duration_since(now)
                .min(Duration::from_millis(50));
            state = self
                .freed
                .wait_timeout(state, wait)
                .map_or_else(|p| p.into_inner().0, |(g, _)| g);
            state.waiters -= 1;
        }
    }

    /// Waits for a place for one call of `endpoint`.
    pub(crate) fn enter(&self, endpoint: &str) -> Place<'_> {
        let mut state = lock(&self.state);
        let mut now = Instant::now();
        if state.controller.note_endpoint(endpoint, now) && state.waiters > 0 {
            // One more endpoint in use: more places for everyone waiting.
            self.freed.notify_all();
        }
        loop {
            if state.holding(now) < state.target(now) {
                break;
            }
            state.waiters += 1;
            // Woken when a place is given back or the target grows, and
            // now and then to see whether the calls in flight have waited
            // longer than the latency estimate, or stalled.
            state = self
                .freed
                .wait_timeout(state, Duration::from_millis(50))
                .map_or_else(|p| p.into_inner().0, |(g, _)| g);
            state.waiters -= 1;
            now = Instant::now();
        }
        let at = match state.places.iter().position(Option::is_none) {
            Some(free) => free,
            None => {
                state.places.push(None);
                state.places.len() - 1
            }
        };
        state.places[at] = Some(None);
        state.held += 1;
        Place {
            gate: self,
            at,
            took: None,
        }
    }
}

impl Place<'_> {
    /// The attempt is being sent now.
    pub(crate) fn sending(&self) {
        let mut state = lock(&self.gate.state);
        if let Some(p) = state.places.get_mut(self.at) {
            *p = Some(Some(Instant::now()));
        }
    }

    /// The attempt was answered after `took` (noted when the place is
    /// given back, under the same lock).
    pub(crate) fn answered(&mut self, took: Duration) {
        self.took = Some(took);
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        let mut state = lock(&self.gate.state);
        if let Some(took) = self.took {
            if state.waiters == 0 {
                state.controller.observe(took);
            } else {
                let now = Instant::now();
                let before = state.target(now);
                state.controller.observe(took);
                if state.target(now) > before {
                    // More places: every waiter may find one.
                    self.gate.freed.notify_all();
                }
            }
        }
        if let Some(p) = state.places.get_mut(self.at) {
            *p = None;
        }
        state.held = state.held.saturating_sub(1);
        // Keep the list as short as the places held at once.
        while state.places.last().is_some_and(Option::is_none) {
            state.places.pop();
        }
        let waiting = state.waiters > 0;
        drop(state);
        if waiting {
            self.gate.freed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_target_follows_rate_times_latency_with_headroom_within_floor_and_cap() {
        let now = Instant::now();
        let mut c = Controller::new(128, true, Some(200.0));
        assert_eq!(c.target(now), START, "nothing measured yet");
        c.note_endpoint("follow/follow_add", now);
        for _ in 0..200 {
            c.observe(ms(300));
        }
        // 200/s × 300 ms × 1.2 + 2 = 74 (the deviation has decayed to ~0).
        let t = c.target(now);
        assert!((74..=76).contains(&t), "{t}");
        // Slower: more; capped.
        for _ in 0..200 {
            c.observe(ms(1000));
        }
        assert_eq!(c.target(now), 128);
        // Faster again: it shrinks, down to the floor on loopback.
        for _ in 0..200 {
            c.observe(ms(1));
        }
        assert_eq!(c.target(now), FLOOR);
        // A lower cap is the floor too.
        let mut small = Controller::new(2, true, Some(200.0));
        small.observe(ms(1));
        assert_eq!(small.target(now), 2);
        let mut one = Controller::new(1, true, Some(200.0));
        one.observe(ms(500));
        assert_eq!(one.target(now), 1);
    }

    #[test]
    fn a_spread_out_latency_is_estimated_near_its_high_end() {
        let now = Instant::now();
        let mut c = Controller::new(1000, true, Some(200.0));
        // ±20 % around 300 ms, deterministic.
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..2000 {
            c.observe(Duration::from_secs_f64(0.24 + 0.12 * rng.f64()));
        }
        let l = c.latency().unwrap().as_secs_f64();
        // Mean 0.3, mean deviation 0.03: about 0.36 (the 90th percentile
        // is 0.348, the highest 0.36).
        assert!((0.33..0.40).contains(&l), "{l}");
        let t = c.target(now);
        assert!((80..=100).contains(&t), "{t}");
        // A rising latency is followed within a few dozen answers.
        for _ in 0..40 {
            c.observe(ms(600));
        }
        assert!(c.latency().unwrap() > ms(500), "{:?}", c.latency());
    }

    #[test]
    fn each_endpoint_in_use_has_its_own_budget_and_one_not_called_lately_is_forgotten() {
        let t0 = Instant::now();
        let mut c = Controller::new(1000, true, Some(100.0));
        for _ in 0..100 {
            c.observe(ms(200));
        }
        c.note_endpoint("follow/follow_check", t0);
        let one = c.target(t0);
        c.note_endpoint("follow/follow_add", t0);
        let two = c.target(t0);
        assert!((26..=27).contains(&one), "{one}");
        assert!((50..=51).contains(&two), "{two}");
        // Three seconds later only the one called again counts.
        let t3 = t0 + Duration::from_secs(3);
        c.note_endpoint("follow/follow_add", t3);
        assert_eq!(c.target(t3), one);
        // The list stays short however many endpoints are called.
        for i in 0..50 {
            c.note_endpoint(&format!("x/{i}"), t3);
        }
        assert_eq!(c.endpoints.len(), ENDPOINTS);
    }

    #[test]
    fn a_call_waiting_longer_than_the_estimate_raises_the_target_once_answers_came() {
        let now = Instant::now();
        let mut c = Controller::new(256, true, Some(200.0));
        // Before any answer: the start, however long the first calls wait.
        assert_eq!(c.target_waiting(now, ms(50)), START);
        assert_eq!(c.target_waiting(now, ms(3000)), START);
        for _ in 0..200 {
            c.observe(ms(20));
        }
        assert_eq!(c.target(now), 7);
        assert_eq!(
            c.target_waiting(now, ms(10)),
            7,
            "shorter waits change nothing"
        );
        assert_eq!(c.target_waiting(now, ms(500)), 122);
    }

    #[test]
    fn without_a_limiter_or_when_fixed_the_cap_is_the_target() {
        let now = Instant::now();
        let mut none = Controller::new(32, true, None);
        none.observe(ms(1));
        assert_eq!(none.target(now), 32);
        let mut fixed = Controller::new(16, false, Some(200.0));
        fixed.observe(ms(900));
        assert_eq!(fixed.target(now), 16);
        assert_eq!(Controller::new(0, true, Some(f64::NAN)).target(now), 1);
    }

    #[test]
    fn the_gate_holds_at_most_its_target_and_a_stalled_call_gives_its_place_up() {
        let mut c = Controller::new(2, true, Some(200.0));
        c.observe(ms(1));
        let gate = Gate::new(c);
        let a = gate.enter("p");
        let b = gate.enter("p");
        {
            let s = lock(&gate.state);
            assert_eq!((s.holding(Instant::now()), s.held), (2, 2));
        }
        // A third waits until one is given back.
        let entered = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let _c = gate.enter("p");
                entered.store(true, std::sync::atomic::Ordering::SeqCst);
            });
            std::thread::sleep(ms(50));
            assert!(!entered.load(std::sync::atomic::Ordering::SeqCst));
            drop(a);
        });
        assert!(entered.load(std::sync::atomic::Ordering::SeqCst));
        // A call sent long ago no longer holds its place.
        b.sending();
        {
            let mut s = lock(&gate.state);
            s.places[b.at] = Some(Some(Instant::now() - Duration::from_secs(10)));
            assert_eq!(s.holding(Instant::now()), 0);
        }
        let _c = gate.enter("p");
        let _d = gate.enter("p");
        drop(b);
        assert_eq!(lock(&gate.state).held, 2);
    }
}

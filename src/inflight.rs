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
//! answer the latency is taken to be at least as long as the oldest call
//! has waited, up to 1 s, and 16 more are allowed: the calls go out at the
//! limiter's pace from the first one, however far the service is, and a
//! service that never answers gets at most 16 + about one second's worth of
//! calls (258 at 200/s, within the cap) until one of them ends. Once answers
//! came, a call in flight for four times the estimate (at least 1 s) no
//! longer holds its place.
//!
//! [`Controller`] is the pure arithmetic (unit-tested with made-up times);
//! [`Gate`] lets at most its target of requests hold a place at once: a
//! request takes its place before it asks the rate limiter and gives it
//! back once answered, so that a place waiting for the limiter's slot
//! counts too (the limiter's spacing is never bunched up behind the gate).
//! Each endpoint in use has its own share of the target (its rate × the
//! latency, with the same headroom), so that a job's reads waiting for
//! their limiter never take the places its writes need. A worker that finds
//! room is promised its place for a moment (100 ms), so that the thread
//! started for it is not overtaken by another endpoint's; a worker with no
//! work left gives its promise back.
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

/// Before any latency was measured: allowed on top of what the oldest
/// call's wait implies (what a fixed pool had).
const START: usize = 16;
/// Before the first answer, a call's wait counts as latency up to this
/// long: so that a service that never answers gets a bounded first wave.
const FIRST_WAIT: Duration = Duration::from_secs(1);
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
    /// waiting for its answer for `waiting`: each endpoint in use's share
    /// ([`Controller::share`]) times their number, within the cap.
    pub(crate) fn target_waiting(&self, now: Instant, waiting: Duration) -> usize {
        match self.share(waiting) {
            Some(share) => share
                .saturating_mul(self.in_use(now))
                .clamp(FLOOR.min(self.cap), self.cap),
            None => self.cap,
        }
    }

    /// How many requests of one endpoint may be in flight when a call has
    /// been waiting for its answer for `waiting` (`None`: no share, the cap
    /// is for all): its rate × the latency, which is at least that wait (so
    /// that the share grows as soon as the latency rises), with headroom.
    /// Before the first answer, [`START`] more than a wait of at most
    /// [`FIRST_WAIT`] needs: the limiter's pace is kept from the first call
    /// at any latency, and a service that never answers gets one bounded
    /// wave. Each endpoint has its own share, so that calls of one waiting
    /// for its limiter's slot never take the places of another (a job's
    /// reads first and its writes).
    pub(crate) fn share(&self, waiting: Duration) -> Option<usize> {
        let (Some(rate), true) = (self.rate, self.adaptive) else {
            return None;
        };
        let (latency, extra) = match self.latency() {
            Some(estimate) => (estimate.max(waiting), 0),
            None => (waiting.min(FIRST_WAIT), START),
        };
        let need = (rate * latency.as_secs_f64() * HEADROOM).ceil();
        let need = if need.is_finite() && need < self.cap as f64 {
            (need as usize).saturating_add(SPARE).saturating_add(extra)
        } else {
            self.cap
        };
        Some(need.clamp(FLOOR.min(self.cap), self.cap))
    }

    /// The endpoints called lately (at least one).
    fn in_use(&self, now: Instant) -> usize {
        self.endpoints
            .iter()
            .filter(|(_, at)| now.saturating_duration_since(*at) < IN_USE)
            .count()
            .max(1)
    }

    /// A call in flight for longer than this is not waited for: it no longer
    /// holds its place (a hung connection must not stall the others).
    fn stalled_after(&self) -> Duration {
        self.latency()
            .map_or(Duration::from_secs(5), |l| l.saturating_mul(4))
            .max(Duration::from_secs(1))
    }
}

/// Lets at most the controller's target of requests hold a place at once,
/// and each endpoint at most its share.
#[derive(Debug)]
pub(crate) struct Gate {
    state: Mutex<State>,
    /// Where the calls of each bucket of endpoints wait in
    /// [`enter`](Gate::enter) (by [`bucket`]), and, last, where
    /// [`room`](Gate::room) waits: a place given back wakes one of each
    /// that has waiters, not every thread.
    freed: [Condvar; BUCKETS + 1],
}

/// Endpoints are told apart by this many condition variables (the follow
/// API has five endpoints; two sharing one wait at most a short while).
const BUCKETS: usize = 8;

/// The condition variable of `endpoint` (its [`endpoint_id`]).
fn bucket(endpoint: u64) -> usize {
    (endpoint % BUCKETS as u64) as usize
}

#[derive(Debug)]
struct State {
    controller: Controller,
    /// The places held (`None`: free).
    places: Vec<Option<Held>>,
    held: usize,
    /// Calls waiting for a place ([`Gate::enter`] and [`Gate::room`]).
    waiters: usize,
    /// How many of them wait on each of [`Gate::freed`].
    waiting_on: [usize; BUCKETS + 1],
    /// Places promised by [`Gate::room`] to the thread that asked, until it
    /// enters or for [`PROMISED_FOR`]: so that only as many workers take
    /// work as there are places, and the others stay spare (starting more
    /// workers while they wait, as the target grows).
    promises: Vec<(std::thread::ThreadId, Instant)>,
}

/// One place held.
#[derive(Debug, Clone, Copy)]
struct Held {
    /// The endpoint's hash ([`endpoint_id`]).
    endpoint: u64,
    /// `None` while waiting for the limiter, then when the attempt was sent.
    sent: Option<Instant>,
}

/// How long a place promised by [`Gate::room`] is kept for its thread.
const PROMISED_FOR: Duration = Duration::from_millis(100);

/// An endpoint's name told apart cheaply (FNV-1a; the follow API has five).
fn endpoint_id(endpoint: &str) -> u64 {
    endpoint.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl State {
    /// Places held by calls not stalled at `now`, of `endpoint` only if
    /// given (before the first answer, every place held: the first wave
    /// stays bounded however long it waits).
    fn holding(&self, now: Instant, endpoint: Option<u64>) -> usize {
        let answered = self.controller.latency().is_some();
        if !answered && endpoint.is_none() {
            return self.held;
        }
        let after = self.controller.stalled_after();
        self.places
            .iter()
            .flatten()
            .filter(|p| endpoint.is_none_or(|e| p.endpoint == e))
            .filter(|p| match p.sent {
                Some(sent) if answered => now.saturating_duration_since(sent) < after,
                _ => true,
            })
            .count()
    }

    /// The longest a call not stalled has been waiting for its answer.
    fn waiting(&self, now: Instant) -> Duration {
        let after = self.controller.stalled_after();
        self.places
            .iter()
            .flatten()
            .filter_map(|p| p.sent.map(|sent| now.saturating_duration_since(sent)))
            .filter(|age| *age < after)
            .max()
            .unwrap_or_default()
    }

    fn target(&self, now: Instant) -> usize {
        self.controller.target_waiting(now, self.waiting(now))
    }

    /// Forgets the promises kept too long.
    fn expire_promises(&mut self, now: Instant) {
        self.promises
            .retain(|(_, at)| now.saturating_duration_since(*at) < PROMISED_FOR);
    }

    /// Whether a call of `endpoint` may take a place now: under the target
    /// with the other threads' promises counted, and under its share.
    fn may_enter(&self, now: Instant, endpoint: u64) -> bool {
        let waiting = self.waiting(now);
        if self.holding(now, None) + self.promises.len()
            >= self.controller.target_waiting(now, waiting)
        {
            return false;
        }
        self.controller
            .share(waiting)
            .is_none_or(|share| self.holding(now, Some(endpoint)) < share)
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
                waiting_on: [0; BUCKETS + 1],
                promises: Vec::new(),
            }),
            freed: std::array::from_fn(|_| Condvar::new()),
        }
    }

    /// How many requests may be in flight now.
    pub(crate) fn target(&self) -> usize {
        lock(&self.state).target(Instant::now())
    }

    /// Waits up to `within` until a place is free, and promises it to this
    /// thread's next [`enter`](Gate::enter) (for [`PROMISED_FOR`]); whether
    /// one is. A worker asks before it takes its next piece of work, so that
    /// work taken is sent at once (and a stop or a deadline is seen by the
    /// work not yet taken); the workers not promised a place stay spare.
    pub(crate) fn room(&self, within: Duration) -> bool {
        let until = Instant::now() + within;
        let me = std::thread::current().id();
        let mut state = lock(&self.state);
        loop {
            let now = Instant::now();
            state.expire_promises(now);
            if let Some(mine) = state.promises.iter_mut().find(|(t, _)| *t == me) {
                mine.1 = now;
                return true;
            }
            if state.holding(now, None) + state.promises.len() < state.target(now) {
                state.promises.push((me, now));
                return true;
            }
            if now >= until {
                return false;
            }
            let wait = until
                .saturating_duration_since(now)
                .min(Duration::from_millis(50));
            state = self.wait(state, BUCKETS, wait);
        }
    }

    /// Gives back the place [`room`](Gate::room) promised this thread (it
    /// found no work to send).
    pub(crate) fn unpromise(&self) {
        let me = std::thread::current().id();
        let mut state = lock(&self.state);
        if let Some(i) = state.promises.iter().position(|(t, _)| *t == me) {
            state.promises.swap_remove(i);
            let waiting = state.waiting_on;
            drop(state);
            for (c, n) in self.freed.iter().zip(waiting) {
                if n > 0 {
                    c.notify_one();
                }
            }
        }
    }

    /// Waits for a place for one call of `endpoint` (this thread's promise,
    /// if it has one, becomes the place).
    pub(crate) fn enter(&self, endpoint: &str) -> Place<'_> {
        let id = endpoint_id(endpoint);
        let me = std::thread::current().id();
        let mut state = lock(&self.state);
        let mut now = Instant::now();
        if state.controller.note_endpoint(endpoint, now) && state.waiters > 0 {
            // One more endpoint in use: more places for everyone waiting.
            self.wake_all();
        }
        if let Some(i) = state.promises.iter().position(|(t, _)| *t == me) {
            state.promises.swap_remove(i);
        }
        loop {
            state.expire_promises(now);
            if state.may_enter(now, id) {
                break;
            }
            // Woken when a place is given back or the target grows, and
            // now and then to see whether the calls in flight have waited
            // longer than the latency estimate, or stalled.
            state = self.wait(state, bucket(id), Duration::from_millis(50));
            now = Instant::now();
        }
        let held = Some(Held {
            endpoint: id,
            sent: None,
        });
        let at = match state.places.iter().position(Option::is_none) {
            Some(free) => free,
            None => {
                state.places.push(None);
                state.places.len() - 1
            }
        };
        state.places[at] = held;
        state.held += 1;
        Place {
            gate: self,
            at,
            took: None,
        }
    }
}

impl Gate {
    /// Waits on condition variable `on` for at most `wait`.
    fn wait<'g>(
        &'g self,
        mut state: std::sync::MutexGuard<'g, State>,
        on: usize,
        wait: Duration,
    ) -> std::sync::MutexGuard<'g, State> {
        state.waiters += 1;
        state.waiting_on[on] += 1;
        let mut state = self.freed[on]
            .wait_timeout(state, wait)
            .map_or_else(|p| p.into_inner().0, |(g, _)| g);
        state.waiters -= 1;
        state.waiting_on[on] -= 1;
        state
    }

    /// Wakes every waiter (the target grew).
    fn wake_all(&self) {
        for c in &self.freed {
            c.notify_all();
        }
    }
}

impl Place<'_> {
    /// The attempt is being sent now.
    pub(crate) fn sending(&self) {
        let mut state = lock(&self.gate.state);
        if let Some(Some(p)) = state.places.get_mut(self.at) {
            p.sent = Some(Instant::now());
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
                    self.gate.wake_all();
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
        // One waiter of each kind looks again: the place is for any
        // endpoint whose share is not full.
        let waiting = state.waiting_on;
        drop(state);
        for (c, n) in self.gate.freed.iter().zip(waiting) {
            if n > 0 {
                c.notify_one();
            }
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
        assert_eq!(c.target(now), START + SPARE, "nothing measured yet");
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
        assert!((52..=54).contains(&two), "{two}");
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
        // Before any answer: the start and what the oldest call's wait
        // needs, up to a second's worth (the cap of a small client first).
        assert_eq!(c.target_waiting(now, ms(50)), START + 12 + SPARE);
        assert_eq!(c.target_waiting(now, ms(500)), START + 120 + SPARE);
        let mut big = Controller::new(1000, true, Some(200.0));
        assert_eq!(big.target_waiting(now, ms(3000)), START + 240 + SPARE);
        big.note_endpoint("a", now);
        big.note_endpoint("b", now);
        // Each endpoint has its own share: 16 + 216 + 2 each.
        assert_eq!(big.target_waiting(now, ms(900)), 2 * (START + 216 + SPARE));
        assert_eq!(c.target_waiting(now, ms(3000)), 256);
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
            assert_eq!((s.holding(Instant::now(), None), s.held), (2, 2));
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
            if let Some(p) = s.places[b.at].as_mut() {
                p.sent = Some(Instant::now() - Duration::from_secs(10));
            }
            assert_eq!(s.holding(Instant::now(), None), 0);
        }
        let _c = gate.enter("p");
        let _d = gate.enter("p");
        drop(b);
        assert_eq!(lock(&gate.state).held, 2);
    }

    #[test]
    fn before_the_first_answer_the_wave_grows_with_the_wait_and_stays_bounded() {
        let gate = Gate::new(Controller::new(256, true, Some(200.0)));
        let mut places: Vec<Place<'_>> = (0..START + SPARE).map(|_| gate.enter("p")).collect();
        assert!(!gate.room(Duration::ZERO), "the start is the first wave");
        for p in &places {
            p.sending();
        }
        // The oldest has waited 300 ms: 72 more may go (200/s × 0.3 s × 1.2).
        if let Some(p) = lock(&gate.state).places[0].as_mut() {
            p.sent = Some(Instant::now() - ms(300));
        }
        let t = gate.target();
        assert!(
            (START + 72 + SPARE..=START + 74 + SPARE).contains(&t),
            "{t}"
        );
        assert!(gate.room(Duration::ZERO));
        places.push(gate.enter("p"));
        // However long they all wait, no place is given up before an
        // answer: a silent service gets no second wave.
        for p in lock(&gate.state).places.iter_mut() {
            if let Some(p) = p.as_mut() {
                p.sent = Some(Instant::now() - Duration::from_secs(60));
            }
        }
        assert!(!gate.room(Duration::ZERO), "stalled calls still hold");
        // One answer: the estimate exists, stalled calls give their places up.
        let mut answered = places.remove(1);
        answered.answered(ms(1));
        drop(answered);
        assert!(gate.room(Duration::ZERO));
    }

    #[test]
    fn a_place_promised_by_room_is_kept_for_its_thread_until_it_enters_gives_up_or_expires() {
        let mut c = Controller::new(3, true, Some(200.0));
        c.observe(ms(1));
        let gate = Gate::new(c);
        assert_eq!(gate.target(), 3);
        assert!(gate.room(Duration::ZERO));
        assert!(gate.room(Duration::ZERO), "asked again: the same promise");
        // Two other threads are promised the other two places.
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| assert!(gate.room(Duration::ZERO)));
            }
        });
        std::thread::scope(|s| {
            s.spawn(|| assert!(!gate.room(Duration::ZERO), "all promised"));
        });
        // This thread's promise becomes its place: still none for others.
        let mine = gate.enter("p");
        std::thread::scope(|s| {
            s.spawn(|| assert!(!gate.room(Duration::ZERO)));
        });
        drop(mine);
        // A promise given up is free at once.
        assert!(gate.room(Duration::ZERO));
        gate.unpromise();
        std::thread::scope(|s| {
            s.spawn(|| assert!(gate.room(Duration::ZERO)));
        });
        // The promises of threads that went away expire.
        std::thread::sleep(PROMISED_FOR + ms(20));
        assert_eq!(lock(&gate.state).promises.len(), 3);
        assert!(gate.room(Duration::ZERO));
        assert_eq!(lock(&gate.state).promises.len(), 1, "the old ones expired");
    }

    #[test]
    fn an_endpoint_waiting_for_its_limiter_cannot_take_the_places_of_another() {
        let mut c = Controller::new(256, true, Some(200.0));
        for _ in 0..200 {
            c.observe(ms(50));
        }
        let share = c.share(Duration::ZERO).unwrap();
        assert!((14..=15).contains(&share), "{share}");
        let gate = Gate::new(c);
        let reads: Vec<Place<'_>> = (0..share).map(|_| gate.enter("check")).collect();
        let now = Instant::now();
        let (check, add) = (endpoint_id("check"), endpoint_id("add"));
        assert!(!lock(&gate.state).may_enter(now, check));
        // The writes have a share of their own (and the target doubles).
        let write = gate.enter("add");
        {
            let s = lock(&gate.state);
            assert_eq!(s.target(now), 2 * share);
            assert!(!s.may_enter(now, check), "the reads' share is full");
            assert!(s.may_enter(now, add));
        }
        drop(reads);
        drop(write);
        assert!(lock(&gate.state).may_enter(Instant::now(), check));
    }
}

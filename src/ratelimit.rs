//! A client-side limiter per endpoint, shared by every clone and thread of a client.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Spaces the calls to each endpoint evenly so that no window of one second
/// ever holds more than the configured number of calls.
///
/// Calls are spaced by `1 s / rate` plus 2 %: the margin absorbs up to about
/// 20 ms of delivery jitter, so that the server, which sees arrival times
/// rather than send times, still counts at most `rate` calls in any second.
/// There is no burst: an idle limiter lets the next call through at once, and
/// every later one waits for its slot.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_second: u32,
    interval: Duration,
    next: Mutex<HashMap<String, Instant>>,
}

impl RateLimiter {
    pub(crate) fn new(per_second: u32) -> Self {
        let interval = Duration::from_secs(1) / per_second.max(1);
        RateLimiter {
            per_second,
            interval: interval + interval / 50,
            next: Mutex::new(HashMap::new()),
        }
    }

    /// The configured limit, calls per second.
    pub(crate) fn per_second(&self) -> u32 {
        self.per_second
    }

    /// Reserves the next slot for `key` and sleeps until it comes.
    pub(crate) fn acquire(&self, key: &str) {
        let wait = self.reserve(key, Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }

    /// Reserves the next slot at or after `now`; returns how long to wait for it.
    pub(crate) fn reserve(&self, key: &str, now: Instant) -> Duration {
        let mut next = crate::sync::lock(&self.next);
        let slot = match next.get_mut(key) {
            Some(n) => {
                let slot = (*n).max(now);
                *n = slot + self.interval;
                slot
            }
            None => {
                next.insert(key.to_string(), now + self.interval);
                now
            }
        };
        slot - now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_second_holds_more_than_the_rate_and_endpoints_are_separate() {
        let rl = RateLimiter::new(200);
        let t0 = Instant::now();
        let slots: Vec<Duration> = (0..1000).map(|_| rl.reserve("a", t0)).collect();
        for w in slots.windows(201) {
            assert!(
                w[200] - w[0] > Duration::from_secs(1),
                "{:?}",
                w[200] - w[0]
            );
        }
        // 1000 calls take just over 5 s.
        assert!(slots[999] < Duration::from_millis(5100));
        assert_eq!(rl.reserve("b", t0), Duration::ZERO);
        // After an idle pause, the next call goes at once, with no burst after it.
        let later = t0 + Duration::from_secs(60);
        assert_eq!(rl.reserve("a", later), Duration::ZERO);
        assert!(rl.reserve("a", later) >= Duration::from_millis(5));
    }
}

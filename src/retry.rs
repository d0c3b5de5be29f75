//! When and how long to wait before trying a failed request again.

use std::time::Duration;

use crate::error::{Error, ErrorKind, TransportErrorKind};

/// How failed requests are retried: exponential backoff with full jitter,
/// capped per wait and by an overall deadline.
///
/// The wait before retry `n` (1-based) is a random duration between zero and
/// `min(max_delay, base_delay × 2^(n-1))`; rate-limit answers (60007, 60011,
/// 60018, 60019, HTTP 429) use `rate_limited_base_delay` instead of
/// `base_delay`.
///
/// Rate-limit answers do not use up the attempts: the service is working,
/// only at a slower pace, so such a call is tried again (while the client's
/// adaptive pacing slows down) until the deadline. `RetryPolicy::none()`
/// still means one attempt, whatever the answer.
///
/// Retried: connection failures and timeouts, HTTP 5xx/408/429, and the
/// transient codes 30006, 30007, 60008, 60013, 60014 — for the follow
/// endpoints, which are idempotent: following someone already followed, or
/// unfollowing someone not followed, leaves the same graph, and check, get and
/// get_info change nothing. Never retried: invalid input, parameter,
/// permission, account and signature errors (but see
/// [`ClientBuilder::secret_key`](crate::ClientBuilder::secret_key): an expired
/// UserSig is renewed once).
///
/// ```
/// use std::time::Duration;
/// use tim_follow::RetryPolicy;
///
/// let policy = RetryPolicy::default()
///     .max_attempts(6)
///     .base_delay(Duration::from_millis(50))
///     .deadline(Duration::from_secs(10));
/// assert_eq!(policy.get_max_attempts(), 6);
/// assert_eq!(policy.get_deadline(), Duration::from_secs(10));
/// assert_eq!(RetryPolicy::none().get_max_attempts(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    base_delay: Duration,
    rate_limited_base_delay: Duration,
    max_delay: Duration,
    deadline: Duration,
}

impl Default for RetryPolicy {
    /// 4 attempts, 100 ms base (1 s after a rate-limit answer), waits capped at
    /// 5 s, and no new attempt starts later than 30 s after the first.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(100),
            rate_limited_base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(5),
            deadline: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retry.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The most attempts per request, the first included (at least 1).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// The base of the exponential backoff.
    pub fn base_delay(mut self, d: Duration) -> Self {
        self.base_delay = d;
        self
    }

    /// The base of the backoff after a rate-limit answer.
    pub fn rate_limited_base_delay(mut self, d: Duration) -> Self {
        self.rate_limited_base_delay = d;
        self
    }

    /// The longest single wait.
    pub fn max_delay(mut self, d: Duration) -> Self {
        self.max_delay = d;
        self
    }

    /// No retry starts later than this after the first attempt.
    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = d;
        self
    }

    /// The most attempts per request, set by [`max_attempts`](RetryPolicy::max_attempts).
    pub fn get_max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The base of the backoff, set by [`base_delay`](RetryPolicy::base_delay).
    pub fn get_base_delay(&self) -> Duration {
        self.base_delay
    }

    /// The base after a rate-limit answer, set by
    /// [`rate_limited_base_delay`](RetryPolicy::rate_limited_base_delay).
    pub fn get_rate_limited_base_delay(&self) -> Duration {
        self.rate_limited_base_delay
    }

    /// The longest single wait, set by [`max_delay`](RetryPolicy::max_delay).
    pub fn get_max_delay(&self) -> Duration {
        self.max_delay
    }

    /// The overall deadline, set by [`deadline`](RetryPolicy::deadline).
    pub fn get_deadline(&self) -> Duration {
        self.deadline
    }

    /// The most attempts per request.
    #[deprecated(since = "0.2.0", note = "renamed to `get_max_attempts`")]
    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The overall deadline.
    #[deprecated(since = "0.2.0", note = "renamed to `get_deadline`")]
    pub fn deadline_duration(&self) -> Duration {
        self.deadline
    }

    /// The longest wait before retry `retry` (1-based) after `err`. After a
    /// rate-limit answer it does not grow: the client's pacing spaces the
    /// calls, and the wait only spreads the retries out.
    pub fn ceiling(&self, retry: u32, err: &Error) -> Duration {
        if err.is_rate_limited() {
            return self.rate_limited_base_delay.min(self.max_delay);
        }
        let base = self.base_delay;
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1).min(20))
            .unwrap_or(u32::MAX);
        base.saturating_mul(factor).min(self.max_delay)
    }

    /// A random wait (full jitter) before retry `retry` after `err`.
    pub fn backoff(&self, retry: u32, err: &Error) -> Duration {
        let ceiling = self.ceiling(retry, err);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(0..=nanos))
    }
}

/// Whether `err` may be retried for a request that is (`idempotent`) or may
/// not be safe to send twice. A non-idempotent request is retried only when it
/// surely was not carried out: it never reached the server (DNS, connect,
/// connect timeout), or
/// the service refused it before doing anything (rate limit).
pub(crate) fn may_retry(err: &Error, idempotent: bool) -> bool {
    if idempotent {
        return err.is_retryable();
    }
    match err {
        Error::Transport(t) => matches!(
            t.kind,
            TransportErrorKind::Dns
                | TransportErrorKind::Connect
                | TransportErrorKind::ConnectTimeout
        ),
        Error::HttpStatus { status, .. } => *status == 429,
        Error::Api(a) => a.kind() == ErrorKind::RateLimited,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_rate_limits_wait_longer() {
        let p = RetryPolicy::default();
        let e = Error::transport(TransportErrorKind::Io, "x");
        assert_eq!(p.ceiling(1, &e), Duration::from_millis(100));
        assert_eq!(p.ceiling(2, &e), Duration::from_millis(200));
        assert_eq!(p.ceiling(4, &e), Duration::from_millis(800));
        assert_eq!(p.ceiling(40, &e), Duration::from_secs(5));
        let rl = Error::Api(ApiError::new(60018, "", ""));
        assert_eq!(p.ceiling(1, &rl), Duration::from_secs(1));
        for _ in 0..100 {
            assert!(p.backoff(3, &e) <= Duration::from_millis(400));
        }
    }

    #[test]
    fn non_idempotent_requests_retry_only_what_surely_did_not_happen() {
        let io = Error::transport(TransportErrorKind::Io, "reset");
        let connect = Error::transport(TransportErrorKind::Connect, "refused");
        let http502 = Error::HttpStatus {
            status: 502,
            snippet: String::new(),
        };
        let transient = Error::Api(ApiError::new(30006, "", ""));
        let rl = Error::Api(ApiError::new(60007, "", ""));
        assert!(may_retry(&io, true) && !may_retry(&io, false));
        assert!(may_retry(&http502, true) && !may_retry(&http502, false));
        assert!(may_retry(&transient, true) && !may_retry(&transient, false));
        assert!(may_retry(&connect, false));
        assert!(may_retry(&rl, false));
        assert!(!may_retry(&Error::Api(ApiError::new(30001, "", "")), true));
    }
}

//! The main loop of one call: limit → sign → send → classify → retry or fail
//! over. Everything a call needs is held by [`Engine`]; the batch path and the
//! public methods go through [`Engine::execute`] alone.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Error, TransportErrorKind};
use crate::inflight::Gate;
use crate::ratelimit::RateLimit;
use crate::request::{Context, Request};
use crate::retry::{may_retry, RetryPolicy};
use crate::signer::Signer;
use crate::sync::lock;
use crate::transport;

/// How long the standby base URL is preferred after the primary failed.
const STANDBY_STICKY: Duration = Duration::from_secs(60);

/// The state one client shares across clones and threads to send calls.
pub(crate) struct Engine {
    pub(crate) sdkappid: u64,
    pub(crate) admin: String,
    pub(crate) bases: Bases,
    pub(crate) signer: Signer,
    pub(crate) agent: ureq::Agent,
    pub(crate) limiter: Option<Arc<dyn RateLimit>>,
    pub(crate) retry: RetryPolicy,
    pub(crate) max_response_bytes: u64,
    /// How many calls may be in flight at once.
    pub(crate) gate: Gate,
}

/// What the attempts of one call showed besides its result.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Trace {
    /// A failed attempt may still have been carried out
    /// ([`Error::may_have_been_applied`]): a later answer may describe the
    /// state that attempt made rather than the request as first sent.
    pub(crate) ambiguous: bool,
}

/// Parses a reply (status, body) and keeps what it found.
type KeepReply<'a> = dyn FnMut(u16, &[u8]) -> Result<(), Error> + 'a;

impl Engine {
    /// Sends a typed request and parses its reply.
    pub(crate) fn call<R: Request>(&self, request: &R) -> Result<R::Response, Error> {
        let body = request.body()?;
        self.execute(
            R::PATH,
            &body,
            R::IDEMPOTENT,
            R::parse,
            &mut Trace::default(),
        )
    }

    /// Sends one request with rate limiting, signing and retries, and parses
    /// the reply; notes in `trace` what the failed attempts showed.
    pub(crate) fn execute<T>(
        &self,
        path: &str,
        body: &[u8],
        idempotent: bool,
        parse: impl Fn(u16, &[u8]) -> Result<T, Error>,
        trace: &mut Trace,
    ) -> Result<T, Error> {
        let mut parsed = None;
        let mut keep = |status: u16, reply: &[u8]| {
            parsed = Some(parse(status, reply)?);
            Ok(())
        };
        self.execute_erased(path, body, idempotent, &mut keep, trace)?;
        // `keep` returned Ok only after it stored the value.
        parsed.ok_or_else(|| {
            Error::transport(
                TransportErrorKind::Other,
                format!("{path}: the answer was accepted but not kept"),
            )
        })
    }

    /// [`Engine::execute`] with the reply's type erased, so that the retry
    /// loop is compiled once, not once for each kind of reply.
    fn execute_erased(
        &self,
        path: &str,
        body: &[u8],
        idempotent: bool,
        parse: &mut KeepReply<'_>,
        trace: &mut Trace,
    ) -> Result<(), Error> {
        let started = Instant::now();
        let mut tries = Tries::default();
        let mut resigned = false;
        loop {
            // A place in flight first, then the limiter's slot: waiting for
            // the slot counts as in flight, so that the limiter's spacing
            // is never bunched up behind the gate.
            let mut place = self.gate.enter(path);
            self.pace(path);
            let sent = Instant::now();
            let sig = self.signer.current();
            place.sending();
            let answer = self.send(path, body, sig.expose());
            let answered = answer.is_ok();
            let parsed = answer.and_then(|(status, bytes)| parse(status, &bytes));
            if answered {
                // The whole time the call held its place after its slot:
                // the exchange and the parsing of the answer.
                place.answered(sent.elapsed());
            }
            drop(place);
            let err = match parsed {
                Ok(value) => {
                    if let Some(limiter) = &self.limiter {
                        limiter.accepted(path);
                    }
                    return Ok(value);
                }
                Err(err) => self.scrub(err),
            };
            trace.ambiguous |= err.may_have_been_applied();
            if !resigned && err.is_usersig_rejected() && self.signer.invalidate(&sig) {
                // The service refused the signature before doing anything:
                // one more attempt with a fresh one, not counted as a retry.
                log::info!("tim-follow: {path}: the UserSig was refused ({err}); renewing it");
                resigned = true;
                continue;
            }
            let throttled = err.is_rate_limited();
            if let (true, Some(limiter)) = (throttled, &self.limiter) {
                limiter.throttled(path, sent);
            }
            match self.wait_before_retry(&tries, started, &err, idempotent) {
                Some(wait) => {
                    log::debug!(
                        "tim-follow: {path}: attempt {} failed ({err}); retrying in {wait:?}",
                        tries.attempts + tries.throttled + 1
                    );
                    std::thread::sleep(wait);
                }
                None => {
                    let attempts = tries.attempts + tries.throttled + 1;
                    if attempts > 1 {
                        log::warn!(
                            "tim-follow: {path}: giving up after {attempts} attempts: {err}"
                        );
                    } else {
                        log::debug!("tim-follow: {path}: not retried: {err}");
                    }
                    return Err(err);
                }
            }
            tries.count(throttled);
        }
    }

    /// Waits for the rate limiter's slot for one call of `path`.
    #[inline(never)] // a stage of its own in profiles (benches/stages.py)
    fn pace(&self, path: &str) {
        if let Some(limiter) = &self.limiter {
            let wait = limiter.acquire(path);
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
        }
    }

    /// How long to wait before the next attempt, or `None` to give up.
    /// Rate-limit answers are retried until the deadline without using up
    /// the attempts: the service is working, only at a slower pace.
    fn wait_before_retry(
        &self,
        tries: &Tries,
        started: Instant,
        err: &Error,
        idempotent: bool,
    ) -> Option<Duration> {
        let throttled = err.is_rate_limited();
        let max = self.retry.get_max_attempts();
        // One attempt means one, whatever the answer.
        let out_of_attempts = max <= 1 || (!throttled && tries.attempts + 1 >= max);
        if out_of_attempts || !may_retry(err, idempotent) {
            return None;
        }
        let n = if throttled {
            tries.throttled
        } else {
            tries.attempts
        } + 1;
        // An adaptive limiter has slowed down already: the retry's wait is
        // its next slot at the lower pace, not a backoff on top of that
        // (which left the last requests of a job waiting seconds after
        // everything else was done).
        let paced = throttled && self.limiter.as_ref().is_some_and(|l| l.paces_retries());
        let wait = if paced {
            Duration::ZERO
        } else {
            self.retry.backoff(n, err)
        };
        (started.elapsed().saturating_add(wait) <= self.retry.get_deadline()).then_some(wait)
    }

    /// The error without any secret this client knows.
    fn scrub(&self, err: Error) -> Error {
        let secrets = self.signer.secrets();
        let texts: Vec<&str> = secrets.iter().map(|s| s.expose()).collect();
        err.scrubbed(&texts)
    }

    /// One attempt, on the other base URL too if the first cannot be reached.
    fn send(&self, path: &str, body: &[u8], sig: &str) -> Result<(u16, Vec<u8>), Error> {
        let route = self.bases.route(Instant::now());
        let result = self.post(route.first, path, body, sig);
        // Not reached, so surely not sent: no address, refused, or no
        // connection within the connect timeout (a host that drops packets).
        let unreachable = matches!(
            &result,
            Err(Error::Transport(t)) if matches!(
                t.kind,
                TransportErrorKind::Dns | TransportErrorKind::Connect | TransportErrorKind::ConnectTimeout
            )
        );
        match route.second {
            Some(second) if unreachable => {
                let retried = self.post(second, path, body, sig);
                if retried.is_ok() {
                    self.bases.switched(route.first_is_standby, Instant::now());
                    log::warn!(
                        "tim-follow: {} could not be reached; {second} answered and is used {}",
                        route.first,
                        if route.first_is_standby {
                            "again"
                        } else {
                            "for the next 60 s"
                        }
                    );
                    return retried;
                }
                result
            }
            _ => result,
        }
    }

    fn post(
        &self,
        base: &str,
        path: &str,
        body: &[u8],
        sig: &str,
    ) -> Result<(u16, Vec<u8>), Error> {
        let url = Context {
            base_url: base,
            sdkappid: self.sdkappid,
            identifier: &self.admin,
            usersig: sig,
            random: fastrand::u32(..),
        }
        .url(path);
        transport::post(&self.agent, &url, body, self.max_response_bytes).map_err(|e| match e {
            Error::Transport(mut t) => {
                // An HTTPS connect that times out although the port takes a
                // TCP connection: the TLS handshake stalled (a plain-HTTP
                // port, most often). That is a TLS problem, and it will not
                // go away by retrying.
                let stalled = t.kind == TransportErrorKind::ConnectTimeout
                    && base
                        .get(..8)
                        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
                    && transport::tcp_opens(base, Duration::from_millis(300));
                if stalled {
                    t.kind = TransportErrorKind::Tls;
                    t.message = "the TLS handshake did not complete: the port takes TCP \
                                 connections but does not speak TLS (plain HTTP? check the scheme)"
                        .into();
                }
                // Say where: the base URL carries no secret.
                t.message = format!("{base}: {}", t.message);
                Error::Transport(t)
            }
            other => other,
        })
    }
}

/// The failed attempts of one call so far.
#[derive(Debug, Default)]
struct Tries {
    /// Failed for another reason than a rate limit.
    attempts: u32,
    /// Answered with a rate-limit code.
    throttled: u32,
}

impl Tries {
    fn count(&mut self, throttled: bool) {
        if throttled {
            self.throttled += 1;
        } else {
            self.attempts += 1;
        }
    }
}

/// The primary base URL, the standby one if any, and which one is preferred.
pub(crate) struct Bases {
    primary: String,
    standby: Option<String>,
    standby_until: Mutex<Option<Instant>>,
}

/// The order in which one attempt tries the base URLs.
struct Route<'a> {
    first: &'a str,
    second: Option<&'a str>,
    first_is_standby: bool,
}

impl Bases {
    pub(crate) fn new(primary: String, standby: Option<String>) -> Bases {
        Bases {
            primary,
            standby,
            standby_until: Mutex::new(None),
        }
    }

    pub(crate) fn primary(&self) -> &str {
        &self.primary
    }

    pub(crate) fn standby(&self) -> Option<&str> {
        self.standby.as_deref()
    }

    /// The standby first while it is preferred, the primary first otherwise.
    fn route(&self, now: Instant) -> Route<'_> {
        let standby = self.standby.as_deref();
        let prefer_standby =
            standby.is_some() && lock(&self.standby_until).is_some_and(|t| now < t);
        match standby {
            Some(s) if prefer_standby => Route {
                first: s,
                second: Some(&self.primary),
                first_is_standby: true,
            },
            _ => Route {
                first: &self.primary,
                second: standby,
                first_is_standby: false,
            },
        }
    }

    /// The second base URL answered after the first could not be reached:
    /// prefer the standby for a while, or go back to the primary.
    fn switched(&self, from_standby: bool, now: Instant) {
        *lock(&self.standby_until) = (!from_standby).then(|| now + STANDBY_STICKY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standby_is_preferred_for_a_while_after_a_switch_then_the_primary_again() {
        let b = Bases::new("p".into(), Some("s".into()));
        let t0 = Instant::now();
        assert_eq!(b.route(t0).first, "p");
        b.switched(false, t0);
        let r = b.route(t0 + Duration::from_secs(1));
        assert_eq!(
            (r.first, r.second, r.first_is_standby),
            ("s", Some("p"), true)
        );
        assert_eq!(
            b.route(t0 + STANDBY_STICKY).first,
            "p",
            "sticky for 60 s only"
        );
        b.switched(true, t0);
        assert_eq!(b.route(t0).first, "p", "the primary answered again");
        let alone = Bases::new("p".into(), None);
        alone.switched(false, t0);
        assert_eq!((alone.route(t0).first, alone.route(t0).second), ("p", None));
    }
}

//! What the receiver answers: a delivery verified, checked for repeats,
//! handed to the handler and acknowledged; `/healthz` and `/metrics`.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::metrics::Counters;
use super::{answer, quiet, Answer, Claim, Delivery, Seen};
use crate::callback::{self, Verifier};
use crate::server::{self, HttpRequest, Reply};
use crate::sync::lock;

/// A check of whether events can be stored now.
pub(super) type Probe = dyn Fn() -> Result<(), String> + Send + Sync;

/// The handler as the server calls it.
pub(super) type HandlerFn = dyn Fn(&Delivery) -> Result<(), String> + Send + Sync;

/// The receiver as the server calls it: verification, the repeat check,
/// the handler, `/healthz` and `/metrics`.
pub(super) struct App {
    pub(super) verifier: Verifier,
    pub(super) handler: Box<HandlerFn>,
    pub(super) seen: Option<Arc<dyn Seen>>,
    pub(super) health: Option<Box<Probe>>,
    pub(super) repeat_wait: Duration,
    pub(super) counters: Arc<Counters>,
    pub(super) quiet: Arc<quiet::Quiet>,
}

/// The log's label of a refusal.
fn refusal(reason: &'static str) -> &'static str {
    match reason {
        "wrong app" => "refused (wrong app)",
        "bad sign" => "refused (bad sign)",
        "stale" => "refused (stale)",
        "too large" => "refused (too large)",
        "method" => "refused (method)",
        "bad account" => "refused (bad account)",
        "timed out" => "refused (timed out)",
        _ => "refused (malformed)",
    }
}

/// A reply with a JSON body.
fn json_reply(status: u16, body: String) -> Reply {
    Reply::Response {
        status,
        content_type: "application/json",
        body: body.into_bytes(),
    }
}

impl App {
    /// `GET /healthz`: 200 while events can be handed over and stored (the
    /// repeat check answers, the health probe passes), 503 with the reason
    /// when not.
    fn healthz(&self) -> Reply {
        let seen = self.seen.as_ref().map_or(Ok(()), |s| s.check());
        let health = seen.and_then(|()| self.health.as_ref().map_or(Ok(()), |probe| probe()));
        let (status, body) = match health {
            Ok(()) => (200, "ok\n".to_string()),
            Err(why) => (503, format!("cannot store events: {why}\n")),
        };
        Reply::Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into_bytes(),
        }
    }

    /// `GET /metrics`: the counters in the Prometheus text format.
    fn metrics(&self) -> Reply {
        Reply::Response {
            status: 200,
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body: self.counters.prometheus().into_bytes(),
        }
    }

    /// Claims the delivery's key: `None` when this delivery is to be
    /// handed over, else the answer. A copy of an event being handled
    /// elsewhere waits (at most `repeat_wait`) for that copy's outcome: an
    /// event handled meanwhile is acknowledged as a repeat, one whose
    /// handler failed is handed over by this copy, and one still in flight
    /// at the end is answered 503, never acknowledged early.
    fn claim(&self, key: &str, peer: SocketAddr) -> Option<Reply> {
        let c = &self.counters;
        let seen = self.seen.as_ref()?;
        let deadline = Instant::now() + self.repeat_wait;
        loop {
            match seen.claim(key) {
                Ok(Claim::Claimed) => return None,
                Ok(Claim::Done) => {
                    c.repeats.fetch_add(1, Ordering::SeqCst);
                    c.acked.fetch_add(1, Ordering::SeqCst);
                    return Some(json_reply(200, callback::ack_ok().to_string()));
                }
                Ok(Claim::InFlight) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(_) => {
                    c.not_yet.fetch_add(1, Ordering::SeqCst);
                    self.quiet.note(
                        "answered 503: a copy of the event was still being handled",
                        Some(peer),
                        || format!("event {key}"),
                    );
                    return Some(json_reply(
                        503,
                        callback::ack_fail(503, "another copy of this event is being handled"),
                    ));
                }
                Err(why) => {
                    c.failed.fetch_add(1, Ordering::SeqCst);
                    self.quiet
                        .note("not handled: the repeat check failed", Some(peer), || why);
                    return Some(json_reply(
                        500,
                        callback::ack_fail(500, "repeat check unavailable"),
                    ));
                }
            }
        }
    }
}

impl server::Handler for App {
    fn drop_before_body(&self, _: &str, _: &str) -> bool {
        false
    }

    fn refused(&self, status: u16, peer: Option<SocketAddr>) {
        let reason = match status {
            413 => "too large",
            408 => "timed out",
            _ => "malformed",
        };
        *lock(&self.counters.refused).entry(reason).or_default() += 1;
        self.quiet
            .note(refusal(reason), peer, || format!("HTTP {status}"));
    }

    fn handle(&self, request: HttpRequest) -> Reply {
        if request.method == "GET" {
            match request.target.split('?').next() {
                Some("/healthz") => return self.healthz(),
                Some("/metrics") => return self.metrics(),
                _ => {}
            }
        }
        self.counters.received.fetch_add(1, Ordering::SeqCst);
        let delivery = match self.verified(&request) {
            Ok(d) => d,
            Err(refused) => return refused,
        };
        if let Some(reply) = self.claim(&delivery.key, request.peer) {
            return reply;
        }
        self.hand_over(&delivery, request.peer)
    }
}

impl App {
    /// The request's verified delivery, or the answer that refuses it
    /// (counted and logged).
    fn verified(&self, request: &HttpRequest) -> Result<Delivery, Reply> {
        let now = crate::clock::unix_now();
        let (method, target) = (&request.method, &request.target);
        match answer(&self.verifier, method, target, &request.body, now) {
            Answer::Deliver(d) => Ok(d),
            Answer::Refuse {
                status,
                reason,
                body,
            } => {
                *lock(&self.counters.refused).entry(reason).or_default() += 1;
                self.quiet.note(refusal(reason), Some(request.peer), || {
                    // The path only: the query holds the Sign.
                    let path = target.split('?').next().unwrap_or_default();
                    format!("HTTP {status} to {method} {path}")
                });
                Err(json_reply(status, body))
            }
        }
    }

    /// Runs the handler on a claimed delivery: acknowledged and marked
    /// done when it returned `Ok`, else given back and answered 500.
    fn hand_over(&self, delivery: &Delivery, peer: SocketAddr) -> Reply {
        let c = &self.counters;
        let started = Instant::now();
        let handled = (self.handler)(delivery);
        c.observe(started.elapsed());
        match handled {
            Ok(()) => {
                if let Some(seen) = &self.seen {
                    seen.done(&delivery.key);
                }
                c.handled.fetch_add(1, Ordering::SeqCst);
                c.acked.fetch_add(1, Ordering::SeqCst);
                json_reply(200, callback::ack_ok().to_string())
            }
            Err(why) => {
                if let Some(seen) = &self.seen {
                    seen.release(&delivery.key);
                }
                c.failed.fetch_add(1, Ordering::SeqCst);
                self.quiet
                    .note("not handled: the handler failed", Some(peer), || why);
                json_reply(
                    500,
                    callback::ack_fail(500, "the event could not be handled"),
                )
            }
        }
    }
}

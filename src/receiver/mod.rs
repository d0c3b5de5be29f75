//! A webhook receiver that runs as a server (feature `receiver`): it binds
//! an address, verifies every delivery with a [`Verifier`] (SdkAppid, Sign,
//! RequestTime skew, body bound, repeated parameters), hands each verified
//! event to your handler, and acknowledges it (`ErrorCode` 0) only after
//! the handler returned `Ok`. A handler error is answered with HTTP 500 and
//! a failure body, so that the delivery is not taken as done.
//!
//! ```no_run
//! use tim_follow::callback::Verifier;
//! use tim_follow::receiver::Receiver;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = Verifier::new(1400000000).token(std::env::var("TIM_CALLBACK_TOKEN")?);
//! let receiver = Receiver::builder("0.0.0.0:9000".parse()?, verifier)
//!     .start(|delivery| {
//!         println!("{}", delivery.json());
//!         Ok::<(), std::io::Error>(()) // store it first: the ack follows
//!     })?;
//! let stopper = receiver.stopper(); // stopper.stop() from a signal handler
//! # stopper.stop();
//! let stats = receiver.wait(); // until stopped; in-flight deliveries finish
//! eprintln!("{} events acknowledged", stats.acked);
//! # Ok(()) }
//! ```
//!
//! It is HTTP/1.1 with keep-alive (Tencent keeps its webhook connections
//! open): one event loop reads every connection (a slow or idle one costs a
//! buffer, not a thread), a bounded pool of workers runs the handler, and
//! connections have head, body and idle timeouts and a minimum transfer
//! rate. `GET /healthz` and `GET /metrics` answer load balancers and
//! monitoring (see [`ReceiverBuilder::health`]). A program that already has an HTTP server does not need it:
//! [`answer`] turns a request's method, target and body into the response
//! and the verified event, and [`Verifier::verify`] is the check alone.
//!
//! **Repeats.** The service may deliver an event more than once. A receiver
//! given a [`Seen`] (such as [`Remembered`], or a shared one through Redis
//! with feature `redis`) hands an event to the handler once: a repeat of one
//! already handled (same command, accounts and `EventTime`) is acknowledged
//! without calling the handler. A key is claimed before the handler runs,
//! marked done once it returned `Ok`, and given back if it failed. A repeat
//! that comes while the first copy is still being handled is never
//! acknowledged before that copy is: it waits for the outcome (at most
//! [`repeat_wait`](ReceiverBuilder::repeat_wait)) and is acknowledged once
//! the first copy is handled, handed over itself if that copy failed, or
//! answered 503 if it is still being handled.
//!
//! **What the service does with the answer.** Both follow webhooks are
//! "after" webhooks: Tencent documents that it ignores their reply code, and
//! does not document retries. The receiver still answers truthfully (200 and
//! `ErrorCode` 0 only once the event is handled; 500 otherwise), which any
//! sender that retries can act on; the emulator does.

mod app;
mod metrics;
mod quiet;
mod seen;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::callback::{self, CallbackError, Event, Verifier};
use crate::server::{Limits, Server};
use crate::sync::lock;
use app::{App, Probe};
use metrics::Counters;

#[cfg(feature = "redis")]
pub use seen::RedisSeen;
pub use seen::{Claim, Remembered, Seen};

/// A verified delivery, as the handler gets it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Delivery {
    /// The event.
    pub event: Event,
    /// `RequestTime` of the delivery (Unix seconds), when it carried one.
    pub request_time: Option<u64>,
    /// When the receiver read it (Unix milliseconds).
    pub received_at_ms: u64,
    /// What identifies the event across repeats: a hash of the command, the
    /// accounts and `EventTime` (or of the body, for other commands).
    pub key: String,
}

impl Delivery {
    /// The delivery as one JSON object: `command`, `from`, `to`,
    /// `event_time` (ms), `request_time` (s or null), `received_at` (ms)
    /// and `key`; other commands carry their `body` instead of the accounts.
    pub fn json(&self) -> serde_json::Value {
        let mut v = match &self.event {
            Event::FollowAdd(e) | Event::FollowDelete(e) => json!({
                "command": command_of(&self.event),
                "from": e.from_account,
                "to": e.to_accounts,
                "event_time": e.event_time_ms,
            }),
            Event::Other { command, body } => json!({"command": command, "body": body}),
        };
        if let Some(m) = v.as_object_mut() {
            m.insert("request_time".into(), json!(self.request_time));
            m.insert("received_at".into(), json!(self.received_at_ms));
            m.insert("key".into(), json!(self.key));
        }
        v
    }
}

fn command_of(event: &Event) -> &str {
    match event {
        Event::FollowAdd(_) => callback::FOLLOW_ADD,
        Event::FollowDelete(_) => callback::FOLLOW_DELETE,
        Event::Other { command, .. } => command,
    }
}

/// The key of an event: SHA-256 (hex, 32 digits) of its command, accounts
/// and `EventTime` (see [`follow_key`]), or of the body for other commands.
pub fn event_key(event: &Event, body: &[u8]) -> String {
    match event {
        Event::FollowAdd(e) | Event::FollowDelete(e) => follow_key(
            command_of(event),
            &e.from_account,
            &e.to_accounts,
            e.event_time_ms,
        ),
        _ => hex16(&hmac_sha256::Hash::hash(body)),
    }
}

/// The key of a follow event from its parts: SHA-256 (hex, 32 digits) of
/// the command, the account and each target, each preceded by its length
/// (so that no two different events share an encoding, whatever bytes the
/// ids hold), the number of targets, and `EventTime` (ms).
///
/// ```
/// use tim_follow::receiver::follow_key;
/// let c = "Follow.CallbackAfterFollowAdd";
/// let ab = follow_key(c, "a", &["b\nc".to_string()], 1);
/// let abc = follow_key(c, "a", &["b".to_string(), "c".to_string()], 1);
/// assert_ne!(ab, abc);
/// assert_eq!(ab.len(), 32);
/// ```
pub fn follow_key<S: AsRef<str>>(
    command: &str,
    from: &str,
    to: &[S],
    event_time_ms: u64,
) -> String {
    let mut h = hmac_sha256::Hash::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(command.as_bytes());
    field(from.as_bytes());
    field(&(to.len() as u64).to_le_bytes());
    for t in to {
        field(t.as_ref().as_bytes());
    }
    field(&event_time_ms.to_le_bytes());
    hex16(&h.finalize())
}

/// The first 16 bytes of a digest, in hex.
fn hex16(digest: &[u8; 32]) -> String {
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// What to answer a request with: a delivery to hand over, or a refusal.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Answer {
    /// Verified: hand it over, then acknowledge it.
    Deliver(Delivery),
    /// Refused, never handed over: the HTTP status, the reason (a short
    /// label, such as `bad sign`), and the body to send.
    Refuse {
        /// HTTP status.
        status: u16,
        /// `wrong app`, `bad sign`, `stale`, `too large`, `malformed`,
        /// `bad account` (ids the client would refuse) or `method`.
        reason: &'static str,
        /// The failure body (`ActionStatus` FAIL).
        body: String,
    },
}

/// Verifies one request (`method`, `target` with its query, `body`) as of
/// `now_unix_secs`: the pure core of the receiver, for a program with its
/// own server. Never panics, whatever the bytes.
///
/// ```
/// use tim_follow::callback::Verifier;
/// use tim_follow::receiver::{answer, Answer};
///
/// let v = Verifier::new(1400000000);
/// let body = br#"{"CallbackCommand":"Follow.CallbackAfterFollowDelete","From_Account":"a","To_Account":["b"],"EventTime":1}"#;
/// let target = "/cb?SdkAppid=1400000000&CallbackCommand=Follow.CallbackAfterFollowDelete";
/// assert!(matches!(answer(&v, "POST", target, body, 0), Answer::Deliver(_)));
/// let wrong = "/cb?SdkAppid=1400000001&CallbackCommand=Follow.CallbackAfterFollowDelete";
/// assert!(matches!(answer(&v, "POST", wrong, body, 0), Answer::Refuse { status: 403, .. }));
/// ```
pub fn answer(
    verifier: &Verifier,
    method: &str,
    target: &str,
    body: &[u8],
    now_unix_secs: u64,
) -> Answer {
    let refuse = |status, reason: &'static str, info: &str| Answer::Refuse {
        status,
        reason,
        body: callback::ack_fail(status.into(), info),
    };
    if method != "POST" {
        return refuse(405, "method", "webhooks are POSTed");
    }
    let query = target.split_once('?').map_or("", |(_, q)| q);
    match verifier.verify_at(query, body, now_unix_secs) {
        Ok(Event::FollowAdd(e) | Event::FollowDelete(e)) if bad_accounts(&e).is_some() => {
            let why = bad_accounts(&e).unwrap_or_default();
            refuse(400, "bad account", &why)
        }
        Ok(event) => {
            let request_time = crate::request::parse_query(query)
                .into_iter()
                .find(|(k, _)| k == "RequestTime")
                .and_then(|(_, v)| v.parse().ok());
            let key = event_key(&event, body);
            Answer::Deliver(Delivery {
                event,
                request_time,
                received_at_ms: crate::clock::unix_now_ms(),
                key,
            })
        }
        Err(e) => {
            let (status, reason) = match &e {
                CallbackError::SdkAppIdMismatch { .. } => (403, "wrong app"),
                CallbackError::MissingSignature | CallbackError::BadSignature => (403, "bad sign"),
                CallbackError::TooOld { .. } | CallbackError::FromFuture { .. } => (403, "stale"),
                CallbackError::TooLarge { .. } => (413, "too large"),
                _ => (400, "malformed"),
            };
            refuse(status, reason, &e.to_string())
        }
    }
}

/// Why the accounts of an event are ones the client itself would refuse
/// (an empty, too long or control-character id, no target), if they are.
fn bad_accounts(e: &callback::FollowEvent) -> Option<String> {
    use crate::request::validate_account;
    if e.to_accounts.is_empty() {
        return Some("the event names no target account".into());
    }
    use crate::error::Field;
    std::iter::once((Field::FromAccount, &e.from_account))
        .chain(
            e.to_accounts
                .iter()
                .map(|t| (Field::Other("To_Account"), t)),
        )
        .find_map(|(field, id)| validate_account(field, id).err())
        .map(|e| e.to_string())
}

/// Counts of what a receiver did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceiverStats {
    /// Requests read whole.
    pub received: u64,
    /// Deliveries acknowledged with `ErrorCode` 0 (repeats included).
    pub acked: u64,
    /// Events handed to the handler (and acknowledged).
    pub handled: u64,
    /// Repeats of events already handled: acknowledged, not handed over.
    pub repeats: u64,
    /// Deliveries whose handler failed (answered 500).
    pub failed: u64,
    /// Repeats that came while the first copy was still being handled and
    /// that it did not finish within the wait (answered 503, not
    /// acknowledged).
    pub not_yet: u64,
    /// Refused deliveries by reason (`bad sign`, `wrong app`, `stale`,
    /// `too large`, `malformed`, `bad account`, `method`, `timed out`).
    pub refused: BTreeMap<&'static str, u64>,
}

/// Sets up a [`Receiver`].
#[must_use]
pub struct ReceiverBuilder {
    addr: SocketAddr,
    verifier: Verifier,
    limits: Limits,
    seen: Option<Arc<dyn Seen>>,
    health: Option<Box<Probe>>,
    repeat_wait: Duration,
    log_every: Duration,
    grace: Duration,
}

impl fmt::Debug for ReceiverBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiverBuilder")
            .field("addr", &self.addr)
            .field("verifier", &self.verifier)
            .field("max_connections", &self.limits.max_connections)
            .finish_non_exhaustive()
    }
}

impl ReceiverBuilder {
    /// Connections open at once (default 256; the handler runs on up to 128
    /// of them at a time). With every place taken, a new connection takes
    /// the place of the one that has made the least progress (idle the
    /// longest, or sending the slowest); when every one has its request
    /// with the handler or its reply under way, the new one is closed at
    /// once.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.limits.max_connections = n.max(1);
        self
    }

    /// How long a connection may stay idle between requests (default 60 s,
    /// Tencent keeps its webhook connections open).
    pub fn idle_timeout(mut self, t: Duration) -> Self {
        self.limits.idle = t;
        self
    }

    /// How long the head of a request may take once its first byte came
    /// (default 10 s).
    pub fn head_timeout(mut self, t: Duration) -> Self {
        self.limits.head = t;
        self
    }

    /// How long the body may take once the head is read (default 10 s).
    pub fn body_timeout(mut self, t: Duration) -> Self {
        self.limits.body = t;
        self
    }

    /// The largest body read (default: the verifier's, 64 KiB); a larger
    /// one is refused with 413 before it is read.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.limits.max_body = bytes;
        self.verifier = self.verifier.max_body(bytes);
        self
    }

    /// Hands each event over once (see the module docs).
    pub fn seen(mut self, seen: Arc<dyn Seen>) -> Self {
        self.seen = Some(seen);
        self
    }

    /// How long a repeat that comes while the first copy of its event is
    /// being handled waits for that copy's outcome (default 5 s): handled
    /// → acknowledged as a repeat; failed → handed over by the repeat;
    /// still being handled → answered 503 (not acknowledged).
    pub fn repeat_wait(mut self, t: Duration) -> Self {
        self.repeat_wait = t;
        self
    }

    /// What `GET /healthz` asks before it answers 200: `Err(why)` when
    /// events cannot be stored now (a disk full, a file gone, a database
    /// away), answered 503 with the reason, for load balancers. Without
    /// it, `/healthz` checks the repeat check only ([`Seen::check`]).
    pub fn health<F>(mut self, probe: F) -> Self
    where
        F: Fn() -> Result<(), String> + Send + Sync + 'static,
    {
        self.health = Some(Box::new(probe));
        self
    }

    /// How often refusals and failures are logged (default 5 s): one
    /// warning per reason in each period, with the count and a sample (a
    /// peer and what was wrong), never a line per request.
    pub fn log_every(mut self, t: Duration) -> Self {
        self.log_every = t.max(Duration::from_millis(100));
        self
    }

    /// How long a stop waits for deliveries in flight (default 10 s).
    pub fn grace(mut self, t: Duration) -> Self {
        self.grace = t;
        self
    }

    /// Binds and starts serving: each verified delivery goes to `handler`,
    /// on the connection's thread; it is acknowledged only if the handler
    /// returns `Ok`.
    pub fn start<H, E>(self, handler: H) -> std::io::Result<Receiver>
    where
        H: Fn(&Delivery) -> Result<(), E> + Send + Sync + 'static,
        E: fmt::Display,
    {
        let counters = Arc::new(Counters::default());
        let quiet = quiet::Quiet::start(self.log_every);
        let app = App {
            verifier: self.verifier,
            handler: Box::new(move |d| handler(d).map_err(|e| e.to_string())),
            seen: self.seen,
            health: self.health,
            repeat_wait: self.repeat_wait,
            quiet: quiet.clone(),
            counters: counters.clone(),
        };
        let server = Server::start(self.addr, Arc::new(app), self.limits)?;
        Ok(Receiver {
            server: Some(server),
            counters,
            quiet,
            stop: Arc::new((Mutex::new(false), Condvar::new())),
            grace: self.grace,
        })
    }
}

/// A running receiver: see the [module docs](self). Dropping it stops it
/// without waiting; [`shutdown`](Receiver::shutdown) waits for deliveries
/// in flight.
pub struct Receiver {
    server: Option<Server>,
    counters: Arc<Counters>,
    quiet: Arc<quiet::Quiet>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    grace: Duration,
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("addr", &self.local_addr())
            .finish_non_exhaustive()
    }
}

/// Stops a [`Receiver`] from another thread (a signal handler, a test).
#[derive(Clone)]
pub struct Stopper(Arc<(Mutex<bool>, Condvar)>);

impl fmt::Debug for Stopper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Stopper")
    }
}

impl Stopper {
    /// Asks the receiver to stop: [`Receiver::wait`] returns once the
    /// deliveries in flight are answered.
    pub fn stop(&self) {
        *lock(&self.0 .0) = true;
        self.0 .1.notify_all();
    }
}

impl Receiver {
    /// A receiver of deliveries for `verifier`'s app on `addr`.
    pub fn builder(addr: SocketAddr, verifier: Verifier) -> ReceiverBuilder {
        ReceiverBuilder {
            addr,
            verifier: verifier.max_body(64 * 1024),
            limits: Limits {
                max_connections: 256,
                idle: Duration::from_secs(60),
                head: Duration::from_secs(10),
                body: Duration::from_secs(10),
                max_body: 64 * 1024,
                max_workers: 128,
            },
            seen: None,
            health: None,
            repeat_wait: Duration::from_secs(5),
            log_every: Duration::from_secs(5),
            grace: Duration::from_secs(10),
        }
    }

    /// The address it listens on (with the port the system chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.server
            .as_ref()
            .map_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)), Server::addr)
    }

    /// What it has done so far.
    pub fn stats(&self) -> ReceiverStats {
        self.counters.snapshot()
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.server.as_ref().map_or(0, Server::open_connections)
    }

    /// A handle that stops it from another thread.
    pub fn stopper(&self) -> Stopper {
        Stopper(self.stop.clone())
    }

    /// Serves until [`Stopper::stop`], then stops as [`shutdown`](Receiver::shutdown) does.
    pub fn wait(self) -> ReceiverStats {
        {
            let (flag, cv) = &*self.stop;
            let mut stopped = lock(flag);
            while !*stopped {
                stopped = cv.wait(stopped).unwrap_or_else(|e| e.into_inner());
            }
        }
        self.shutdown()
    }

    /// Stops accepting, lets the deliveries in flight finish and be
    /// answered (for at most the grace time), and returns the counts.
    pub fn shutdown(mut self) -> ReceiverStats {
        if let Some(server) = self.server.take() {
            server.shutdown(self.grace);
        }
        self.quiet.flush();
        self.counters.snapshot()
    }
}

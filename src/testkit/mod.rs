//! An in-process emulator of the follow service, over real HTTP on 127.0.0.1
//! (feature `testkit`).
//!
//! It speaks the REST wire protocol — POST, the five query parameters, real
//! UserSig verification, the documented error codes — and keeps a follow
//! graph, so that code built on this crate (or on any HTTP client, in any
//! language) can be tested without credentials or network.
//!
//! ```
//! use tim_follow::testkit::Emulator;
//! use tim_follow::FollowType;
//!
//! let emu = Emulator::start()?;
//! emu.import_accounts(&["alice", "bob"]);
//! let client = emu.client();
//! client.follow("alice", "bob")?;
//! assert_eq!(client.relation("alice", "bob")?, FollowType::Following);
//! assert_eq!(emu.requests().len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Behaviour
//!
//! - Checks, in order: POST (else 60002); `sdkappid` present (60012), a
//!   number (60002) and the emulator's (70020); `identifier` and `usersig`
//!   present (60004; empty usersig 70002); `random` a u32 and
//!   `contenttype=json` (60002); the UserSig: malformed 70003, wrong key 70009,
//!   expired 70001, other identifier 70013, other SDKAppID 70014; the
//!   identifier is the admin (on `follow/*` 30004, from the follow pages'
//!   error tables and Tencent's error-code FAQ, 269/32485; on `im_open_login_svc/*` 70403, documented for
//!   the account imports; elsewhere 60010, the public REST code for "needs
//!   App admin permission"); the per-API rate limit (default 200 calls in
//!   any second, answered with 60007); the body is a JSON object (60003);
//!   the path is known (60009).
//! - Accounts must be imported: [`Emulator::import_accounts`], or
//!   `v4/im_open_login_svc/account_import` (`{"UserID":…}`) and
//!   `multiaccount_import` (`{"Accounts":[…]}` or `{"AccountList":[{"UserID":…}]}`,
//!   at most 100, failures in `FailAccounts`).
//! - An unknown `From_Account` fails the whole request with 30003; an unknown
//!   target fails its item with 30003. More targets than the endpoint allows,
//!   or an empty list, is 30001. Following oneself is refused per item with
//!   30001; following past 5000 accounts with 32100.
//! - Following an account already followed is applied and keeps the first
//!   follow time. Unfollowing an account that is not followed is applied too
//!   (`ResultCode` 0): the state asked for holds, and retries stay harmless.
//!   [`DuplicateAnswer::Refuse`] answers both with a code instead.
//! - follow_get lists newest first, with an opaque cursor; `WantNum` 0 or
//!   absent means 100, above 1000 is 30001. Mutual entries carry the later
//!   of the two follow times.
//! - Replies are written in the field order of the service's documented
//!   samples ([`ReplyLayout`]).
//!
//! # The emulator's own choices
//!
//! Where the service's behaviour is not documented, the emulator picks an
//! answer. These are invented: no page of Tencent's, English or Chinese, no
//! SDK and no FAQ we found supports them, and code that depends on them is
//! depending on the emulator, not on the service:
//!
//! - 30001 for following oneself (invented: the code and that it is per
//!   item); per-item 32100 rather than a top-level one past the following
//!   limit (the code 32100 itself is documented).
//! - Every `ResultInfo` and `ErrorInfo` text (invented): `Err_SNS_Invalid_Param:
//!   cannot follow oneself`, `Err_SNS_Account_Not_Exist`,
//!   `Err_SNS_Following_Count_Exceed_Limit`, and for
//!   [`DuplicateAnswer::Refuse`] its own `already following this account` /
//!   `not following this account` (never the self-follow text).
//! - The answer to a repeated follow or unfollow ([`DuplicateAnswer`]).
//! - Its cursors (`emu1.…`, short) and the refusal (30001) of any cursor it
//!   did not issue; the 1,024-byte cap on `StartCursor` is the client's own
//!   check, before any request ([`FollowGet`](crate::FollowGet)).
//! - 60007 past the rate limit (which code the service answers is not
//!   documented).

mod endpoints;
mod faults;
mod gateway;
mod graph;
mod layout;
mod service;
mod webhooks;
/// The HTTP/1.1 request reader of the emulator and the receiver. Hidden:
/// not an API for users (it may change with the server); public only so
/// that the fuzz targets can reach it.
#[doc(hidden)]
pub use crate::server::wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::client::{Client, ClientBuilder};
use crate::sync::lock;
pub use layout::ReplyLayout;
use service::{Config, Service};
pub use webhooks::WebhookRecord;
use webhooks::Webhooks;

/// The SDKAppID the emulator uses unless told otherwise.
pub const DEFAULT_SDKAPPID: u64 = 1400000000;
/// The admin identifier the emulator uses unless told otherwise.
pub const DEFAULT_ADMIN: &str = "administrator";
/// The SecretKey the emulator uses unless told otherwise (the public sample key).
pub const DEFAULT_SECRET_KEY: &str =
    "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";

/// A fault to inject into the next matching requests.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Fault {
    /// Wait this long, then answer normally.
    Latency(Duration),
    /// Answer with this HTTP status and an HTML body; the request is not processed.
    HttpStatus(u16),
    /// Close the connection once the request line and headers are read,
    /// before the body; the request is not processed.
    DropBeforeRead,
    /// Read the whole request, then close the connection without an answer;
    /// the request is not processed.
    DropAfterRead,
    /// Process the request, then close the connection without an answer.
    DropAfterProcessing,
    /// Process the request, then send only half of the answer's body (with
    /// the full `Content-Length`) and close.
    TruncatedBody,
    /// Answer 200 with a body that is not JSON; not processed.
    GarbageBody,
    /// Answer 200 with a JSON body of about this many bytes; not processed.
    OversizedBody(usize),
    /// Answer with this `ErrorCode`; not processed.
    ErrorCode(i64),
}

/// How the emulator answers a follow of an account already followed, or an
/// unfollow of an account not followed. The service's own behaviour is not
/// documented, so tests should pass under both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DuplicateAnswer {
    /// `ResultCode` 0: the graph is in the state asked for (the default).
    #[default]
    Apply,
    /// This `ResultCode` for that account, as Tencent's friend APIs answer
    /// 30001 for "already a friend" / "not a friend".
    Refuse(i64),
}

/// One request the emulator received.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LoggedRequest {
    /// `servicename/command`, such as `follow/follow_delete`.
    pub path: String,
    /// The decoded query, without `usersig`.
    pub query: String,
    /// The body as text (empty when dropped before it was read).
    pub body: String,
    /// When it arrived, from the emulator's start.
    pub at: Duration,
    /// The `ErrorCode` answered (`None` when no envelope was sent).
    pub error_code: Option<i64>,
    /// The injected fault, if any.
    pub fault: Option<String>,
}

/// Sets up an [`Emulator`].
#[derive(Debug, Clone)]
#[must_use]
pub struct EmulatorBuilder {
    sdkappid: u64,
    admin: String,
    secret_key: String,
    accounts: Vec<String>,
    port: u16,
    rate_limit: Option<u32>,
    rate_limit_code: i64,
    max_following: usize,
    duplicates: DuplicateAnswer,
    open_accounts: bool,
    idle_timeout: Duration,
    webhook: Option<(String, Option<String>)>,
    webhook_retries: u32,
    layout: ReplyLayout,
}

impl EmulatorBuilder {
    /// The SDKAppID (default [`DEFAULT_SDKAPPID`]).
    pub fn sdkappid(mut self, sdkappid: u64) -> Self {
        self.sdkappid = sdkappid;
        self
    }

    /// The App admin identifier (default [`DEFAULT_ADMIN`]).
    pub fn admin(mut self, admin: impl Into<String>) -> Self {
        self.admin = admin.into();
        self
    }

    /// The SecretKey UserSigs are checked with (default [`DEFAULT_SECRET_KEY`]).
    pub fn secret_key(mut self, key: impl Into<String>) -> Self {
        self.secret_key = key.into();
        self
    }

    /// Accounts imported at start.
    pub fn accounts<S: AsRef<str>>(mut self, ids: &[S]) -> Self {
        self.accounts
            .extend(ids.iter().map(|s| s.as_ref().to_string()));
        self
    }

    /// The port on 127.0.0.1 (default 0: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Calls per second each API accepts (default 200), answered past that
    /// with `code` (default 60007). `None` turns the limit off. A call is
    /// counted over a sliding second when it arrives, before its latency
    /// ([`Emulator::set_latency`]), as the service counts it.
    pub fn rate_limit(mut self, per_second: Option<u32>, code: i64) -> Self {
        self.rate_limit = per_second;
        self.rate_limit_code = code;
        self
    }

    /// How many accounts one account may follow (default 5000).
    pub fn max_following(mut self, n: usize) -> Self {
        self.max_following = n;
        self
    }

    /// How a follow that is already in place, or an unfollow of an account
    /// not followed, is answered (default [`DuplicateAnswer::Apply`]). In
    /// both modes nothing changes and no webhook is sent for it.
    pub fn duplicates(mut self, answer: DuplicateAnswer) -> Self {
        self.duplicates = answer;
        self
    }

    /// How long a connection may send nothing before it is closed (default
    /// 30 s): idle between requests, a request head that never ends, or a
    /// body that stops arriving (answered 408 then). It listens on a port
    /// other tools talk to; slow or idle peers cannot pile up.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout.max(Duration::from_millis(10));
        self
    }

    /// Whether every account a follow request names exists, imported on
    /// first sight (default off: accounts must be imported, and an unknown
    /// one is refused with 30003). For load tests and benchmarks with
    /// millions of accounts.
    pub fn open_accounts(mut self, open: bool) -> Self {
        self.open_accounts = open;
        self
    }

    /// Sends `Follow.CallbackAfterFollowAdd` and `…FollowDelete` webhooks to
    /// `url` after each applied follow_add and follow_delete, signed with
    /// `token` when given (the callback authentication of the console).
    pub fn webhook(mut self, url: impl Into<String>, token: Option<&str>) -> Self {
        self.webhook = Some((url.into(), token.map(str::to_string)));
        self
    }

    /// How many times a webhook that was not acknowledged is sent again
    /// (default 0: each is sent once, since Tencent documents no retry for
    /// the follow webhooks; at most 10). Retries wait 100 ms, then twice as
    /// long each time.
    pub fn webhook_retries(mut self, n: u32) -> Self {
        self.webhook_retries = n.min(10);
        self
    }

    /// How replies are laid out (default [`ReplyLayout::Documented`], the
    /// service's documented field order); the other layouts make a client
    /// read them another way.
    pub fn reply_layout(mut self, layout: ReplyLayout) -> Self {
        self.layout = layout;
        self
    }

    /// Starts listening.
    ///
    /// Fails with [`std::io::ErrorKind::InvalidInput`] when the SDKAppID is 0,
    /// the admin identifier is not a valid account id or the SecretKey is empty.
    pub fn start(self) -> std::io::Result<Emulator> {
        let invalid = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, why);
        if self.sdkappid == 0 {
            return Err(invalid("the SDKAppID must not be 0".into()));
        }
        crate::request::validate_account(crate::error::Field::Admin, &self.admin)
            .map_err(|e| invalid(e.to_string()))?;
        if self.secret_key.trim().is_empty() {
            return Err(invalid("the SecretKey must not be empty".into()));
        }
        // The webhook threads end when the service, which holds their
        // queue, is gone and the queue is empty.
        let webhooks = match self.webhook.clone() {
            Some((url, token)) => Some(Webhooks::start(
                url,
                token,
                self.sdkappid,
                self.webhook_retries,
            )?),
            None => None,
        };
        let webhook_log = webhooks.as_ref().map(|w| w.log.clone());
        let service = Arc::new(Service::new(
            Config {
                sdkappid: self.sdkappid,
                admin: self.admin,
                secret_key: self.secret_key,
                max_following: self.max_following,
                duplicates: self.duplicates,
                open_accounts: self.open_accounts,
                layout: self.layout,
            },
            self.rate_limit,
            self.rate_limit_code,
            webhooks.map(|w| w.queue),
        ));
        {
            let mut graph = lock(&service.graph);
            for id in &self.accounts {
                graph.import(id, None);
            }
        }
        let limits = crate::server::Limits {
            max_connections: 1024,
            idle: self.idle_timeout,
            head: self.idle_timeout,
            body: self.idle_timeout,
            max_body: crate::server::wire::MAX_BODY,
            // As many requests handled at once as a client's cap of
            // requests in flight (ClientBuilder::concurrency) and more:
            // a latency fault sleeps on its handler thread.
            max_workers: 512,
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let server = crate::server::Server::start(addr, service.clone(), limits)?;
        Ok(Emulator {
            server,
            service,
            webhook_log,
        })
    }
}

/// A running emulator on 127.0.0.1; it stops when dropped.
pub struct Emulator {
    server: crate::server::Server,
    service: Arc<Service>,
    webhook_log: Option<Arc<std::sync::Mutex<Vec<WebhookRecord>>>>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("base_url", &self.base_url())
            .field("sdkappid", &self.sdkappid())
            .field("admin", &self.admin())
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Starts an emulator with the defaults, on a free port.
    ///
    /// Its error is a [`std::io::Error`] (the port could not be bound); it
    /// converts into a `Box<dyn Error>` with `?`, or into the crate's
    /// [`Error`](crate::Error) with `map_err`:
    ///
    /// ```
    /// use tim_follow::testkit::Emulator;
    ///
    /// fn run() -> Result<(), tim_follow::Error> {
    ///     let emu = Emulator::builder()
    ///         .accounts(&["alice", "bob"])
    ///         .start()
    ///         .map_err(tim_follow::Error::from)?;
    ///     emu.client().follow_check("alice", &["bob"])?;
    ///     Ok(())
    /// }
    /// # run().unwrap();
    /// ```
    pub fn start() -> std::io::Result<Emulator> {
        Emulator::builder().start()
    }

    /// Sets up an emulator.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder {
            sdkappid: DEFAULT_SDKAPPID,
            admin: DEFAULT_ADMIN.to_string(),
            secret_key: DEFAULT_SECRET_KEY.to_string(),
            accounts: Vec::new(),
            port: 0,
            rate_limit: Some(200),
            rate_limit_code: 60007,
            max_following: 5000,
            duplicates: DuplicateAnswer::Apply,
            open_accounts: false,
            idle_timeout: Duration::from_secs(30),
            webhook: None,
            webhook_retries: 0,
            layout: ReplyLayout::Documented,
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://127.0.0.1:PORT`, for [`ClientBuilder::base_url`].
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The SDKAppID it serves.
    pub fn sdkappid(&self) -> u64 {
        self.service.config.sdkappid
    }

    /// The App admin identifier.
    pub fn admin(&self) -> &str {
        &self.service.config.admin
    }

    /// The SecretKey it checks UserSigs with.
    pub fn secret_key(&self) -> &str {
        &self.service.config.secret_key
    }

    /// A client builder set up for this emulator (base URL, SDKAppID, admin,
    /// SecretKey), to adjust before building.
    pub fn client_builder(&self) -> ClientBuilder {
        Client::builder(self.sdkappid(), self.admin())
            .base_url(self.base_url())
            .secret_key(self.secret_key())
    }

    /// A client for this emulator with the default settings.
    pub fn client(&self) -> Client {
        match self.client_builder().build() {
            Ok(c) => c,
            // start() accepted the SDKAppID, admin and key: the builder cannot refuse them.
            Err(e) => unreachable!("the emulator's own settings are valid: {e}"),
        }
    }

    /// Imports accounts (importing one twice is not an error).
    pub fn import_accounts<S: AsRef<str>>(&self, ids: &[S]) {
        let mut graph = lock(&self.service.graph);
        for id in ids {
            graph.import(id.as_ref(), None);
        }
    }

    /// Makes `from` follow `to` directly, without a request (both are
    /// imported if needed): for setting up large graphs quickly.
    pub fn seed_follow(&self, from: &str, to: &str) {
        let mut graph = lock(&self.service.graph);
        graph.import(from, None);
        graph.import(to, None);
        let now = crate::clock::unix_now() as i64;
        let _ = graph.follow(from, to, now, usize::MAX);
    }

    /// Whether `from` follows `to`.
    pub fn is_following(&self, from: &str, to: &str) -> bool {
        matches!(lock(&self.service.graph).relation(from, to), Some(2 | 3))
    }

    /// The accounts `id` follows, newest first.
    pub fn following(&self, id: &str) -> Vec<String> {
        lock(&self.service.graph).list(id, 2)
    }

    /// The accounts that follow `id`, newest first.
    pub fn fans(&self, id: &str) -> Vec<String> {
        lock(&self.service.graph).list(id, 1)
    }

    /// Injects `fault` into the next `times` requests (any path).
    pub fn inject(&self, fault: Fault, times: u32) {
        self.service.faults.inject(fault, None, times);
    }

    /// Injects `fault` into the next `times` requests to `path`
    /// (`follow/follow_delete` or `v4/follow/follow_delete`).
    pub fn inject_for(&self, path: &str, fault: Fault, times: u32) {
        self.service
            .faults
            .inject(fault, Some(path.to_string()), times);
    }

    /// Delays every answer by `latency` (`None` for no delay).
    pub fn set_latency(&self, latency: Option<Duration>) {
        self.service.faults.set_latency(latency.map(|d| (d, d)));
    }

    /// Delays every answer by a random time between `min` and `max`.
    pub fn set_random_latency(&self, min: Duration, max: Duration) {
        self.service.faults.set_latency(Some((min, max.max(min))));
    }

    /// Removes every pending fault and the latency.
    pub fn clear_faults(&self) {
        self.service.faults.clear();
    }

    /// Changes the per-API rate limit (`None` turns it off) and its error code.
    pub fn set_rate_limit(&self, per_second: Option<u32>, code: i64) {
        self.service.rate.set(per_second, code);
    }

    /// The most requests the emulator handled at once (their latency
    /// included) since it started or since
    /// [`reset_peak_in_flight`](Emulator::reset_peak_in_flight): the
    /// concurrency a client reached, as the service saw it.
    pub fn peak_in_flight(&self) -> usize {
        self.service
            .peak_in_flight
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Starts [`peak_in_flight`](Emulator::peak_in_flight) again from the
    /// requests being handled now.
    pub fn reset_peak_in_flight(&self) {
        use std::sync::atomic::Ordering;
        let now = self.service.in_flight.load(Ordering::SeqCst);
        self.service.peak_in_flight.store(now, Ordering::SeqCst);
    }

    /// How many client connections are open now (keep-alive included).
    pub fn open_connections(&self) -> usize {
        self.server.open_connections()
    }

    /// Every request received so far, in order of completion.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.service.log).clone()
    }

    /// How many requests to `path` were received.
    pub fn request_count(&self, path: &str) -> usize {
        let path = path.trim_start_matches('/').trim_start_matches("v4/");
        lock(&self.service.log)
            .iter()
            .filter(|r| r.path == path)
            .count()
    }

    /// Forgets the requests received so far (the UserSigs received too).
    pub fn clear_requests(&self) {
        lock(&self.service.log).clear();
        lock(&self.service.usersigs).clear();
    }

    /// Every distinct `usersig` the emulator received, in order of first
    /// arrival: what a test looks for when it checks that no output holds
    /// a UserSig. Kept apart from [`requests`](Emulator::requests) so that
    /// the log can be printed.
    pub fn received_usersigs(&self) -> Vec<String> {
        lock(&self.service.usersigs).clone()
    }

    /// The webhooks sent so far (each once, however many attempts it took),
    /// in the order their delivery ended; empty without
    /// [`EmulatorBuilder::webhook`].
    pub fn webhooks(&self) -> Vec<WebhookRecord> {
        self.webhook_log
            .as_ref()
            .map(|log| lock(log).clone())
            .unwrap_or_default()
    }
}

/// How many batch-reply items and replies the client's reader read each
/// way on the calling thread since it started (see [`reader_paths`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ReaderPaths {
    /// Items read by the fixed-order pass (the service's documented layout).
    pub fixed_order_items: u64,
    /// Items read by the one-pass reader field by field (any other order).
    pub keyed_items: u64,
    /// Whole replies the one-pass reader left to serde (escapes, nested
    /// values, anything unusual).
    pub serde_replies: u64,
}

/// Which way the batch replies read on this thread were read: a test calls
/// it before and after a client call to prove which reader a layout
/// reaches. A call that takes one request reads its reply on the calling
/// thread; larger calls read on their worker threads, not counted here.
///
/// ```
/// use tim_follow::testkit::{reader_paths, Emulator};
///
/// let emu = Emulator::builder().accounts(&["a", "b"]).start()?;
/// let before = reader_paths();
/// emu.client().follow_check("a", &["b"])?;
/// assert_eq!(reader_paths().fixed_order_items, before.fixed_order_items + 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn reader_paths() -> ReaderPaths {
    let [fixed_order_items, keyed_items, serde_replies] = crate::reply::paths::get();
    ReaderPaths {
        fixed_order_items,
        keyed_items,
        serde_replies,
    }
}

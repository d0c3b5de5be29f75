//! The blocking client: validation, batch splitting, rate limiting, signing,
//! sending, retries and per-account results.

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::auth::{Secret, Signer};
use crate::error::{ApiError, Error, TransportErrorKind};
use crate::follow::{
    BatchRequest, FollowAdd, FollowCheck, FollowCounts, FollowDelete, FollowEntry, FollowGet,
    FollowGetInfo, FollowList, FollowPage, FollowType, ItemResult,
};
use crate::outcome::{AccountOutcome, BatchOutcome, Outcome, Progress};
use crate::ratelimit::RateLimiter;
use crate::region::Region;
use crate::request::{
    decode_error, parse_response_for, request_url, validate_account, validate_account_at, Request,
};
use crate::retry::{may_retry, RetryPolicy};
use crate::transport::{self, TransportConfig};

/// How long the standby domain is preferred after the primary failed.
const STANDBY_STICKY: Duration = Duration::from_secs(60);

/// A blocking client for the follow API. Cheap to clone: clones share the
/// connection pool, the UserSig cache and the rate limiter.
///
/// ```no_run
/// use tim_follow::{Client, FollowList, Region};
///
/// # fn main() -> Result<(), tim_follow::Error> {
/// let client = Client::builder(1400000000, "administrator")
///     .region(Region::Singapore)
///     .secret_key(std::env::var("TIM_SECRET_KEY").unwrap_or_default())
///     .build()?;
/// let out = client.follow_delete("UserID_001", &["UserID_002", "UserID_003"])?;
/// assert!(out.all_applied());
/// for entry in client.follow_get("UserID_001", FollowList::Following) {
///     println!("{}", entry?.to_account);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    sdkappid: u64,
    admin: String,
    primary: String,
    standby: Option<String>,
    standby_until: Mutex<Option<Instant>>,
    signer: Signer,
    agent: ureq::Agent,
    limiter: Option<RateLimiter>,
    retry: RetryPolicy,
    max_response_bytes: u64,
    concurrency: usize,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("Client")
            .field("sdkappid", &i.sdkappid)
            .field("admin", &i.admin)
            .field("base_url", &i.primary)
            .field("standby_base_url", &i.standby)
            .field("credentials", &i.signer)
            .field(
                "rate_limit",
                &i.limiter.as_ref().map(RateLimiter::per_second),
            )
            .field("concurrency", &i.concurrency)
            .field("retry", &i.retry)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Client`]. Every setting has a documented default but the
/// credentials: set [`usersig`](ClientBuilder::usersig) or
/// [`secret_key`](ClientBuilder::secret_key).
#[derive(Clone)]
#[must_use]
pub struct ClientBuilder {
    sdkappid: u64,
    admin: String,
    region: Region,
    base_url: Option<String>,
    standby_base_url: Option<String>,
    failover: bool,
    usersig: Option<Secret>,
    #[cfg(feature = "usersig")]
    secret_key: Option<Secret>,
    #[cfg(feature = "usersig")]
    usersig_validity: Duration,
    connect_timeout: Duration,
    timeout: Duration,
    retry: RetryPolicy,
    rate_limit: Option<u32>,
    concurrency: usize,
    max_response_bytes: u64,
    allow_insecure_http: bool,
    env_error: Option<Error>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ClientBuilder");
        d.field("sdkappid", &self.sdkappid)
            .field("admin", &self.admin)
            .field("region", &self.region)
            .field("base_url", &self.base_url)
            .field("usersig", &self.usersig);
        #[cfg(feature = "usersig")]
        d.field("secret_key", &self.secret_key);
        d.field("timeout", &self.timeout)
            .field("rate_limit", &self.rate_limit)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// Which data center to call (default [`Region::China`]). Ignored when
    /// [`base_url`](ClientBuilder::base_url) is set.
    pub fn region(mut self, region: Region) -> Self {
        self.region = region;
        self
    }

    /// Calls this base URL (`scheme://host[:port]`) instead of the region's
    /// domain: a proxy, or the emulator. `http://` is accepted only for
    /// loopback hosts unless [`allow_insecure_http`](ClientBuilder::allow_insecure_http).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// A second base URL to use when the first cannot be resolved or connected
    /// to. With a region it defaults to the region's standby domain.
    pub fn standby_base_url(mut self, url: impl Into<String>) -> Self {
        self.standby_base_url = Some(url.into());
        self
    }

    /// Whether an attempt that cannot resolve or connect to the primary domain
    /// goes on to the standby domain (default on). After such a switch the
    /// standby is used for 60 seconds before the primary is tried again.
    pub fn failover(mut self, on: bool) -> Self {
        self.failover = on;
        self
    }

    /// Uses this pre-generated admin UserSig as is. It cannot be renewed, so
    /// when it expires calls fail with 70001. Replaces a SecretKey set before.
    pub fn usersig(mut self, usersig: impl Into<String>) -> Self {
        self.usersig = Some(Secret::new(usersig));
        #[cfg(feature = "usersig")]
        {
            self.secret_key = None;
        }
        self
    }

    /// Generates the admin UserSig from the app's SecretKey, caches it and
    /// renews it before it expires (when less than a tenth of its validity,
    /// at least 5 minutes, remains). If the service still answers that the
    /// UserSig expired or is damaged (70001, 70003, 60004, 60005), a new one
    /// is made and the request sent once more. Replaces a UserSig set before.
    #[cfg(feature = "usersig")]
    pub fn secret_key(mut self, key: impl Into<String>) -> Self {
        self.secret_key = Some(Secret::new(key));
        self.usersig = None;
        self
    }

    /// The validity of generated UserSigs (default 1 day; from 10 minutes to 10 years).
    #[cfg(feature = "usersig")]
    pub fn usersig_validity(mut self, validity: Duration) -> Self {
        self.usersig_validity = validity;
        self
    }

    /// The connect timeout, TLS handshake included (default 5 s; at most a day).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The timeout of one whole attempt, from name resolution to the last
    /// byte of the reply (default 30 s; at most a day).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How failed requests are retried (default [`RetryPolicy::default`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The most calls per second to each endpoint, for all clones and threads
    /// of the client together (default 200, Tencent's limit for each follow API).
    pub fn rate_limit(mut self, per_second: u32) -> Self {
        self.rate_limit = Some(per_second);
        self
    }

    /// Turns the client-side rate limiter off.
    pub fn no_rate_limit(mut self) -> Self {
        self.rate_limit = None;
        self
    }

    /// How many requests of one batch call may be in flight at once
    /// (default 16: enough to reach 200 calls/s at up to 80 ms per call;
    /// raise it for far regions). Workers are threads started for the call
    /// only when the list needs more than one request. Results stay in input
    /// order and the rate limit holds.
    pub fn concurrency(mut self, workers: usize) -> Self {
        self.concurrency = workers;
        self
    }

    /// The largest response body accepted (default 4 MiB); a larger one is a
    /// [`TransportErrorKind::BodyTooLarge`] error, not an allocation.
    pub fn max_response_bytes(mut self, bytes: u64) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Allows `http://` to hosts other than loopback (default off). The
    /// UserSig then crosses the network in clear text. TLS verification itself
    /// cannot be turned off.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    fn check_base(&self, url: &str) -> Result<bool, Error> {
        let (scheme, host) = transport::parse_base_url(url)?;
        let loopback = transport::is_loopback_host(&host);
        if scheme == "http" && !loopback && !self.allow_insecure_http {
            return Err(Error::invalid(
                "base_url",
                format!(
                    "{url:?} is plain http to a non-loopback host; use https, or allow_insecure_http(true)"
                ),
            ));
        }
        Ok(loopback)
    }

    /// Checks the settings and builds the client.
    pub fn build(self) -> Result<Client, Error> {
        if let Some(err) = self.env_error.clone() {
            return Err(err);
        }
        if self.sdkappid == 0 {
            return Err(Error::invalid("sdkappid", "must not be 0"));
        }
        validate_account("admin identifier", &self.admin)?;
        let (primary, standby) = match &self.base_url {
            Some(url) => (
                url.trim_end_matches('/').to_string(),
                self.standby_base_url.clone(),
            ),
            None => (
                format!("https://{}", self.region.domain()),
                Some(
                    self.standby_base_url
                        .clone()
                        .unwrap_or_else(|| format!("https://{}", self.region.standby_domain())),
                ),
            ),
        };
        let mut loopback = self.check_base(&primary)?;
        let standby = match standby.filter(|_| self.failover) {
            Some(s) => {
                loopback &= self.check_base(&s)?;
                Some(s.trim_end_matches('/').to_string())
            }
            None => None,
        };
        let day = Duration::from_secs(86_400);
        if self.timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(Error::invalid(
                "timeout",
                "timeouts must be longer than zero",
            ));
        }
        if self.timeout > day || self.connect_timeout > day {
            return Err(Error::invalid(
                "timeout",
                "timeouts must be at most one day",
            ));
        }
        if self.rate_limit == Some(0) {
            return Err(Error::invalid(
                "rate_limit",
                "0 calls per second would never send; use no_rate_limit() to turn it off",
            ));
        }
        if self.concurrency == 0 {
            return Err(Error::invalid("concurrency", "at least 1 worker is needed"));
        }
        if self.max_response_bytes < 1024 {
            return Err(Error::invalid(
                "max_response_bytes",
                "at least 1024 bytes are needed",
            ));
        }
        let signer = self.signer()?;
        let agent = transport::make_agent(&TransportConfig {
            connect_timeout: self.connect_timeout,
            call_timeout: self.timeout,
            pool_per_host: self.concurrency.min(32),
            use_env_proxy: !loopback,
        });
        Ok(Client {
            inner: Arc::new(Inner {
                sdkappid: self.sdkappid,
                admin: self.admin,
                primary,
                standby,
                standby_until: Mutex::new(None),
                signer,
                agent,
                limiter: self.rate_limit.map(RateLimiter::new),
                retry: self.retry,
                max_response_bytes: self.max_response_bytes,
                concurrency: self.concurrency,
            }),
        })
    }

    fn signer(&self) -> Result<Signer, Error> {
        #[cfg(feature = "usersig")]
        if let Some(key) = &self.secret_key {
            if key.expose().trim().is_empty() {
                return Err(Error::invalid("secret_key", "is empty"));
            }
            // Tencent documents 10 years as the longest validity (older pages say 50).
            if self.usersig_validity < Duration::from_secs(600)
                || self.usersig_validity > Duration::from_secs(3650 * 86_400)
            {
                return Err(Error::invalid(
                    "usersig_validity",
                    "must be from 10 minutes to 10 years",
                ));
            }
            return Ok(Signer::Key(crate::auth::KeySigner::new(
                self.sdkappid,
                &self.admin,
                key.clone(),
                self.usersig_validity,
            )));
        }
        match &self.usersig {
            Some(sig) if sig.expose().trim().is_empty() => {
                Err(Error::invalid("usersig", "is empty"))
            }
            Some(sig) => Ok(Signer::Fixed(sig.clone())),
            None => Err(Error::invalid(
                "credentials",
                if cfg!(feature = "usersig") {
                    "set .secret_key(..) (or TIM_SECRET_KEY) or .usersig(..) (or TIM_USERSIG)"
                } else {
                    "set .usersig(..) (or TIM_USERSIG); generating one from a SecretKey needs the `usersig` feature"
                },
            )),
        }
    }

    /// A builder from variables looked up with `get`: `TIM_SDKAPPID`
    /// (required), `TIM_ADMIN` (default `administrator`), `TIM_SECRET_KEY` or
    /// `TIM_USERSIG` (the SecretKey wins when both are set), `TIM_REGION` (a
    /// [`Region`] name or code), `TIM_BASE_URL`.
    /// A missing or malformed variable is reported by [`build`](ClientBuilder::build),
    /// naming it.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use tim_follow::ClientBuilder;
    ///
    /// let vars = HashMap::from([("TIM_SDKAPPID", "1400000000"), ("TIM_USERSIG", "sig"), ("TIM_REGION", "sgp")]);
    /// let client = ClientBuilder::from_lookup(|k| vars.get(k).map(|v| v.to_string())).build()?;
    /// assert!(format!("{client:?}").contains("adminapisgp.im.qcloud.com"));
    ///
    /// let err = ClientBuilder::from_lookup(|_| None).build().unwrap_err();
    /// assert!(err.to_string().contains("TIM_SDKAPPID"));
    /// # Ok::<(), tim_follow::Error>(())
    /// ```
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> ClientBuilder {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let mut env_error = None;
        let sdkappid = match get("TIM_SDKAPPID") {
            None => {
                env_error = Some(Error::invalid(
                    "TIM_SDKAPPID",
                    "is not set (the app's SDKAppID)",
                ));
                0
            }
            Some(v) => v.parse::<u64>().unwrap_or_else(|_| {
                env_error = Some(Error::invalid(
                    "TIM_SDKAPPID",
                    format!("{v:?} is not a number"),
                ));
                0
            }),
        };
        let mut b = Client::builder(
            sdkappid,
            get("TIM_ADMIN").unwrap_or_else(|| "administrator".into()),
        );
        if let Some(r) = get("TIM_REGION") {
            match r.parse::<Region>() {
                Ok(region) => b = b.region(region),
                Err(e) => {
                    env_error = env_error.or(Some(Error::invalid("TIM_REGION", e.to_string())))
                }
            }
        }
        if let Some(url) = get("TIM_BASE_URL") {
            b = b.base_url(url);
        }
        if let Some(sig) = get("TIM_USERSIG") {
            b = b.usersig(sig);
        }
        if let Some(key) = get("TIM_SECRET_KEY") {
            #[cfg(feature = "usersig")]
            {
                b = b.secret_key(key);
            }
            #[cfg(not(feature = "usersig"))]
            {
                let _ = key;
                if b.usersig.is_none() {
                    env_error = env_error.or(Some(Error::invalid(
                        "TIM_SECRET_KEY",
                        "is set, but this build has no `usersig` feature to use it; set TIM_USERSIG",
                    )));
                }
            }
        }
        b.env_error = env_error;
        b
    }
}

/// The outcome of one chunk of a batch: one per account, in chunk order.
type ChunkResult<T> = Result<Vec<AccountOutcome<T>>, Error>;

impl Client {
    /// Starts building a client for the app `sdkappid`, calling as the App
    /// admin account `admin`.
    pub fn builder(sdkappid: u64, admin: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            sdkappid,
            admin: admin.into(),
            region: Region::default(),
            base_url: None,
            standby_base_url: None,
            failover: true,
            usersig: None,
            #[cfg(feature = "usersig")]
            secret_key: None,
            #[cfg(feature = "usersig")]
            usersig_validity: Duration::from_secs(86_400),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            rate_limit: Some(200),
            concurrency: 16,
            max_response_bytes: 4 << 20,
            allow_insecure_http: false,
            env_error: None,
        }
    }

    /// A client from the environment: see [`ClientBuilder::from_lookup`] for
    /// the variables.
    pub fn from_env() -> Result<Client, Error> {
        Client::builder_from_env().build()
    }

    /// A builder from the environment, to adjust before building.
    pub fn builder_from_env() -> ClientBuilder {
        ClientBuilder::from_lookup(|k| std::env::var(k).ok())
    }

    /// The app's SDKAppID.
    pub fn sdkappid(&self) -> u64 {
        self.inner.sdkappid
    }

    /// The admin identifier the client calls as.
    pub fn admin(&self) -> &str {
        &self.inner.admin
    }

    /// The primary base URL.
    pub fn base_url(&self) -> &str {
        &self.inner.primary
    }

    // ------------------------------------------------------------ batch calls

    /// Unfollows: `from` stops following each of `to` (`v4/follow/follow_delete`).
    ///
    /// Any number of accounts: longer lists are split into requests of 20.
    /// Every distinct account comes back once, in input order, applied,
    /// refused or unknown. Unfollowing an account not followed is applied by
    /// the service's own rule (the emulator treats it as applied).
    ///
    /// `Err` means no request succeeded: the input was invalid (nothing was
    /// sent), or every request failed — after a transport failure some may
    /// still have been applied, so send the same call again. An empty `to` is
    /// `Ok` with no account and sends nothing.
    pub fn follow_delete<S: AsRef<str>>(
        &self,
        from: &str,
        to: &[S],
    ) -> Result<BatchOutcome<()>, Error> {
        self.batch::<FollowDelete, S>(from, to, None)
    }

    /// Follows: `from` follows each of `to` (`v4/follow/follow_add`), in
    /// requests of 20. Same rules as [`follow_delete`](Client::follow_delete).
    pub fn follow_add<S: AsRef<str>>(
        &self,
        from: &str,
        to: &[S],
    ) -> Result<BatchOutcome<()>, Error> {
        self.batch::<FollowAdd, S>(from, to, None)
    }

    /// The relation of `from` to each of `to` (`v4/follow/follow_check`), in
    /// requests of 100.
    pub fn follow_check<S: AsRef<str>>(
        &self,
        from: &str,
        to: &[S],
    ) -> Result<BatchOutcome<FollowType>, Error> {
        self.batch::<FollowCheck, S>(from, to, None)
    }

    /// The follower, following and mutual counts of each of `to`
    /// (`v4/follow/follow_get_info`), in requests of 20.
    pub fn follow_get_info<S: AsRef<str>>(
        &self,
        from: &str,
        to: &[S],
    ) -> Result<BatchOutcome<FollowCounts>, Error> {
        self.batch::<FollowGetInfo, S>(from, to, None)
    }

    /// Runs any batch endpoint over any number of accounts, reporting progress
    /// after each request.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), tim_follow::Error> {
    /// # let client = tim_follow::Client::builder(1, "administrator").usersig("s").build()?;
    /// # let ids = vec!["a".to_string()];
    /// use tim_follow::FollowDelete;
    /// let out = client.batch_with_progress::<FollowDelete, _>("UserID_001", &ids, |p| {
    ///     eprintln!("{}/{} done, {} failed", p.done, p.total, p.failed);
    /// })?;
    /// # let _ = out; Ok(()) }
    /// ```
    pub fn batch_with_progress<E: BatchRequest, S: AsRef<str>>(
        &self,
        from: &str,
        to: &[S],
        progress: impl Fn(Progress) + Sync,
    ) -> Result<BatchOutcome<E::Payload>, Error> {
        self.batch::<E, S>(from, to, Some(&progress))
    }

    fn batch<E: BatchRequest, S: AsRef<str>>(
        &self,
        from: &str,
        to: &[S],
        progress: Option<&(dyn Fn(Progress) + Sync)>,
    ) -> Result<BatchOutcome<E::Payload>, Error> {
        validate_account("From_Account", from)?;
        // Every id is checked before anything is sent; duplicates are sent once.
        let mut accounts: Vec<&str> = Vec::with_capacity(to.len());
        for (i, id) in to.iter().enumerate() {
            validate_account_at("To_Account", i, id.as_ref())?;
        }
        if to.len() <= 32 {
            for id in to {
                let id = id.as_ref();
                if !accounts.contains(&id) {
                    accounts.push(id);
                }
            }
        } else {
            let mut seen = HashSet::with_capacity(to.len());
            accounts.extend(to.iter().map(AsRef::as_ref).filter(|id| seen.insert(*id)));
        }
        if accounts.is_empty() {
            return Ok(BatchOutcome::new(Vec::new(), 0));
        }
        let chunks: Vec<&[&str]> = accounts.chunks(E::MAX_ACCOUNTS).collect();
        let results = self.run_chunks::<E>(from, &chunks, accounts.len(), progress);
        if results.iter().all(Result::is_err) {
            // No request succeeded: report the first failure.
            return Err(results
                .into_iter()
                .find_map(Result::err)
                .unwrap_or_else(|| Error::invalid("To_Account", "no request was made")));
        }
        let mut items = Vec::with_capacity(accounts.len());
        for (chunk, result) in chunks.iter().zip(results) {
            match result {
                Ok(outcomes) => items.extend(outcomes),
                Err(e) => items.extend(chunk.iter().map(|a| AccountOutcome {
                    account: (*a).to_string(),
                    outcome: Outcome::Unknown(e.clone()),
                })),
            }
        }
        Ok(BatchOutcome::new(items, chunks.len()))
    }

    /// Sends the chunks, on up to `concurrency` threads, and returns their
    /// results in chunk order. After an error that would hit every request
    /// (credentials, permission, app configuration), the chunks not yet sent
    /// fail with it instead of being sent.
    fn run_chunks<E: BatchRequest>(
        &self,
        from: &str,
        chunks: &[&[&str]],
        total: usize,
        progress: Option<&(dyn Fn(Progress) + Sync)>,
    ) -> Vec<ChunkResult<E::Payload>> {
        let fatal: Mutex<Option<Error>> = Mutex::new(None);
        let tally = Mutex::new(Progress {
            done: 0,
            total,
            failed: 0,
        });
        let run_one = |chunk: &[&str]| -> ChunkResult<E::Payload> {
            let stop = fatal.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let result = match stop {
                Some(err) => Err(err),
                None => self.run_chunk::<E>(from, chunk),
            };
            if let Err(Error::Api(api)) = &result {
                if api.kind().is_fatal() {
                    fatal
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert_with(|| Error::Api(api.clone()));
                }
            }
            let failed = match &result {
                Ok(o) => o.iter().filter(|o| !o.outcome.is_applied()).count(),
                Err(_) => chunk.len(),
            };
            let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
            t.done += chunk.len();
            t.failed += failed;
            if let Some(cb) = progress {
                cb(*t);
            }
            result
        };
        let workers = self.inner.concurrency.min(chunks.len());
        if workers <= 1 {
            return chunks.iter().map(|c| run_one(c)).collect();
        }
        let next = AtomicUsize::new(0);
        let slots: Vec<Mutex<Option<ChunkResult<E::Payload>>>> =
            chunks.iter().map(|_| Mutex::new(None)).collect();
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(chunk) = chunks.get(i) else { break };
                    let r = run_one(chunk);
                    *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                });
            }
        });
        slots
            .into_iter()
            .map(|s| {
                s.into_inner()
                    .unwrap_or_else(|p| p.into_inner())
                    .unwrap_or_else(|| {
                        Err(Error::transport(
                            TransportErrorKind::Other,
                            "worker thread ended early",
                        ))
                    })
            })
            .collect()
    }

    fn run_chunk<E: BatchRequest>(&self, from: &str, chunk: &[&str]) -> ChunkResult<E::Payload> {
        let request = E::build(from, chunk)?;
        let body = request.body()?;
        let response: E::Response =
            self.execute(E::PATH, &body, E::IDEMPOTENT, |status, bytes| {
                parse_response_for(E::PATH, status, bytes)
            })?;
        let mut items: Vec<Option<_>> = E::into_items(response).into_iter().map(Some).collect();
        Ok(chunk
            .iter()
            .enumerate()
            .map(|(i, account)| {
                // The service answers in request order; search only when it did not.
                let found = match items.get_mut(i) {
                    Some(slot) if slot.as_ref().is_some_and(|it| it.to_account == *account) => {
                        slot.take()
                    }
                    _ => items
                        .iter_mut()
                        .find(|it| it.as_ref().is_some_and(|it| it.to_account == *account))
                        .and_then(Option::take),
                };
                match found {
                    // The reply's own string becomes the outcome's account: no copy.
                    Some(ItemResult {
                        to_account,
                        result_code: 0,
                        payload,
                        ..
                    }) => AccountOutcome {
                        account: to_account,
                        outcome: Outcome::Applied(payload),
                    },
                    Some(item) => AccountOutcome {
                        outcome: Outcome::Refused(ApiError::new(
                            item.result_code,
                            item.result_info,
                            "",
                        )),
                        account: item.to_account,
                    },
                    None => AccountOutcome {
                        account: (*account).to_string(),
                        outcome: Outcome::Unknown(decode_error(
                            E::PATH,
                            &format!("the response has no result for {account:?}"),
                            b"",
                        )),
                    },
                }
            })
            .collect())
    }

    // ------------------------------------------------------ single accounts

    /// `from` follows `to`; a refusal is an [`Error::Api`].
    pub fn follow(&self, from: &str, to: &str) -> Result<(), Error> {
        self.single::<FollowAdd>(from, to)
    }

    /// `from` unfollows `to`; a refusal is an [`Error::Api`].
    pub fn unfollow(&self, from: &str, to: &str) -> Result<(), Error> {
        self.single::<FollowDelete>(from, to)
    }

    /// The relation of `from` to `to`.
    pub fn relation(&self, from: &str, to: &str) -> Result<FollowType, Error> {
        self.single::<FollowCheck>(from, to)
    }

    /// The follower, following and mutual counts of `account`.
    pub fn counts(&self, account: &str) -> Result<FollowCounts, Error> {
        self.single::<FollowGetInfo>(account, account)
    }

    fn single<E: BatchRequest>(&self, from: &str, to: &str) -> Result<E::Payload, Error> {
        let out = self.batch::<E, &str>(from, &[to], None)?;
        match out.into_vec().pop().map(|i| i.outcome) {
            Some(Outcome::Applied(p)) => Ok(p),
            Some(Outcome::Refused(api)) => Err(Error::Api(api)),
            Some(Outcome::Unknown(e)) => Err(e),
            None => Err(Error::invalid("To_Account", "no result")),
        }
    }

    // ------------------------------------------------------------ follow_get

    /// One page of `from`'s fans, following or mutual list
    /// (`v4/follow/follow_get`): `cursor` is `""` for the first page, then
    /// the previous page's `next_cursor`; `want` is 1–1000.
    pub fn follow_get_page(
        &self,
        from: &str,
        list: FollowList,
        cursor: &str,
        want: u32,
    ) -> Result<FollowPage, Error> {
        self.call(&FollowGet::new(from, list, cursor, want)?)
    }

    /// Every entry of `from`'s fans, following or mutual list, fetched lazily
    /// page by page (1000 per request; see [`FollowIter::page_size`]).
    /// An error is yielded once and ends the iteration, as does a cursor the
    /// service repeats.
    pub fn follow_get(&self, from: &str, list: FollowList) -> FollowIter {
        FollowIter {
            client: self.clone(),
            from: from.to_string(),
            list,
            page_size: FollowGet::MAX_WANT_NUM,
            cursor: Some(String::new()),
            buffer: std::collections::VecDeque::new(),
            seen: HashSet::new(),
        }
    }

    // ----------------------------------------------------------- any endpoint

    /// Sends any typed request, with signing, rate limiting and retries (a
    /// request not marked [`Request::IDEMPOTENT`] is retried only when it
    /// surely was not carried out).
    pub fn call<R: Request>(&self, request: &R) -> Result<R::Response, Error> {
        let body = request.body()?;
        self.execute(R::PATH, &body, R::IDEMPOTENT, |status, bytes| {
            parse_response_for(R::PATH, status, bytes)
        })
    }

    /// Calls any REST API with a JSON body, such as `openim/querystate`, and
    /// returns the whole reply once its `ErrorCode` is 0. As the endpoint's
    /// semantics are unknown, a failed attempt is retried only when the
    /// request surely was not carried out (no connection, or a rate-limit
    /// answer); use [`call_json_idempotent`](Client::call_json_idempotent)
    /// for endpoints that are safe to repeat.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), tim_follow::Error> {
    /// # let client = tim_follow::Client::builder(1, "administrator").usersig("s").build()?;
    /// let reply = client.call_json("openim/querystate", &serde_json::json!({"To_Account": ["UserID_001"]}))?;
    /// println!("{}", reply["QueryResult"]);
    /// # Ok(()) }
    /// ```
    pub fn call_json(&self, path: &str, body: &Value) -> Result<Value, Error> {
        self.call_json_inner(path, body, false)
    }

    /// [`call_json`](Client::call_json) for an endpoint that is safe to send
    /// twice: every retryable failure is retried.
    pub fn call_json_idempotent(&self, path: &str, body: &Value) -> Result<Value, Error> {
        self.call_json_inner(path, body, true)
    }

    fn call_json_inner(&self, path: &str, body: &Value, idempotent: bool) -> Result<Value, Error> {
        let path = path.trim_start_matches('/');
        let path = path.strip_prefix("v4/").unwrap_or(path);
        let valid = !path.is_empty()
            && path.contains('/')
            && path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'/' | b'-' | b'.'))
            && !path.contains("..");
        if !valid {
            return Err(Error::invalid(
                "path",
                format!("{path:?} is not of the form servicename/command"),
            ));
        }
        if !body.is_object() {
            return Err(Error::invalid(
                "body",
                "must be a JSON object (send {} for no fields)",
            ));
        }
        let bytes = serde_json::to_vec(body)
            .map_err(|e| Error::invalid("body", format!("cannot be serialized: {e}")))?;
        self.execute(path, &bytes, idempotent, |status, reply| {
            // The envelope is checked before the whole reply is kept.
            parse_response_for::<Value>(path, status, reply)
        })
    }

    // ---------------------------------------------------------------- engine

    /// Sends one request with rate limiting, signing and retries, and parses the reply.
    fn execute<T>(
        &self,
        path: &str,
        body: &[u8],
        idempotent: bool,
        parse: impl Fn(u16, &[u8]) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let inner = &self.inner;
        let started = Instant::now();
        let mut attempt = 1u32;
        let mut resigned = false;
        loop {
            if let Some(limiter) = &inner.limiter {
                limiter.acquire(path);
            }
            let sig = inner.signer.current();
            let err = match self
                .send_once(path, body, &sig)
                .and_then(|(status, bytes)| parse(status, &bytes))
            {
                Ok(value) => return Ok(value),
                Err(err) => scrub(err, &inner.signer),
            };
            if !resigned && needs_new_usersig(&err) && inner.signer.invalidate(&sig) {
                // The service refused the signature before doing anything:
                // one more attempt with a fresh one, not counted as a retry.
                resigned = true;
                continue;
            }
            if attempt >= inner.retry.attempts() || !may_retry(&err, idempotent) {
                return Err(err);
            }
            let wait = inner.retry.backoff(attempt, &err);
            if started.elapsed().saturating_add(wait) > inner.retry.deadline_duration() {
                return Err(err);
            }
            std::thread::sleep(wait);
            attempt += 1;
        }
    }

    /// One attempt, on the standby domain too if the primary cannot be reached.
    fn send_once(&self, path: &str, body: &[u8], sig: &Secret) -> Result<(u16, Vec<u8>), Error> {
        let inner = &self.inner;
        let use_standby = inner.standby.is_some()
            && inner
                .standby_until
                .lock()
                .map(|u| u.is_some_and(|t| Instant::now() < t))
                .unwrap_or(false);
        let first = if use_standby {
            inner.standby.as_deref().unwrap_or(&inner.primary)
        } else {
            &inner.primary
        };
        let result = self.post(first, path, body, sig);
        let unreachable = matches!(
            &result,
            Err(Error::Transport(t)) if matches!(t.kind, TransportErrorKind::Dns | TransportErrorKind::Connect)
        );
        match (&inner.standby, unreachable) {
            (Some(standby), true) => {
                let other = if use_standby {
                    inner.primary.as_str()
                } else {
                    standby.as_str()
                };
                let second = self.post(other, path, body, sig);
                if second.is_ok() {
                    if let Ok(mut until) = inner.standby_until.lock() {
                        *until = if use_standby {
                            None
                        } else {
                            Some(Instant::now() + STANDBY_STICKY)
                        };
                    }
                    return second;
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
        sig: &Secret,
    ) -> Result<(u16, Vec<u8>), Error> {
        let inner = &self.inner;
        let url = request_url(
            base,
            path,
            inner.sdkappid,
            &inner.admin,
            sig.expose(),
            fastrand::u32(..),
        );
        transport::post(&inner.agent, &url, body, inner.max_response_bytes)
    }
}

/// Removes every known secret from an error's text, whatever its source
/// (transport messages, a body a proxy echoed back, …).
fn scrub(mut err: Error, signer: &Signer) -> Error {
    let secrets = signer.secrets();
    let clean = |text: &mut String| {
        // Real keys and UserSigs are long; a very short test key would only
        // mangle ordinary words.
        for s in secrets.iter().filter(|s| s.expose().len() >= 8) {
            if text.contains(s.expose()) {
                *text = text.replace(s.expose(), "<redacted>");
            }
        }
    };
    match &mut err {
        Error::Transport(t) => clean(&mut t.message),
        Error::HttpStatus { snippet, .. } => clean(snippet),
        Error::Decode(d) => {
            clean(&mut d.message);
            clean(&mut d.snippet);
        }
        Error::Api(a) => {
            clean(&mut a.info);
            clean(&mut a.display);
        }
        Error::InvalidInput(_) => {}
    }
    err
}

/// Whether the service refused the UserSig in a way a new one may fix.
fn needs_new_usersig(err: &Error) -> bool {
    matches!(err, Error::Api(a) if matches!(a.code, 70001 | 70003 | 60004 | 60005))
}

/// The entries of a follow list, fetched lazily page by page. Made by
/// [`Client::follow_get`].
#[derive(Debug)]
pub struct FollowIter {
    client: Client,
    from: String,
    list: FollowList,
    page_size: u32,
    cursor: Option<String>,
    buffer: std::collections::VecDeque<FollowEntry>,
    seen: HashSet<String>,
}

impl FollowIter {
    /// Fetches `n` entries per request (1–1000; values outside are clamped).
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = n.clamp(1, FollowGet::MAX_WANT_NUM);
        self
    }
}

impl Iterator for FollowIter {
    type Item = Result<FollowEntry, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(entry) = self.buffer.pop_front() {
                return Some(Ok(entry));
            }
            let cursor = self.cursor.take()?;
            if !cursor.is_empty() && !self.seen.insert(cursor.clone()) {
                return Some(Err(decode_error(
                    FollowGet::PATH,
                    &format!("the service returned the cursor {cursor:?} twice; stopping to avoid a loop"),
                    b"",
                )));
            }
            match self
                .client
                .follow_get_page(&self.from, self.list, &cursor, self.page_size)
            {
                Ok(page) => {
                    if !page.next_cursor.is_empty() {
                        self.cursor = Some(page.next_cursor);
                    }
                    self.buffer.extend(page.entries);
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl std::iter::FusedIterator for FollowIter {}

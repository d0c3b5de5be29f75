//! [`ClientBuilder`]: every setting with its default, the environment, and
//! the checks that make a [`Client`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::run::{Bases, Engine};
use super::{Client, Inner};
#[cfg(doc)]
use crate::error::{ApiError, TransportErrorKind};
use crate::error::{Error, Field};
use crate::inflight::{Controller, Gate};
use crate::ratelimit::{Adaptive, LocalLimiter, RateLimit};
use crate::region::Region;
use crate::request::validate_account;
use crate::retry::RetryPolicy;
use crate::secret::Secret;
use crate::signer::Signer;
use crate::transport::{self, TransportConfig};

/// The highest [`ClientBuilder::concurrency`]: far more than 200 calls/s
/// need at any latency a call survives (its timeout).
const MAX_CONCURRENCY: usize = 4096;

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
    rate_limit: Limit,
    adaptive: bool,
    call_deadline: Option<Duration>,
    concurrency: usize,
    adaptive_concurrency: bool,
    max_response_bytes: u64,
    allow_insecure_http: bool,
    name_lookup: Option<transport::NameLookup>,
    env_error: Option<Error>,
}

/// The variables [`ClientBuilder::from_lookup`] reads.
const ENV_VARS: [&str; 6] = [
    "TIM_SDKAPPID",
    "TIM_ADMIN",
    "TIM_SECRET_KEY",
    "TIM_USERSIG",
    "TIM_REGION",
    "TIM_BASE_URL",
];

/// The client-side rate limit a builder was given.
#[derive(Clone, Debug)]
enum Limit {
    Off,
    PerSecond(u32),
    Shared(std::sync::Arc<dyn RateLimit>),
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
            .field("adaptive_pacing", &self.adaptive)
            .field("own_name_lookup", &self.name_lookup.is_some())
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

    /// Resolves host names with `lookup` (host, port → addresses) instead of
    /// the system's resolver: your own DNS client, or addresses pinned for a
    /// domain. Its answers are cached for 60 s like the system's; IP
    /// literals are never looked up. An error or an empty list is a DNS
    /// failure ([`TransportErrorKind::Dns`](crate::TransportErrorKind::Dns)):
    /// nothing was sent, and the attempt goes to the standby domain (see
    /// [`failover`](ClientBuilder::failover)). A lookup that takes longer
    /// than the call's timeout is a timeout.
    ///
    /// ```
    /// use std::net::{SocketAddr, ToSocketAddrs};
    /// let client = tim_follow::Client::builder(1400000000, "administrator")
    ///     .usersig("eJw…")
    ///     .name_lookup(|host, port| match host {
    ///         // Pinned: no lookup for the primary domain.
    ///         "console.tim.qq.com" => Ok(vec![SocketAddr::from(([203, 0, 113, 7], port))]),
    ///         _ => (host, port).to_socket_addrs().map(|a| a.collect()),
    ///     })
    ///     .build()?;
    /// # Ok::<(), tim_follow::Error>(())
    /// ```
    pub fn name_lookup(
        mut self,
        lookup: impl Fn(&str, u16) -> std::io::Result<Vec<std::net::SocketAddr>> + Send + Sync + 'static,
    ) -> Self {
        self.name_lookup = Some(Arc::new(lookup));
        self
    }

    /// Uses this pre-generated admin UserSig. It cannot be renewed, so
    /// when it expires calls fail with 70001. Replaces a SecretKey set before.
    ///
    /// Surrounding whitespace (a trailing newline read from a file, a space
    /// from a copy) is trimmed, as [`Client::from_env`] trims `TIM_USERSIG`:
    /// a UserSig never holds any.
    pub fn usersig(mut self, usersig: impl Into<String>) -> Self {
        self.usersig = Some(Secret::trimmed(usersig));
        #[cfg(feature = "usersig")]
        {
            self.secret_key = None;
        }
        self
    }

    /// Generates the admin UserSig from the app's SecretKey, caches it and
    /// renews it before it expires (when less than a tenth of its validity,
    /// at least 5 minutes, remains). If the service still answers that the
    /// UserSig expired or is damaged ([`ApiError::is_usersig_rejected`]), a
    /// new one is made and the request sent once more. Replaces a UserSig set
    /// before.
    ///
    /// Surrounding whitespace (a trailing newline read from a file, a space
    /// from a copy) is trimmed, as [`Client::from_env`] trims
    /// `TIM_SECRET_KEY`: a SecretKey never holds any.
    #[cfg(feature = "usersig")]
    pub fn secret_key(mut self, key: impl Into<String>) -> Self {
        self.secret_key = Some(Secret::trimmed(key));
        self.usersig = None;
        self
    }

    /// The validity of generated UserSigs (default 1 day; from 10 minutes to 10 years).
    #[cfg(feature = "usersig")]
    pub fn usersig_validity(mut self, validity: Duration) -> Self {
        self.usersig_validity = validity;
        self
    }

    /// The connect timeout, TLS handshake included (default 5 s; at most a
    /// day): part of each attempt.
    ///
    /// # Which limit bounds what
    ///
    /// - **per attempt**: [`timeout`](ClientBuilder::timeout) (30 s), from name
    ///   resolution to the last byte of the reply, with
    ///   [`connect_timeout`](ClientBuilder::connect_timeout) (5 s) inside it;
    /// - **per request**: [`RetryPolicy`] — at most its attempts, and no retry
    ///   starts later than its deadline (30 s) after the first attempt;
    /// - **per call**: [`call_deadline`](ClientBuilder::call_deadline) (none by
    ///   default) — a batch sends no new request after it, and reports the
    ///   accounts not sent as `Unknown`.
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

    /// How long one batch call may go on sending requests (default: no
    /// limit). Past it, no new request starts; the accounts not sent are
    /// reported `Unknown` with a timeout error saying so (requests already
    /// under way finish, within their own limits).
    pub fn call_deadline(mut self, deadline: Duration) -> Self {
        self.call_deadline = Some(deadline);
        self
    }

    /// How failed requests are retried (default [`RetryPolicy::default`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The most calls per second to each endpoint, for all clones and threads
    /// of the client together (default 200, Tencent's limit for each follow
    /// API, which counts every caller of the app: when several processes
    /// share an app, give each its share, or share one budget with
    /// [`rate_limiter`](ClientBuilder::rate_limiter)).
    pub fn rate_limit(mut self, per_second: u32) -> Self {
        self.rate_limit = Limit::PerSecond(per_second);
        self
    }

    /// Asks `limiter` before every call instead of the client's own
    /// per-second limit: one [`LocalLimiter`] shared by several clients, a
    /// budget shared by several processes, or a limiter of your own.
    pub fn rate_limiter(mut self, limiter: std::sync::Arc<dyn RateLimit>) -> Self {
        self.rate_limit = Limit::Shared(limiter);
        self
    }

    /// Turns the client-side rate limiter off (adaptive pacing too).
    ///
    /// With no rate, the number of requests in flight has nothing to follow:
    /// bulk calls keep the [`concurrency`](ClientBuilder::concurrency) cap
    /// in flight (256 by default, each a thread and a connection); set a
    /// lower cap for a small device or a service that must not see that
    /// many at once.
    pub fn no_rate_limit(mut self) -> Self {
        self.rate_limit = Limit::Off;
        self
    }

    /// Whether the client slows down when the service answers with a
    /// rate-limit code and speeds up again gradually (default on): see
    /// [`Adaptive`]. Several processes sharing an app's budget find their
    /// share this way without talking to each other.
    pub fn adaptive_pacing(mut self, on: bool) -> Self {
        self.adaptive = on;
        self
    }

    /// The most requests the client keeps in flight at once (default 256),
    /// across all its clones, threads and calls.
    ///
    /// Within that cap, the number in flight follows what the rate limit and
    /// the measured latency need (rate × latency, with headroom for its
    /// spread): a handful on a nearby service, more from far away, growing
    /// and shrinking as the latency does (see
    /// [`adaptive_concurrency`](ClientBuilder::adaptive_concurrency)). The
    /// default reaches 200 calls/s at up to about 1 s a call (500 ms for a
    /// job that reads each request first: two endpoints at once). Bulk calls
    /// (batches, jobs, purges, undo, restore, previews) start worker threads
    /// (512 KiB stacks, of which only what is used costs memory) only as the
    /// number in flight needs them, and the connection pool keeps up to this
    /// many connections. Before the first answer the calls go out at the
    /// limiter's pace; a service that never answers gets at most 16 and
    /// about one second's worth of calls (within this cap) before the first
    /// deadline. Results stay in input order and the rate limit holds. `1`
    /// sends one request at a time.
    pub fn concurrency(mut self, workers: usize) -> Self {
        self.concurrency = workers;
        self
    }

    /// Whether the number of requests in flight follows the rate limit and
    /// the measured latency (default on), or is always the
    /// [`concurrency`](ClientBuilder::concurrency) cap (off: a fixed pool,
    /// as in version 0.2 with its default of 16). Without a rate limit
    /// ([`no_rate_limit`](ClientBuilder::no_rate_limit)) the cap is used
    /// either way.
    pub fn adaptive_concurrency(mut self, on: bool) -> Self {
        self.adaptive_concurrency = on;
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

    /// Checks the settings and builds the client.
    pub fn build(self) -> Result<Client, Error> {
        if let Some(err) = self.env_error.clone() {
            return Err(err);
        }
        if self.sdkappid == 0 {
            return Err(Error::invalid(Field::SdkAppId, "must not be 0"));
        }
        validate_account(Field::Admin, &self.admin)?;
        self.check_limits()?;
        let (bases, loopback) = self.bases()?;
        let signer = self.signer()?;
        let limiter = self.limiter();
        let gate = Gate::new(Controller::new(
            self.concurrency,
            self.adaptive_concurrency,
            limiter.as_ref().map(|l| l.max_rate()),
        ));
        let agent = transport::make_agent(&TransportConfig {
            connect_timeout: self.connect_timeout,
            call_timeout: self.timeout,
            pool_per_host: self.concurrency,
            use_env_proxy: !loopback,
            lookup: self.name_lookup.clone(),
        });
        Ok(Client {
            inner: Arc::new(Inner {
                engine: Engine {
                    sdkappid: self.sdkappid,
                    admin: self.admin,
                    bases,
                    signer,
                    agent,
                    limiter,
                    retry: self.retry,
                    max_response_bytes: self.max_response_bytes,
                    gate,
                },
                concurrency: self.concurrency,
                call_deadline: self.call_deadline,
            }),
        })
    }

    /// The limiter the client asks before each call.
    fn limiter(&self) -> Option<std::sync::Arc<dyn RateLimit>> {
        use std::sync::Arc;
        let inner: Arc<dyn RateLimit> = match &self.rate_limit {
            Limit::Off => return None,
            Limit::PerSecond(n) => Arc::new(LocalLimiter::new(f64::from(*n))),
            Limit::Shared(l) => l.clone(),
        };
        Some(if self.adaptive {
            Arc::new(Adaptive::new(inner))
        } else {
            inner
        })
    }

    /// The primary and standby base URLs, and whether every one is loopback.
    fn bases(&self) -> Result<(Bases, bool), Error> {
        let (primary, standby) = match &self.base_url {
            Some(url) => (url.clone(), self.standby_base_url.clone()),
            None => (
                format!("https://{}", self.region.domain()),
                Some(
                    self.standby_base_url
                        .clone()
                        .unwrap_or_else(|| format!("https://{}", self.region.standby_domain())),
                ),
            ),
        };
        let standby = standby.filter(|_| self.failover);
        let mut all_loopback = self.base_is_loopback(&primary)?;
        if let Some(s) = &standby {
            all_loopback &= self.base_is_loopback(s)?;
        }
        let trim = |u: String| u.trim_end_matches('/').to_string();
        Ok((Bases::new(trim(primary), standby.map(trim)), all_loopback))
    }

    /// Checks a base URL; `Ok(true)` when its host is loopback.
    fn base_is_loopback(&self, url: &str) -> Result<bool, Error> {
        let (scheme, host) = transport::parse_base_url(url)?;
        let loopback = transport::is_loopback_host(&host);
        if scheme == "http" && !loopback && !self.allow_insecure_http {
            return Err(Error::invalid_with(
                Field::BaseUrl,
                format!("{url:?} is plain http to a non-loopback host"),
                "use https, or allow_insecure_http(true)",
            ));
        }
        Ok(loopback)
    }

    /// Timeouts, rate limit, workers and body cap within their ranges.
    fn check_limits(&self) -> Result<(), Error> {
        let day = Duration::from_secs(86_400);
        if self.timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(Error::invalid(
                Field::Timeout,
                "timeouts must be longer than zero",
            ));
        }
        if self.timeout > day || self.connect_timeout > day {
            return Err(Error::invalid(
                Field::Timeout,
                "timeouts must be at most one day",
            ));
        }
        if matches!(self.rate_limit, Limit::PerSecond(0)) {
            return Err(Error::invalid_with(
                Field::RateLimit,
                "0 calls per second would never send",
                "use no_rate_limit() to turn it off",
            ));
        }
        if self.concurrency == 0 {
            return Err(Error::invalid(
                Field::Concurrency,
                "at least 1 worker is needed",
            ));
        }
        if self.concurrency > MAX_CONCURRENCY {
            return Err(Error::invalid(
                Field::Concurrency,
                format!("at most {MAX_CONCURRENCY} requests in flight"),
            ));
        }
        if self.max_response_bytes < 1024 {
            return Err(Error::invalid(
                Field::MaxResponseBytes,
                "at least 1024 bytes are needed",
            ));
        }
        Ok(())
    }

    fn signer(&self) -> Result<Signer, Error> {
        #[cfg(feature = "usersig")]
        if let Some(key) = &self.secret_key {
            if key.expose().trim().is_empty() {
                return Err(Error::invalid(Field::SecretKey, "is empty"));
            }
            // Tencent documents 10 years as the longest validity (older pages say 50).
            if self.usersig_validity < Duration::from_secs(600)
                || self.usersig_validity > Duration::from_secs(3650 * 86_400)
            {
                return Err(Error::invalid(
                    Field::UserSigValidity,
                    "must be from 10 minutes to 10 years",
                ));
            }
            return Ok(Signer::Key(crate::signer::KeySigner::new(
                self.sdkappid,
                &self.admin,
                key.clone(),
                self.usersig_validity,
            )));
        }
        match &self.usersig {
            Some(sig) if sig.expose().trim().is_empty() => {
                Err(Error::invalid(Field::UserSig, "is empty"))
            }
            Some(sig) => Ok(Signer::Fixed(sig.clone())),
            None => Err(Error::invalid(
                Field::Credentials,
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
        let mut errors = Vec::new();
        // A variable set to nothing is a mistake to report, not "unset".
        for name in ENV_VARS {
            if get(name).is_some_and(|v| v.trim().is_empty()) {
                errors.push(Error::invalid(
                    Field::Env(name),
                    "is set but empty: unset it or give it a value",
                ));
            }
        }
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let sdkappid = match get("TIM_SDKAPPID") {
            None => {
                errors.push(Error::invalid(
                    Field::Env("TIM_SDKAPPID"),
                    "is not set (the app's SDKAppID)",
                ));
                0
            }
            Some(v) => v.parse::<u64>().unwrap_or_else(|_| {
                errors.push(Error::invalid(
                    Field::Env("TIM_SDKAPPID"),
                    format!("{v:?} is not a number"),
                ));
                0
            }),
        };
        let admin = get("TIM_ADMIN").unwrap_or_else(|| "administrator".into());
        let mut b = Client::builder(sdkappid, admin);
        if let Some(r) = get("TIM_REGION") {
            match r.parse::<Region>() {
                Ok(region) => b = b.region(region),
                Err(e) => errors.push(Error::invalid(Field::Env("TIM_REGION"), e.to_string())),
            }
        }
        if let Some(url) = get("TIM_BASE_URL") {
            b = b.base_url(url);
        }
        b = b.credentials_from(get("TIM_USERSIG"), get("TIM_SECRET_KEY"), &mut errors);
        b.env_error = errors.into_iter().next();
        b
    }

    /// The UserSig or SecretKey from the environment (the SecretKey wins).
    fn credentials_from(
        mut self,
        usersig: Option<String>,
        secret_key: Option<String>,
        errors: &mut Vec<Error>,
    ) -> ClientBuilder {
        if let Some(sig) = usersig {
            self = self.usersig(sig);
        }
        match secret_key {
            #[cfg(feature = "usersig")]
            Some(key) => self.secret_key(key),
            #[cfg(not(feature = "usersig"))]
            Some(_) if self.usersig.is_none() => {
                errors.push(Error::invalid(
                    Field::Env("TIM_SECRET_KEY"),
                    "is set, but this build has no `usersig` feature to use it; set TIM_USERSIG",
                ));
                self
            }
            _ => {
                let _ = errors;
                self
            }
        }
    }
}

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
            rate_limit: Limit::PerSecond(200),
            adaptive: true,
            call_deadline: None,
            concurrency: crate::inflight::DEFAULT_CAP,
            adaptive_concurrency: true,
            max_response_bytes: 4 << 20,
            allow_insecure_http: false,
            name_lookup: None,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults the README promises: 5 s to connect, 30 s an attempt,
    /// 200 calls per second per endpoint, adaptive pacing, 4 MiB a reply,
    /// failover on, HTTPS only.
    #[test]
    fn the_defaults_are_the_documented_ones() {
        let b = Client::builder(1400000000, "administrator");
        assert_eq!(b.connect_timeout, Duration::from_secs(5));
        assert_eq!(b.timeout, Duration::from_secs(30));
        assert!(matches!(b.rate_limit, Limit::PerSecond(200)));
        assert!(b.adaptive);
        assert_eq!(b.max_response_bytes, 4 * 1024 * 1024);
        assert!(b.failover);
        assert!(!b.allow_insecure_http);
        assert!(b.call_deadline.is_none());
    }
}

//! The crate's error type and the classification of Tencent's error codes.

use std::fmt;
use std::sync::Arc;

/// Everything that can go wrong with a call.
///
/// The variants keep apart what the caller must fix ([`Error::InvalidInput`],
/// found before anything is sent), what the network did ([`Error::Transport`],
/// [`Error::HttpStatus`]), what the service answered ([`Error::Api`]) and an
/// answer that could not be understood ([`Error::Decode`]).
///
/// No variant ever contains the UserSig or the SecretKey: request URLs are
/// redacted before they reach an error.
///
/// ```
/// use tim_follow::{Error, ErrorKind};
///
/// fn explain(err: &Error) -> String {
///     match err {
///         Error::Api(api) if api.kind() == ErrorKind::AccountNotFound => {
///             format!("import the account first ({})", api.code)
///         }
///         err if err.is_retryable() => format!("temporary, try again later: {err}"),
///         err => format!("failed: {err}"),
///     }
/// }
/// # let _ = explain;
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// The input was rejected before any network call.
    InvalidInput(InvalidInput),
    /// The request could not be completed: DNS, connect, TLS, timeout, a
    /// dropped connection, or a response body over the size cap.
    Transport(TransportError),
    /// The server answered with an HTTP status other than 200 (Tencent does so
    /// only for gateway or network failures, such as 502).
    HttpStatus {
        /// The HTTP status code.
        status: u16,
        /// The start of the response body, redacted and shortened.
        snippet: String,
    },
    /// The service answered with a non-zero `ErrorCode`.
    Api(ApiError),
    /// The response body was not the JSON the endpoint documents.
    Decode(DecodeError),
}

impl Error {
    /// Whether trying the same request again later may succeed: transport
    /// failures (but TLS failures and oversized bodies), HTTP 5xx/408/429,
    /// and the transient or rate-limit API codes.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::InvalidInput(_) => false,
            // A certificate or TLS setup failure, or an oversized body, will not
            // go away by itself.
            Error::Transport(t) => !matches!(
                t.kind,
                TransportErrorKind::BodyTooLarge | TransportErrorKind::Tls
            ),
            Error::HttpStatus { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            Error::Api(api) => api.is_retryable(),
            Error::Decode(_) => false,
        }
    }

    /// The API error, if the service answered with one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(api) => Some(api),
            _ => None,
        }
    }

    /// The API error code, if the service answered with one.
    pub fn code(&self) -> Option<i64> {
        self.api().map(|a| a.code)
    }

    pub(crate) fn invalid(field: Field, reason: impl Into<String>) -> Error {
        Error::InvalidInput(InvalidInput {
            field,
            reason: reason.into(),
            remedy: None,
        })
    }

    /// [`Error::invalid`] with the library's remedy, in its own terms.
    pub(crate) fn invalid_with(
        field: Field,
        reason: impl Into<String>,
        remedy: &'static str,
    ) -> Error {
        Error::InvalidInput(InvalidInput {
            field,
            reason: reason.into(),
            remedy: Some(remedy),
        })
    }

    pub(crate) fn transport(kind: TransportErrorKind, message: impl Into<String>) -> Error {
        Error::Transport(TransportError {
            kind,
            message: message.into(),
            source: None,
        })
    }

    /// Whether the service (or a gateway) answered that calls are too
    /// frequent: the rate-limit codes 60007, 60011, 60018, 60019, or HTTP 429.
    pub fn is_rate_limited(&self) -> bool {
        match self {
            Error::Api(a) => a.kind() == ErrorKind::RateLimited,
            Error::HttpStatus { status, .. } => *status == 429,
            _ => false,
        }
    }

    /// Whether the request that failed so may still have been carried out:
    /// the connection broke or timed out after it may have reached the
    /// service, a gateway answered 5xx or 408, the service reported an
    /// internal failure or timeout, or its answer could not be read. `false`
    /// when it surely was not: invalid input, no connection (DNS, connect,
    /// TLS), or an API error that refuses the request as a whole.
    pub fn may_have_been_applied(&self) -> bool {
        match self {
            Error::InvalidInput(_) => false,
            Error::Transport(t) => !t.kind.surely_not_sent(),
            Error::HttpStatus { status, .. } => *status >= 500 || *status == 408,
            Error::Api(api) => api.kind() == ErrorKind::Transient,
            Error::Decode(_) => true,
        }
    }

    /// Whether the service refused the UserSig in a way a new one may fix:
    /// see [`ApiError::is_usersig_rejected`].
    pub fn is_usersig_rejected(&self) -> bool {
        self.api().is_some_and(ApiError::is_usersig_rejected)
    }

    /// This error with every occurrence of each of `secrets` (of 8 characters
    /// or more: a shorter one would only mangle ordinary words) replaced by
    /// `<redacted>`, whatever carried it: transport messages, a body a proxy
    /// echoed back, an API message.
    pub(crate) fn scrubbed(mut self, secrets: &[&str]) -> Error {
        let clean = |text: &mut String| {
            for s in secrets.iter().filter(|s| s.len() >= 8) {
                if text.contains(s) {
                    *text = text.replace(s, "<redacted>");
                }
            }
        };
        match &mut self {
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
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidInput(e) => e.fmt(f),
            Error::Transport(e) => e.fmt(f),
            Error::HttpStatus { status, snippet } => {
                write!(f, "the server answered HTTP {status}")?;
                if !snippet.is_empty() {
                    write!(f, "; body starts with: {snippet}")?;
                }
                Ok(())
            }
            Error::Api(e) => e.fmt(f),
            Error::Decode(e) => e.fmt(f),
        }
    }
}

/// An I/O error met outside a call (such as
/// [`Emulator::start`](crate::testkit::Emulator::start) binding its port),
/// as a transport error of kind [`TransportErrorKind::Other`], its cause
/// chained.
impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::Transport(TransportError {
            kind: TransportErrorKind::Other,
            message: "an I/O operation failed".into(),
            source: Some(Arc::new(e)),
        })
    }
}

impl std::error::Error for Error {
    /// For a transport failure, the underlying error (kept only when its
    /// text holds no URL query; the message says the rest).
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Transport(t) => t.source.as_deref().map(|s| s as _),
            _ => None,
        }
    }
}

/// Input rejected before any network call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InvalidInput {
    /// What was wrong: a builder setting, an environment variable, a
    /// request field such as `To_Account[3]`.
    pub field: Field,
    /// Why it was rejected.
    pub reason: String,
    /// What fixes it, in this library's terms (a builder method), when
    /// there is one remedy; a program with other words for its settings
    /// (a command-line tool) can say its own, chosen by [`field`](Self::field).
    pub remedy: Option<&'static str>,
}

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid input: {}: {}", self.field, self.reason)?;
        if let Some(remedy) = self.remedy {
            write!(f, "; {remedy}")?;
        }
        Ok(())
    }
}

/// Which input an [`InvalidInput`] is about: a program can name it in its
/// own words (an environment variable, a flag) by variant. `Display` gives
/// the library's name for it (`base_url`, `TIM_SDKAPPID`, `To_Account[3] ("x")`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// [`ClientBuilder::base_url`](crate::ClientBuilder::base_url) or
    /// `standby_base_url` (`TIM_BASE_URL` through `from_env`).
    BaseUrl,
    /// The SDKAppID given to the builder.
    SdkAppId,
    /// The admin identifier given to the builder or the emulator.
    Admin,
    /// [`ClientBuilder::secret_key`](crate::ClientBuilder::secret_key).
    SecretKey,
    /// [`ClientBuilder::usersig`](crate::ClientBuilder::usersig).
    UserSig,
    /// `ClientBuilder::usersig_validity`.
    UserSigValidity,
    /// Neither a SecretKey nor a UserSig was given.
    Credentials,
    /// `ClientBuilder::rate_limit`, or the rate of a `RedisLimiter`.
    RateLimit,
    /// `ClientBuilder::concurrency`.
    Concurrency,
    /// `ClientBuilder::timeout` or `connect_timeout`.
    Timeout,
    /// `ClientBuilder::max_response_bytes`.
    MaxResponseBytes,
    /// The URL of a Redis server (`RedisLimiter::new`, `RedisSeen::new`).
    RedisUrl,
    /// An environment variable read by `from_env`, by name (`TIM_SDKAPPID`).
    Env(&'static str),
    /// The `From_Account` of a request.
    FromAccount,
    /// One account of a request's list: `To_Account[index]`, with its id.
    ListItem {
        /// The list's field name, such as `To_Account`.
        list: &'static str,
        /// Its position in the list given.
        index: usize,
        /// The id as given.
        id: String,
    },
    /// Another field of a request or an argument of a call, by name
    /// (`WantNum`, `StartCursor`, `To_Account`, `path`, `body`, `account`).
    Other(&'static str),
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Field::BaseUrl => "base_url",
            Field::SdkAppId => "sdkappid",
            Field::Admin => "admin identifier",
            Field::SecretKey => "secret_key",
            Field::UserSig => "usersig",
            Field::UserSigValidity => "usersig_validity",
            Field::Credentials => "credentials",
            Field::RateLimit => "rate_limit",
            Field::Concurrency => "concurrency",
            Field::Timeout => "timeout",
            Field::MaxResponseBytes => "max_response_bytes",
            Field::RedisUrl => "redis_url",
            Field::FromAccount => "From_Account",
            Field::Env(name) | Field::Other(name) => name,
            Field::ListItem { list, index, id } => return write!(f, "{list}[{index}] ({id:?})"),
        };
        f.write_str(name)
    }
}

/// What kind of transport failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The host name could not be resolved.
    Dns,
    /// The TCP connection could not be established (refused, unreachable).
    Connect,
    /// The connection (TCP, then TLS) was not set up within the connect
    /// timeout, as from a host that drops packets: the request was not sent.
    ConnectTimeout,
    /// The TLS handshake or certificate check failed.
    Tls,
    /// The call's timeout ran out once the connection was up: the request
    /// may have reached the service.
    Timeout,
    /// The connection broke while sending or receiving (including a body cut short).
    Io,
    /// The response body was larger than the configured cap.
    BodyTooLarge,
    /// The server's HTTP response could not be read as HTTP/1.1.
    Protocol,
    /// Anything else.
    Other,
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportErrorKind::Dns => "the host name could not be resolved",
            TransportErrorKind::Connect => "the connection could not be established",
            TransportErrorKind::ConnectTimeout => {
                "the connection was not set up within the connect timeout"
            }
            TransportErrorKind::Tls => "the TLS handshake or certificate check failed",
            TransportErrorKind::Timeout => "the call's timeout ran out",
            TransportErrorKind::Io => "the connection broke",
            TransportErrorKind::BodyTooLarge => "the response body is over the size cap",
            TransportErrorKind::Protocol => "the response is not valid HTTP/1.1",
            TransportErrorKind::Other => "the request failed",
        })
    }
}

/// A transport failure. The message never contains the request URL's UserSig.
///
/// Its `Display` says what failed and where; the underlying error, when its
/// text is safe to show, is its [`source`](std::error::Error::source) and
/// is not repeated in the message.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TransportError {
    /// The kind of failure.
    pub kind: TransportErrorKind,
    /// What failed, in this crate's words, and where (the base URL); the
    /// cause's own text only when it cannot ride the chain as `source`
    /// (redacted: it carried a URL query).
    pub message: String,
    /// The underlying error, when its text is safe to show
    /// ([`std::error::Error::source`] of [`Error`] returns it).
    pub source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl TransportErrorKind {
    /// Whether a failure of this kind means the request never left: no
    /// address, no connection, or no TLS session to send it on.
    pub fn surely_not_sent(self) -> bool {
        matches!(
            self,
            TransportErrorKind::Dns
                | TransportErrorKind::Connect
                | TransportErrorKind::ConnectTimeout
                | TransportErrorKind::Tls
        )
    }
}

/// Two transport errors are equal when their kind and message are: the
/// source is a detail of the same failure.
impl PartialEq for TransportError {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.message == other.message
    }
}

impl Eq for TransportError {}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "transport error: {}", self.message)
    }
}

/// The response body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodeError {
    /// The endpoint, such as `follow/follow_delete`.
    pub endpoint: String,
    /// What was wrong, with line and column where JSON parsing failed.
    pub message: String,
    /// The start of the body, redacted and shortened.
    pub snippet: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "could not decode the {} response: {}; body starts with: {:?}",
            self.endpoint, self.message, self.snippet
        )
    }
}

/// A non-zero `ErrorCode` from the service.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiError {
    /// `ErrorCode`.
    pub code: i64,
    /// `ErrorInfo`.
    pub info: String,
    /// `ErrorDisplay` (often empty).
    pub display: String,
}

impl ApiError {
    /// Builds an API error from its three envelope fields.
    pub fn new(code: i64, info: impl Into<String>, display: impl Into<String>) -> ApiError {
        ApiError {
            code,
            info: info.into(),
            display: display.into(),
        }
    }

    /// The class of this code, from Tencent's documented error tables.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::of(self.code)
    }

    /// Whether the same request may succeed later (transient and rate-limit codes).
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind(), ErrorKind::Transient | ErrorKind::RateLimited)
    }

    /// Whether the service refused the UserSig before doing anything, in a
    /// way a new UserSig may fix: expired (70001), damaged (70003), or a
    /// wrong account or signature in the URL (60004, 60005). With a SecretKey
    /// the client then makes a new UserSig and sends the request once more.
    pub fn is_usersig_rejected(&self) -> bool {
        USERSIG_RENEWABLE.contains(&self.code)
    }

    /// What to do about the most common misconfigurations, when known.
    pub fn hint(&self) -> Option<&'static str> {
        hint(self.code)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "API error {} ({})", self.code, self.kind())?;
        if !self.info.is_empty() {
            write!(f, ": {}", self.info)?;
        }
        if !self.display.is_empty() && self.display != self.info {
            write!(f, " [{}]", self.display)?;
        }
        if let Some(h) = self.hint() {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

/// The codes after which a new UserSig may succeed: [`ApiError::is_usersig_rejected`].
const USERSIG_RENEWABLE: [i64; 4] = [70001, 70003, 60004, 60005];

/// The class of a Tencent error code (API `ErrorCode` or per-account `ResultCode`).
///
/// The mapping follows Tencent's public error tables (30001–30007,
/// 32100–32103, 60002–60021, 70001–70107, and the account-import codes
/// 70169–70500); retryability is derived from the documented meaning of each
/// code. A code the tables do not list is [`ErrorKind::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request was malformed or a parameter was wrong (30001, 60002,
    /// 60003, 60009, 60012, 60015, 70402). Not retryable.
    InvalidRequest,
    /// An account does not exist or was not imported (30003, 70107).
    AccountNotFound,
    /// The identifier is not an App admin, the account is blocklisted or the
    /// caller's IP is not allowed (30004, 60010, 60021, 70051, 70403). On the
    /// follow service a non-admin identifier is 30004, per the follow pages'
    /// error tables and Tencent's error-code FAQ (269/32485); 60010 is the
    /// public REST code for the same on other services.
    Permission,
    /// The follow/fan feature is not enabled for the app (30005): it needs
    /// the Pro, Pro Plus or Enterprise package on the international sites,
    /// 旗舰版/企业版 (Ultimate/Enterprise) on the China site (Tencent's
    /// Chinese follow pages), and the console switch.
    FeatureDisabled,
    /// A following, follower or mutual-follow count hit its limit (32100–32103).
    LimitReached,
    /// Too many calls (60007, 60011, 60018, 60019). Retryable with a longer backoff.
    RateLimited,
    /// A transient server failure (30006, 30007, 60008, 60013, 60014, and
    /// the account service's 70169, 70202, 70500). Retryable.
    Transient,
    /// The UserSig was rejected: expired, malformed, or made with another key,
    /// identifier or SDKAppID (60004, 60005, and the UserSig codes 70001–70050
    /// but 70016 and 70020).
    Auth,
    /// The SDKAppID is wrong, disabled, unpaid, or served by another data
    /// center (30002, 60006, 60016, 60017, 60020, 70016, 70020).
    AppConfig,
    /// A code this crate does not know.
    Other,
}

/// The class in words, as error messages show it.
impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::InvalidRequest => "invalid request",
            ErrorKind::AccountNotFound => "account not found",
            ErrorKind::Permission => "permission denied",
            ErrorKind::FeatureDisabled => "feature not enabled",
            ErrorKind::LimitReached => "limit reached",
            ErrorKind::RateLimited => "rate limited",
            ErrorKind::Transient => "transient service failure",
            ErrorKind::Auth => "UserSig rejected",
            ErrorKind::AppConfig => "app configuration",
            ErrorKind::Other => "unknown code",
        })
    }
}

impl ErrorKind {
    /// Classifies a code.
    pub fn of(code: i64) -> ErrorKind {
        match code {
            30001 | 60002 | 60003 | 60009 | 60012 | 60015 | 70402 => ErrorKind::InvalidRequest,
            30003 | 70107 => ErrorKind::AccountNotFound,
            30004 | 60010 | 60021 | 70051 | 70403 => ErrorKind::Permission,
            30005 => ErrorKind::FeatureDisabled,
            32100..=32103 => ErrorKind::LimitReached,
            60007 | 60011 | 60018 | 60019 => ErrorKind::RateLimited,
            30006 | 30007 | 60008 | 60013 | 60014 | 70169 | 70202 | 70500 => ErrorKind::Transient,
            30002 | 60006 | 60016 | 60017 | 60020 | 70016 | 70020 => ErrorKind::AppConfig,
            60004 | 60005 | 70001..=70050 => ErrorKind::Auth,
            _ => ErrorKind::Other,
        }
    }

    /// Whether an error of this class would hit every other request of the
    /// same client as well (credentials, permissions, app configuration), so
    /// that sending the rest of a batch is pointless.
    pub fn is_fatal(self) -> bool {
        matches!(
            self,
            ErrorKind::Auth
                | ErrorKind::Permission
                | ErrorKind::FeatureDisabled
                | ErrorKind::AppConfig
        )
    }
}

fn hint(code: i64) -> Option<&'static str> {
    Some(match code {
        70001 => "the UserSig has expired: generate a new one, or configure the SecretKey so the client renews it (one made moments ago that is expired means the clock of the machine that made it is wrong)",
        70003 | 70002 => "the UserSig is empty or damaged: check how it is generated and passed",
        70009 => "the UserSig was not made with this app's SecretKey: check the SecretKey belongs to this SDKAppID",
        70013 => "the UserSig was made for another identifier than the admin account used",
        70014 => "the UserSig was made for another SDKAppID",
        70016 | 70020 => "the SDKAppID is not known in this data center: pick the region the app was created in",
        70050 => "too many UserSig failures: fix the signature, then wait at least one minute",
        30004 | 60010 => "the identifier must be an App admin account (Console > Auxiliary tools > admin)",
        30005 => "the follow/fan feature is off: it needs the Pro, Pro Plus or Enterprise package (international sites) or 旗舰版/企业版, Ultimate/Enterprise (China site), and the switch in Console > Configuration > Friends and Relationship Chains",
        30003 | 70107 => "the account does not exist: import it first (account_import)",
        60021 => "the caller's IP address is not in the app's REST API allowlist",
        60020 => "the app's paid package has expired",
        _ => return None,
    })
}

/// Shortens `body` to at most `max` characters, lossily decoded and redacted.
pub(crate) fn snippet(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(max * 4)]);
    let mut out: String = text.chars().take(max).collect();
    if text.chars().count() > max || body.len() > max * 4 {
        out.push('…');
    }
    redact(&out)
}

/// Removes the value of every `usersig=` query parameter from `text`.
pub(crate) fn redact(text: &str) -> String {
    redact_param(text, "usersig=")
}

/// Removes the value of every `key` (such as `usersig=`) from `text`.
fn redact_param(text: &str, key: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while let Some(found) = lower[pos..].find(key) {
        let value_start = pos + found + key.len();
        out.push_str(&text[pos..value_start]);
        out.push_str("<redacted>");
        let rest = &text[value_start..];
        let value_len = rest
            .find(['&', ' ', '"', '\'', '\n', '\r', '\t', '#', ')'])
            .unwrap_or(rest.len());
        pos = value_start + value_len;
    }
    out.push_str(&text[pos..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_removes_every_usersig_value() {
        let url =
            "http://h/v4/x?sdkappid=1&identifier=a&usersig=eJyrVg*abc-_&random=5 and USERSIG=zz";
        let r = redact(url);
        assert!(!r.contains("eJyrVg"), "{r}");
        assert!(!r.contains("zz"), "{r}");
        assert!(r.contains("usersig=<redacted>&random=5"), "{r}");
    }

    #[test]
    fn snippet_is_short_and_redacted() {
        let body = format!("usersig=SECRET {}", "x".repeat(500));
        let s = snippet(body.as_bytes(), 40);
        assert!(!s.contains("SECRET"));
        assert!(s.chars().count() <= 41 + "<redacted>".len());
        assert!(s.ends_with('…'));
        // Invalid UTF-8 does not panic.
        let s = snippet(&[0xff, 0xfe, b'a'], 10);
        assert!(s.contains('a'));
    }

    #[test]
    fn codes_are_classified_from_the_tables() {
        assert_eq!(ErrorKind::of(30001), ErrorKind::InvalidRequest);
        assert_eq!(ErrorKind::of(30003), ErrorKind::AccountNotFound);
        assert_eq!(ErrorKind::of(30005), ErrorKind::FeatureDisabled);
        assert_eq!(ErrorKind::of(32101), ErrorKind::LimitReached);
        for c in [60007, 60011, 60018, 60019] {
            assert_eq!(ErrorKind::of(c), ErrorKind::RateLimited, "{c}");
            assert!(ApiError::new(c, "", "").is_retryable());
        }
        for c in [30006, 30007, 60008, 60014] {
            assert_eq!(ErrorKind::of(c), ErrorKind::Transient, "{c}");
            assert!(ApiError::new(c, "", "").is_retryable());
        }
        for c in [70001, 70003, 70009, 70013, 70014, 70050, 60004] {
            assert_eq!(ErrorKind::of(c), ErrorKind::Auth, "{c}");
            assert!(!ApiError::new(c, "", "").is_retryable());
        }
        assert_eq!(ErrorKind::of(70016), ErrorKind::AppConfig);
        // The account service's codes, by meaning; unknown 70xxx stay Other.
        for c in [70169, 70202, 70500] {
            assert_eq!(ErrorKind::of(c), ErrorKind::Transient, "{c}");
        }
        assert_eq!(ErrorKind::of(70402), ErrorKind::InvalidRequest);
        assert_eq!(ErrorKind::of(70403), ErrorKind::Permission);
        assert_eq!(ErrorKind::of(70999), ErrorKind::Other);
        assert!(ApiError::new(70001, "", "").is_usersig_rejected());
        assert!(!ApiError::new(70009, "", "").is_usersig_rejected());
        assert_eq!(ErrorKind::of(70107), ErrorKind::AccountNotFound);
        assert_eq!(ErrorKind::of(12345), ErrorKind::Other);
        assert!(ErrorKind::Auth.is_fatal());
        assert!(!ErrorKind::Transient.is_fatal());
    }

    #[test]
    fn api_error_display_names_code_kind_info_and_hint() {
        let e = Error::Api(ApiError::new(70009, "sig verify failed", ""));
        let s = e.to_string();
        assert!(
            s.starts_with("API error 70009 (UserSig rejected): sig verify failed"),
            "{s}"
        );
        assert!(s.contains("SecretKey belongs to this SDKAppID"), "{s}");
        assert_eq!(e.code(), Some(70009));
    }

    #[test]
    fn the_30005_hint_names_both_sites_packages() {
        let h = ApiError::new(30005, "", "").hint().unwrap();
        for package in [
            "Pro",
            "Pro Plus",
            "Enterprise",
            "旗舰版",
            "企业版",
            "Ultimate",
        ] {
            assert!(h.contains(package), "{package}: {h}");
        }
    }

    #[test]
    fn what_may_have_been_applied() {
        let t = |kind| Error::transport(kind, "");
        assert!(t(TransportErrorKind::Io).may_have_been_applied());
        assert!(t(TransportErrorKind::Timeout).may_have_been_applied());
        assert!(!t(TransportErrorKind::Connect).may_have_been_applied());
        assert!(!t(TransportErrorKind::Dns).may_have_been_applied());
        assert!(!t(TransportErrorKind::ConnectTimeout).may_have_been_applied());
        let st = |status| Error::HttpStatus {
            status,
            snippet: String::new(),
        };
        assert!(st(502).may_have_been_applied() && !st(429).may_have_been_applied());
        let api = |c| Error::Api(ApiError::new(c, "", ""));
        assert!(api(30006).may_have_been_applied());
        assert!(!api(60007).may_have_been_applied() && !api(70001).may_have_been_applied());
    }

    #[test]
    fn retryability_of_http_statuses() {
        let st = |status| Error::HttpStatus {
            status,
            snippet: String::new(),
        };
        assert!(st(502).is_retryable());
        assert!(st(429).is_retryable());
        assert!(st(408).is_retryable());
        assert!(!st(404).is_retryable());
        assert!(!Error::invalid(Field::Other("x"), "y").is_retryable());
        assert!(!Error::transport(TransportErrorKind::BodyTooLarge, "").is_retryable());
        assert!(Error::transport(TransportErrorKind::Timeout, "").is_retryable());
    }

    #[test]
    fn display_never_shows_debug_names_nor_repeats_the_source() {
        let e = Error::from(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "port taken",
        ));
        let text = e.to_string();
        let cause = std::error::Error::source(&e).expect("chained").to_string();
        assert_eq!(cause, "port taken");
        assert!(!text.contains(&cause), "{text}");
        let t = Error::transport(
            TransportErrorKind::Timeout,
            "http://h: the call's timeout ran out",
        );
        assert_eq!(
            t.to_string(),
            "transport error: http://h: the call's timeout ran out"
        );
        for (code, words) in [
            (70001, "(UserSig rejected)"),
            (30004, "(permission denied)"),
        ] {
            let s = Error::Api(ApiError::new(code, "x", "")).to_string();
            assert!(s.contains(words), "{s}");
            assert!(!s.contains("(Auth)") && !s.contains("(Permission)"), "{s}");
        }
    }
}

//! The thin HTTP layer: one ureq `Agent` (keep-alive pool) with timeouts that
//! are always set, a thread-free caching resolver, and a capped body read.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};
use ureq::Agent;

use crate::error::{redact, Error, TransportError, TransportErrorKind};
use crate::request::CONTENT_TYPE;

/// How the agent is set up.
pub(crate) struct TransportConfig {
    pub connect_timeout: Duration,
    pub call_timeout: Duration,
    pub pool_per_host: usize,
    pub use_env_proxy: bool,
    /// The user's own name lookup, instead of the system's resolver.
    pub lookup: Option<NameLookup>,
}

/// A name lookup: host and port to addresses (an error or no address is a
/// DNS failure).
pub(crate) type NameLookup =
    Arc<dyn Fn(&str, u16) -> std::io::Result<Vec<SocketAddr>> + Send + Sync>;

pub(crate) fn make_agent(cfg: &TransportConfig) -> Agent {
    let mut builder = Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(cfg.call_timeout))
        .timeout_connect(Some(cfg.connect_timeout))
        .max_idle_connections(cfg.pool_per_host.max(1) * 2)
        .max_idle_connections_per_host(cfg.pool_per_host.max(1))
        .max_redirects(0)
        .user_agent(concat!("tim-follow/", env!("CARGO_PKG_VERSION")))
        .input_buffer_size(32 * 1024)
        .output_buffer_size(16 * 1024);
    if !cfg.use_env_proxy {
        builder = builder.proxy(None);
    }
    #[cfg(feature = "native-tls")]
    {
        use ureq::tls::{RootCerts, TlsConfig, TlsProvider};
        builder = builder.tls_config(
            TlsConfig::builder()
                .provider(TlsProvider::NativeTls)
                .root_certs(RootCerts::PlatformVerifier)
                .build(),
        );
    }
    Agent::with_parts(
        builder.build(),
        DefaultConnector::new(),
        CachingResolver::new(Duration::from_secs(60), cfg.lookup.clone()),
    )
}

/// POSTs `body` to `url` and reads the reply, at most `max_body` bytes.
pub(crate) fn post(
    agent: &Agent,
    url: &str,
    body: &[u8],
    max_body: u64,
) -> Result<(u16, Vec<u8>), Error> {
    let mut res = agent
        .post(url)
        .header("Content-Type", CONTENT_TYPE)
        .send(body)
        .map_err(map_error)?;
    let status = res.status().as_u16();
    let bytes = res
        .body_mut()
        .with_config()
        .limit(max_body)
        .read_to_vec()
        .map_err(map_error)?;
    Ok((status, bytes))
}

/// Turns a ureq error into a redacted transport error: its kind from
/// ureq's typed error, its message in this crate's words, the cause on the
/// chain when its text carries no URL query (else, redacted, in the message).
pub(crate) fn map_error(err: ureq::Error) -> Error {
    let kind = kind_of(&err);
    let text = err.to_string();
    let chained = !text.contains('?') && redact(&text) == text;
    let message = match &err {
        ureq::Error::BodyExceedsLimit(n) => {
            format!("the response body is larger than the {n}-byte cap")
        }
        _ if chained => kind.to_string(),
        _ => format!("{kind}: {}", redact(&text)),
    };
    let source = chained.then(|| std::sync::Arc::new(err) as std::sync::Arc<_>);
    Error::Transport(TransportError {
        kind,
        message,
        source,
    })
}

/// The kind of a ureq error, from its variant and, for I/O errors, the
/// `io::ErrorKind` and the TLS library's typed error inside.
fn kind_of(err: &ureq::Error) -> TransportErrorKind {
    use std::io::ErrorKind as Io;
    match err {
        ureq::Error::Timeout(ureq::Timeout::Connect) => TransportErrorKind::ConnectTimeout,
        ureq::Error::Timeout(_) | ureq::Error::BodyStalled => TransportErrorKind::Timeout,
        ureq::Error::HostNotFound => TransportErrorKind::Dns,
        ureq::Error::ConnectionFailed => TransportErrorKind::Connect,
        ureq::Error::BodyExceedsLimit(_) => TransportErrorKind::BodyTooLarge,
        ureq::Error::Tls(_) | ureq::Error::TlsRequired => TransportErrorKind::Tls,
        #[cfg(feature = "rustls")]
        ureq::Error::Rustls(_) => TransportErrorKind::Tls,
        #[cfg(any(feature = "rustls", feature = "native-tls"))]
        ureq::Error::Pem(_) => TransportErrorKind::Tls,
        #[cfg(feature = "native-tls")]
        ureq::Error::NativeTls(_) | ureq::Error::Der(_) => TransportErrorKind::Tls,
        ureq::Error::Protocol(_) | ureq::Error::LargeResponseHeader(..) => {
            TransportErrorKind::Protocol
        }
        ureq::Error::Io(io) => match io.kind() {
            Io::ConnectionRefused
            | Io::AddrNotAvailable
            | Io::NetworkUnreachable
            | Io::HostUnreachable => TransportErrorKind::Connect,
            Io::TimedOut | Io::WouldBlock => TransportErrorKind::Timeout,
            _ if is_tls_failure(io) => TransportErrorKind::Tls,
            _ => TransportErrorKind::Io,
        },
        _ => TransportErrorKind::Other,
    }
}

/// Whether an I/O error carries the TLS library's own error: rustls reports
/// handshake and certificate failures as `InvalidData` around a
/// `rustls::Error`.
fn is_tls_failure(io: &std::io::Error) -> bool {
    #[cfg(feature = "rustls")]
    if io
        .get_ref()
        .is_some_and(|inner| inner.is::<rustls::Error>())
    {
        return true;
    }
    let _ = io;
    false
}

/// A host name and port.
type HostPort = (String, u16);

/// Resolves host names without spawning a thread per request: answers are
/// cached for `ttl`; only a cache miss does a lookup, on a helper thread bounded
/// by the call's timeout. IP literals need no lookup at all.
pub(crate) struct CachingResolver {
    ttl: Duration,
    cache: Mutex<HashMap<HostPort, (Instant, Vec<SocketAddr>)>>,
    /// The user's lookup; `None` is the system's resolver.
    lookup: Option<NameLookup>,
}

impl std::fmt::Debug for CachingResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachingResolver")
            .field("ttl", &self.ttl)
            .field("own_lookup", &self.lookup.is_some())
            .finish_non_exhaustive()
    }
}

impl CachingResolver {
    pub(crate) fn new(ttl: Duration, lookup: Option<NameLookup>) -> Self {
        CachingResolver {
            ttl,
            cache: Mutex::new(HashMap::new()),
            lookup,
        }
    }

    /// The lookup to run, movable to a helper thread.
    fn lookup_fn(&self) -> impl FnOnce(&str, u16) -> std::io::Result<Vec<SocketAddr>> {
        let own = self.lookup.clone();
        move |host: &str, port: u16| match own {
            Some(f) => f(host, port),
            None => (host, port).to_socket_addrs().map(|a| a.collect()),
        }
    }

    fn lookup(
        &self,
        host: &str,
        port: u16,
        timeout: &NextTimeout,
    ) -> Result<Vec<SocketAddr>, ureq::Error> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let key = (host.to_string(), port);
        if let Some((at, addrs)) = crate::sync::lock(&self.cache).get(&key) {
            if at.elapsed() < self.ttl {
                return Ok(addrs.clone());
            }
        }
        let run = self.lookup_fn();
        let addrs = if timeout.after.is_not_happening() {
            run(host, port)?
        } else {
            let (tx, rx) = mpsc::sync_channel(1);
            let host = host.to_string();
            std::thread::Builder::new()
                .name("tim-follow-resolve".into())
                .spawn(move || {
                    let _ = tx.send(run(&host, port));
                })
                .map_err(ureq::Error::Io)?;
            match rx.recv_timeout(*timeout.after) {
                Ok(result) => result?,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(ureq::Error::Timeout(timeout.reason))
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(ureq::Error::HostNotFound),
            }
        };
        if addrs.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        crate::sync::lock(&self.cache).insert(key, (Instant::now(), addrs.clone()));
        Ok(addrs)
    }
}

impl Resolver for CachingResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().ok_or(ureq::Error::HostNotFound)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("http") {
                80
            } else {
                443
            });
        let addrs = self.lookup(host, port, &timeout).map_err(|e| match e {
            ureq::Error::Io(_) => ureq::Error::HostNotFound,
            other => other,
        })?;
        let mut out = self.empty();
        for a in config.ip_family().keep_wanted(addrs.into_iter()).take(16) {
            out.push(a);
        }
        if out.is_empty() {
            Err(ureq::Error::HostNotFound)
        } else {
            Ok(out)
        }
    }
}

/// Whether a TCP connection to the host and port of `base`
/// (`scheme://host[:port]`) opens within `within`: told apart from a TLS
/// handshake that never completes.
pub(crate) fn tcp_opens(base: &str, within: Duration) -> bool {
    let Some((scheme, rest)) = base.split_once("://") else {
        return false;
    };
    let authority = rest.trim_end_matches('/');
    let has_port = match authority.rsplit_once(':') {
        Some((host, port)) => {
            port.parse::<u16>().is_ok() && (!host.starts_with('[') || host.ends_with(']'))
        }
        None => false,
    };
    let target = if has_port {
        authority.to_string()
    } else {
        let port = if scheme.eq_ignore_ascii_case("https") {
            443
        } else {
            80
        };
        format!("{authority}:{port}")
    };
    let addr = target.to_socket_addrs().ok().and_then(|mut a| a.next());
    addr.is_some_and(|a| std::net::TcpStream::connect_timeout(&a, within).is_ok())
}

/// Whether `host` is a loopback name or address.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// Splits `scheme://host[:port][/]` and checks it; returns (scheme, host).
pub(crate) fn parse_base_url(url: &str) -> Result<(String, String), Error> {
    let bad = |why: &str| Error::invalid(crate::error::Field::BaseUrl, format!("{url:?}: {why}"));
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("expected scheme://host[:port]"))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(bad("the scheme must be https (or http to loopback)"));
    }
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
        return Err(bad(
            "expected only a host and an optional port, no path or query",
        ));
    }
    let host = if let Some(stripped) = authority.strip_prefix('[') {
        stripped.split(']').next().unwrap_or_default().to_string()
    } else {
        match authority.rsplit_once(':') {
            Some((h, port)) => {
                port.parse::<u16>()
                    .map_err(|_| bad("the port is not a number"))?;
                h.to_string()
            }
            None => authority.to_string(),
        }
    };
    if host.is_empty() {
        return Err(bad("the host is empty"));
    }
    Ok((scheme, host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_that_carry_the_url_are_redacted_and_classified() {
        let e = map_error(ureq::Error::BadUri(
            "http://h/v4/follow/follow_delete?sdkappid=1&identifier=a&usersig=eJyrSECRET*-_&random=1".into(),
        ));
        let text = format!("{e} {e:?}");
        assert!(!text.contains("eJyrSECRET"), "{text}");
        assert!(
            std::error::Error::source(&e).is_none(),
            "a URL never rides the chain"
        );
        assert!(text.contains("usersig=<redacted>&random=1"), "{text}");
        #[cfg(feature = "rustls")]
        {
            let tls = map_error(ureq::Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
            )));
            assert!(matches!(&tls, Error::Transport(t) if t.kind == TransportErrorKind::Tls));
            assert!(!tls.is_retryable());
        }
        // The same words without the TLS library's error are not TLS: no
        // text is matched.
        let io = map_error(ureq::Error::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "invalid peer certificate: UnknownIssuer",
        )));
        assert!(matches!(&io, Error::Transport(t) if t.kind == TransportErrorKind::Io));
        let refused = map_error(ureq::Error::Io(
            std::io::ErrorKind::ConnectionRefused.into(),
        ));
        assert!(matches!(&refused, Error::Transport(t) if t.kind == TransportErrorKind::Connect));
        let cause = std::error::Error::source(&refused).expect("the cause is chained");
        assert!(cause.to_string().contains("refused"), "{cause}");
        assert!(
            !refused.to_string().contains(&cause.to_string()),
            "Display does not repeat the source: {refused}"
        );
        assert_eq!(refused.clone(), refused, "still Clone and PartialEq");
        assert!(refused.is_retryable());
        let big = map_error(ureq::Error::BodyExceedsLimit(1024));
        assert!(big.to_string().contains("1024-byte cap"), "{big}");
    }

    #[test]
    fn kinds_come_from_the_typed_errors() {
        let kind = |e| match map_error(e) {
            Error::Transport(t) => t.kind,
            other => panic!("{other:?}"),
        };
        use TransportErrorKind as K;
        assert_eq!(
            kind(ureq::Error::Timeout(ureq::Timeout::Connect)),
            K::ConnectTimeout
        );
        assert_eq!(
            kind(ureq::Error::Timeout(ureq::Timeout::Global)),
            K::Timeout
        );
        assert_eq!(
            kind(ureq::Error::Timeout(ureq::Timeout::RecvResponse)),
            K::Timeout
        );
        assert_eq!(kind(ureq::Error::BodyStalled), K::Timeout);
        assert_eq!(kind(ureq::Error::HostNotFound), K::Dns);
        assert_eq!(kind(ureq::Error::ConnectionFailed), K::Connect);
        assert_eq!(kind(ureq::Error::Tls("bad name")), K::Tls);
        assert_eq!(kind(ureq::Error::TlsRequired), K::Tls);
        assert_eq!(kind(ureq::Error::BodyExceedsLimit(1)), K::BodyTooLarge);
        assert_eq!(kind(ureq::Error::LargeResponseHeader(1, 2)), K::Protocol);
        let io = |k: std::io::ErrorKind| ureq::Error::Io(k.into());
        assert_eq!(kind(io(std::io::ErrorKind::ConnectionRefused)), K::Connect);
        assert_eq!(kind(io(std::io::ErrorKind::HostUnreachable)), K::Connect);
        assert_eq!(kind(io(std::io::ErrorKind::TimedOut)), K::Timeout);
        assert_eq!(kind(io(std::io::ErrorKind::ConnectionReset)), K::Io);
        assert_eq!(kind(io(std::io::ErrorKind::UnexpectedEof)), K::Io);
        assert_eq!(kind(ureq::Error::RedirectFailed), K::Other);
        assert!(K::ConnectTimeout.surely_not_sent() && !K::Timeout.surely_not_sent());
    }

    #[test]
    fn base_urls() {
        assert_eq!(
            parse_base_url("https://console.tim.qq.com").unwrap(),
            ("https".into(), "console.tim.qq.com".into())
        );
        assert_eq!(
            parse_base_url("http://127.0.0.1:8080/").unwrap(),
            ("http".into(), "127.0.0.1".into())
        );
        assert_eq!(parse_base_url("http://[::1]:80").unwrap().1, "::1");
        for bad in [
            "ftp://x",
            "console.tim.qq.com",
            "https://",
            "https://h/v4",
            "https://h:xx",
            "https://u@h",
        ] {
            assert!(parse_base_url(bad).is_err(), "{bad}");
        }
        assert!(is_loopback_host("127.0.0.2"));
        assert!(is_loopback_host("LOCALHOST"));
        assert!(is_loopback_host("[::1]"));
        assert!(!is_loopback_host("10.0.0.1"));
        assert!(!is_loopback_host("example.com"));
    }
}

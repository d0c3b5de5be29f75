//! A small HTTP/1.1 server on std::net, for the emulator and the webhook
//! receiver: keep-alive, Content-Length and chunked request bodies, a bound
//! on connections (a thread each), idle, head and body timeouts, a graceful
//! stop, and the socket-level control that the emulator's fault injection
//! needs (closing before or after reading a request, cutting a body short).
//!
//! Hand-written rather than a crate: the sync servers on crates.io either
//! have no connection bound or head/body timeouts (tiny_http, and rouille
//! on it) or bring hyper and its stack (astra), and none lets a test close a
//! connection half-way through a request.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub mod wire;

const POLL: Duration = Duration::from_millis(100);

/// One connection as the acceptor sees it.
#[derive(Default)]
struct Conn {
    /// Since when it has been waiting for a new request (`None` while a
    /// request is under way).
    idle_since: Mutex<Option<Instant>>,
    /// Asked to close: a new connection needs its place.
    close: AtomicBool,
}

/// The open connections.
type Registry = Arc<Mutex<Vec<Arc<Conn>>>>;

/// With every place taken, a new connection asks the one idle the longest
/// to close (it does within 100 ms), so that a flood of idle connections
/// cannot lock real requests out until the idle timeout; if none is idle,
/// or too many are closing already, the new connection is closed. So at
/// most `max + max / 4` connections are ever open: `max` served, the rest
/// closing.
fn make_room(registry: &Registry, active: usize, max: usize) -> bool {
    if active >= max + max / 4 {
        return false;
    }
    let conns = crate::sync::lock(registry);
    let oldest = conns
        .iter()
        .filter(|c| !c.close.load(Ordering::SeqCst))
        .filter_map(|c| crate::sync::lock(&c.idle_since).map(|at| (at, c)))
        .min_by_key(|(at, _)| *at);
    match oldest {
        Some((_, c)) => {
            c.close.store(true, Ordering::SeqCst);
            true
        }
        None => false,
    }
}

/// The bounds a server holds every connection to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Connections served at once (a thread each); more are closed at once.
    pub max_connections: usize,
    /// A connection that sends nothing for this long (between requests, or
    /// in the middle of one) is closed.
    pub idle: Duration,
    /// The whole head of a request must arrive within this.
    pub head: Duration,
    /// The whole body must arrive within this once the head is read.
    pub body: Duration,
    /// The largest body read; a larger one is refused with 413 unread.
    pub max_body: usize,
}

/// A request as read from the socket.
pub(crate) struct HttpRequest {
    pub method: String,
    pub target: String,
    pub body: Vec<u8>,
}

/// What to send back.
#[cfg_attr(not(feature = "testkit"), allow(dead_code))]
pub(crate) enum Reply {
    /// A complete response.
    Response {
        status: u16,
        content_type: &'static str,
        body: Vec<u8>,
    },
    /// Close the connection without a response.
    Close,
    /// Send the status and headers with a Content-Length of `claimed`, then
    /// only `body`, then close.
    Truncated { body: Vec<u8>, claimed: usize },
}

/// The application behind the server.
pub(crate) trait Handler: Send + Sync + 'static {
    /// Called once the request line and headers are read: `true` closes the
    /// connection at once, before the body is read.
    fn drop_before_body(&self, method: &str, target: &str) -> bool;
    /// Handles a whole request.
    fn handle(&self, request: HttpRequest) -> Reply;
    /// Told of a request the server refused itself (a malformed or
    /// oversized head, a body too large, a request that did not arrive in
    /// time), with the status it was answered.
    fn refused(&self, _status: u16) {}
}

/// A running server; stops when dropped.
pub(crate) struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    active: Arc<AtomicUsize>,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    /// Listens on `addr` and serves each connection on a thread of its own,
    /// within `limits`.
    pub(crate) fn start(
        addr: SocketAddr,
        handler: Arc<dyn Handler>,
        limits: Limits,
    ) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let active = Arc::new(AtomicUsize::new(0));
        let stop2 = stop.clone();
        let active_out = active.clone();
        let registry: Registry = Arc::default();
        let acceptor = std::thread::Builder::new()
            .name("tim-follow-http-accept".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if stop2.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let now = active.load(Ordering::SeqCst);
                    if now >= limits.max_connections
                        && !make_room(&registry, now, limits.max_connections)
                    {
                        continue; // dropped: closed at once
                    }
                    active.fetch_add(1, Ordering::SeqCst);
                    let conn = Arc::new(Conn::default());
                    crate::sync::lock(&registry).push(conn.clone());
                    let (handler, stop, active) = (handler.clone(), stop2.clone(), active.clone());
                    let registry = registry.clone();
                    let spawned = std::thread::Builder::new()
                        .name("tim-follow-http-conn".into())
                        .spawn(move || {
                            let _ = serve(stream, &*handler, &stop, &limits, &conn);
                            crate::sync::lock(&registry).retain(|c| !Arc::ptr_eq(c, &conn));
                            active.fetch_sub(1, Ordering::SeqCst);
                        });
                    if spawned.is_err() {
                        // The stream moved into the failed closure is dropped (closed).
                        continue;
                    }
                }
            })?;
        Ok(Server {
            addr,
            stop,
            active: active_out,
            acceptor: Some(acceptor),
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections currently open.
    pub(crate) fn open_connections(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// Stops accepting, lets the requests being handled finish and answer,
    /// and waits (at most `grace`) until every connection has closed;
    /// connections idle or waiting for more of a request close within
    /// 100 ms. Returns the connections still open at the end.
    #[cfg(feature = "receiver")]
    pub(crate) fn shutdown(mut self, grace: Duration) -> usize {
        self.stop_accepting();
        let deadline = Instant::now() + grace;
        while self.active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.active.load(Ordering::SeqCst)
    }

    fn stop_accepting(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor with a connection of our own.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_accepting();
    }
}

/// Reads more bytes into `buf`; `Ok(false)` on a clean end of stream, a
/// stop, or nothing arriving before `deadline`.
fn fill(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    stop: &AtomicBool,
    conn: &Conn,
    deadline: Instant,
) -> io::Result<bool> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if Instant::now() >= deadline {
            return Ok(false);
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(true);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if stop.load(Ordering::SeqCst) || conn.close.load(Ordering::SeqCst) {
                    return Ok(false);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn serve(
    mut stream: TcpStream,
    handler: &dyn Handler,
    stop: &AtomicBool,
    limits: &Limits,
    conn: &Conn,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(POLL))?;
    stream.set_write_timeout(Some(limits.idle))?;
    let mut buf: Vec<u8> = Vec::with_capacity(8 * 1024);
    loop {
        // Idle between requests, or a head that never ends: closed. The
        // idle time runs until the first byte; then the head's own bound.
        let idle_until = Instant::now() + limits.idle;
        let mut head_until = None;
        let head = loop {
            match wire::parse_head(&buf, limits.max_body) {
                Ok(Some(head)) => break head,
                Ok(None) => {}
                Err((status, why)) => {
                    handler.refused(status);
                    return write_simple(&mut stream, status, why);
                }
            }
            if buf.is_empty() {
                crate::sync::lock(&conn.idle_since).get_or_insert_with(Instant::now);
            } else {
                *crate::sync::lock(&conn.idle_since) = None;
                head_until.get_or_insert_with(|| Instant::now() + limits.head);
            }
            let deadline = head_until.unwrap_or(idle_until);
            if !fill(&mut stream, &mut buf, stop, conn, deadline)? {
                if !buf.is_empty() {
                    handler.refused(408);
                }
                return timed_out(&mut stream, &buf);
            }
        };
        *crate::sync::lock(&conn.idle_since) = None;
        if handler.drop_before_body(&head.method, &head.target) {
            let _ = stream.shutdown(Shutdown::Both);
            return Ok(());
        }
        // A body that stops arriving, or arrives too slowly: closed.
        let deadline = Instant::now() + limits.body;
        let (body, consumed) = loop {
            match wire::parse_body(&buf, &head, limits.max_body) {
                Ok(Some(done)) => break done,
                Ok(None) => {}
                Err((status, why)) => {
                    handler.refused(status);
                    return write_simple(&mut stream, status, why);
                }
            }
            if !fill(&mut stream, &mut buf, stop, conn, deadline)? {
                handler.refused(408);
                return timed_out(&mut stream, &buf);
            }
        };
        buf.drain(..consumed);
        let close = head.close;
        let (method, target) = (head.method, head.target);
        match handler.handle(HttpRequest {
            method,
            target,
            body,
        }) {
            Reply::Response {
                status,
                content_type,
                body,
            } => {
                let mut out = format!(
                    "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
                    reason(status),
                    body.len(),
                    if close { "close" } else { "keep-alive" }
                )
                .into_bytes();
                out.extend_from_slice(&body);
                stream.write_all(&out)?;
                if close {
                    let _ = stream.shutdown(Shutdown::Both);
                    return Ok(());
                }
            }
            Reply::Close => {
                let _ = stream.shutdown(Shutdown::Both);
                return Ok(());
            }
            Reply::Truncated { body, claimed } => {
                let mut out = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {claimed}\r\n\r\n"
                )
                .into_bytes();
                out.extend_from_slice(&body);
                let _ = stream.write_all(&out);
                let _ = stream.flush();
                let _ = stream.shutdown(Shutdown::Both);
                return Ok(());
            }
        }
    }
}

/// Closes a connection that went quiet: with a 408 when a request was
/// under way, silently when it was idle between requests.
fn timed_out(stream: &mut TcpStream, buf: &[u8]) -> io::Result<()> {
    if buf.is_empty() {
        let _ = stream.shutdown(Shutdown::Both);
        return Ok(());
    }
    write_simple(stream, 408, "the request did not arrive in time")
}

fn write_simple(stream: &mut TcpStream, status: u16, text: &str) -> io::Result<()> {
    let out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        reason(status),
        text.len()
    );
    let _ = stream.write_all(out.as_bytes());
    let _ = stream.shutdown(Shutdown::Both);
    Ok(())
}

pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

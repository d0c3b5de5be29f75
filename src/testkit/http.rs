//! A small HTTP/1.1 server on std::net for the emulator: keep-alive,
//! Content-Length and chunked request bodies, and the socket-level control
//! that fault injection needs (closing before or after reading a request,
//! cutting a body short).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::wire;

/// Connections served at once; more are closed at once. A flood of idle
/// connections is closed by the idle timeout, and this many leaves room
/// for real requests meanwhile.
const MAX_CONNECTIONS: usize = 1024;
const POLL: Duration = Duration::from_millis(100);

/// A request as read from the socket.
pub(crate) struct HttpRequest {
    pub method: String,
    pub target: String,
    pub body: Vec<u8>,
}

/// What to send back.
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
}

/// A running server; stops when dropped.
pub(crate) struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    active: Arc<AtomicUsize>,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    /// Listens on 127.0.0.1:`port`; a connection that sends nothing for
    /// `idle` (between requests, or in the middle of one) is closed.
    pub(crate) fn start(
        port: u16,
        handler: Arc<dyn Handler>,
        idle: Duration,
    ) -> io::Result<Server> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let active = Arc::new(AtomicUsize::new(0));
        let stop2 = stop.clone();
        let active_out = active.clone();
        let acceptor = std::thread::Builder::new()
            .name("tim-emulator-accept".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if stop2.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    if active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
                        continue; // dropped: closed at once
                    }
                    active.fetch_add(1, Ordering::SeqCst);
                    let (handler, stop, active) = (handler.clone(), stop2.clone(), active.clone());
                    let spawned = std::thread::Builder::new()
                        .name("tim-emulator-conn".into())
                        .spawn(move || {
                            let _ = serve(stream, &*handler, &stop, idle);
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
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor with a connection of our own.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

/// Reads more bytes into `buf`; `Ok(false)` on a clean end of stream, a
/// stop, or nothing arriving before `deadline`.
fn fill(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    stop: &AtomicBool,
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
                if stop.load(Ordering::SeqCst) {
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
    idle: Duration,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(POLL))?;
    let mut buf: Vec<u8> = Vec::with_capacity(8 * 1024);
    loop {
        // Idle between requests, or a head that never ends: closed.
        let deadline = Instant::now() + idle;
        let head = loop {
            match wire::parse_head(&buf) {
                Ok(Some(head)) => break head,
                Ok(None) => {}
                Err((status, why)) => return write_simple(&mut stream, status, why),
            }
            if !fill(&mut stream, &mut buf, stop, deadline)? {
                return timed_out(&mut stream, &buf);
            }
        };
        if handler.drop_before_body(&head.method, &head.target) {
            let _ = stream.shutdown(Shutdown::Both);
            return Ok(());
        }
        // A body that stops arriving: closed.
        let deadline = Instant::now() + idle;
        let (body, consumed) = loop {
            match wire::parse_body(&buf, &head) {
                Ok(Some(done)) => break done,
                Ok(None) => {}
                Err((status, why)) => return write_simple(&mut stream, status, why),
            }
            if !fill(&mut stream, &mut buf, stop, deadline)? {
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

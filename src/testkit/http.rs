//! A small HTTP/1.1 server on std::net for the emulator: keep-alive,
//! Content-Length and chunked request bodies, and the socket-level control
//! that fault injection needs (closing before or after reading a request,
//! cutting a body short).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 8 * 1024 * 1024;
const MAX_CONNECTIONS: usize = 256;
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
    pub(crate) fn start(port: u16, handler: Arc<dyn Handler>) -> io::Result<Server> {
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
                            let _ = serve(stream, &*handler, &stop);
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

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads more bytes into `buf`; `Ok(false)` on a clean end of stream or stop.
fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>, stop: &AtomicBool) -> io::Result<bool> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
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

fn serve(mut stream: TcpStream, handler: &dyn Handler, stop: &AtomicBool) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(POLL))?;
    let mut buf: Vec<u8> = Vec::with_capacity(8 * 1024);
    loop {
        let head_end = loop {
            if let Some(pos) = find(&buf, b"\r\n\r\n") {
                break pos;
            }
            if buf.len() > MAX_HEAD {
                return write_simple(&mut stream, 431, "request head too large");
            }
            if !fill(&mut stream, &mut buf, stop)? {
                return Ok(());
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default();
        let mut parts = request_line.split(' ');
        let (method, target, version) = (
            parts.next().unwrap_or_default().to_string(),
            parts.next().unwrap_or_default().to_string(),
            parts.next().unwrap_or_default().to_string(),
        );
        if method.is_empty() || !target.starts_with('/') || !version.starts_with("HTTP/1.") {
            return write_simple(&mut stream, 400, "malformed request line");
        }
        let mut content_length: Option<usize> = None;
        let mut chunked = false;
        let mut close = version == "HTTP/1.0";
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => match value.parse() {
                    Ok(n) => content_length = Some(n),
                    Err(_) => return write_simple(&mut stream, 400, "bad content-length"),
                },
                "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
                "connection" => {
                    let v = value.to_ascii_lowercase();
                    if v.contains("close") {
                        close = true;
                    } else if v.contains("keep-alive") {
                        close = false;
                    }
                }
                _ => {}
            }
        }
        if handler.drop_before_body(&method, &target) {
            let _ = stream.shutdown(Shutdown::Both);
            return Ok(());
        }
        let mut consumed = head_end + 4;
        let body = if chunked {
            let mut body = Vec::new();
            loop {
                let line_end = loop {
                    if let Some(p) = find(&buf[consumed..], b"\r\n") {
                        break consumed + p;
                    }
                    if !fill(&mut stream, &mut buf, stop)? {
                        return Ok(());
                    }
                };
                let size_text = String::from_utf8_lossy(&buf[consumed..line_end]).into_owned();
                let size_text = size_text
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                let Ok(size) = usize::from_str_radix(&size_text, 16) else {
                    return write_simple(&mut stream, 400, "bad chunk size");
                };
                if body.len() + size > MAX_BODY {
                    return write_simple(&mut stream, 413, "body too large");
                }
                let data_start = line_end + 2;
                while buf.len() < data_start + size + 2 {
                    if !fill(&mut stream, &mut buf, stop)? {
                        return Ok(());
                    }
                }
                body.extend_from_slice(&buf[data_start..data_start + size]);
                consumed = data_start + size + 2;
                if size == 0 {
                    // Trailers are not expected; the final CRLF was consumed above.
                    break;
                }
            }
            body
        } else {
            let len = content_length.unwrap_or(0);
            if len > MAX_BODY {
                return write_simple(&mut stream, 413, "body too large");
            }
            while buf.len() < consumed + len {
                if !fill(&mut stream, &mut buf, stop)? {
                    return Ok(());
                }
            }
            let body = buf[consumed..consumed + len].to_vec();
            consumed += len;
            body
        };
        buf.drain(..consumed);
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

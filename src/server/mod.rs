//! A small HTTP/1.1 server, for the emulator and the webhook receiver:
//! keep-alive, Content-Length and chunked request bodies, `Expect:
//! 100-continue`, a bound on connections, idle, head and body timeouts, a
//! minimum transfer rate, a graceful stop, and the socket-level control that
//! the emulator's fault injection needs (closing before or after reading a
//! request, cutting a body short).
//!
//! One thread ([`event_loop`]) owns every connection and reads requests as
//! their bytes arrive (on `mio`, no async runtime), so a slow or idle
//! connection costs a buffer, not a thread; whole requests go to a bounded
//! pool of workers ([`pool`]) that run the blocking handler. With every
//! place taken, a new connection takes the place of the one that has made
//! the least progress, so that neither idle nor slow connections can lock
//! real requests out, even from the same address as the real sender.
//!
//! What it refuses or closes itself is counted by reason in [`Stats`],
//! never logged a line each.
//!
//! Hand-written rather than a crate: the sync servers on crates.io either
//! have no connection bound or head/body timeouts (tiny_http, and rouille
//! on it) or bring hyper and its stack (astra), and none lets a test close a
//! connection half-way through a request.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

mod answer;
mod event_loop;
mod pool;
mod reader;
mod stats;
pub mod wire;

#[cfg_attr(not(feature = "testkit"), allow(unused_imports))]
pub(crate) use answer::reason;
#[allow(unused_imports)]
pub(crate) use stats::{Refused, Stats};

/// The bounds a server holds every connection to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Connections open at once; with every place taken, a new one takes
    /// the place of the one that has made the least progress.
    pub max_connections: usize,
    /// A connection that sends nothing for this long between requests is
    /// closed; a reply not taken within it too.
    pub idle: Duration,
    /// The whole head of a request must arrive within this.
    pub head: Duration,
    /// The whole body must arrive within this once the head is read.
    pub body: Duration,
    /// The largest body read; a larger one is refused with 413 unread.
    pub max_body: usize,
    /// Threads that run the handler at most (and at most one a connection).
    pub max_workers: usize,
}

impl Limits {
    /// Threads that run the handler at most: as many requests are handled
    /// at once, the others wait their turn, read.
    fn workers(&self) -> usize {
        self.max_connections.clamp(1, self.max_workers.max(1))
    }
}

/// A request as read from the socket.
pub(crate) struct HttpRequest {
    /// Who sent it.
    #[cfg_attr(not(feature = "receiver"), allow(dead_code))]
    pub peer: SocketAddr,
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
    /// Called (on the server's own thread: it must not block) once the
    /// request line and headers are read: `true` closes the connection at
    /// once, before the body is read.
    fn drop_before_body(&self, method: &str, target: &str) -> bool;
    /// Handles a whole request, on a worker thread (with a small stack).
    fn handle(&self, request: HttpRequest) -> Reply;
    /// Told of a request the server refused itself (a malformed or
    /// oversized head, a body too large, a request that did not arrive in
    /// time or too slowly), with the status it was answered and the peer. Called on the
    /// server's own thread: it must not block, nor log a line each.
    fn refused(&self, _status: u16, _peer: Option<SocketAddr>) {}
}

/// What the server's thread and its owner share.
#[derive(Default)]
pub(crate) struct Control {
    /// Stop accepting and close connections waiting for a request.
    stop: AtomicBool,
    /// Close everything and end.
    halt: AtomicBool,
    open: AtomicUsize,
    stats: Stats,
}

/// A running server; stops when dropped.
pub(crate) struct Server {
    addr: SocketAddr,
    control: Arc<Control>,
    waker: Arc<mio::Waker>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Listens on `addr` and serves every connection from one thread, the
    /// handler on a pool of workers, within `limits`.
    pub(crate) fn start(
        addr: SocketAddr,
        handler: Arc<dyn Handler>,
        limits: Limits,
    ) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let mut listener = mio::net::TcpListener::from_std(listener);
        let poll = mio::Poll::new()?;
        poll.registry()
            .register(&mut listener, event_loop::LISTENER, mio::Interest::READABLE)?;
        let waker = Arc::new(mio::Waker::new(poll.registry(), event_loop::WAKER)?);
        let control = Arc::new(Control::default());
        let (done, replies) = std::sync::mpsc::channel();
        let wake = waker.clone();
        let pool = pool::Pool::new(
            handler.clone(),
            limits.workers(),
            done,
            Box::new(move || {
                let _ = wake.wake();
            }),
        );
        let event_loop = event_loop::Loop::new(
            poll,
            listener,
            handler,
            limits,
            pool,
            replies,
            control.clone(),
        );
        let thread = std::thread::Builder::new()
            .name("tim-follow-http".into())
            .spawn(move || event_loop.run())?;
        Ok(Server {
            addr,
            control,
            waker,
            thread: Some(thread),
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections currently open (never more than the bound).
    pub(crate) fn open_connections(&self) -> usize {
        self.control.open.load(Ordering::SeqCst)
    }

    /// What the server refused or closed itself, by reason, and more.
    #[allow(dead_code)]
    pub(crate) fn stats(&self) -> &Stats {
        &self.control.stats
    }

    /// Stops accepting, closes the connections waiting for a request, lets
    /// the requests being handled finish and answer (with `Connection:
    /// close`), and waits (at most `grace`) until every connection has
    /// closed. Returns the connections still open at the end.
    #[cfg(feature = "receiver")]
    pub(crate) fn shutdown(self, grace: Duration) -> usize {
        self.control.stop.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
        let deadline = std::time::Instant::now() + grace;
        while self.open_connections() > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.open_connections()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.control.stop.store(true, Ordering::SeqCst);
        self.control.halt.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests;

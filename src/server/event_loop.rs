//! The thread that owns every connection: it accepts, reads heads and
//! bodies as they arrive (a slow connection costs its buffer, not a
//! thread), holds each to its bounds and a minimum rate, hands whole
//! requests to the [`Pool`], and writes the replies. With every place
//! taken, a new connection takes the place of the one that has made the
//! least progress (see [`credit`]), so neither idle connections nor slow
//! ones can keep a sender out, even from the sender's own address.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use super::pool::{Job, Pool};
use super::reader::{Event, Reader, Request};
use super::stats::Refused;
use super::{answer, Control, Handler, HttpRequest, Limits, Reply};

pub(crate) const LISTENER: Token = Token(usize::MAX - 1);
pub(crate) const WAKER: Token = Token(usize::MAX);
/// How often deadlines are looked at.
const TICK: Duration = Duration::from_millis(50);
/// The slowest a request may arrive once its grace has passed, in bytes
/// per second (a dribble of a byte a second is closed within seconds).
pub(crate) const MIN_RATE: f64 = 512.0;
/// The time a request has before the minimum rate applies.
pub(crate) const RATE_GRACE: Duration = Duration::from_secs(2);
/// A connection accepted (or answered) this recently is evicted only when
/// every reading connection is as young: its request may be on its way.
/// Without it, flooders that send a head at once outrank a sender whose
/// request has not yet been read.
const FRESH: Duration = Duration::from_millis(100);

enum State {
    /// Reading a request (or waiting for one).
    Reading,
    /// Its request is with the handler.
    Busy,
    /// Writing `out` from `at`; then keeping the connection or closing it.
    Writing {
        out: Vec<u8>,
        at: usize,
        keep: bool,
        until: Instant,
    },
}

struct Conn {
    stream: TcpStream,
    /// Who it came from (for the log's samples).
    peer: std::net::SocketAddr,
    reader: Reader,
    state: State,
    /// Accepted, or last answered: the idle time runs from here.
    since: Instant,
    /// The first byte of the request under way.
    started: Instant,
    /// The end of its head.
    body_since: Instant,
    /// The request under way asked to close after the reply.
    close: bool,
    /// Bytes read past the end of a request: the start of the next.
    stash: Vec<u8>,
}

/// How far ahead of the minimum rate a connection is, in bytes: a new or
/// just-answered connection starts with the grace's worth, and loses
/// [`MIN_RATE`] each second until its request is whole. The lowest goes
/// first when room is needed: the one idle the longest, or the slowest.
fn credit(conn: &Conn, now: Instant) -> f64 {
    let (bytes, from) = match conn.reader.received() {
        0 => (0, conn.since),
        n => (n, conn.started),
    };
    let age = now.saturating_duration_since(from).as_secs_f64();
    bytes as f64 + MIN_RATE * (RATE_GRACE.as_secs_f64() - age)
}

pub(crate) struct Loop {
    pub poll: Poll,
    pub listener: Option<TcpListener>,
    pub handler: Arc<dyn Handler>,
    pub limits: Limits,
    pub pool: Pool,
    pub done: Receiver<(usize, Reply)>,
    pub control: Arc<Control>,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    count: usize,
    scratch: Vec<u8>,
    accept_pending: bool,
}

impl Loop {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        poll: Poll,
        listener: TcpListener,
        handler: Arc<dyn Handler>,
        limits: Limits,
        pool: Pool,
        done: Receiver<(usize, Reply)>,
        control: Arc<Control>,
    ) -> Loop {
        Loop {
            poll,
            listener: Some(listener),
            handler,
            limits,
            pool,
            done,
            control,
            conns: Vec::new(),
            free: Vec::new(),
            count: 0,
            scratch: vec![0; 16 * 1024],
            accept_pending: false,
        }
    }

    pub(crate) fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        let mut last_sweep = Instant::now();
        while !self.control.halt.load(Ordering::SeqCst) {
            if self.control.stop.load(Ordering::SeqCst) && !self.stopping() {
                break;
            }
            if let Err(e) = self.poll.poll(&mut events, Some(TICK)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    break;
                }
            }
            for event in &events {
                match event.token() {
                    LISTENER => self.accept_all(),
                    WAKER => {}
                    Token(slot) => {
                        if event.is_writable() {
                            self.flush(slot);
                        }
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.read(slot);
                        }
                    }
                }
            }
            while let Ok((slot, reply)) = self.done.try_recv() {
                self.answer(slot, reply);
            }
            if last_sweep.elapsed() >= TICK {
                last_sweep = Instant::now();
                self.sweep(last_sweep);
                if self.accept_pending {
                    self.accept_all();
                }
            }
        }
        self.pool.stop();
        self.conns.clear();
        self.control.open.store(0, Ordering::SeqCst);
    }

    /// Once stopping: no more connections, none waiting for a request.
    /// `false` once every connection is closed.
    fn stopping(&mut self) -> bool {
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        for slot in 0..self.conns.len() {
            if matches!(
                self.conns[slot],
                Some(Conn {
                    state: State::Reading,
                    ..
                })
            ) {
                self.remove(slot, Shutdown::Both);
            }
        }
        self.count > 0
    }

    fn accept_all(&mut self) {
        self.accept_pending = false;
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => self.admit(stream, peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
                Err(_) => {
                    // Out of descriptors, most likely: try again at the next tick.
                    self.accept_pending = true;
                    return;
                }
            }
        }
    }

    fn admit(&mut self, mut stream: TcpStream, peer: std::net::SocketAddr) {
        self.control.stats.accepted();
        if self.count >= self.limits.max_connections && !self.evict() {
            self.control.stats.count(Refused::NoRoom);
            return; // dropped: closed at once
        }
        let slot = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        let _ = stream.set_nodelay(true);
        let interest = Interest::READABLE | Interest::WRITABLE;
        if self
            .poll
            .registry()
            .register(&mut stream, Token(slot), interest)
            .is_err()
        {
            self.free.push(slot);
            return;
        }
        let now = Instant::now();
        self.conns[slot] = Some(Conn {
            stream,
            peer,
            reader: Reader::new(self.limits.max_body),
            state: State::Reading,
            since: now,
            started: now,
            body_since: now,
            close: false,
            stash: Vec::new(),
        });
        self.count += 1;
        self.control.open.store(self.count, Ordering::SeqCst);
        // What the sender wrote right after connecting is read now: until
        // then the connection has shown no progress, and the connections
        // accepted after it in a flood would evict it unread.
        self.read(slot);
    }

    /// Closes the reading connection with the least credit; `false` when
    /// every connection has its request with the handler or its reply
    /// under way.
    fn evict(&mut self) -> bool {
        let now = Instant::now();
        // The least credit among those past [`FRESH`], else among all.
        let mut old: Option<(usize, f64)> = None;
        let mut any: Option<(usize, f64)> = None;
        for (slot, c) in self.conns.iter().enumerate() {
            let Some(c) = c else { continue };
            if !matches!(c.state, State::Reading) {
                continue;
            }
            let credit = credit(c, now);
            let lower = |best: Option<(usize, f64)>| best.is_none_or(|b| credit < b.1);
            if lower(any) {
                any = Some((slot, credit));
            }
            if now.saturating_duration_since(c.since) >= FRESH && lower(old) {
                old = Some((slot, credit));
            }
        }
        let Some((slot, _)) = old.or(any) else {
            return false;
        };
        self.control.stats.count(Refused::Evicted);
        self.remove(slot, Shutdown::Both);
        true
    }

    fn remove(&mut self, slot: usize, how: Shutdown) {
        if let Some(mut conn) = self.conns.get_mut(slot).and_then(Option::take) {
            let _ = conn.stream.shutdown(how);
            let _ = self.poll.registry().deregister(&mut conn.stream);
            self.free.push(slot);
            self.count -= 1;
            self.control.open.store(self.count, Ordering::SeqCst);
        }
    }

    fn conn(&mut self, slot: usize) -> Option<&mut Conn> {
        self.conns.get_mut(slot).and_then(Option::as_mut)
    }

    /// Reads what has arrived, while the connection is reading.
    fn read(&mut self, slot: usize) {
        let mut scratch = std::mem::take(&mut self.scratch);
        while let Some(conn) = self.conn(slot) {
            if !matches!(conn.state, State::Reading) {
                break;
            }
            match conn.stream.read(&mut scratch) {
                Ok(0) => {
                    self.remove(slot, Shutdown::Both);
                    break;
                }
                Ok(n) => {
                    if !self.feed(slot, &scratch[..n]) {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.remove(slot, Shutdown::Both);
                    break;
                }
            }
        }
        self.scratch = scratch;
    }

    /// Gives `bytes` to the connection's reader: `false` once it is no
    /// longer reading (a request is whole, refused, or it is closed).
    fn feed(&mut self, slot: usize, bytes: &[u8]) -> bool {
        let mut at = 0;
        let stats = self.control.clone();
        loop {
            let Some(conn) = self.conn(slot) else {
                return false;
            };
            if conn.reader.received() == 0 && at < bytes.len() {
                conn.started = Instant::now();
            }
            let step = conn.reader.feed(&bytes[at..]);
            stats.stats.buffered(conn.reader.buffered());
            let (used, event) = match step {
                Ok(step) => step,
                Err((status, why)) => {
                    self.refuse(slot, status, why, Refused::of_status(status));
                    return false;
                }
            };
            at += used;
            match event {
                None => return true,
                Some(Event::HeadRead) => {
                    conn.body_since = Instant::now();
                    if !self.on_head(slot, at < bytes.len()) {
                        return false;
                    }
                }
                Some(Event::Request(request)) => {
                    conn.stash = bytes[at..].to_vec();
                    self.dispatch(slot, request);
                    return false;
                }
            }
        }
    }

    /// A head is read: the application may close the connection now, and a
    /// sender waiting for `100 Continue` gets it. `more` says whether bytes
    /// of the body came with the head.
    fn on_head(&mut self, slot: usize, more: bool) -> bool {
        let handler = self.handler.clone();
        let Some(conn) = self.conn(slot) else {
            return false;
        };
        let Some(head) = conn.reader.head() else {
            return true;
        };
        if handler.drop_before_body(&head.method, &head.target) {
            self.remove(slot, Shutdown::Both);
            return false;
        }
        let has_body = !matches!(head.framing, super::wire::Framing::Length(0));
        if head.expect_continue && has_body && !more {
            // 25 bytes into an empty socket buffer: written whole or the
            // connection is broken.
            const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
            if conn.stream.write(CONTINUE).ok() != Some(CONTINUE.len()) {
                self.remove(slot, Shutdown::Both);
                return false;
            }
        }
        true
    }

    fn dispatch(&mut self, slot: usize, request: Request) {
        let Some(conn) = self.conn(slot) else { return };
        conn.state = State::Busy;
        conn.close = request.head.close;
        let peer = conn.peer;
        self.control.stats.request();
        let job = Job {
            slot,
            request: HttpRequest {
                peer,
                method: request.head.method,
                target: request.head.target,
                body: request.body,
            },
        };
        if self.pool.submit(job).is_err() {
            let reply = answer::plain(503, "no thread to handle the request");
            self.answer(slot, reply);
        }
    }

    /// Sends what the handler (or the server itself) answered.
    fn answer(&mut self, slot: usize, reply: Reply) {
        let stopping = self.control.stop.load(Ordering::SeqCst);
        let idle = self.limits.idle;
        let Some(conn) = self.conn(slot) else { return };
        let Some((out, keep)) = answer::render(reply, !conn.close && !stopping) else {
            self.remove(slot, Shutdown::Both);
            return;
        };
        conn.state = State::Writing {
            out,
            at: 0,
            keep,
            until: Instant::now() + idle,
        };
        self.flush(slot);
    }

    /// Refuses the request under way and closes once the refusal is sent.
    fn refuse(&mut self, slot: usize, status: u16, why: &str, reason: Refused) {
        self.control.stats.count(reason);
        let peer = self.conn(slot).map(|c| c.peer);
        self.handler.refused(status, peer);
        if let Some(conn) = self.conn(slot) {
            conn.state = State::Busy;
            conn.close = true;
        }
        self.answer(slot, answer::plain(status, why));
    }

    /// Writes what is pending; then reads the next request or closes.
    fn flush(&mut self, slot: usize) {
        let Some(conn) = self.conn(slot) else { return };
        let State::Writing { out, at, keep, .. } = &mut conn.state else {
            return;
        };
        while *at < out.len() {
            match conn.stream.write(&out[*at..]) {
                Ok(0) => break,
                Ok(n) => *at += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        if *at < out.len() || !*keep {
            let _ = conn.stream.flush();
            self.remove(slot, Shutdown::Both);
            return;
        }
        let now = Instant::now();
        conn.state = State::Reading;
        conn.since = now;
        conn.close = false;
        let stash = std::mem::take(&mut conn.stash);
        if self.feed(slot, &stash) {
            // Bytes may have come while the request was handled.
            self.read(slot);
        }
    }

    /// Closes what overstayed: idle connections, heads and bodies past
    /// their time or below the minimum rate, replies not taken.
    fn sweep(&mut self, now: Instant) {
        for slot in 0..self.conns.len() {
            let Some(conn) = &self.conns[slot] else {
                continue;
            };
            match &conn.state {
                State::Reading => self.sweep_reading(slot, now),
                State::Writing { until, .. } if *until <= now => self.remove(slot, Shutdown::Both),
                _ => {}
            }
        }
    }

    fn sweep_reading(&mut self, slot: usize, now: Instant) {
        let Some(conn) = &self.conns[slot] else {
            return;
        };
        let received = conn.reader.received();
        if received == 0 {
            if now.saturating_duration_since(conn.since) >= self.limits.idle {
                self.remove(slot, Shutdown::Both);
            }
            return;
        }
        let (from, limit) = if conn.reader.in_body() {
            (conn.body_since, self.limits.body)
        } else {
            (conn.started, self.limits.head)
        };
        const LATE: &str = "the request did not arrive in time";
        if now.saturating_duration_since(from) >= limit {
            self.refuse(slot, 408, LATE, Refused::TimedOut);
            return;
        }
        let age = now.saturating_duration_since(conn.started);
        if let Some(past) = age.checked_sub(RATE_GRACE) {
            if (received as f64) < MIN_RATE * past.as_secs_f64() {
                self.refuse(
                    slot,
                    408,
                    "the request arrived too slowly",
                    Refused::TooSlow,
                );
            }
        }
    }
}

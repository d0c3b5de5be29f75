//! Hostile clients for the flood tests and the flood benchmark (which
//! includes this file by path): connections that dribble a request head or
//! body a byte at a time, or that send nothing at all, and that reconnect as
//! soon as the server closes them. A few threads drive them all on
//! non-blocking sockets, so that thousands cost no thread each.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What each flooding connection does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Sends a request head one byte each period, never finishing it.
    SlowHead,
    /// Sends a whole head announcing a body, then the body one byte each
    /// period.
    SlowBody,
    /// Connects and sends nothing.
    Idle,
}

/// The head the slow clients send (a body of 1,000 bytes announced).
const HEAD: &[u8] = b"POST /cb?SdkAppid=1400000000&CallbackCommand=Follow.CallbackAfterFollowAdd HTTP/1.1\r\nHost: receiver\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n";

/// What a flood did, counted by its threads.
#[derive(Debug, Default)]
pub struct Counts {
    /// Connections opened (the first ones and every reconnection).
    pub opened: AtomicU64,
    /// Connections the server closed (with or without an answer first).
    pub closed: AtomicU64,
    /// Connections the server answered (a 408, for a slow request).
    pub answered: AtomicU64,
    /// Connection attempts that failed at once (no port, no descriptor).
    pub failed: AtomicU64,
}

/// A running flood; stops (and closes every connection) when dropped.
pub struct Flood {
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
    threads: Vec<JoinHandle<()>>,
}

struct Slot {
    stream: Option<TcpStream>,
    /// Bytes of the request sent on this connection.
    sent: usize,
    /// When the next byte is due (or the next connection attempt).
    next: Instant,
}

/// The longest a flood runs, whatever its owner does: every loop bounded.
const LIFETIME: Duration = Duration::from_secs(180);

impl Flood {
    /// Starts `connections` clients of `kind` against `to`, spread over
    /// `sources` (each connection bound to one of them before it connects)
    /// and over `threads` threads; a slow client sends a byte each `every`.
    pub fn start(
        kind: Kind,
        connections: usize,
        to: SocketAddr,
        sources: &[IpAddr],
        every: Duration,
        threads: usize,
    ) -> Flood {
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Counts::default());
        let threads = threads.max(1);
        let handles = (0..threads)
            .map(|t| {
                let (stop, counts) = (stop.clone(), counts.clone());
                // Connection i of this thread comes from sources[i % len].
                let mine: Vec<IpAddr> = (t..connections)
                    .step_by(threads)
                    .map(|i| sources[i % sources.len()])
                    .collect();
                std::thread::spawn(move || drive(kind, to, &mine, every, &stop, &counts))
            })
            .collect();
        Flood {
            stop,
            counts,
            threads: handles,
        }
    }

    /// What it has done so far.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// Stops every thread and closes every connection.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Opens a non-blocking connection from `from` (any port) to `to`; the
/// handshake completes later.
fn open(from: IpAddr, to: SocketAddr) -> io::Result<TcpStream> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(to), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::new(from, 0).into())?;
    match socket.connect(&to.into()) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        // EINPROGRESS on Linux (its ErrorKind is not stable yet).
        Err(e) if e.raw_os_error() == Some(115) => {}
        Err(e) => return Err(e),
    }
    Ok(socket.into())
}

fn drive(
    kind: Kind,
    to: SocketAddr,
    sources: &[IpAddr],
    every: Duration,
    stop: &AtomicBool,
    counts: &Counts,
) {
    let started = Instant::now();
    let n = sources.len().max(1);
    // Spread the first connections and the bytes over one period.
    let mut slots: Vec<Slot> = (0..sources.len())
        .map(|i| Slot {
            stream: None,
            sent: 0,
            next: started + every.mul_f64(i as f64 / n as f64),
        })
        .collect();
    let mut buf = [0u8; 1024];
    let pause = match kind {
        Kind::Idle => Duration::from_millis(5),
        _ => Duration::from_millis(20),
    };
    while !stop.load(Ordering::SeqCst) && started.elapsed() < LIFETIME {
        let now = Instant::now();
        for (slot, &from) in slots.iter_mut().zip(sources) {
            let Some(stream) = &mut slot.stream else {
                if kind != Kind::Idle && now < slot.next {
                    continue;
                }
                match open(from, to) {
                    Ok(s) => {
                        counts.opened.fetch_add(1, Ordering::Relaxed);
                        slot.stream = Some(s);
                        slot.sent = 0;
                        slot.next = now;
                    }
                    Err(_) => {
                        counts.failed.fetch_add(1, Ordering::Relaxed);
                        slot.next = now + Duration::from_millis(100);
                    }
                }
                continue;
            };
            // Has the server answered or closed it?
            let gone = match stream.read(&mut buf) {
                Ok(0) => true,
                Ok(_) => {
                    counts.answered.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
                Err(_) => true,
            };
            if gone {
                counts.closed.fetch_add(1, Ordering::Relaxed);
                slot.stream = None; // reconnects at the next pass
                slot.next = now;
                continue;
            }
            if kind == Kind::Idle || now < slot.next {
                continue;
            }
            let bytes: &[u8] = match kind {
                // Never the blank line that would end the head.
                Kind::SlowHead if slot.sent < HEAD.len() - 4 => &HEAD[slot.sent..][..1],
                Kind::SlowHead => b"x",
                Kind::SlowBody if slot.sent < HEAD.len() => &HEAD[slot.sent..],
                _ => b" ",
            };
            // Before the handshake completes a write would block: try later.
            if let Ok(k) = stream.write(bytes) {
                slot.sent += k;
                if slot.sent >= HEAD.len() || kind == Kind::SlowHead {
                    slot.next = now + every;
                }
            }
        }
        std::thread::sleep(pause);
    }
}

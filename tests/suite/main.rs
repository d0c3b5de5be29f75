//! End-to-end tests: the real client over real HTTP against the emulator on 127.0.0.1.

mod callback;
mod client;
mod emulator;
mod failover;
mod family;
mod fleet;
mod flooder;
mod floods;
mod inflight;
mod jobs;
mod layouts;
mod outcomes;
mod pairs;
mod promises;
mod readme;
mod receiver;
#[cfg(feature = "redis")]
mod redis_budget;
mod reliability;
mod signing;
mod undo;
mod wire;

use std::time::Duration;

use tim_follow::testkit::Emulator;
use tim_follow::{Client, RetryPolicy};

/// `user_000` … : `n` account ids.
pub fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}_{i:03}")).collect()
}

/// An emulator with `from` and `n` targets imported.
pub fn emulator_with(from: &str, targets: &[String]) -> Emulator {
    let emu = Emulator::start().expect("emulator starts");
    emu.import_accounts(&[from]);
    emu.import_accounts(targets);
    emu
}

/// A client for `emu` with fast retries, so that fault tests stay short.
pub fn fast_client(emu: &Emulator) -> Client {
    emu.client_builder()
        .retry(
            RetryPolicy::default()
                .base_delay(Duration::from_millis(5))
                .rate_limited_base_delay(Duration::from_millis(20))
                .max_delay(Duration::from_millis(50)),
        )
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client builds")
}

/// A directory of its own under the target directory, emptied first.
pub fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `ids` to `path`, one a line.
pub fn write_ids(path: &std::path::Path, ids: &[String]) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    for id in ids {
        writeln!(f, "{id}").unwrap();
    }
}

/// The current Unix time in seconds.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// One HTTP/1.1 request as read off a socket.
pub struct RawRequest {
    /// The request line and headers, without the blank line.
    pub head: String,
    /// The body (by Content-Length).
    pub body: Vec<u8>,
}

impl RawRequest {
    /// The request target (path and query).
    pub fn target(&self) -> &str {
        self.head
            .lines()
            .next()
            .unwrap_or("")
            .split(' ')
            .nth(1)
            .unwrap_or("")
    }
}

/// Reads one request; `None` when the peer closed or sent garbage.
pub fn read_request(reader: &mut impl std::io::BufRead) -> Option<RawRequest> {
    let mut head = String::new();
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().ok()?;
        }
        head.push_str(&line);
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).ok()?;
    Some(RawRequest {
        head: head.trim_end().to_string(),
        body,
    })
}

/// A server on 127.0.0.1 that answers every request with `reply` (keep-alive),
/// for at most `max_requests` requests; returns its base URL.
pub fn canned_server(reply: String, max_requests: usize) -> String {
    use std::io::{BufReader, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let served = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for stream in listener.incoming().take(16) {
            let Ok(stream) = stream else { continue };
            let (reply, served) = (reply.clone(), served.clone());
            std::thread::spawn(move || {
                stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                while served.fetch_add(1, Ordering::SeqCst) < max_requests {
                    if read_request(&mut reader).is_none() {
                        return;
                    }
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                        reply.len()
                    );
                    if writer.write_all((head + &reply).as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    base
}

/// The next connection to `listener`, waiting at most `limit`: a test whose
/// client never connects fails instead of hanging in `accept`.
pub fn accept_within(listener: &std::net::TcpListener, limit: Duration) -> std::net::TcpStream {
    listener
        .set_nonblocking(true)
        .expect("a non-blocking listener");
    let deadline = std::time::Instant::now() + limit;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).expect("a blocking stream");
                return stream;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "no connection within {limit:?}"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// Arrivals over the limit that a loaded machine may show: the limiter keeps
/// a 2 % margin (about 20 ms a second) for delivery jitter, and a scheduler
/// running ten processes on two cores can delay a call after its slot by
/// more, so that its neighbours land in one window. The slots themselves
/// are checked exactly ([`Recording`]).
pub const JITTER: usize = 3;

/// A limiter that records the moment of each slot it gives: what the client
/// controls, whatever the machine's load does to the arrivals.
pub struct Recording {
    inner: Box<dyn tim_follow::RateLimit>,
    slots: Slots,
}

/// The slots one or more [`Recording`] limiters gave: endpoint and moment.
pub type Slots = std::sync::Arc<std::sync::Mutex<Vec<(String, std::time::Instant)>>>;

impl Recording {
    /// A local limiter of `per_second`, recorded.
    pub fn new(per_second: f64) -> std::sync::Arc<Recording> {
        Recording::around(tim_follow::LocalLimiter::new(per_second), Slots::default())
    }

    /// `inner`, its slots recorded in `slots` (which several may share).
    pub fn around(
        inner: impl tim_follow::RateLimit + 'static,
        slots: Slots,
    ) -> std::sync::Arc<Recording> {
        std::sync::Arc::new(Recording {
            inner: Box::new(inner),
            slots,
        })
    }

    /// The most slots of `endpoint` within any one-second window.
    pub fn busiest_second(&self, endpoint: &str) -> usize {
        busiest_slots(&self.slots, endpoint)
    }
}

/// The most of `slots` of `endpoint` within any one-second window.
pub fn busiest_slots(slots: &Slots, endpoint: &str) -> usize {
    let slots = slots.lock().unwrap();
    let first = slots.iter().map(|(_, at)| *at).min();
    let at: Vec<Duration> = slots
        .iter()
        .filter(|(e, _)| e == endpoint)
        .map(|(_, at)| at.duration_since(first.unwrap()))
        .collect();
    busiest(at)
}

impl std::fmt::Debug for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recording")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl tim_follow::RateLimit for Recording {
    fn acquire(&self, endpoint: &str) -> Duration {
        let wait = self.inner.acquire(endpoint);
        let slot = std::time::Instant::now() + wait;
        self.slots
            .lock()
            .unwrap()
            .push((endpoint.to_string(), slot));
        wait
    }

    fn max_rate(&self) -> f64 {
        self.inner.max_rate()
    }
}

/// The most of `at` within any one-second window.
pub fn busiest(mut at: Vec<Duration>) -> usize {
    at.sort();
    let mut most = 0;
    let mut start = 0;
    for end in 0..at.len() {
        while at[end] - at[start] >= Duration::from_secs(1) {
            start += 1;
        }
        most = most.max(end - start + 1);
    }
    most
}

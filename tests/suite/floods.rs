//! Deliveries get through floods: slow heads, slow bodies and idle
//! connections that reconnect as soon as they are closed, from the
//! legitimate sender's own address (127.0.0.1) and from others
//! (127.0.0.2 …), beside 200 signed deliveries to a receiver with its
//! default bounds (256 connections). Each flood is bounded in connections
//! and time, and the floods run one at a time, so that they do not compete
//! with each other for a loaded machine. The assertions are on deliveries
//! acknowledged, never on latency: the latencies (printed here) are
//! measured on the release build in BENCHMARKS.md §4c.

use super::flooder::{Flood, Kind};
use super::*;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tim_follow::callback::{self, Verifier};
use tim_follow::receiver::Receiver;

const TOKEN: &str = "flood-token";
const DELIVERIES: usize = 200;
const SENDERS: usize = 4;

/// One flood at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn own() -> Vec<IpAddr> {
    vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]
}

fn others() -> Vec<IpAddr> {
    (2..=5)
        .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, i)))
        .collect()
}

/// Raises the soft limit on open files to the hard one; returns the limit.
fn raise_open_files() -> u64 {
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
        lim.rlim_cur
    }
}

/// One signed delivery on a connection of its own (as a sender that does
/// not keep connections would): acknowledged or not, and how long it took.
fn deliver(addr: SocketAddr, i: usize) -> (bool, Duration) {
    let started = Instant::now();
    let now = now_secs() as u64;
    let body = format!(
        r#"{{"CallbackCommand":"{}","From_Account":"fan_{i}","FollowList":[{{"To_Account":"star"}}],"EventTime":{}}}"#,
        callback::FOLLOW_ADD,
        1_700_000_000_000u64 + i as u64
    );
    let request = format!(
        "POST /cb?SdkAppid=1400000000&CallbackCommand={}&Sign={}&RequestTime={now} HTTP/1.1\r\nHost: receiver\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        callback::FOLLOW_ADD,
        callback::sign_hex(TOKEN, now),
        body.len()
    );
    let acked = (|| {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        s.write_all(request.as_bytes()).ok()?;
        let mut reply = Vec::new();
        // A cut connection still leaves what was read.
        let _ = s.take(64 * 1024).read_to_end(&mut reply);
        Some(String::from_utf8_lossy(&reply).contains("\"ErrorCode\":0"))
    })()
    .unwrap_or(false);
    (acked, started.elapsed())
}

/// Runs `kind` × `connections` from `sources` against a receiver with its
/// default bounds, sends [`DELIVERIES`] beside it, and checks that at least
/// 99 % are acknowledged (and handled), and that the flood did fill the
/// receiver and was closed and came back.
fn flood(kind: Kind, connections: usize, sources: Vec<IpAddr>) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let handled = Arc::new(AtomicUsize::new(0));
    let h = handled.clone();
    let receiver = Receiver::builder(
        "127.0.0.1:0".parse().unwrap(),
        Verifier::new(1400000000).token(TOKEN),
    )
    .start(move |_| {
        h.fetch_add(1, Ordering::SeqCst);
        Ok::<(), String>(())
    })
    .unwrap();
    let addr = receiver.local_addr();
    let mut flood = Flood::start(kind, connections, addr, &sources, Duration::from_secs(2), 2);
    // Let the flood take every place and start coming back (2 s of rate
    // grace, then the minimum rate closes the slow ones).
    let mut most = 0;
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        most = most.max(receiver.open_connections());
        std::thread::sleep(Duration::from_millis(50));
    }
    let results: Vec<(bool, Duration)> = std::thread::scope(|scope| {
        let senders: Vec<_> = (0..SENDERS)
            .map(|s| {
                scope.spawn(move || {
                    (s..DELIVERIES)
                        .step_by(SENDERS)
                        .map(|i| {
                            let r = deliver(addr, i);
                            std::thread::sleep(Duration::from_millis(20));
                            r
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        senders
            .into_iter()
            .flat_map(|s| s.join().unwrap())
            .collect()
    });
    most = most.max(receiver.open_connections());
    flood.stop();
    let counts = flood.counts();
    let (opened, closed) = (
        counts.opened.load(Ordering::Relaxed),
        counts.closed.load(Ordering::Relaxed),
    );
    let acked = results.iter().filter(|r| r.0).count();
    let mut took: Vec<Duration> = results.iter().map(|r| r.1).collect();
    took.sort();
    let stats = receiver.shutdown();
    let summary = format!(
        "{kind:?} × {connections} from {sources:?}: {acked}/{DELIVERIES} acknowledged; \
         latency p50 {:?}, p99 {:?}, max {:?}; flood opened {opened}, closed {closed}, \
         answered {}, failed {}; most open {most}; {stats:?}",
        took[took.len() / 2],
        took[took.len() * 99 / 100],
        took[took.len() - 1],
        counts.answered.load(Ordering::Relaxed),
        counts.failed.load(Ordering::Relaxed),
    );
    eprintln!("{summary}");
    assert!(acked * 100 >= DELIVERIES * 99, "{summary}");
    assert!(
        handled.load(Ordering::SeqCst) >= acked,
        "acknowledged but not handled: {summary}"
    );
    // The flood was real: it filled the receiver, was closed, came back.
    assert!(
        most >= 200,
        "the flood never filled the receiver: {summary}"
    );
    assert!(
        closed >= connections as u64 / 2 && opened > connections as u64,
        "the flood was not closed and reopened: {summary}"
    );
}

#[test]
fn slow_heads_from_the_senders_own_address_keep_no_delivery_out() {
    flood(Kind::SlowHead, 400, own());
}

#[test]
fn slow_heads_from_other_addresses_keep_no_delivery_out() {
    flood(Kind::SlowHead, 400, others());
}

#[test]
fn slow_bodies_from_the_senders_own_address_keep_no_delivery_out() {
    flood(Kind::SlowBody, 400, own());
}

#[test]
fn slow_bodies_from_other_addresses_keep_no_delivery_out() {
    flood(Kind::SlowBody, 400, others());
}

/// 10,000 idle connections (each a descriptor in this process, beside the
/// receiver's 256), or, where the open-files limit is lower (even raised
/// to its hard value), as many as it allows with room for the rest of the
/// suite: 4,096 descriptors, or half the limit when it is small.
fn idle_connections() -> usize {
    let limit = raise_open_files() as usize;
    let room = if limit > 8192 {
        limit - 4096
    } else {
        limit / 2
    };
    10_000.min(room)
}

#[test]
fn reconnecting_idle_connections_from_the_senders_own_address_keep_no_delivery_out() {
    flood(Kind::Idle, idle_connections(), own());
}

#[test]
fn reconnecting_idle_connections_from_other_addresses_keep_no_delivery_out() {
    flood(Kind::Idle, idle_connections(), others());
}

//! The webhook receiver as a server: emulator → receiver end to end,
//! repeats handled once, hostile deliveries refused, a graceful stop.

use super::*;
use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tim_follow::callback::{self, Event, Verifier};
use tim_follow::receiver::{Delivery, Receiver, Remembered};

const TOKEN: &str = "receiver-token";

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// (command, from, to, event time) of a delivery.
fn tuple(d: &Delivery) -> (String, String, Vec<String>, u64) {
    match &d.event {
        Event::FollowAdd(e) => (
            "add".into(),
            e.from_account.clone(),
            e.to_accounts.clone(),
            e.event_time_ms,
        ),
        Event::FollowDelete(e) => (
            "delete".into(),
            e.from_account.clone(),
            e.to_accounts.clone(),
            e.event_time_ms,
        ),
        other => panic!("{other:?}"),
    }
}

/// Waits (at most `secs`) until `done` holds.
fn wait_for(secs: u64, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}

#[test]
fn ten_thousand_events_from_the_emulator_arrive_each_once() {
    let stored = Arc::new(Mutex::new(Vec::new()));
    let calls = Arc::new(AtomicUsize::new(0));
    let (s, c) = (stored.clone(), calls.clone());
    let receiver = Receiver::builder(local(), Verifier::new(1400000000).token(TOKEN))
        .seen(Arc::new(Remembered::new(100_000, Duration::from_secs(600))))
        .start(move |d| {
            // Every 50th handling fails: the emulator sends it again.
            if c.fetch_add(1, Ordering::SeqCst) % 50 == 49 {
                return Err("disk busy");
            }
            s.lock().unwrap().push(tuple(d));
            Ok(())
        })
        .unwrap();
    let url = format!("http://{}/webhook", receiver.local_addr());
    let targets = ids("t", 1250);
    let emu = tim_follow::testkit::Emulator::builder()
        .webhook(&url, Some(TOKEN))
        .webhook_retries(5)
        .rate_limit(None, 60007)
        .max_following(10_000)
        .accounts(&targets)
        .accounts(&ids("f", 8))
        .start()
        .unwrap();
    std::thread::scope(|scope| {
        for from in ids("f", 8) {
            let client = emu.client_builder().no_rate_limit().build().unwrap();
            let targets = &targets;
            scope.spawn(move || {
                for t in targets {
                    client.follow(&from, t).unwrap();
                }
            });
        }
    });
    assert!(
        wait_for(60, || emu.webhooks().len() == 10_000),
        "{} webhooks sent",
        emu.webhooks().len()
    );
    let sent = emu.webhooks();
    assert!(sent.iter().all(|w| w.acked), "every webhook acknowledged");
    assert!(sent.iter().any(|w| w.attempts > 1), "some were sent again");
    let stored = stored.lock().unwrap().clone();
    assert_eq!(stored.len(), 10_000, "each event stored once");
    let unique: HashSet<_> = stored.iter().collect();
    assert_eq!(unique.len(), 10_000);
    let stats = receiver.shutdown();
    assert_eq!(stats.handled, 10_000);
    assert!(stats.failed >= 190, "{stats:?}");
    assert!(stats.refused.is_empty(), "{stats:?}");
}

/// Sends raw bytes, returns the reply's status line and body (or "" when
/// the connection closed without one).
fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn post(target: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn hostile_deliveries_are_refused_and_never_handed_over() {
    let handled = Arc::new(AtomicUsize::new(0));
    let h = handled.clone();
    let receiver = Receiver::builder(local(), Verifier::new(1400000000).token(TOKEN))
        .max_connections(64)
        .idle_timeout(Duration::from_millis(500))
        .head_timeout(Duration::from_millis(500))
        .body_timeout(Duration::from_millis(500))
        .start(move |_| {
            h.fetch_add(1, Ordering::SeqCst);
            Ok::<(), String>(())
        })
        .unwrap();
    let addr = receiver.local_addr();
    let now = now_secs() as u64;
    let body = r#"{"CallbackCommand":"Follow.CallbackAfterFollowDelete","From_Account":"a","To_Account":["b"],"EventTime":1}"#;
    let q = |app: &str, sign: &str, time: u64| {
        format!(
            "/cb?SdkAppid={app}&CallbackCommand={}&Sign={sign}&RequestTime={time}",
            callback::FOLLOW_DELETE
        )
    };
    let good_sign = callback::sign_hex(TOKEN, now);
    let cases = [
        (
            q("1400000000", &"0".repeat(64), now),
            body.to_string(),
            "403",
            "bad sign",
        ),
        (
            q("1400000001", &good_sign, now),
            body.to_string(),
            "403",
            "wrong app",
        ),
        (
            q(
                "1400000000",
                &callback::sign_hex(TOKEN, now - 3600),
                now - 3600,
            ),
            body.to_string(),
            "403",
            "stale",
        ),
        (
            q("1400000000", &good_sign, now),
            "x".repeat(4 << 20),
            "413",
            "too large",
        ),
        (
            q("1400000000", &good_sign, now),
            "{".to_string(),
            "400",
            "malformed",
        ),
    ];
    for (target, body, status, why) in &cases {
        let reply = raw(addr, &post(target, body));
        assert!(
            reply.starts_with(&format!("HTTP/1.1 {status}")),
            "{why}: {reply}"
        );
        assert!(
            !reply.contains("\"ErrorCode\":0"),
            "{why} is never acknowledged"
        );
    }
    let reply = raw(
        addr,
        format!(
            "GET {} HTTP/1.1\r\nConnection: close\r\n\r\n",
            q("1400000000", &good_sign, now)
        )
        .as_bytes(),
    );
    assert!(reply.starts_with("HTTP/1.1 405"), "{reply}");
    // A slow sender: a head that never ends is cut off.
    let started = Instant::now();
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(b"POST /cb HTTP/1.1\r\nHost: x\r\n").unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = Vec::new();
    let _ = slow.read_to_end(&mut out);
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 408"));
    assert!(started.elapsed() < Duration::from_secs(3));
    // 1,000 idle connections: at most 64 are served (and 16 more closing
    // to make room), and all are closed.
    let idle: Vec<TcpStream> = (0..1000)
        .filter_map(|_| TcpStream::connect(addr).ok())
        .collect();
    let most = (0..20)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(5));
            receiver.open_connections()
        })
        .max()
        .unwrap_or(0);
    assert!(most <= 64 + 16, "{most} connections open at once");
    assert!(wait_for(5, || receiver.open_connections() == 0));
    drop(idle);
    // A good delivery still gets through, once.
    let reply = raw(addr, &post(&q("1400000000", &good_sign, now), body));
    assert!(reply.contains("\"ErrorCode\":0"), "{reply}");
    let stats = receiver.shutdown();
    assert_eq!(handled.load(Ordering::SeqCst), 1);
    let refused: HashMap<_, _> = stats.refused.into_iter().collect();
    for why in [
        "bad sign",
        "wrong app",
        "stale",
        "too large",
        "malformed",
        "method",
    ] {
        assert_eq!(refused.get(why), Some(&1), "{why}: {refused:?}");
    }
}

#[test]
fn a_stop_lets_deliveries_in_flight_finish_and_answer() {
    let receiver = Receiver::builder(local(), Verifier::new(1400000000))
        .start(|_| {
            std::thread::sleep(Duration::from_millis(300));
            Ok::<(), String>(())
        })
        .unwrap();
    let addr = receiver.local_addr();
    let stopper = receiver.stopper();
    let body = r#"{"CallbackCommand":"Follow.CallbackAfterFollowAdd","From_Account":"a","FollowList":[{"To_Account":"b"}],"EventTime":1}"#;
    let target = format!(
        "/cb?SdkAppid=1400000000&CallbackCommand={}",
        callback::FOLLOW_ADD
    );
    let in_flight = std::thread::spawn(move || raw(addr, &post(&target, body)));
    std::thread::sleep(Duration::from_millis(100));
    stopper.stop();
    let stats = receiver.wait();
    assert!(in_flight.join().unwrap().contains("\"ErrorCode\":0"));
    assert_eq!((stats.handled, stats.acked), (1, 1));
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_err(),
        "no longer listening"
    );
}

#[cfg(feature = "redis")]
#[test]
fn receivers_sharing_redis_hand_an_event_over_once() {
    let Some(redis) = redis_budget::RedisServer::start() else {
        return;
    };
    let handled = Arc::new(AtomicUsize::new(0));
    let start = || {
        let h = handled.clone();
        let seen =
            tim_follow::receiver::RedisSeen::new(&redis.url, 1400000000, Duration::from_secs(60))
                .unwrap();
        Receiver::builder(local(), Verifier::new(1400000000))
            .seen(Arc::new(seen))
            .start(move |_| {
                h.fetch_add(1, Ordering::SeqCst);
                Ok::<(), String>(())
            })
            .unwrap()
    };
    let (a, b) = (start(), start());
    let body = r#"{"CallbackCommand":"Follow.CallbackAfterFollowAdd","From_Account":"a","FollowList":[{"To_Account":"b"}],"EventTime":7}"#;
    let target = format!(
        "/cb?SdkAppid=1400000000&CallbackCommand={}",
        callback::FOLLOW_ADD
    );
    for r in [&a, &b, &a] {
        let reply = raw(r.local_addr(), &post(&target, body));
        assert!(reply.contains("\"ErrorCode\":0"), "{reply}");
    }
    assert_eq!(handled.load(Ordering::SeqCst), 1, "handed over once");
    assert_eq!(a.stats().repeats + b.stats().repeats, 2);
    let health = raw(
        a.local_addr(),
        b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    // Redis away: not handed over, not acknowledged (it will come again).
    drop(redis);
    let health = raw(
        a.local_addr(),
        b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert!(health.starts_with("HTTP/1.1 503"), "{health}");
    let other = body.replace("\"EventTime\":7", "\"EventTime\":8");
    let reply = raw(a.local_addr(), &post(&target, &other));
    assert!(reply.starts_with("HTTP/1.1 500"), "{reply}");
    assert_eq!(handled.load(Ordering::SeqCst), 1);
}

#[test]
fn a_repeat_in_flight_is_never_acknowledged_before_its_first_copy() {
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let handled = Arc::new(AtomicUsize::new(0));
    let (f, h) = (failing.clone(), handled.clone());
    let receiver = Receiver::builder(local(), Verifier::new(1400000000))
        .seen(Arc::new(Remembered::new(100, Duration::from_secs(600))))
        .repeat_wait(Duration::from_secs(5))
        .start(move |_| {
            std::thread::sleep(Duration::from_millis(500));
            if f.load(Ordering::SeqCst) {
                return Err("disk full");
            }
            h.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .unwrap();
    let addr = receiver.local_addr();
    let body = r#"{"CallbackCommand":"Follow.CallbackAfterFollowAdd","From_Account":"a","FollowList":[{"To_Account":"b"}],"EventTime":3}"#;
    let target = format!(
        "/cb?SdkAppid=1400000000&CallbackCommand={}",
        callback::FOLLOW_ADD
    );
    let send = |target: String| std::thread::spawn(move || raw(addr, &post(&target, body)));
    // The first copy fails after a while; a repeat comes meanwhile.
    let first = send(target.clone());
    std::thread::sleep(Duration::from_millis(100));
    let repeat = send(target.clone());
    let (first, repeat) = (first.join().unwrap(), repeat.join().unwrap());
    assert!(first.starts_with("HTTP/1.1 500"), "{first}");
    assert!(
        !repeat.contains("\"ErrorCode\":0"),
        "the repeat was acknowledged though the event was never handled: {repeat}"
    );
    assert_eq!(handled.load(Ordering::SeqCst), 0);
    // The failure gave the key back: a later copy is handed over.
    failing.store(false, Ordering::SeqCst);
    let later = raw(addr, &post(&target, body));
    assert!(later.contains("\"ErrorCode\":0"), "{later}");
    assert_eq!(handled.load(Ordering::SeqCst), 1);
    // A repeat while the first copy succeeds is acknowledged after it, as
    // a repeat: handed over once.
    let other = body.replace("\"EventTime\":3", "\"EventTime\":4");
    let (t1, b1) = (target.clone(), other.clone());
    let first = std::thread::spawn(move || raw(addr, &post(&t1, &b1)));
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let repeat = raw(addr, &post(&target, &other));
    assert!(repeat.contains("\"ErrorCode\":0"), "{repeat}");
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "acknowledged before the first copy was handled"
    );
    assert!(first.join().unwrap().contains("\"ErrorCode\":0"));
    assert_eq!(handled.load(Ordering::SeqCst), 2);
    let stats = receiver.shutdown();
    assert_eq!((stats.handled, stats.repeats, stats.failed), (2, 1, 2));
}

#[test]
fn a_repeat_whose_first_copy_takes_longer_than_the_wait_is_answered_503() {
    let receiver = Receiver::builder(local(), Verifier::new(1400000000))
        .seen(Arc::new(Remembered::new(100, Duration::from_secs(600))))
        .repeat_wait(Duration::from_millis(100))
        .start(|_| {
            std::thread::sleep(Duration::from_millis(1500));
            Ok::<(), String>(())
        })
        .unwrap();
    let addr = receiver.local_addr();
    let body = r#"{"CallbackCommand":"Follow.CallbackAfterFollowAdd","From_Account":"a","FollowList":[{"To_Account":"b"}],"EventTime":5}"#;
    let target = format!(
        "/cb?SdkAppid=1400000000&CallbackCommand={}",
        callback::FOLLOW_ADD
    );
    let (t1, b1) = (target.clone(), body.to_string());
    let first = std::thread::spawn(move || raw(addr, &post(&t1, &b1)));
    std::thread::sleep(Duration::from_millis(200));
    let repeat = raw(addr, &post(&target, body));
    assert!(repeat.starts_with("HTTP/1.1 503"), "{repeat}");
    assert!(!repeat.contains("\"ErrorCode\":0"), "{repeat}");
    assert!(first.join().unwrap().contains("\"ErrorCode\":0"));
    let stats = receiver.shutdown();
    assert_eq!((stats.handled, stats.not_yet, stats.acked), (1, 1, 1));
}

#[test]
fn the_emulator_sends_a_webhook_once_unless_asked_to_retry() {
    let receiver = Receiver::builder(local(), Verifier::new(1400000000).token(TOKEN))
        .start(|_| Err::<(), _>("disk full"))
        .unwrap();
    let url = format!("http://{}/webhook", receiver.local_addr());
    for (retries, attempts) in [(None, 1), (Some(2), 3)] {
        let mut builder = tim_follow::testkit::Emulator::builder()
            .webhook(&url, Some(TOKEN))
            .accounts(&["a", "b"]);
        if let Some(n) = retries {
            builder = builder.webhook_retries(n);
        }
        let emu = builder.start().unwrap();
        emu.client().follow("a", "b").unwrap();
        assert!(wait_for(30, || emu.webhooks().len() == 1), "sent");
        let sent = emu.webhooks();
        assert_eq!(sent[0].attempts, attempts, "{retries:?}");
        assert!(!sent[0].acked);
    }
    let stats = receiver.shutdown();
    assert_eq!(stats.failed, 4);
}

#[test]
#[cfg(feature = "redis")]
fn a_redis_claim_in_flight_is_not_done_and_a_dead_holders_claim_expires() {
    use tim_follow::receiver::{Claim, RedisSeen, Seen};
    let Some(redis) = redis_budget::RedisServer::start() else {
        return;
    };
    let seen = |ttl| {
        RedisSeen::new(&redis.url, 1400000001, Duration::from_secs(3600))
            .unwrap()
            .in_flight_ttl(ttl)
    };
    let (a, b) = (seen(Duration::from_secs(60)), seen(Duration::from_secs(60)));
    assert_eq!(a.check(), Ok(()));
    assert_eq!(a.claim("k1"), Ok(Claim::Claimed));
    assert_eq!(b.claim("k1"), Ok(Claim::InFlight), "not done yet");
    a.release("k1");
    assert_eq!(b.claim("k1"), Ok(Claim::Claimed), "given back");
    b.done("k1");
    assert_eq!(a.claim("k1"), Ok(Claim::Done));
    a.release("k1");
    assert_eq!(
        a.claim("k1"),
        Ok(Claim::Done),
        "a done key is never given back"
    );
    // A holder that dies mid-event: its claim ends with the short TTL.
    let dying = seen(Duration::from_secs(1));
    assert_eq!(dying.claim("k2"), Ok(Claim::Claimed));
    drop(dying);
    assert_eq!(a.claim("k2"), Ok(Claim::InFlight));
    assert!(
        wait_for(30, || a.claim("k2") == Ok(Claim::Claimed)),
        "the claim of a dead holder expired"
    );
    // A holder that outlived its claim gives back only its own: the later
    // claim of another receiver stands.
    let slow = seen(Duration::from_secs(1));
    assert_eq!(slow.claim("k3"), Ok(Claim::Claimed));
    assert!(
        wait_for(30, || a.claim("k3") == Ok(Claim::Claimed)),
        "the slow holder's claim expired"
    );
    slow.release("k3");
    assert_eq!(b.claim("k3"), Ok(Claim::InFlight), "a's claim was kept");
    drop(redis);
    assert!(a.check().is_err());
}

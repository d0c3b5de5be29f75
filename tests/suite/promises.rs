//! Promises of the README that no other test holds to: each test here fails
//! if the promise is broken (see `tests/README.md` for the whole table).

use super::*;
use std::sync::Arc;
use tim_follow::job::{self, Job, JobInput};
use tim_follow::testkit::Fault;
use tim_follow::Error;

/// Re-signing: every code that means "this UserSig is refused" (70001 is in
/// the fault matrix) makes a new UserSig and retries once.
#[test]
fn each_signature_refusal_code_re_signs_once() {
    for code in [70003, 60004, 60005] {
        let emu = emulator_with("u1", &ids("t", 1));
        emu.inject(Fault::ErrorCode(code), 1);
        let client = emu
            .client_builder()
            .retry(RetryPolicy::default().base_delay(Duration::from_millis(5)))
            .build()
            .unwrap();
        let out = client.follow_add("u1", &ids("t", 1)).unwrap();
        assert!(out.all_applied(), "{code}: {out:?}");
        assert_eq!(
            emu.request_count("follow/follow_add"),
            2,
            "{code}: one retry"
        );
        assert_eq!(emu.following("u1").len(), 1, "{code}");
    }
}

/// `call_json` does not know whether an endpoint is idempotent: an answer
/// lost after the work was done is not sent again; `call_json_idempotent`
/// sends it again.
#[test]
fn call_json_retries_only_what_surely_did_not_happen() {
    let body = serde_json::json!({"From_Account": "u1", "FollowItem": [{"To_Account": "t_000"}]});
    let emu = emulator_with("u1", &ids("t", 1));
    let client = emu
        .client_builder()
        .retry(
            RetryPolicy::default()
                .base_delay(Duration::from_millis(5))
                .rate_limited_base_delay(Duration::from_millis(20)),
        )
        .build()
        .unwrap();
    emu.inject(Fault::DropAfterProcessing, 1);
    let err = client
        .call_json("v4/follow/follow_add", &body)
        .expect_err("the answer was lost");
    assert!(matches!(err, Error::Transport(_)), "{err}");
    assert_eq!(emu.request_count("follow/follow_add"), 1, "not sent again");
    // Refused by the rate limit, it surely did not happen: retried.
    emu.inject(Fault::ErrorCode(60007), 1);
    client.call_json("v4/follow/follow_add", &body).unwrap();
    assert_eq!(emu.request_count("follow/follow_add"), 3);
    // Told that the endpoint is idempotent, a lost answer is sent again.
    emu.inject(Fault::DropAfterProcessing, 1);
    client
        .call_json_idempotent("v4/follow/follow_add", &body)
        .unwrap();
    assert_eq!(emu.request_count("follow/follow_add"), 5);
}

/// The default rate limit is 200 calls per second per endpoint, less the 2 %
/// margin: 50 calls in a row need at least 49 gaps of 1/196 s. A lower bound
/// on time only, so a loaded machine cannot fail it.
#[test]
fn the_default_rate_limit_spaces_calls_at_200_per_second_per_endpoint() {
    let emu = emulator_with("a", &ids("t", 1));
    let client = emu.client();
    for _ in 0..50 {
        client.relation("a", "t_000").unwrap();
    }
    // Another endpoint has a budget of its own: its first call does not wait.
    client.counts("a").unwrap();
    let log = emu.requests();
    let checks: Vec<Duration> = log
        .iter()
        .filter(|r| r.path == "follow/follow_check")
        .map(|r| r.at)
        .collect();
    assert_eq!(checks.len(), 50);
    let span = checks[49] - checks[0];
    let floor = Duration::from_secs_f64(49.0 / 196.0);
    // The emulator stamps arrivals, which may bunch by a few milliseconds.
    assert!(
        span + Duration::from_millis(20) >= floor,
        "50 calls in {span:?}, the default rate allows no less than {floor:?}"
    );
}

/// A TLS failure is not retried, with the default retry policy: one
/// connection, one handshake.
#[test]
#[cfg(feature = "rustls")]
fn a_tls_failure_is_not_retried_by_default() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    let server = std::thread::spawn(move || {
        // Answers every handshake with bytes that are not TLS, then closes;
        // counts the connections for 3 s.
        listener.set_nonblocking(true).unwrap();
        let end = std::time::Instant::now() + Duration::from_secs(3);
        while std::time::Instant::now() < end {
            match listener.accept() {
                Ok((mut s, _)) => {
                    count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let _ = std::io::Write::write_all(&mut s, b"HTTP/1.1 400 Nope\r\n\r\n");
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    let client = Client::builder(1400000000, "administrator")
        .base_url(format!("https://127.0.0.1:{port}"))
        .usersig("sig")
        .failover(false)
        .build()
        .unwrap();
    let err = client.follow_delete("a", &["b"]).unwrap_err();
    match &err {
        Error::Transport(t) => {
            assert_eq!(t.kind, tim_follow::TransportErrorKind::Tls, "{err}")
        }
        other => panic!("{other}"),
    }
    server.join().unwrap();
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one attempt"
    );
}

/// A journal never holds the SecretKey nor any UserSig the service received.
#[test]
fn a_journal_never_holds_a_secret() {
    let dir = scratch_dir("journal-secrets");
    let targets = ids("t", 150);
    let emu = emulator_with("me", &targets);
    // A lost answer and a refusal make the journal write its error texts too.
    emu.inject(Fault::DropAfterProcessing, 1);
    emu.inject_for("v4/follow/follow_add", Fault::ErrorCode(70001), 1);
    let file = dir.join("ids.txt");
    write_ids(&file, &targets);
    let journal = dir.join("job.journal");
    let summary = Job::follow("me", JobInput::file(&file))
        .journal(&journal)
        .run(&fast_client(&emu), |_| {})
        .unwrap();
    assert!(summary.complete, "{summary:?}");
    let text = String::from_utf8(std::fs::read(&journal).unwrap()).unwrap();
    assert!(
        !text.contains(emu.secret_key()),
        "the SecretKey is in the journal"
    );
    let sigs = emu.received_usersigs();
    assert!(!sigs.is_empty());
    for sig in &sigs {
        assert!(!text.contains(sig.as_str()), "a UserSig is in the journal");
    }
    let status = job::status(&journal).unwrap();
    assert!(!format!("{status:?}").contains(emu.secret_key()));
}

/// A purge lists both of the account's lists into its journal before its
/// first unfollow.
#[test]
fn a_purge_lists_both_lists_before_its_first_unfollow() {
    let dir = scratch_dir("purge-order");
    let others = ids("o", 30);
    let emu = emulator_with("gone", &others);
    for o in &others[..20] {
        emu.seed_follow("gone", o);
    }
    for o in &others[10..] {
        emu.seed_follow(o, "gone");
    }
    let summary = Job::purge("gone")
        .journal(dir.join("purge.journal"))
        .run(&fast_client(&emu), |_| {})
        .unwrap();
    assert!(summary.complete, "{summary:?}");
    let log = emu.requests();
    let first_delete = log
        .iter()
        .position(|r| r.path == "follow/follow_delete")
        .expect("unfollows were sent");
    let listed: Vec<&str> = log[..first_delete]
        .iter()
        .filter(|r| r.path == "follow/follow_get")
        .map(|r| r.body.as_str())
        .collect();
    assert!(
        listed.iter().any(|b| b.contains("\"FollowType\":2")),
        "the following list was read first: {listed:?}"
    );
    assert!(
        listed.iter().any(|b| b.contains("\"FollowType\":1")),
        "the fans were read first: {listed:?}"
    );
    assert!(emu.following("gone").is_empty() && emu.fans("gone").is_empty());
}

/// What the client logs, with the thread that logged it, for the tests that
/// hold it to its words.
#[cfg(feature = "redis")]
fn logged() -> &'static std::sync::Mutex<Vec<(std::thread::ThreadId, String)>> {
    use std::sync::{Mutex, OnceLock};
    type Lines = Mutex<Vec<(std::thread::ThreadId, String)>>;
    struct Capture(&'static Lines);
    impl log::Log for Capture {
        fn enabled(&self, m: &log::Metadata) -> bool {
            m.target().starts_with("tim_follow")
        }
        fn log(&self, r: &log::Record) {
            if self.enabled(r.metadata()) {
                let mut lines = self.0.lock().unwrap_or_else(|p| p.into_inner());
                if lines.len() < 10_000 {
                    let line = format!("{} {}", r.level(), r.args());
                    lines.push((std::thread::current().id(), line));
                }
            }
        }
        fn flush(&self) {}
    }
    static LINES: OnceLock<&'static Lines> = OnceLock::new();
    LINES.get_or_init(|| {
        let lines: &'static Lines = Box::leak(Box::new(Mutex::new(Vec::new())));
        let capture: &'static Capture = Box::leak(Box::new(Capture(lines)));
        if log::set_logger(capture).is_ok() {
            log::set_max_level(log::LevelFilter::Info);
        }
        lines
    })
}

/// Redis out of reach: the shared budget falls back to a quarter of the rate
/// in this process, and says so in one warning, not one per call.
#[test]
#[cfg(feature = "redis")]
fn an_unreachable_redis_falls_back_to_a_quarter_of_the_rate_with_one_warning() {
    let lines = logged();
    // A port nothing listens on: refused at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{closed}");
    let emu = emulator_with("a", &ids("t", 1));
    let budget = tim_follow::RedisLimiter::new(&url, emu.sdkappid(), 200.0).unwrap();
    let client = emu
        .client_builder()
        .rate_limiter(Arc::new(budget))
        .build()
        .unwrap();
    for _ in 0..26 {
        client.relation("a", "t_000").unwrap();
    }
    let log = emu.requests();
    assert_eq!(log.len(), 26);
    // 50 calls/s: 25 gaps of at least 20 ms (less a 2 % margin and the
    // emulator's stamping).
    let span = log[25].at - log[0].at;
    assert!(
        span + Duration::from_millis(20) >= Duration::from_secs_f64(25.0 / 51.0),
        "26 calls in {span:?} at a quarter of 200/s"
    );
    // The calls are made on this thread, and the limiter runs on it.
    let me = std::thread::current().id();
    let warnings: Vec<String> = lines
        .lock()
        .unwrap()
        .iter()
        .filter(|(by, l)| *by == me && l.starts_with("WARN"))
        .map(|(_, l)| l.clone())
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("50 calls/s"), "{warnings:?}");
}

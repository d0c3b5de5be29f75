//! The fault matrix, load under the rate limit, failover and bounded resources.

use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tim_follow::testkit::{DuplicateAnswer, Fault};
use tim_follow::{Error, Outcome, TransportErrorKind};

/// Both ways the service may answer a repeated follow: every row runs in each.
const MODES: [DuplicateAnswer; 2] = [DuplicateAnswer::Apply, DuplicateAnswer::Refuse(30001)];

/// One row of the matrix: faults injected in order, then a one-account follow.
fn row(
    mode: DuplicateAnswer,
    faults: &[(Fault, u32)],
) -> (Emulator, Result<tim_follow::BatchOutcome<()>, Error>) {
    let emu = Emulator::builder()
        .duplicates(mode)
        .accounts(&["u1", "t_000"])
        .start()
        .expect("emulator starts");
    for (f, n) in faults {
        emu.inject(f.clone(), *n);
    }
    let client = emu
        .client_builder()
        .retry(
            RetryPolicy::default()
                .base_delay(Duration::from_millis(5))
                .rate_limited_base_delay(Duration::from_millis(20))
                .max_delay(Duration::from_millis(50)),
        )
        .max_response_bytes(64 * 1024)
        .build()
        .unwrap();
    let result = client.follow_add("u1", &["t_000"]);
    assert_no_secret(&format!("{result:?}"), &emu);
    if let Err(e) = &result {
        assert_no_secret(&e.to_string(), &emu);
    }
    (emu, result)
}

/// The SecretKey and every UserSig the emulator received (as it saw them,
/// not as the code under test would make them) are absent from `text`.
fn assert_no_secret(text: &str, emu: &Emulator) {
    assert!(!text.contains(emu.secret_key()), "SecretKey in: {text}");
    let sigs = emu.received_usersigs();
    for sig in &sigs {
        assert!(!text.contains(sig.as_str()), "UserSig in: {text}");
    }
}

fn attempts(emu: &Emulator) -> usize {
    emu.request_count("follow/follow_add")
}

#[test]
fn matrix_502_then_ok() {
    for mode in MODES {
        let (emu, r) = row(mode, &[(Fault::HttpStatus(502), 1)]);
        assert!(r.unwrap().all_applied());
        assert_eq!(attempts(&emu), 2);
    }
}

#[test]
fn matrix_dropped_connection_then_ok() {
    for mode in MODES {
        let (emu, r) = row(mode, &[(Fault::DropAfterRead, 1)]);
        assert!(r.unwrap().all_applied());
        assert_eq!(attempts(&emu), 2);
        let (emu, r) = row(mode, &[(Fault::DropBeforeRead, 1)]);
        assert!(r.unwrap().all_applied());
        assert_eq!(attempts(&emu), 2);
    }
}

#[test]
fn matrix_30006_twice_then_ok() {
    for mode in MODES {
        let (emu, r) = row(mode, &[(Fault::ErrorCode(30006), 2)]);
        assert!(r.unwrap().all_applied());
        assert_eq!(attempts(&emu), 3);
    }
}

#[test]
fn matrix_30001_is_one_attempt_and_a_typed_error() {
    for mode in MODES {
        let (emu, r) = row(mode, &[(Fault::ErrorCode(30001), 5)]);
        let e = r.unwrap_err();
        assert_eq!(e.code(), Some(30001));
        assert_eq!(
            e.api().unwrap().kind(),
            tim_follow::ErrorKind::InvalidRequest
        );
        assert_eq!(attempts(&emu), 1);
    }
}

#[test]
fn matrix_70001_with_a_secret_key_re_signs_once() {
    for mode in MODES {
        let (emu, r) = row(mode, &[(Fault::ErrorCode(70001), 1)]);
        assert!(r.unwrap().all_applied());
        assert_eq!(attempts(&emu), 2);
    }
}

#[test]
fn matrix_garbage_body_is_not_retried() {
    for mode in MODES {
        let (emu, r) = row(mode, &[(Fault::GarbageBody, 1)]);
        assert!(matches!(r, Err(Error::Decode(_))));
        assert_eq!(attempts(&emu), 1);
    }
}

#[test]
fn matrix_truncated_body_is_retried() {
    for mode in MODES {
        let (emu, r) = row(mode, &[(Fault::TruncatedBody, 1)]);
        let out = r.unwrap();
        assert!(out.all_applied(), "{mode:?}: {out:?}");
        let read_back = matches!(mode, DuplicateAnswer::Refuse(_));
        assert_eq!(out.read_backs(), usize::from(read_back), "{mode:?}");
        assert_eq!(attempts(&emu), 2);
    }
}

#[test]
fn matrix_body_over_the_cap_is_an_error_not_an_allocation() {
    for mode in MODES {
        let (emu, r) = row(mode, &[(Fault::OversizedBody(256 * 1024), 1)]);
        match r {
            Err(Error::Transport(t)) => {
                assert_eq!(t.kind, TransportErrorKind::BodyTooLarge);
                assert!(t.message.contains("65536"), "{}", t.message);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(attempts(&emu), 1);
    }
}

#[test]
fn matrix_latency_beyond_the_timeout_is_a_typed_timeout_in_bounded_time() {
    let emu = emulator_with("u1", &ids("t", 1));
    emu.set_latency(Some(Duration::from_secs(3)));
    let client = emu
        .client_builder()
        .timeout(Duration::from_millis(300))
        .retry(
            RetryPolicy::default()
                .max_attempts(2)
                .base_delay(Duration::from_millis(5)),
        )
        .build()
        .unwrap();
    let t = Instant::now();
    match client.follow_add("u1", &["t_000"]) {
        Err(Error::Transport(t)) => {
            assert_eq!(t.kind, TransportErrorKind::Timeout, "{}", t.message)
        }
        other => panic!("{other:?}"),
    }
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(600),
        "two attempts of 300 ms: {took:?}"
    );
    // Bounded by the two deadlines, not by a third attempt (with room for
    // a loaded machine).
    assert!(took < Duration::from_secs(5), "bounded: {took:?}");
}

#[test]
fn matrix_rate_limit_code_then_ok() {
    for mode in MODES {
        for code in [60007, 60011, 60018, 60019] {
            let (emu, r) = row(mode, &[(Fault::ErrorCode(code), 1)]);
            assert!(r.unwrap().all_applied(), "{code}");
            assert_eq!(attempts(&emu), 2, "{code}");
        }
    }
}

#[test]
fn matrix_45_accounts_with_the_middle_request_failing_keeps_every_account() {
    let targets = ids("t", 45);
    let emu = emulator_with("u1", &targets);
    // Request 1 passes, requests 2–5 (the middle chunk and its retries) fail.
    emu.inject(Fault::Latency(Duration::ZERO), 1);
    emu.inject(Fault::HttpStatus(502), 4);
    let client = emu
        .client_builder()
        .concurrency(1)
        .retry(RetryPolicy::default().base_delay(Duration::from_millis(5)))
        .build()
        .unwrap();
    let out = client.follow_add("u1", &targets).unwrap();
    assert_eq!(out.len(), 45);
    assert_eq!(attempts(&emu), 6);
    for (i, item) in out.iter().enumerate() {
        assert_eq!(item.account, targets[i]);
        match (&item.outcome, (20..40).contains(&i)) {
            (Outcome::Applied(()), false) => {}
            (Outcome::Unknown(Error::HttpStatus { status: 502, .. }), true) => {}
            other => panic!("{i}: {other:?}"),
        }
    }
    let unknown: Vec<&str> = out.unknown().map(|(a, _)| a).collect();
    assert_eq!(
        unknown,
        targets[20..40]
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    // Retrying exactly the unknown accounts completes the job.
    assert!(client.follow_add("u1", &unknown).unwrap().all_applied());
    assert_eq!(emu.following("u1").len(), 45);
}

#[test]
fn load_8_threads_2000_calls_never_exceed_the_rate_in_any_second() {
    const RATE: u32 = 400;
    let emu = Emulator::builder()
        .rate_limit(Some(RATE), 60007)
        .accounts(&["a", "b"])
        .start()
        .unwrap();
    let limiter = crate::Recording::new(f64::from(RATE));
    let client = emu
        .client_builder()
        .rate_limiter(limiter.clone())
        .build()
        .unwrap();
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..8 {
            let client = client.clone();
            s.spawn(move || {
                for _ in 0..250 {
                    client.relation("a", "b").expect("no error under load");
                }
            });
        }
    });
    let took = started.elapsed();
    // The slots the limiter gave: never more than the rate in a second.
    let slots = limiter.busiest_second("follow/follow_check");
    assert!(slots <= RATE as usize, "{slots} slots in one second");
    // What the service saw: the same, but for a loaded machine's delays.
    let log = emu.requests();
    let refused = log.iter().filter(|r| r.error_code == Some(60007)).count();
    assert_eq!(
        log.len(),
        2000 + refused,
        "only refused calls were sent again"
    );
    assert!(
        refused <= crate::JITTER,
        "{refused} calls refused by the service"
    );
    let worst = crate::busiest(log.iter().map(|r| r.at).collect());
    eprintln!("load: worst one-second window held {worst} calls ({slots} slots); took {took:?}");
    assert!(
        worst <= RATE as usize + crate::JITTER,
        "{worst} calls in one second"
    );
    // 2000 calls at 400/s take about 5 s (a lower bound a slow machine
    // cannot break), and far less than 20 s.
    assert!(took >= Duration::from_millis(4900), "{took:?}");
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[test]
fn failover_to_the_standby_when_the_primary_refuses_connections() {
    let emu = emulator_with("u1", &ids("t", 1));
    let client = Client::builder(emu.sdkappid(), emu.admin())
        .base_url("http://127.0.0.1:1")
        .standby_base_url(emu.base_url())
        .secret_key(emu.secret_key())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    assert!(client.follow("u1", "t_000").is_ok());
    assert!(client.relation("u1", "t_000").unwrap().follows());
    assert_eq!(emu.requests().len(), 2);
    let off = Client::builder(emu.sdkappid(), emu.admin())
        .base_url("http://127.0.0.1:1")
        .standby_base_url(emu.base_url())
        .failover(false)
        .secret_key(emu.secret_key())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let e = off.follow("u1", "t_000").unwrap_err();
    assert!(matches!(e, Error::Transport(t) if t.kind == TransportErrorKind::Connect));
}

#[test]
fn ten_thousand_calls_leak_no_connection() {
    let emu = Emulator::builder()
        .rate_limit(None, 60007)
        .accounts(&["a", "b"])
        .start()
        .unwrap();
    let client = emu.client_builder().no_rate_limit().build().unwrap();
    for _ in 0..10_000 {
        client.relation("a", "b").unwrap();
    }
    assert_eq!(emu.request_count("follow/follow_check"), 10_000);
    let open = emu.open_connections();
    assert!(open <= 1, "{open} connections open after sequential calls");
    drop(client);
    let deadline = Instant::now() + Duration::from_secs(10);
    while emu.open_connections() > 0 {
        assert!(
            Instant::now() < deadline,
            "the pool closes its connections when the client goes"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A server on 127.0.0.1 that accepts connections and never answers, for at
/// most `life`; returns its base URL and how many connections it took.
fn silent_server(life: Duration) -> (String, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        let started = Instant::now();
        let mut held = Vec::new();
        while started.elapsed() < life {
            match listener.accept() {
                Ok((stream, _)) => {
                    count.fetch_add(1, Ordering::SeqCst);
                    held.push(stream);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    (base, accepted)
}

#[test]
fn a_server_that_never_answers_costs_one_deadline_not_one_per_request() {
    let (base, accepted) = silent_server(Duration::from_secs(20));
    let timeout = Duration::from_secs(1);
    let client = Client::builder(1400000000, "administrator")
        .base_url(base)
        .usersig("sig")
        .timeout(timeout)
        .retry(RetryPolicy::default().max_attempts(1))
        .build()
        .unwrap();
    let targets = ids("t", 1000);
    let started = Instant::now();
    let err = client.follow_delete("me", &targets).unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(&err, Error::Transport(t) if t.kind == TransportErrorKind::Timeout),
        "{err}"
    );
    // One deadline: the 50 requests in waves of 16 would take four. The
    // margin is for a loaded machine.
    assert!(took < 3 * timeout, "{took:?} for 50 requests");
    // Each request went out at most once (no retries here); the calls that
    // wait longer than the latency estimate raise the in-flight target, so
    // more than the first wave may go, but never past the batch's requests.
    let sent = accepted.load(Ordering::SeqCst);
    assert!((3..=50).contains(&sent), "{sent} connections");
    // With some success first, a later run of failures does not stop the batch.
    let emu = emulator_with("me", &targets);
    emu.inject(Fault::Latency(Duration::ZERO), 1);
    emu.inject(Fault::DropAfterRead, 40);
    let out = emu
        .client_builder()
        .concurrency(1)
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
        .follow_delete("me", &targets)
        .unwrap();
    assert_eq!(
        out.applied().count(),
        20 + 9 * 20,
        "{} applied",
        out.applied().count()
    );
    assert_eq!(
        emu.request_count("follow/follow_delete"),
        50,
        "every request was sent"
    );
}

#[test]
fn a_server_that_never_answers_gets_a_bounded_first_wave_at_the_limiters_pace() {
    // 1,000 requests against a service that accepts and never answers:
    // before the first answer the calls go out at the limiter's pace (more
    // than a fixed start of 16 within the deadline), and no more than 16
    // and about one second's worth (within the cap of 256) are in flight.
    let (base, accepted) = silent_server(Duration::from_secs(30));
    let client = Client::builder(1400000000, "administrator")
        .base_url(base)
        .usersig("sig")
        .timeout(Duration::from_secs(2))
        .retry(RetryPolicy::default().max_attempts(1))
        .build()
        .unwrap();
    let err = client.follow_delete("me", &ids("t", 20_000)).unwrap_err();
    assert!(
        matches!(&err, Error::Transport(t) if t.kind == TransportErrorKind::Timeout),
        "{err}"
    );
    // Connections the kernel completed are accepted within the silent
    // server's 5 ms poll; wait for the count to settle (bounded).
    let mut sent = accepted.load(Ordering::SeqCst);
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(100));
        let now = accepted.load(Ordering::SeqCst);
        if now == sent {
            break;
        }
        sent = now;
    }
    assert!(
        (17..=256).contains(&sent),
        "{sent} connections before the first deadline"
    );
}

#[test]
fn past_the_call_deadline_no_new_request_starts_and_the_rest_is_unknown() {
    let targets = ids("t", 200);
    let emu = emulator_with("me", &targets);
    emu.set_latency(Some(Duration::from_millis(100)));
    let client = emu
        .client_builder()
        .concurrency(1)
        .call_deadline(Duration::from_millis(250))
        .build()
        .unwrap();
    let out = client.follow_add("me", &targets).unwrap();
    let sent = emu.request_count("follow/follow_add");
    assert!((2..10).contains(&sent), "{sent} of 10 requests sent");
    assert_eq!(out.applied().count(), 20 * sent);
    assert_eq!(out.unknown().count(), 200 - 20 * sent);
    let (_, err) = out.unknown().next().unwrap();
    assert!(err.to_string().contains("deadline"), "{err}");
}

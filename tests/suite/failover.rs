//! The standby domain takes over when the primary is black-holed: no
//! connection within the connect timeout (a refused primary:
//! `reliability::failover_to_the_standby_when_the_primary_refuses_connections`).

use super::*;
use std::io::ErrorKind as Io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tim_follow::{Error, TransportErrorKind};

/// A listening port whose accept queue is full, so that the kernel drops
/// new connection attempts unanswered: a host that drops packets, on
/// 127.0.0.1. Its connections close when it is dropped.
struct BlackHole {
    addr: SocketAddr,
    _listener: TcpListener,
    _held: Vec<TcpStream>,
}

impl BlackHole {
    /// Fills the queue until a connection attempt times out (the readiness
    /// signal); at most 2,048 connections.
    fn open() -> BlackHole {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut held = Vec::new();
        for _ in 0..2048 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(s) => held.push(s),
                Err(e) if matches!(e.kind(), Io::TimedOut | Io::WouldBlock) => {
                    return BlackHole {
                        addr,
                        _listener: listener,
                        _held: held,
                    }
                }
                Err(e) => panic!("filling the accept queue: {e}"),
            }
        }
        panic!("the accept queue never filled");
    }
}

fn client(primary: String, emu: &Emulator, failover: bool) -> tim_follow::Client {
    emu.client_builder()
        .base_url(primary)
        .standby_base_url(emu.base_url())
        .failover(failover)
        .connect_timeout(Duration::from_millis(300))
        .timeout(Duration::from_secs(20))
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}

#[test]
fn a_black_holed_primary_fails_over_to_the_standby_on_the_connect_timeout() {
    let hole = BlackHole::open();
    let emu = emulator_with("u1", &ids("t", 1));
    let primary = format!("http://{}", hole.addr);
    // Without failover: the kind says the request was never sent.
    let err = client(primary.clone(), &emu, false)
        .follow_add("u1", &["t_000"])
        .unwrap_err();
    match &err {
        Error::Transport(t) => assert_eq!(t.kind, TransportErrorKind::ConnectTimeout, "{err}"),
        other => panic!("{other:?}"),
    }
    assert!(!err.may_have_been_applied(), "{err}");
    assert_eq!(emu.request_count("follow/follow_add"), 0);
    // With failover, the follow is applied through the standby, once.
    let out = client(primary, &emu, true)
        .follow_add("u1", &["t_000"])
        .unwrap();
    assert!(out.all_applied(), "{out:?}");
    assert!(emu.is_following("u1", "t_000"));
    assert_eq!(emu.request_count("follow/follow_add"), 1);
}

/// The emulator's port, for names pinned to it.
fn port_of(emu: &Emulator) -> u16 {
    let base = emu.base_url();
    base.rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap()
}

#[test]
fn a_name_that_does_not_resolve_is_a_dns_failure_and_fails_over_to_the_standby() {
    let emu = emulator_with("u1", &ids("t", 2));
    let asked = Arc::new(AtomicUsize::new(0));
    let build = |failover: bool| {
        let asked = asked.clone();
        emu.client_builder()
            .base_url(format!("http://primary.test:{}", port_of(&emu)))
            .standby_base_url(emu.base_url())
            .allow_insecure_http(true)
            .failover(failover)
            .retry(RetryPolicy::none())
            .name_lookup(move |host, _| {
                asked.fetch_add(1, Ordering::SeqCst);
                assert_eq!(host, "primary.test", "an IP literal is never looked up");
                Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such name",
                ))
            })
            .build()
            .unwrap()
    };
    let err = build(false).follow_add("u1", &["t_000"]).unwrap_err();
    match &err {
        Error::Transport(t) => assert_eq!(t.kind, TransportErrorKind::Dns, "{err}"),
        other => panic!("{other:?}"),
    }
    assert!(!err.may_have_been_applied(), "{err}");
    assert_eq!(emu.request_count("follow/follow_add"), 0);
    let out = build(true).follow_add("u1", &["t_001"]).unwrap();
    assert!(out.all_applied(), "{out:?}");
    assert!(emu.is_following("u1", "t_001") && !emu.is_following("u1", "t_000"));
    assert_eq!(emu.request_count("follow/follow_add"), 1);
    assert!(asked.load(Ordering::SeqCst) >= 2, "the lookup was asked");
}

#[test]
fn a_name_is_looked_up_once_and_its_answer_kept_for_the_next_calls() {
    let emu = emulator_with("u1", &ids("t", 5));
    let asked = Arc::new(AtomicUsize::new(0));
    let port = port_of(&emu);
    let counter = asked.clone();
    let client = emu
        .client_builder()
        .base_url(format!("http://pinned.test:{port}"))
        .allow_insecure_http(true)
        .name_lookup(move |host, p| {
            counter.fetch_add(1, Ordering::SeqCst);
            assert_eq!((host, p), ("pinned.test", port));
            Ok(vec![std::net::SocketAddr::from(([127, 0, 0, 1], p))])
        })
        .build()
        .unwrap();
    for i in 0..5 {
        let id = format!("t_{i:03}");
        let out = client.follow_add("u1", &[id.as_str()]).unwrap();
        assert!(out.all_applied(), "{out:?}");
    }
    assert_eq!(emu.request_count("follow/follow_add"), 5);
    // Five calls within the 60 s the answer is kept: one lookup.
    assert_eq!(asked.load(Ordering::SeqCst), 1);
}

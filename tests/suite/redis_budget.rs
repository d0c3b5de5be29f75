//! A budget shared through a real Redis: started here on a free 127.0.0.1
//! port with persistence off, stopped at the end. A test that cannot start
//! `redis-server` fails, unless `TIM_TEST_SKIP_REDIS=1` says to skip it: then
//! it prints `SKIPPED` with the reason and returns (`.ci/run` never sets it).

use super::*;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Instant;
use tim_follow::RedisLimiter;

/// A `redis-server` of the test's own.
pub struct RedisServer {
    child: Child,
    pub url: String,
}

impl RedisServer {
    /// Starts one; `None` (with a line saying why) only when it cannot start
    /// and `TIM_TEST_SKIP_REDIS=1` allows skipping.
    pub fn start() -> Option<RedisServer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let spawned = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdout(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) if skip_allowed() => {
                println!("SKIPPED (TIM_TEST_SKIP_REDIS=1): redis-server cannot be started ({e})");
                return None;
            }
            Err(e) => panic!(
                "redis-server cannot be started ({e}): install it (Debian: apt-get install \
                 redis-server), or set TIM_TEST_SKIP_REDIS=1 to skip the tests that need it"
            ),
        };
        let server = RedisServer {
            child,
            url: format!("redis://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(server)
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the tests that need `redis-server` may be skipped when it cannot
/// start: only when the developer says so.
fn skip_allowed() -> bool {
    std::env::var("TIM_TEST_SKIP_REDIS").is_ok_and(|v| v == "1")
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn four_clients_sharing_a_redis_budget_stay_within_it() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    // Each client as a process of its own would: its own limiter, one budget;
    // the slots each one's limiter gave are recorded in one log.
    let slots = crate::Slots::default();
    let f = super::fleet::fleet(2000, |emu| {
        let budget = RedisLimiter::new(&redis.url, emu.sdkappid(), 100.0).unwrap();
        emu.client_builder()
            .rate_limiter(crate::Recording::around(budget, slots.clone()))
            .build()
            .unwrap()
    });
    // The budget: never more than 100 slots in a second across the four
    // (a slot's moment is taken when Redis's answer arrives, which a loaded
    // machine can delay by a few milliseconds: JITTER). Four uncoordinated
    // limiters would give up to 400.
    let most = crate::busiest_slots(&slots, "follow/follow_add");
    assert!(
        most <= 100 + crate::JITTER,
        "{most} slots in one second across the four clients"
    );
    // The service's count, of arrivals: at a load average of 5, 0–1 of 400
    // were refused; at 21, 16 of 416 (the calls left evenly and arrived
    // bunched). 10 % still tells a shared budget from four of their own.
    assert!(
        f.limited * 10 <= f.sent,
        "{} of {} refused",
        f.limited,
        f.sent
    );
}

#[test]
fn redis_going_away_mid_run_does_not_fail_the_batch() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let emu = emulator_with("me", &ids("t", 1000));
    emu.set_latency(Some(Duration::from_millis(5)));
    let budget = RedisLimiter::new(&redis.url, emu.sdkappid(), 200.0).unwrap();
    let client = emu
        .client_builder()
        .rate_limiter(Arc::new(budget))
        .concurrency(4)
        .build()
        .unwrap();
    let targets = ids("t", 1000);
    let (out, at_stop) = std::thread::scope(|s| {
        let run = s.spawn(|| client.follow_add("me", &targets));
        let deadline = Instant::now() + Duration::from_secs(10);
        while emu.request_count("follow/follow_add") < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        let at_stop = emu.request_count("follow/follow_add");
        redis.stop();
        (run.join().unwrap(), at_stop)
    });
    let out = out.expect("the batch runs");
    assert!(out.all_applied(), "{:?}", out.unknown().next());
    assert_eq!(emu.following("me").len(), 1000);
    // Calls went through Redis before it went away, and on without it.
    assert!((3..50).contains(&at_stop), "{at_stop}");
    assert_eq!(emu.request_count("follow/follow_add"), 50);
}

#[test]
fn a_bad_redis_url_is_an_error_before_anything_is_sent() {
    let err = RedisLimiter::new("http://not-redis", 1, 100.0).unwrap_err();
    assert!(err.to_string().contains("redis_url"), "{err}");
    assert!(RedisLimiter::new("redis://127.0.0.1:1", 1, 0.0).is_err());
}

//! Threads and connections are bounded: no thread per request, none left behind.
//! (A test binary of its own, so that no other test's threads are counted.)

use std::time::{Duration, Instant};

use tim_follow::testkit::Emulator;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .expect("/proc/self/task lists the threads")
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "threads are counted in /proc/self/task, which only Linux has"
)]
fn no_thread_per_request_and_no_leak_after_10000_calls() {
    assert!(
        std::path::Path::new("/proc/self/task").exists(),
        "/proc/self/task is missing: threads cannot be counted (is /proc mounted?)"
    );
    let emu = Emulator::builder()
        .rate_limit(None, 60007)
        .accounts(&["a", "b"])
        .start()
        .unwrap();
    let targets: Vec<String> = (0..400).map(|i| format!("t{i}")).collect();
    emu.import_accounts(&targets);
    let baseline = threads();
    let client = emu.client_builder().no_rate_limit().build().unwrap();
    let mut peak = 0;
    for i in 0..10_000 {
        client.relation("a", "b").unwrap();
        if i % 500 == 0 {
            peak = peak.max(threads());
        }
    }
    // One connection, so one emulator thread: the client itself added none.
    assert!(
        peak <= baseline + 1,
        "{peak} threads during calls, {baseline} before"
    );
    // A split batch runs on scoped workers that end with the call.
    let out = client.follow_add("a", &targets).unwrap();
    assert!(out.all_applied());
    assert_eq!(out.requests(), 20);
    drop(client);
    wait_until("the pool's connections to close", || {
        emu.open_connections() == 0
    });
    wait_until("the thread count to return to its baseline", || {
        threads() == baseline
    });
}

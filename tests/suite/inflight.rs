//! Requests in flight that follow the latency: the concurrency the emulator
//! saw, and the rate limit held in every one-second window: exactly in the
//! slots the client's limiter gave, and with room for a loaded machine's
//! scheduling delays in the emulator's arrivals.

use super::*;
use std::time::Duration;
use tim_follow::job::{Job, JobInput};
use tim_follow::testkit::LoggedRequest;

/// 200 calls/s (the default limit) × 300 ms, of which at least 80 %.
const NEEDED_AT_300_MS: usize = 48;

/// An emulator with `from` and `n` targets, answering in 240–360 ms.
fn far_emulator(from: &str, n: usize) -> (tim_follow::testkit::Emulator, Vec<String>) {
    let targets = ids("far", n);
    let emu = emulator_with(from, &targets);
    emu.set_random_latency(Duration::from_millis(240), Duration::from_millis(360));
    (emu, targets)
}

/// The most arrivals at one endpoint within any one-second window.
fn busiest_second(log: &[LoggedRequest], path: &str) -> usize {
    let at: Vec<Duration> = log
        .iter()
        .filter(|r| r.path == path)
        .map(|r| r.at)
        .collect();
    crate::busiest(at)
}

#[test]
fn a_batch_at_300_ms_keeps_as_many_requests_in_flight_as_the_rate_needs() {
    let (emu, targets) = far_emulator("me", 4000);
    let client = emu.client_builder().build().unwrap();
    let out = client.follow_add("me", &targets).unwrap();
    assert!(out.all_applied());
    assert_eq!(emu.following("me").len(), 4000);
    assert_eq!(emu.request_count("follow/follow_add"), 200);
    let peak = emu.peak_in_flight();
    assert!(
        peak >= NEEDED_AT_300_MS,
        "the emulator saw at most {peak} requests at once; 200/s at 300 ms needs {NEEDED_AT_300_MS}"
    );
    assert!(peak <= client.concurrency(), "{peak} over the cap");
    assert!(busiest_second(&emu.requests(), "follow/follow_add") <= 200 + JITTER);
}

#[test]
fn a_journaled_job_at_300_ms_keeps_as_many_requests_in_flight_as_the_rate_needs() {
    let dir = scratch_dir("inflight-job");
    let (emu, targets) = far_emulator("me", 4000);
    write_ids(&dir.join("ids.txt"), &targets);
    let client = emu.client_builder().build().unwrap();
    let summary = Job::follow("me", JobInput::file(dir.join("ids.txt")))
        .journal(dir.join("job.journal"))
        .run(&client, |_| {})
        .unwrap();
    assert!(summary.complete);
    assert_eq!((summary.applied, summary.pending), (4000, 0));
    assert_eq!(emu.following("me").len(), 4000);
    let peak = emu.peak_in_flight();
    assert!(
        peak >= NEEDED_AT_300_MS,
        "the emulator saw at most {peak} requests at once; 200/s at 300 ms needs {NEEDED_AT_300_MS}"
    );
    let log = emu.requests();
    for path in ["follow/follow_add", "follow/follow_check"] {
        let most = busiest_second(&log, path);
        assert!(most <= 200 + JITTER, "{most} calls of {path} in one second");
    }
}

#[test]
fn no_second_holds_more_calls_than_the_limit_at_any_latency() {
    let targets = ids("w", 3000);
    for (lo, hi) in [(0, 0), (20, 80), (150, 450)] {
        let emu = emulator_with("me", &targets);
        emu.set_random_latency(Duration::from_millis(lo), Duration::from_millis(hi));
        // A lower limit, so that each latency spans several seconds quickly.
        let limiter = Recording::new(100.0);
        let client = emu
            .client_builder()
            .rate_limiter(limiter.clone())
            .build()
            .unwrap();
        let out = client.follow_add("me", &targets).unwrap();
        assert!(out.all_applied());
        let checked = client.follow_check("me", &targets).unwrap();
        assert!(checked.all_applied());
        let log = emu.requests();
        assert_eq!(log.len(), 150 + 30);
        for path in ["follow/follow_add", "follow/follow_check"] {
            let slots = limiter.busiest_second(path);
            assert!(
                slots <= 100,
                "{slots} slots of {path} in one second at {lo}–{hi} ms"
            );
            let most = busiest_second(&log, path);
            assert!(
                most <= 100 + JITTER,
                "{most} arrivals of {path} in one second at {lo}–{hi} ms"
            );
        }
    }
}

#[test]
fn a_fixed_count_stays_at_its_count_and_a_low_cap_holds() {
    let (emu, targets) = far_emulator("me", 1000);
    emu.set_random_latency(Duration::from_millis(40), Duration::from_millis(60));
    let fixed = emu
        .client_builder()
        .concurrency(6)
        .adaptive_concurrency(false)
        .build()
        .unwrap();
    assert!(fixed.follow_add("me", &targets).unwrap().all_applied());
    assert_eq!(
        emu.peak_in_flight(),
        6,
        "a fixed pool of 6 keeps 6 in flight"
    );
    emu.reset_peak_in_flight();
    let capped = emu.client_builder().concurrency(3).build().unwrap();
    assert!(capped.follow_delete("me", &targets).unwrap().all_applied());
    assert!(emu.peak_in_flight() <= 3, "{}", emu.peak_in_flight());
    let err = emu.client_builder().concurrency(5000).build().unwrap_err();
    assert!(err.to_string().contains("concurrency"), "{err}");
}

#[test]
fn without_a_rate_limit_the_cap_is_in_flight() {
    // No rate to multiply the latency by: `no_rate_limit` keeps the cap in
    // flight, as its documentation says.
    let (emu, targets) = far_emulator("me", 2000);
    emu.set_random_latency(Duration::from_millis(40), Duration::from_millis(60));
    let client = emu
        .client_builder()
        .no_rate_limit()
        .concurrency(8)
        .build()
        .unwrap();
    assert!(client.follow_add("me", &targets).unwrap().all_applied());
    assert_eq!(emu.request_count("follow/follow_add"), 100);
    assert_eq!(emu.peak_in_flight(), 8, "the cap of 8 in flight");
}

#[test]
fn an_export_of_many_accounts_lists_them_at_once_and_writes_them_in_order() {
    let accounts = ids("acct", 40);
    let others = ids("other", 6);
    let emu = emulator_with("me", &accounts);
    emu.import_accounts(&others);
    for (i, a) in accounts.iter().enumerate() {
        for o in &others[..1 + i % 5] {
            emu.seed_follow(a, o);
        }
        emu.seed_follow(&others[5], a);
    }
    emu.set_random_latency(Duration::from_millis(80), Duration::from_millis(120));
    let client = emu.client_builder().build().unwrap();
    let mut out = Vec::new();
    let summary = tim_follow::job::export(&client, &accounts, &mut out, |_| {}).unwrap();
    let wanted: u64 = (0..40).map(|i| 1 + i % 5 + 1).sum();
    assert_eq!((summary.accounts, summary.relations), (40, wanted));
    // In the order given: each account's following, then its fans.
    let text = String::from_utf8(out).unwrap();
    let mut seen: Vec<(String, String)> = Vec::new();
    for line in text.lines().skip(1) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(a) = v["account"].as_str() {
            let pair = (a.to_string(), v["list"].as_str().unwrap().to_string());
            if seen.last() != Some(&pair) {
                seen.push(pair);
            }
        }
    }
    let order: Vec<(String, String)> = accounts
        .iter()
        .flat_map(|a| [(a.clone(), "following".into()), (a.clone(), "fans".into())])
        .collect();
    assert_eq!(seen, order);
    assert!(text.ends_with(&format!(
        "{{\"end\":true,\"accounts\":40,\"relations\":{wanted}}}\n"
    )));
    let peak = emu.peak_in_flight();
    assert!(peak >= 8, "the accounts were listed {peak} at a time");
}

//! Several clients of one app sharing the service's budget.

use super::*;
use std::time::Instant;

/// Four independent clients (as four processes would be), default settings,
/// each following `per_client` accounts, against a service that allows 100
/// calls per second of follow_add: what was sent, refused and applied.
fn fleet(per_client: usize, build: impl Fn(&Emulator) -> Client + Sync) -> (usize, usize, f64) {
    let emu = Emulator::builder()
        .rate_limit(Some(100), 60007)
        .max_following(per_client)
        .start()
        .unwrap();
    let targets = ids("t", per_client);
    emu.import_accounts(&targets);
    let sources: Vec<String> = (0..4).map(|i| format!("src{i}")).collect();
    emu.import_accounts(&sources);
    let started = Instant::now();
    std::thread::scope(|s| {
        for from in &sources {
            let (emu, targets, build) = (&emu, &targets, &build);
            s.spawn(move || {
                let out = build(emu)
                    .follow_add(from, targets)
                    .expect("the batch runs");
                assert!(out.all_applied(), "{from}: {:?}", out.unknown().next());
            });
        }
    });
    let took = started.elapsed().as_secs_f64();
    for from in &sources {
        assert_eq!(emu.following(from).len(), per_client, "{from}");
    }
    let log = emu.requests();
    let limited = log.iter().filter(|r| r.error_code == Some(60007)).count();
    let mut buckets = [0usize; 40];
    for r in log.iter().filter(|r| r.error_code == Some(60007)) {
        buckets[(r.at.as_millis() as usize / 250).min(39)] += 1;
    }
    println!("refusals per 250 ms: {buckets:?}");
    (log.len(), limited, took)
}

#[test]
fn four_uncoordinated_clients_find_their_share_of_the_budget() {
    let (sent, limited, took) = fleet(4000, |emu| emu.client());
    let needed = 4 * 4000 / 20;
    println!("{sent} requests for {needed}, {limited} rate-limit answers, {took:.1} s");
    assert!(
        limited * 10 <= sent,
        "{limited} of {sent} requests answered with a rate limit"
    );
}

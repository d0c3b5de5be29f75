//! Several clients of one app sharing the service's budget.

use super::*;
use std::time::Instant;

/// What a fleet run showed.
pub struct Fleet {
    /// Requests the service saw.
    pub sent: usize,
    /// Of those, answered with a rate-limit code.
    pub limited: usize,
    /// The most requests in any one-second window.
    pub busiest: usize,
    /// Wall time, seconds.
    pub took: f64,
}

/// Four independent clients (as four processes would be), made by `build`,
/// each following `per_client` accounts, against a service that allows 100
/// calls per second of follow_add. Every account must be applied.
pub fn fleet(per_client: usize, build: impl Fn(&Emulator) -> Client + Sync) -> Fleet {
    // One fleet at a time: two on two cores would measure each other.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
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
    let fleet = Fleet {
        sent: log.len(),
        limited: log.iter().filter(|r| r.error_code == Some(60007)).count(),
        busiest: busiest_second(&log),
        took,
    };
    println!(
        "{} requests for {}, {} rate-limit answers, busiest second {}, {:.1} s",
        fleet.sent,
        4 * per_client / 20,
        fleet.limited,
        fleet.busiest,
        fleet.took
    );
    fleet
}

/// The most requests in any one-second window.
fn busiest_second(log: &[tim_follow::testkit::LoggedRequest]) -> usize {
    let mut times: Vec<Duration> = log.iter().map(|r| r.at).collect();
    times.sort();
    let (mut most, mut start) = (0, 0);
    for end in 0..times.len() {
        while times[end] - times[start] >= Duration::from_secs(1) {
            start += 1;
        }
        most = most.max(end - start + 1);
    }
    most
}

#[test]
fn four_uncoordinated_clients_find_their_share_of_the_budget() {
    let f = fleet(4000, |emu| emu.client());
    assert!(
        f.limited * 10 <= f.sent,
        "{} of {} requests answered with a rate limit",
        f.limited,
        f.sent
    );
}

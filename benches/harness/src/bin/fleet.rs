//! Several processes, one app budget:
//!
//! - `fleet plain`: four clients with default settings (each as a process of
//!   its own would be), each following 4,000 accounts, against an emulator
//!   that allows 100 calls/s of follow_add; `fleet plain MS`: the same with
//!   each answer delayed by MS ±20 % (uniform);
//! - `fleet redis URL`: the same, the clients sharing a 100/s budget in Redis;
//! - `fleet permit URL`: the cost of one Redis permit, 10,000 times.
//!
//! Prints one line of numbers for `benches/run.sh`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tim_follow::testkit::Emulator;
use tim_follow::{RateLimit, RedisLimiter};

const PER_CLIENT: usize = 4000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["plain"] => fleet(None, 0),
        ["plain", ms] => fleet(None, ms.parse().expect("a latency in ms")),
        ["trace"] => trace(0),
        ["trace", ms] => trace(ms.parse().expect("a latency in ms")),
        ["redis", url] => fleet(Some(url), 0),
        ["permit", url] => permit(url),
        _ => eprintln!("usage: fleet plain [MS] | fleet redis URL | fleet permit URL"),
    }
}

/// The emulator allowing 100 calls/s of follow_add, the accounts to follow
/// and the four clients' own.
fn setup() -> (Emulator, Vec<String>, Vec<String>) {
    let emu = Emulator::builder()
        .rate_limit(Some(100), 60007)
        .max_following(PER_CLIENT)
        .start()
        .unwrap();
    let targets: Vec<String> = (0..PER_CLIENT).map(|i| format!("t{i:05}")).collect();
    emu.import_accounts(&targets);
    let sources: Vec<String> = (0..4).map(|i| format!("src{i}")).collect();
    emu.import_accounts(&sources);
    (emu, targets, sources)
}

/// Prints: requests sent, rate-limit answers, wall time, busiest second.
fn fleet(redis: Option<&str>, ms: u64) {
    let (emu, targets, sources) = setup();
    if ms > 0 {
        let d = Duration::from_millis(ms);
        emu.set_random_latency(d.mul_f64(0.8), d.mul_f64(1.2));
    }
    let started = Instant::now();
    std::thread::scope(|s| {
        for from in &sources {
            let (emu, targets) = (&emu, &targets);
            s.spawn(move || {
                let mut b = emu.client_builder();
                if let Some(url) = redis {
                    b = b.rate_limiter(Arc::new(
                        RedisLimiter::new(url, emu.sdkappid(), 100.0).unwrap(),
                    ));
                }
                let out = b.build().unwrap().follow_add(from, targets).unwrap();
                assert!(out.all_applied());
                if std::env::var_os("FLEET_TRACE").is_some() {
                    eprintln!("{from} done at {:.2} s", started.elapsed().as_secs_f64());
                }
            });
        }
    });
    let took = started.elapsed().as_secs_f64();
    let log = emu.requests();
    let limited = log.iter().filter(|r| r.error_code == Some(60007)).count();
    let mut times: Vec<Duration> = log.iter().map(|r| r.at).collect();
    times.sort();
    let (mut busiest, mut start) = (0, 0);
    for end in 0..times.len() {
        while times[end] - times[start] >= Duration::from_secs(1) {
            start += 1;
        }
        busiest = busiest.max(end - start + 1);
    }
    println!("{} {limited} {took:.2} {busiest}", log.len());
}

/// The plain fleet with each client's pace printed every 250 ms (to tune
/// adaptive pacing): time, then per client its pace and calls accepted so far.
fn trace(ms: u64) {
    use tim_follow::{Adaptive, LocalLimiter};
    let (emu, targets, sources) = setup();
    if ms > 0 {
        let d = Duration::from_millis(ms);
        emu.set_random_latency(d.mul_f64(0.8), d.mul_f64(1.2));
    }
    let limiters: Vec<Arc<Adaptive<LocalLimiter>>> = (0..4)
        .map(|_| Arc::new(Adaptive::new(LocalLimiter::new(200.0))))
        .collect();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for (from, limiter) in sources.iter().zip(&limiters) {
            let (emu, targets, done) = (&emu, &targets, &done);
            s.spawn(move || {
                let client = emu
                    .client_builder()
                    .adaptive_pacing(false)
                    .rate_limiter(limiter.clone())
                    .build()
                    .unwrap();
                assert!(client.follow_add(from, targets).unwrap().all_applied());
                eprintln!("{from} done at {:.2} s", started.elapsed().as_secs_f64());
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
        while done.load(std::sync::atomic::Ordering::SeqCst) < 4
            && started.elapsed() < Duration::from_secs(30)
        {
            std::thread::sleep(Duration::from_millis(250));
            let log = emu.requests();
            let line: Vec<String> = sources
                .iter()
                .zip(&limiters)
                .map(|(src, l)| {
                    let ok = log
                        .iter()
                        .filter(|r| r.error_code == Some(0) && r.body.contains(src.as_str()))
                        .count();
                    let all = log.iter().filter(|r| r.body.contains(src.as_str())).count();
                    format!("{:6.1}/{ok:3}/{all:4}", l.pace("follow/follow_add"))
                })
                .collect();
            eprintln!("{:5.2} {}", started.elapsed().as_secs_f64(), line.join(" "));
        }
    });
}

/// Prints the median and 99th percentile of one permit, in µs.
fn permit(url: &str) {
    let limiter = RedisLimiter::new(url, 1, 1e6).unwrap();
    let mut micros: Vec<f64> = (0..10_000)
        .map(|i| {
            let t = Instant::now();
            std::hint::black_box(limiter.acquire(if i % 2 == 0 { "a" } else { "b" }));
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    micros.sort_by(f64::total_cmp);
    println!(
        "{:.1} {:.1}",
        micros[micros.len() / 2],
        micros[micros.len() * 99 / 100]
    );
}

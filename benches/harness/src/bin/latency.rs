//! The latency table: batch, job, purge and export at 20–500 ms per call
//! (±20 % jitter), with the requests in flight following the latency
//! (default settings) and with a fixed count (16, as in version 0.2).
//!
//! - `latency table [--quick]`: runs every case in a process of its own
//!   and prints the Markdown section;
//! - `latency case OP MODE MS`: one case (`OP` batch|job|purge|export,
//!   `MODE` adaptive|fixed16); prints `seconds floor peak requests
//!   throttled peak-RSS-KiB`; with `LATENCY_TRACE=1` it also prints, on
//!   stderr, each endpoint's arrivals per 250 ms (how the start ramps up).
//!
//! Each case runs against an in-process emulator with the 200 calls/s limit
//! of the service (answering 60007 past it); the peak in flight is what the
//! emulator saw; peak RSS (`VmHWM`) is that of the whole process, emulator
//! included.

use std::time::{Duration, Instant};

use tim_follow::job::{self, Job, JobInput};
use tim_follow::testkit::Emulator;
use tim_follow::Client;

const ACCOUNTS: usize = 4000;
/// Export: this many accounts, each with 10 followed and 10 fans.
const EXPORTED: usize = 40;
/// Purge: the purged account follows this many and has this many fans.
const PURGE_FOLLOWING: usize = 1000;
const PURGE_FANS: usize = 150;
const LATENCIES: [u64; 5] = [20, 50, 150, 300, 500];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("case") if args.len() >= 4 => {
            let ms: u64 = args[3].parse().expect("a latency in ms");
            let n = args
                .get(4)
                .map_or(ACCOUNTS, |n| n.parse().expect("a count"));
            case(&args[1], &args[2], ms, n);
        }
        Some("table") => table(args.iter().any(|a| a == "--quick")),
        _ => eprintln!("usage: latency table [--quick] | latency case OP adaptive|fixed16 MS"),
    }
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:05}")).collect()
}

fn client(emu: &Emulator, mode: &str, op: &str) -> Client {
    let b = emu.client_builder();
    match (mode, op) {
        ("adaptive", _) => b,
        ("cap16", _) => b.concurrency(16),
        // Version 0.2 listed the accounts of an export one at a time.
        ("fixed16", "export") => b.concurrency(1).adaptive_concurrency(false),
        ("fixed16", _) => b.concurrency(16).adaptive_concurrency(false),
        _ => panic!("mode adaptive|fixed16"),
    }
    .build()
    .unwrap()
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

/// One case: prints `seconds floor peak requests throttled rss`.
fn case(op: &str, mode: &str, ms: u64, accounts: usize) {
    let emu = Emulator::builder()
        .rate_limit(Some(200), 60007)
        .max_following(100_000)
        .start()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("tim-follow-latency-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let targets = ids("t", accounts.max(PURGE_FOLLOWING + PURGE_FANS));
    // Setup first, at no latency.
    let floor = match op {
        "batch" | "job" => {
            emu.import_accounts(&["me"]);
            emu.import_accounts(&targets);
            (accounts / 20) as f64 / 200.0
        }
        "purge" => {
            emu.import_accounts(&["p"]);
            emu.import_accounts(&targets);
            for t in &targets[..PURGE_FOLLOWING] {
                emu.seed_follow("p", t);
            }
            for t in &targets[PURGE_FOLLOWING..PURGE_FOLLOWING + PURGE_FANS] {
                emu.seed_follow(t, "p");
            }
            // The deletes: 20 followed a request, one request a fan.
            (PURGE_FOLLOWING / 20 + PURGE_FANS) as f64 / 200.0
        }
        "export" => {
            let accounts = ids("a", EXPORTED);
            emu.import_accounts(&accounts);
            emu.import_accounts(&targets[..20]);
            for a in &accounts {
                for t in &targets[..10] {
                    emu.seed_follow(a, t);
                }
                for t in &targets[10..20] {
                    emu.seed_follow(t, a);
                }
            }
            // Two follow_get calls an account.
            (2 * EXPORTED) as f64 / 200.0
        }
        _ => panic!("op batch|job|purge|export"),
    };
    let c = client(&emu, mode, op);
    let d = Duration::from_millis(ms);
    emu.set_random_latency(d.mul_f64(0.8), d.mul_f64(1.2));
    emu.clear_requests();
    emu.reset_peak_in_flight();
    let start = Instant::now();
    match op {
        "batch" => {
            let out = c.follow_add("me", &targets).unwrap();
            assert_eq!(out.applied().count(), accounts);
        }
        "job" => {
            let input = dir.join("ids.txt");
            std::fs::write(&input, targets.join("\n") + "\n").unwrap();
            let s = Job::follow("me", JobInput::file(&input))
                .journal(dir.join("job.journal"))
                .run(&c, |_| {})
                .unwrap();
            assert!(s.complete && s.applied == accounts as u64, "{s:?}");
        }
        "purge" => {
            let s = Job::purge("p")
                .journal(dir.join("purge.journal"))
                .run(&c, |_| {})
                .unwrap();
            assert!(s.complete, "{s:?}");
            assert!(emu.following("p").is_empty() && emu.fans("p").is_empty());
        }
        "export" => {
            let mut out = Vec::new();
            let s = job::export(&c, ids("a", EXPORTED), &mut out, |_| {}).unwrap();
            assert_eq!(s.relations, (EXPORTED * 20) as u64);
        }
        _ => unreachable!(),
    }
    let took = start.elapsed().as_secs_f64();
    let log = emu.requests();
    let throttled = log.iter().filter(|r| r.error_code == Some(60007)).count();
    if std::env::var_os("LATENCY_TRACE").is_some() {
        let t0 = log.iter().map(|r| r.at).min().unwrap_or_default();
        let mut paths: Vec<&str> = log.iter().map(|r| r.path.as_str()).collect();
        paths.sort_unstable();
        paths.dedup();
        for p in paths {
            let mut bins = vec![0usize; 1 + (took * 4.0) as usize];
            for r in log.iter().filter(|r| r.path == p) {
                let b = ((r.at - t0).as_secs_f64() * 4.0) as usize;
                if let Some(x) = bins.get_mut(b) {
                    *x += 1;
                }
            }
            eprintln!("{p}: per 250 ms {bins:?}");
        }
    }
    println!(
        "{took:.3} {floor:.3} {} {} {throttled} {}",
        emu.peak_in_flight(),
        log.len(),
        peak_rss_kib()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn table(quick: bool) {
    let me = std::env::current_exe().unwrap();
    let run_n = |op: &str, mode: &str, ms: u64, n: usize| -> Vec<f64> {
        let out = std::process::Command::new(&me)
            .args(["case", op, mode, &ms.to_string(), &n.to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect()
    };
    let run = |op: &str, mode: &str, ms: u64| run_n(op, mode, ms, ACCOUNTS);
    // The batch and the job on the default (adaptive) client over
    // `accounts`, a row for each latency (ms).
    let adaptive_table = |latencies: &[u64], accounts: usize| {
        println!("| operation | latency | time (vs floor) | peak in flight | rate-limit answers | peak RSS |");
        println!("|---|---:|---:|---:|---:|---:|");
        for op in ["batch", "job"] {
            for &ms in latencies {
                let r = run_n(op, "adaptive", ms, accounts);
                println!(
                    "| {op} | {ms} ms | {:.2} s ({:.2}×) | {} | {} | {:.1} MiB |",
                    r[0],
                    r[0] / r[1],
                    r[2],
                    r[4],
                    r[5] / 1024.0
                );
            }
        }
    };
    let latencies: &[u64] = if quick { &[20, 300] } else { &LATENCIES };
    println!("### 3b. Latency: requests in flight that follow it\n");
    println!(
        "Against the emulator with the service's 200 calls/s limit, each answer delayed by the \
         latency ±20 % (uniform): a batch `follow_add` of {ACCOUNTS} accounts (200 requests), a \
         journaled follow job of the same {ACCOUNTS} (default settings: each request's accounts \
         read first with `follow_check`, on its own budget), a journaled purge of an account \
         following {PURGE_FOLLOWING} with {PURGE_FANS} fans (200 deletes; its listings are \
         sequential pages, not in the floor) and an export of {EXPORTED} accounts with 10 followed \
         and 10 fans each ({} `follow_get` calls). The floor is the calls of the busiest endpoint \
         at 200/s. *Fixed 16* is `.concurrency(16).adaptive_concurrency(false)`: version 0.2's \
         16 workers (its export listed one account at a time: `.concurrency(1)`). *Adaptive* is \
         the default client. Peak in flight is the most requests the emulator handled at once; \
         peak RSS is the whole process's (`VmHWM`, emulator included). Each case runs in a \
         process of its own; {ACCOUNTS} accounts rather than 20,000 to keep the fixed-16 runs at \
         500 ms short.\n",
        2 * EXPORTED
    );
    println!("| operation | latency | fixed 16: time (vs floor) | peak in flight | adaptive: time (vs floor) | peak in flight | rate-limit answers | peak RSS |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut rss = Vec::new();
    for op in ["batch", "job", "purge", "export"] {
        for &ms in latencies {
            let before = run(op, "fixed16", ms);
            let after = run(op, "adaptive", ms);
            println!(
                "| {op} | {ms} ms | {:.2} s ({:.2}×) | {} | {:.2} s ({:.2}×) | {} | {} | {:.1} MiB |",
                before[0],
                before[0] / before[1],
                before[2],
                after[0],
                after[0] / after[1],
                after[2],
                after[4],
                after[5] / 1024.0
            );
            rss.push((op, ms, after[5]));
        }
    }
    if !quick {
        println!(
            "\nThe same batch and job over 20,000 accounts (1,000 requests of each endpoint, \
             floor 5 s), adaptive only (the default client), where the ramp at the start and \
             the last answers weigh less:\n"
        );
        adaptive_table(&[20, 50, 150, 300, 500], 20_000);
    }
    if !quick {
        println!(
            "\nA call's last latency (and for the job the first read's) is a fixed cost; \
             the limiter spaces calls 2 % under the limit, so 1,000 calls span 5.1 s. \
             Over 20,000 accounts the least a batch can take is that plus one latency \
             (1.12× at 500 ms; the jitter's slowest last answer adds up to a fifth \
             of a latency), and a job that reads each request first plus two \
             (1.22× at 500 ms, 1.14× at 300 ms). Over 100,000 accounts (5,000 requests \
             of each endpoint, floor 25 s) these costs weigh a fifth as much:\n"
        );
        adaptive_table(&[300, 500], 100_000);
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "\nLoad average at the end: {} (on a machine running anything else, read \
         the ratios as of that load).",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let batch_rss = |ms| {
        rss.iter()
            .find(|r| r.0 == "batch" && r.1 == ms)
            .map(|r| r.2)
    };
    if let (Some(lo), Some(hi)) = (batch_rss(20), batch_rss(*latencies.last().unwrap())) {
        println!(
            "\nPeak RSS of the adaptive batch at {} ms is {:.2}× that at 20 ms (target ≤ 2×).",
            latencies.last().unwrap(),
            hi / lo
        );
    }
}

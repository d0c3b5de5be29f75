//! The pairs benchmark:
//!
//! - `pairs gen N FROMS OUT`: writes N distinct `FROM TO` pairs, N / FROMS
//!   targets for each of FROMS accounts, in a scattered order (the pair
//!   numbers permuted by `i → (i·A + B) mod N`, A prime to N): no two
//!   consecutive lines share their `FROM`;
//! - `pairs plan IN DIR`: plans the job of IN as a job does before its first
//!   request (reads it whole, sorts it with its runs spilled in DIR, counts
//!   its requests, reads them once more), sends nothing; prints
//!   `pairs requests runs spilled-bytes seconds`;
//! - `pairs run IN URL DIR`: runs the follow job of IN, journaled in DIR
//!   without the read first, against the emulator at URL (`job serve`);
//!   prints `pairs requests-sent seconds`.
//!
//! `benches/pairs.sh` runs them under `/usr/bin/time -v` for peak RSS.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use tim_follow::job::{self, Job, JobInput, Operation};
use tim_follow::testkit;
use tim_follow::Client;

/// The permutation's multiplier: a prime (2,654,435,761), so prime to any N
/// that it does not divide.
const A: u64 = 2_654_435_761;
const B: u64 = 12_345;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("gen") => gen(&args[1..]),
        Some("plan") => plan(&args[1..]),
        Some("run") => run(&args[1..]),
        _ => eprintln!("usage: pairs gen N FROMS OUT | pairs plan IN DIR | pairs run IN URL DIR"),
    }
}

fn gen(args: &[String]) {
    let [n, froms, out] = args else {
        panic!("pairs gen N FROMS OUT");
    };
    let (n, froms): (u64, u64) = (n.parse().expect("N"), froms.parse().expect("FROMS"));
    assert!(n % A != 0 && n % froms == 0);
    let mut f = std::io::BufWriter::new(std::fs::File::create(out).unwrap());
    for i in 0..n {
        let k = ((i as u128 * A as u128 + B as u128) % n as u128) as u64;
        let (from, to) = (k % froms, k / froms);
        writeln!(f, "acct_{from:07} acct_{:07}", froms + to).unwrap();
    }
    f.flush().unwrap();
}

fn plan(args: &[String]) {
    let [input, dir] = args else {
        panic!("pairs plan IN DIR");
    };
    let journal = Path::new(dir).join("pairs.journal");
    let started = Instant::now();
    let report = job::plan_pairs_file(Path::new(input), &journal, None).expect("the plan");
    println!(
        "{} {} {} {} {:.2}",
        report.pairs,
        report.requests,
        report.runs,
        report.spilled_bytes,
        started.elapsed().as_secs_f64()
    );
}

fn run(args: &[String]) {
    let [input, url, dir] = args else {
        panic!("pairs run IN URL DIR");
    };
    let client = Client::builder(testkit::DEFAULT_SDKAPPID, testkit::DEFAULT_ADMIN)
        .base_url(url)
        .secret_key(testkit::DEFAULT_SECRET_KEY)
        .no_rate_limit()
        .build()
        .unwrap();
    let journal = Path::new(dir).join("pairs-run.journal");
    let _ = std::fs::remove_file(&journal);
    let started = Instant::now();
    let summary = Job::pairs(Operation::Follow, JobInput::file(input))
        .journal(&journal)
        .check_first(false)
        .run(&client, |_| {})
        .expect("the job runs");
    let secs = started.elapsed().as_secs_f64();
    assert!(summary.complete, "{summary:?}");
    assert_eq!(summary.applied, summary.total);
    println!("{} {} {secs:.2}", summary.total, summary.requests_sent);
}

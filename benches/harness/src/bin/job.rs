//! The long-job benchmark's two processes:
//!
//! - `job serve`: an emulator where every account exists, no rate limit;
//!   prints its URL, serves until stdin closes;
//! - `job run N journal|read-first|plain|journal-cap URL DIR`: unfollows N
//!   accounts from one source as a job (journaled without or with a read
//!   before each request, or not journaled) on 16 requests in flight, or
//!   (`journal-cap`) journaled on the default cap, prints accounts per
//!   second;
//! - `job serve-export N`: an emulator where `me` has N fans;
//! - `job export URL OUT`: exports `me` to the snapshot OUT, prints the
//!   relations and the seconds.
//!
//! `benches/run.sh` runs the jobs and exports under `/usr/bin/time -v` for
//! peak RSS.

use std::io::{BufRead, Write};
use std::time::Instant;

use tim_follow::job::{Job, JobInput};
use tim_follow::testkit::{self, Emulator};
use tim_follow::Client;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => serve(),
        Some("run") => run(&args[1..]),
        Some("serve-export") => serve_export(&args[1..]),
        Some("export") => export(&args[1..]),
        _ => eprintln!(
            "usage: job serve | job run N journal|read-first|plain|journal-cap URL DIR | job serve-export N | job export URL OUT"
        ),
    }
}

fn serve() {
    let emu = Emulator::builder()
        .open_accounts(true)
        .rate_limit(None, 60007)
        // The read-first run follows 1,000,000 accounts.
        .max_following(2_000_000)
        .start()
        .expect("emulator starts");
    serve_until_stdin_closes(&emu);
}

/// Prints the emulator's URL, then serves until stdin closes.
fn serve_until_stdin_closes(emu: &Emulator) {
    println!("{}", emu.base_url());
    std::io::stdout().flush().unwrap();
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
    }
}

fn serve_export(args: &[String]) {
    let n: usize = args.first().and_then(|n| n.parse().ok()).expect("N");
    let emu = Emulator::builder()
        .open_accounts(true)
        .rate_limit(None, 60007)
        .start()
        .expect("emulator starts");
    for i in 0..n {
        emu.seed_follow(&format!("fan_{i:07}"), "me");
    }
    serve_until_stdin_closes(&emu);
}

/// A client of the emulator at `url`, its rate limit off. With no rate
/// limit the in-flight target is the cap: `concurrency` sets it (`None`:
/// the default cap).
fn client_for(url: &str, concurrency: Option<usize>) -> Client {
    let mut builder = Client::builder(testkit::DEFAULT_SDKAPPID, testkit::DEFAULT_ADMIN)
        .base_url(url)
        .secret_key(testkit::DEFAULT_SECRET_KEY)
        .no_rate_limit();
    if let Some(n) = concurrency {
        builder = builder.concurrency(n);
    }
    builder.build().unwrap()
}

fn export(args: &[String]) {
    let [url, out] = args else {
        panic!("job export URL OUT");
    };
    let client = client_for(url, None);
    let file = std::io::BufWriter::new(std::fs::File::create(out).unwrap());
    let started = Instant::now();
    let summary = tim_follow::job::export(&client, ["me"], file, |_| {}).expect("the export runs");
    println!(
        "{} {:.2}",
        summary.relations,
        started.elapsed().as_secs_f64()
    );
}

fn run(args: &[String]) {
    let [n, mode, url, dir] = args else {
        panic!("job run N journal|read-first|plain|journal-cap URL DIR");
    };
    let n: usize = n.parse().expect("N");
    let dir = std::path::Path::new(dir);
    let input = dir.join(format!("ids-{n}.txt"));
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
        for i in 0..n {
            writeln!(f, "acct_{i:07}").unwrap();
        }
    }
    // 16 in flight, as version 0.2's workers: the job machinery measured
    // alone; `journal-cap` shows what the default cap costs.
    let client = client_for(url, (mode != "journal-cap").then_some(16));
    // Read first, an unfollow of accounts not followed would send nothing:
    // that mode follows them instead (none is followed then, as each round's
    // unfollows run before it), so that every account is read and sent.
    let mut job = match mode.as_str() {
        "read-first" => Job::follow("me", JobInput::file(&input)),
        _ => Job::unfollow("me", JobInput::file(&input)),
    };
    if mode == "journal" || mode == "journal-cap" || mode == "read-first" {
        let journal = dir.join(format!("job-{n}.journal"));
        let _ = std::fs::remove_file(&journal);
        // `journal`: the writes alone (a `sending` and a `done` line each);
        // `read-first`: the default, a follow_check before each request.
        job = job.journal(journal).check_first(mode == "read-first");
    }
    let started = Instant::now();
    let summary = job.run(&client, |_| {}).expect("the job runs");
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(summary.applied, n as u64);
    assert_eq!(summary.in_place, 0, "every account sent");
    println!("{n} {mode} {secs:.2} {:.0}", n as f64 / secs);
}

//! Unfollows every account listed in a file, with progress, at Tencent's rate.
//!
//! ```text
//! cargo run --release --example bulk -- --from UserID_001 ids.txt      # credentials from the environment
//! cargo run --release --example bulk -- --emulator                     # 10,000 made-up ids, offline, 50 ms latency
//! ```
//!
//! The file has one account id per line (blank lines and `#` comments are
//! skipped). Accounts whose outcome is unknown are written to `FILE.retry`, so
//! that the same command can be run again on them.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tim_follow::testkit::Emulator;
use tim_follow::{Client, FollowDelete};

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut from = "UserID_001".to_string();
    let mut file = None;
    let mut offline = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--from" => from = args.next().ok_or("--from needs an account")?,
            "--emulator" => offline = true,
            path => file = Some(path.to_string()),
        }
    }

    let ids: Vec<String> = match &file {
        Some(path) => std::io::BufReader::new(std::fs::File::open(path)?)
            .lines()
            .map(|l| l.map(|l| l.trim().to_string()))
            .filter(|l| {
                l.as_ref()
                    .map(|l| !l.is_empty() && !l.starts_with('#'))
                    .unwrap_or(true)
            })
            .collect::<Result<_, _>>()?,
        None if offline => (0..10_000).map(|i| format!("user_{i:05}")).collect(),
        None => return Err("give a file of account ids, or --emulator".into()),
    };

    let emu;
    let client = if offline {
        emu = Emulator::start()?;
        for id in &ids {
            emu.seed_follow(&from, id);
        }
        emu.set_latency(Some(Duration::from_millis(50)));
        println!(
            "emulator: {} follows set up, 50 ms per call, 200 calls/s per API",
            ids.len()
        );
        emu.client()
    } else {
        Client::from_env()?
    };

    let started = Instant::now();
    let out = client.batch_with_progress::<FollowDelete, _>(&from, &ids, |p| {
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{:>6}/{} unfollowed, {} failed, {:.1} s ",
            p.done,
            p.total,
            p.failed,
            started.elapsed().as_secs_f64()
        );
        if p.done == p.total {
            let _ = writeln!(err);
        }
    })?;
    let took = started.elapsed();
    println!(
        "{} account{} in {:.2} s ({} request{}): {} applied, {} refused, {} unknown",
        out.len(),
        if out.len() == 1 { "" } else { "s" },
        took.as_secs_f64(),
        out.requests(),
        if out.requests() == 1 { "" } else { "s" },
        out.applied().count(),
        out.refused().count(),
        out.unknown().count()
    );
    for (account, e) in out.refused().take(10) {
        println!("  refused {account}: {} {}", e.code, e.info);
    }
    let unknown: Vec<&str> = out.unknown().map(|(a, _)| a).collect();
    if !unknown.is_empty() {
        let path = format!("{}.retry", file.as_deref().unwrap_or("bulk"));
        std::fs::write(&path, unknown.join("\n") + "\n")?;
        println!(
            "{} unknown accounts written to {path}; run again on it",
            unknown.len()
        );
    }
    Ok(if out.all_applied() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

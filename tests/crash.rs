//! A journaled job killed with SIGKILL at random moments and resumed each
//! time: in the end the graph is the wanted one, every account is counted
//! once, and no more requests were sent than the job's own plus those in
//! flight at each kill.
//!
//! The binary plays three parts: run by `cargo test`, it is the test; with
//! `TIM_FOLLOW_CRASH_ROLE=emulator` it serves the emulator (in a process of
//! its own, so that it outlives the job); with `TIM_FOLLOW_CRASH_ROLE=job` it
//! runs the job. Everything listens on 127.0.0.1 and every wait is bounded.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use tim_follow::job::{self, Job, JobInput};
use tim_follow::testkit::{self, Emulator};
use tim_follow::Client;

const ROLE: &str = "TIM_FOLLOW_CRASH_ROLE";
const ACCOUNTS: usize = 20_000;
const KILLS: usize = 6;
const WORKERS: usize = 2;

fn main() {
    match std::env::var(ROLE).as_deref() {
        Ok("emulator") => serve_emulator(),
        Ok("job") => run_job(),
        _ => {
            let started = Instant::now();
            a_job_killed_at_random_moments_loses_nothing_and_counts_once();
            println!(
                "test crash::a_job_killed_at_random_moments_loses_nothing_and_counts_once ... ok ({:.1} s)",
                started.elapsed().as_secs_f64()
            );
            println!("1 passed, 0 failed");
        }
    }
}

fn ids() -> Vec<String> {
    (0..ACCOUNTS).map(|i| format!("acct_{i:05}")).collect()
}

/// The emulator's part: serve until stdin closes; answer `count PATH`.
fn serve_emulator() {
    let emu = Emulator::builder()
        .rate_limit(None, 60007)
        .max_following(ACCOUNTS)
        .start()
        .expect("emulator starts");
    emu.import_accounts(&["me"]);
    emu.import_accounts(&ids());
    emu.set_latency(Some(Duration::from_millis(8)));
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening {}", emu.base_url()).unwrap();
    out.flush().unwrap();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if let Some(path) = line.strip_prefix("count ") {
            writeln!(out, "{}", emu.request_count(path)).unwrap();
            out.flush().unwrap();
        }
    }
}

/// The job's part: run (or continue) the journaled job, print its summary.
fn run_job() {
    let var = |k: &str| std::env::var(k).expect(k);
    let client = client(&var("CRASH_BASE_URL"));
    let summary = Job::follow("me", JobInput::file(var("CRASH_INPUT")))
        .journal(var("CRASH_JOURNAL"))
        .run(&client, |_| {})
        .expect("the job runs");
    println!(
        "summary {} {} {} {} {}",
        summary.total, summary.applied, summary.refused, summary.unknown, summary.complete
    );
}

fn client(base_url: &str) -> Client {
    Client::builder(testkit::DEFAULT_SDKAPPID, testkit::DEFAULT_ADMIN)
        .base_url(base_url)
        .secret_key(testkit::DEFAULT_SECRET_KEY)
        .concurrency(WORKERS)
        .no_rate_limit()
        .build()
        .expect("client builds")
}

/// The emulator process, its stdin (to ask) and its stdout (to read).
struct EmulatorProcess {
    child: Child,
    ask: ChildStdin,
    answers: BufReader<ChildStdout>,
    base_url: String,
}

impl EmulatorProcess {
    fn start() -> EmulatorProcess {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(ROLE, "emulator")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the emulator process starts");
        let ask = child.stdin.take().unwrap();
        let mut answers = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        answers.read_line(&mut first).unwrap();
        let base_url = first
            .trim()
            .strip_prefix("listening ")
            .expect("the emulator says where it listens")
            .to_string();
        EmulatorProcess {
            child,
            ask,
            answers,
            base_url,
        }
    }

    fn count(&mut self, path: &str) -> usize {
        writeln!(self.ask, "count {path}").unwrap();
        let mut line = String::new();
        self.answers.read_line(&mut line).unwrap();
        line.trim().parse().expect("a count")
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn job_process(base_url: &str, input: &Path, journal: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .env(ROLE, "job")
        .env("CRASH_BASE_URL", base_url)
        .env("CRASH_INPUT", input)
        .env("CRASH_JOURNAL", journal)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the job process starts")
}

/// A small generator for the kill moments (xorshift, seeded from the clock).
struct Moments(u64);

impl Moments {
    fn next_ms(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + self.0 % (hi - lo)
    }
}

fn a_job_killed_at_random_moments_loses_nothing_and_counts_once() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("crash");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("ids.txt");
    std::fs::write(&input, ids().join("\n") + "\n").unwrap();
    let journal = dir.join("job.journal");
    let mut emu = EmulatorProcess::start();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("kill moments seeded with {seed}");
    let mut moments = Moments(seed);

    for kill in 0..KILLS {
        let mut child = job_process(&emu.base_url, &input, &journal);
        std::thread::sleep(Duration::from_millis(moments.next_ms(150, 450)));
        assert!(
            child.try_wait().unwrap().is_none(),
            "kill {kill}: the job ended before it could be killed"
        );
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let status = job::status(&journal).expect("the journal reads after a kill");
        assert!(!status.complete, "kill {kill}: {status:?}");
        println!("kill {kill}: {} of {ACCOUNTS} done", status.applied);
    }

    let mut child = job_process(&emu.base_url, &input, &journal);
    let deadline = Instant::now() + Duration::from_secs(120);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "the last run did not finish in time"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success());
    let mut out = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut out)
        .unwrap();
    assert_eq!(
        out.trim(),
        format!("summary {ACCOUNTS} {ACCOUNTS} 0 0 true")
    );

    // Every account once in the journal.
    let status = job::status(&journal).unwrap();
    assert_eq!(
        (status.total, status.applied, status.pending),
        (20_000, 20_000, 0)
    );
    assert!(status.complete);
    // The graph is the wanted one.
    let following: std::collections::HashSet<String> = client(&emu.base_url)
        .follow_get("me", tim_follow::FollowList::Following)
        .map(|e| e.expect("listing").to_account)
        .collect();
    assert_eq!(following, ids().into_iter().collect());
    // Requests: the job's own, plus at most those in flight at each kill.
    let requests = ACCOUNTS.div_ceil(20);
    let sent = emu.count("follow/follow_add");
    let in_flight_per_kill = WORKERS + 1;
    println!("{sent} follow_add requests for a job of {requests}, {KILLS} kills");
    assert!(sent >= requests);
    assert!(
        sent <= requests + KILLS * in_flight_per_kill,
        "{sent} requests sent for {requests}"
    );
}

//! A journaled job (reading first, the default) killed with SIGKILL at
//! random moments and resumed each time, against a service that answers a
//! repeated follow with 0 and against one that answers it 30001: in the end
//! the graph is the wanted one, every account is counted once, none is
//! refused, those followed before are in place, no more requests were sent
//! than the job's own plus one per worker at each kill, and its undo,
//! killed once and resumed, gives the graph back. Then a purge of 300 fans and 50 follows, and its undo
//! killed once and resumed: the graph is the one before the purge. Then a
//! job of shuffled, repeated pairs killed during its sort (before its
//! journal exists) and during its sending: it resumes with the same
//! requests, each relation is made once, and no run of its sort is left.
//!
//! The binary plays three parts: run by `cargo test`, it is the test; with
//! `TIM_FOLLOW_CRASH_ROLE=emulator` it serves the emulator (in a process of
//! its own, so that it outlives the job); with `TIM_FOLLOW_CRASH_ROLE=job` it
//! runs the job. Everything listens on 127.0.0.1 and every wait is bounded.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use tim_follow::job::{self, Job, JobInput};
use tim_follow::testkit::{self, DuplicateAnswer, Emulator};
use tim_follow::Client;

const ROLE: &str = "TIM_FOLLOW_CRASH_ROLE";
const ACCOUNTS: usize = 20_000;
const KILLS: usize = 6;
const WORKERS: usize = 2;
/// The workers of the runs that are not killed: they only need to be quick.
const FINISHING_WORKERS: usize = 8;

fn main() {
    match std::env::var(ROLE).as_deref() {
        Ok("emulator") => serve_emulator(),
        Ok("job") => run_job(),
        Ok("undo") => run_undo(),
        Ok("pairs") => run_pairs(),
        _ => {
            for duplicates in ["apply", "refuse"] {
                let started = Instant::now();
                let mut emu = EmulatorProcess::start(duplicates);
                a_job_killed_at_random_moments_loses_nothing_and_counts_once(&mut emu);
                println!(
                    "test crash::a_job_killed_at_random_moments_loses_nothing_and_counts_once \
                     (repeats answered {duplicates}) ... ok ({:.1} s)",
                    started.elapsed().as_secs_f64()
                );
            }
            let emu = EmulatorProcess::start("apply");
            let started = Instant::now();
            an_undo_of_a_purge_killed_and_resumed_gives_the_graph_back(&emu);
            println!(
                "test crash::an_undo_of_a_purge_killed_and_resumed_gives_the_graph_back ... ok ({:.1} s)",
                started.elapsed().as_secs_f64()
            );
            let mut emu = EmulatorProcess::start("refuse");
            let started = Instant::now();
            a_pairs_job_killed_during_its_sort_and_its_sending_resumes_exact(&mut emu);
            println!(
                "test crash::a_pairs_job_killed_during_its_sort_and_its_sending_resumes_exact ... ok ({:.1} s)",
                started.elapsed().as_secs_f64()
            );
            println!("4 passed, 0 failed");
        }
    }
}

fn ids() -> Vec<String> {
    (0..ACCOUNTS).map(|i| format!("acct_{i:05}")).collect()
}

/// Every tenth account is followed before the job: read first, it is in
/// place, and the undo leaves it.
const FOLLOWED_BEFORE: usize = 10;

/// The emulator's part: serve until stdin closes; answer `count PATH`.
/// `CRASH_DUPLICATES=refuse` answers a repeated follow or unfollow 30001.
fn serve_emulator() {
    let duplicates = match std::env::var("CRASH_DUPLICATES").as_deref() {
        Ok("refuse") => DuplicateAnswer::Refuse(30001),
        _ => DuplicateAnswer::Apply,
    };
    let emu = Emulator::builder()
        .rate_limit(None, 60007)
        .max_following(ACCOUNTS)
        .duplicates(duplicates)
        .start()
        .expect("emulator starts");
    emu.import_accounts(&["me"]);
    emu.import_accounts(&ids());
    for id in ids().iter().step_by(FOLLOWED_BEFORE) {
        emu.seed_follow("me", id);
    }
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
        "summary {} {} {} {} {} {}",
        summary.total,
        summary.applied,
        summary.in_place,
        summary.refused,
        summary.unknown,
        summary.complete
    );
}

/// The undo's part: undo the purge journal (or continue the undo).
fn run_undo() {
    let var = |k: &str| std::env::var(k).expect(k);
    let client = client(&var("CRASH_BASE_URL"));
    let summary = Job::undo(var("CRASH_INPUT"))
        .expect("the purge journal reads")
        .journal(var("CRASH_JOURNAL"))
        .run(&client, |_| {})
        .expect("the undo runs");
    println!(
        "summary {} {} {} {} {}",
        summary.total, summary.applied, summary.refused, summary.unknown, summary.complete
    );
}

/// The pairs job's part: run (or continue) a journaled pairs job sorted
/// in runs of `CRASH_SORT_RUN` pairs.
fn run_pairs() {
    let var = |k: &str| std::env::var(k).expect(k);
    let client = client(&var("CRASH_BASE_URL"));
    let run: usize = var("CRASH_SORT_RUN").parse().expect("a run size");
    let summary = Job::pairs(job::Operation::Follow, JobInput::file(var("CRASH_INPUT")))
        .journal(var("CRASH_JOURNAL"))
        .sort_run(run)
        .run(&client, |_| {})
        .expect("the pairs job runs");
    println!(
        "summary {} {} {} {} {} {}",
        summary.total,
        summary.applied,
        summary.in_place,
        summary.refused,
        summary.unknown,
        summary.complete
    );
}

fn client(base_url: &str) -> Client {
    let workers = std::env::var("CRASH_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(WORKERS);
    client_of(base_url, workers)
}

fn client_of(base_url: &str, workers: usize) -> Client {
    Client::builder(testkit::DEFAULT_SDKAPPID, testkit::DEFAULT_ADMIN)
        .base_url(base_url)
        .secret_key(testkit::DEFAULT_SECRET_KEY)
        .concurrency(workers)
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
    fn start(duplicates: &str) -> EmulatorProcess {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(ROLE, "emulator")
            .env("CRASH_DUPLICATES", duplicates)
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
    job_process_with(base_url, input, journal, WORKERS)
}

fn job_process_with(base_url: &str, input: &Path, journal: &Path, workers: usize) -> Child {
    let mut command = role_command("job", base_url, input, journal);
    command.env("CRASH_WORKERS", workers.to_string());
    command.spawn().expect("the job process starts")
}

fn role_process(role: &str, base_url: &str, input: &Path, journal: &Path) -> Child {
    role_command(role, base_url, input, journal)
        .spawn()
        .expect("the job process starts")
}

fn role_command(role: &str, base_url: &str, input: &Path, journal: &Path) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .env(ROLE, role)
        .env("CRASH_BASE_URL", base_url)
        .env("CRASH_INPUT", input)
        .env("CRASH_JOURNAL", journal)
        .env_remove("CRASH_WORKERS")
        .stdout(Stdio::piped());
    command
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

fn seeded() -> Moments {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("kill moments seeded with {seed}");
    Moments(seed)
}

/// Waits (bounded) for a child to end; its first stdout line.
fn finish(mut child: Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "the run did not finish in time");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success());
    let mut out = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut out)
        .unwrap();
    out.trim().to_string()
}

fn a_job_killed_at_random_moments_loses_nothing_and_counts_once(emu: &mut EmulatorProcess) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("crash");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("ids.txt");
    std::fs::write(&input, ids().join("\n") + "\n").unwrap();
    let journal = dir.join("job.journal");
    let mut moments = seeded();

    for kill in 0..KILLS {
        let mut child = job_process(&emu.base_url, &input, &journal);
        wait_for_file(&journal);
        std::thread::sleep(Duration::from_millis(moments.next_ms(100, 400)));
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

    let out = finish(job_process_with(
        &emu.base_url,
        &input,
        &journal,
        FINISHING_WORKERS,
    ));
    let before = ACCOUNTS / FOLLOWED_BEFORE;
    assert_eq!(
        out,
        format!("summary {ACCOUNTS} {ACCOUNTS} {before} 0 0 true")
    );

    // Every account once in the journal; none refused, although the
    // requests in flight at each kill made their relations.
    let status = job::status(&journal).unwrap();
    assert_eq!(
        (status.total, status.applied, status.pending, status.refused),
        (20_000, 20_000, 0, 0)
    );
    assert_eq!(
        status.in_place as usize, before,
        "only those followed before"
    );
    assert!(status.complete);
    // The graph is the wanted one.
    let following: HashSet<String> = client(&emu.base_url)
        .follow_get("me", tim_follow::FollowList::Following)
        .map(|e| e.expect("listing").to_account)
        .collect();
    assert_eq!(following, ids().into_iter().collect());
    // Requests: the job's own, plus at most one per worker at each kill
    // (the README's bound): a request in flight has its `sending` line, so
    // a resume reads it back and sends it again only if it was not made.
    let requests = ACCOUNTS.div_ceil(20);
    let sent = emu.count("follow/follow_add");
    println!("{sent} follow_add requests for a job of {requests}, {KILLS} kills");
    assert!(sent >= requests);
    assert!(
        sent <= requests + KILLS * WORKERS,
        "{sent} requests sent for {requests}"
    );

    // The undo, killed once and resumed, unfollows what the job made and
    // leaves what was there.
    let undo = journal.with_extension("undo");
    let mut child = role_command("undo", &emu.base_url, &journal, &undo)
        .env("CRASH_WORKERS", WORKERS.to_string())
        .spawn()
        .expect("the undo process starts");
    wait_for_file(&undo);
    std::thread::sleep(Duration::from_millis(moments.next_ms(100, 400)));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the undo ended before it could be killed"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let status = job::status(&undo).expect("the undo journal reads after a kill");
    assert!(!status.complete, "{status:?}");
    let out = finish(
        role_command("undo", &emu.base_url, &journal, &undo)
            .env("CRASH_WORKERS", FINISHING_WORKERS.to_string())
            .spawn()
            .expect("the undo process starts"),
    );
    let made = ACCOUNTS - before;
    assert_eq!(out, format!("summary {made} {made} 0 0 true"));
    let following: HashSet<String> = client(&emu.base_url)
        .follow_get("me", tim_follow::FollowList::Following)
        .map(|e| e.expect("listing").to_account)
        .collect();
    let was: HashSet<String> = ids().into_iter().step_by(FOLLOWED_BEFORE).collect();
    assert_eq!(following, was, "the graph as before the job");
}

/// Waits (bounded) until a job's journal exists: a kill before it would
/// test nothing. A pairs job writes its journal only after its sort, which
/// in a debug build on a loaded machine can take a minute: the bound is far
/// above that.
fn wait_for_file(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The following list and fans of `account`, as sets.
fn graph(client: &Client, account: &str) -> (HashSet<String>, HashSet<String>) {
    let list = |l| {
        client
            .follow_get(account, l)
            .map(|e| e.expect("listing").to_account)
            .collect::<HashSet<String>>()
    };
    (
        list(tim_follow::FollowList::Following),
        list(tim_follow::FollowList::Fans),
    )
}

fn an_undo_of_a_purge_killed_and_resumed_gives_the_graph_back(emu: &EmulatorProcess) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("crash-undo");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let client = client(&emu.base_url);
    let all = ids();
    let account = all[ACCOUNTS - 1].as_str();
    for fan in &all[10_000..10_300] {
        client.follow(fan, account).expect("a fan follows");
    }
    let followed: Vec<&str> = all[15_000..15_050].iter().map(String::as_str).collect();
    client
        .follow_add(account, &followed)
        .expect("it follows 50");
    let before = graph(&client, account);
    assert_eq!((before.0.len(), before.1.len()), (50, 300), "300 fans");

    let purge = dir.join("purge.journal");
    let purged = Job::purge(account)
        .journal(&purge)
        .run(&client, |_| {})
        .expect("the purge runs");
    assert!(purged.complete, "{purged:?}");
    assert_eq!(graph(&client, account), Default::default());

    let undo = dir.join("undo.journal");
    let mut moments = seeded();
    let child = role_process("undo", &emu.base_url, &purge, &undo);
    wait_for_file(&undo);
    std::thread::sleep(Duration::from_millis(moments.next_ms(100, 400)));
    let mut child = child;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the undo ended before it could be killed"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let status = job::status(&undo).expect("the undo journal reads after a kill");
    println!("undo killed: {} of 350 done", status.applied);
    assert!(!status.complete);
    let out = finish(role_process("undo", &emu.base_url, &purge, &undo));
    assert_eq!(out, "summary 350 350 0 0 true");
    assert_eq!(graph(&client, account), before);
}

/// The sort's runs left in `dir`.
fn sort_runs(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().contains(".sort-"))
                .count()
        })
        .unwrap_or(0)
}

/// 100 accounts each following the same 200 (20,000 relations), every
/// pair 20 times, shuffled: 400,000 lines, sorted in runs of 2,000 pairs
/// (200 runs, merged in passes). Killed once during the sort of the new
/// job (before its journal exists), then at random moments once the
/// journal is there (in a resume's sort or its sending), and resumed.
fn a_pairs_job_killed_during_its_sort_and_its_sending_resumes_exact(emu: &mut EmulatorProcess) {
    const FROMS: usize = 100;
    const TOS: usize = 200;
    const COPIES: usize = 20;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("crash-pairs");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let all = ids();
    let (froms, tos) = (&all[..FROMS], &all[10_000..10_000 + TOS]);
    let mut lines: Vec<String> = (0..COPIES)
        .flat_map(|_| {
            froms
                .iter()
                .flat_map(|f| tos.iter().map(move |t| format!("{f} {t}")))
        })
        .collect();
    let mut moments = seeded();
    // A Fisher-Yates shuffle on the test's own generator.
    for i in (1..lines.len()).rev() {
        let j = moments.next_ms(0, i as u64 + 1) as usize;
        lines.swap(i, j);
    }
    let input = dir.join("pairs.txt");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    drop(lines);
    let journal = dir.join("pairs.journal");
    let base_url = emu.base_url.clone();
    let pairs_process = |workers: usize| {
        role_command("pairs", &base_url, &input, &journal)
            .env("CRASH_WORKERS", workers.to_string())
            .env("CRASH_SORT_RUN", "2000")
            .spawn()
            .expect("the pairs process starts")
    };

    // During the sort of the new job: its first run is on disk, its
    // journal not yet.
    let mut child = pairs_process(WORKERS);
    let deadline = Instant::now() + Duration::from_secs(60);
    while sort_runs(&dir) == 0 {
        assert!(Instant::now() < deadline, "the sort never spilled a run");
        assert!(child.try_wait().unwrap().is_none(), "the job ended first");
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        !journal.exists(),
        "killed during its sort, before its journal"
    );
    let stale = sort_runs(&dir);
    println!("killed during the sort: {stale} runs left");
    assert!(stale > 0);
    assert_eq!(
        emu.count("follow/follow_add"),
        0,
        "nothing sent during the sort"
    );

    for kill in 0..3 {
        let mut child = pairs_process(WORKERS);
        wait_for_file(&journal);
        std::thread::sleep(Duration::from_millis(moments.next_ms(200, 1500)));
        assert!(
            child.try_wait().unwrap().is_none(),
            "kill {kill}: the job ended before it could be killed"
        );
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let status = job::status(&journal).expect("the journal reads after a kill");
        assert!(!status.complete, "kill {kill}: {status:?}");
        println!("pairs kill {kill}: {} of 20000 done", status.applied);
    }

    let out = finish(pairs_process(FINISHING_WORKERS));
    assert_eq!(out, "summary 20000 20000 0 0 0 true", "each relation once");
    assert_eq!(sort_runs(&dir), 0, "no run of the sort is left");
    let status = job::status(&journal).unwrap();
    assert_eq!(
        (status.total, status.applied, status.refused),
        (20_000, 20_000, 0)
    );
    // The grouped requests (200 targets of each FROM: 10 requests), plus
    // at most one per worker at each kill that found the journal.
    let grouped = FROMS * TOS / 20;
    let sent = emu.count("follow/follow_add");
    println!("{sent} follow_add requests for a pairs job of {grouped}, 3 kills");
    assert!(sent >= grouped && sent <= grouped + 3 * WORKERS, "{sent}");
    let client = client(&emu.base_url);
    for f in froms {
        let following: HashSet<String> = client
            .follow_get(f, tim_follow::FollowList::Following)
            .map(|e| e.expect("listing").to_account)
            .collect();
        assert_eq!(following, tos.iter().cloned().collect(), "{f}");
    }
}

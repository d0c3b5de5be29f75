//! Durable jobs: journal, resume, refusals, torn lines, purge.

use super::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tim_follow::job::{self, Job, JobError, JobInput, Operation};
use tim_follow::testkit::Fault;

/// A directory of its own under the target directory, emptied first.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("jobs-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_ids(path: &Path, ids: &[String]) {
    let mut f = std::fs::File::create(path).unwrap();
    for id in ids {
        writeln!(f, "{id}").unwrap();
    }
}

/// Every line of a journal is one whole JSON object.
fn assert_whole_lines(journal: &Path) -> usize {
    let text = std::fs::read_to_string(journal).unwrap();
    assert!(text.ends_with('\n'), "the journal ends with a whole line");
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("a JSON line");
    }
    text.lines().count()
}

#[test]
fn a_journaled_unfollow_job_runs_to_the_end_and_says_so() {
    let dir = scratch("complete");
    let targets = ids("t", 45);
    let emu = emulator_with("me", &targets);
    for t in &targets[..40] {
        emu.seed_follow("me", t);
    }
    let mut input = targets.clone();
    input.push("nobody".into());
    write_ids(&dir.join("ids.txt"), &input);
    let journal = dir.join("job.journal");
    let client = fast_client(&emu);
    let mut calls = 0;
    let summary = Job::unfollow("me", JobInput::file(dir.join("ids.txt")))
        .journal(&journal)
        .run(&client, |p| {
            calls += 1;
            assert!(p.done <= p.total);
        })
        .unwrap();
    assert_eq!(
        (summary.total, summary.applied, summary.refused),
        (46, 45, 1)
    );
    assert_eq!((summary.pending, summary.requests_sent), (0, 3));
    assert!(summary.complete);
    assert_eq!(calls, 3);
    assert!(emu.following("me").is_empty());
    assert_eq!(
        assert_whole_lines(&journal),
        1 + 3,
        "a header and one line per request"
    );
    assert_eq!(job::status(&journal).unwrap().applied, 45);
    let failures: Vec<_> = job::failures(&journal)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(failures.len(), 1);
    assert_eq!(
        (failures[0].account.as_str(), failures[0].refused),
        ("nobody", Some(30003))
    );
    // Done already: resuming sends nothing and says the same.
    let again = Job::resume(&journal).unwrap().run(&client, |_| {}).unwrap();
    assert_eq!(again.requests_sent, 0);
    assert_eq!(
        (again.applied, again.refused, again.complete),
        (45, 1, true)
    );
}

#[test]
fn a_stopped_job_resumes_where_it_stopped_and_counts_every_account_once() {
    let dir = scratch("resume");
    let targets = ids("t", 200);
    let emu = emulator_with("me", &targets);
    write_ids(&dir.join("ids.txt"), &targets);
    let journal = dir.join("job.journal");
    let client = emu.client_builder().concurrency(1).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let first = Job::follow("me", JobInput::file(dir.join("ids.txt")))
        .journal(&journal)
        .stop_when(stop.clone())
        .run(&client, move |p| {
            if p.requests == 4 {
                flag.store(true, Ordering::SeqCst);
            }
        })
        .unwrap();
    assert!(!first.complete);
    // The request the worker had taken when the flag was set finishes too.
    let sent = first.requests_sent;
    assert!((4..=5).contains(&sent), "{sent}");
    assert_eq!((first.applied, first.pending), (20 * sent, 200 - 20 * sent));
    let sent_before = emu.request_count("follow/follow_add");
    let rest = Job::resume(&journal).unwrap().run(&client, |_| {}).unwrap();
    assert!(rest.complete);
    assert_eq!((rest.total, rest.applied), (200, 200));
    assert_eq!(rest.requests_sent, 10 - sent, "only what was not journaled");
    assert_eq!(
        emu.request_count("follow/follow_add") - sent_before,
        10 - sent as usize
    );
    assert_eq!(emu.following("me").len(), 200);
    let status = job::status(&journal).unwrap();
    assert_eq!(
        (status.applied, status.pending, status.complete),
        (200, 0, true)
    );
}

#[test]
fn a_torn_last_line_is_ignored_and_cut_off_on_resume() {
    let dir = scratch("torn");
    let targets = ids("t", 60);
    let emu = emulator_with("me", &targets);
    write_ids(&dir.join("ids.txt"), &targets);
    let journal = dir.join("job.journal");
    let client = fast_client(&emu);
    let stop = Arc::new(AtomicBool::new(true));
    // Stopped before any request: a journal with its header only.
    Job::follow("me", JobInput::file(dir.join("ids.txt")))
        .journal(&journal)
        .stop_when(stop)
        .run(&client, |_| {})
        .unwrap();
    // A crash in the middle of writing request 0's line.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .unwrap();
    f.write_all(br#"{"t":"done","r":0,"applied":["t_000","t_0"#)
        .unwrap();
    drop(f);
    assert_eq!(
        job::status(&journal).unwrap().applied,
        0,
        "the torn line counts for nothing"
    );
    let summary = Job::resume(&journal).unwrap().run(&client, |_| {}).unwrap();
    assert_eq!((summary.applied, summary.requests_sent), (60, 3));
    assert_eq!(assert_whole_lines(&journal), 4);
}

#[test]
fn resuming_another_job_is_refused_before_any_request() {
    let dir = scratch("refuse");
    let targets = ids("t", 30);
    let emu = emulator_with("me", &targets);
    let ids_path = dir.join("ids.txt");
    write_ids(&ids_path, &targets);
    let journal = dir.join("job.journal");
    let client = fast_client(&emu);
    Job::follow("me", JobInput::file(&ids_path))
        .journal(&journal)
        .run(&client, |_| {})
        .unwrap();
    let sent = emu.requests().len();
    let refused = |result: Result<job::JobSummary, JobError>, word: &str| match result {
        Err(JobError::Mismatch(why)) => assert!(why.contains(word), "{word}: {why}"),
        other => panic!("{word}: {other:?}"),
    };
    // Another operation on the same journal.
    refused(
        Job::unfollow("me", JobInput::file(&ids_path))
            .journal(&journal)
            .run(&client, |_| {}),
        "operation",
    );
    // Another source account.
    refused(
        Job::follow("t_001", JobInput::file(&ids_path))
            .journal(&journal)
            .run(&client, |_| {}),
        "account",
    );
    // Another app.
    let other_app = Emulator::builder().sdkappid(1400000001).start().unwrap();
    refused(
        Job::resume(&journal)
            .unwrap()
            .run(&other_app.client(), |_| {}),
        "SDKAppID",
    );
    // A changed input file.
    write_ids(&ids_path, &targets[..29]);
    refused(
        Job::resume(&journal).unwrap().run(&client, |_| {}),
        "changed",
    );
    assert_eq!(emu.requests().len(), sent, "nothing was sent");
}

#[test]
fn an_invalid_line_is_reported_by_number_before_any_request() {
    let dir = scratch("invalid");
    let emu = emulator_with("me", &ids("t", 2));
    let path = dir.join("ids.txt");
    std::fs::write(
        &path,
        "\u{feff}t_000\n# a comment\n\nt_001\nthis-id-is-far-too-long-for-tencent-im\n",
    )
    .unwrap();
    let err = Job::follow("me", JobInput::file(&path))
        .journal(dir.join("j"))
        .run(&fast_client(&emu), |_| {})
        .unwrap_err();
    match err {
        JobError::InvalidInput { line, reason } => {
            assert_eq!(line, 5);
            assert!(reason.contains("bytes"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(emu.requests().is_empty());
    assert!(
        !dir.join("j").exists(),
        "no journal for a job that never started"
    );
}

#[test]
fn pairs_from_an_iterator_run_without_a_journal() {
    let emu = emulator_with("a", &ids("t", 3));
    emu.import_accounts(&["b"]);
    let lines = vec![
        "a t_000".to_string(),
        "a,t_001".into(),
        "b t_000".into(),
        "b nobody".into(),
    ];
    let summary = Job::pairs(Operation::Follow, JobInput::lines(lines))
        .run(&fast_client(&emu), |_| {})
        .unwrap();
    assert_eq!((summary.total, summary.applied, summary.refused), (4, 3, 1));
    assert_eq!(
        emu.request_count("follow/follow_add"),
        2,
        "consecutive pairs share a request"
    );
    assert!(emu.is_following("b", "t_000"));
}

#[test]
fn an_error_that_hits_every_request_stops_the_job() {
    let dir = scratch("fatal");
    let targets = ids("t", 100);
    let emu = emulator_with("me", &targets);
    write_ids(&dir.join("ids.txt"), &targets);
    emu.inject(Fault::ErrorCode(30005), 100);
    let client = emu.client_builder().concurrency(1).build().unwrap();
    let summary = Job::follow("me", JobInput::file(dir.join("ids.txt")))
        .journal(dir.join("j"))
        .run(&client, |_| {})
        .unwrap();
    assert!(!summary.complete);
    assert!(summary
        .stopped_by
        .as_deref()
        .unwrap_or("")
        .contains("30005"));
    assert_eq!(
        emu.request_count("follow/follow_add"),
        1,
        "one request, then stop"
    );
    assert_eq!((summary.unknown, summary.pending), (20, 80));
}

#[test]
fn purge_removes_following_and_fans_and_what_appears_meanwhile() {
    let dir = scratch("purge");
    let others = ids("o", 45);
    let emu = emulator_with("gone", &others);
    emu.import_accounts(&["late"]);
    for o in &others[..25] {
        emu.seed_follow("gone", o);
    }
    for o in &others[20..] {
        emu.seed_follow(o, "gone");
    }
    let journal = dir.join("purge.journal");
    let client = fast_client(&emu);
    let mut seeded = false;
    let summary = Job::purge("gone")
        .journal(&journal)
        .run(&client, |_| {
            // A new fan arrives after the lists were taken.
            if !seeded {
                emu.seed_follow("late", "gone");
                seeded = true;
            }
        })
        .unwrap();
    assert!(summary.complete, "{summary:?}");
    assert!(emu.following("gone").is_empty());
    assert!(emu.fans("gone").is_empty(), "the late fan was removed too");
    assert_eq!(summary.total, 25 + 25 + 1);
    assert_eq!(summary.applied, 51);
    // Requests: following 25 = 2 requests, 25 fans + the late one = 26.
    assert_eq!(summary.requests_sent, 2 + 26);
    let status = job::status(&journal).unwrap();
    assert!(status.complete);
    assert_eq!(status.total, 51);
}

#[test]
fn a_purge_resumes_after_a_stop_without_listing_again() {
    let dir = scratch("purge-resume");
    let others = ids("o", 30);
    let emu = emulator_with("gone", &others);
    for o in &others {
        emu.seed_follow(o, "gone");
    }
    let journal = dir.join("purge.journal");
    let client = emu.client_builder().concurrency(1).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let first = Job::purge("gone")
        .journal(&journal)
        .stop_when(stop)
        .run(&client, move |p| {
            if p.requests == 10 {
                flag.store(true, Ordering::SeqCst);
            }
        })
        .unwrap();
    assert!(!first.complete);
    let left = emu.fans("gone").len() as u64;
    assert_eq!(left, 30 - first.requests_sent);
    assert!((19..=20).contains(&left), "{left}");
    let listings = emu.request_count("follow/follow_get");
    let rest = Job::resume(&journal).unwrap().run(&client, |_| {}).unwrap();
    assert!(rest.complete, "{rest:?}");
    assert!(emu.fans("gone").is_empty());
    assert_eq!(rest.total, 30);
    assert_eq!(rest.applied, 30);
    // Round 0 was not listed again: only the checking listing of round 1 (two lists).
    assert_eq!(emu.request_count("follow/follow_get") - listings, 2);
}

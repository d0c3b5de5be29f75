//! Durable jobs: journal, resume, refusals, torn lines, purge.

use super::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tim_follow::job::{self, Job, JobError, JobInput, Operation, StopReason};
use tim_follow::testkit::Fault;

/// A directory of this module's own, emptied first.
fn scratch(name: &str) -> PathBuf {
    scratch_dir(&format!("jobs-{name}"))
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
        1 + 2 * 3,
        "a header, then a sending line and a done line per request"
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
    assert_eq!(assert_whole_lines(&journal), 1 + 2 * 3);
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
        "a follow of one account's targets, not an unfollow of one account's targets",
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
    match Job::resume(&journal)
        .unwrap()
        .run(&other_app.client(), |_| {})
    {
        Err(JobError::OtherApp {
            made_for: 1400000000,
            credentials: 1400000001,
            ..
        }) => {}
        other => panic!("SDKAppID: {other:?}"),
    }
    assert_eq!(other_app.requests().len(), 0);
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
        "the pairs of one FROM share a request"
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
    match &summary.stopped_by {
        Some(why @ StopReason::Refused(e)) => {
            assert_eq!(e.code(), Some(30005), "{why}");
            assert!(why.to_string().contains("30005"), "{why}");
        }
        other => panic!("{other:?}"),
    }
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

/// A journal line as the writer makes it: the JSON object with the
/// checksum of its bytes as its last field.
fn forged_line(json: &str) -> String {
    let body = json.strip_suffix('}').unwrap();
    let digest = hmac_sha256::Hash::hash(format!("{body}}}").as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{body},\"c\":\"{hex}\"}}\n")
}

fn assert_damaged(result: Result<job::JobSummary, JobError>, what: &str) {
    match result {
        Err(JobError::Journal(msg)) => assert!(msg.contains("damaged journal"), "{what}: {msg}"),
        other => panic!("{what}: {other:?}"),
    }
}

/// A finished 60-account follow job's journal (3 requests).
fn finished_journal(name: &str) -> (PathBuf, tim_follow::testkit::Emulator) {
    let dir = scratch(name);
    let targets = ids("t", 60);
    let emu = emulator_with("me", &targets);
    write_ids(&dir.join("ids.txt"), &targets);
    let journal = dir.join("job.journal");
    let summary = Job::follow("me", JobInput::file(dir.join("ids.txt")))
        .journal(&journal)
        .run(&fast_client(&emu), |_| {})
        .unwrap();
    assert!(summary.complete);
    (journal, emu)
}

#[test]
fn forged_edited_and_out_of_range_lines_are_damage_not_counts() {
    let (journal, emu) = finished_journal("forged");
    let good = std::fs::read_to_string(&journal).unwrap();
    assert_eq!(job::status(&journal).unwrap().applied, 60);
    // A request number beyond the header's 3 requests, checksum and all.
    let cases = [
        (
            "an absurd request number",
            r#"{"t":"done","r":10000000000000000,"applied":["t_000"]}"#,
        ),
        (
            "an absurd round",
            r#"{"t":"done","round":4000000000,"r":1,"applied":["t_000"]}"#,
        ),
        (
            "one request past the end",
            r#"{"t":"done","r":3,"applied":["t_000"]}"#,
        ),
        (
            "a request journaled twice",
            r#"{"t":"done","r":1,"applied":["t_000"]}"#,
        ),
        (
            "a retry of nothing unknown",
            r#"{"t":"done","r":1,"retry":1,"applied":["t_000"]}"#,
        ),
        (
            "a listing in a follow job",
            r#"{"t":"listed","round":0,"list":"fans","ids":["a"]}"#,
        ),
    ];
    for (what, line) in cases {
        std::fs::write(&journal, format!("{good}{}", forged_line(line))).unwrap();
        assert_damaged(job::status(&journal), what);
    }
    // One byte of an account id changed: the checksum finds it.
    let edited = good.replacen("t_001", "t_00X", 1);
    assert_ne!(edited, good);
    std::fs::write(&journal, &edited).unwrap();
    assert_damaged(job::status(&journal), "an edited id");
    // A line without a checksum in a format 2 journal.
    std::fs::write(&journal, format!("{good}{{\"t\":\"done\",\"r\":1}}\n")).unwrap();
    assert_damaged(job::status(&journal), "no checksum");
    // A line over the cap, read no further than the cap.
    std::fs::write(&journal, format!("{good}{}\n", "x".repeat(2 << 20))).unwrap();
    assert_damaged(job::status(&journal), "a 2 MiB line");
    // Damage is reported the same way when a job would continue the journal.
    let err = Job::resume(&journal)
        .unwrap()
        .run(&unreachable_client(&emu), |_| {})
        .unwrap_err();
    assert!(err.to_string().contains("damaged journal"), "{err}");
    // Restored, it reads as before.
    std::fs::write(&journal, &good).unwrap();
    assert_eq!(job::status(&journal).unwrap().applied, 60);
}

#[test]
fn directories_devices_and_endless_files_are_not_journals() {
    let dir = scratch("not-journals");
    assert_damaged(job::status(&dir), "a directory");
    let link = dir.join("full");
    std::os::unix::fs::symlink("/dev/full", &link).unwrap();
    assert_damaged(job::status(&link), "a symlink to /dev/full");
    // The same bytes from a reader: refused after at most the line cap.
    let endless = std::io::repeat(0).take(64 << 20);
    assert!(job::status_of(endless, "zeros").is_err());
    let header_then_zeros = std::io::Read::chain(
        &b"{\"tim_follow_job\":1,\"operation\":\"purge\",\"from\":\"me\",\"sdkappid\":1,\"total\":0,\"requests\":0}\n"[..],
        std::io::repeat(b'z').take(64 << 20),
    );
    assert_damaged(job::status_of(header_then_zeros, "zeros"), "endless line");
}

/// A client of the emulator's app whose every request finds nobody there.
fn unreachable_client(emu: &tim_follow::testkit::Emulator) -> Client {
    Client::builder(emu.sdkappid(), emu.admin())
        .secret_key(emu.secret_key())
        .base_url("http://127.0.0.1:1")
        .allow_insecure_http(true)
        .retry(tim_follow::RetryPolicy::default().base_delay(std::time::Duration::from_millis(5)))
        .build()
        .unwrap()
}

#[test]
fn an_outage_is_not_final_resume_reads_back_then_sends() {
    let dir = scratch("outage");
    let targets = ids("t", 2000);
    let emu = emulator_with("me", &targets);
    write_ids(&dir.join("ids.txt"), &targets);
    let journal = dir.join("job.journal");
    // Without a read first: the writes themselves go unanswered.
    let down = Job::follow("me", JobInput::file(dir.join("ids.txt")))
        .journal(&journal)
        .check_first(false)
        .run(&unreachable_client(&emu), |_| {})
        .unwrap();
    let why = down.stopped_by.clone().expect("stopped: no answer");
    assert!(why.is_no_answer(), "{why:?}");
    assert!(
        why.to_string().starts_with("no answer from the service"),
        "{why}"
    );
    assert!(!down.complete && down.applied == 0 && down.unknown > 0);
    assert!(
        down.requests_sent < 100,
        "it stopped early: {}",
        down.requests_sent
    );
    assert_eq!(down.to_resume, 2000);
    let status = job::status(&journal).unwrap();
    assert_eq!(
        (status.complete, status.to_resume, status.unknown),
        (false, 2000, down.unknown)
    );
    let unknown: std::collections::HashSet<String> = job::failures(&journal)
        .unwrap()
        .map(|f| f.unwrap().account)
        .collect();
    assert_eq!(unknown.len() as u64, down.unknown);
    // The service is back: each unknown account is read back before it is sent.
    let client = fast_client(&emu);
    let back = Job::resume(&journal).unwrap().run(&client, |_| {}).unwrap();
    assert!(back.complete, "{back:?}");
    assert_eq!((back.applied, back.unknown, back.to_resume), (2000, 0, 0));
    assert_eq!(emu.following("me").len(), 2000);
    let mut checked = std::collections::HashSet::new();
    for req in emu.requests() {
        let body: serde_json::Value = serde_json::from_str(&req.body).unwrap();
        // follow_check lists ids; follow_add lists items with an id.
        let to: Vec<String> = match &body["To_Account"] {
            serde_json::Value::Array(ids) => ids.iter().map(|a| a.to_string()).collect(),
            _ => body["FollowItem"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["To_Account"].to_string())
                .collect(),
        };
        let to = to.into_iter().map(|a| a.trim_matches('"').to_string());
        if req.path.ends_with("follow_check") {
            checked.extend(to);
        } else {
            for a in to.filter(|a| unknown.contains(a)) {
                assert!(checked.contains(&a), "{a} sent before it was read back");
            }
        }
    }
    assert!(unknown.iter().all(|a| checked.contains(a)));
    assert_eq!(emu.request_count("follow/follow_add"), 100);
    let status = job::status(&journal).unwrap();
    assert_eq!((status.applied, status.complete), (2000, true));
    assert_eq!(job::failures(&journal).unwrap().count(), 0);
}

#[test]
fn accounts_applied_whose_answer_was_lost_are_proved_by_the_read_back() {
    let dir = scratch("lost-answers");
    let targets = ids("t", 40);
    let emu = emulator_with("me", &targets);
    write_ids(&dir.join("ids.txt"), &targets);
    let journal = dir.join("job.journal");
    // One attempt a request, and every answer lost after the follow is made.
    let once = emu
        .client_builder()
        .retry(tim_follow::RetryPolicy::none())
        .concurrency(1)
        .build()
        .unwrap();
    emu.inject_for("follow/follow_add", Fault::DropAfterProcessing, 2);
    let lost = Job::follow("me", JobInput::file(dir.join("ids.txt")))
        .journal(&journal)
        .run(&once, |_| {})
        .unwrap();
    assert_eq!((lost.applied, lost.unknown, lost.complete), (0, 40, false));
    assert_eq!(emu.following("me").len(), 40, "they were made");
    let adds = emu.request_count("follow/follow_add");
    let checks = emu.request_count("follow/follow_check");
    let back = Job::resume(&journal).unwrap().run(&once, |_| {}).unwrap();
    assert_eq!((back.applied, back.unknown, back.complete), (40, 0, true));
    assert_eq!(back.in_place, 0, "the job made them: not in place");
    assert_eq!(back.requests_sent, 0, "nothing sent again");
    assert_eq!(emu.request_count("follow/follow_add"), adds);
    assert_eq!(
        emu.request_count("follow/follow_check") - checks,
        1,
        "40 accounts, one read"
    );
}

#[test]
fn a_journal_has_one_writer_and_status_still_reads_it() {
    let dir = scratch("one-writer");
    let targets = ids("t", 200);
    let emu = emulator_with("me", &targets);
    write_ids(&dir.join("ids.txt"), &targets);
    let journal = dir.join("job.journal");
    let client = emu.client_builder().concurrency(1).build().unwrap();
    let mut second = None;
    let mut status_during = None;
    let summary = Job::follow("me", JobInput::file(dir.join("ids.txt")))
        .journal(&journal)
        .run(&client, |p| {
            if p.requests == 2 {
                // Another job on the journal while this one runs.
                second = Some(Job::resume(&journal).unwrap().run(&client, |_| {}));
                status_during = Some(job::status(&journal).unwrap());
            }
        })
        .unwrap();
    match second {
        Some(Err(JobError::InUse { pid, .. })) => assert_eq!(pid, Some(std::process::id())),
        other => panic!("{other:?}"),
    }
    let during = status_during.unwrap();
    assert!(during.applied >= 20 && !during.complete, "{during:?}");
    assert_eq!((summary.applied, summary.requests_sent), (200, 10));
    assert_eq!(
        emu.request_count("follow/follow_add"),
        10,
        "nothing sent twice"
    );
    let status = job::status(&journal).unwrap();
    assert_eq!((status.applied, status.complete), (200, true));
    // The lock went with the job: the journal can be continued again.
    let again = Job::resume(&journal).unwrap().run(&client, |_| {}).unwrap();
    assert_eq!(again.requests_sent, 0);
}

#[test]
fn a_moved_input_is_accepted_when_its_bytes_are_the_same() {
    let dir = scratch("moved");
    let targets = ids("t", 60);
    let emu = emulator_with("me", &targets);
    write_ids(&dir.join("ids.txt"), &targets);
    let journal = dir.join("job.journal");
    let client = fast_client(&emu);
    Job::follow("me", JobInput::file(dir.join("ids.txt")))
        .journal(&journal)
        .stop_when(Arc::new(AtomicBool::new(true)))
        .run(&client, |_| {})
        .unwrap();
    std::fs::rename(dir.join("ids.txt"), dir.join("moved.txt")).unwrap();
    assert!(Job::resume(&journal).unwrap().run(&client, |_| {}).is_err());
    let done = Job::resume_with_input(&journal, dir.join("moved.txt"))
        .unwrap()
        .run(&client, |_| {})
        .unwrap();
    assert_eq!((done.applied, done.complete), (60, true));
    write_ids(&dir.join("other.txt"), &targets[..59]);
    match Job::resume_with_input(&journal, dir.join("other.txt"))
        .unwrap()
        .run(&client, |_| {})
    {
        Err(JobError::Mismatch(msg)) => assert!(msg.contains("not the job's input"), "{msg}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn input_lines_are_capped_and_errors_show_only_their_start() {
    let dir = scratch("long-lines");
    let emu = emulator_with("me", &[]);
    let client = fast_client(&emu);
    let path = dir.join("ids.txt");
    std::fs::write(&path, format!("ok\n{}\n", "y".repeat(1 << 20))).unwrap();
    let err = Job::follow("me", JobInput::file(&path))
        .journal(dir.join("j"))
        .run(&client, |_| {})
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("line 2: longer than 4096 bytes"), "{msg}");
    assert!(msg.len() < 200, "{} bytes", msg.len());
    assert!(msg.contains(&"y".repeat(40)) && !msg.contains(&"y".repeat(41)));
    // A long id (under the line cap) is shown cut too.
    std::fs::write(&path, format!("{}\n", "z".repeat(3000))).unwrap();
    let err = Job::follow("me", JobInput::file(&path))
        .run(&client, |_| {})
        .unwrap_err();
    assert!(err.to_string().len() < 200, "{err}");
    assert!(
        !dir.join("j").exists(),
        "nothing written before the input is valid"
    );
    assert_eq!(emu.requests().len(), 0);
}

#[test]
fn two_jobs_started_at_once_on_a_new_journal_write_it_once() {
    let dir = scratch("new-race");
    let targets = ids("t", 40);
    let emu = emulator_with("me", &targets);
    emu.set_latency(Some(std::time::Duration::from_millis(10)));
    write_ids(&dir.join("ids.txt"), &targets);
    let client = fast_client(&emu);
    for trial in 0..10 {
        let journal = dir.join(format!("job-{trial}.journal"));
        let start = std::sync::Barrier::new(2);
        let results: Vec<_> = std::thread::scope(|s| {
            let run = || {
                start.wait();
                let job = Job::unfollow("me", JobInput::file(dir.join("ids.txt")));
                job.journal(&journal)
                    .check_first(false)
                    .run(&client, |_| {})
            };
            let (a, b) = (s.spawn(run), s.spawn(run));
            vec![a.join().unwrap(), b.join().unwrap()]
        });
        let mut finished = 0;
        for r in results {
            match r {
                Ok(summary) => {
                    assert!(summary.complete);
                    finished += 1;
                }
                Err(JobError::InUse { .. }) => {}
                Err(other) => panic!("trial {trial}: {other}"),
            }
        }
        assert!(finished >= 1, "trial {trial}");
        let status = job::status(&journal).unwrap();
        assert_eq!(
            (status.applied, status.complete),
            (40, true),
            "trial {trial}"
        );
        assert_eq!(emu.request_count("follow/follow_delete"), 2 * (trial + 1));
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
        assert!(left
            .iter()
            .all(|e| !e.file_name().to_string_lossy().ends_with(".new")));
    }
}

#[test]
fn a_purge_that_keeps_finding_relations_stops_and_its_resume_goes_on() {
    let dir = scratch("purge-again");
    let fans = ids("fan", 5);
    let emu = emulator_with("me", &fans);
    for f in &fans {
        emu.seed_follow(f, "me");
    }
    let client = fast_client(&emu);
    let journal = dir.join("purge.journal");
    // Someone follows `me` again after every request of the first run.
    let first = Job::purge("me")
        .journal(&journal)
        .run(&client, |_| emu.seed_follow("fan_000", "me"))
        .unwrap();
    assert!(!first.complete, "{first:?}");
    assert!(first.to_resume > 0, "what the last listing found waits");
    let status = job::status(&journal).unwrap();
    assert_eq!(
        (status.complete, status.to_resume),
        (false, first.to_resume)
    );
    // Left alone, a resume removes it and checks: complete.
    let again = Job::resume(&journal).unwrap().run(&client, |_| {}).unwrap();
    assert!(again.complete, "{again:?}");
    assert!(emu.fans("me").is_empty());
    assert!(job::status(&journal).unwrap().complete);
}

#[test]
fn a_read_first_that_gets_no_answer_sends_nothing_and_leaves_the_accounts_pending() {
    let dir = scratch("outage-read-first");
    let targets = ids("t", 200);
    let emu = emulator_with("me", &targets);
    for t in &targets[..50] {
        emu.seed_follow("me", t);
    }
    write_ids(&dir.join("ids.txt"), &targets);
    let journal = dir.join("job.journal");
    // The default: each request is read first; the reads find nobody.
    let down = Job::follow("me", JobInput::file(dir.join("ids.txt")))
        .journal(&journal)
        .run(&unreachable_client(&emu), |_| {})
        .unwrap();
    let why = down.stopped_by.clone().expect("stopped: no answer");
    assert!(why.is_no_answer(), "{why:?}");
    assert!(
        why.to_string().starts_with("no answer from the service"),
        "{why}"
    );
    assert_eq!(
        (down.requests_sent, down.applied, down.unknown, down.pending),
        (0, 0, 0, 200),
        "what was in place cannot be told: nothing sent, nothing claimed"
    );
    assert_eq!(emu.request_count("follow/follow_add"), 0);
    let back = Job::resume(&journal)
        .unwrap()
        .run(&fast_client(&emu), |_| {})
        .unwrap();
    assert!(back.complete, "{back:?}");
    assert_eq!((back.applied, back.in_place), (200, 50));
}

#[test]
fn an_input_rewritten_during_its_job_stops_it_before_any_changed_line_is_sent() {
    let dir = scratch("rewritten");
    // 400 ids of 6 bytes a line, in blocks of 60 bytes: 40 blocks, 2 a request.
    let targets = ids("t", 400);
    let others = ids("n", 400);
    let emu = emulator_with("me", &targets);
    emu.import_accounts(&others);
    let ids_txt = dir.join("ids.txt");
    write_ids(&ids_txt, &targets);
    let mut rewritten = targets.clone();
    rewritten[200..].clone_from_slice(&others[200..]);
    let client = emu.client_builder().concurrency(1).build().unwrap();
    let journal = dir.join("job.journal");
    let mut once = false;
    let err = Job::follow("me", JobInput::file(&ids_txt))
        .journal(&journal)
        .input_block_size(60)
        .run(&client, |_| {
            // After the first request, with the worker at most a request
            // ahead: the second half changes, at the same size.
            if !once {
                once = true;
                write_ids(&ids_txt, &rewritten);
            }
        })
        .unwrap_err();
    match &err {
        JobError::InputChanged {
            offset,
            block,
            size,
            ..
        } => assert_eq!((*offset, *block, *size), (1200, 20, 2400)),
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("changed while the job ran") && text.contains("offset 1200"),
        "{text}"
    );
    let sent: String = emu.requests().iter().map(|r| r.body.clone()).collect();
    assert!(!sent.contains("n_"), "no account of the new content sent");
    let mut following = emu.following("me");
    following.sort();
    // Requests 0 to 8; the 10th is closed by reading line 201, in block 20:
    // it waits too.
    assert_eq!(following, targets[..180], "only lines of unchanged blocks");
    // A resume refuses the changed file; put back, it finishes the job.
    let resumed = Job::resume(&journal).unwrap().run(&client, |_| {});
    assert!(matches!(resumed, Err(JobError::Mismatch(_))), "{resumed:?}");
    write_ids(&ids_txt, &targets);
    let done = Job::resume(&journal)
        .unwrap()
        .input_block_size(60)
        .run(&client, |_| {})
        .unwrap();
    assert_eq!((done.applied, done.complete), (400, true));
    assert_eq!(emu.following("me").len(), 400);
}

#[test]
fn an_undo_refuses_a_forged_line_naming_an_account_outside_the_input() {
    let (journal, emu) = finished_journal("forged-undo");
    emu.import_accounts(&["outsider"]);
    emu.seed_follow("me", "outsider");
    let text = std::fs::read_to_string(&journal).unwrap();
    let mut forged = String::new();
    for line in text.lines() {
        if line.contains("\"t\":\"done\"") && line.contains("\"r\":1,") {
            let body = &line[..line.rfind(",\"c\":").unwrap()];
            forged.push_str(&forged_line(&format!(
                "{}}}",
                body.replace("t_025", "outsider")
            )));
        } else {
            forged.push_str(line);
            forged.push('\n');
        }
    }
    assert!(forged.contains("outsider"), "{forged}");
    std::fs::write(&journal, forged).unwrap();
    let writes_before = emu.request_count("follow/follow_delete");
    let result = Job::undo(&journal)
        .unwrap()
        .journal(journal.with_file_name("undo.journal"))
        .run(&fast_client(&emu), |_| {});
    match result {
        Err(JobError::Journal(msg)) => assert!(
            msg.contains("damaged journal")
                && msg.contains("me -> outsider")
                && msg.contains("does not hold it"),
            "{msg}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(emu.request_count("follow/follow_delete"), writes_before);
    assert!(emu.following("me").contains(&"outsider".to_string()));
}

#[test]
fn a_refused_resume_says_what_differs() {
    let dir = scratch("differs");
    let targets = ids("t", 30);
    let emu = emulator_with("me", &targets);
    let ids_path = dir.join("ids.txt");
    write_ids(&ids_path, &targets);
    let client = fast_client(&emu);
    let journal = dir.join("job.journal");
    Job::follow("me", JobInput::file(&ids_path))
        .journal(&journal)
        .stop_when(Arc::new(AtomicBool::new(true)))
        .run(&client, |_| {})
        .unwrap();
    let mismatch = |result: Result<job::JobSummary, JobError>| match result {
        Err(JobError::Mismatch(why)) => why,
        other => panic!("{other:?}"),
    };
    // Both follows: what differs is what they work through.
    let snapshot = dir.join("me.snapshot");
    job::export(
        &client,
        ["me"],
        std::fs::File::create(&snapshot).unwrap(),
        |_| {},
    )
    .unwrap();
    let why = mismatch(
        Job::restore(&snapshot)
            .journal(&journal)
            .run(&client, |_| {}),
    );
    assert!(
        why.ends_with(
            "holds another job: a follow of one account's targets, not a follow that \
             restores a snapshot"
        ),
        "{why}"
    );
    // The same size, other bytes: the SHA-256 differs, and it says so.
    let mut other = targets.clone();
    other[0] = "t_999".into();
    write_ids(&ids_path, &other);
    let why = mismatch(Job::resume(&journal).unwrap().run(&client, |_| {}));
    assert!(
        why.contains("changed since the job started: the same 180 bytes, but another SHA-256 ("),
        "{why}"
    );
    assert!(!why.contains("180 bytes then, 180 now"), "{why}");
    write_ids(&ids_path, &targets[..29]);
    let why = mismatch(Job::resume(&journal).unwrap().run(&client, |_| {}));
    assert!(why.contains("180 bytes then, 174 now"), "{why}");
    // An id too long: its reason, without an empty field name.
    let long = "a".repeat(33);
    write_ids(&dir.join("long.txt"), &[long]);
    let err = Job::follow("me", JobInput::file(dir.join("long.txt")))
        .run(&client, |_| {})
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("is not an account id (account id is 33 bytes; at most 32 are allowed)"),
        "{text}"
    );
    assert!(
        !text.contains(": :") && !text.contains("invalid input"),
        "{text}"
    );
    assert_eq!(emu.request_count("follow/follow_add"), 0);
}

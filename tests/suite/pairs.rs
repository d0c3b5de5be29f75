//! Pairs jobs grouped by `FROM` whatever the input's order: the sort, its
//! journal header, its resume and its clean-up.

use super::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tim_follow::job::{self, Job, JobInput, Operation};
use tim_follow::testkit::{DuplicateAnswer, Emulator};

/// 20 accounts each following the same 100: 2,000 pairs, shuffled.
fn shuffled_pairs(seed: u64) -> (Vec<String>, Vec<String>, Vec<String>) {
    let (froms, tos) = (ids("f", 20), ids("t", 100));
    let mut lines: Vec<String> = froms
        .iter()
        .flat_map(|f| tos.iter().map(move |t| format!("{f} {t}")))
        .collect();
    fastrand::Rng::with_seed(seed).shuffle(&mut lines);
    (froms, tos, lines)
}

/// An emulator that refuses a repeated follow (30001): a relation made
/// twice would show as refused.
fn strict_emulator(froms: &[String], tos: &[String]) -> Emulator {
    let emu = Emulator::builder()
        .duplicates(DuplicateAnswer::Refuse(30001))
        .start()
        .expect("emulator starts");
    emu.import_accounts(froms);
    emu.import_accounts(tos);
    emu
}

/// The sort's runs left in `dir`.
fn runs_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(".sort-"))
        .collect()
}

fn header_of(journal: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(journal).unwrap();
    serde_json::from_str(text.lines().next().unwrap()).unwrap()
}

fn assert_all_made(emu: &Emulator, froms: &[String], tos: &[String]) {
    for f in froms {
        let mut got = emu.following(f);
        got.sort();
        assert_eq!(got, tos, "{f} follows each target");
    }
}

#[test]
fn shuffled_pairs_are_sent_grouped_and_each_relation_made_once() {
    let dir = scratch_dir("pairs-grouped");
    let (froms, tos, lines) = shuffled_pairs(11);
    let emu = strict_emulator(&froms, &tos);
    let input = dir.join("pairs.txt");
    std::fs::write(&input, lines.join("\n")).unwrap();
    let journal = dir.join("job.journal");
    let summary = Job::pairs(Operation::Follow, JobInput::file(&input))
        .journal(&journal)
        .run(&fast_client(&emu), |_| {})
        .unwrap();
    assert_eq!(
        (
            summary.total,
            summary.applied,
            summary.refused,
            summary.in_place
        ),
        (2000, 2000, 0, 0)
    );
    assert!(summary.complete);
    assert_eq!(summary.requests_sent, 100, "20 targets a request");
    assert_eq!(emu.request_count("follow/follow_add"), 100);
    assert_all_made(&emu, &froms, &tos);
    let header = header_of(&journal);
    assert_eq!(header["sorted"]["run"], 262_144, "{header}");
    assert_eq!(
        (header["total"].as_u64(), header["requests"].as_u64()),
        (Some(2000), Some(100))
    );
    assert!(runs_in(&dir).is_empty(), "nothing left next to the journal");

    // Without a journal, from an iterator: the same grouping.
    let emu = strict_emulator(&froms, &tos);
    let summary = Job::pairs(Operation::Follow, JobInput::lines(shuffled_pairs(12).2))
        .sort_run(300)
        .run(&fast_client(&emu), |_| {})
        .unwrap();
    assert_eq!(
        (summary.total, summary.applied, summary.refused),
        (2000, 2000, 0)
    );
    assert_eq!(emu.request_count("follow/follow_add"), 100);
    assert_all_made(&emu, &froms, &tos);
}

#[test]
fn repeated_pairs_are_sent_once_and_counted_once() {
    let dir = scratch_dir("pairs-repeats");
    let (froms, tos, mut lines) = shuffled_pairs(21);
    // Every fifth pair twice more, one of them with a comma.
    let repeats: Vec<String> = lines.iter().step_by(5).cloned().collect();
    lines.extend(repeats.iter().cloned());
    lines.extend(repeats.iter().map(|l| l.replacen(' ', ",", 1)));
    fastrand::Rng::with_seed(22).shuffle(&mut lines);
    assert_eq!(lines.len(), 2800);
    let emu = strict_emulator(&froms, &tos);
    let input = dir.join("pairs.txt");
    std::fs::write(&input, lines.join("\n")).unwrap();
    let journal = dir.join("job.journal");
    let summary = Job::pairs(Operation::Follow, JobInput::file(&input))
        .journal(&journal)
        .sort_run(128)
        .run(&fast_client(&emu), |_| {})
        .unwrap();
    assert_eq!(
        (summary.total, summary.applied, summary.refused),
        (2000, 2000, 0),
        "each relation once, none refused as a repeat"
    );
    assert_eq!(emu.request_count("follow/follow_add"), 100);
    let status = job::status(&journal).unwrap();
    assert_eq!(
        (status.total, status.applied, status.complete),
        (2000, 2000, true)
    );
    assert!(runs_in(&dir).is_empty());
}

#[test]
fn a_sorted_job_stopped_while_sending_resumes_with_the_same_requests() {
    let dir = scratch_dir("pairs-resume");
    let (froms, tos, lines) = shuffled_pairs(31);
    let emu = strict_emulator(&froms, &tos);
    let input = dir.join("pairs.txt");
    std::fs::write(&input, lines.join("\n")).unwrap();
    let journal = dir.join("job.journal");
    let client = emu.client_builder().concurrency(1).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let (runs_seen, seen) = (Arc::new(AtomicBool::new(false)), dir.clone());
    let saw = runs_seen.clone();
    // Runs of 64 pairs: 32 of them spilled, there while the job sends.
    let first = Job::pairs(Operation::Follow, JobInput::file(&input))
        .journal(&journal)
        .sort_run(64)
        .stop_when(stop.clone())
        .run(&client, move |p| {
            if p.requests == 1 {
                saw.store(runs_in(&seen).len() == 32, Ordering::SeqCst);
            }
            if p.requests == 30 {
                flag.store(true, Ordering::SeqCst);
            }
        })
        .unwrap();
    assert!(
        runs_seen.load(Ordering::SeqCst),
        "the runs are spilled next to the journal"
    );
    assert!(runs_in(&dir).is_empty(), "and removed when the job stops");
    assert!(!first.complete);
    let sent = first.requests_sent;
    assert!((30..=31).contains(&sent), "{sent}");
    assert_eq!(header_of(&journal)["sorted"]["run"], 64);

    // A run left by a killed process is removed by the resume.
    let stale = dir.join(".job.journal.sort-4242-0badcafe-3");
    std::fs::write(&stale, b"\x01a\x01b").unwrap();
    let rest = Job::resume(&journal).unwrap().run(&client, |_| {}).unwrap();
    assert!(
        !stale.exists(),
        "a stale run is removed once the lock is held"
    );
    assert!(runs_in(&dir).is_empty());
    assert!(rest.complete);
    assert_eq!((rest.total, rest.applied, rest.refused), (2000, 2000, 0));
    assert_eq!(
        rest.requests_sent,
        100 - sent,
        "only what was not journaled"
    );
    assert_eq!(emu.request_count("follow/follow_add"), 100);
    assert_all_made(&emu, &froms, &tos);

    // The undo of the sorted job is a sorted job too: 100 requests.
    let undo = dir.join("undo.journal");
    let undone = Job::undo(&journal)
        .unwrap()
        .journal(&undo)
        .run(&client, |_| {})
        .unwrap();
    assert_eq!((undone.total, undone.applied), (2000, 2000));
    assert_eq!(emu.request_count("follow/follow_delete"), 100);
    assert!(header_of(&undo)["sorted"].is_object());
    assert!(froms.iter().all(|f| emu.following(f).is_empty()));
}

#[test]
fn a_pairs_journal_cut_the_old_way_resumes_the_old_way() {
    let dir = scratch_dir("pairs-old");
    let (froms, tos, lines) = shuffled_pairs(41);
    let emu = strict_emulator(&froms, &tos);
    let input = dir.join("pairs.txt");
    std::fs::write(&input, lines.join("\n")).unwrap();
    let journal = dir.join("job.journal");
    let client = emu.client_builder().concurrency(1).build().unwrap();
    // Stopped before its first request: the journal holds its header.
    let first = Job::pairs(Operation::Follow, JobInput::file(&input))
        .journal(&journal)
        .stop_when(Arc::new(AtomicBool::new(true)))
        .run(&client, |_| {})
        .unwrap();
    assert_eq!((first.requests_sent, first.pending), (0, 2000));
    // The header as an earlier version wrote it: no `sorted`, the request
    // count of consecutive pairs.
    let mut header = header_of(&journal);
    header.as_object_mut().unwrap().remove("sorted");
    header.as_object_mut().unwrap().remove("c");
    let consecutive = consecutive_requests(&lines);
    assert!(
        consecutive > 1500,
        "{consecutive}: shuffled pairs are rarely consecutive"
    );
    header["requests"] = consecutive.into();
    let body = serde_json::to_string(&header).unwrap();
    std::fs::write(&journal, with_checksum(&body) + "\n").unwrap();
    let sent_before = emu.request_count("follow/follow_add");
    let summary = Job::resume(&journal).unwrap().run(&client, |_| {}).unwrap();
    assert!(summary.complete, "{summary:?}");
    assert_eq!(
        emu.request_count("follow/follow_add") - sent_before,
        consecutive as usize,
        "consecutive pairs share a request, as when the job started"
    );
    assert!(header_of(&journal).get("sorted").is_none());
}

/// The requests consecutive grouping makes of `lines`.
fn consecutive_requests(lines: &[String]) -> u64 {
    let mut n = 0u64;
    let (mut last, mut len) = (String::new(), 0);
    for l in lines {
        let from = l.split(' ').next().unwrap().to_string();
        if from != last || len == 20 {
            n += 1;
            len = 0;
            last = from;
        }
        len += 1;
    }
    n
}

/// A journal line's text with its checksum field, as the writer makes it:
/// the first 8 bytes of the SHA-256 of the object without it.
fn with_checksum(body: &str) -> String {
    let digest = hmac_sha256::Hash::hash(body.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{},\"c\":\"{hex}\"}}", &body[..body.len() - 1])
}

//! Preview, undo, export and restore: seeing a bulk change before it is sent
//! and taking it back after.

use super::*;
use std::collections::BTreeSet;
use std::path::PathBuf;
use tim_follow::job::{self, Expected, Job, JobInput};
use tim_follow::testkit::{DuplicateAnswer, Emulator};

fn scratch(name: &str) -> PathBuf {
    scratch_dir(&format!("undo-{name}"))
}

/// The following list and fans of `account`, as sets.
fn graph_of(emu: &Emulator, account: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    (
        emu.following(account).into_iter().collect(),
        emu.fans(account).into_iter().collect(),
    )
}

fn writes(emu: &Emulator) -> usize {
    emu.request_count("follow/follow_add") + emu.request_count("follow/follow_delete")
}

#[test]
fn a_preview_reads_and_never_writes() {
    let dir = scratch("preview");
    let targets = ids("t", 2000);
    let emu = emulator_with("me", &targets);
    for t in &targets[..1000] {
        emu.seed_follow("me", t);
    }
    let mut input = targets.clone();
    input.push("ghost".into()); // no such account
    write_ids(&dir.join("ids.txt"), &input);
    let client = fast_client(&emu);
    let before = graph_of(&emu, "me");
    let mut items = Vec::new();
    let preview = Job::unfollow("me", JobInput::file(dir.join("ids.txt")))
        .preview(&client, |i| items.push(i.clone()))
        .unwrap();
    assert_eq!(
        (
            preview.total,
            preview.change,
            preview.in_place,
            preview.refused
        ),
        (2001, 1000, 1000, 1)
    );
    assert_eq!(preview.unknown, 0);
    assert!(
        preview
            .to_string()
            .starts_with("1,000 of 2,001 relations would be removed; 1,000 are not there"),
        "{preview}"
    );
    assert_eq!(items.len(), 2001, "one item per account");
    assert_eq!(items[0].expected, Expected::Change);
    assert_eq!(items[1500].expected, Expected::InPlace);
    assert!(matches!(items[2000].expected, Expected::Refused { .. }));
    assert_eq!(writes(&emu), 0, "no follow_add or follow_delete");
    assert_eq!(emu.request_count("follow/follow_check"), 21, "100 a read");
    assert_eq!(graph_of(&emu, "me"), before);
    // A follow of the same: the other way round.
    let p = Job::follow("me", JobInput::file(dir.join("ids.txt")))
        .preview(&client, |_| {})
        .unwrap();
    assert_eq!((p.change, p.in_place), (1000, 1000));
    // A purge's preview lists; a journaled job's counts only what is left.
    emu.seed_follow("t_1999", "me");
    let p = Job::purge("me").preview(&client, |_| {}).unwrap();
    assert_eq!((p.total, p.change), (1001, 1001));
    let journal = dir.join("job.journal");
    Job::unfollow("me", JobInput::file(dir.join("ids.txt")))
        .journal(&journal)
        .stop_when(std::sync::Arc::new(std::sync::atomic::AtomicBool::new(
            true,
        )))
        .run(&client, |_| {})
        .unwrap();
    let p = Job::resume(&journal)
        .unwrap()
        .preview(&client, |_| {})
        .unwrap();
    assert_eq!(p.total, 2001);
    assert_eq!(writes(&emu), 0);
}

#[test]
fn an_undo_of_a_purge_gives_the_graph_back() {
    let dir = scratch("purge");
    let following = ids("f", 50);
    let fans = ids("fan", 300);
    let emu = emulator_with("me", &following);
    emu.import_accounts(&fans);
    for f in &following {
        emu.seed_follow("me", f);
    }
    for f in &fans {
        emu.seed_follow(f, "me");
    }
    // Some mutual: followed and fans at once.
    for f in &fans[..10] {
        emu.seed_follow("me", f);
    }
    let before = graph_of(&emu, "me");
    let client = fast_client(&emu);
    let purge = dir.join("purge.journal");
    let p = Job::purge("me")
        .journal(&purge)
        .run(&client, |_| {})
        .unwrap();
    assert!(p.complete);
    assert_eq!(graph_of(&emu, "me"), Default::default());
    let undo = dir.join("undo.journal");
    let u = Job::undo(&purge)
        .unwrap()
        .journal(&undo)
        .run(&client, |_| {})
        .unwrap();
    assert!(u.complete, "{u:?}");
    assert_eq!((u.applied, u.in_place), (360, 0));
    assert_eq!(graph_of(&emu, "me"), before);
    // The undo is a job like any other: status, a no-op resume, an undo of it.
    assert!(job::status(&undo).unwrap().complete);
    assert_eq!(
        Job::resume(&undo)
            .unwrap()
            .run(&client, |_| {})
            .unwrap()
            .requests_sent,
        0
    );
    let redo = Job::undo(&undo)
        .unwrap()
        .journal(dir.join("redo.journal"))
        .run(&client, |_| {})
        .unwrap();
    assert_eq!(redo.applied, 360);
    assert_eq!(graph_of(&emu, "me"), Default::default());
    // An undo cannot be its own journal, and the reversed journal is locked.
    assert!(Job::undo(&purge)
        .unwrap()
        .journal(&purge)
        .run(&client, |_| {})
        .is_err());
}

#[test]
fn an_undo_of_a_20000_account_delete_reverses_what_was_applied_only() {
    let dir = scratch("delete");
    let targets = ids("t", 20_000);
    let emu = Emulator::builder()
        .accounts(&["me"])
        .accounts(&targets)
        .duplicates(DuplicateAnswer::Apply)
        .max_following(30_000)
        .start()
        .unwrap();
    // 19,000 followed; 1,000 not (the service answers their unfollow 0 too).
    for t in &targets[..19_000] {
        emu.seed_follow("me", t);
    }
    let before = graph_of(&emu, "me");
    write_ids(&dir.join("ids.txt"), &targets);
    let client = emu.client_builder().concurrency(8).build().unwrap();
    let delete = dir.join("delete.journal");
    let d = Job::unfollow("me", JobInput::file(dir.join("ids.txt")))
        .journal(&delete)
        .check_first(true)
        .run(&client, |_| {})
        .unwrap();
    assert_eq!((d.applied, d.in_place, d.complete), (20_000, 1_000, true));
    assert!(emu.following("me").is_empty());
    let u = Job::undo(&delete)
        .unwrap()
        .journal(dir.join("undo.journal"))
        .run(&client, |_| {})
        .unwrap();
    assert_eq!((u.total, u.applied, u.complete), (19_000, 19_000, true));
    assert_eq!(
        graph_of(&emu, "me"),
        before,
        "the 1,000 not followed stay so"
    );
}

#[test]
fn export_then_purge_then_restore_gives_the_graph_back() {
    let dir = scratch("restore");
    let others = ids("o", 120);
    let emu = emulator_with("me", &others);
    emu.import_accounts(&["you"]);
    for o in &others[..70] {
        emu.seed_follow("me", o);
    }
    for o in &others[50..] {
        emu.seed_follow(o, "me");
    }
    emu.seed_follow("you", "o_001");
    let before = (graph_of(&emu, "me"), graph_of(&emu, "you"));
    let client = fast_client(&emu);
    let snapshot = dir.join("before.snapshot");
    let file = std::fs::File::create(&snapshot).unwrap();
    let s = job::export(
        &client,
        ["me", "you"],
        std::io::BufWriter::new(file),
        |_| {},
    )
    .unwrap();
    assert_eq!((s.accounts, s.relations), (2, 70 + 70 + 1));
    let text = std::fs::read_to_string(&snapshot).unwrap();
    assert!(text.starts_with("{\"tim_follow_snapshot\":1,"));
    assert!(text
        .trim_end()
        .ends_with("{\"end\":true,\"accounts\":2,\"relations\":141}"));
    for account in ["me", "you"] {
        Job::purge(account)
            .journal(dir.join(format!("purge-{account}.journal")))
            .run(&client, |_| {})
            .unwrap();
    }
    assert!(emu.following("me").is_empty() && emu.fans("me").is_empty());
    // One relation is back already: it is kept, not sent.
    emu.seed_follow("me", "o_000");
    let adds = emu.request_count("follow/follow_add");
    let r = Job::restore(&snapshot)
        .journal(dir.join("restore.journal"))
        .run(&client, |_| {})
        .unwrap();
    assert!(r.complete, "{r:?}");
    assert_eq!((r.total, r.applied, r.in_place), (141, 141, 1));
    assert_eq!((graph_of(&emu, "me"), graph_of(&emu, "you")), before);
    assert!(emu.request_count("follow/follow_add") > adds);
    // A snapshot cut short is refused before anything is sent.
    let cut: String = text.lines().take(20).map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join("cut.snapshot"), cut).unwrap();
    let writes_before = writes(&emu);
    let err = Job::restore(dir.join("cut.snapshot"))
        .journal(dir.join("cut.journal"))
        .run(&client, |_| {})
        .unwrap_err();
    assert!(err.to_string().contains("cut short"), "{err}");
    assert_eq!(writes(&emu), writes_before);
}

#[test]
fn an_undo_after_lost_answers_and_a_resume_reverses_exactly_what_the_job_made() {
    let dir = scratch("lost-then-undo");
    let targets = ids("t", 60);
    let emu = emulator_with("me", &targets);
    // Ten are followed already: the job must not claim them, nor undo them.
    for t in targets.iter().step_by(6) {
        emu.seed_follow("me", t);
    }
    let before = graph_of(&emu, "me");
    write_ids(&dir.join("ids.txt"), &targets);
    let once = emu
        .client_builder()
        .retry(tim_follow::RetryPolicy::none())
        .concurrency(1)
        .build()
        .unwrap();
    // The first request is carried out, its answer lost.
    emu.inject_for(
        "follow/follow_add",
        tim_follow::testkit::Fault::DropAfterProcessing,
        1,
    );
    let journal = dir.join("follow.journal");
    let first = Job::follow("me", JobInput::file(dir.join("ids.txt")))
        .journal(&journal)
        .check_first(true)
        .run(&once, |_| {})
        .unwrap();
    assert!(first.unknown > 0 && !first.complete, "{first:?}");
    assert_eq!(first.in_place, 10);
    let resumed = Job::resume(&journal).unwrap().run(&once, |_| {}).unwrap();
    assert_eq!(
        (resumed.applied, resumed.in_place, resumed.unknown),
        (60, 10, 0)
    );
    assert!(resumed.complete);
    assert_eq!(emu.following("me").len(), 60);
    let undo = Job::undo(&journal)
        .unwrap()
        .journal(dir.join("undo.journal"))
        .run(&once, |_| {})
        .unwrap();
    assert_eq!((undo.total, undo.applied, undo.complete), (50, 50, true));
    assert_eq!(
        graph_of(&emu, "me"),
        before,
        "only what the job made is undone"
    );
}

/// A journaled delete (read first, by default) of 400 ids of which every
/// other one was followed, then its undo, each stopped after `stop_after`
/// requests and resumed when given: the graph is exactly as before.
fn a_half_followed_delete_then_undo(name: &str, dup: DuplicateAnswer, stop_after: Option<u64>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let dir = scratch(name);
    let targets = ids("t", 400);
    let emu = Emulator::builder()
        .accounts(&["me"])
        .accounts(&targets)
        .duplicates(dup)
        .start()
        .unwrap();
    for t in targets.iter().step_by(2) {
        emu.seed_follow("me", t);
    }
    emu.seed_follow("t_001", "me"); // a fan, left alone
    let before = graph_of(&emu, "me");
    write_ids(&dir.join("ids.txt"), &targets);
    // One worker, so that a stop leaves requests not yet sent.
    let client = match stop_after {
        Some(_) => emu.client_builder().concurrency(1).build().unwrap(),
        None => fast_client(&emu),
    };
    // Runs a job, stopped after `stop_after` requests and resumed if asked.
    let run = |job: Job, journal: &std::path::Path| {
        let Some(n) = stop_after else {
            return job.journal(journal).run(&client, |_| {}).unwrap();
        };
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let first = job
            .journal(journal)
            .stop_when(stop)
            .run(&client, |p| {
                if p.requests >= n {
                    flag.store(true, Ordering::SeqCst);
                }
            })
            .unwrap();
        assert!(!first.complete && first.pending > 0, "{first:?}");
        Job::resume(journal).unwrap().run(&client, |_| {}).unwrap()
    };
    let delete = dir.join("delete.journal");
    let d = run(
        Job::unfollow("me", JobInput::file(dir.join("ids.txt"))),
        &delete,
    );
    assert!(d.complete, "{d:?}");
    assert_eq!((d.applied, d.in_place, d.refused), (400, 200, 0));
    assert!(emu.following("me").is_empty());
    let u = run(Job::undo(&delete).unwrap(), &dir.join("undo.journal"));
    assert!(u.complete, "{u:?}");
    assert_eq!(
        (u.total, u.applied, u.in_place, u.refused),
        (200, 200, 0, 0)
    );
    assert_eq!(graph_of(&emu, "me"), before, "exactly as before");
}

#[test]
fn a_half_followed_delete_then_undo_gives_the_graph_back_whatever_a_repeat_answers() {
    a_half_followed_delete_then_undo("half-apply", DuplicateAnswer::Apply, None);
    a_half_followed_delete_then_undo("half-refuse", DuplicateAnswer::Refuse(30001), None);
}

#[test]
fn a_half_followed_delete_and_its_undo_stopped_and_resumed_give_the_graph_back() {
    a_half_followed_delete_then_undo("half-stop-apply", DuplicateAnswer::Apply, Some(4));
    a_half_followed_delete_then_undo("half-stop-refuse", DuplicateAnswer::Refuse(30001), Some(4));
}

#[test]
fn the_undo_of_a_job_that_did_not_read_first_is_refused_unless_told_to_reverse_all() {
    let dir = scratch("no-check-first");
    let targets = ids("t", 100);
    let emu = emulator_with("me", &targets);
    for t in &targets[..50] {
        emu.seed_follow("me", t);
    }
    write_ids(&dir.join("ids.txt"), &targets);
    let client = fast_client(&emu);
    let delete = dir.join("delete.journal");
    let d = Job::unfollow("me", JobInput::file(dir.join("ids.txt")))
        .journal(&delete)
        .check_first(false)
        .run(&client, |_| {})
        .unwrap();
    assert_eq!(
        (d.applied, d.in_place),
        (100, 0),
        "the service says 0 for all"
    );
    assert_eq!(emu.request_count("follow/follow_check"), 0, "no read first");
    let writes_before = writes(&emu);
    let undo = dir.join("undo.journal");
    let err = Job::undo(&delete)
        .unwrap()
        .journal(&undo)
        .run(&client, |_| {})
        .unwrap_err();
    assert!(
        matches!(&err, job::JobError::PriorStateUnknown { journal } if journal == &delete),
        "{err}"
    );
    assert!(err.to_string().contains("reverse_all_applied"), "{err}");
    assert_eq!(writes(&emu), writes_before, "nothing sent");
    assert!(!undo.exists(), "no journal made");
    // Told to: every applied account is followed again, those that were not
    // followed before included (the journal cannot tell them apart).
    let u = Job::undo(&delete)
        .unwrap()
        .reverse_all_applied(true)
        .journal(&undo)
        .run(&client, |_| {})
        .unwrap();
    assert_eq!((u.applied, u.complete), (100, true));
    assert_eq!(emu.following("me").len(), 100);
    // A resume of that undo keeps what it was told.
    let again = Job::resume(&undo).unwrap().run(&client, |_| {}).unwrap();
    assert_eq!((again.requests_sent, again.complete), (0, true));
}

#[test]
fn the_reads_first_have_a_rate_budget_of_their_own() {
    use tim_follow::{LocalLimiter, RateLimit};
    // The client's limiter spaces each endpoint on its own: a follow_check
    // does not wait behind the follow_add just sent, so reading first does
    // not lower the writes' ceiling.
    let limiter = LocalLimiter::new(10.0);
    assert_eq!(limiter.acquire("follow/follow_add"), Duration::ZERO);
    assert!(limiter.acquire("follow/follow_add") > Duration::from_millis(90));
    assert_eq!(limiter.acquire("follow/follow_check"), Duration::ZERO);
    assert!(limiter.acquire("follow/follow_check") > Duration::from_millis(90));
}

#[test]
fn another_apps_journal_or_snapshot_is_refused_before_any_request() {
    let dir = scratch("other-app");
    let targets = ids("t", 50);
    let theirs = Emulator::builder()
        .sdkappid(1_400_000_001)
        .accounts(&["me"])
        .accounts(&targets)
        .start()
        .unwrap();
    let ours = emulator_with("me", &targets);
    let their_client = fast_client(&theirs);
    write_ids(&dir.join("ids.txt"), &targets);
    let journal = dir.join("follow.journal");
    Job::follow("me", JobInput::file(dir.join("ids.txt")))
        .journal(&journal)
        .run(&their_client, |_| {})
        .unwrap();
    let snapshot = dir.join("me.snapshot");
    let out = std::fs::File::create(&snapshot).unwrap();
    job::export(&their_client, ["me"], out, |_| {}).unwrap();
    let client = fast_client(&ours);
    let refused = |err: job::JobError, what: &str, path: &std::path::Path| {
        assert!(
            matches!(
                &err,
                job::JobError::OtherApp { what: w, path: p, made_for: 1_400_000_001, credentials: 1_400_000_000 }
                    if *w == what && p == path
            ),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("was made for SDKAppID 1400000001; these credentials are for 1400000000"),
            "{text}"
        );
    };
    let undo = dir.join("undo.journal");
    let err = Job::undo(&journal)
        .unwrap()
        .journal(&undo)
        .run(&client, |_| {})
        .unwrap_err();
    refused(err, "journal", &journal);
    assert!(!undo.exists(), "no journal of its own either");
    let err = Job::undo(&journal)
        .unwrap()
        .preview(&client, |_| {})
        .unwrap_err();
    refused(err, "journal", &journal);
    let err = Job::resume(&journal)
        .unwrap()
        .run(&client, |_| {})
        .unwrap_err();
    refused(err, "journal", &journal);
    let err = Job::restore(&snapshot)
        .journal(dir.join("restore.journal"))
        .run(&client, |_| {})
        .unwrap_err();
    refused(err, "snapshot", &snapshot);
    assert_eq!(ours.requests().len(), 0, "not even a read");
    assert!(ours.following("me").is_empty());
    // The app they were made for takes them.
    let u = Job::undo(&journal)
        .unwrap()
        .journal(&undo)
        .run(&their_client, |_| {})
        .unwrap();
    assert_eq!((u.applied, u.complete), (50, true));
    assert!(theirs.following("me").is_empty());
}

#[test]
fn a_preview_predicts_a_self_follow_refused_and_speaks_the_operations_words() {
    let targets = ids("t", 3);
    let emu = emulator_with("me", &targets);
    emu.seed_follow("me", "t_000");
    let client = fast_client(&emu);
    let input = || JobInput::lines(["me".to_string(), "t_000".into(), "t_001".into()]);
    let mut items = Vec::new();
    let p = Job::follow("me", input())
        .preview(&client, |i| items.push(i.clone()))
        .unwrap();
    assert_eq!((p.change, p.in_place, p.refused), (1, 1, 1));
    assert_eq!(items[0].expected, Expected::SelfFollow);
    let words: Vec<String> = items.iter().map(|i| i.words()).collect();
    assert_eq!(
        words,
        [
            "refused (an account cannot follow itself)",
            "already there",
            "would be made"
        ]
    );
    assert_eq!(emu.request_count("follow/follow_check"), 1);
    let read: serde_json::Value = serde_json::from_str(&emu.requests()[0].body).unwrap();
    assert_eq!(
        read["To_Account"],
        serde_json::json!(["t_000", "t_001"]),
        "itself is not read"
    );
    // A delete of itself reads (the relation cannot be there); its words
    // are a delete's.
    let mut items = Vec::new();
    let p = Job::unfollow("me", input())
        .preview(&client, |i| items.push(i.clone()))
        .unwrap();
    assert_eq!((p.change, p.in_place, p.refused), (1, 2, 0));
    let words: Vec<String> = items.iter().map(|i| i.words()).collect();
    assert_eq!(words, ["not there", "would be removed", "not there"]);
    assert_eq!(writes(&emu), 0);
}

#[test]
fn a_journal_records_the_rate_limit_it_was_given_and_older_ones_have_none() {
    let dir = scratch("rate");
    let targets = ids("t", 5);
    let emu = emulator_with("me", &targets);
    write_ids(&dir.join("ids.txt"), &targets);
    let client = fast_client(&emu);
    let journal = dir.join("job.journal");
    Job::follow("me", JobInput::file(dir.join("ids.txt")))
        .journal(&journal)
        .record_rate_limit(40)
        .run(&client, |_| {})
        .unwrap();
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(
        text.lines().next().unwrap().contains("\"rate_limit\":40"),
        "{text}"
    );
    assert_eq!(
        Job::resume(&journal).unwrap().recorded_rate_limit(),
        Some(40)
    );
    let plain = dir.join("plain.journal");
    Job::follow("me", JobInput::file(dir.join("ids.txt")))
        .journal(&plain)
        .run(&client, |_| {})
        .unwrap();
    assert_eq!(Job::resume(&plain).unwrap().recorded_rate_limit(), None);
    assert!(!std::fs::read_to_string(&plain)
        .unwrap()
        .contains("rate_limit"));
}

#[test]
fn a_snapshot_refused_says_what_differs_and_a_bom_reads_as_in_an_id_file() {
    let dir = scratch("snapshot-words");
    let emu = emulator_with("me", &ids("t", 3));
    emu.seed_follow("me", "t_000");
    emu.seed_follow("me", "t_001");
    let client = fast_client(&emu);
    let mut bytes = Vec::new();
    job::export(&client, ["me"], &mut bytes, |_| {}).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let restore = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        Job::restore(&path).run(&client, |_| {})
    };
    let reason = |r: Result<job::JobSummary, job::JobError>| match r {
        Err(job::JobError::InvalidInput { line, reason }) => (line, reason),
        other => panic!("{other:?}"),
    };
    // A header without the app it was made for is not restored.
    let (line, why) = reason(restore(
        "no-app.snapshot",
        &text.replacen("\"sdkappid\":1400000000,", "", 1),
    ));
    assert_eq!(line, 1);
    assert!(
        why.starts_with("a snapshot header without its SDKAppID"),
        "{why}"
    );
    // A BOM first: read as if it were not there.
    let s = restore("bom.snapshot", &format!("\u{feff}{text}")).unwrap();
    assert_eq!((s.total, s.in_place, s.complete), (2, 2, true));
    // The end line's accounts are not the relations'.
    let lines: Vec<&str> = text.lines().collect();
    let end = lines.len() - 1;
    let with_end = |end_line: &str| {
        let mut l = lines.clone();
        l[end] = end_line;
        l.join("\n") + "\n"
    };
    let (line, why) = reason(restore(
        "accounts.snapshot",
        &with_end(r#"{"end":true,"accounts":0,"relations":2}"#),
    ));
    assert_eq!(line, 4);
    assert_eq!(
        why,
        "the end line counts 0 accounts, the snapshot's relations name 1"
    );
    let (_, why) = reason(restore(
        "relations.snapshot",
        &with_end(r#"{"end":true,"accounts":1,"relations":5}"#),
    ));
    assert_eq!(why, "the end line counts 5 relations, the snapshot has 2");
    let (_, why) = reason(restore(
        "false.snapshot",
        &with_end(r#"{"end":false,"accounts":1,"relations":2}"#),
    ));
    assert_eq!(why, "an end line that says \"end\": false");
    // An id of 33 bytes: which field, and why.
    let long = "b".repeat(33);
    let bad = text.replacen("\"to\":\"t_000\"", &format!("\"to\":\"{long}\""), 1);
    let (line, why) = reason(restore("long.snapshot", &bad));
    let at = text.lines().position(|l| l.contains("\"t_000\"")).unwrap();
    assert_eq!(line, at as u64 + 1);
    assert_eq!(
        why,
        format!(
            "its to {long:?} is not an account id (account id is 33 bytes; at most 32 are allowed)"
        )
    );
    assert_eq!(writes(&emu), 0);
}

#[test]
/// A restore is a pairs job: its snapshot is read whole before the first
/// request (each block as the first pass hashed it) and sorted, so a
/// snapshot rewritten while it sends changes nothing it sends.
fn a_snapshot_rewritten_during_its_restore_changes_nothing_it_sends() {
    let dir = scratch("restore-rewritten");
    let targets = ids("t", 100);
    let others = ids("n", 100);
    let before = emulator_with("me", &targets);
    for t in &targets {
        before.seed_follow("me", t);
    }
    let snapshot = dir.join("me.snapshot");
    job::export(
        &fast_client(&before),
        ["me"],
        std::fs::File::create(&snapshot).unwrap(),
        |_| {},
    )
    .unwrap();
    let text = std::fs::read_to_string(&snapshot).unwrap();
    // Restored into an app of the same SDKAppID where none is followed.
    let emu = emulator_with("me", &targets);
    emu.import_accounts(&others);
    let client = emu.client_builder().concurrency(1).build().unwrap();
    // The last 40 relations name other accounts, at the same size.
    let lines: Vec<&str> = text.lines().collect();
    let keep = lines.len() - 41;
    let mut rewritten: String = lines[..keep].iter().map(|l| format!("{l}\n")).collect();
    for l in &lines[keep..] {
        rewritten.push_str(&l.replace("\"to\":\"t_", "\"to\":\"n_"));
        rewritten.push('\n');
    }
    assert_eq!(rewritten.len(), text.len());
    let mut once = false;
    let summary = Job::restore(&snapshot)
        .journal(dir.join("restore.journal"))
        .input_block_size(512)
        .run(&client, |_| {
            if !once {
                once = true;
                std::fs::write(&snapshot, &rewritten).unwrap();
            }
        })
        .unwrap();
    assert!(once, "rewritten while it sent");
    assert!(summary.complete, "{summary:?}");
    assert_eq!(summary.applied, 100);
    let sent: String = emu.requests().iter().map(|r| r.body.clone()).collect();
    assert!(!sent.contains("n_"), "no relation of the new content sent");
    assert_eq!(emu.following("me").len(), 100);
}

/// A journal line with its checksum recomputed, as a forger would.
fn reforged(line: &str, from: &str, to: &str) -> String {
    let body = &line[..line.rfind(",\"c\":").unwrap()];
    let body = format!("{}}}", body.replace(from, to));
    let digest = hmac_sha256::Hash::hash(body.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{},\"c\":\"{hex}\"}}\n", &body[..body.len() - 1])
}

#[test]
fn the_undo_of_a_restore_refuses_a_forged_line_outside_the_snapshot() {
    let dir = scratch("restore-forged");
    let targets = ids("t", 30);
    let before = emulator_with("me", &targets);
    for t in &targets {
        before.seed_follow("me", t);
    }
    let snapshot = dir.join("me.snapshot");
    let out = std::fs::File::create(&snapshot).unwrap();
    job::export(&fast_client(&before), ["me"], out, |_| {}).unwrap();
    let emu = emulator_with("me", &targets);
    emu.import_accounts(&["outsider"]);
    emu.seed_follow("me", "outsider");
    let client = fast_client(&emu);
    let restored = dir.join("restore.journal");
    let r = Job::restore(&snapshot)
        .journal(&restored)
        .run(&client, |_| {})
        .unwrap();
    assert_eq!((r.applied, r.complete), (30, true));
    let text = std::fs::read_to_string(&restored).unwrap();
    let forged: String = text
        .lines()
        .map(|l| {
            if l.contains("\"t\":\"done\"") && l.contains("\"t_005\"") {
                reforged(l, "\"t_005\"", "\"outsider\"")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert!(forged.contains("outsider"));
    std::fs::write(&restored, &forged).unwrap();
    let err = Job::undo(&restored)
        .unwrap()
        .journal(dir.join("undo.journal"))
        .run(&client, |_| {})
        .unwrap_err();
    assert!(
        matches!(&err, job::JobError::Journal(m) if m.contains("me -> outsider") && m.contains("does not hold it")),
        "{err:?}"
    );
    assert_eq!(writes(&emu), 2, "the restore's requests only");
    // The journal as written: the undo takes the 30 relations back.
    std::fs::write(&restored, &text).unwrap();
    let u = Job::undo(&restored)
        .unwrap()
        .journal(dir.join("undo.journal"))
        .run(&client, |_| {})
        .unwrap();
    assert_eq!((u.applied, u.complete), (30, true));
    assert_eq!(emu.following("me"), ["outsider"]);
}

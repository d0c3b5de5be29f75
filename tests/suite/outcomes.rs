//! Exactly what happened: lost answers settled by reading back, strict
//! replies, and the error classes that decide retries.

use super::*;
use tim_follow::testkit::{DuplicateAnswer, Fault};
use tim_follow::{Error, ErrorKind, Outcome};

const MODES: [DuplicateAnswer; 2] = [DuplicateAnswer::Apply, DuplicateAnswer::Refuse(30001)];

fn emulator(mode: DuplicateAnswer, targets: &[String]) -> Emulator {
    let emu = Emulator::builder()
        .duplicates(mode)
        .rate_limit(None, 60007)
        .start()
        .expect("emulator starts");
    emu.import_accounts(&["me"]);
    emu.import_accounts(targets);
    emu
}

fn read_backs(emu: &Emulator) -> usize {
    emu.request_count("follow/follow_check")
}

/// What a read-back costs in each mode: none when the retry was answered 0.
fn expected_read_backs(mode: DuplicateAnswer) -> usize {
    match mode {
        DuplicateAnswer::Apply => 0,
        _ => 1,
    }
}

#[test]
fn a_follow_whose_answer_is_lost_after_it_was_carried_out_is_applied() {
    for mode in MODES {
        let targets = ids("t", 5);
        let emu = emulator(mode, &targets);
        emu.inject_for("follow/follow_add", Fault::DropAfterProcessing, 1);
        let out = fast_client(&emu).follow_add("me", &targets).unwrap();
        assert!(out.all_applied(), "{mode:?}: {out:?}");
        assert_eq!(emu.request_count("follow/follow_add"), 2, "{mode:?}");
        assert_eq!(read_backs(&emu), expected_read_backs(mode), "{mode:?}");
        assert_eq!(out.read_backs(), expected_read_backs(mode), "{mode:?}");
        assert_eq!(out.confirmed_by_read_back(), 5 * expected_read_backs(mode));
        assert_eq!(emu.following("me").len(), 5);
    }
}

#[test]
fn an_unfollow_whose_answer_is_lost_after_it_was_carried_out_is_applied() {
    for mode in MODES {
        let targets = ids("t", 5);
        let emu = emulator(mode, &targets);
        for t in &targets {
            emu.seed_follow("me", t);
        }
        emu.inject_for("follow/follow_delete", Fault::DropAfterProcessing, 1);
        let out = fast_client(&emu).follow_delete("me", &targets).unwrap();
        assert!(out.all_applied(), "{mode:?}: {out:?}");
        assert_eq!(read_backs(&emu), expected_read_backs(mode), "{mode:?}");
        assert!(emu.following("me").is_empty());
    }
}

#[test]
fn single_follow_and_unfollow_after_a_lost_answer_are_ok() {
    for mode in MODES {
        let targets = ids("t", 1);
        let emu = emulator(mode, &targets);
        let client = fast_client(&emu);
        emu.inject_for("follow/follow_add", Fault::TruncatedBody, 1);
        client.follow("me", "t_000").expect("followed");
        emu.inject_for("follow/follow_delete", Fault::DropAfterProcessing, 1);
        client.unfollow("me", "t_000").expect("unfollowed");
        assert!(!emu.is_following("me", "t_000"), "{mode:?}");
    }
}

#[test]
fn a_real_refusal_after_a_lost_answer_stays_refused() {
    for mode in MODES {
        let mut targets = ids("t", 3);
        let emu = emulator(mode, &targets);
        targets.push("nobody".into());
        emu.inject_for("follow/follow_add", Fault::DropAfterProcessing, 1);
        let out = fast_client(&emu).follow_add("me", &targets).unwrap();
        assert_eq!(out.applied().count(), 3, "{mode:?}: {out:?}");
        let refused: Vec<_> = out.refused().map(|(a, e)| (a, e.code)).collect();
        assert_eq!(refused, [("nobody", 30003)], "{mode:?}");
        assert_eq!(
            read_backs(&emu),
            1,
            "{mode:?}: the refusals are read back once"
        );
    }
}

#[test]
fn a_batch_without_faults_sends_no_read_back() {
    for mode in MODES {
        let mut targets = ids("t", 45);
        let emu = emulator(mode, &targets);
        targets.push("nobody".into());
        let client = fast_client(&emu);
        let out = client.follow_add("me", &targets).unwrap();
        assert_eq!((out.applied().count(), out.refused().count()), (45, 1));
        let out = client.follow_delete("me", &targets).unwrap();
        assert_eq!((out.applied().count(), out.refused().count()), (45, 1));
        assert_eq!(read_backs(&emu), 0, "{mode:?}");
        assert_eq!(out.read_backs(), 0);
    }
}

#[test]
fn without_a_lost_answer_a_repeat_is_reported_as_the_service_answered_it() {
    let targets = ids("t", 2);
    let emu = emulator(DuplicateAnswer::Refuse(30001), &targets);
    emu.seed_follow("me", "t_000");
    let out = fast_client(&emu).follow_add("me", &targets).unwrap();
    assert_eq!(out.refused().map(|(a, _)| a).collect::<Vec<_>>(), ["t_000"]);
    assert_eq!(read_backs(&emu), 0, "nothing was ambiguous: no read-back");
}

/// The client's outcome for one account when the service answers `item`.
fn outcome_for(list_field: &str, item: &str, check: bool) -> Outcome<String> {
    let reply = format!(r#"{{"ActionStatus":"OK","ErrorCode":0,"{list_field}":[{item}]}}"#);
    let base = canned_server(reply, 4);
    let client = Client::builder(1400000000, "administrator")
        .base_url(base)
        .usersig("sig")
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let out = if check {
        let out = client.follow_check("a", &["b"]).unwrap().into_vec();
        out.into_iter().next().map(|o| o.outcome).map(|o| match o {
            Outcome::Applied(t) => Outcome::Applied(format!("{t:?}")),
            Outcome::Refused(e) => Outcome::Refused(e),
            Outcome::Unknown(e) => Outcome::Unknown(e),
        })
    } else {
        let out = client.follow_get_info("a", &["b"]).unwrap().into_vec();
        out.into_iter().next().map(|o| o.outcome).map(|o| match o {
            Outcome::Applied(c) => Outcome::Applied(format!("{c:?}")),
            Outcome::Refused(e) => Outcome::Refused(e),
            Outcome::Unknown(e) => Outcome::Unknown(e),
        })
    };
    out.expect("one account")
}

fn assert_unknown_naming(outcome: Outcome<String>, field: &str) {
    match outcome {
        Outcome::Unknown(Error::Decode(d)) => {
            assert!(d.message.contains(field), "{field}: {}", d.message)
        }
        other => panic!("{field}: not Unknown(Decode): {other:?}"),
    }
}

#[test]
fn golden_follow_check_items_missing_or_mistyping_a_field_are_unknown() {
    let ok = outcome_for(
        "ResultItem",
        r#"{"To_Account":"b","ResultCode":0,"FollowType":2}"#,
        true,
    );
    assert_eq!(ok, Outcome::Applied("Following".into()));
    for (item, field) in [
        (r#"{"To_Account":"b","ResultCode":0}"#, "FollowType"),
        (
            r#"{"To_Account":"b","ResultCode":0,"FollowType":"2"}"#,
            "FollowType",
        ),
        (r#"{"To_Account":"b","FollowType":2}"#, "ResultCode"),
        (
            r#"{"To_Account":"b","ResultCode":true,"FollowType":2}"#,
            "ResultCode",
        ),
        (
            r#"{"To_Account":"b","ResultCode":0,"ResultInfo":7,"FollowType":2}"#,
            "ResultInfo",
        ),
        (
            r#"{"To_Account":"zz","ResultCode":0,"FollowType":2}"#,
            "no result",
        ),
        (r#"{"ResultCode":0,"FollowType":2}"#, "no result"),
    ] {
        assert_unknown_naming(outcome_for("ResultItem", item, true), field);
    }
}

#[test]
fn golden_follow_get_info_items_need_all_three_counts() {
    let full = r#"{"To_Account":"b","ResultCode":0,"FollowerCount":1,"FollowingCount":2,"MutualFollowingCount":0}"#;
    assert!(matches!(
        outcome_for("FollowInfo", full, false),
        Outcome::Applied(_)
    ));
    for (item, field) in [
        (
            r#"{"To_Account":"b","ResultCode":0,"FollowingCount":2,"MutualFollowingCount":0}"#,
            "FollowerCount",
        ),
        (
            r#"{"To_Account":"b","ResultCode":0,"FollowerCount":1,"MutualFollowingCount":0}"#,
            "FollowingCount",
        ),
        (
            r#"{"To_Account":"b","ResultCode":0,"FollowerCount":1,"FollowingCount":2}"#,
            "MutualFollowingCount",
        ),
        (
            r#"{"To_Account":"b","ResultCode":0,"FollowerCount":-1,"FollowingCount":2,"MutualFollowingCount":0}"#,
            "FollowerCount",
        ),
        (
            r#"{"To_Account":"b","ResultCode":0,"FollowerCount":1.5,"FollowingCount":2,"MutualFollowingCount":0}"#,
            "FollowerCount",
        ),
    ] {
        assert_unknown_naming(outcome_for("FollowInfo", item, false), field);
    }
    // A refused item needs no counts.
    let refused = r#"{"To_Account":"b","ResultCode":30003,"ResultInfo":"no such account"}"#;
    assert!(
        matches!(outcome_for("FollowInfo", refused, false), Outcome::Refused(e) if e.code == 30003)
    );
}

#[test]
fn golden_add_and_delete_items_without_a_result_code_are_never_applied() {
    for item in [
        r#"{"To_Account":"b"}"#,
        r#"{"To_Account":"b","ResultCode":null}"#,
    ] {
        let reply = format!(r#"{{"ErrorCode":0,"ResultItem":[{item}]}}"#);
        let client = Client::builder(1, "administrator")
            .base_url(canned_server(reply, 4))
            .usersig("sig")
            .retry(RetryPolicy::none())
            .build()
            .unwrap();
        for out in [
            client.follow_add("a", &["b"]),
            client.follow_delete("a", &["b"]),
        ] {
            let out = out.unwrap();
            match out.get("b") {
                Some(Outcome::Unknown(Error::Decode(d))) => {
                    assert!(d.message.contains("ResultCode"), "{}", d.message)
                }
                other => panic!("{item}: {other:?}"),
            }
        }
    }
}

#[test]
fn account_service_codes_are_classed_by_meaning() {
    let emu = emulator(DuplicateAnswer::Apply, &ids("t", 1));
    let client = fast_client(&emu);
    let body = serde_json::json!({"From_Account": "me", "To_Account": ["t_000"]});
    emu.inject_for("follow/follow_check", Fault::ErrorCode(70500), 2);
    let reply = client
        .call_json_idempotent("follow/follow_check", &body)
        .expect("70500 is transient: retried until it passes");
    assert_eq!(reply["ResultItem"][0]["FollowType"], 0);
    assert_eq!(emu.request_count("follow/follow_check"), 3);

    emu.clear_requests();
    emu.inject_for("follow/follow_check", Fault::ErrorCode(70402), 3);
    let err = client
        .call_json_idempotent("follow/follow_check", &body)
        .unwrap_err();
    assert_eq!(err.code(), Some(70402));
    assert_eq!(err.api().map(|a| a.kind()), Some(ErrorKind::InvalidRequest));
    assert_eq!(
        emu.request_count("follow/follow_check"),
        1,
        "final: one attempt"
    );
}

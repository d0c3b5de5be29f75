//! The emulator answers in the service's documented field order, so the
//! client's fixed-order reader is what the suite exercises; the other
//! layouts reach the field-by-field reader and serde.

use super::*;
use tim_follow::testkit::{reader_paths, ReaderPaths, ReplyLayout};
use tim_follow::usersig;

/// POSTs `body` to `path` with a valid query; the reply's bytes.
fn post(emu: &Emulator, path: &str, body: &str) -> String {
    let sig = usersig::generate(
        emu.sdkappid(),
        emu.secret_key(),
        emu.admin(),
        Duration::from_secs(600),
    );
    let url = format!(
        "{}/v4/{path}?sdkappid={}&identifier={}&usersig={sig}&random=7&contenttype=json",
        emu.base_url(),
        emu.sdkappid(),
        emu.admin()
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    agent
        .post(&url)
        .send(body)
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap()
}

fn emulator(layout: ReplyLayout) -> Emulator {
    Emulator::builder()
        .accounts(&["UserID_001", "UserID_002", "UserID_003"])
        .reply_layout(layout)
        .start()
        .unwrap()
}

#[test]
fn replies_are_byte_for_byte_the_documented_samples() {
    let emu = emulator(ReplyLayout::Documented);
    // Spec §3.1, the follow_add sample.
    let add = post(
        &emu,
        "follow/follow_add",
        r#"{"From_Account":"UserID_001","FollowItem":[{"To_Account":"UserID_002"},{"To_Account":"UserID_003"}]}"#,
    );
    assert_eq!(
        add,
        r#"{"ResultItem":[{"To_Account":"UserID_002","ResultCode":0,"ResultInfo":""},{"To_Account":"UserID_003","ResultCode":0,"ResultInfo":""}],"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ErrorDisplay":""}"#
    );
    // Spec §3.5, the follow_get_info sample (UserID_001 now follows two).
    let info = post(
        &emu,
        "follow/follow_get_info",
        r#"{"From_Account":"UserID_001","To_Account":["UserID_001"]}"#,
    );
    assert_eq!(
        info,
        r#"{"FollowInfo":[{"To_Account":"UserID_001","ResultCode":0,"ResultInfo":"","FollowerCount":0,"FollowingCount":2,"MutualFollowingCount":0}],"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ErrorDisplay":""}"#
    );
    // Spec §3.3, follow_check's item order.
    let check = post(
        &emu,
        "follow/follow_check",
        r#"{"From_Account":"UserID_002","To_Account":["UserID_003"]}"#,
    );
    assert!(
        check.starts_with(
            r#"{"ResultItem":[{"To_Account":"UserID_003","ResultCode":0,"ResultInfo":"","FollowType":0}],"ActionStatus":"OK""#
        ),
        "{check}"
    );
}

/// The readers' counts for one follow_check of two accounts and one
/// follow_get_info of three, on this thread.
fn paths_of_calls(layout: ReplyLayout) -> (ReaderPaths, ReaderPaths) {
    let emu = emulator(layout);
    let client = emu.client();
    client
        .follow_add("UserID_001", &["UserID_002", "UserID_003"])
        .unwrap();
    let before = reader_paths();
    let types = client
        .follow_check("UserID_001", &["UserID_002", "UserID_003"])
        .unwrap();
    assert_eq!(types.applied().count(), 2, "{layout:?}");
    let counts = client
        .follow_get_info("UserID_001", &["UserID_001", "UserID_002", "UserID_003"])
        .unwrap();
    let counts: std::collections::HashMap<&str, _> = counts.applied().collect();
    assert_eq!(counts["UserID_001"].following, 2, "{layout:?}: {counts:?}");
    assert_eq!(counts["UserID_002"].followers, 1, "{layout:?}: {counts:?}");
    (before, reader_paths())
}

#[test]
fn the_documented_layout_is_read_by_the_fixed_order_pass() {
    let (before, after) = paths_of_calls(ReplyLayout::Documented);
    assert_eq!(after.fixed_order_items - before.fixed_order_items, 5);
    assert_eq!(after.keyed_items, before.keyed_items);
    assert_eq!(after.serde_replies, before.serde_replies);
}

#[test]
fn sorted_fields_are_read_one_by_one() {
    let (before, after) = paths_of_calls(ReplyLayout::Sorted);
    assert_eq!(after.fixed_order_items, before.fixed_order_items);
    assert_eq!(after.keyed_items - before.keyed_items, 5);
    assert_eq!(after.serde_replies, before.serde_replies);
}

#[test]
fn escaped_strings_are_left_to_serde() {
    let (before, after) = paths_of_calls(ReplyLayout::Escaped);
    assert_eq!(after.fixed_order_items, before.fixed_order_items);
    assert_eq!(after.keyed_items, before.keyed_items);
    assert_eq!(after.serde_replies - before.serde_replies, 2);
}

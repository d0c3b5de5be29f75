//! follow_delete end to end: splitting, outcomes, errors, secrets.

use super::*;
use tim_follow::testkit::Fault;
use tim_follow::{Error, ErrorKind, Outcome, TransportErrorKind};

#[test]
fn unfollow_of_45_accounts_is_three_requests_of_20_20_5_in_order() {
    let targets = ids("t", 45);
    let emu = emulator_with("u1", &targets);
    for t in &targets {
        emu.seed_follow("u1", t);
    }
    let client = emu.client();
    let out = client.follow_delete("u1", &targets).unwrap();
    assert_eq!(out.len(), 45);
    assert_eq!(out.requests(), 3);
    assert!(out.all_applied());
    let order: Vec<&str> = out.iter().map(|o| o.account.as_str()).collect();
    assert_eq!(
        order,
        targets.iter().map(String::as_str).collect::<Vec<_>>()
    );
    let mut bodies: Vec<serde_json::Value> = emu
        .requests()
        .iter()
        .map(|r| {
            assert_eq!(r.path, "follow/follow_delete");
            serde_json::from_str(&r.body).unwrap()
        })
        .collect();
    // With several workers the requests may complete in any order; each carries one chunk.
    bodies.sort_by_key(|b| b["To_Account"][0].as_str().unwrap().to_string());
    let sizes: Vec<usize> = bodies
        .iter()
        .map(|b| b["To_Account"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [20, 20, 5]);
    assert_eq!(bodies[0]["To_Account"][0], "t_000");
    assert_eq!(bodies[1]["To_Account"][0], "t_020");
    assert_eq!(bodies[2]["To_Account"][4], "t_044");
    assert!(emu.following("u1").is_empty());
}

#[test]
fn per_item_failures_are_refused_with_code_and_info() {
    let emu = emulator_with("u1", &ids("t", 2));
    let client = emu.client();
    let out = client
        .follow_delete("u1", &["t_000", "ghost", "t_001"])
        .unwrap();
    assert_eq!(out.len(), 3);
    match out.get("ghost").unwrap() {
        Outcome::Refused(api) => {
            assert_eq!(api.code, 30003);
            assert_eq!(api.kind(), ErrorKind::AccountNotFound);
            assert!(!api.info.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(out.applied().count(), 2);
    assert_eq!(out.refused().count(), 1);
}

#[test]
fn http_502_is_a_typed_error_after_retries() {
    let emu = emulator_with("u1", &ids("t", 1));
    emu.inject(Fault::HttpStatus(502), 10);
    let client = fast_client(&emu);
    match client.follow_delete("u1", &["t_000"]) {
        Err(Error::HttpStatus {
            status: 502,
            snippet,
        }) => assert!(snippet.contains("Bad Gateway")),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        emu.requests().len(),
        4,
        "four attempts by the default policy"
    );
}

#[test]
fn non_json_body_is_a_decode_error_without_retry() {
    let emu = emulator_with("u1", &ids("t", 1));
    emu.inject(Fault::GarbageBody, 1);
    let client = fast_client(&emu);
    match client.follow_delete("u1", &["t_000"]) {
        Err(Error::Decode(d)) => {
            assert_eq!(d.endpoint, "follow/follow_delete");
            assert!(d.message.contains("line 1"), "{}", d.message);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(emu.requests().len(), 1);
}

#[test]
fn invalid_input_is_rejected_before_any_request() {
    let emu = emulator_with("u1", &ids("t", 1));
    let client = emu.client();
    let long = "x".repeat(33);
    for (from, to) in [
        ("", vec!["t_000".to_string()]),
        ("u1", vec!["t_000".to_string(), String::new()]),
        ("u1", vec![long.clone()]),
        (long.as_str(), vec!["t_000".to_string()]),
    ] {
        match client.follow_delete(from, &to) {
            Err(Error::InvalidInput(inv)) => assert!(!inv.reason.is_empty()),
            other => panic!("{from:?} {to:?}: {other:?}"),
        }
    }
    let err = client.follow_delete("u1", &["ok", &long]).unwrap_err();
    assert!(err.to_string().contains("To_Account[1]"), "{err}");
    assert!(emu.requests().is_empty(), "nothing was sent");
}

#[test]
fn empty_list_sends_nothing_and_duplicates_are_sent_once() {
    let emu = emulator_with("u1", &ids("t", 3));
    let client = emu.client();
    let none: [&str; 0] = [];
    let out = client.follow_delete("u1", &none).unwrap();
    assert!(out.is_empty());
    assert_eq!(out.requests(), 0);
    assert!(emu.requests().is_empty());
    let out = client
        .follow_add("u1", &["t_001", "t_000", "t_001", "t_002", "t_000"])
        .unwrap();
    let order: Vec<&str> = out.iter().map(|o| o.account.as_str()).collect();
    assert_eq!(order, ["t_001", "t_000", "t_002"]);
    let body: serde_json::Value = serde_json::from_str(&emu.requests()[0].body).unwrap();
    assert_eq!(body["FollowItem"].as_array().unwrap().len(), 3);
}

#[test]
fn accepts_str_slices_strings_and_vecs() {
    let emu = emulator_with("u1", &ids("t", 2));
    let client = emu.client();
    let owned: Vec<String> = ids("t", 2);
    assert!(client.follow_add("u1", &owned).unwrap().all_applied());
    assert!(client.follow_add("u1", &["t_000"]).unwrap().all_applied());
    assert!(client.follow_add("u1", &[&owned[1]]).unwrap().all_applied());
}

#[test]
fn when_every_request_fails_the_call_is_an_error_naming_the_cause() {
    let emu = emulator_with("u1", &ids("t", 30));
    let client = fast_client(&emu);
    emu.inject(Fault::ErrorCode(30001), 10);
    let err = client.follow_delete("u1", &ids("t", 30)).unwrap_err();
    assert_eq!(err.code(), Some(30001));
}

#[test]
fn a_fatal_error_stops_the_rest_of_a_batch() {
    let targets = ids("t", 100);
    let emu = emulator_with("u1", &targets);
    // A client whose key is wrong: every request would fail with 70009.
    let client = emu
        .client_builder()
        .secret_key("not-the-key")
        .concurrency(1)
        .build()
        .unwrap();
    let err = client.follow_delete("u1", &targets).unwrap_err();
    assert_eq!(err.code(), Some(70009));
    assert!(err.to_string().contains("SecretKey"), "{err}");
    assert_eq!(
        emu.requests().len(),
        1,
        "the other four chunks were not sent"
    );
}

#[test]
fn secrets_never_appear_in_debug_display_or_errors() {
    let emu = emulator_with("u1", &ids("t", 1));
    let sig = tim_follow::usersig::generate(
        emu.sdkappid(),
        emu.secret_key(),
        emu.admin(),
        Duration::from_secs(3600),
    );
    let fixed = emu.client_builder().usersig(sig.clone());
    let builder_dbg = format!("{fixed:?}");
    let client = fixed.retry(RetryPolicy::none()).build().unwrap();
    let keyed = emu.client();
    let mut texts = vec![builder_dbg, format!("{client:?}"), format!("{keyed:?}")];
    // A transport error whose URL carried the sig: the connection is refused.
    let dead = tim_follow::Client::builder(emu.sdkappid(), emu.admin())
        .base_url("http://127.0.0.1:1")
        .usersig(sig.clone())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let e = dead.follow_delete("u1", &["t_000"]).unwrap_err();
    assert!(
        matches!(&e, Error::Transport(t) if t.kind == TransportErrorKind::Connect),
        "{e:?}"
    );
    texts.push(format!("{e}"));
    texts.push(format!("{e:?}"));
    for fault in [
        Fault::HttpStatus(502),
        Fault::GarbageBody,
        Fault::TruncatedBody,
        Fault::ErrorCode(70001),
    ] {
        emu.inject(fault, 1);
        let e = client.follow_delete("u1", &["t_000"]).unwrap_err();
        texts.push(format!("{e}"));
        texts.push(format!("{e:?}"));
    }
    // The keyed client signs its own; its errors and Debug are checked too.
    emu.inject(Fault::ErrorCode(70009), 1);
    let e = keyed.follow_delete("u1", &["t_000"]).unwrap_err();
    texts.push(format!("{e}"));
    texts.push(format!("{e:?}"));
    texts.push(format!("{keyed:?}"));
    texts.push(format!("{:?}", emu.requests()));
    // What the emulator received, not UserSigs rebuilt by the code under test.
    let received = emu.received_usersigs();
    assert!(received.contains(&sig), "the fixed UserSig was sent");
    assert_eq!(received.len(), 2, "the fixed one and the keyed client's");
    for t in &texts {
        for s in &received {
            assert!(!t.contains(s.as_str()), "UserSig leaked: {t}");
        }
        assert!(!t.contains(emu.secret_key()), "SecretKey leaked: {t}");
    }
}

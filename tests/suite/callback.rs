//! Webhooks: the official Sign vector, the documented payloads, every rejection,
//! and the emulator's webhooks received and verified end to end.

use super::*;
use std::io::Write;
use std::net::TcpListener;
use std::sync::mpsc;
use tim_follow::callback::{self, CallbackError, Event, FollowEvent, Verifier};

const ADD_BODY: &[u8] = br#"{"CallbackCommand":"Follow.CallbackAfterFollowAdd","From_Account":"UserID_001",
 "FollowList":[{"To_Account":"UserID_002"},{"To_Account":"UserID_003"}],"EventTime":1702018343678}"#;
const DELETE_BODY: &[u8] =
    br#"{"CallbackCommand":"Follow.CallbackAfterFollowDelete","From_Account":"UserID_001",
 "To_Account":["UserID_002","UserID_003"],"EventTime":1702018343678}"#;
const SIGN: &str = "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061";

fn query(command: &str, app: &str, sign: Option<(&str, u64)>) -> String {
    let mut q = format!("SdkAppid={app}&CallbackCommand={command}&contenttype=json&ClientIP=1.2.3.4&OptPlatform=RESTAPI");
    if let Some((s, t)) = sign {
        q.push_str(&format!("&Sign={s}&RequestTime={t}"));
    }
    q
}

#[test]
fn official_sign_vector() {
    assert_eq!(callback::sign_hex("xxxxyyyy", 1669872112), SIGN);
}

#[test]
fn documented_payloads_parse_exactly() {
    let v = Verifier::new(1400000000).token("xxxxyyyy");
    let q = query(callback::FOLLOW_ADD, "1400000000", Some((SIGN, 1669872112)));
    let check = |e: &FollowEvent| {
        assert_eq!(e.from_account, "UserID_001");
        assert_eq!(e.to_accounts, ["UserID_002", "UserID_003"]);
        assert_eq!(e.event_time_ms, 1702018343678);
    };
    match v.verify_at(&q, ADD_BODY, 1669872112).unwrap() {
        Event::FollowAdd(e) => check(&e),
        other => panic!("{other:?}"),
    }
    let q = query(
        callback::FOLLOW_DELETE,
        "1400000000",
        Some((SIGN, 1669872112)),
    );
    match v.verify_at(&q, DELETE_BODY, 1669872112).unwrap() {
        Event::FollowDelete(e) => check(&e),
        other => panic!("{other:?}"),
    }
    // Another command comes back whole.
    let q = query("State.StateChange", "1400000000", None);
    let body = br#"{"CallbackCommand":"State.StateChange","Info":{"Action":"Login"}}"#;
    match Verifier::new(1400000000).verify_at(&q, body, 0).unwrap() {
        Event::Other { command, body } => {
            assert_eq!(command, "State.StateChange");
            assert_eq!(body["Info"]["Action"], "Login");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        callback::ack_ok(),
        r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}"#
    );
    let fail: serde_json::Value =
        serde_json::from_str(&callback::ack_fail(1, "bad \"sign\"")).unwrap();
    assert_eq!(fail["ActionStatus"], "FAIL");
    assert_eq!(fail["ErrorInfo"], "bad \"sign\"");
}

#[test]
fn every_rejection_is_its_own_error() {
    let v = Verifier::new(1400000000).token("xxxxyyyy");
    let add = callback::FOLLOW_ADD;
    let t = 1669872112;
    let cases: Vec<(String, &[u8], u64, CallbackError)> = vec![
        (
            query(add, "1400000000", Some((&SIGN.replace('1', "2"), t))),
            ADD_BODY,
            t,
            CallbackError::BadSignature,
        ),
        (
            query(add, "1400000000", Some((SIGN, t))),
            ADD_BODY,
            t + 61,
            CallbackError::TooOld {
                request_time: t,
                now: t + 61,
            },
        ),
        (
            query(add, "1400000000", Some((SIGN, t))),
            ADD_BODY,
            t - 61,
            CallbackError::FromFuture {
                request_time: t,
                now: t - 61,
            },
        ),
        (
            query(add, "1400000001", Some((SIGN, t))),
            ADD_BODY,
            t,
            CallbackError::SdkAppIdMismatch {
                expected: 1400000000,
                found: "1400000001".into(),
            },
        ),
        (
            query(add, "1400000000", None),
            ADD_BODY,
            t,
            CallbackError::MissingSignature,
        ),
        (
            query(add, "1400000000", Some(("zz", 0))).replace("RequestTime=0", "RequestTime=soon"),
            ADD_BODY,
            t,
            CallbackError::BadRequestTime,
        ),
        (
            "CallbackCommand=x".into(),
            ADD_BODY,
            t,
            CallbackError::MissingParameter("SdkAppid"),
        ),
        (
            query(callback::FOLLOW_DELETE, "1400000000", Some((SIGN, t))),
            ADD_BODY,
            t,
            CallbackError::CommandMismatch,
        ),
    ];
    for (q, body, now, want) in cases {
        assert_eq!(v.verify_at(&q, body, now), Err(want.clone()), "{q}");
        assert!(!want.to_string().is_empty());
    }
    // Within the window either way is fine; the skew is configurable.
    assert!(v
        .verify_at(&query(add, "1400000000", Some((SIGN, t))), ADD_BODY, t + 60)
        .is_ok());
    assert!(v
        .clone()
        .max_skew(Duration::from_secs(5))
        .verify_at(&query(add, "1400000000", Some((SIGN, t))), ADD_BODY, t + 6)
        .is_err());
    // The widest window cannot overflow the time check, whatever the times.
    let wide = v.clone().max_skew(Duration::MAX);
    for (sent, now) in [
        (t, u64::MAX),
        (u64::MAX, 0),
        (u64::MAX, u64::MAX),
        (0, u64::MAX),
    ] {
        let sign = callback::sign_hex("xxxxyyyy", sent);
        let q = query(add, "1400000000", Some((&sign, sent)));
        assert!(wide.verify_at(&q, ADD_BODY, now).is_ok(), "{sent} at {now}");
    }
    // Missing fields and garbage bodies are malformed.
    let q = query(add, "1400000000", Some((SIGN, t)));
    for body in [
        &b"{}"[..],
        b"not json",
        b"[]",
        br#"{"From_Account":"a","FollowList":[{"To":"b"}],"EventTime":1}"#,
    ] {
        assert!(
            matches!(v.verify_at(&q, body, t), Err(CallbackError::Malformed(_))),
            "{body:?}"
        );
    }
    // No token: only SdkAppid is checked.
    assert!(Verifier::new(1400000000)
        .verify_at(&query(add, "1400000000", None), ADD_BODY, 0)
        .is_ok());
    assert!(!format!("{v:?}").contains("xxxxyyyy"));
}

/// A tiny receiver: each POST's query and body go to the channel; answers with the ack.
fn receiver() -> (String, mpsc::Receiver<(String, Vec<u8>)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/tim/callback", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(8) {
            let Ok(s) = stream else { continue };
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut writer = s.try_clone().unwrap();
            let Some(request) = crate::read_request(&mut std::io::BufReader::new(s)) else {
                continue;
            };
            let query = request
                .target()
                .split_once('?')
                .map(|(_, q)| q.to_string())
                .unwrap_or_default();
            let ack = callback::ack_ok();
            let _ = write!(
                writer,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{ack}",
                ack.len()
            );
            if tx.send((query, request.body)).is_err() {
                break;
            }
        }
    });
    (url, rx)
}

#[test]
fn emulator_webhooks_are_received_and_verified_end_to_end() {
    let (url, rx) = receiver();
    let emu = Emulator::builder()
        .accounts(&["a", "b", "c"])
        .webhook(url, Some("s3cret-token"))
        .start()
        .unwrap();
    let client = emu.client();
    client.follow_add("a", &["b", "c"]).unwrap();
    client.follow_delete("a", &["b"]).unwrap();
    let verifier = Verifier::new(emu.sdkappid()).token("s3cret-token");
    let mut events = Vec::new();
    for _ in 0..2 {
        let (query, body) = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("webhook arrives");
        events.push(verifier.verify(&query, &body).expect("valid signature"));
    }
    // The emulator sends from several threads, as the service does: events
    // carry their time, not an order of arrival.
    events.sort_by_key(|e| matches!(e, Event::FollowDelete(_)));
    match &events[0] {
        Event::FollowAdd(e) => {
            assert_eq!(e.from_account, "a");
            assert_eq!(e.to_accounts, ["b", "c"]);
            assert!(e.event_time_ms > 1_600_000_000_000);
        }
        other => panic!("{other:?}"),
    }
    match &events[1] {
        Event::FollowDelete(e) => assert_eq!(
            (e.from_account.as_str(), e.to_accounts.as_slice()),
            ("a", &["b".to_string()][..])
        ),
        other => panic!("{other:?}"),
    }
    // Repeats change nothing and send nothing: the next webhook is b's follow.
    client.follow_add("a", &["c"]).unwrap();
    client.follow_delete("a", &["b"]).unwrap();
    // A wrong token rejects them.
    client.follow("b", "a").unwrap();
    let (query, body) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains(r#""From_Account":"b""#),
        "no webhook for a no-op: {text}"
    );
    assert_eq!(
        Verifier::new(emu.sdkappid())
            .token("other")
            .verify(&query, &body),
        Err(CallbackError::BadSignature)
    );
}

#[test]
fn an_oversized_body_and_a_repeated_parameter_are_refused_before_any_parsing() {
    let v = Verifier::new(1400000000).token("xxxxyyyy");
    let q = query(callback::FOLLOW_ADD, "1400000000", Some((SIGN, 1669872112)));
    // 2 MiB that are not even JSON: refused for their size, not parsed.
    let big = vec![b'x'; 2 << 20];
    assert_eq!(
        v.verify_at(&q, &big, 1669872112),
        Err(CallbackError::TooLarge {
            size: 2 << 20,
            max: 1 << 20
        })
    );
    assert!(matches!(
        v.clone().max_body(64).verify_at(&q, ADD_BODY, 1669872112),
        Err(CallbackError::TooLarge { .. })
    ));
    // A second Sign (or SdkAppid): which one counts would be a guess.
    for extra in ["&Sign=00", "&SdkAppid=1400000000", "&RequestTime=1"] {
        let twice = format!("{q}{extra}");
        assert!(
            matches!(
                v.verify_at(&twice, b"not json", 1669872112),
                Err(CallbackError::RepeatedParameter(_))
            ),
            "{extra}"
        );
    }
    // The documented payload still passes, and a body command that differs is refused.
    assert!(v.verify_at(&q, ADD_BODY, 1669872112).is_ok());
    let other = String::from_utf8_lossy(ADD_BODY).replace("FollowAdd\"", "FollowDelete\"");
    assert_eq!(
        v.verify_at(&q, other.as_bytes(), 1669872112),
        Err(CallbackError::CommandMismatch)
    );
}

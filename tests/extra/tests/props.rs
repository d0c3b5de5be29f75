//! Property tests: whatever the bytes, the parsers answer with a typed error, never a panic.

use proptest::prelude::*;
use tim_follow::callback::{self, Verifier};
use tim_follow::request::{parse_response, Request};
use tim_follow::{
    usersig, FollowCheck, FollowCounts, FollowDelete, FollowGet, FollowGetInfo, FollowType, Payload,
};

const VALID: &str = r#"{"ResultItem":[{"To_Account":"UserID_002","ResultCode":0,"ResultInfo":"","FollowType":3}],"FollowInfo":[{"To_Account":"a","FollowerCount":1}],"FollowItem":[{"To_Account":"x","FollowTime":1,"ProfileItem":[{"Tag":"t","Value":1}]}],"NextCursor":"c","ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ErrorDisplay":""}"#;

fn parse_all(status: u16, body: &[u8]) {
    same_as_serde(status, body);
    let _ = parse_response::<<FollowDelete as Request>::Response>(status, body);
    let _ = parse_response::<<FollowCheck as Request>::Response>(status, body);
    let _ = parse_response::<<FollowGet as Request>::Response>(status, body);
    let _ = parse_response::<<FollowGetInfo as Request>::Response>(status, body);
    let _ = parse_response::<serde_json::Value>(status, body);
}

/// The batch endpoints' own parsers (one pass over a reply in the usual
/// shape, serde for the rest) give exactly what serde alone gives.
fn same_as_serde(status: u16, body: &[u8]) {
    use tim_follow::FollowAdd;
    fn one<R: Request>(status: u16, body: &[u8])
    where
        R::Response: PartialEq + std::fmt::Debug,
    {
        let serde = tim_follow::request::parse_response_for(R::PATH, status, body);
        assert_eq!(R::parse(status, body), serde, "{}", R::PATH);
    }
    one::<FollowDelete>(status, body);
    one::<FollowAdd>(status, body);
    one::<FollowCheck>(status, body);
    one::<FollowGetInfo>(status, body);
}

/// A JSON value of the kinds a reply's fields may hold, usual or not.
fn json_value() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[a-zA-Z0-9_ é]{0,8}".prop_map(|s| format!("\"{s}\"")),
        1 => prop::sample::select(vec![
            r#""a\"b""#, r#""\u00e9""#, "\"tab\there\"", r#""""#, "null", "true", "[]", "[1]",
            r#"{"a":1}"#, "0.5", "1e3", "-0", "01", "9223372036854775808", "-9223372036854775808",
            "18446744073709551616", "-", "\"unterminated",
        ]).prop_map(str::to_string),
        4 => any::<i64>().prop_map(|n| n.to_string()),
        8 => (0i64..40000).prop_map(|n| n.to_string()),
    ]
}

/// Whitespace as JSON allows it, mostly none.
fn ws() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", "", "", " ", "\n ", "\t", "\r\n"])
}

/// An object of some of `keys` in any order, now and then one twice, with
/// values from `value`.
fn object(keys: &'static [&'static str], value: BoxedStrategy<String>) -> BoxedStrategy<String> {
    let n = keys.len();
    (
        prop::sample::subsequence(keys.to_vec(), 0..=n).prop_shuffle(),
        proptest::option::weighted(0.1, prop::sample::select(keys.to_vec())),
    )
        .prop_flat_map(move |(mut chosen, twice)| {
            chosen.extend(twice);
            let m = chosen.len();
            (
                Just(chosen),
                proptest::collection::vec((value.clone(), ws(), ws()), m),
            )
        })
        .prop_map(|(chosen, values)| {
            let inner: Vec<String> = chosen
                .iter()
                .zip(values)
                .map(|(k, (v, a, b))| format!("{a}\"{k}\"{b}:{a}{v}{b}"))
                .collect();
            format!("{{{}}}", inner.join(","))
        })
        .boxed()
}

/// Every field an item of a batch endpoint may carry: the common ones, the
/// payloads' own (taken from the endpoint types, so that they are the
/// names the client reads), and one unknown.
fn item_keys() -> &'static [&'static str] {
    static KEYS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let mut keys = vec!["To_Account", "ResultCode", "ResultInfo"];
        keys.extend(<FollowType as Payload>::FIELDS);
        keys.extend(<FollowCounts as Payload>::FIELDS);
        keys.push("Other");
        keys
    })
}

#[test]
fn the_generated_fields_are_the_documented_ones() {
    // Spec §3.3 and §3.5: the names the service writes.
    for name in [
        "FollowType",
        "FollowerCount",
        "FollowingCount",
        "MutualFollowingCount",
    ] {
        assert!(item_keys().contains(&name), "{name}");
    }
}

/// A reply of any batch endpoint, usual or odd.
fn batch_reply() -> impl Strategy<Value = String> {
    const TOP_KEYS: &[&str] = &[
        "ResultItem",
        "FollowInfo",
        "ErrorCode",
        "ActionStatus",
        "ErrorInfo",
        "ErrorDisplay",
        "Other",
    ];
    let item = object(item_keys(), json_value().boxed());
    let list = proptest::collection::vec(item, 0..4).prop_map(|v| format!("[{}]", v.join(",")));
    let top_value = prop_oneof![3 => list, 2 => json_value()].boxed();
    (object(TOP_KEYS, top_value), ws(), ws()).prop_map(|(o, a, b)| format!("{a}{o}{b}"))
}

/// The payload fields of an item in the shape the service sends: none, or
/// every field of one endpoint in its documented order.
fn usual_payload() -> impl Strategy<Value = String> {
    let fields = |names: &'static [&'static str]| {
        proptest::collection::vec(prop_oneof![9 => 0i64..5000, 1 => any::<i64>()], names.len())
            .prop_map(move |values| {
                names
                    .iter()
                    .zip(values)
                    .map(|(name, v)| format!(r#","{name}":{v}"#))
                    .collect::<String>()
            })
    };
    prop_oneof![
        Just(String::new()),
        fields(<FollowType as Payload>::FIELDS),
        fields(<FollowCounts as Payload>::FIELDS),
    ]
}

/// A reply in the shape the service sends, success or failure.
fn usual_reply() -> impl Strategy<Value = String> {
    let item = (
        "[a-zA-Z0-9_]{1,8}",
        prop_oneof![Just(0i64), 30000i64..40000],
        "[a-z ]{0,6}",
        usual_payload(),
    )
        .prop_map(|(to, code, info, extra)| {
            format!(r#"{{"To_Account":"{to}","ResultCode":{code},"ResultInfo":"{info}"{extra}}}"#)
        });
    (
        proptest::collection::vec(item, 0..5),
        prop::sample::select(vec!["ResultItem", "FollowInfo"]),
        prop_oneof![Just(0i64), Just(70001i64), 90000i64..100000],
        "[a-z ]{0,6}",
        "[a-z ]{0,6}",
        any::<bool>(),
    )
        .prop_map(|(items, list, code, info, display, ok)| {
            format!(
                r#"{{"{list}":[{}],"ActionStatus":"{}","ErrorCode":{code},"ErrorInfo":"{info}","ErrorDisplay":"{display}"}}"#,
                items.join(","),
                if ok { "OK" } else { "FAIL" }
            )
        })
}

fn mutate(base: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut b = base.to_vec();
    for &(pos, byte, op) in edits {
        if b.is_empty() {
            b.push(byte);
            continue;
        }
        let i = pos % b.len();
        match op % 3 {
            0 => b[i] = byte,
            1 => {
                b.remove(i);
            }
            _ => b.insert(i, byte),
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn response_parser_never_panics_on_arbitrary_bytes(status in 0u16..1000, body in proptest::collection::vec(any::<u8>(), 0..512)) {
        parse_all(status, &body);
    }

    #[test]
    fn request_bodies_are_the_bytes_serde_writes(from in "[^\\p{Cc}]{1,8}", to in proptest::collection::vec("[ -~é\"\\\\\u{2028}😀]{1,8}", 1..20)) {
        use tim_follow::{FollowAdd, FollowGetInfo};
        let d = FollowDelete::new(&from, &to).unwrap();
        prop_assert_eq!(d.body().unwrap(), serde_json::to_vec(&d).unwrap());
        let a = FollowAdd::new(&from, &to).unwrap();
        prop_assert_eq!(a.body().unwrap(), serde_json::to_vec(&a).unwrap());
        let c = FollowCheck::new(&from, &to).unwrap();
        prop_assert_eq!(c.body().unwrap(), serde_json::to_vec(&c).unwrap());
        let i = FollowGetInfo::new(&from, &to).unwrap();
        prop_assert_eq!(i.body().unwrap(), serde_json::to_vec(&i).unwrap());
    }

    #[test]
    fn batch_replies_are_read_as_serde_reads_them(body in prop_oneof![batch_reply(), usual_reply()], status in prop::sample::select(vec![200u16, 200, 200, 204, 500])) {
        same_as_serde(status, body.as_bytes());
    }

    #[test]
    fn response_parser_never_panics_on_mutated_replies(edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8)) {
        let body = mutate(VALID.as_bytes(), &edits);
        parse_all(200, &body);
    }

    #[test]
    fn usersig_verify_never_panics(sig in ".{0,300}", edits in proptest::collection::vec((any::<usize>(), 0u8..128, any::<u8>()), 1..6)) {
        let _ = usersig::verify_at(&sig, 1, "k", "a", 0);
        let good = usersig::generate_at(1400000000, "key", "admin", std::time::Duration::from_secs(60), 1000);
        let bad = mutate(good.as_bytes(), &edits);
        let bad = String::from_utf8_lossy(&bad).to_string();
        match usersig::verify_at(&bad, 1400000000, "key", "admin", 1000) {
            Ok(c) => prop_assert_eq!(c.identifier, "admin"),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn webhook_parser_never_panics(query in ".{0,200}", body in proptest::collection::vec(any::<u8>(), 0..300),
                                   edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..6)) {
        let v = Verifier::new(1400000000).token("t");
        let _ = v.verify_at(&query, &body, 0);
        let doc = br#"{"CallbackCommand":"Follow.CallbackAfterFollowDelete","From_Account":"a","To_Account":["b"],"EventTime":1}"#;
        let q = format!("SdkAppid=1400000000&CallbackCommand=Follow.CallbackAfterFollowDelete&Sign={}&RequestTime=5", callback::sign_hex("t", 5));
        let _ = v.verify_at(&q, &mutate(doc, &edits), 5);
    }
}

mod batch_invariant {
    use super::*;
    use std::time::Duration;
    use tim_follow::testkit::{DuplicateAnswer, Emulator, Fault};
    use tim_follow::{Outcome, RetryPolicy};

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Whatever the list (duplicates, unknown accounts, several requests),
        /// whatever fails on the way (answers lost after the work was done
        /// included) and however the service answers a repeat, every distinct
        /// account is reported exactly once, in order of first appearance,
        /// applied ones really are applied and refused ones really are not.
        #[test]
        fn every_distinct_account_is_reported_once_in_order(
            picks in proptest::collection::vec(0usize..40, 0..70),
            fail_at in proptest::option::of(0u32..4),
            fault_kind in 0u8..5,
            refuse_repeats in any::<bool>(),
        ) {
            let mode = if refuse_repeats { DuplicateAnswer::Refuse(30001) } else { DuplicateAnswer::Apply };
            let emu = Emulator::builder().rate_limit(None, 60007).duplicates(mode).start().unwrap();
            // Accounts 0..30 exist, 30..40 do not.
            let known: Vec<String> = (0..30).map(|i| format!("p{i}")).collect();
            emu.import_accounts(&["me"]);
            emu.import_accounts(&known);
            let to: Vec<String> = picks.iter().map(|i| format!("p{i}")).collect();
            if let Some(n) = fail_at {
                for _ in 0..n {
                    emu.inject(Fault::Latency(Duration::ZERO), 1);
                }
                let fault = match fault_kind {
                    0 => Fault::HttpStatus(502),
                    1 => Fault::ErrorCode(30001),
                    2 => Fault::DropAfterRead,
                    3 => Fault::DropAfterProcessing,
                    _ => Fault::TruncatedBody,
                };
                emu.inject(fault, 2);
            }
            let client = emu
                .client_builder()
                .concurrency(1)
                .retry(
                    RetryPolicy::default()
                        .max_attempts(3)
                        .base_delay(Duration::from_millis(1))
                        .max_delay(Duration::from_millis(2)),
                )
                .build()
                .unwrap();
            let mut expected: Vec<&str> = Vec::new();
            for t in &to {
                if !expected.contains(&t.as_str()) {
                    expected.push(t);
                }
            }
            match client.follow_add("me", &to) {
                Ok(out) => {
                    let got: Vec<&str> = out.iter().map(|o| o.account.as_str()).collect();
                    prop_assert_eq!(&got, &expected);
                    prop_assert_eq!(out.requests(), expected.len().div_ceil(20));
                    for item in &out {
                        let known_account = item.account[1..].parse::<usize>().unwrap() < 30;
                        match &item.outcome {
                            Outcome::Applied(()) => prop_assert!(emu.is_following("me", &item.account)),
                            Outcome::Refused(e) => prop_assert!(!known_account && e.code == 30003),
                            // Not known: only where a fault was injected.
                            Outcome::Unknown(_) => prop_assert!(fail_at.is_some()),
                        }
                    }
                }
                // Err only when nothing was processed.
                Err(_) => prop_assert!(emu.following("me").is_empty()),
            }
        }
    }
}

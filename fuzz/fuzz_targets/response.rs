//! Every reply type, from any bytes and any HTTP status: never a panic, a
//! reply item is applied only with its documented fields, and the batch
//! endpoints' one-pass reader gives what serde gives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tim_follow::request::{parse_response, parse_response_for, Request};
use tim_follow::FollowDelete;
use tim_follow::{FollowAdd, FollowCheck, FollowGet, FollowGetInfo};

fuzz_target!(|data: &[u8]| {
    let (status, body) = match data.split_first() {
        Some((&s, rest)) if s < 8 => (200 + u16::from(s) * 50, rest),
        _ => (200, data),
    };
    if let Ok(reply) = FollowAdd::parse(status, body) {
        for item in reply.items {
            assert!(item.payload.is_none() || (item.result_code == 0 && item.problem.is_none()));
        }
    }
    if let Ok(reply) = FollowCheck::parse(status, body) {
        for item in reply.items {
            assert!(item.payload.is_none() || (item.result_code == 0 && item.problem.is_none()));
        }
    }
    assert_eq!(
        FollowDelete::parse(status, body),
        parse_response_for(FollowDelete::PATH, status, body)
    );
    assert_eq!(
        FollowAdd::parse(status, body),
        parse_response_for(FollowAdd::PATH, status, body)
    );
    assert_eq!(
        FollowCheck::parse(status, body),
        parse_response_for(FollowCheck::PATH, status, body)
    );
    assert_eq!(
        FollowGetInfo::parse(status, body),
        parse_response_for(FollowGetInfo::PATH, status, body)
    );
    let _ = FollowGet::parse(status, body);
    let _ = parse_response::<serde_json::Value>(status, body);
});

//! Every reply type, from any bytes and any HTTP status: never a panic, and a
//! reply item is applied only with its documented fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tim_follow::request::{parse_response, Request};
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
    let _ = FollowGetInfo::parse(status, body);
    let _ = FollowGet::parse(status, body);
    let _ = parse_response::<serde_json::Value>(status, body);
});

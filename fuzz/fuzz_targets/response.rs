//! Every reply type, from any bytes and any HTTP status: never a panic, a
//! reply item is applied only with its documented fields, and the batch
//! endpoints' one-pass reader gives what serde gives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tim_follow::request::{parse_response, parse_response_for, Request};
use tim_follow::{FollowAdd, FollowCheck, FollowDelete, FollowGet, FollowGetInfo};

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
    same_as_serde::<FollowDelete>(status, body);
    same_as_serde::<FollowAdd>(status, body);
    same_as_serde::<FollowCheck>(status, body);
    same_as_serde::<FollowGetInfo>(status, body);
    let _ = FollowGet::parse(status, body);
    let _ = parse_response::<serde_json::Value>(status, body);
});

/// The endpoint's own reader (one pass for the usual shape) gives what serde gives.
fn same_as_serde<R: Request>(status: u16, body: &[u8])
where
    R::Response: PartialEq + std::fmt::Debug,
{
    let serde = parse_response_for(R::PATH, status, body);
    assert_eq!(R::parse(status, body), serde, "{}", R::PATH);
}

//! The webhook receiver's request handling from any bytes: the HTTP reader,
//! then the verification and the answer. Never a panic; a refusal is never
//! an acknowledgement; a delivery is always one the verifier accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tim_follow::callback::Verifier;
use tim_follow::receiver::{answer, Answer};
use tim_follow::testkit::wire::read_request;

const NOW: u64 = 1669872120;

fuzz_target!(|data: &[u8]| {
    let verifier = Verifier::new(1400000000).token("xxxxyyyy").max_body(64 * 1024);
    if let Some(Ok((method, target, body))) = read_request(data) {
        match answer(&verifier, &method, &target, &body, NOW) {
            Answer::Deliver(d) => {
                assert_eq!(method, "POST");
                let query = target.split_once('?').map_or("", |(_, q)| q);
                assert!(verifier.verify_at(query, &body, NOW).is_ok());
                assert_eq!(d.key.len(), 32);
                let _ = d.json().to_string();
            }
            Answer::Refuse { status, body, .. } => {
                assert!(status >= 400);
                assert!(!body.contains("\"ErrorCode\":0"));
            }
            _ => {}
        }
    }
});

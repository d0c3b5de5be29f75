//! The emulator's HTTP request reader from any bytes: never a panic, and a
//! body it accepts is within the buffer it was given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tim_follow::testkit::wire::read_request;

fuzz_target!(|data: &[u8]| {
    if let Some(Ok((_, target, body))) = read_request(data) {
        assert!(target.starts_with('/'));
        assert!(body.len() <= data.len());
    }
});

//! `callback::Verifier::verify_at` from any query and body (split at the first
//! newline), with and without a token: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tim_follow::callback::Verifier;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let query = String::from_utf8_lossy(&data[..split]);
    let body = data.get(split + 1..).unwrap_or_default();
    let now = 1_669_872_112;
    let _ = Verifier::new(1400000000).verify_at(&query, body, now);
    let _ = Verifier::new(1400000000)
        .token("xxxxyyyy")
        .max_skew(std::time::Duration::MAX)
        .verify_at(&query, body, now);
});

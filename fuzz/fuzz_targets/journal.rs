//! The job journal's reader from any bytes: never a panic, never more
//! memory than the bytes justify, and a summary that agrees with itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tim_follow::job::status_of;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = status_of(data, "fuzz") {
        assert!(s.to_resume <= s.pending + s.unknown);
        if s.complete {
            assert_eq!(s.to_resume, 0);
        }
    }
});

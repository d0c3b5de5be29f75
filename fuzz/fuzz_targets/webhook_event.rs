//! `callback::parse_event` for each follow command and an unknown one: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tim_follow::callback::{self, parse_event};

fuzz_target!(|data: &[u8]| {
    for command in [
        callback::FOLLOW_ADD,
        callback::FOLLOW_DELETE,
        "Other.Command",
    ] {
        let _ = parse_event(command, data);
    }
});

//! `usersig::verify_at`, `verify_with_userbuf_at`, `decode_claims` and
//! `decode_json` from any text: never a panic, never a large allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tim_follow::usersig;

const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";

fuzz_target!(|data: &[u8]| {
    let sig = String::from_utf8_lossy(data);
    let _ = usersig::verify_at(&sig, 1400000000, KEY, "xiaojun", 1_700_000_000);
    let _ =
        usersig::verify_with_userbuf_at(&sig, 1400000000, KEY, "xiaojun", b"buf", 1_700_000_000);
    if let Ok(claims) = usersig::decode_claims(&sig) {
        let _ = claims.expires_at();
    }
    let _ = usersig::decode_json(&sig);
});

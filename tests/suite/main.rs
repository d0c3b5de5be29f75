//! End-to-end tests: the real client over real HTTP against the emulator on 127.0.0.1.

mod callback;
mod client;
mod emulator;
mod family;
mod props;
mod reliability;
mod signing;
mod wire;

use std::time::Duration;

use tim_follow::testkit::Emulator;
use tim_follow::{Client, RetryPolicy};

/// `user_000` … : `n` account ids.
pub fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}_{i:03}")).collect()
}

/// An emulator with `from` and `n` targets imported.
pub fn emulator_with(from: &str, targets: &[String]) -> Emulator {
    let emu = Emulator::start().expect("emulator starts");
    emu.import_accounts(&[from]);
    emu.import_accounts(targets);
    emu
}

/// A client for `emu` with fast retries, so that fault tests stay short.
pub fn fast_client(emu: &Emulator) -> Client {
    emu.client_builder()
        .retry(
            RetryPolicy::default()
                .base_delay(Duration::from_millis(5))
                .rate_limited_base_delay(Duration::from_millis(20))
                .max_delay(Duration::from_millis(50)),
        )
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client builds")
}

/// The current Unix time in seconds.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

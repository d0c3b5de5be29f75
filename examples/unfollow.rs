//! Unfollow from the command line: `FROM` stops following each `TO`.
//!
//! ```text
//! # against Tencent (credentials from the environment):
//! TIM_SDKAPPID=1400000000 TIM_SECRET_KEY=… TIM_REGION=sgp \
//!     cargo run --example unfollow -- UserID_001 UserID_002 UserID_003
//! # offline, against the built-in emulator:
//! cargo run --example unfollow -- --emulator UserID_001 UserID_002 UserID_003
//! ```

use std::process::ExitCode;

use tim_follow::testkit::Emulator;
use tim_follow::{Client, Outcome};

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let offline = args.first().is_some_and(|a| a == "--emulator");
    if offline {
        args.remove(0);
    }
    if args.len() < 2 {
        eprintln!("usage: unfollow [--emulator] FROM TO...");
        return ExitCode::from(2);
    }
    let (from, targets) = (&args[0], &args[1..]);

    // Offline: an emulator where FROM follows every TO, so there is something to undo.
    let emu;
    let client = if offline {
        emu = match Emulator::start() {
            Ok(e) => e,
            Err(e) => {
                eprintln!("cannot start the emulator: {e}");
                return ExitCode::from(2);
            }
        };
        for t in targets {
            emu.seed_follow(from, t);
        }
        Ok(emu.client())
    } else {
        Client::from_env()
    };
    let client = match client {
        Ok(c) => c,
        Err(e) => {
            eprintln!("configuration: {e}");
            return ExitCode::from(2);
        }
    };

    match client.follow_delete(from, targets) {
        Ok(out) => {
            for item in &out {
                match &item.outcome {
                    Outcome::Applied(()) => println!("{}: unfollowed", item.account),
                    Outcome::Refused(e) => {
                        println!("{}: refused ({} {})", item.account, e.code, e.info)
                    }
                    Outcome::Unknown(e) => println!("{}: unknown, send again ({e})", item.account),
                }
            }
            if out.all_applied() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("unfollow failed: {e}");
            ExitCode::from(3)
        }
    }
}

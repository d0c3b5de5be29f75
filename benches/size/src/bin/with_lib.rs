//! One 20-account follow_delete through tim-follow (default features).
//! `with_lib BASE_URL USERSIG`; prints each account's outcome.

use std::process::ExitCode;

use tim_follow::{Client, Outcome};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, usersig] = args.as_slice() else {
        eprintln!("usage: with_lib BASE_URL USERSIG");
        return ExitCode::from(2);
    };
    let to: Vec<String> = (2..=21).map(|i| format!("UserID_{i:03}")).collect();
    let client = match Client::builder(1_400_000_000, "administrator")
        .base_url(base.as_str())
        .usersig(usersig.as_str())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("configuration: {e}");
            return ExitCode::from(2);
        }
    };
    match client.follow_delete("UserID_001", &to) {
        Ok(batch) => {
            for item in batch.iter() {
                match &item.outcome {
                    Outcome::Applied(()) => println!("{}: applied", item.account),
                    Outcome::Refused(e) => println!("{}: refused: {e}", item.account),
                    Outcome::Unknown(e) => println!("{}: unknown: {e}", item.account),
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("follow_delete: {e}");
            ExitCode::FAILURE
        }
    }
}

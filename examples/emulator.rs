//! Runs the emulator standalone, for tools in any language (curl, Python, Go…).
//!
//! ```text
//! cargo run --features testkit --example emulator -- --port 8080 --sdkappid 1400000000 \
//!     --admin administrator --secret-key KEY --accounts alice,bob,carol
//! ```
//!
//! Every flag is optional: port 0 (any free port), SDKAppID 1400000000, admin
//! `administrator`, the public sample SecretKey, no accounts, 200 calls per
//! second per API. The first line printed is `listening on http://127.0.0.1:PORT`;
//! the second starts with `export ` and sets `TIM_BASE_URL`, `TIM_SDKAPPID`,
//! `TIM_ADMIN` and `TIM_SECRET_KEY`, so that
//! `eval "$(cargo run --features testkit --example emulator | grep -m1 '^export ')"`
//! … then `tim-follow add alice bob` works (the emulator keeps running).
//! The last line is a `curl` example with two of the `--accounts` given (and
//! the UserSig itself with `--print-usersig`, else a `USERSIG` to replace).
//! `--duplicates refuse:30001` answers a repeated follow or unfollow with
//! that code instead of 0 (the service's own answer is not documented).
//! `--open-accounts` makes every account a request names exist, imported on
//! first sight, instead of refusing an unknown one with 30003: for long jobs
//! and load tests over accounts that were never imported (a `--file` of a
//! million ids).

use std::process::ExitCode;
use std::time::Duration;

use tim_follow::testkit::{self, DuplicateAnswer, Emulator};

const HELP: &str = "\
usage: emulator [--port N] [--sdkappid N] [--admin ID] [--secret-key KEY]
                [--accounts a,b,c] [--rate-limit N|off] [--webhook URL] [--webhook-token T]
                [--webhook-retries N]
                [--duplicates apply|refuse:CODE] [--open-accounts] [--max-following N]
                [--print-usersig]";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}\n{HELP}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let mut builder = Emulator::builder();
    let mut sdkappid = testkit::DEFAULT_SDKAPPID;
    let mut admin = testkit::DEFAULT_ADMIN.to_string();
    let mut key = testkit::DEFAULT_SECRET_KEY.to_string();
    let mut webhook: Option<String> = None;
    let mut token: Option<String> = None;
    let mut print_usersig = false;
    let mut accounts: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match flag.as_str() {
            "--port" => {
                builder = builder.port(
                    value("--port")?
                        .parse()
                        .map_err(|_| "--port takes a number")?,
                )
            }
            "--sdkappid" => {
                sdkappid = value("--sdkappid")?
                    .parse()
                    .map_err(|_| "--sdkappid takes a number")?
            }
            "--admin" => admin = value("--admin")?,
            "--secret-key" => key = value("--secret-key")?,
            "--accounts" => {
                let list = value("--accounts")?;
                let ids: Vec<&str> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect();
                builder = builder.accounts(&ids);
                accounts.extend(ids.iter().map(|s| s.to_string()));
            }
            "--rate-limit" => {
                let v = value("--rate-limit")?;
                let limit = if v == "off" {
                    None
                } else {
                    Some(
                        v.parse()
                            .map_err(|_| "--rate-limit takes a number or off")?,
                    )
                };
                builder = builder.rate_limit(limit, 60007);
            }
            "--duplicates" => builder = builder.duplicates(duplicates(&value("--duplicates")?)?),
            "--webhook" => webhook = Some(value("--webhook")?),
            "--webhook-token" => token = Some(value("--webhook-token")?),
            "--webhook-retries" => {
                builder = builder.webhook_retries(
                    value("--webhook-retries")?
                        .parse()
                        .map_err(|_| "--webhook-retries takes a number (at most 10)")?,
                )
            }
            "--print-usersig" => print_usersig = true,
            "--open-accounts" => builder = builder.open_accounts(true),
            "--max-following" => {
                builder = builder.max_following(
                    value("--max-following")?
                        .parse()
                        .map_err(|_| "--max-following takes a number")?,
                )
            }
            "-h" | "--help" => {
                println!("{HELP}");
                return Ok(());
            }
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    builder = builder
        .sdkappid(sdkappid)
        .admin(admin.clone())
        .secret_key(key.clone());
    if let Some(url) = webhook {
        builder = builder.webhook(url, token.as_deref());
    }
    let emu = builder.start().map_err(|e| format!("cannot listen: {e}"))?;
    // The emulator keeps serving when whoever reads its stdout goes away.
    let say = |line: String| {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    };
    say(format!("listening on {}", emu.base_url()));
    // One line to paste (or eval) so that `tim-follow` talks to this emulator.
    say(format!(
        "export TIM_BASE_URL={} TIM_SDKAPPID={sdkappid} TIM_ADMIN={} TIM_SECRET_KEY={}",
        emu.base_url(),
        shell_quoted(&admin),
        shell_quoted(&key)
    ));
    let mut usersig = "USERSIG".to_string();
    if print_usersig {
        usersig = tim_follow::usersig::generate(sdkappid, &key, &admin, Duration::from_secs(86400));
        say(format!("usersig: {usersig}"));
        say(format!(
            "(the UserSig above is the admin {admin}'s, valid 24 h)"
        ));
    }
    // Two of the accounts given, so that the example is answered (an account
    // that was not imported is refused with 30003).
    let (from, to) = match accounts.as_slice() {
        [a, b, ..] => (a.as_str(), b.as_str()),
        [a] => (a.as_str(), a.as_str()),
        [] => ("FROM", "TO"),
    };
    let body = serde_json::json!({"From_Account": from, "To_Account": [to]}).to_string();
    let placeholder = if print_usersig {
        String::new()
    } else {
        " (put the UserSig in place of USERSIG)".to_string()
    };
    let note = if accounts.is_empty() {
        " (no --accounts given: import FROM and TO first, or start with --accounts a,b)"
    } else {
        ""
    };
    say(format!(
        "example{placeholder}{note}: curl -s -X POST '{}/v4/follow/follow_check?sdkappid={sdkappid}&identifier={}&usersig={usersig}&random=1&contenttype=json' -d {}",
        emu.base_url(),
        url_encoded(&admin),
        shell_quoted(&body)
    ));
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// `value` as one shell word: as it is when plain, in single quotes otherwise.
fn shell_quoted(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./:@".contains(&b));
    if plain {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// `value` percent-encoded for a query string.
fn url_encoded(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `apply` or `refuse:CODE`.
fn duplicates(v: &str) -> Result<DuplicateAnswer, String> {
    match v.split_once(':') {
        None if v == "apply" => Ok(DuplicateAnswer::Apply),
        Some(("refuse", code)) => code
            .parse()
            .map(DuplicateAnswer::Refuse)
            .map_err(|_| format!("--duplicates refuse:{code}: the code must be a number")),
        _ => Err(format!(
            "--duplicates takes apply or refuse:CODE, not {v:?}"
        )),
    }
}

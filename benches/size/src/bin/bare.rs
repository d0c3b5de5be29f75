//! The same POST as `with_lib` through bare ureq (rustls) + serde_json: the
//! URL by `format!`, the body and the reply by serde derive, the same timeouts.
//! `bare BASE_URL USERSIG`; prints each account's result.

use std::process::ExitCode;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Serialize)]
struct Request<'a> {
    #[serde(rename = "From_Account")]
    from: &'a str,
    #[serde(rename = "To_Account")]
    to: &'a [String],
}

#[derive(Deserialize)]
struct Reply {
    #[serde(rename = "ActionStatus", default)]
    status: String,
    #[serde(rename = "ErrorCode", default)]
    code: i64,
    #[serde(rename = "ErrorInfo", default)]
    info: String,
    #[serde(rename = "ResultItem", default)]
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    #[serde(rename = "To_Account")]
    account: String,
    #[serde(rename = "ResultCode")]
    code: i64,
    #[serde(rename = "ResultInfo", default)]
    info: String,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, usersig] = args.as_slice() else {
        eprintln!("usage: bare BASE_URL USERSIG");
        return ExitCode::from(2);
    };
    let to: Vec<String> = (2..=21).map(|i| format!("UserID_{i:03}")).collect();
    let url = format!(
        "{base}/v4/follow/follow_delete?sdkappid={}&identifier={}&usersig={usersig}&random={}&contenttype=json",
        1_400_000_000u64,
        "administrator",
        std::process::id()
    );
    let body = serde_json::to_vec(&Request {
        from: "UserID_001",
        to: &to,
    })
    .expect("a struct of strings serializes");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(5)))
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into();
    let reply = agent
        .post(&url)
        .header("Content-Type", "application/json")
        .send(&body[..])
        .and_then(|mut r| r.body_mut().with_config().limit(4 << 20).read_to_vec());
    let reply: Reply = match reply.map(|b| serde_json::from_slice(&b)) {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            eprintln!("reply: {e}");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("follow_delete: {e}");
            return ExitCode::FAILURE;
        }
    };
    if reply.status != "OK" && reply.code != 0 {
        eprintln!("follow_delete: {} {}", reply.code, reply.info);
        return ExitCode::FAILURE;
    }
    for item in reply.items {
        if item.code == 0 {
            println!("{}: applied", item.account);
        } else {
            println!("{}: refused: {} {}", item.account, item.code, item.info);
        }
    }
    ExitCode::SUCCESS
}

//! The emulator's webhooks: `Follow.CallbackAfterFollowAdd` and
//! `…FollowDelete` for every follow and unfollow that changed the graph,
//! posted by a few threads of their own, and logged.
//!
//! Tencent does not document a retry policy for these webhooks (both are
//! "after" webhooks, whose reply code the service ignores), so by default
//! each is sent once, as the service would: a receiver that is down loses
//! it. Asked to ([`EmulatorBuilder::webhook_retries`](super::EmulatorBuilder::webhook_retries)),
//! the emulator takes a delivery as acknowledged only on HTTP 200 with
//! `ErrorCode` 0, and otherwise (no answer, another status, another code)
//! tries again after 100 ms, 200 ms, 400 ms…

use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use crate::sync::lock;

/// A webhook to send, made when the graph changed.
#[derive(Debug, Clone)]
pub(crate) struct WebhookEvent {
    pub command: &'static str,
    pub from: String,
    pub to: Vec<String>,
    /// `EventTime`: when the follow or unfollow happened (Unix ms); the
    /// same on every attempt.
    pub event_time_ms: u64,
}

/// One webhook the emulator sent, as [`Emulator::webhooks`](super::Emulator::webhooks) lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookRecord {
    /// `CallbackCommand`.
    pub command: String,
    /// `From_Account`.
    pub from_account: String,
    /// The accounts followed or unfollowed.
    pub to_accounts: Vec<String>,
    /// `EventTime`, Unix milliseconds.
    pub event_time_ms: u64,
    /// Attempts made.
    pub attempts: u32,
    /// Whether an attempt was acknowledged (HTTP 200, `ErrorCode` 0).
    pub acked: bool,
}

/// The wait before the second attempt; doubled after each.
const FIRST_WAIT: Duration = Duration::from_millis(100);
/// Threads posting webhooks at once.
const SENDERS: usize = 4;

/// Where the emulator sends webhooks: a queue without bound (a follow never
/// waits for a webhook, and none is dropped) and the threads that empty it.
pub(crate) struct Webhooks {
    pub queue: mpsc::Sender<WebhookEvent>,
    pub log: Arc<Mutex<Vec<WebhookRecord>>>,
}

impl Webhooks {
    /// Starts the senders; they end when the queue's sender is dropped and
    /// the queue is empty.
    pub(crate) fn start(
        url: String,
        token: Option<String>,
        sdkappid: u64,
        retries: u32,
    ) -> std::io::Result<Webhooks> {
        let (queue, rx) = mpsc::channel::<WebhookEvent>();
        let rx = Arc::new(Mutex::new(rx));
        let log = Arc::new(Mutex::new(Vec::new()));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .into();
        for _ in 0..SENDERS {
            let (rx, log, agent) = (rx.clone(), log.clone(), agent.clone());
            let (url, token) = (url.clone(), token.clone());
            std::thread::Builder::new()
                .name("tim-emulator-webhook".into())
                .spawn(move || loop {
                    let next = lock(&rx).recv();
                    let Ok(event) = next else { break };
                    let record = deliver(
                        &agent,
                        &url,
                        token.as_deref(),
                        sdkappid,
                        &event,
                        retries + 1,
                    );
                    lock(&log).push(record);
                })?;
        }
        Ok(Webhooks { queue, log })
    }
}

/// Posts one webhook until it is acknowledged or its `most` attempts run out.
fn deliver(
    agent: &ureq::Agent,
    url: &str,
    token: Option<&str>,
    sdkappid: u64,
    event: &WebhookEvent,
    most: u32,
) -> WebhookRecord {
    let body = body(event);
    let mut wait = FIRST_WAIT;
    let mut attempts = 0;
    let acked = loop {
        attempts += 1;
        // Signed anew on each attempt, with the time of that attempt.
        let target = target(url, token, sdkappid, event.command);
        let ok = post(agent, &target, &body);
        if ok || attempts >= most {
            break ok;
        }
        std::thread::sleep(wait);
        wait *= 2;
    };
    WebhookRecord {
        command: event.command.to_string(),
        from_account: event.from.clone(),
        to_accounts: event.to.clone(),
        event_time_ms: event.event_time_ms,
        attempts,
        acked,
    }
}

/// The webhook's JSON body, as Tencent documents each command's.
fn body(event: &WebhookEvent) -> String {
    if event.command == crate::callback::FOLLOW_ADD {
        serde_json::json!({
            "CallbackCommand": event.command,
            "From_Account": event.from,
            "FollowList": event.to.iter().map(|t| serde_json::json!({"To_Account": t})).collect::<Vec<_>>(),
            "EventTime": event.event_time_ms,
        })
    } else {
        serde_json::json!({
            "CallbackCommand": event.command,
            "From_Account": event.from,
            "To_Account": event.to,
            "EventTime": event.event_time_ms,
        })
    }
    .to_string()
}

/// The webhook's URL: the receiver's with the service's query parameters,
/// signed now when there is a token.
fn target(url: &str, token: Option<&str>, sdkappid: u64, command: &str) -> String {
    let mut target = format!(
        "{url}?SdkAppid={sdkappid}&CallbackCommand={command}&contenttype=json&ClientIP=127.0.0.1&OptPlatform=RESTAPI"
    );
    if let Some(token) = token {
        let now = crate::clock::unix_now();
        let sign = crate::callback::sign_hex(token, now);
        target.push_str(&format!("&Sign={sign}&RequestTime={now}"));
    }
    target
}

/// One attempt: whether the receiver answered HTTP 200 with `ErrorCode` 0.
fn post(agent: &ureq::Agent, target: &str, body: &str) -> bool {
    let answer = agent
        .post(target)
        .header("Content-Type", "application/json; charset=utf-8")
        .send(body);
    match answer {
        Ok(mut r) if r.status() == 200 => r
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_string()
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .is_some_and(|v| v["ErrorCode"] == 0),
        _ => false,
    }
}

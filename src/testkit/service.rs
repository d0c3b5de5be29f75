//! The emulated follow service: accounts, the follow graph, the REST checks
//! and the fault injection.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use super::graph::Graph;
use super::webhooks::WebhookEvent;
use super::{DuplicateAnswer, Fault, LoggedRequest};
use crate::request::{parse_query, MAX_ACCOUNT_BYTES};
use crate::server::{Handler, HttpRequest, Reply};
use crate::sync::lock;
use crate::usersig::{self, VerifyError};

pub(crate) struct Config {
    pub sdkappid: u64,
    pub admin: String,
    pub secret_key: String,
    pub max_following: usize,
    pub duplicates: DuplicateAnswer,
    pub open_accounts: bool,
}

struct FaultRule {
    fault: Fault,
    path: Option<String>,
    remaining: u32,
}

pub(crate) struct Service {
    pub config: Config,
    pub graph: Mutex<Graph>,
    faults: Mutex<Vec<FaultRule>>,
    latency: Mutex<Option<(Duration, Duration)>>,
    pub log: Mutex<Vec<LoggedRequest>>,
    rate: Mutex<(Option<u32>, i64)>,
    windows: Mutex<HashMap<String, VecDeque<Instant>>>,
    pub started: Instant,
    webhook: Option<std::sync::mpsc::Sender<WebhookEvent>>,
}

type Outcome = Result<Value, (i64, String)>;

fn err<T>(code: i64, info: impl Into<String>) -> Result<T, (i64, String)> {
    Err((code, info.into()))
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn envelope(code: i64, info: &str) -> Value {
    json!({
        "ActionStatus": if code == 0 { "OK" } else { "FAIL" },
        "ErrorCode": code,
        "ErrorInfo": info,
        "ErrorDisplay": "",
    })
}

fn json_reply(value: &Value) -> Reply {
    Reply::Response {
        status: 200,
        content_type: "application/json; charset=utf-8",
        body: serde_json::to_vec(value).unwrap_or_default(),
    }
}

fn string_field<'a>(body: &'a Map<String, Value>, name: &str) -> Result<&'a str, (i64, String)> {
    match body.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => err(30001, format!("{name} must be a string")),
        None => err(30001, format!("{name} is required")),
    }
}

fn string_list<'a>(
    body: &'a Map<String, Value>,
    name: &str,
    max: usize,
) -> Result<Vec<&'a str>, (i64, String)> {
    let Some(Value::Array(items)) = body.get(name) else {
        return err(30001, format!("{name} must be an array"));
    };
    if items.is_empty() {
        return err(30001, format!("{name} is empty"));
    }
    if items.len() > max {
        return err(
            30001,
            format!(
                "{name} has {} entries; at most {max} are allowed",
                items.len()
            ),
        );
    }
    items
        .iter()
        .map(|v| {
            v.as_str()
                .ok_or((60015, format!("every {name} entry must be a string")))
        })
        .collect()
}

/// One result per target: `f` answers the extra fields of an applied
/// target, or the `ResultCode` of a refused one. Returns the items and the
/// applied targets.
fn per_target(
    targets: &[&str],
    mut f: impl FnMut(&str) -> Result<Vec<(&'static str, Value)>, i64>,
) -> (Vec<Value>, Vec<String>) {
    let mut applied = Vec::new();
    let items = targets
        .iter()
        .map(|to| {
            let (code, extra) = match f(to) {
                Ok(extra) => {
                    applied.push(to.to_string());
                    (0, extra)
                }
                Err(code) => (code, Vec::new()),
            };
            let mut m = Map::new();
            m.insert("To_Account".into(), Value::from(*to));
            m.insert("ResultCode".into(), Value::from(code));
            m.insert("ResultInfo".into(), Value::from(info_of(code)));
            m.extend(extra.into_iter().map(|(k, v)| (k.to_string(), v)));
            Value::Object(m)
        })
        .collect();
    (items, applied)
}

/// The answer to a follow or unfollow: no extra fields when applied, and the
/// account noted in `changed` when the graph changed; a repeat is answered as
/// `duplicates` says.
fn change(
    result: Result<bool, i64>,
    to: &str,
    duplicates: DuplicateAnswer,
    changed: &mut Vec<String>,
) -> Result<Vec<(&'static str, Value)>, i64> {
    match (result?, duplicates) {
        (true, _) => changed.push(to.to_string()),
        (false, DuplicateAnswer::Apply) => {}
        (false, DuplicateAnswer::Refuse(code)) => return Err(code),
    }
    Ok(Vec::new())
}

fn info_of(code: i64) -> &'static str {
    match code {
        0 => "",
        30001 => "Err_SNS_Invalid_Param: cannot follow oneself",
        30003 => "Err_SNS_Account_Not_Exist",
        32100 => "Err_SNS_Following_Count_Exceed_Limit",
        _ => "error",
    }
}

fn encode_cursor(seq: u64) -> String {
    format!("emu1.{:x}", seq ^ 0x5a5a_5a5a)
}

fn decode_cursor(c: &str) -> Option<u64> {
    let hex = c.strip_prefix("emu1.")?;
    u64::from_str_radix(hex, 16).ok().map(|v| v ^ 0x5a5a_5a5a)
}

impl Service {
    pub(crate) fn new(
        config: Config,
        rate_limit: Option<u32>,
        rate_limit_code: i64,
        webhook: Option<std::sync::mpsc::Sender<WebhookEvent>>,
    ) -> Service {
        Service {
            config,
            graph: Mutex::new(Graph::default()),
            faults: Mutex::new(Vec::new()),
            latency: Mutex::new(None),
            log: Mutex::new(Vec::new()),
            rate: Mutex::new((rate_limit, rate_limit_code)),
            windows: Mutex::new(HashMap::new()),
            started: Instant::now(),
            webhook,
        }
    }

    pub(crate) fn inject(&self, fault: Fault, path: Option<String>, times: u32) {
        let path = path.map(|p| {
            p.trim_start_matches('/')
                .trim_start_matches("v4/")
                .to_string()
        });
        lock(&self.faults).push(FaultRule {
            fault,
            path,
            remaining: times,
        });
    }

    pub(crate) fn clear_faults(&self) {
        lock(&self.faults).clear();
        *lock(&self.latency) = None;
    }

    pub(crate) fn set_latency(&self, range: Option<(Duration, Duration)>) {
        *lock(&self.latency) = range;
    }

    pub(crate) fn set_rate_limit(&self, per_second: Option<u32>, code: i64) {
        *lock(&self.rate) = (per_second, code);
    }

    fn take_fault(&self, path: &str, only_drop_before: bool) -> Option<Fault> {
        let mut faults = lock(&self.faults);
        let pos = faults.iter().position(|r| {
            r.remaining > 0
                && r.path.as_deref().is_none_or(|p| p == path)
                && (matches!(r.fault, Fault::DropBeforeRead) == only_drop_before)
        })?;
        let rule = &mut faults[pos];
        rule.remaining -= 1;
        let fault = rule.fault.clone();
        if rule.remaining == 0 {
            faults.remove(pos);
        }
        Some(fault)
    }

    fn record(
        &self,
        path: &str,
        query: &str,
        body: &[u8],
        at: Duration,
        code: Option<i64>,
        fault: Option<&Fault>,
    ) {
        let query = parse_query(query)
            .into_iter()
            .filter(|(k, _)| k != "usersig")
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        lock(&self.log).push(LoggedRequest {
            path: path.to_string(),
            query,
            body: String::from_utf8_lossy(body).into_owned(),
            at,
            error_code: code,
            fault: fault.map(|f| format!("{f:?}")),
        });
    }

    /// The REST checks, in the order the gateway applies them.
    fn authenticate(&self, query: &[(String, String)]) -> Result<(), (i64, String)> {
        let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let Some(sdkappid) = get("sdkappid") else {
            return err(60012, "sdkappid is missing from the URL");
        };
        let Ok(sdkappid) = sdkappid.parse::<u64>() else {
            return err(60002, "sdkappid is not a number");
        };
        if sdkappid != self.config.sdkappid {
            return err(
                70020,
                "SDKAppID not found (check the SDKAppID and the data center)",
            );
        }
        let Some(identifier) = get("identifier").filter(|s| !s.is_empty()) else {
            return err(60004, "identifier is missing from the URL");
        };
        let Some(sig) = get("usersig") else {
            return err(60004, "usersig is missing from the URL");
        };
        if sig.is_empty() {
            return err(70002, "usersig is empty");
        }
        match get("random").map(str::parse::<u32>) {
            Some(Ok(_)) => {}
            Some(Err(_)) => return err(60002, "random must be an integer from 0 to 4294967295"),
            None => return err(60002, "random is missing from the URL"),
        }
        if get("contenttype") != Some("json") {
            return err(60002, "contenttype must be json");
        }
        match usersig::verify(sig, sdkappid, &self.config.secret_key, identifier) {
            Ok(_) => {}
            Err(VerifyError::Malformed(why)) => {
                return err(70003, format!("usersig is malformed: {why}"))
            }
            Err(VerifyError::BadSignature) => {
                return err(70009, "usersig verification failed (wrong key?)")
            }
            Err(VerifyError::Expired { .. }) => return err(70001, "usersig expired"),
            Err(VerifyError::IdentifierMismatch { .. }) => {
                return err(
                    70013,
                    "identifier in the URL differs from the one in usersig",
                )
            }
            Err(VerifyError::SdkAppIdMismatch { .. }) => {
                return err(70014, "sdkappid in the URL differs from the one in usersig")
            }
            // Which code the service gives a PrivateMapKey is not documented.
            Err(e @ (VerifyError::UnexpectedUserBuf | VerifyError::UserBufMismatch)) => {
                return err(70003, format!("usersig is malformed: {e}"))
            }
        }
        if identifier != self.config.admin {
            return err(60010, "the request needs App admin permission");
        }
        Ok(())
    }

    fn rate_limited(&self, path: &str) -> Option<(i64, String)> {
        let (limit, code) = *lock(&self.rate);
        let limit = limit? as usize;
        let now = Instant::now();
        let mut windows = lock(&self.windows);
        let window = windows.entry(path.to_string()).or_default();
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            window.pop_front();
        }
        if window.len() >= limit {
            return Some((code, format!("{path}: over {limit} calls per second")));
        }
        window.push_back(now);
        None
    }

    fn dispatch(&self, path: &str, body: &[u8]) -> Outcome {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| (60003, format!("request JSON could not be parsed: {e}")))?;
        let Value::Object(body) = value else {
            return err(60003, "request body must be a JSON object");
        };
        if self.config.open_accounts && path.starts_with("follow/") {
            self.import_named(&body);
        }
        match path {
            "follow/follow_add" => self.follow_add(&body),
            "follow/follow_delete" => self.follow_delete(&body),
            "follow/follow_check" => self.follow_check(&body),
            "follow/follow_get" => self.follow_get(&body),
            "follow/follow_get_info" => self.follow_get_info(&body),
            "im_open_login_svc/account_import" => self.account_import(&body),
            "im_open_login_svc/multiaccount_import" => self.multiaccount_import(&body),
            _ => err(
                60009,
                format!("unknown API {path:?}: check the service name and command"),
            ),
        }
    }

    /// Imports every account a follow request names (open-accounts mode).
    fn import_named(&self, body: &Map<String, Value>) {
        let mut graph = lock(&self.graph);
        let mut import = |v: Option<&Value>| {
            if let Some(Value::String(id)) = v {
                if !id.is_empty() && id.len() <= MAX_ACCOUNT_BYTES && !graph.exists(id) {
                    graph.import(id, None);
                }
            }
        };
        import(body.get("From_Account"));
        for list in ["To_Account", "FollowItem"] {
            match body.get(list) {
                Some(Value::Array(items)) => {
                    for item in items {
                        import(item.get("To_Account").or(Some(item)));
                    }
                }
                other => import(other),
            }
        }
    }

    fn sender<'a>(
        &self,
        body: &'a Map<String, Value>,
        graph: &Graph,
    ) -> Result<&'a str, (i64, String)> {
        let from = string_field(body, "From_Account")?;
        if !graph.exists(from) {
            return err(30003, format!("From_Account {from:?} does not exist"));
        }
        Ok(from)
    }

    fn follow_add(&self, body: &Map<String, Value>) -> Outcome {
        let Some(Value::Array(items)) = body.get("FollowItem") else {
            return err(30001, "FollowItem must be an array");
        };
        if items.is_empty() || items.len() > 20 {
            return err(
                30001,
                format!(
                    "FollowItem has {} entries; 1 to 20 are allowed",
                    items.len()
                ),
            );
        }
        let mut targets = Vec::with_capacity(items.len());
        for i in items {
            match i.get("To_Account") {
                Some(Value::String(s)) => targets.push(s.as_str()),
                _ => return err(30001, "every FollowItem needs a To_Account string"),
            }
        }
        let mut graph = lock(&self.graph);
        let from = self.sender(body, &graph)?.to_string();
        let now = now_secs();
        let max = self.config.max_following;
        let dup = self.config.duplicates;
        let mut done = Vec::new();
        let (results, _) = per_target(&targets, |to| {
            change(graph.follow(&from, to, now, max), to, dup, &mut done)
        });
        drop(graph);
        if !done.is_empty() {
            self.send_webhook(crate::callback::FOLLOW_ADD, from, done);
        }
        Ok(json!({ "ResultItem": results }))
    }

    fn follow_delete(&self, body: &Map<String, Value>) -> Outcome {
        let targets = string_list(body, "To_Account", 20)?;
        let mut graph = lock(&self.graph);
        let from = self.sender(body, &graph)?.to_string();
        let dup = self.config.duplicates;
        let mut done = Vec::new();
        let (results, _) = per_target(&targets, |to| {
            change(graph.unfollow(&from, to), to, dup, &mut done)
        });
        drop(graph);
        if !done.is_empty() {
            self.send_webhook(crate::callback::FOLLOW_DELETE, from, done);
        }
        Ok(json!({ "ResultItem": results }))
    }

    fn follow_check(&self, body: &Map<String, Value>) -> Outcome {
        let targets = string_list(body, "To_Account", 100)?;
        let graph = lock(&self.graph);
        let from = self.sender(body, &graph)?;
        let (results, _) = per_target(&targets, |to| {
            let t = graph.relation(from, to).ok_or(30003)?;
            Ok(vec![("FollowType", Value::from(t))])
        });
        Ok(json!({ "ResultItem": results }))
    }

    fn follow_get(&self, body: &Map<String, Value>) -> Outcome {
        let list = match body.get("FollowType") {
            Some(v) => match v.as_i64() {
                Some(t @ 1..=3) => t,
                _ => {
                    return err(
                        30001,
                        "FollowType must be 1 (fans), 2 (following) or 3 (mutual)",
                    )
                }
            },
            None => return err(30001, "FollowType is required"),
        };
        let want = match body.get("WantNum") {
            None => 100,
            Some(v) => match v.as_u64() {
                Some(0) => 100,
                Some(n @ 1..=1000) => n as usize,
                _ => return err(30001, "WantNum must be from 1 to 1000"),
            },
        };
        let before = match body.get("StartCursor") {
            None => u64::MAX,
            Some(Value::String(c)) if c.is_empty() => u64::MAX,
            Some(Value::String(c)) => match decode_cursor(c) {
                Some(seq) => seq,
                None => return err(30001, "StartCursor is not a cursor this service returned"),
            },
            Some(_) => return err(30001, "StartCursor must be a string"),
        };
        let graph = lock(&self.graph);
        let from = self.sender(body, &graph)?;
        let (entries, more) = graph.page(from, list, before, want);
        let next = if more {
            entries
                .last()
                .map(|e| encode_cursor(e.2))
                .unwrap_or_default()
        } else {
            String::new()
        };
        let items: Vec<Value> = entries
            .iter()
            .map(|(who, time, _)| {
                let profile: Vec<Value> = graph
                    .nick(who)
                    .map(|n| json!({"Tag": "Tag_Profile_IM_Nick", "Value": n}))
                    .into_iter()
                    .collect();
                json!({"To_Account": who, "FollowTime": time, "ProfileItem": profile})
            })
            .collect();
        Ok(json!({ "FollowItem": items, "NextCursor": next }))
    }

    fn follow_get_info(&self, body: &Map<String, Value>) -> Outcome {
        let targets = string_list(body, "To_Account", 20)?;
        let graph = lock(&self.graph);
        self.sender(body, &graph)?;
        let (results, _) = per_target(&targets, |to| {
            let (fans, following, mutual) = graph.counts(to).ok_or(30003)?;
            Ok(vec![
                ("FollowerCount", Value::from(fans)),
                ("FollowingCount", Value::from(following)),
                ("MutualFollowingCount", Value::from(mutual)),
            ])
        });
        Ok(json!({ "FollowInfo": results }))
    }

    fn account_import(&self, body: &Map<String, Value>) -> Outcome {
        let id = match body.get("UserID").or_else(|| body.get("Identifier")) {
            Some(Value::String(s)) => s.as_str(),
            _ => return err(70402, "UserID must be a string"),
        };
        if id.is_empty() || id.len() > MAX_ACCOUNT_BYTES {
            return err(70402, "UserID must be 1 to 32 bytes");
        }
        let nick = body.get("Nick").and_then(Value::as_str).map(str::to_string);
        lock(&self.graph).import(id, nick);
        Ok(json!({}))
    }

    fn multiaccount_import(&self, body: &Map<String, Value>) -> Outcome {
        let entries: Vec<(Option<&str>, Option<String>)> =
            match (body.get("Accounts"), body.get("AccountList")) {
                (Some(Value::Array(a)), _) => a.iter().map(|v| (v.as_str(), None)).collect(),
                (_, Some(Value::Array(a))) => a
                    .iter()
                    .map(|v| {
                        (
                            v.get("UserID").and_then(Value::as_str),
                            v.get("Nick").and_then(Value::as_str).map(str::to_string),
                        )
                    })
                    .collect(),
                _ => return err(70402, "Accounts (or AccountList) must be an array"),
            };
        if entries.is_empty() || entries.len() > 100 {
            return err(
                70402,
                format!("{} accounts; 1 to 100 are allowed", entries.len()),
            );
        }
        let mut graph = lock(&self.graph);
        let mut failed = Vec::new();
        for (id, nick) in entries {
            match id {
                Some(id) if !id.is_empty() && id.len() <= MAX_ACCOUNT_BYTES => {
                    graph.import(id, nick)
                }
                Some(id) => failed.push(Value::from(id)),
                None => failed.push(Value::from("")),
            }
        }
        Ok(json!({ "FailAccounts": failed }))
    }

    fn send_webhook(&self, command: &'static str, from: String, to: Vec<String>) {
        if let Some(tx) = &self.webhook {
            let _ = tx.send(WebhookEvent {
                command,
                from,
                to,
                event_time_ms: crate::clock::unix_now_ms(),
            });
        }
    }
}

fn split_target(target: &str) -> (String, &str) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = path.trim_start_matches('/');
    (path.strip_prefix("v4/").unwrap_or(path).to_string(), query)
}

impl Handler for Service {
    fn drop_before_body(&self, _method: &str, target: &str) -> bool {
        let (path, query) = split_target(target);
        match self.take_fault(&path, true) {
            Some(f) => {
                self.record(&path, query, b"", self.started.elapsed(), None, Some(&f));
                true
            }
            None => false,
        }
    }

    fn handle(&self, req: HttpRequest) -> Reply {
        let at = self.started.elapsed();
        let (path, query) = split_target(&req.target);
        let fault = self.take_fault(&path, false);
        let latency = match (&fault, *lock(&self.latency)) {
            (Some(Fault::Latency(d)), _) => Some(*d),
            (_, Some((lo, hi))) if hi > lo => Some(lo + (hi - lo).mul_f64(fastrand::f64())),
            (_, Some((lo, _))) => Some(lo),
            _ => None,
        };
        if let Some(d) = latency {
            std::thread::sleep(d);
        }
        let record =
            |code: Option<i64>| self.record(&path, query, &req.body, at, code, fault.as_ref());
        match &fault {
            Some(Fault::HttpStatus(status)) => {
                record(None);
                let html = format!(
                    "<html><body><h1>{status} {}</h1></body></html>",
                    crate::server::reason(*status)
                );
                return Reply::Response {
                    status: *status,
                    content_type: "text/html",
                    body: html.into_bytes(),
                };
            }
            Some(Fault::DropAfterRead) => {
                record(None);
                return Reply::Close;
            }
            Some(Fault::GarbageBody) => {
                record(None);
                return Reply::Response {
                    status: 200,
                    content_type: "application/json",
                    body: b"\x00\xffnot json at all <html>".to_vec(),
                };
            }
            Some(Fault::OversizedBody(n)) => {
                record(None);
                let mut body =
                    br#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","Padding":""#.to_vec();
                body.resize(body.len() + n, b'x');
                body.extend_from_slice(b"\"}");
                return Reply::Response {
                    status: 200,
                    content_type: "application/json",
                    body,
                };
            }
            Some(Fault::ErrorCode(code)) => {
                record(Some(*code));
                return json_reply(&envelope(*code, "injected error"));
            }
            _ => {}
        }
        let outcome = if req.method != "POST" {
            err(
                60002,
                format!("{} is not supported: REST APIs take POST", req.method),
            )
        } else {
            let query_pairs = parse_query(query);
            self.authenticate(&query_pairs)
                .and_then(|()| match self.rate_limited(&path) {
                    Some((code, info)) => err(code, info),
                    None => self.dispatch(&path, &req.body),
                })
        };
        let value = match outcome {
            Ok(Value::Object(mut fields)) => {
                for (k, v) in envelope(0, "").as_object().into_iter().flatten() {
                    fields.insert(k.clone(), v.clone());
                }
                record(Some(0));
                Value::Object(fields)
            }
            Ok(_) => {
                record(Some(0));
                envelope(0, "")
            }
            Err((code, info)) => {
                record(Some(code));
                envelope(code, &info)
            }
        };
        let reply = json_reply(&value);
        match (&fault, reply) {
            (Some(Fault::DropAfterProcessing), _) => Reply::Close,
            (Some(Fault::TruncatedBody), Reply::Response { body, .. }) => {
                let claimed = body.len();
                Reply::Truncated {
                    body: body[..claimed / 2].to_vec(),
                    claimed,
                }
            }
            (_, reply) => reply,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_rejects_garbage() {
        for seq in [0u64, 1, 12345, u64::MAX - 1] {
            assert_eq!(decode_cursor(&encode_cursor(seq)), Some(seq));
        }
        assert_eq!(decode_cursor("garbage"), None);
        assert_eq!(decode_cursor("emu1.xyz"), None);
    }
}

//! The emulated follow service: its state, its log, and the way a request
//! goes through it — faults, gateway, endpoint, envelope.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::faults::{self, Faults};
use super::gateway::{self, Credentials, RateLimit};
use super::graph::Graph;
use super::layout::{Node, ReplyLayout};
use super::webhooks::WebhookEvent;
use super::{DuplicateAnswer, Fault, LoggedRequest};
use crate::query::parse_query;
use crate::server::{Handler, HttpRequest, Reply};
use crate::sync::lock;

/// The content type of the emulator's JSON replies.
pub(crate) const JSON: &str = "application/json; charset=utf-8";

pub(crate) struct Config {
    pub sdkappid: u64,
    pub admin: String,
    pub secret_key: String,
    pub max_following: usize,
    pub duplicates: DuplicateAnswer,
    pub open_accounts: bool,
    pub layout: ReplyLayout,
}

pub(crate) struct Service {
    pub config: Config,
    pub graph: Mutex<Graph>,
    pub faults: Faults,
    pub rate: RateLimit,
    pub log: Mutex<Vec<LoggedRequest>>,
    /// Every distinct `usersig` received, in order of first arrival.
    pub usersigs: Mutex<Vec<String>>,
    pub started: Instant,
    /// Requests being handled now (their latency included).
    pub in_flight: AtomicUsize,
    /// The most requests handled at once since the start or the last reset.
    pub peak_in_flight: AtomicUsize,
    webhook: Option<std::sync::mpsc::Sender<WebhookEvent>>,
}

/// The envelope's fields, in the documented order.
fn envelope(code: i64, info: &str) -> Vec<(&'static str, Node)> {
    vec![
        (
            "ActionStatus",
            Node::from(if code == 0 { "OK" } else { "FAIL" }),
        ),
        ("ErrorCode", Node::from(code)),
        ("ErrorInfo", Node::from(info)),
        ("ErrorDisplay", Node::from("")),
    ]
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
            faults: Faults::default(),
            rate: RateLimit::new(rate_limit, rate_limit_code),
            log: Mutex::new(Vec::new()),
            usersigs: Mutex::new(Vec::new()),
            started: Instant::now(),
            in_flight: AtomicUsize::new(0),
            peak_in_flight: AtomicUsize::new(0),
            webhook,
        }
    }

    fn json_reply(&self, fields: Vec<(&'static str, Node)>) -> Reply {
        Reply::Response {
            status: 200,
            content_type: JSON,
            body: Node::Obj(fields).to_bytes(self.config.layout),
        }
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
        let mut pairs = parse_query(query);
        if let Some(pos) = pairs.iter().position(|(k, _)| k == "usersig") {
            let (_, sig) = pairs.remove(pos);
            let mut sigs = lock(&self.usersigs);
            if !sigs.contains(&sig) {
                sigs.push(sig);
            }
        }
        pairs.retain(|(k, _)| k != "usersig");
        let query = pairs
            .into_iter()
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

    /// The gateway's checks, the rate limit last: a request it lets
    /// through is counted against its API's limit.
    fn admit(
        &self,
        method: &str,
        path: &str,
        query: &str,
        arrived: Instant,
    ) -> Result<(), gateway::Refusal> {
        if method != "POST" {
            return Err((
                60002,
                format!("{method} is not supported: REST APIs take POST"),
            ));
        }
        let creds = Credentials {
            sdkappid: self.config.sdkappid,
            admin: &self.config.admin,
            secret_key: &self.config.secret_key,
        };
        gateway::authenticate(&creds, path, &parse_query(query))?;
        self.rate.admit(path, arrived)
    }

    pub(crate) fn send_webhook(&self, command: &'static str, from: String, to: Vec<String>) {
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

impl Handler for Service {
    fn drop_before_body(&self, _method: &str, target: &str) -> bool {
        let (path, query) = gateway::split_target(target);
        match self.faults.take(&path, true) {
            Some(f) => {
                self.record(&path, query, b"", self.started.elapsed(), None, Some(&f));
                true
            }
            None => false,
        }
    }

    fn handle(&self, req: HttpRequest) -> Reply {
        let arrived = Instant::now();
        let at = arrived.duration_since(self.started);
        let _counted = InFlight::enter(self);
        let (path, query) = gateway::split_target(&req.target);
        let fault = self.faults.take(&path, false);
        let injected = fault.as_ref().and_then(|f| {
            faults::instead(f, |code| {
                Node::Obj(envelope(code, "injected error")).to_bytes(self.config.layout)
            })
        });
        // The gateway counts a call at its arrival (its `at` in the log), as
        // Tencent's does, and the latency comes after: calls sent evenly
        // spaced are counted evenly spaced whatever the latency's spread.
        // A fault answered instead of the request never reaches the gateway.
        let admitted = match injected {
            Some(instead) => Err(instead),
            None => Ok(self.admit(&req.method, &path, query, arrived)),
        };
        if let Some(d) = self.faults.delay(fault.as_ref()) {
            std::thread::sleep(d);
        }
        let record =
            |code: Option<i64>| self.record(&path, query, &req.body, at, code, fault.as_ref());
        let admitted = match admitted {
            Ok(admitted) => admitted,
            Err((reply, code)) => {
                record(code);
                return reply;
            }
        };
        let fields = match admitted.and_then(|()| self.dispatch(&path, &req.body)) {
            Ok(mut fields) => {
                record(Some(0));
                fields.extend(envelope(0, ""));
                fields
            }
            Err((code, info)) => {
                record(Some(code));
                envelope(code, &info)
            }
        };
        faults::spoil(fault.as_ref(), self.json_reply(fields))
    }
}

/// Counts one request as being handled until dropped.
struct InFlight<'a>(&'a Service);

impl<'a> InFlight<'a> {
    fn enter(service: &'a Service) -> InFlight<'a> {
        let now = service.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        service.peak_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(service)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

//! The faults injected into the emulator's answers, and its latency.

use std::sync::Mutex;
use std::time::Duration;

use super::Fault;
use crate::server::Reply;
use crate::sync::lock;

struct Rule {
    fault: Fault,
    path: Option<String>,
    remaining: u32,
}

/// The pending faults, in the order they were injected, and the latency.
#[derive(Default)]
pub(crate) struct Faults {
    rules: Mutex<Vec<Rule>>,
    latency: Mutex<Option<(Duration, Duration)>>,
}

impl Faults {
    /// `fault` for the next `times` requests to `path` (any path if `None`).
    pub(crate) fn inject(&self, fault: Fault, path: Option<String>, times: u32) {
        let path = path.map(|p| {
            p.trim_start_matches('/')
                .trim_start_matches("v4/")
                .to_string()
        });
        lock(&self.rules).push(Rule {
            fault,
            path,
            remaining: times,
        });
    }

    pub(crate) fn clear(&self) {
        lock(&self.rules).clear();
        *lock(&self.latency) = None;
    }

    pub(crate) fn set_latency(&self, range: Option<(Duration, Duration)>) {
        *lock(&self.latency) = range;
    }

    /// Takes the first pending fault for `path`: only a
    /// [`Fault::DropBeforeRead`] when `before_body`, any other otherwise.
    pub(crate) fn take(&self, path: &str, before_body: bool) -> Option<Fault> {
        let mut rules = lock(&self.rules);
        let pos = rules.iter().position(|r| {
            r.remaining > 0
                && r.path.as_deref().is_none_or(|p| p == path)
                && (matches!(r.fault, Fault::DropBeforeRead) == before_body)
        })?;
        let rule = &mut rules[pos];
        rule.remaining -= 1;
        let fault = rule.fault.clone();
        if rule.remaining == 0 {
            rules.remove(pos);
        }
        Some(fault)
    }

    /// How long to wait before answering, given the request's fault.
    pub(crate) fn delay(&self, fault: Option<&Fault>) -> Option<Duration> {
        match (fault, *lock(&self.latency)) {
            (Some(Fault::Latency(d)), _) => Some(*d),
            (_, Some((lo, hi))) if hi > lo => Some(lo + (hi - lo).mul_f64(fastrand::f64())),
            (_, Some((lo, _))) => Some(lo),
            _ => None,
        }
    }
}

/// The answer of a fault that stops the request before it is processed
/// (`Some((reply, error_code))`), or `None` to process it.
pub(crate) fn instead(
    fault: &Fault,
    envelope: impl Fn(i64) -> Vec<u8>,
) -> Option<(Reply, Option<i64>)> {
    let response = |status, content_type, body| Reply::Response {
        status,
        content_type,
        body,
    };
    Some(match fault {
        Fault::HttpStatus(status) => {
            let html = format!(
                "<html><body><h1>{status} {}</h1></body></html>",
                crate::server::reason(*status)
            );
            (response(*status, "text/html", html.into_bytes()), None)
        }
        Fault::DropAfterRead => (Reply::Close, None),
        Fault::GarbageBody => (
            response(
                200,
                "application/json",
                b"\x00\xffnot json at all <html>".to_vec(),
            ),
            None,
        ),
        Fault::OversizedBody(n) => {
            let mut body =
                br#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","Padding":""#.to_vec();
            body.resize(body.len() + n, b'x');
            body.extend_from_slice(b"\"}");
            (response(200, "application/json", body), None)
        }
        Fault::ErrorCode(code) => (
            response(200, super::service::JSON, envelope(*code)),
            Some(*code),
        ),
        Fault::Latency(_)
        | Fault::DropBeforeRead
        | Fault::DropAfterProcessing
        | Fault::TruncatedBody => return None,
    })
}

/// The answer of a processed request, spoilt as `fault` says.
pub(crate) fn spoil(fault: Option<&Fault>, reply: Reply) -> Reply {
    match (fault, reply) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_is_taken_as_many_times_as_injected_and_for_its_path_only() {
        let faults = Faults::default();
        faults.inject(Fault::GarbageBody, Some("/v4/follow/follow_add".into()), 2);
        faults.inject(Fault::DropBeforeRead, None, 1);
        assert_eq!(faults.take("follow/follow_check", false), None);
        assert_eq!(
            faults.take("follow/follow_add", false),
            Some(Fault::GarbageBody)
        );
        assert_eq!(faults.take("x", true), Some(Fault::DropBeforeRead));
        assert_eq!(faults.take("x", true), None);
        assert_eq!(
            faults.take("follow/follow_add", false),
            Some(Fault::GarbageBody)
        );
        assert_eq!(faults.take("follow/follow_add", false), None);
    }
}

//! The receiver's counters, and `GET /metrics` from them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::ReceiverStats;
use crate::sync::lock;

/// What a receiver counts, shared by its workers.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) received: AtomicU64,
    pub(super) acked: AtomicU64,
    pub(super) handled: AtomicU64,
    pub(super) repeats: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) not_yet: AtomicU64,
    /// Handler times: a count per bucket of [`BUCKETS`], and their sum.
    handler_buckets: [AtomicU64; BUCKETS.len()],
    handler_count: AtomicU64,
    handler_micros: AtomicU64,
    pub(super) refused: Mutex<BTreeMap<&'static str, u64>>,
}

/// The upper bounds (seconds) of the handler time histogram.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

impl Counters {
    /// Counts one run of the handler that took `took`.
    pub(super) fn observe(&self, took: Duration) {
        let secs = took.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|&b| secs <= b) {
            self.handler_buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.handler_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.handler_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The counters in the Prometheus text format (version 0.0.4).
    pub(super) fn prometheus(&self) -> String {
        use std::fmt::Write as _;
        let s = self.snapshot();
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = write!(
                out,
                "# HELP tim_follow_webhooks_{name}_total {help}\n\
                 # TYPE tim_follow_webhooks_{name}_total counter\n\
                 tim_follow_webhooks_{name}_total {value}\n"
            );
        };
        counter("received", "Requests read whole.", s.received);
        counter(
            "acknowledged",
            "Deliveries answered ErrorCode 0 (repeats included).",
            s.acked,
        );
        counter("stored", "Events handed over and stored.", s.handled);
        counter(
            "repeats",
            "Repeats of stored events, acknowledged, not stored again.",
            s.repeats,
        );
        counter(
            "failed",
            "Deliveries whose event could not be stored (HTTP 500).",
            s.failed,
        );
        counter(
            "not_yet",
            "Repeats answered 503 while the first copy was being stored.",
            s.not_yet,
        );
        out.push_str(
            "# HELP tim_follow_webhooks_refused_total Deliveries refused, by reason.\n\
             # TYPE tim_follow_webhooks_refused_total counter\n",
        );
        for (reason, n) in &s.refused {
            let _ = writeln!(
                out,
                "tim_follow_webhooks_refused_total{{reason=\"{reason}\"}} {n}"
            );
        }
        self.histogram(&mut out);
        out
    }

    /// The handler time histogram in the Prometheus text format.
    fn histogram(&self, out: &mut String) {
        use std::fmt::Write as _;
        out.push_str(
            "# HELP tim_follow_webhooks_store_seconds How long storing an event took (the handler, with the fsync).\n\
             # TYPE tim_follow_webhooks_store_seconds histogram\n",
        );
        let mut below = 0;
        for (bound, n) in BUCKETS.iter().zip(&self.handler_buckets) {
            below += n.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "tim_follow_webhooks_store_seconds_bucket{{le=\"{bound}\"}} {below}"
            );
        }
        let count = self.handler_count.load(Ordering::Relaxed);
        let sum = self.handler_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = write!(
            out,
            "tim_follow_webhooks_store_seconds_bucket{{le=\"+Inf\"}} {count}\n\
             tim_follow_webhooks_store_seconds_sum {sum}\n\
             tim_follow_webhooks_store_seconds_count {count}\n"
        );
    }

    /// The counts now.
    pub(super) fn snapshot(&self) -> ReceiverStats {
        ReceiverStats {
            received: self.received.load(Ordering::SeqCst),
            acked: self.acked.load(Ordering::SeqCst),
            handled: self.handled.load(Ordering::SeqCst),
            repeats: self.repeats.load(Ordering::SeqCst),
            failed: self.failed.load(Ordering::SeqCst),
            not_yet: self.not_yet.load(Ordering::SeqCst),
            refused: lock(&self.refused).clone(),
        }
    }
}

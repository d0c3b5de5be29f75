//! Logs that cannot flood: what the receiver refused or could not handle is
//! counted by reason and logged as one line per reason every few seconds,
//! with the count and a sample (a peer and what was wrong), never a line
//! per request.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::sync::lock;

/// The longest sample kept for a reason, in bytes.
const SAMPLE: usize = 200;

/// Refusals and failures not logged yet.
pub(super) struct Quiet {
    every: Duration,
    pending: Mutex<Pending>,
}

struct Pending {
    since: Instant,
    by_reason: BTreeMap<&'static str, Tally>,
}

struct Tally {
    count: u64,
    peer: Option<SocketAddr>,
    sample: String,
}

impl Quiet {
    /// Logs every `every` (from a thread of its own, which ends when the
    /// last handle is dropped; what is pending then is logged too).
    pub(super) fn start(every: Duration) -> Arc<Quiet> {
        let quiet = Arc::new(Quiet {
            every,
            pending: Mutex::new(Pending {
                since: Instant::now(),
                by_reason: BTreeMap::new(),
            }),
        });
        let weak: Weak<Quiet> = Arc::downgrade(&quiet);
        let _ = std::thread::Builder::new()
            .name("tim-follow-log".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_millis(100));
                let Some(quiet) = weak.upgrade() else { return };
                let due = lock(&quiet.pending).since.elapsed() >= quiet.every;
                if due {
                    quiet.flush();
                }
            });
        quiet
    }

    /// Counts one under `reason`; the first of a period is its sample.
    pub(super) fn note(
        &self,
        reason: &'static str,
        peer: Option<SocketAddr>,
        sample: impl FnOnce() -> String,
    ) {
        let mut pending = lock(&self.pending);
        let tally = pending.by_reason.entry(reason).or_insert_with(|| {
            let mut sample = sample();
            if sample.len() > SAMPLE {
                let mut end = SAMPLE;
                while !sample.is_char_boundary(end) {
                    end -= 1;
                }
                sample.truncate(end);
                sample.push('…');
            }
            Tally {
                count: 0,
                peer,
                sample,
            }
        });
        tally.count += 1;
    }

    /// Logs one line per reason counted since the last time.
    pub(super) fn flush(&self) {
        let (since, by_reason) = {
            let mut pending = lock(&self.pending);
            let since = std::mem::replace(&mut pending.since, Instant::now());
            (since, std::mem::take(&mut pending.by_reason))
        };
        let secs = since.elapsed().as_secs_f64();
        for (reason, t) in by_reason {
            let from = t.peer.map(|p| format!(" from {p}")).unwrap_or_default();
            log::warn!(
                target: "tim_follow",
                "webhooks {reason}: {} in the last {secs:.0} s (such as{from}: {})",
                t.count,
                t.sample
            );
        }
    }
}

impl Drop for Quiet {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thousand_notes_are_one_line_with_their_count() {
        let quiet = Quiet::start(Duration::from_secs(3600));
        for i in 0..1000 {
            quiet.note("refused (bad sign)", None, || format!("request {i}"));
        }
        quiet.note("handler failed", None, || "x".repeat(1000));
        let pending = lock(&quiet.pending);
        assert_eq!(pending.by_reason.len(), 2);
        let t = &pending.by_reason["refused (bad sign)"];
        assert_eq!((t.count, t.sample.as_str()), (1000, "request 0"));
        assert!(pending.by_reason["handler failed"].sample.len() <= SAMPLE + 3);
    }
}

//! What the server refused or closed itself, by reason: counted, never
//! logged one line each, so that the application can summarize them.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Why the server refused a request or closed a connection itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Refused {
    /// A malformed request or framing HTTP/1.1 forbids (400).
    Malformed,
    /// A transfer coding other than chunked (501).
    Unsupported,
    /// An `Expect` other than `100-continue` (417).
    Expectation,
    /// A body larger than the bound (413).
    TooLarge,
    /// A head, header count or trailers beyond their bounds (431).
    HeadTooLarge,
    /// A head or body not complete within its time (408).
    TimedOut,
    /// A request arriving more slowly than the minimum rate (408).
    TooSlow,
    /// A connection closed to make room for a new one (the one that had
    /// made the least progress).
    Evicted,
    /// A new connection closed at once: every place was taken by requests
    /// being handled or answered.
    NoRoom,
}

impl Refused {
    /// Every reason, in the order [`Stats::refused`] lists them.
    pub(crate) const ALL: [Refused; 9] = [
        Refused::Malformed,
        Refused::Unsupported,
        Refused::Expectation,
        Refused::TooLarge,
        Refused::HeadTooLarge,
        Refused::TimedOut,
        Refused::TooSlow,
        Refused::Evicted,
        Refused::NoRoom,
    ];

    /// A short name, for logs and metrics labels.
    #[allow(dead_code)]
    pub(crate) fn name(self) -> &'static str {
        match self {
            Refused::Malformed => "malformed",
            Refused::Unsupported => "unsupported coding",
            Refused::Expectation => "expectation",
            Refused::TooLarge => "too large",
            Refused::HeadTooLarge => "head too large",
            Refused::TimedOut => "timed out",
            Refused::TooSlow => "too slow",
            Refused::Evicted => "evicted",
            Refused::NoRoom => "no room",
        }
    }

    /// The reason for a refusal answered with `status`.
    pub(crate) fn of_status(status: u16) -> Refused {
        match status {
            501 => Refused::Unsupported,
            417 => Refused::Expectation,
            413 => Refused::TooLarge,
            431 => Refused::HeadTooLarge,
            408 => Refused::TimedOut,
            _ => Refused::Malformed,
        }
    }
}

/// The server's counters, readable at any time from [`Server::stats`](super::Server::stats).
#[derive(Debug, Default)]
pub(crate) struct Stats {
    refused: [AtomicU64; Refused::ALL.len()],
    accepted: AtomicU64,
    requests: AtomicU64,
    peak_buffered: AtomicUsize,
}

// Read by the application (its summary of refusals, its metrics) and tests.
#[allow(dead_code)]
impl Stats {
    pub(crate) fn count(&self, why: Refused) {
        self.refused[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn buffered(&self, bytes: usize) {
        self.peak_buffered.fetch_max(bytes, Ordering::Relaxed);
    }

    /// How many times each reason happened, every reason listed.
    pub(crate) fn refused(&self) -> Vec<(Refused, u64)> {
        Refused::ALL
            .iter()
            .map(|r| (*r, self.refused[*r as usize].load(Ordering::Relaxed)))
            .collect()
    }

    /// How many times `why` happened.
    pub(crate) fn refused_for(&self, why: Refused) -> u64 {
        self.refused[why as usize].load(Ordering::Relaxed)
    }

    /// Connections accepted.
    pub(crate) fn connections(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Whole requests handed to the handler.
    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The most memory one connection's reader held at once, in bytes.
    pub(crate) fn peak_buffered(&self) -> usize {
        self.peak_buffered.load(Ordering::Relaxed)
    }
}

//! A job's accounting: where each piece of work's results go (the journal,
//! the counters, the progress callback), what stops a job, and the one rule
//! for where a job stands, for a run's summary and a journal's.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::error::Error;

use super::format::{Done, Line};
use super::journal::Writer;
use super::replay::Replay;
use super::{JobError, JobProgress, JobSummary, StopReason};

/// What a worker reports for one piece of work.
#[derive(Default)]
pub(super) struct Sent {
    /// One line per request.
    pub(super) lines: Vec<Done>,
    /// An error that would hit every request (credentials, permission, app
    /// configuration): the job stops.
    pub(super) fatal: Option<Error>,
    /// The work got no answer at all (transport, an HTTP error, a reply
    /// that could not be read): the error.
    pub(super) unanswered: Option<Error>,
    /// follow_add or follow_delete requests it sent.
    pub(super) requests: u64,
    /// The accounts those requests carried.
    pub(super) accounts: u64,
}

/// A call's error: whether it stops the job, and whether the call got no
/// answer at all.
pub(super) fn judge<T>(result: &Result<T, Error>) -> (Option<Error>, Option<Error>) {
    match result {
        Err(Error::Api(api)) if api.kind().is_fatal() => (Some(Error::Api(api.clone())), None),
        Err(Error::Api(_)) | Err(Error::InvalidInput(_)) | Ok(_) => (None, None),
        Err(e) => (None, Some(e.clone())),
    }
}

/// After this many pieces of work in a row got no answer at all, a job
/// stops: the rest stays pending for a resume, rather than every request
/// spending its retries against a service that is down.
const UNANSWERED_STREAK: u32 = 3;

/// Where results go: the journal, the counters and the progress callback.
pub(super) struct Sink<'a> {
    /// The journal, shared with the workers (they write `sending` lines).
    pub(super) writer: Option<Arc<Writer>>,
    /// Whether a `sending` line goes before each request (format 3).
    pub(super) write_ahead: bool,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) progress: Box<dyn FnMut(&JobProgress) + 'a>,
    pub(super) started: Instant,
    pub(super) total: u64,
    pub(super) applied: u64,
    pub(super) in_place: u64,
    pub(super) refused: u64,
    pub(super) unknown: u64,
    pub(super) sent: u64,
    pub(super) sent_accounts: u64,
    pub(super) stopped_by: Option<StopReason>,
    pub(super) failure: Option<JobError>,
    /// For input from an iterator: the total is what was read so far.
    pub(super) total_grows: bool,
    /// For a purge: whether a listing found nothing left.
    pub(super) verified: Option<bool>,
    /// Pieces of work in a row that got no answer, and the last error.
    pub(super) unanswered: u32,
    pub(super) last_unanswered: Option<Error>,
    /// Whether any piece of work of this run got an answer.
    pub(super) answered: bool,
    /// For pairs sorted before they were cut: the sort's run size.
    pub(super) sort_run: Option<u64>,
    /// Whether the job counts relations ([`JobSummary::relations`]).
    pub(super) relations: bool,
}

impl<'a> Sink<'a> {
    pub(super) fn new(stop: Arc<AtomicBool>, progress: Box<dyn FnMut(&JobProgress) + 'a>) -> Self {
        Sink {
            writer: None,
            write_ahead: false,
            stop,
            progress,
            started: Instant::now(),
            total: 0,
            applied: 0,
            in_place: 0,
            refused: 0,
            unknown: 0,
            sent: 0,
            sent_accounts: 0,
            stopped_by: None,
            failure: None,
            total_grows: false,
            verified: None,
            unanswered: 0,
            last_unanswered: None,
            answered: false,
            sort_run: None,
            relations: false,
        }
    }

    /// Journals from now on to `writer`, with a `sending` line before each
    /// request when `write_ahead` (the journal is of format 3).
    pub(super) fn journal_to(&mut self, writer: Writer, write_ahead: bool) {
        self.writer = Some(Arc::new(writer));
        self.write_ahead = write_ahead;
    }

    /// Counts what a journal read to its end holds.
    pub(super) fn count_replay(&mut self, replay: &Replay) {
        self.applied = replay.applied;
        self.in_place = replay.in_place;
        self.refused = replay.refused;
        self.unknown = replay.unknown;
    }

    /// Reports a failed background flush of the journal.
    pub(super) fn check_journal(&mut self) -> Result<(), JobError> {
        match &self.writer {
            Some(w) => w.flush_failure(),
            None => Ok(()),
        }
    }

    /// Journals and counts a piece of work that finished now.
    pub(super) fn record(&mut self, sent: Sent) -> Result<(), JobError> {
        if let Some(why) = sent.fatal {
            self.stop.store(true, Ordering::SeqCst);
            self.stopped_by.get_or_insert(StopReason::Refused(why));
        }
        match sent.unanswered {
            Some(why) => {
                self.unanswered += 1;
                self.last_unanswered = Some(why);
                if self.unanswered >= UNANSWERED_STREAK && !self.stop.swap(true, Ordering::SeqCst) {
                    self.stopped_by
                        .get_or_insert_with(|| StopReason::no_answer(&self.last_unanswered));
                }
            }
            None => {
                self.unanswered = 0;
                self.answered = true;
            }
        }
        self.sent += sent.requests;
        self.sent_accounts += sent.accounts;
        for d in sent.lines {
            if d.retry > 0 {
                // The line speaks again for accounts counted unknown.
                self.unknown = self.unknown.saturating_sub(d.len() as u64);
            }
            self.applied += (d.applied.len() + d.in_place.len()) as u64;
            self.in_place += d.in_place.len() as u64;
            self.refused += d.refused.len() as u64;
            self.unknown += d.unknown.len() as u64;
            if let Some(w) = &self.writer {
                w.append(&Line::Done(d))?;
            }
        }
        if self.total_grows {
            self.total = self.total.max(self.applied + self.refused + self.unknown);
        }
        let p = self.progress_now();
        (self.progress)(&p);
        Ok(())
    }

    /// A run whose every piece of work got no answer stopped for that
    /// reason, however few requests it had.
    pub(super) fn settle_unreachable(&mut self) {
        if !self.answered && self.unanswered > 0 && self.stopped_by.is_none() {
            self.stopped_by = Some(StopReason::no_answer(&self.last_unanswered));
        }
    }

    fn progress_now(&self) -> JobProgress {
        JobProgress {
            total: self.total,
            done: self.applied + self.refused + self.unknown,
            applied: self.applied,
            refused: self.refused,
            unknown: self.unknown,
            requests: self.sent,
            accounts_sent: self.sent_accounts,
            elapsed: self.started.elapsed(),
        }
    }

    /// Syncs the journal; reports a failure met on the way.
    pub(super) fn finish(&mut self) -> Result<(), JobError> {
        if let Some(w) = &self.writer {
            w.sync()?;
        }
        match self.failure.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    pub(super) fn summary(&self) -> JobSummary {
        let p = self.progress_now();
        let interrupted = self.stop.load(Ordering::SeqCst) && self.stopped_by.is_none();
        let data = Standing::of(p.total, p.done, p.unknown, self.verified);
        let complete = data.complete && !interrupted && self.stopped_by.is_none();
        JobSummary {
            total: p.total,
            relations: self.relations,
            applied: p.applied,
            in_place: self.in_place,
            refused: p.refused,
            unknown: p.unknown,
            pending: data.pending,
            to_resume: if complete {
                0
            } else {
                data.pending + p.unknown
            },
            requests_sent: p.requests,
            complete,
            stopped_by: self.stopped_by.clone(),
            elapsed: p.elapsed,
            sort_run: self.sort_run,
        }
    }
}

/// Where a job stands by its accounts, the one rule for a run's summary and
/// for a journal's.
pub(super) struct Standing {
    /// Accounts with no outcome yet.
    pub(super) pending: u64,
    /// No account pending or unknown; for a purge, a listing found nothing.
    pub(super) complete: bool,
}

impl Standing {
    /// `emptied` is `Some` for a purge: whether a listing found nothing left
    /// (what is pending then no longer exists).
    pub(super) fn of(total: u64, finished: u64, unknown: u64, emptied: Option<bool>) -> Standing {
        match emptied {
            Some(true) => Standing {
                pending: 0,
                complete: true,
            },
            Some(false) => Standing {
                pending: total.saturating_sub(finished),
                complete: false,
            },
            None => {
                let pending = total.saturating_sub(finished);
                Standing {
                    pending,
                    complete: pending == 0 && unknown == 0,
                }
            }
        }
    }
}

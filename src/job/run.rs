//! The send loop of a job: its requests taken by the client's workers one
//! at a time, each result journaled and counted on this thread as it comes
//! (a rendezvous channel, so that at most one request per worker is ever
//! in flight and unjournaled).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use crate::client::Client;
use crate::outcome::Outcome;
use crate::sync::lock;

use super::format::{self, Done, Line, Reads, Sending};
use super::open::{
    lock_reversed, open_or_create, prepare, requests_of, source_path, Lost, Pending,
};
use super::plan::{self, Request};
use super::settle::{lost as lost_answer, settle, settle_groups, Proved, Work};
use super::sink::{judge, Sent, Sink};
use super::{sort, undo, InputSource, JobError, JobInput, Operation};

/// How a follow/unfollow job runs.
#[derive(Debug, Clone, Copy)]
pub(super) struct Settings {
    /// Follow or unfollow.
    pub(super) op: Operation,
    /// Read each request's accounts before sending it.
    pub(super) check_first: bool,
    /// The size of the blocks the input is hashed and checked in.
    pub(super) block: usize,
    /// The rate limit to record in a new journal.
    pub(super) rate_limit: Option<u32>,
    /// For an undo: reverse every applied account of a journal that did
    /// not check first.
    pub(super) reverse_all_applied: bool,
    /// The run size of a new pairs job's sort (`None`: the default).
    pub(super) sort_run: Option<usize>,
}

/// A job of lines from an iterator, without a journal: pairs are read and
/// sorted whole first (grouped by `FROM`), targets are sent as they come.
fn run_lines(
    client: &Client,
    settings: &Settings,
    from: Option<&str>,
    lines: Box<dyn Iterator<Item = String> + Send>,
    sink: &mut Sink<'_>,
) -> Result<(), JobError> {
    let (done, mut lost) = (plan::DoneSet::default(), Lost::default());
    let left = Left {
        done: &done,
        unknown: Vec::new(),
        lost: &mut lost,
    };
    let how = (settings.op, settings.check_first);
    if from.is_none() {
        let sorted = sort::sort_lines(lines, settings.sort_run)?;
        sink.total = sorted.total;
        sink.sort_run = Some(sorted.spec.run);
        let requests = sorted.requests()?;
        return execute(client, how, requests, left, sink);
    }
    sink.total_grows = true;
    let requests = plan::from_lines(lines, from, sink.stop.clone());
    execute(client, how, requests, left, sink)
}

/// A follow/unfollow job over an input: check or create the journal, then
/// send every request not yet journaled.
pub(super) fn run_listed(
    client: &Client,
    settings: Settings,
    from: Option<String>,
    input: JobInput,
    journal: Option<(PathBuf, bool)>,
    sink: &mut Sink<'_>,
) -> Result<(), JobError> {
    let op = settings.op;
    let source = match (input.0, &journal) {
        (InputSource::Lines(lines), None) => {
            return run_lines(client, &settings, from.as_deref(), lines, sink)
        }
        (InputSource::Lines(_), Some(_)) => {
            return Err(JobError::Journal(
                "a journaled job needs its input in a file (resuming checks it is unchanged)"
                    .into(),
            ))
        }
        (other, _) => other,
    };
    let (path, reads) = source_path(&source);
    // The journal an undo reverses stays as it is while the undo runs.
    let _reversed = match reads {
        Reads::Journal => {
            let locked = lock_reversed(&path, journal.as_ref().map(|j| &j.0))?;
            undo::check_exact(&path, settings.reverse_all_applied)?;
            Some(locked)
        }
        _ => None,
    };
    let mut header = prepare(client, op, from.as_deref(), &path, reads, settings.block)?;
    header.check_first = settings.check_first || reads != Reads::Lines;
    header.reverse_all_applied = reads == Reads::Journal && settings.reverse_all_applied;
    // Pairs are sorted (grouped by `FROM`) unless the journal cut them
    // the old way.
    let journal_path = journal.as_ref().map(|j| j.0.as_path());
    let sorted = sort::sort_job(&mut header, &path, journal_path, settings.sort_run)?;
    header.rate_limit = settings.rate_limit;
    sink.total = header.total;
    sink.sort_run = header.sorted.map(|s| s.run);
    let mut pending = match &journal {
        Some((j, moved)) => open_or_create(j, &header, *moved, sink)?,
        None => Pending::default(),
    };
    if let Some(j) = journal_path {
        // The journal's lock is held: runs left next to it by a killed
        // process are no one's.
        let spill = sorted
            .as_ref()
            .map_or_else(|| sort::Spill::next_to(j), |s| s.spill().clone());
        spill.remove_stale();
    }
    let requests = match &sorted {
        Some(s) => s.requests()?,
        None => requests_of(&header, &path, from.as_deref())?,
    };
    let left = Left {
        done: &pending.done,
        unknown: std::mem::take(&mut pending.unknown),
        lost: &mut pending.lost,
    };
    execute(client, (op, header.check_first), requests, left, sink)
}

/// What a journal says is left besides the requests never sent.
pub(super) struct Left<'a> {
    /// Requests with a line: not sent again.
    pub(super) done: &'a plan::DoneSet,
    /// Accounts left unknown, as requests to settle first.
    pub(super) unknown: Vec<Request>,
    /// Requests whose answer was lost, taken out as they come.
    pub(super) lost: &'a mut Lost,
}

/// Settles the accounts journaled unknown, then sends every request not
/// done (with `check_first`, reading each before sending it; one whose
/// answer was lost is read back first), on the client's workers; journals
/// and counts each result as it comes. With a journal of format 3, each
/// request's `sending` line is written before it is sent.
pub(super) fn execute(
    client: &Client,
    (op, check_first): (Operation, bool),
    requests: impl Iterator<Item = Result<Request, JobError>> + Send,
    left: Left<'_>,
    sink: &mut Sink<'_>,
) -> Result<(), JobError> {
    let Left {
        done,
        unknown,
        lost,
    } = left;
    let fresh = requests
        .filter(|r| !r.as_ref().is_ok_and(|r| done.contains_in(r.round, r.r)))
        .map(move |r| {
            r.map(|r| match lost.remove(&(r.round, r.r)) {
                Some(in_place) => Work::Lost(r, in_place),
                None => Work::Send(r),
            })
        });
    let source = Mutex::new(settle_groups(unknown).into_iter().map(Ok).chain(fresh));
    let ahead = sink.writer.clone().filter(|_| sink.write_ahead);
    let plain = |request: &Request, _: &[String]| Ok(send(client, op, request));
    let announced = |request: &Request, in_place: &[String]| {
        if let Some(w) = &ahead {
            w.append(&Line::Sending(Sending {
                round: request.round,
                r: request.r,
                in_place: in_place.to_vec(),
            }))?;
        }
        Ok(send(client, op, request))
    };
    let next = || {
        let work = lock(&source).next()?;
        Some(work.and_then(|work| match work {
            Work::Send(request) if check_first => {
                let one = std::slice::from_ref(&request);
                settle(client, op, one, Proved::InPlace, &announced)
            }
            Work::Send(request) => announced(&request, &[]),
            Work::Lost(request, in_place) => lost_answer(client, op, request, in_place, &plain),
            Work::Settle(group) => settle(client, op, &group, Proved::Applied, &plain),
        }))
    };
    let stop = sink.stop.clone();
    // A rendezvous: a worker takes its next request only once the journal
    // has its last result, so at most one per worker is ever in flight.
    let (tx, rx) = mpsc::sync_channel::<Result<Sent, JobError>>(0);
    let workers = Workers {
        client,
        most: client.concurrency().max(1),
        started: AtomicUsize::new(0),
        stop: &stop,
        next: &next,
    };
    std::thread::scope(|scope| {
        if let Err(e) = workers.start_first(scope, tx) {
            sink.failure = Some(e);
        }
        collect(&rx, &stop, sink);
    });
    sink.finish()
}

/// What a worker does: take the next piece of work and do it (`None` when
/// there is none left).
type NextFn<'a> = &'a (dyn Fn() -> Option<Result<Sent, JobError>> + Sync);

/// The workers of a job: started as the requests in flight need them (the
/// client's target), up to the client's cap.
struct Workers<'a> {
    client: &'a Client,
    most: usize,
    started: AtomicUsize,
    stop: &'a AtomicBool,
    next: NextFn<'a>,
}

impl<'a> Workers<'a> {
    /// Starts the first worker; an error only when it cannot start.
    fn start_first<'scope>(
        &'scope self,
        scope: &'scope std::thread::Scope<'scope, '_>,
        tx: mpsc::SyncSender<Result<Sent, JobError>>,
    ) -> Result<(), JobError>
    where
        'a: 'scope,
    {
        self.started.store(1, Ordering::SeqCst);
        self.spawn(scope, tx).map_err(|e| JobError::Io {
            path: PathBuf::from("(worker thread)"),
            what: "cannot start a worker",
            source: e,
        })
    }

    fn spawn<'scope>(
        &'scope self,
        scope: &'scope std::thread::Scope<'scope, '_>,
        tx: mpsc::SyncSender<Result<Sent, JobError>>,
    ) -> std::io::Result<()>
    where
        'a: 'scope,
    {
        std::thread::Builder::new()
            .name("tim-follow-job".into())
            .stack_size(crate::inflight::WORKER_STACK)
            .spawn_scoped(scope, move || self.work(scope, tx))
            .map(drop)
    }

    /// Starts one more worker if the target allows more than there are;
    /// whether one started. Out of threads or memory, the job goes on with
    /// the workers there are.
    fn grow<'scope>(
        &'scope self,
        scope: &'scope std::thread::Scope<'scope, '_>,
        tx: &mpsc::SyncSender<Result<Sent, JobError>>,
    ) -> bool
    where
        'a: 'scope,
    {
        // A few more than the target: a job's worker also journals and
        // waits for the journal between its requests; the ones not needed
        // wait at the client's gate, which keeps the target.
        let wanted = crate::inflight::workers_for(self.client.in_flight_target()).min(self.most);
        let tx = tx.clone();
        let work = move || self.work(scope, tx);
        crate::inflight::start_worker(scope, &self.started, wanted, "tim-follow-job", work)
    }

    /// Does the next piece of work until there is none or the job stops,
    /// each result sent on `tx`.
    fn work<'scope>(
        &'scope self,
        scope: &'scope std::thread::Scope<'scope, '_>,
        tx: mpsc::SyncSender<Result<Sent, JobError>>,
    ) where
        'a: 'scope,
    {
        let grow = || {
            // A few at a time: each one started starts more.
            for _ in 0..4 {
                if !self.grow(scope, &tx) {
                    break;
                }
            }
        };
        while !self.stop.load(Ordering::SeqCst) {
            grow();
            // Work is taken only when it can be sent at once: a request
            // waiting for a place would still be sent after a stop.
            if !self.client.room_in_flight(Duration::from_millis(100)) {
                continue;
            }
            // The target may have grown while this one waited.
            grow();
            let Some(result) = (self.next)() else {
                self.client.no_room_needed();
                break;
            };
            if result.as_ref().is_ok_and(|s| s.fatal.is_some()) {
                // Every other request would fail the same way.
                self.stop.store(true, Ordering::SeqCst);
            }
            if tx.send(result).is_err() {
                break;
            }
        }
    }
}

/// Journals and counts the workers' results until every worker is done.
fn collect(rx: &mpsc::Receiver<Result<Sent, JobError>>, stop: &AtomicBool, sink: &mut Sink<'_>) {
    loop {
        // Wake twice a second even when requests are slow, to report a
        // failed background flush of the journal promptly.
        let outcome = match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(result) => result.and_then(|sent| sink.record(sent)),
            Err(mpsc::RecvTimeoutError::Timeout) => sink.check_journal(),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        if let Err(e) = outcome {
            // Stop the workers; what is in flight is sent again on resume.
            stop.store(true, Ordering::SeqCst);
            sink.failure.get_or_insert(e);
        }
    }
}

/// Sends one request and sorts its accounts by outcome.
pub(super) fn send(client: &Client, op: Operation, request: &Request) -> Sent {
    let result = match op {
        Operation::Follow => client.follow_add(&request.from, &request.to),
        Operation::Unfollow => client.follow_delete(&request.from, &request.to),
    };
    let mut done = Done {
        r: request.r,
        round: request.round,
        retry: request.retry,
        from: request.from_in_journal.then(|| request.from.clone()),
        ..Done::default()
    };
    for account in &request.to {
        let outcome = match &result {
            Ok(out) => out.get(account).cloned(),
            Err(e) => Some(Outcome::Unknown(e.clone())),
        };
        match outcome {
            Some(Outcome::Applied(())) => done.applied.push(account.clone()),
            Some(Outcome::Refused(api)) => {
                let info = format::reason(&api.info);
                done.refused.push((account.clone(), api.code, info))
            }
            Some(Outcome::Unknown(e)) => {
                let why = format::reason(&e.to_string());
                done.unknown.push((account.clone(), why))
            }
            None => done.unknown.push((account.clone(), "no outcome".into())),
        }
    }
    let (fatal, unanswered) = judge(&result);
    Sent {
        lines: vec![done],
        fatal,
        unanswered,
        requests: 1,
        accounts: request.to.len() as u64,
    }
}

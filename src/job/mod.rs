//! Durable bulk jobs (feature `job`): million-account follows, unfollows and
//! purges that survive a crash and resume where they stopped.
//!
//! A job is an operation and a stream of work, read lazily from a file (or
//! an iterator): the targets of one source account (20 per request), or
//! `FROM TO` pairs (consecutive pairs with the same `FROM` share a request).
//! It runs on the client's workers at the client's rate limit, and each
//! finished request's per-account outcomes are appended to a **journal**
//! (see below). Memory stays flat in the size of the job: the input is
//! streamed, and what resuming needs is one bit per request.
//!
//! ```no_run
//! use tim_follow::job::{Job, JobInput};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = tim_follow::Client::from_env()?;
//! let summary = Job::unfollow("UserID_001", JobInput::file("ids.txt"))
//!     .journal("unfollow.journal")
//!     .run(&client, |p| eprint!("\r{}/{} accounts", p.done, p.total))?;
//! println!("{} applied, {} refused, {} unknown", summary.applied, summary.refused, summary.unknown);
//!
//! // After a crash, a reboot or Ctrl-C: the same call, or
//! let summary = Job::resume("unfollow.journal")?.run(&client, |_| {})?;
//! # let _ = summary; Ok(()) }
//! ```
//!
//! # The journal
//!
//! JSON Lines: a header with the job's definition (operation, source,
//! SDKAppID, the input's absolute path, size and SHA-256), then one line per
//! finished request with its accounts by outcome. Each line is written whole
//! in one call and the file is synced at least once a second and when the job
//! stops; a crash can only tear the last line, which resuming ignores. It
//! never holds the UserSig or the SecretKey.
//!
//! # Resuming
//!
//! Running a job whose journal exists continues it; [`Job::resume`] rebuilds
//! the job from the journal alone. Resuming against a changed input file,
//! another SDKAppID or another operation is refused ([`JobError::Mismatch`]).
//! Only the requests in flight when the job stopped are sent again: the
//! follow operations are idempotent, and the client settles a refusal that
//! follows a lost answer by reading back (see
//! [`BatchOutcome`](crate::BatchOutcome)). Every account is counted once in
//! the summary; a completed job resumes as a no-op that returns its summary.
//!
//! # What stops a job
//!
//! The [`stop_when`](Job::stop_when) flag (the command-line tool sets it on
//! Ctrl-C): no new request is taken, those in flight finish and are
//! journaled. An error that would hit every request (credentials,
//! permission, app configuration: [`ErrorKind::is_fatal`](crate::ErrorKind::is_fatal)) stops it the same
//! way, with [`JobSummary::stopped_by`] saying why.
//!
//! # Purge
//!
//! [`Job::purge`] removes every follow relation of one account, both ways:
//! its following list is unfollowed (20 per request) and every fan is made
//! to unfollow it (one request per fan). Both lists are listed into the
//! journal before the first delete (deleting while paging would skip
//! entries); then a fresh listing checks that nothing is left and removes
//! what appeared meanwhile, for at most [`PURGE_ROUNDS`] rounds.

mod journal;
mod plan;
mod purge;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::client::Client;
use crate::error::Error;
use crate::outcome::Outcome;
use crate::sync::lock;
use journal::{Done, Header, Line, Reader, Writer};
use plan::Request;

pub use purge::PURGE_ROUNDS;

/// What a job does to each pair of accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `v4/follow/follow_add`.
    Follow,
    /// `v4/follow/follow_delete`.
    Unfollow,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Operation::Follow => "follow",
            Operation::Unfollow => "unfollow",
        }
    }
}

/// Where a job's work comes from.
pub struct JobInput(InputSource);

enum InputSource {
    File(PathBuf),
    Lines(Box<dyn Iterator<Item = String> + Send>),
}

impl JobInput {
    /// A file, one account (or one `FROM TO` pair) per line; empty lines and
    /// lines starting with `#` are skipped, a UTF-8 BOM is dropped. Needed
    /// for a journal: resuming checks the file is unchanged.
    pub fn file(path: impl Into<PathBuf>) -> JobInput {
        JobInput(InputSource::File(path.into()))
    }

    /// Any iterator of lines, read lazily; a job from one cannot have a
    /// journal (it could not be checked on resume). Each line is validated
    /// when it is read: an invalid one stops the job with
    /// [`JobError::InvalidInput`].
    pub fn lines<I>(lines: I) -> JobInput
    where
        I: IntoIterator<Item = String>,
        I::IntoIter: Send + 'static,
    {
        JobInput(InputSource::Lines(Box::new(lines.into_iter())))
    }
}

impl fmt::Debug for JobInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            InputSource::File(p) => f.debug_tuple("JobInput::file").field(p).finish(),
            InputSource::Lines(_) => f.write_str("JobInput::lines(..)"),
        }
    }
}

/// What a job works through.
#[derive(Debug)]
enum Kind {
    /// `from` follows or unfollows every account of the input.
    Targets {
        op: Operation,
        from: String,
        input: JobInput,
    },
    /// Each `FROM TO` line of the input.
    Pairs { op: Operation, input: JobInput },
    /// Every relation of one account.
    Purge { account: String },
}

/// A durable bulk job: see the [module docs](self).
#[derive(Debug)]
#[must_use]
pub struct Job {
    kind: Kind,
    journal: Option<PathBuf>,
    stop: Arc<AtomicBool>,
}

impl Job {
    /// `from` follows every account of `input`.
    pub fn follow(from: impl Into<String>, input: JobInput) -> Job {
        Job::new(Kind::Targets {
            op: Operation::Follow,
            from: from.into(),
            input,
        })
    }

    /// `from` unfollows every account of `input`.
    pub fn unfollow(from: impl Into<String>, input: JobInput) -> Job {
        Job::new(Kind::Targets {
            op: Operation::Unfollow,
            from: from.into(),
            input,
        })
    }

    /// For each `FROM TO` line of `input` (separated by spaces, a tab or a
    /// comma), `FROM` follows or unfollows `TO`.
    pub fn pairs(op: Operation, input: JobInput) -> Job {
        Job::new(Kind::Pairs { op, input })
    }

    /// Removes every follow relation of `account`, both ways.
    pub fn purge(account: impl Into<String>) -> Job {
        Job::new(Kind::Purge {
            account: account.into(),
        })
    }

    fn new(kind: Kind) -> Job {
        Job {
            kind,
            journal: None,
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Journals the job at `path`: created if missing, continued if it holds
    /// this same job, refused if it holds another.
    pub fn journal(mut self, path: impl Into<PathBuf>) -> Job {
        self.journal = Some(path.into());
        self
    }

    /// Stops taking new requests once `flag` is set (requests in flight
    /// finish and are journaled).
    pub fn stop_when(mut self, flag: Arc<AtomicBool>) -> Job {
        self.stop = flag;
        self
    }

    /// The job a journal holds, to continue with [`run`](Job::run).
    pub fn resume(journal: impl Into<PathBuf>) -> Result<Job, JobError> {
        let path = journal.into();
        let (header, _) = Reader::open(&path)?;
        let input = || {
            header
                .input
                .as_ref()
                .map(|i| JobInput::file(&i.path))
                .ok_or_else(|| JobError::Journal("the journal names no input file".into()))
        };
        let op = match header.operation.as_str() {
            "follow" => Some(Operation::Follow),
            "unfollow" => Some(Operation::Unfollow),
            _ => None,
        };
        let kind = match (op, header.from.clone(), header.pairs) {
            (Some(op), _, true) => Kind::Pairs {
                op,
                input: input()?,
            },
            (Some(op), Some(from), false) => Kind::Targets {
                op,
                from,
                input: input()?,
            },
            (None, Some(account), _) if header.operation == "purge" => Kind::Purge { account },
            _ => {
                return Err(JobError::Journal(format!(
                    "{}: a header this version does not know",
                    path.display()
                )))
            }
        };
        Ok(Job::new(kind).journal(path))
    }

    /// Runs the job to its end (or until stopped) on `client`, calling
    /// `progress` after each finished request.
    pub fn run(
        self,
        client: &Client,
        progress: impl FnMut(&JobProgress),
    ) -> Result<JobSummary, JobError> {
        let mut sink = Sink::new(self.stop.clone(), Box::new(progress));
        match self.kind {
            Kind::Purge { account } => {
                sink.verified = Some(false);
                purge::run(client, &account, self.journal.as_deref(), &mut sink)?
            }
            Kind::Targets { op, from, input } => {
                run_listed(client, op, Some(from), input, self.journal, &mut sink)?
            }
            Kind::Pairs { op, input } => {
                run_listed(client, op, None, input, self.journal, &mut sink)?
            }
        }
        Ok(sink.summary())
    }
}

/// A follow/unfollow job over an input: check or create the journal, then
/// send every request not yet journaled.
fn run_listed(
    client: &Client,
    op: Operation,
    from: Option<String>,
    input: JobInput,
    journal: Option<PathBuf>,
    sink: &mut Sink<'_>,
) -> Result<(), JobError> {
    let (path, journal) = match (input.0, journal) {
        (InputSource::Lines(lines), None) => {
            sink.total_grows = true;
            let requests = plan::from_lines(lines, from.as_deref(), sink.stop.clone());
            return execute(client, op, requests, &plan::DoneSet::default(), sink);
        }
        (InputSource::Lines(_), Some(_)) => {
            return Err(JobError::Journal(
                "a journaled job needs its input in a file (resuming checks it is unchanged)"
                    .into(),
            ))
        }
        (InputSource::File(path), journal) => (path, journal),
    };
    let scan = plan::scan_file(&path, from.as_deref())?;
    let header = Header {
        tim_follow_job: journal::FORMAT,
        operation: op.name().into(),
        from: from.clone(),
        pairs: from.is_none(),
        sdkappid: client.sdkappid(),
        input: Some(scan.input.clone()),
        total: scan.total,
        requests: scan.requests,
    };
    sink.total = scan.total;
    let done = match &journal {
        Some(j) => open_or_create(j, &header, sink)?,
        None => plan::DoneSet::default(),
    };
    let requests = plan::from_file(&scan, from.as_deref())?;
    execute(client, op, requests, &done, sink)
}

/// Continues the journal at `path` if it holds `header`'s job, or creates it.
fn open_or_create(
    path: &Path,
    header: &Header,
    sink: &mut Sink<'_>,
) -> Result<plan::DoneSet, JobError> {
    if !path.exists() {
        sink.writer = Some(Writer::create(path, header)?);
        return Ok(plan::DoneSet::default());
    }
    let (found, mut reader) = Reader::open(path)?;
    check_same_job(&found, header, path)?;
    let mut done = plan::DoneSet::default();
    while let Some(line) = reader.next_line()? {
        if let Line::Done(d) = line {
            if done.insert(d.r) {
                sink.count_journaled(&d);
            }
        }
    }
    sink.writer = Some(Writer::reopen(path, reader.whole_len)?);
    Ok(done)
}

/// Refuses to continue a journal that holds another job.
fn check_same_job(found: &Header, want: &Header, path: &Path) -> Result<(), JobError> {
    let differs = |what: &str, was: String, now: String| {
        Err(JobError::Mismatch(format!(
            "the journal {} holds another job: its {what} is {was}, not {now}",
            path.display()
        )))
    };
    if found.sdkappid != want.sdkappid {
        return differs(
            "SDKAppID",
            found.sdkappid.to_string(),
            want.sdkappid.to_string(),
        );
    }
    if found.operation != want.operation || found.pairs != want.pairs {
        return differs("operation", found.operation.clone(), want.operation.clone());
    }
    if found.from != want.from {
        let show = |a: &Option<String>| format!("{:?}", a.as_deref().unwrap_or(""));
        return differs("account", show(&found.from), show(&want.from));
    }
    match (&found.input, &want.input) {
        (Some(a), Some(b)) if a.path != b.path => differs(
            "input",
            a.path.display().to_string(),
            b.path.display().to_string(),
        ),
        (Some(a), Some(b)) if a.sha256 != b.sha256 || a.size != b.size => {
            Err(JobError::Mismatch(format!(
                "the input {} changed since the job started ({} bytes then, {} now): \
                 resuming would skip or repeat the wrong accounts; start a new journal",
                b.path.display(),
                a.size,
                b.size
            )))
        }
        _ => Ok(()),
    }
}

/// Sends every request not in `done` on the client's workers; journals and
/// counts each result as it comes.
fn execute(
    client: &Client,
    op: Operation,
    requests: impl Iterator<Item = Result<Request, JobError>> + Send,
    done: &plan::DoneSet,
    sink: &mut Sink<'_>,
) -> Result<(), JobError> {
    let source =
        Mutex::new(requests.filter(|r| !r.as_ref().is_ok_and(|r| done.contains_in(r.round, r.r))));
    let stop = sink.stop.clone();
    // A rendezvous: a worker takes its next request only once the journal
    // has its last result, so at most one per worker is ever in flight.
    let (tx, rx) = mpsc::sync_channel::<Result<(Done, Option<String>), JobError>>(0);
    let workers = client.concurrency().max(1);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let (tx, source, stop) = (tx.clone(), &source, &stop);
            scope.spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let Some(next) = lock(source).next() else {
                        break;
                    };
                    let result = next.map(|request| send(client, op, &request));
                    if result.as_ref().is_ok_and(|(_, fatal)| fatal.is_some()) {
                        // Every other request would fail the same way.
                        stop.store(true, Ordering::SeqCst);
                    }
                    if tx.send(result).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        loop {
            // Wake twice a second even when requests are slow, to report a
            // failed background flush of the journal promptly.
            let outcome = match rx.recv_timeout(Duration::from_millis(500)) {
                Ok(result) => result.and_then(|(d, fatal)| sink.record(d, fatal)),
                Err(mpsc::RecvTimeoutError::Timeout) => sink.check_journal(),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            if let Err(e) = outcome {
                // Stop the workers; what is in flight is sent again on resume.
                stop.store(true, Ordering::SeqCst);
                sink.failure.get_or_insert(e);
            }
        }
    });
    sink.finish()
}

/// Sends one request and sorts its accounts by outcome; with the error that
/// should stop the job, if any.
fn send(client: &Client, op: Operation, request: &Request) -> (Done, Option<String>) {
    let result = match op {
        Operation::Follow => client.follow_add(&request.from, &request.to),
        Operation::Unfollow => client.follow_delete(&request.from, &request.to),
    };
    let mut done = Done {
        r: request.r,
        round: request.round,
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
            Some(Outcome::Refused(api)) => done.refused.push((account.clone(), api.code, api.info)),
            Some(Outcome::Unknown(e)) => done.unknown.push((account.clone(), e.to_string())),
            None => done.unknown.push((account.clone(), "no outcome".into())),
        }
    }
    let fatal = match &result {
        Err(Error::Api(api)) if api.kind().is_fatal() => Some(Error::Api(api.clone()).to_string()),
        _ => None,
    };
    (done, fatal)
}

/// Where results go: the journal, the counters and the progress callback.
struct Sink<'a> {
    writer: Option<Writer>,
    stop: Arc<AtomicBool>,
    progress: Box<dyn FnMut(&JobProgress) + 'a>,
    started: Instant,
    total: u64,
    applied: u64,
    refused: u64,
    unknown: u64,
    sent: u64,
    stopped_by: Option<String>,
    failure: Option<JobError>,
    /// For input from an iterator: the total is what was read so far.
    total_grows: bool,
    /// For a purge: whether a listing found nothing left.
    verified: Option<bool>,
}

impl<'a> Sink<'a> {
    fn new(stop: Arc<AtomicBool>, progress: Box<dyn FnMut(&JobProgress) + 'a>) -> Self {
        Sink {
            writer: None,
            stop,
            progress,
            started: Instant::now(),
            total: 0,
            applied: 0,
            refused: 0,
            unknown: 0,
            sent: 0,
            stopped_by: None,
            failure: None,
            total_grows: false,
            verified: None,
        }
    }

    /// Counts a request found in the journal.
    fn count_journaled(&mut self, d: &Done) {
        self.applied += d.applied.len() as u64;
        self.refused += d.refused.len() as u64;
        self.unknown += d.unknown.len() as u64;
    }

    /// Reports a failed background flush of the journal.
    fn check_journal(&mut self) -> Result<(), JobError> {
        match &mut self.writer {
            Some(w) => w.flush_failure(),
            None => Ok(()),
        }
    }

    /// Journals and counts a request that finished now.
    fn record(&mut self, d: Done, fatal: Option<String>) -> Result<(), JobError> {
        if let Some(why) = fatal {
            self.stop.store(true, Ordering::SeqCst);
            self.stopped_by.get_or_insert(why);
        }
        self.sent += 1;
        self.count_journaled(&d);
        if let Some(w) = &mut self.writer {
            w.append(&Line::Done(d))?;
        }
        if self.total_grows {
            self.total = self.total.max(self.applied + self.refused + self.unknown);
        }
        let p = self.progress_now();
        (self.progress)(&p);
        Ok(())
    }

    fn progress_now(&self) -> JobProgress {
        JobProgress {
            total: self.total,
            done: self.applied + self.refused + self.unknown,
            applied: self.applied,
            refused: self.refused,
            unknown: self.unknown,
            requests: self.sent,
            elapsed: self.started.elapsed(),
        }
    }

    /// Syncs the journal; reports a failure met on the way.
    fn finish(&mut self) -> Result<(), JobError> {
        if let Some(w) = &mut self.writer {
            w.sync()?;
        }
        match self.failure.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn summary(&self) -> JobSummary {
        let p = self.progress_now();
        let interrupted = self.stop.load(Ordering::SeqCst) && self.stopped_by.is_none();
        JobSummary {
            total: p.total,
            applied: p.applied,
            refused: p.refused,
            unknown: p.unknown,
            pending: p.total.saturating_sub(p.done),
            requests_sent: p.requests,
            complete: p.done >= p.total
                && !interrupted
                && self.stopped_by.is_none()
                && self.verified != Some(false),
            stopped_by: self.stopped_by.clone(),
            elapsed: p.elapsed,
        }
    }
}

/// How far a job has come, passed to the progress callback after each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobProgress {
    /// Accounts in the job (for a purge: found so far).
    pub total: u64,
    /// Accounts with an outcome, journaled before this run included.
    pub done: u64,
    /// Of those, applied.
    pub applied: u64,
    /// Of those, refused.
    pub refused: u64,
    /// Of those, unknown.
    pub unknown: u64,
    /// Requests sent by this run.
    pub requests: u64,
    /// Time since this run started.
    pub elapsed: Duration,
}

/// What a job did, journaled runs before this one included: every account
/// counted once.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobSummary {
    /// Accounts in the job (input lines; for a purge, relations found).
    pub total: u64,
    /// Applied.
    pub applied: u64,
    /// Refused by the service.
    pub refused: u64,
    /// Not known (their request failed): send them again.
    pub unknown: u64,
    /// Not done yet (the job was stopped).
    pub pending: u64,
    /// Requests this run sent.
    pub requests_sent: u64,
    /// Whether every account has an outcome.
    pub complete: bool,
    /// The error that stopped the job, if one did (credentials, permission,
    /// app configuration).
    pub stopped_by: Option<String>,
    /// How long this run took.
    pub elapsed: Duration,
}

/// The summary of the job a journal holds, from the journal alone.
pub fn status(journal: impl AsRef<Path>) -> Result<JobSummary, JobError> {
    let path = journal.as_ref();
    let (header, mut reader) = Reader::open(path)?;
    let mut done = plan::DoneSet::default();
    let (mut applied, mut refused, mut unknown, mut listed) = (0, 0, 0, 0u64);
    let mut rounds_done = std::collections::HashSet::new();
    while let Some(line) = reader.next_line()? {
        match line {
            Line::Done(d) if done.insert_in(d.round, d.r) => {
                applied += d.applied.len() as u64;
                refused += d.refused.len() as u64;
                unknown += d.unknown.len() as u64;
            }
            Line::Snapshot {
                round,
                following,
                fans,
            } => {
                listed += following + fans;
                rounds_done.insert(round);
            }
            _ => {}
        }
    }
    let total = if header.operation == "purge" {
        listed
    } else {
        header.total
    };
    let finished = applied + refused + unknown;
    Ok(JobSummary {
        total,
        applied,
        refused,
        unknown,
        pending: total.saturating_sub(finished),
        requests_sent: 0,
        complete: if header.operation == "purge" {
            purge::complete_in(path)?
        } else {
            finished >= total
        },
        stopped_by: None,
        elapsed: Duration::ZERO,
    })
}

/// The accounts of a journal that were not applied: refused (with the code)
/// or unknown (with the error), in journal order, streamed.
pub fn failures(
    journal: impl AsRef<Path>,
) -> Result<impl Iterator<Item = Result<JobFailure, JobError>>, JobError> {
    let (_, mut reader) = Reader::open(journal.as_ref())?;
    let mut queue = std::collections::VecDeque::new();
    Ok(std::iter::from_fn(move || loop {
        if let Some(f) = queue.pop_front() {
            return Some(Ok(f));
        }
        match reader.next_line() {
            Ok(Some(Line::Done(d))) => {
                let from = d.from.clone();
                queue.extend(
                    d.refused
                        .into_iter()
                        .map(|(account, code, info)| JobFailure {
                            from: from.clone(),
                            account,
                            refused: Some(code),
                            reason: info,
                        }),
                );
                queue.extend(d.unknown.into_iter().map(|(account, reason)| JobFailure {
                    from: from.clone(),
                    account,
                    refused: None,
                    reason,
                }));
            }
            Ok(Some(_)) => {}
            Ok(None) => return None,
            Err(e) => return Some(Err(e)),
        }
    }))
}

/// An account a job did not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobFailure {
    /// The `From_Account` of its request, for pairs and purges.
    pub from: Option<String>,
    /// The account.
    pub account: String,
    /// The `ResultCode` when the service refused it; `None` when unknown.
    pub refused: Option<i64>,
    /// `ResultInfo`, or the error.
    pub reason: String,
}

/// Why a job could not run or go on.
#[derive(Debug)]
#[non_exhaustive]
pub enum JobError {
    /// A line of the input is not a valid account id (or `FROM TO` pair).
    /// Found before any request is sent.
    InvalidInput {
        /// The 1-based line number.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The journal holds another job, or the input changed.
    Mismatch(String),
    /// The journal is damaged or not a journal.
    Journal(String),
    /// Reading the input or writing the journal failed.
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// A call the job needed failed (for a purge: listing an account).
    Client(Error),
}

impl JobError {
    fn io(path: &Path, what: &'static str, source: std::io::Error) -> JobError {
        JobError::Io {
            path: path.to_path_buf(),
            what,
            source,
        }
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobError::InvalidInput { line, reason } => write!(f, "line {line}: {reason}"),
            JobError::Mismatch(why) | JobError::Journal(why) => f.write_str(why),
            JobError::Io { path, what, source } => {
                write!(f, "{what} {}: {source}", path.display())
            }
            JobError::Client(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for JobError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JobError::Io { source, .. } => Some(source),
            JobError::Client(e) => Some(e),
            _ => None,
        }
    }
}

impl From<Error> for JobError {
    fn from(e: Error) -> Self {
        JobError::Client(e)
    }
}

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
//! JSON Lines (format 2): a header with the job's definition (operation,
//! source, SDKAppID, the input's absolute path, size and SHA-256, its
//! accounts and requests), then one line per finished request with its
//! accounts by outcome. Each line is written whole in one call and the file
//! is synced at least once a second and when the job stops; a crash can
//! only tear the last line, which resuming ignores and cuts off. It never
//! holds the UserSig or the SecretKey.
//!
//! Every line ends with `"c"`, the first 8 bytes (hex) of the SHA-256 of the
//! line without that field. It finds a line edited by hand or damaged on
//! disk; it is not a signature (anyone can recompute it). Reading checks
//! every line before it counts: at most [`MAX_JOURNAL_LINE`] bytes, its
//! checksum, request numbers and purge rounds within what the header and
//! the listings say, at most 20 valid account ids a request, no request
//! journaled twice. A line that fails is [`JobError::Journal`], "damaged
//! journal PATH at byte N"; so is a path that is a directory or a device.
//! Memory stays bounded whatever the file holds. Format 1 journals (0.2,
//! without checksums) are still read and continued.
//!
//! # One writer
//!
//! A job holds an advisory lock (`flock`) on its journal from before it
//! reads it until it ends, and the kernel releases it when the process
//! ends, however it ends (SIGKILL included). A second job, or resume, on a
//! journal in use fails at once with [`JobError::InUse`] (naming the
//! process on Linux) and changes nothing. [`status`] and [`failures`] take
//! no lock: they read a journal being written up to its last whole line.
//! The lock is advisory: it keeps out other jobs, not an editor.
//!
//! # Resuming
//!
//! Running a job whose journal exists continues it; [`Job::resume`] rebuilds
//! the job from the journal alone ([`Job::resume_with_input`] when the input
//! file has moved). Resuming against a changed input file, another SDKAppID
//! or another operation is refused ([`JobError::Mismatch`]). Every account
//! is counted once in the summary; a completed job resumes as a no-op that
//! returns its summary.
//!
//! **Unknown is not final.** A resume works on two kinds of accounts:
//!
//! - *pending*: in requests that have no line yet (in flight when the job
//!   stopped, or never taken). They are sent.
//! - *unknown*: in requests whose line left them [`Unknown`](crate::Outcome::Unknown)
//!   (a transport failure, an HTTP error, a reply that could not be read,
//!   a job stopped by an outage). They may or may not have been carried
//!   out, so they are **read back first**, one `follow_check` per 100
//!   accounts of one `From_Account`: an account already in the wanted state
//!   is applied (the read-back proves it) and is not sent again; the others
//!   are sent. The result is journaled as a line for the same request
//!   (`"retry": n`) that speaks for exactly those accounts, so nothing is
//!   counted twice.
//!
//! Refused accounts are final: the service said no. A job is
//! [`complete`](JobSummary::complete) only when no account is pending or
//! unknown; [`JobSummary::to_resume`] says how many a resume would work on.
//!
//! # What stops a job
//!
//! The [`stop_when`](Job::stop_when) flag (the command-line tool sets it on
//! Ctrl-C): no new request is taken, those in flight finish and are
//! journaled. An error that would hit every request (credentials,
//! permission, app configuration: [`ErrorKind::is_fatal`](crate::ErrorKind::is_fatal))
//! stops it the same way, and so do three requests in a row that got no
//! answer at all (the service is down or unreachable): the rest stays
//! pending for a resume instead of each request spending its retries.
//! [`JobSummary::stopped_by`] says why.
//!
//! # Preview, undo, export and restore
//!
//! - [`Job::preview`] reads what a job would change and sends no follow or
//!   unfollow: [`Preview`] counts, [`PreviewItem`] per relation.
//! - [`Job::undo`] reverses what a journal's job applied (and only that),
//!   as a journaled job of its own: add → delete, delete → add, purge →
//!   follow again both ways.
//! - [`export`] writes a snapshot of accounts' following lists and fans
//!   (its format is in [`export`]'s docs), [`Job::restore`] makes its
//!   relations again.
//! - [`Job::check_first`] reads each request's accounts back before sending
//!   it, so that the journal tells what was already in place from what the
//!   job changed; undo and restore always do.
//!
//! The follow times of relations made again are the service's new ones:
//! the original times cannot come back.
//!
//! # Purge
//!
//! [`Job::purge`] removes every follow relation of one account, both ways:
//! its following list is unfollowed (20 per request) and every fan is made
//! to unfollow it (one request per fan). Both lists are listed into the
//! journal before the first delete (deleting while paging would skip
//! entries); then a fresh listing checks that nothing is left and removes
//! what appeared meanwhile, for at most [`PURGE_ROUNDS`] rounds in one run.
//! What the last listing of a run still finds is the first round of a
//! resume, so a resume always goes on (up to 64 rounds in all).

mod format;
mod journal;
mod plan;
mod preview;
mod purge;
mod replay;
mod snapshot;
mod undo;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::client::Client;
use crate::error::Error;
use crate::outcome::Outcome;
use crate::sync::lock;
use format::{Done, Header, Line, Reads};
use journal::{Reader, Writer};
use plan::Request;

pub use format::{MAX_LINE as MAX_JOURNAL_LINE, PURGE_ROUNDS};
pub use plan::MAX_INPUT_LINE;
pub use preview::{Expected, Preview, PreviewItem};
pub use snapshot::{ExportSummary, SNAPSHOT_FORMAT};

/// The account ids of a file (or stdin) as a job reads its targets: one
/// per line, blank lines and lines starting with `#` skipped, a UTF-8 BOM
/// dropped, each id validated. A line over [`MAX_INPUT_LINE`] bytes is an
/// error naming its number and showing its first 40 bytes, read no further,
/// so memory stays flat whatever the file holds. The first error ends the
/// iterator.
///
/// ```
/// use tim_follow::job::read_accounts;
///
/// let text = "# ids\nalice\n\nbob\n";
/// let ids: Result<Vec<String>, _> = read_accounts(text.as_bytes(), "ids.txt").collect();
/// assert_eq!(ids.unwrap(), ["alice", "bob"]);
/// let long = "x".repeat(5000);
/// let err = read_accounts(long.as_bytes(), "ids.txt").next().unwrap().unwrap_err();
/// assert!(err.to_string().starts_with("line 1: longer than 4096 bytes"));
/// ```
pub fn read_accounts<R: std::io::BufRead>(
    reader: R,
    name: impl AsRef<Path>,
) -> impl Iterator<Item = Result<String, JobError>> {
    plan::accounts(reader, name.as_ref())
}

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
    /// A journal whose applied relations are reversed.
    Journal(PathBuf),
    /// A snapshot whose relations are re-created.
    Snapshot(PathBuf),
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
            InputSource::Journal(p) => f.debug_tuple("undo of").field(p).finish(),
            InputSource::Snapshot(p) => f.debug_tuple("restore of").field(p).finish(),
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
    /// The input was given anew on resume: another path is accepted when
    /// its size and SHA-256 are the journal's.
    input_moved: bool,
    /// Read each request's accounts back before sending it.
    check_first: bool,
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

    /// Reverses what the job of the journal at `journal` applied: the
    /// accounts a follow job followed are unfollowed; those an unfollow job
    /// unfollowed are followed again; a purge's following are followed again
    /// and its fans made to follow it again. Only what the service applied
    /// (or a read-back proved) is reversed, never what was refused, unknown
    /// or not sent, so it works on a finished, a stopped or a crashed
    /// journal. Each request reads its accounts back first and sends only
    /// what is not already as it was (those are `in_place`).
    ///
    /// The undo is a job of pairs like any other: give it a journal of its
    /// own (it can be resumed, and undone); the journal it reverses is
    /// locked while it runs, and a resume refuses it if it has changed
    /// since. The service sets the follow time of a re-made relation anew:
    /// the original times cannot come back.
    ///
    /// An account the service reported applied although it was already in
    /// the wanted state (the service does not say which) is reversed too,
    /// unless the job ran with [`check_first`](Job::check_first), which
    /// journals such accounts as in place.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let client = tim_follow::Client::from_env()?;
    /// use tim_follow::job::Job;
    /// let summary = Job::undo("delete.journal")?
    ///     .journal("undo-delete.journal")
    ///     .run(&client, |_| {})?;
    /// println!("{} relations re-made", summary.applied);
    /// # Ok(()) }
    /// ```
    pub fn undo(journal: impl Into<PathBuf>) -> Result<Job, JobError> {
        let path = journal.into();
        let op = undo::operation_of(&path)?;
        Ok(Job::new(Kind::Pairs {
            op,
            input: JobInput(InputSource::Journal(path)),
        }))
    }

    /// Re-creates every relation of a snapshot written by [`export`]
    /// (`following`: the account follows again; `fans`: the fan follows the
    /// account again). Each request reads its accounts back first: a
    /// relation already there is `in_place`, not sent. A job of pairs like
    /// any other: journal it to resume it. The snapshot must be whole (its
    /// end line there); the original follow times cannot come back.
    pub fn restore(snapshot: impl Into<PathBuf>) -> Job {
        Job::new(Kind::Pairs {
            op: Operation::Follow,
            input: JobInput(InputSource::Snapshot(snapshot.into())),
        })
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
            input_moved: false,
            check_first: false,
        }
    }

    /// Journals the job at `path`: created if missing, continued if it holds
    /// this same job, refused if it holds another.
    pub fn journal(mut self, path: impl Into<PathBuf>) -> Job {
        self.journal = Some(path.into());
        self
    }

    /// Reads each request's accounts back (`follow_check`) before sending
    /// it, and sends only those not already as wanted; those are journaled
    /// `in_place` (counted applied, in [`JobSummary::in_place`] too). One
    /// more read per request (on the `follow_check` budget, not the
    /// write's), for an exact journal: the service answers a follow of an
    /// account already followed (or an unfollow of one not followed) as
    /// applied or as refused (which is not documented), so without it an
    /// [`undo`](Job::undo) of the job may reverse relations that were there
    /// before it. Undo and restore always check first. Recorded in the
    /// journal: a resume keeps it.
    pub fn check_first(mut self, on: bool) -> Job {
        self.check_first = on;
        self
    }

    /// Stops taking new requests once `flag` is set (requests in flight
    /// finish and are journaled).
    pub fn stop_when(mut self, flag: Arc<AtomicBool>) -> Job {
        self.stop = flag;
        self
    }

    /// The job a journal holds, to continue with [`run`](Job::run).
    /// Nothing is locked until it runs: a journal another process is
    /// writing is refused then ([`JobError::InUse`]).
    pub fn resume(journal: impl Into<PathBuf>) -> Result<Job, JobError> {
        Job::resume_from(journal.into(), None)
    }

    /// [`resume`](Job::resume) with the input file at a new path (it was
    /// moved or copied): accepted when its size and SHA-256 are those the
    /// journal recorded, refused ([`JobError::Mismatch`]) otherwise.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let client = tim_follow::Client::from_env()?;
    /// let job = tim_follow::job::Job::resume_with_input("unfollow.journal", "/data/ids.txt")?;
    /// job.run(&client, |_| {})?;
    /// # Ok(()) }
    /// ```
    pub fn resume_with_input(
        journal: impl Into<PathBuf>,
        input: impl Into<PathBuf>,
    ) -> Result<Job, JobError> {
        Job::resume_from(journal.into(), Some(input.into()))
    }

    fn resume_from(path: PathBuf, moved: Option<PathBuf>) -> Result<Job, JobError> {
        let (header, _) = Reader::open(&path)?;
        let input_moved = moved.is_some();
        if input_moved && header.input.is_none() {
            return Err(JobError::Mismatch(format!(
                "the job of {} has no input file to move",
                path.display()
            )));
        }
        let input = || {
            let path = match (&moved, &header.input) {
                (Some(to), _) => to.clone(),
                (None, Some(i)) => i.path.clone(),
                (None, None) => {
                    return Err(JobError::Journal("the journal names no input file".into()))
                }
            };
            Ok(JobInput(match header.reads {
                Reads::Lines => InputSource::File(path),
                Reads::Journal => InputSource::Journal(path),
                Reads::Snapshot => InputSource::Snapshot(path),
            }))
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
        let mut job = Job::new(kind).journal(path);
        job.input_moved = input_moved;
        job.check_first = header.check_first;
        Ok(job)
    }

    /// What the job would change, read from the service now, with no
    /// follow or unfollow sent: each relation is read (`follow_check`, 100
    /// accounts a request; `follow_get` for a purge) and reported to `each`
    /// as it would go: [`Expected::Change`], already as wanted
    /// ([`Expected::InPlace`]), refused ([`Expected::Refused`], such as an
    /// account that does not exist) or unreadable ([`Expected::Unknown`]).
    /// For a job whose journal exists, only what a run would still do is
    /// read (the journal is read, not locked, and not changed). Build the
    /// job again to run it.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let client = tim_follow::Client::from_env()?;
    /// use tim_follow::job::{Expected, Job, JobInput};
    /// let job = || Job::unfollow("UserID_001", JobInput::file("ids.txt"));
    /// let preview = job().preview(&client, |item| {
    ///     if let Expected::Refused { code, .. } = item.expected {
    ///         eprintln!("{}: would be refused ({code})", item.account);
    ///     }
    /// })?;
    /// println!("{preview}"); // 1,000 of 2,000 relations would be removed; 1,000 are not there
    /// if preview.change > 0 {
    ///     job().journal("unfollow.journal").run(&client, |_| {})?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn preview(
        self,
        client: &Client,
        mut each: impl FnMut(&PreviewItem),
    ) -> Result<Preview, JobError> {
        let (op, from, input) = match self.kind {
            Kind::Purge { account } => {
                crate::request::validate_account("account", &account)?;
                let mut p = Preview::new(Operation::Unfollow);
                preview::purge(client, &account, &mut each, &mut p)?;
                return Ok(p);
            }
            Kind::Targets { op, from, input } => (op, Some(from), input),
            Kind::Pairs { op, input } => (op, None, input),
        };
        let mut p = Preview::new(op);
        if let InputSource::Lines(lines) = input.0 {
            let stop = Arc::new(AtomicBool::new(false));
            let requests = plan::from_lines(lines, from.as_deref(), stop);
            preview::read(client, op, requests, &mut each, &mut p)?;
            return Ok(p);
        }
        let (path, reads) = source_path(&input.0);
        let header = prepare(client, op, from.as_deref(), &path, reads)?;
        let pending = match &self.journal {
            Some(j) if j.exists() => {
                let (found, mut reader) = Reader::open(j)?;
                check_same_job(&found, &header, j, self.input_moved)?;
                reader.read_all()?;
                Pending::from_replay(reader.replay, &found)
            }
            _ => Pending::default(),
        };
        let done = &pending.done;
        let fresh = requests_of(&header, &path, from.as_deref())?
            .filter(|r| !r.as_ref().is_ok_and(|r| done.contains_in(r.round, r.r)));
        let requests = pending.unknown.iter().cloned().map(Ok).chain(fresh);
        preview::read(client, op, requests, &mut each, &mut p)?;
        Ok(p)
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
            Kind::Targets { op, from, input } => run_listed(
                client,
                (op, self.check_first),
                Some(from),
                input,
                self.journal.map(|p| (p, self.input_moved)),
                &mut sink,
            )?,
            Kind::Pairs { op, input } => run_listed(
                client,
                (op, self.check_first),
                None,
                input,
                self.journal.map(|p| (p, self.input_moved)),
                &mut sink,
            )?,
        }
        sink.settle_unreachable();
        Ok(sink.summary())
    }
}

/// A follow/unfollow job over an input: check or create the journal, then
/// send every request not yet journaled.
fn run_listed(
    client: &Client,
    (op, check_first): (Operation, bool),
    from: Option<String>,
    input: JobInput,
    journal: Option<(PathBuf, bool)>,
    sink: &mut Sink<'_>,
) -> Result<(), JobError> {
    let none = plan::DoneSet::default();
    let source = match (input.0, &journal) {
        (InputSource::Lines(lines), None) => {
            sink.total_grows = true;
            let requests = plan::from_lines(lines, from.as_deref(), sink.stop.clone());
            return execute(client, op, requests, &none, Vec::new(), check_first, sink);
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
        Reads::Journal => Some(lock_reversed(&path, journal.as_ref().map(|j| &j.0))?),
        _ => None,
    };
    let mut header = prepare(client, op, from.as_deref(), &path, reads)?;
    header.check_first = check_first || reads != Reads::Lines;
    sink.total = header.total;
    let pending = match &journal {
        Some((j, moved)) => open_or_create(j, &header, *moved, sink)?,
        None => Pending::default(),
    };
    let requests = requests_of(&header, &path, from.as_deref())?;
    let (done, unknown) = (&pending.done, pending.unknown);
    execute(
        client,
        op,
        requests,
        done,
        unknown,
        header.check_first,
        sink,
    )
}

/// The requests of a prepared job's input, read lazily.
fn requests_of(
    header: &Header,
    path: &Path,
    from: Option<&str>,
) -> Result<Box<dyn Iterator<Item = Result<Request, JobError>> + Send>, JobError> {
    match header.reads {
        Reads::Lines => {
            let path = header.input.as_ref().map_or(path, |i| i.path.as_path());
            Ok(Box::new(plan::from_file(path, from)?))
        }
        reads => derived(path, reads),
    }
}

/// The input file of a source, and what it holds.
fn source_path(source: &InputSource) -> (PathBuf, Reads) {
    match source {
        InputSource::File(p) => (p.clone(), Reads::Lines),
        InputSource::Journal(p) => (p.clone(), Reads::Journal),
        InputSource::Snapshot(p) => (p.clone(), Reads::Snapshot),
        InputSource::Lines(_) => (PathBuf::new(), Reads::Lines),
    }
}

/// Reads an input file whole before anything is sent (every line valid,
/// its size and SHA-256, its accounts and requests): the journal header of
/// its job.
fn prepare(
    client: &Client,
    op: Operation,
    from: Option<&str>,
    path: &Path,
    reads: Reads,
) -> Result<Header, JobError> {
    let (input, total, requests) = match reads {
        Reads::Lines => {
            let scan = plan::scan_file(path, from)?;
            (scan.input, scan.total, scan.requests)
        }
        _ => {
            let input = plan::input_file(path)?;
            let (total, requests) = plan::count(derived(path, reads)?)?;
            (input, total, requests)
        }
    };
    Ok(Header {
        tim_follow_job: format::FORMAT,
        operation: op.name().into(),
        from: from.map(str::to_string),
        pairs: from.is_none(),
        sdkappid: client.sdkappid(),
        input: Some(input),
        total,
        requests,
        reads,
        check_first: false,
    })
}

/// The requests of an undo (the pairs a journal applied) or a restore (the
/// pairs of a snapshot).
fn derived(
    path: &Path,
    reads: Reads,
) -> Result<Box<dyn Iterator<Item = Result<Request, JobError>> + Send>, JobError> {
    Ok(match reads {
        Reads::Journal => Box::new(plan::pair_requests(undo::applied_pairs(path)?)),
        _ => Box::new(plan::pair_requests(snapshot::pairs(path)?)),
    })
}

/// Locks the journal an undo reverses, so that its job cannot add to it
/// meanwhile; refuses a journal that would undo itself.
fn lock_reversed(path: &Path, undo: Option<&PathBuf>) -> Result<std::fs::File, JobError> {
    if let Some(u) = undo {
        let same = match (std::fs::canonicalize(path), std::fs::canonicalize(u)) {
            (Ok(a), Ok(b)) => a == b,
            _ => path == u.as_path(),
        };
        if same {
            return Err(JobError::Mismatch(format!(
                "{} cannot undo itself: give the undo a journal of its own",
                path.display()
            )));
        }
    }
    journal::lock_existing(path)
}

/// What a resumed job still has to do besides the requests it never sent.
#[derive(Default)]
struct Pending {
    /// Requests with a line in the journal: not sent again.
    done: plan::DoneSet,
    /// The accounts journaled unknown, as requests to settle first.
    unknown: Vec<Request>,
}

impl Pending {
    /// What a journal read to its end says is left.
    fn from_replay(replay: replay::Replay, header: &Header) -> Pending {
        let unknown = replay
            .unsettled
            .into_iter()
            .map(|((round, r), u)| Request {
                round,
                r,
                from: u
                    .from
                    .clone()
                    .or_else(|| header.from.clone())
                    .unwrap_or_default(),
                to: u.accounts,
                from_in_journal: u.from.is_some(),
                retry: u.retries + 1,
            })
            .collect();
        Pending {
            done: replay.done,
            unknown,
        }
    }

    /// The accounts of `round` to settle, taken out.
    fn unknown_in(&mut self, round: u32) -> Vec<Request> {
        let (now, later) = std::mem::take(&mut self.unknown)
            .into_iter()
            .partition(|r| r.round == round);
        self.unknown = later;
        now
    }
}

/// Continues the journal at `path` if it holds `header`'s job, or creates
/// it; either way this process holds its lock from now on.
fn open_or_create(
    path: &Path,
    header: &Header,
    moved: bool,
    sink: &mut Sink<'_>,
) -> Result<Pending, JobError> {
    if !path.exists() {
        if let Some(w) = Writer::create(path, header)? {
            sink.writer = Some(w);
            return Ok(Pending::default());
        }
    }
    let locked = journal::lock_existing(path)?;
    let (found, mut reader) = Reader::open(path)?;
    check_same_job(&found, header, path, moved)?;
    reader.read_all()?;
    sink.count_replay(&reader.replay);
    sink.writer = Some(Writer::continue_after(locked, path, reader.whole_len)?);
    Ok(Pending::from_replay(reader.replay, &found))
}

/// Refuses to continue a journal that holds another job. With `moved`, the
/// input may be at another path if its size and SHA-256 are the same.
fn check_same_job(found: &Header, want: &Header, path: &Path, moved: bool) -> Result<(), JobError> {
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
        (Some(a), Some(b)) if a.path != b.path && !moved => differs(
            "input",
            a.path.display().to_string(),
            b.path.display().to_string(),
        ),
        (Some(a), Some(b)) if a.sha256 != b.sha256 || a.size != b.size => {
            Err(JobError::Mismatch(format!(
                "the input {} {}: {} bytes then, {} now: \
                 resuming would skip or repeat the wrong accounts; start a new journal",
                b.path.display(),
                if a.path == b.path {
                    "changed since the job started"
                } else {
                    "is not the job's input"
                },
                a.size,
                b.size,
            )))
        }
        _ => Ok(()),
    }
}

/// One piece of work for a worker.
enum Work {
    /// A request sent for the first time.
    Send(Request),
    /// Requests of one `From_Account` whose accounts were left unknown:
    /// read back first (one `follow_check`), then sent where still needed.
    Settle(Vec<Request>),
}

/// The most accounts one `follow_check` reads back.
const CHECK_ACCOUNTS: usize = 100;

/// Groups requests to settle by `From_Account`, at most
/// [`CHECK_ACCOUNTS`] accounts a group, in journal order.
fn settle_groups(unknown: Vec<Request>) -> Vec<Work> {
    let mut groups: Vec<Vec<Request>> = Vec::new();
    for request in unknown {
        let fits = groups.last().is_some_and(|g| {
            g[0].from == request.from
                && g.iter().map(|r| r.to.len()).sum::<usize>() + request.to.len() <= CHECK_ACCOUNTS
        });
        match groups.last_mut() {
            Some(g) if fits => g.push(request),
            _ => groups.push(vec![request]),
        }
    }
    groups.into_iter().map(Work::Settle).collect()
}

/// What a worker reports for one piece of work.
struct Sent {
    /// One line per request.
    lines: Vec<Done>,
    /// An error that would hit every request (credentials, permission, app
    /// configuration): the job stops.
    fatal: Option<String>,
    /// The work got no answer at all (transport, an HTTP error, a reply
    /// that could not be read): the error.
    unanswered: Option<String>,
    /// follow_add or follow_delete requests it sent.
    requests: u64,
}

/// Settles the accounts journaled `unknown`, then sends every request not
/// in `done` (with `check_first`, reading each back before sending it), on
/// the client's workers; journals and counts each result as it comes.
fn execute(
    client: &Client,
    op: Operation,
    requests: impl Iterator<Item = Result<Request, JobError>> + Send,
    done: &plan::DoneSet,
    unknown: Vec<Request>,
    check_first: bool,
    sink: &mut Sink<'_>,
) -> Result<(), JobError> {
    let fresh = requests
        .filter(|r| !r.as_ref().is_ok_and(|r| done.contains_in(r.round, r.r)))
        .map(|r| r.map(Work::Send));
    let source = Mutex::new(settle_groups(unknown).into_iter().map(Ok).chain(fresh));
    let stop = sink.stop.clone();
    // A rendezvous: a worker takes its next request only once the journal
    // has its last result, so at most one per worker is ever in flight.
    let (tx, rx) = mpsc::sync_channel::<Result<Sent, JobError>>(0);
    let workers = client.concurrency().max(1);
    std::thread::scope(|scope| {
        let mut spawned = 0;
        for _ in 0..workers {
            let (tx, source, stop) = (tx.clone(), &source, &stop);
            let worker = std::thread::Builder::new().name("tim-follow-job".into());
            // Out of threads or memory: go on with the workers there are.
            let started = worker.spawn_scoped(scope, move || {
                while !stop.load(Ordering::SeqCst) {
                    let Some(next) = lock(source).next() else {
                        break;
                    };
                    let result = next.map(|work| match work {
                        Work::Send(request) if check_first => {
                            settle(client, op, std::slice::from_ref(&request), Proved::InPlace)
                        }
                        Work::Send(request) => send(client, op, &request),
                        Work::Settle(group) => settle(client, op, &group, Proved::Applied),
                    });
                    if result.as_ref().is_ok_and(|s| s.fatal.is_some()) {
                        // Every other request would fail the same way.
                        stop.store(true, Ordering::SeqCst);
                    }
                    if tx.send(result).is_err() {
                        break;
                    }
                }
            });
            match started {
                Ok(_) => spawned += 1,
                Err(e) if spawned == 0 => {
                    sink.failure = Some(JobError::Io {
                        path: PathBuf::from("(worker thread)"),
                        what: "cannot start a worker",
                        source: e,
                    });
                }
                Err(_) => break,
            }
        }
        drop(tx);
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
    });
    sink.finish()
}

/// Sends one request and sorts its accounts by outcome.
fn send(client: &Client, op: Operation, request: &Request) -> Sent {
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
    }
}

/// A call's error: whether it stops the job, and whether the call got no
/// answer at all.
fn judge<T>(result: &Result<T, Error>) -> (Option<String>, Option<String>) {
    match result {
        Err(Error::Api(api)) if api.kind().is_fatal() => {
            (Some(Error::Api(api.clone()).to_string()), None)
        }
        Err(Error::Api(_)) | Err(Error::InvalidInput(_)) | Ok(_) => (None, None),
        Err(e) => (None, Some(e.to_string())),
    }
}

/// What an account a read-back finds in the wanted state is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Proved {
    /// Applied: it was sent before, its answer lost (settling unknowns).
    Applied,
    /// In place: it was so before this job touched it (undo, restore).
    InPlace,
}

/// Reads requests' accounts back with one `follow_check`, then sends the
/// accounts not yet in the wanted state; those that are count as `proved`.
/// Settles the accounts a job left unknown, and checks undo and restore
/// requests before they are sent.
fn settle(client: &Client, op: Operation, group: &[Request], proved_as: Proved) -> Sent {
    let from = group.first().map(|r| r.from.as_str()).unwrap_or_default();
    let accounts: Vec<&str> = group
        .iter()
        .flat_map(|r| r.to.iter().map(String::as_str))
        .collect();
    let check = client.follow_check(from, &accounts);
    let wanted = |account: &str| {
        let Ok(out) = &check else { return false };
        match out.get(account) {
            Some(Outcome::Applied(t)) => t.as_wanted(op == Operation::Follow) == Some(true),
            _ => false,
        }
    };
    let (mut fatal, check_unanswered) = judge(&check);
    let mut lines = Vec::with_capacity(group.len());
    let mut all_unanswered = check_unanswered.is_some();
    let mut last_error = check_unanswered;
    let mut requests = 0;
    for request in group {
        let (proved, still): (Vec<String>, Vec<String>) =
            request.to.iter().cloned().partition(|a| wanted(a));
        let mut line = if still.is_empty() {
            Done {
                round: request.round,
                r: request.r,
                retry: request.retry,
                from: request.from_in_journal.then(|| request.from.clone()),
                ..Done::default()
            }
        } else {
            let again = Request {
                to: still,
                ..request.clone()
            };
            let sent = send(client, op, &again);
            requests += 1;
            fatal = fatal.or(sent.fatal);
            all_unanswered &= sent.unanswered.is_some();
            last_error = sent.unanswered.or(last_error);
            sent.lines.into_iter().next().unwrap_or_default()
        };
        if !proved.is_empty() {
            log::info!(
                target: "tim_follow",
                "read back {} account(s) of {from} already in the wanted state",
                proved.len()
            );
        }
        match proved_as {
            Proved::Applied => drop(line.applied.splice(0..0, proved)),
            Proved::InPlace => line.in_place = proved,
        }
        lines.push(line);
    }
    Sent {
        lines,
        fatal,
        unanswered: if all_unanswered { last_error } else { None },
        requests,
    }
}

/// After this many pieces of work in a row got no answer at all, a job
/// stops: the rest stays pending for a resume, rather than every request
/// spending its retries against a service that is down.
const UNANSWERED_STREAK: u32 = 3;

/// Where results go: the journal, the counters and the progress callback.
struct Sink<'a> {
    writer: Option<Writer>,
    stop: Arc<AtomicBool>,
    progress: Box<dyn FnMut(&JobProgress) + 'a>,
    started: Instant,
    total: u64,
    applied: u64,
    in_place: u64,
    refused: u64,
    unknown: u64,
    sent: u64,
    stopped_by: Option<String>,
    failure: Option<JobError>,
    /// For input from an iterator: the total is what was read so far.
    total_grows: bool,
    /// For a purge: whether a listing found nothing left.
    verified: Option<bool>,
    /// Pieces of work in a row that got no answer, and the last error.
    unanswered: u32,
    last_unanswered: Option<String>,
    /// Whether any piece of work of this run got an answer.
    answered: bool,
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
            in_place: 0,
            refused: 0,
            unknown: 0,
            sent: 0,
            stopped_by: None,
            failure: None,
            total_grows: false,
            verified: None,
            unanswered: 0,
            last_unanswered: None,
            answered: false,
        }
    }

    /// Counts what a journal read to its end holds.
    fn count_replay(&mut self, replay: &replay::Replay) {
        self.applied = replay.applied;
        self.in_place = replay.in_place;
        self.refused = replay.refused;
        self.unknown = replay.unknown;
    }

    /// Reports a failed background flush of the journal.
    fn check_journal(&mut self) -> Result<(), JobError> {
        match &mut self.writer {
            Some(w) => w.flush_failure(),
            None => Ok(()),
        }
    }

    /// Journals and counts a piece of work that finished now.
    fn record(&mut self, sent: Sent) -> Result<(), JobError> {
        if let Some(why) = sent.fatal {
            self.stop.store(true, Ordering::SeqCst);
            self.stopped_by.get_or_insert(why);
        }
        match sent.unanswered {
            Some(why) => {
                self.unanswered += 1;
                self.last_unanswered = Some(why);
                if self.unanswered >= UNANSWERED_STREAK && !self.stop.swap(true, Ordering::SeqCst) {
                    self.stopped_by
                        .get_or_insert_with(|| unreachable(&self.last_unanswered));
                }
            }
            None => {
                self.unanswered = 0;
                self.answered = true;
            }
        }
        self.sent += sent.requests;
        for d in sent.lines {
            if d.retry > 0 {
                // The line speaks again for accounts counted unknown.
                self.unknown = self.unknown.saturating_sub(d.len() as u64);
            }
            self.applied += (d.applied.len() + d.in_place.len()) as u64;
            self.in_place += d.in_place.len() as u64;
            self.refused += d.refused.len() as u64;
            self.unknown += d.unknown.len() as u64;
            if let Some(w) = &mut self.writer {
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
    fn settle_unreachable(&mut self) {
        if !self.answered && self.unanswered > 0 && self.stopped_by.is_none() {
            self.stopped_by = Some(unreachable(&self.last_unanswered));
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
        let data = Standing::of(p.total, p.done, p.unknown, self.verified);
        let complete = data.complete && !interrupted && self.stopped_by.is_none();
        JobSummary {
            total: p.total,
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
        }
    }
}

/// Where a job stands by its accounts, the one rule for a run's summary and
/// for a journal's.
struct Standing {
    /// Accounts with no outcome yet.
    pending: u64,
    /// No account pending or unknown; for a purge, a listing found nothing.
    complete: bool,
}

impl Standing {
    /// `emptied` is `Some` for a purge: whether a listing found nothing left
    /// (what is pending then no longer exists).
    fn of(total: u64, finished: u64, unknown: u64, emptied: Option<bool>) -> Standing {
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

/// Why a job stopped when the service gave no answer.
fn unreachable(last: &Option<String>) -> String {
    format!(
        "no answer from the service: {}",
        last.as_deref().unwrap_or("unknown error")
    )
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
    /// Applied: the service said so, or a read-back proved it; those found
    /// in place included.
    pub applied: u64,
    /// Of the applied, those an undo or restore found already in the wanted
    /// state before sending (not sent, and not reversed by an undo of it).
    pub in_place: u64,
    /// Refused by the service.
    pub refused: u64,
    /// Not known (their request failed or its answer could not be read):
    /// a resume reads them back and sends what is still needed.
    pub unknown: u64,
    /// Not done yet (the job was stopped).
    pub pending: u64,
    /// Accounts a [`Job::resume`] would work on: the pending ones and the
    /// unknown ones (read back first, then sent where still needed); 0
    /// when the job is complete.
    pub to_resume: u64,
    /// Requests this run sent (`follow_add` or `follow_delete`).
    pub requests_sent: u64,
    /// Whether the job is done: every account applied or refused (none
    /// unknown, none pending), or for a purge, a listing found nothing left.
    pub complete: bool,
    /// The error that stopped the job, if one did: credentials,
    /// permission, app configuration, or no answer from the service for
    /// three requests in a row (or for every request of a shorter run).
    pub stopped_by: Option<String>,
    /// How long this run took.
    pub elapsed: Duration,
}

/// The summary of the job a journal holds, from the journal alone. It
/// reads a journal another process is writing (up to its last whole line).
/// A journal that is damaged (a line edited, out of place or over
/// [`MAX_JOURNAL_LINE`] bytes, a directory, a device) is
/// [`JobError::Journal`] naming the byte where the damage starts.
pub fn status(journal: impl AsRef<Path>) -> Result<JobSummary, JobError> {
    let (header, reader) = Reader::open(journal.as_ref())?;
    summary_of(header, reader)
}

/// [`status`] of a journal read from any reader (a pipe, a copy in memory),
/// with the same checks and the same memory bound.
///
/// ```
/// let damaged = tim_follow::job::status_of(&b"{\"tim_follow_job\":2}\n"[..], "x");
/// assert!(damaged.is_err());
/// ```
pub fn status_of(reader: impl std::io::Read, name: &str) -> Result<JobSummary, JobError> {
    let (header, reader) = Reader::from_reader(std::io::BufReader::new(reader), name)?;
    summary_of(header, reader)
}

fn summary_of<R: std::io::BufRead>(
    header: Header,
    mut reader: Reader<R>,
) -> Result<JobSummary, JobError> {
    reader.read_all()?;
    let r = &reader.replay;
    let purge = header.operation == "purge";
    let total = if purge {
        r.listed_total()
    } else {
        header.total
    };
    let data = Standing::of(total, r.finished(), r.unknown, purge.then_some(r.emptied));
    Ok(JobSummary {
        total,
        applied: r.applied,
        in_place: r.in_place,
        refused: r.refused,
        unknown: r.unknown,
        pending: data.pending,
        to_resume: if data.complete {
            0
        } else {
            data.pending + r.unknown
        },
        requests_sent: 0,
        complete: data.complete,
        stopped_by: None,
        elapsed: Duration::ZERO,
    })
}

/// The accounts of a journal that are not applied now: refused (with the
/// code), or still unknown (with the latest error), in journal order,
/// streamed. An account that a resume settled is not among them.
pub fn failures(
    journal: impl AsRef<Path>,
) -> Result<impl Iterator<Item = Result<JobFailure, JobError>>, JobError> {
    let path = journal.as_ref();
    // First the accounts still unknown at the end, then the lines again.
    let (_, mut first) = Reader::open(path)?;
    first.read_all()?;
    let unsettled = first.replay.unsettled;
    let (_, mut reader) = Reader::open(path)?;
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
                let latest = unsettled
                    .get(&(d.round, d.r))
                    .is_some_and(|u| u.retries == d.retry);
                if latest {
                    queue.extend(d.unknown.into_iter().map(|(account, reason)| JobFailure {
                        from: from.clone(),
                        account,
                        refused: None,
                        reason,
                    }));
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => return None,
            Err(e) => return Some(Err(e)),
        }
    }))
}

/// Writes a snapshot of the following list and fans of each of `accounts`
/// to `out`, page by page (memory stays flat whatever the lists hold);
/// `progress` is called after each account and every 1,000 relations. The
/// format is JSON Lines, versioned in its first line and closed by an end
/// line with the counts: [`Job::restore`] re-creates it, and refuses a
/// snapshot cut short.
///
/// ```text
/// {"tim_follow_snapshot":1,"sdkappid":1400000000,"created_at":1764633600}
/// {"account":"alice","list":"following","to":"bob","follow_time":1702262118,"listed_at":1764633600}
/// {"account":"alice","list":"fans","to":"carol","follow_time":1702262200,"listed_at":1764633601}
/// {"end":true,"accounts":1,"relations":2}
/// ```
///
/// In `following`, `account` follows `to`; in `fans`, `to` follows
/// `account`. `follow_time` is the service's (Unix seconds); `listed_at`
/// when the relation was listed, and `created_at` when the export started.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let client = tim_follow::Client::from_env()?;
/// let out = std::io::BufWriter::new(std::fs::File::create("before.snapshot")?);
/// let summary = tim_follow::job::export(&client, ["UserID_001"], out, |_| {})?;
/// println!("{} relations", summary.relations);
/// # Ok(()) }
/// ```
pub fn export<S: AsRef<str>>(
    client: &Client,
    accounts: impl IntoIterator<Item = S>,
    mut out: impl std::io::Write,
    progress: impl FnMut(&ExportSummary),
) -> Result<ExportSummary, JobError> {
    snapshot::export(client, accounts, &mut out, progress)
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
    /// The journal is damaged or not a journal: the message names the byte
    /// where the damage starts.
    Journal(String),
    /// Another process is running a job on this journal (it holds the
    /// journal's lock); nothing was changed.
    InUse {
        /// The journal.
        path: PathBuf,
        /// The process that holds it, when the system says (Linux).
        pid: Option<u32>,
    },
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
            JobError::InUse { path, pid } => {
                write!(f, "journal {} is in use by ", path.display())?;
                match pid {
                    Some(pid) => write!(f, "process {pid}"),
                    None => f.write_str("another process"),
                }
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

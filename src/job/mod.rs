//! Durable bulk jobs (feature `job`): million-account follows, unfollows and
//! purges that survive a crash and resume where they stopped.
//!
//! A job is an operation and a stream of work, read lazily from a file (or
//! an iterator): the targets of one source account (20 per request), or
//! `FROM TO` pairs (each `FROM`'s targets together, 20 per request, whatever
//! the input's order: see [Pairs](#pairs)). It runs on the client's workers
//! at the client's rate limit, and each finished request's per-account
//! outcomes are appended to a **journal** (see below). Memory stays flat in
//! the size of the job: the input is streamed (pairs through a sort of
//! bounded memory), and what resuming needs is one bit per request.
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
//! JSON Lines (format 3): a header with the job's definition (operation,
//! source, SDKAppID, the input's absolute path, size and SHA-256, its
//! accounts and requests, whether it reads first, for pairs the sort that
//! cut them, and the rate limit it was given if it was:
//! [`Job::record_rate_limit`]; absent in older journals), then, for each
//! request:
//!
//! - before it is sent, a `sending` line: `{"t":"sending","r":N}` (with
//!   `"round"` for a purge), and with a read first the accounts it found
//!   already as wanted (`"in_place":[…]`, not sent): the prior state;
//! - once it is answered, a `done` line with its accounts by outcome
//!   (`applied`, `in_place`, `refused` with the code and `ResultInfo`,
//!   `unknown` with the error).
//!
//! Each line is written whole in one call (the file is opened for
//! appending, so the workers' `sending` lines and the `done` lines never
//! mix) and the file is synced at least once a second and when the job
//! stops; a crash can only tear the last line, which resuming ignores and
//! cuts off. It never holds the UserSig or the SecretKey.
//!
//! **What holds when.** A `sending` line is written (in the kernel's page
//! cache) before its request leaves, so after a SIGKILL at any moment, or
//! any crash of the process alone, every request that may have reached the
//! service has its line, and a resume settles it (below). After a power
//! loss or a kernel crash, what was written in the last second before it
//! may be gone: the requests of that second are sent again as new, which
//! leaves the graph right, but with a read first a relation made in that
//! second and lost from the journal is journaled in place (an undo leaves
//! it).
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
//! without checksums) and format 2 (without `sending` lines) are still read
//! and continued, in their own format: without `sending` lines, so a
//! resume of one sends its requests in flight at a crash again as new.
//!
//! # The input that was hashed
//!
//! A job reads its input file twice: whole before anything is sent (every
//! line checked, its size and SHA-256 for the journal, and the SHA-256 of
//! each block of 1 MiB, kept in memory: 32 bytes a MiB), then again as it
//! sends. The second reading takes a whole block at a time and serves its
//! lines only once its SHA-256 is the first pass's: a file changed while
//! the job runs stops it with [`JobError::InputChanged`] (naming the byte
//! where the changed block starts) before any line of that block is sent,
//! so a job never sends an account that is not in the input it hashed. The
//! same holds for the journal an undo reverses and the snapshot a restore
//! reads. A resume refuses the changed file ([`JobError::Mismatch`]); put
//! back, it goes on.
//!
//! An undo cross-checks the journal it reverses against that job's input
//! file (its file of ids or pairs, or the snapshot of a restore; not for a
//! purge or an undo) where it is still there and unchanged (its size and
//! SHA-256 the journal's): each request's applied accounts must be in that request as
//! the input cuts it, or the journal is damaged ([`JobError::Journal`],
//! before any request). It keeps where each request starts (8 bytes a
//! request) and reads each request again alone. A forged line with its
//! checksum recomputed so reverses nothing the job was not asked to do;
//! without the input file (moved, changed) the journal's word is taken. A
//! pairs job's input is sorted again the same way for this check (its
//! request numbers follow the sort), in a temporary file unlinked as soon
//! as it is indexed.
//!
//! # Pairs
//!
//! A job of pairs ([`Job::pairs`], [`Job::restore`], the [`undo`](Job::undo)
//! of any job) sends each `FROM`'s targets together, 20 a request, whatever
//! the order of its input: a migration dump in the followee's key order
//! takes as few requests as one sorted by follower. Before its first
//! request the job reads its input whole (every line valid) and sorts it
//! by `FROM`, then `TO` (byte order), in **runs** of at most 262,144 pairs
//! sorted in memory (about 7 MiB with 12-byte ids, 18 MiB with 32-byte
//! ones) and spilled next to the journal as hidden files
//! `.JOURNAL.sort-PID-TAG-N` (readable by the user alone; without a journal,
//! in the system's temporary directory as `.tim-follow-pairs.sort-…`, where
//! a killed process's are left to the system's clean-up), about as large
//! as the input; the runs are merged, at most 64 at
//! once, and cut into requests. A pair given twice or more is sent once and
//! counted once ([`JobSummary::total`] counts distinct pairs).
//!
//! The order depends only on the set of pairs, so a resume cuts exactly the
//! same requests. The journal header records it (`"sorted":{"run":N}`, with
//! the run size, which a resume keeps); a pairs journal without it (an
//! earlier version's, which grouped only consecutive pairs with the same
//! `FROM`) is resumed with that grouping. The runs are removed when the job
//! returns; those of a process killed meanwhile are removed by the next job
//! on the journal, once it holds its lock. A job killed during its sort has
//! no journal yet: run it again (not [`Job::resume`]). The
//! [`stop_when`](Job::stop_when) flag is seen once the sort is done (about
//! 3 s a million pairs): the job then stops before its first request, its
//! journal holding the header.
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
//! file has moved). Resuming against a changed input file or another
//! operation is refused ([`JobError::Mismatch`]); a journal of another
//! SDKAppID than the client's is refused before any request
//! ([`JobError::OtherApp`]), and so are an undo of one and a restore of a
//! snapshot of one (a snapshot records its SDKAppID in its header). Every account
//! is counted once in the summary; a completed job resumes as a no-op that
//! returns its summary.
//!
//! **Unknown is not final.** A resume works on two kinds of accounts:
//!
//! - *pending*: in requests that have no line yet (never taken). They are
//!   sent.
//! - *lost*: in requests with a `sending` line and no `done` line (in
//!   flight when the process died). Their answer was lost, so they are read
//!   back first, like the unknown ones below: an account in the wanted state
//!   is applied (the killed run made it; never "already in place"), the
//!   others are sent; the accounts the `sending` line found in place stay in
//!   place. A service that answers a repeat with a refusal (30001) so
//!   refuses nothing that exists.
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
//! - [`Job::check_first`], on by default for a journaled job, reads each
//!   request's accounts before sending it, so that the journal tells what
//!   was already in place from what the job changed; undo and restore
//!   always do. The undo of a job that ran without it is refused
//!   ([`JobError::PriorStateUnknown`]) unless told to
//!   [`reverse_all_applied`](Job::reverse_all_applied). A read that gets no
//!   answer sends nothing: its accounts stay pending for a resume.
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

mod error;
mod format;
mod input;
mod journal;
mod open;
mod plan;
mod preview;
mod purge;
mod replay;
mod run;
mod settle;
mod sink;
mod snapshot;
mod sort;
mod stop;
mod undo;

/// The process holding the `flock` on `file` (Linux, from `/proc/locks`;
/// `None` elsewhere or when none holds it). Hidden: it is there for the
/// command-line tool's events file, which is locked as journals are, and
/// names its holder in the same words.
#[doc(hidden)]
pub fn flock_holder(file: &std::fs::File) -> Option<u32> {
    journal::holder(file)
}

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crate::client::Client;
use format::{Header, Line, Reads};
use journal::Reader;
use open::{check_same_job, prepare, requests_of, source_path, Pending};
use sink::{Sink, Standing};

pub use error::JobError;

pub use format::{MAX_LINE as MAX_JOURNAL_LINE, PURGE_ROUNDS};
pub use plan::MAX_INPUT_LINE;
pub use preview::{Expected, Preview, PreviewItem};
pub use snapshot::{ExportSummary, SNAPSHOT_FORMAT};
#[doc(hidden)]
pub use sort::{plan_pairs_file, SortReport};
pub use stop::StopReason;

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
    /// [`JobError::InvalidInput`]. A job of pairs reads them all (and sorts
    /// them) before its first request.
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
    /// Read each request's accounts before sending it; `None`: the
    /// default (on for a journaled job).
    check_first: Option<bool>,
    /// An undo reverses every applied account of a job that did not
    /// check first.
    reverse_all_applied: bool,
    /// The run size of a pairs job's sort; `None`: the default.
    sort_run: Option<usize>,
    /// The size of the blocks the input is hashed and checked in; 0: the
    /// default.
    block: usize,
    /// The rate limit recorded in (or read from) the journal.
    rate_limit: Option<u32>,
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
    /// comma), `FROM` follows or unfollows `TO`. The pairs are sorted before
    /// the first request, so each `FROM`'s targets go together, 20 a request,
    /// whatever the input's order; a repeated pair is sent and counted once
    /// (see [Pairs](self#pairs)). From [`JobInput::lines`], every line is
    /// read and checked before the first request too.
    pub fn pairs(op: Operation, input: JobInput) -> Job {
        Job::new(Kind::Pairs { op, input })
    }

    /// Reverses what the job of the journal at `journal` applied: the
    /// accounts a follow job followed are unfollowed; those an unfollow job
    /// unfollowed are followed again; a purge's following are followed again
    /// and its fans made to follow it again. Only what the service applied
    /// (or a read-back proved) is reversed, never what was refused, unknown
    /// or not sent, so it works on a finished, a stopped or a crashed
    /// journal (resume a crashed one first: the requests in flight when it
    /// died are settled then, and only then reversed). Each request reads
    /// its accounts back first and sends only what is not already as it
    /// was (those are `in_place`).
    ///
    /// The undo is a job of pairs like any other: give it a journal of its
    /// own (it can be resumed, and undone); the journal it reverses is
    /// locked while it runs, and a resume refuses it if it has changed
    /// since. The service sets the follow time of a re-made relation anew:
    /// the original times cannot come back.
    ///
    /// A journaled follow or unfollow job reads each account before
    /// changing it (the default, [`check_first`](Job::check_first)) and
    /// journals what was already as wanted as in place: that is not
    /// reversed. The undo of a job that ran with `check_first(false)` is
    /// refused ([`JobError::PriorStateUnknown`], before any request): the
    /// service answers a follow of an account already followed (or an
    /// unfollow of one not followed) as applied, so its journal cannot tell
    /// what the job changed; [`reverse_all_applied`](Job::reverse_all_applied)
    /// reverses every applied account anyway.
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
            check_first: None,
            reverse_all_applied: false,
            sort_run: None,
            block: 0,
            rate_limit: None,
        }
    }

    /// Records in a new journal the rate limit (calls a second to each
    /// endpoint) the job's client was given, so that whoever resumes it can
    /// run at the same: [`recorded_rate_limit`](Job::recorded_rate_limit)
    /// of [`Job::resume`] reads it back (the command-line tool's `resume`
    /// keeps `--rate-limit` that way unless given a new one). The client's
    /// own limit is what paces the calls; this only writes it down. A
    /// journal that exists keeps what its header says.
    pub fn record_rate_limit(mut self, per_second: u32) -> Job {
        self.rate_limit = Some(per_second);
        self
    }

    /// The rate limit a resumed job's journal recorded
    /// ([`record_rate_limit`](Job::record_rate_limit)), or the one given to
    /// this job; `None` for a journal without one (older ones included).
    pub fn recorded_rate_limit(&self) -> Option<u32> {
        self.rate_limit
    }

    /// The size of the blocks in which the input file is hashed on the
    /// first pass and checked as it is read again for sending (default 1
    /// MiB). For tests: a small input of several blocks.
    #[doc(hidden)]
    pub fn input_block_size(mut self, bytes: usize) -> Job {
        self.block = bytes;
        self
    }

    fn block(&self) -> usize {
        match self.block {
            0 => plan::INPUT_BLOCK,
            n => n,
        }
    }

    /// Journals the job at `path`: created if missing, continued if it holds
    /// this same job, refused if it holds another.
    pub fn journal(mut self, path: impl Into<PathBuf>) -> Job {
        self.journal = Some(path.into());
        self
    }

    /// Whether each request's accounts are read (`follow_check`) before it
    /// is sent, so that only those not already as wanted are sent; those
    /// are journaled `in_place` (counted applied, in
    /// [`JobSummary::in_place`] too). **On by default for a journaled job**,
    /// off for one without a journal. One more read per request, on the
    /// `follow_check` budget (the client's rate limit is per endpoint), so
    /// the writes' ceiling stays where it was. It makes the journal exact:
    /// the service answers a follow of an account already followed (or an
    /// unfollow of one not followed) as applied or as refused (which is not
    /// documented), so without it an [`undo`](Job::undo) cannot tell what
    /// the job changed, and refuses unless told to
    /// [`reverse_all_applied`](Job::reverse_all_applied). Undo and restore
    /// always check first. Recorded in the journal: a resume keeps it.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let client = tim_follow::Client::from_env()?;
    /// use tim_follow::job::{Job, JobInput};
    /// // Faster, at the price of an undo that cannot tell what was there.
    /// Job::unfollow("UserID_001", JobInput::file("ids.txt"))
    ///     .journal("unfollow.journal")
    ///     .check_first(false)
    ///     .run(&client, |_| {})?;
    /// # Ok(()) }
    /// ```
    pub fn check_first(mut self, on: bool) -> Job {
        self.check_first = Some(on);
        self
    }

    /// For an [`undo`](Job::undo) of a job that ran with
    /// [`check_first(false)`](Job::check_first): reverse every account it
    /// journaled applied, those that were already as wanted before it
    /// included (the journal cannot tell them apart). Without it such an
    /// undo is refused with [`JobError::PriorStateUnknown`]. Recorded in
    /// the undo's journal: a resume keeps it. No effect on other jobs.
    pub fn reverse_all_applied(mut self, on: bool) -> Job {
        self.reverse_all_applied = on;
        self
    }

    /// The most pairs a pairs job sorts in memory at once (one run of its
    /// sort; the default is 262,144). For tests of the memory bound: the
    /// requests are the same whatever it is. A journal records it, and a
    /// resume keeps the journal's.
    #[doc(hidden)]
    pub fn sort_run(mut self, pairs: usize) -> Job {
        self.sort_run = Some(pairs.max(1));
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
        let op = header.operation.operation();
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
            (None, Some(account), _) => Kind::Purge { account },
            _ => {
                return Err(JobError::Journal(format!(
                    "{}: a header this version does not know",
                    path.display()
                )))
            }
        };
        let mut job = Job::new(kind).journal(path);
        job.input_moved = input_moved;
        job.check_first = Some(header.check_first);
        job.reverse_all_applied = header.reverse_all_applied;
        job.rate_limit = header.rate_limit;
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
        let block = self.block();
        let (op, from, input) = match self.kind {
            Kind::Purge { account } => {
                crate::request::validate_account(crate::error::Field::Other("account"), &account)?;
                let mut p = Preview::new(Operation::Unfollow);
                preview::purge(client, &account, &mut each, &mut p)?;
                return Ok(p);
            }
            Kind::Targets { op, from, input } => (op, Some(from), input),
            Kind::Pairs { op, input } => (op, None, input),
        };
        let mut p = Preview::new(op);
        if let InputSource::Lines(lines) = input.0 {
            if from.is_none() {
                let sorted = sort::sort_lines(lines, self.sort_run)?;
                preview::read(client, op, sorted.requests()?, &mut each, &mut p)?;
                return Ok(p);
            }
            let stop = Arc::new(AtomicBool::new(false));
            let requests = plan::from_lines(lines, from.as_deref(), stop);
            preview::read(client, op, requests, &mut each, &mut p)?;
            return Ok(p);
        }
        let (path, reads) = source_path(&input.0);
        let mut header = prepare(client, op, from.as_deref(), &path, reads, block)?;
        let sorted = sort::sort_job(&mut header, &path, self.journal.as_deref(), self.sort_run)?;
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
        let planned = match &sorted {
            Some(s) => s.requests()?,
            None => requests_of(&header, &path, from.as_deref())?,
        };
        let fresh = planned.filter(|r| !r.as_ref().is_ok_and(|r| done.contains_in(r.round, r.r)));
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
        let block = self.block();
        let rate_limit = self.rate_limit;
        sink.relations = !matches!(self.kind, Kind::Targets { .. });
        let settings = |op| run::Settings {
            op,
            block,
            rate_limit,
            check_first: self.check_first.unwrap_or(self.journal.is_some()),
            reverse_all_applied: self.reverse_all_applied,
            sort_run: self.sort_run,
        };
        match self.kind {
            Kind::Purge { account } => {
                sink.verified = Some(false);
                purge::run(
                    client,
                    &account,
                    self.journal.as_deref(),
                    self.rate_limit,
                    &mut sink,
                )?
            }
            Kind::Targets { op, from, input } => run::run_listed(
                client,
                settings(op),
                Some(from),
                input,
                self.journal.map(|p| (p, self.input_moved)),
                &mut sink,
            )?,
            Kind::Pairs { op, input } => run::run_listed(
                client,
                settings(op),
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
    /// The accounts those requests carried (from 1 to 20 a request): with
    /// [`elapsed`](Self::elapsed), the rate an estimate of the time left
    /// divides by.
    pub accounts_sent: u64,
    /// Time since this run started.
    pub elapsed: Duration,
}

/// What a job did, journaled runs before this one included: every account
/// counted once.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct JobSummary {
    /// Accounts in the job (input lines; for a job of pairs, the distinct
    /// pairs; for a purge, relations found).
    pub total: u64,
    /// Whether what the counts count are relations (`FROM → TO` pairs: a
    /// purge, a job of pairs, an undo, a restore) rather than the target
    /// accounts of one `FROM`.
    pub relations: bool,
    /// Applied: the service said so, or a read-back proved it; those found
    /// in place included.
    pub applied: u64,
    /// Of the applied, those a read before sending found already in the
    /// wanted state (a journaled job reads first by default; undo and
    /// restore always do): not sent, and not reversed by an undo of it.
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
    /// Why the job stopped, if it did: an answer that would hit every
    /// request (credentials, permission, app configuration), or no answer
    /// from the service for three requests in a row (or for every request
    /// of a shorter run).
    pub stopped_by: Option<StopReason>,
    /// How long this run took.
    pub elapsed: Duration,
    /// For a job of pairs sorted by `FROM` before it was cut into requests
    /// (see [Pairs](self#pairs)): the run size of its sort, the most pairs
    /// it sorted in memory at once, as its journal records it. `None` for
    /// other jobs, and for a pairs journal of an earlier version (grouped by
    /// consecutive pairs, and resumed that way).
    pub sort_run: Option<u64>,
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
    let purge = header.operation == format::JobOp::Purge;
    let total = if purge {
        r.listed_total()
    } else {
        header.total
    };
    let data = Standing::of(total, r.finished(), r.unknown, purge.then_some(r.emptied));
    Ok(JobSummary {
        total,
        relations: purge || header.pairs || header.from.is_none() || !header.reads.is_lines(),
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
        sort_run: header.sorted.map(|s| s.run),
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
/// Several accounts are listed at once (as many as the client's requests
/// in flight may be, which follows the latency), each at most a few hundred
/// relations ahead of the writing; every account is checked before the
/// first request.
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

//! Opening a job: its input read whole into a journal header, the journal
//! created or continued (the same job, the same input), and what a resumed
//! job still has to do.

use std::path::{Path, PathBuf};

use crate::client::Client;

use super::format::{self, Header, Reads};
use super::journal::{self, Reader, Writer};
use super::plan::{self, Request};
use super::sink::Sink;
use super::{replay, snapshot, undo, InputSource, JobError, Operation};

/// The requests of a prepared job's input, read lazily.
pub(super) fn requests_of(
    header: &Header,
    path: &Path,
    from: Option<&str>,
) -> Result<Box<dyn Iterator<Item = Result<Request, JobError>> + Send>, JobError> {
    match header.reads {
        Reads::Lines => {
            let input = header
                .input
                .as_ref()
                .ok_or_else(|| JobError::Journal("the job names no input file".into()))?;
            Ok(Box::new(plan::from_file(input, &input.path, from)?))
        }
        reads => {
            let input = header
                .input
                .as_ref()
                .ok_or_else(|| JobError::Journal("the job names no input file".into()))?;
            derived(path, reads, input)
        }
    }
}

/// The input file of a source, and what it holds.
pub(super) fn source_path(source: &InputSource) -> (PathBuf, Reads) {
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
pub(super) fn prepare(
    client: &Client,
    op: Operation,
    from: Option<&str>,
    path: &Path,
    reads: Reads,
    block: usize,
) -> Result<Header, JobError> {
    match reads {
        Reads::Journal => {
            let (reversed, _) = Reader::open(path)?;
            same_app("journal", path, reversed.sdkappid, client.sdkappid())?;
        }
        Reads::Snapshot => {
            let app = snapshot::app_of(path)?;
            same_app("snapshot", path, app, client.sdkappid())?;
        }
        Reads::Lines => {}
    }
    let (input, total, requests) = match reads {
        Reads::Lines => {
            let scan = plan::scan_file(path, from, block)?;
            (scan.input, scan.total, scan.requests)
        }
        _ => {
            let input = plan::input_file(path, block)?;
            let (total, requests) = plan::count(derived(path, reads, &input)?)?;
            (input, total, requests)
        }
    };
    Ok(Header {
        tim_follow_job: format::FORMAT,
        operation: format::JobOp::of(op),
        from: from.map(str::to_string),
        pairs: from.is_none(),
        sdkappid: client.sdkappid(),
        input: Some(input),
        total,
        requests,
        reads,
        check_first: false,
        reverse_all_applied: false,
        sorted: None,
        rate_limit: None,
    })
}

/// The requests of an undo (the pairs a journal applied) or a restore (the
/// pairs of a snapshot).
pub(super) fn derived(
    path: &Path,
    reads: Reads,
    input: &format::InputFile,
) -> Result<Box<dyn Iterator<Item = Result<Request, JobError>> + Send>, JobError> {
    Ok(match reads {
        Reads::Journal => Box::new(plan::pair_requests(undo::applied_pairs(path, input)?)),
        _ => Box::new(plan::pair_requests(snapshot::pairs(path, input)?)),
    })
}

/// Locks the journal an undo reverses, so that its job cannot add to it
/// meanwhile; refuses a journal that would undo itself.
pub(super) fn lock_reversed(
    path: &Path,
    undo: Option<&PathBuf>,
) -> Result<std::fs::File, JobError> {
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
pub(super) struct Pending {
    /// Requests with a line in the journal: not sent again.
    pub(super) done: plan::DoneSet,
    /// The accounts journaled unknown, as requests to settle first.
    pub(super) unknown: Vec<Request>,
    /// Requests sent whose answer was lost (a `sending` line, no `done`
    /// line), with the accounts found in place before they were sent.
    pub(super) lost: Lost,
}

/// Requests whose answer was lost, by (round, r): the accounts their read
/// before sending found in place.
pub(super) type Lost = std::collections::BTreeMap<(u32, u64), Vec<String>>;

impl Pending {
    /// What a journal read to its end says is left.
    pub(super) fn from_replay(replay: replay::Replay, header: &Header) -> Pending {
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
            lost: replay.lost,
        }
    }

    /// The accounts of `round` to settle, taken out.
    pub(super) fn unknown_in(&mut self, round: u32) -> Vec<Request> {
        let (now, later) = std::mem::take(&mut self.unknown)
            .into_iter()
            .partition(|r| r.round == round);
        self.unknown = later;
        now
    }
}

/// Continues the journal at `path` if it holds `header`'s job, or creates
/// it; either way this process holds its lock from now on.
pub(super) fn open_or_create(
    path: &Path,
    header: &Header,
    moved: bool,
    sink: &mut Sink<'_>,
) -> Result<Pending, JobError> {
    if !path.exists() {
        if let Some(w) = Writer::create(path, header)? {
            sink.journal_to(w, true);
            return Ok(Pending::default());
        }
    }
    let locked = journal::lock_existing(path)?;
    let (found, mut reader) = Reader::open(path)?;
    check_same_job(&found, header, path, moved)?;
    reader.read_all()?;
    sink.count_replay(&reader.replay);
    let write_ahead = found.tim_follow_job >= format::WRITE_AHEAD;
    sink.journal_to(
        Writer::continue_after(locked, path, reader.whole_len)?,
        write_ahead,
    );
    Ok(Pending::from_replay(reader.replay, &found))
}

/// Refuses a journal or snapshot of another app than the client's.
pub(super) fn same_app(
    what: &'static str,
    path: &Path,
    made_for: u64,
    credentials: u64,
) -> Result<(), JobError> {
    if made_for == credentials {
        return Ok(());
    }
    Err(JobError::OtherApp {
        what,
        path: path.to_path_buf(),
        made_for,
        credentials,
    })
}

/// Refuses to continue a journal that holds another job. With `moved`, the
/// input may be at another path if its size and SHA-256 are the same.
pub(super) fn check_same_job(
    found: &Header,
    want: &Header,
    path: &Path,
    moved: bool,
) -> Result<(), JobError> {
    let differs = |what: &str, was: String, now: String| {
        Err(JobError::Mismatch(format!(
            "the journal {} holds another job: its {what} is {was}, not {now}",
            path.display()
        )))
    };
    same_app("journal", path, found.sdkappid, want.sdkappid)?;
    if found.operation != want.operation || found.pairs != want.pairs || found.reads != want.reads {
        return Err(JobError::Mismatch(format!(
            "the journal {} holds another job: {}, not {}",
            path.display(),
            kind_of(found),
            kind_of(want)
        )));
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
            let short = |sha: &str| sha.get(..16).unwrap_or(sha).to_string();
            let how = if a.size != b.size {
                format!("{} bytes then, {} now", a.size, b.size)
            } else {
                format!(
                    "the same {} bytes, but another SHA-256 ({}… then, {}… now)",
                    a.size,
                    short(&a.sha256),
                    short(&b.sha256)
                )
            };
            Err(JobError::Mismatch(format!(
                "the input {} {}: {how}: \
                 resuming would skip or repeat the wrong accounts; start a new journal",
                b.path.display(),
                if a.path == b.path {
                    "changed since the job started"
                } else {
                    "is not the job's input"
                },
            )))
        }
        _ => Ok(()),
    }
}

/// What a job is, in words: "a follow of one account's targets", "an
/// unfollow of `FROM TO` pairs", "a follow that undoes a journal", "a follow
/// that restores a snapshot", "a purge".
fn kind_of(h: &Header) -> String {
    let op = match h.operation {
        format::JobOp::Follow => "a follow",
        format::JobOp::Unfollow => "an unfollow",
        format::JobOp::Purge => return "a purge".into(),
    };
    let of = match (h.reads, h.pairs) {
        (Reads::Journal, _) => "that undoes a journal",
        (Reads::Snapshot, _) => "that restores a snapshot",
        (Reads::Lines, true) => "of `FROM TO` pairs",
        (Reads::Lines, false) => "of one account's targets",
    };
    format!("{op} {of}")
}

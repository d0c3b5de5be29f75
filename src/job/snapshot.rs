//! Snapshots: the following list and fans of accounts as JSON Lines,
//! written while paging (flat memory), and read back as the `FROM TO`
//! pairs that re-create them.
//!
//! The format (version 1):
//!
//! ```text
//! {"tim_follow_snapshot":1,"sdkappid":1400000000,"created_at":1764633600}
//! {"account":"alice","list":"following","to":"bob","follow_time":1702262118,"listed_at":1764633600}
//! {"account":"alice","list":"fans","to":"carol","follow_time":1702262200,"listed_at":1764633601}
//! {"end":true,"accounts":1,"relations":2}
//! ```
//!
//! The first line names the format and its version, the app and when the
//! export started (Unix seconds). Then one relation a line: in `following`,
//! `account` follows `to`; in `fans`, `to` follows `account`. `follow_time`
//! is the service's (Unix seconds), `listed_at` when that page was listed.
//! The last line closes the snapshot with its counts: a snapshot without it
//! was cut short and is refused. A UTF-8 BOM before the first line is
//! dropped, as in an id file.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::sync::{Condvar, Mutex};

use serde::{Deserialize, Serialize};

use super::format::InputFile;
use super::plan::{id_problem, shown, Checked, InputLines};
use super::JobError;
use crate::client::Client;
use crate::follow::FollowList;
use crate::request::validate_account;
use crate::sync::lock;

/// The snapshot format this version writes and reads.
pub const SNAPSHOT_FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotHeader {
    tim_follow_snapshot: u32,
    sdkappid: u64,
    created_at: i64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Relation {
    account: String,
    list: String,
    to: String,
    follow_time: i64,
    listed_at: i64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct End {
    end: bool,
    accounts: u64,
    relations: u64,
}

/// What [`export`](super::export) wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportSummary {
    /// Accounts exported.
    pub accounts: u64,
    /// Relations written (following and fans of all of them).
    pub relations: u64,
}

fn now() -> i64 {
    crate::clock::unix_now() as i64
}

fn line<T: Serialize>(out: &mut impl Write, value: &T) -> Result<(), JobError> {
    let write = |out: &mut dyn Write| -> std::io::Result<()> {
        serde_json::to_writer(&mut *out, value)?;
        out.write_all(b"\n")
    };
    write(out).map_err(|e| JobError::io(Path::new("(snapshot)"), "cannot write the snapshot", e))
}

/// Relations of one account handed from a worker to the writer at once.
const CHUNK: usize = 250;
/// Chunks of one account a worker lists ahead of the writer, at most.
const CHUNKS_AHEAD: usize = 2;

/// Part of one account's listing: its list, `(to, follow_time)` pairs and
/// when they were listed (`None`: the listing is complete); or why the
/// listing stopped.
type Chunk = Result<Option<(&'static str, Vec<(String, i64)>, i64)>, crate::Error>;

/// Writes the snapshot of `accounts` to `out`.
///
/// Several accounts are listed at once, as many as the requests in flight
/// may be (the client's target, which follows the latency), each by a
/// worker that keeps at most a few hundred relations ahead of the writer;
/// the snapshot is written account by account in the order given.
pub(crate) fn export<S: AsRef<str>>(
    client: &Client,
    accounts: impl IntoIterator<Item = S>,
    out: &mut impl Write,
    mut progress: impl FnMut(&ExportSummary),
) -> Result<ExportSummary, JobError> {
    let accounts = accounts
        .into_iter()
        .map(|a| {
            validate_account(crate::error::Field::Other("account"), a.as_ref())?;
            Ok(a.as_ref().to_string())
        })
        .collect::<Result<Vec<String>, JobError>>()?;
    let header = SnapshotHeader {
        tim_follow_snapshot: SNAPSHOT_FORMAT,
        sdkappid: client.sdkappid(),
        created_at: now(),
    };
    line(out, &header)?;
    let mut summary = ExportSummary {
        accounts: 0,
        relations: 0,
    };
    let listings = Listings {
        client,
        accounts: &accounts,
        next: AtomicUsize::new(0),
        started: AtomicUsize::new(0),
        ready: Mutex::new(Ready::default()),
        arrived: Condvar::new(),
    };
    std::thread::scope(|scope| -> Result<(), JobError> {
        let written = (0..accounts.len()).try_for_each(|i| {
            listings.grow(scope);
            write_account(&listings, scope, i, out, &mut summary, &mut progress)
        });
        listings.stop();
        written
    })?;
    line(
        out,
        &End {
            end: true,
            accounts: summary.accounts,
            relations: summary.relations,
        },
    )?;
    out.flush()
        .map_err(|e| JobError::io(Path::new("(snapshot)"), "cannot write the snapshot", e))?;
    Ok(summary)
}

/// Writes one relation line, counted, with progress every 1,000.
fn written(
    out: &mut impl Write,
    relation: &Relation,
    summary: &mut ExportSummary,
    progress: &mut impl FnMut(&ExportSummary),
) -> Result<(), JobError> {
    line(out, relation)?;
    summary.relations += 1;
    if summary.relations.is_multiple_of(1000) {
        progress(summary);
    }
    Ok(())
}

/// Writes the relations of account `i` as they arrive: from the worker
/// that took it, or listed here when none did. An error, or a listing cut
/// short, ends the export.
fn write_account<'scope, 'env, 'a: 'scope>(
    listings: &'scope Listings<'a>,
    scope: &'scope std::thread::Scope<'scope, 'env>,
    i: usize,
    out: &mut impl Write,
    summary: &mut ExportSummary,
    progress: &mut impl FnMut(&ExportSummary),
) -> Result<(), JobError> {
    let account = &listings.accounts[i];
    let mut complete = false;
    let mut write = |chunk: Chunk| -> Result<(), JobError> {
        let Some((list, relations, listed_at)) = chunk? else {
            complete = true;
            return Ok(());
        };
        for (to, follow_time) in relations {
            let relation = Relation {
                account: account.clone(),
                list: list.to_string(),
                to,
                follow_time,
                listed_at,
            };
            written(out, &relation, summary, progress)?;
        }
        Ok(())
    };
    match listings.take(i, &mut || listings.grow(scope)) {
        Some(chunks) => loop {
            // Waiting for a slow listing, start the workers a growing
            // target allows.
            match chunks.recv_timeout(std::time::Duration::from_millis(50)) {
                Ok(chunk) => write(chunk)?,
                Err(RecvTimeoutError::Timeout) => listings.grow(scope),
                Err(RecvTimeoutError::Disconnected) => break,
            }
        },
        // No worker took it: listed here.
        None => {
            let mut failed = None;
            list_account(listings.client, account, &mut |c| match write(c) {
                Ok(()) => true,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            });
            if let Some(e) = failed {
                return Err(e);
            }
        }
    }
    if !complete {
        return Err(JobError::Client(crate::Error::transport(
            crate::error::TransportErrorKind::Other,
            format!("the listing of {account} ended early (a worker thread stopped)"),
        )));
    }
    summary.accounts += 1;
    progress(summary);
    Ok(())
}

/// Lists both lists of `account`, handing each chunk to `hand` until it
/// returns `false`, then `Ok(None)` once complete (an error is handed as
/// the last chunk).
fn list_account(client: &Client, account: &str, hand: &mut dyn FnMut(Chunk) -> bool) {
    for (list, name) in [
        (FollowList::Following, "following"),
        (FollowList::Fans, "fans"),
    ] {
        let mut chunk = Vec::with_capacity(CHUNK);
        let mut entries = client.follow_get(account, list).page_size(1000);
        loop {
            let next = match entries.next().transpose() {
                Ok(next) => next,
                Err(e) => {
                    hand(Err(e));
                    return;
                }
            };
            if let Some(entry) = next.as_ref() {
                chunk.push((entry.to_account.clone(), entry.follow_time));
            }
            if chunk.len() == CHUNK || (next.is_none() && !chunk.is_empty()) {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                if !hand(Ok(Some((name, full, now())))) {
                    return;
                }
            }
            if next.is_none() {
                break;
            }
        }
    }
    hand(Ok(None));
}

/// The accounts being listed ahead of the writer.
struct Listings<'a> {
    client: &'a Client,
    accounts: &'a [String],
    /// The next account to take.
    next: AtomicUsize,
    /// Workers started.
    started: AtomicUsize,
    ready: Mutex<Ready>,
    arrived: Condvar,
}

#[derive(Default)]
struct Ready {
    /// Each account taken by a worker: where its chunks arrive.
    taken: HashMap<usize, Receiver<Chunk>>,
    stopped: bool,
}

impl<'a> Listings<'a> {
    /// Starts one more worker if the requests in flight may grow past the
    /// workers there are and accounts are left (out of threads, the writer
    /// lists the accounts no worker took).
    fn grow<'scope>(&'scope self, scope: &'scope std::thread::Scope<'scope, '_>)
    where
        'a: 'scope,
    {
        let left = self
            .accounts
            .len()
            .saturating_sub(self.next.load(Ordering::SeqCst));
        // A few more than the target, as for a batch: the spare ones wait
        // at the client's gate, ready as soon as the target grows.
        let wanted = crate::inflight::workers_for(self.client.in_flight_target())
            .min(self.client.concurrency());
        if left > 0 {
            let work = move || self.work(scope);
            crate::inflight::start_worker(scope, &self.started, wanted, "tim-follow-export", work);
        }
    }

    /// Lists accounts until none is left or the export stopped.
    fn work<'scope>(&'scope self, scope: &'scope std::thread::Scope<'scope, '_>)
    where
        'a: 'scope,
    {
        loop {
            self.grow(scope);
            let (tx, rx) = sync_channel(CHUNKS_AHEAD);
            let i = {
                let mut ready = lock(&self.ready);
                let i = self.next.fetch_add(1, Ordering::SeqCst);
                if ready.stopped || i >= self.accounts.len() {
                    return;
                }
                ready.taken.insert(i, rx);
                i
            };
            self.arrived.notify_all();
            list_account(self.client, &self.accounts[i], &mut |chunk| {
                tx.send(chunk).is_ok()
            });
        }
    }

    /// Where the chunks of account `i` arrive, once a worker took it; `None`
    /// when no worker did (this thread claims it then). While it waits, it
    /// calls `grow` now and then.
    fn take(&self, i: usize, grow: &mut dyn FnMut()) -> Option<Receiver<Chunk>> {
        let mut ready = lock(&self.ready);
        loop {
            if let Some(rx) = ready.taken.remove(&i) {
                return Some(rx);
            }
            if self
                .next
                .compare_exchange(i, i + 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                return None;
            }
            ready = self
                .arrived
                .wait_timeout(ready, std::time::Duration::from_millis(50))
                .map_or_else(|p| p.into_inner().0, |(g, _)| g);
            drop(ready);
            grow();
            ready = lock(&self.ready);
        }
    }

    /// No account is taken any more, and the workers' sends fail.
    fn stop(&self) {
        let mut ready = lock(&self.ready);
        ready.stopped = true;
        ready.taken.clear();
    }
}

/// The SDKAppID the snapshot at `path` was exported from, from its header.
pub(crate) fn app_of(path: &Path) -> Result<u64, JobError> {
    let file = std::fs::File::open(path).map_err(|e| JobError::io(path, "cannot open", e))?;
    let mut lines = InputLines::new(BufReader::new(file), path);
    Ok(header(&mut lines)?.sdkappid)
}

/// The header line of a snapshot, checked.
fn header<R: BufRead>(lines: &mut InputLines<R>) -> Result<SnapshotHeader, JobError> {
    let bad = |line: u64, reason: String| JobError::InvalidInput { line, reason };
    let first = lines
        .next()
        .transpose()?
        .ok_or_else(|| bad(1, "an empty file, not a tim-follow snapshot".into()))?;
    // A UTF-8 BOM is dropped, as in an id file.
    let first = first.strip_prefix('\u{feff}').unwrap_or(&first);
    let header: SnapshotHeader = serde_json::from_str(first).map_err(|_| {
        let v: Option<serde_json::Value> = serde_json::from_str(first).ok();
        let v = v.as_ref();
        let versioned = v.is_some_and(|v| v.get("tim_follow_snapshot").is_some());
        if versioned && v.is_some_and(|v| !v["sdkappid"].is_u64()) {
            bad(
                1,
                "a snapshot header without its SDKAppID: the app it was made for cannot \
                 be checked, so it is not restored"
                    .into(),
            )
        } else if versioned {
            bad(1, "a snapshot header this version does not read".into())
        } else {
            bad(1, "not a tim-follow snapshot (no header line)".into())
        }
    })?;
    if header.tim_follow_snapshot != SNAPSHOT_FORMAT {
        return Err(bad(
            1,
            format!(
                "a snapshot of format {}; this version reads format {SNAPSHOT_FORMAT}",
                header.tim_follow_snapshot
            ),
        ));
    }
    Ok(header)
}

/// The relations of the snapshot at `path` as the `(FROM, TO)` pairs that
/// re-create them, streamed and checked line by line; the end line must be
/// there and agree.
pub(crate) fn pairs(
    path: &Path,
    input: &InputFile,
) -> Result<impl Iterator<Item = Result<(String, String), JobError>> + Send, JobError> {
    let mut lines = InputLines::new(Checked::open(input, path)?, path);
    let bad = |line: u64, reason: String| JobError::InvalidInput { line, reason };
    header(&mut lines)?;
    let (mut relations, mut accounts) = (0u64, 0u64);
    let mut last_account: Option<String> = None;
    let mut ended = false;
    Ok(std::iter::from_fn(move || {
        if ended {
            return None;
        }
        let next = match lines.next().transpose() {
            Ok(next) => next,
            Err(e) => {
                ended = true;
                return Some(Err(e));
            }
        };
        let number = lines.number();
        let result = match next {
            None => Err(bad(
                number + 1,
                "the snapshot has no end line: it was cut short; export it again".into(),
            )),
            Some(text) => {
                read_line(&text, number, &mut last_account, &mut accounts).and_then(|item| {
                    match item {
                        Some(pair) => {
                            relations += 1;
                            Ok(Some(pair))
                        }
                        None => end_line(&text, number, accounts, relations, &mut lines),
                    }
                })
            }
        };
        match result {
            Ok(Some(pair)) => Some(Ok(pair)),
            Ok(None) => {
                ended = true;
                None
            }
            Err(e) => {
                ended = true;
                Some(Err(e))
            }
        }
    }))
}

/// A line of a snapshot as the pair that re-creates its relation; `None`
/// for its header and end line. Checked as a restore reads it, without
/// the counts.
pub(crate) fn relation_pair(text: &str) -> Result<Option<(String, String)>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.starts_with("{\"tim_follow_snapshot\"") {
        return Ok(None);
    }
    let (mut last, mut accounts) = (None, 0);
    match read_line(text, 0, &mut last, &mut accounts) {
        Ok(pair) => Ok(pair),
        Err(JobError::InvalidInput { reason, .. }) => Err(reason),
        Err(other) => Err(other.to_string()),
    }
}

/// A relation line as its pair; `None` for the end line.
fn read_line(
    text: &str,
    number: u64,
    last_account: &mut Option<String>,
    accounts: &mut u64,
) -> Result<Option<(String, String)>, JobError> {
    let bad = |reason: String| JobError::InvalidInput {
        line: number,
        reason,
    };
    if text.starts_with("{\"end\"") {
        return Ok(None);
    }
    let r: Relation =
        serde_json::from_str(text).map_err(|e| bad(format!("not a snapshot relation: {e}")))?;
    for (field, id) in [("account", &r.account), ("to", &r.to)] {
        if let Some(why) = id_problem(id) {
            return Err(bad(format!(
                "its {field} {} is not an account id ({why})",
                shown(id)
            )));
        }
    }
    if last_account.as_deref() != Some(r.account.as_str()) {
        *accounts += 1;
        *last_account = Some(r.account.clone());
    }
    match r.list.as_str() {
        "following" => Ok(Some((r.account, r.to))),
        "fans" => Ok(Some((r.to, r.account))),
        other => Err(bad(format!("a relation of an unknown list {other:?}"))),
    }
}

/// Checks the end line against what was read, and that nothing follows it.
fn end_line<R: BufRead>(
    text: &str,
    number: u64,
    accounts: u64,
    relations: u64,
    lines: &mut InputLines<R>,
) -> Result<Option<(String, String)>, JobError> {
    let bad = |reason: String| JobError::InvalidInput {
        line: number,
        reason,
    };
    let end: End = serde_json::from_str(text).map_err(|e| bad(format!("a bad end line: {e}")))?;
    if !end.end {
        return Err(bad("an end line that says \"end\": false".into()));
    }
    if end.relations != relations {
        return Err(bad(format!(
            "the end line counts {} relations, the snapshot has {relations}",
            end.relations
        )));
    }
    if end.accounts < accounts {
        return Err(bad(format!(
            "the end line counts {} accounts, the snapshot's relations name {accounts}",
            end.accounts
        )));
    }
    if lines.next().is_some() {
        return Err(bad("lines after the end line".into()));
    }
    Ok(None)
}

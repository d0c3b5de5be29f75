//! Purge: every follow relation of one account, both ways, in rounds. Each
//! round lists the account's following and fans into the journal first
//! (deleting while paging would skip entries), then removes them: its
//! following 20 per request, each fan with a request of its own. The next
//! round lists again; the purge is complete when a listing finds nothing.

use std::path::Path;
use std::sync::atomic::Ordering;

use super::format::{
    self, Header, Line, ListName, IDS_PER_LINE, MAX_PURGE_ROUND, PER_REQUEST, PURGE_ROUNDS,
};
use super::journal::{self, Reader, Writer};
use super::open::Pending;
use super::plan::Request;
use super::run::{execute, Left};
use super::sink::Sink;
use super::{JobError, Operation};
use crate::client::Client;
use crate::follow::FollowList;
use crate::request::validate_account;

/// What a purge journal says so far.
#[derive(Default)]
struct State {
    /// Per round: the counts of its finished listing.
    snapshots: Vec<(u64, u64)>,
    /// Finished requests, and the accounts left unknown.
    pending: Pending,
}

/// Runs (or continues) the purge of `account`.
pub(crate) fn run(
    client: &Client,
    account: &str,
    journal: Option<&Path>,
    rate_limit: Option<u32>,
    sink: &mut Sink<'_>,
) -> Result<(), JobError> {
    validate_account(crate::error::Field::Other("account"), account)?;
    let header = purge_header(client, account, rate_limit);
    let mut state = match journal {
        Some(path) => open(path, &header, sink)?,
        None => State::default(),
    };
    // A run lists at most PURGE_ROUNDS + 1 times: PURGE_ROUNDS rounds of
    // removal and a checking listing. Relations found by a checking listing
    // are the next run's first round: a resume goes on where it stopped.
    let mut listed_now = 0;
    for round in 0..=MAX_PURGE_ROUND {
        if sink.stop.load(Ordering::SeqCst) {
            break;
        }
        let listed = match state.snapshots.get(round as usize) {
            Some(&counts) => Listed::Journal(counts),
            None if listed_now > PURGE_ROUNDS => break,
            None => {
                listed_now += 1;
                list(client, account, round, sink)?
            }
        };
        let (following, fans) = listed.counts();
        if round as usize >= state.snapshots.len() {
            state.snapshots.push((following, fans));
            sink.total += following + fans;
        }
        if following + fans == 0 {
            sink.verified = Some(true);
            break;
        }
        if listed_now > PURGE_ROUNDS || round == MAX_PURGE_ROUND {
            break;
        }
        let requests = requests(listed, account, round, journal)?;
        let unknown = state.pending.unknown_in(round);
        let left = Left {
            done: &state.pending.done,
            unknown,
            lost: &mut state.pending.lost,
        };
        execute(client, (Operation::Unfollow, false), requests, left, sink)?;
    }
    Ok(())
}

/// The journal header of a purge of `account`.
fn purge_header(client: &Client, account: &str, rate_limit: Option<u32>) -> Header {
    Header {
        tim_follow_job: format::FORMAT,
        operation: format::JobOp::Purge,
        from: Some(account.to_string()),
        pairs: false,
        sdkappid: client.sdkappid(),
        input: None,
        total: 0,
        requests: 0,
        reads: format::Reads::Lines,
        check_first: false,
        reverse_all_applied: false,
        sorted: None,
        rate_limit,
    }
}

/// A round's lists: in the journal, or (without one) in memory.
enum Listed {
    Journal((u64, u64)),
    Memory(Vec<String>, Vec<String>),
}

impl Listed {
    fn counts(&self) -> (u64, u64) {
        match self {
            Listed::Journal(c) => *c,
            Listed::Memory(following, fans) => (following.len() as u64, fans.len() as u64),
        }
    }
}

/// Lists both lists of `account` into the journal (or memory), then marks
/// the round's snapshot complete.
fn list(
    client: &Client,
    account: &str,
    round: u32,
    sink: &mut Sink<'_>,
) -> Result<Listed, JobError> {
    let mut kept = [Vec::new(), Vec::new()];
    let mut counts = [0u64; 2];
    for (i, (list, name)) in [
        (FollowList::Following, ListName::Following),
        (FollowList::Fans, ListName::Fans),
    ]
    .into_iter()
    .enumerate()
    {
        let mut page = Vec::with_capacity(IDS_PER_LINE);
        let mut entries = client
            .follow_get(account, list)
            .page_size(IDS_PER_LINE as u32);
        loop {
            let next = entries.next().transpose()?;
            if let Some(entry) = &next {
                page.push(entry.to_account.clone());
            }
            if page.len() == IDS_PER_LINE || (next.is_none() && !page.is_empty()) {
                counts[i] += page.len() as u64;
                let ids = std::mem::take(&mut page);
                match &sink.writer {
                    Some(w) => w.append(&Line::Listed {
                        round,
                        list: name,
                        ids,
                    })?,
                    None => kept[i].extend(ids),
                }
            }
            if next.is_none() {
                break;
            }
        }
    }
    match &sink.writer {
        Some(w) => {
            w.append(&Line::Snapshot {
                round,
                following: counts[0],
                fans: counts[1],
            })?;
            w.sync()?;
            Ok(Listed::Journal((counts[0], counts[1])))
        }
        None => {
            let [following, fans] = kept;
            Ok(Listed::Memory(following, fans))
        }
    }
}

/// The requests of a round: following 20 at a time, then one per fan.
fn requests(
    listed: Listed,
    account: &str,
    round: u32,
    journal: Option<&Path>,
) -> Result<Box<dyn Iterator<Item = Result<Request, JobError>> + Send>, JobError> {
    let ids: Box<dyn Iterator<Item = Result<(bool, String), JobError>> + Send> = match listed {
        Listed::Memory(following, fans) => Box::new(
            following
                .into_iter()
                .map(|id| Ok((true, id)))
                .chain(fans.into_iter().map(|id| Ok((false, id)))),
        ),
        Listed::Journal(_) => {
            let path = journal.ok_or_else(|| JobError::Journal("no journal".into()))?;
            Box::new(
                listed_ids(path, round, ListName::Following)?.chain(listed_ids(
                    path,
                    round,
                    ListName::Fans,
                )?),
            )
        }
    };
    let account = account.to_string();
    let mut ids = ids.peekable();
    let mut r = 0u64;
    Ok(Box::new(std::iter::from_fn(move || {
        let (following, first) = match ids.next()? {
            Ok(x) => x,
            Err(e) => return Some(Err(e)),
        };
        let request = |from: String, to: Vec<String>, r: &mut u64| {
            *r += 1;
            Request {
                round,
                r: *r - 1,
                from,
                to,
                from_in_journal: true,
                retry: 0,
            }
        };
        if !following {
            // The fan unfollows the account.
            return Some(Ok(request(first, vec![account.clone()], &mut r)));
        }
        let mut to = vec![first];
        while to.len() < PER_REQUEST {
            match ids.next_if(|n| matches!(n, Ok((true, _)))) {
                Some(Ok((_, id))) => to.push(id),
                _ => break,
            }
        }
        Some(Ok(request(account.clone(), to, &mut r)))
    })))
}

/// The ids of one list of one round, streamed from the journal (tagged
/// `true` for the following list).
fn listed_ids(
    path: &Path,
    round: u32,
    name: ListName,
) -> Result<impl Iterator<Item = Result<(bool, String), JobError>> + Send, JobError> {
    let (_, mut reader) = Reader::open(path)?;
    let mut batch = std::vec::IntoIter::default();
    let mut ended = false;
    Ok(std::iter::from_fn(move || loop {
        if let Some(id) = batch.next() {
            return Some(Ok((name == ListName::Following, id)));
        }
        if ended {
            return None;
        }
        match reader.next_line() {
            Ok(Some(Line::Listed {
                round: r,
                list,
                ids,
            })) if r == round && list == name => {
                batch = ids.into_iter();
            }
            // Everything of this round's listing comes before its marker.
            Ok(Some(Line::Snapshot { round: r, .. })) if r == round => ended = true,
            Ok(Some(_)) => {}
            Ok(None) => ended = true,
            Err(e) => {
                ended = true;
                return Some(Err(e));
            }
        }
    }))
}

/// Reads a purge journal (or creates it), holding its lock from then on:
/// finished listings and requests, and the accounts left unknown; a
/// listing cut short by a crash is cut off, to be listed again.
fn open(path: &Path, header: &Header, sink: &mut Sink<'_>) -> Result<State, JobError> {
    if !path.exists() {
        if let Some(w) = Writer::create(path, header)? {
            sink.journal_to(w, true);
            return Ok(State::default());
        }
    }
    let locked = journal::lock_existing(path)?;
    let (found, mut reader) = Reader::open(path)?;
    super::open::check_same_job(&found, header, path, false)?;
    // Where the listing of a round without its marker began.
    let mut open_listing: Option<u64> = None;
    loop {
        let at = reader.whole_len;
        match reader.next_line()? {
            None => break,
            Some(Line::Listed { .. }) => {
                open_listing.get_or_insert(at);
            }
            Some(Line::Snapshot { .. }) => open_listing = None,
            Some(Line::Done(_) | Line::Sending(_)) => {}
        }
    }
    let keep = open_listing.unwrap_or(reader.whole_len);
    sink.count_replay(&reader.replay);
    sink.total = reader.replay.listed_total();
    let state = State {
        snapshots: reader.replay.snapshots.clone(),
        pending: Pending::from_replay(reader.replay, &found),
    };
    let write_ahead = found.tim_follow_job >= format::WRITE_AHEAD;
    sink.journal_to(Writer::continue_after(locked, path, keep)?, write_ahead);
    Ok(state)
}

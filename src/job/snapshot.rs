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

use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::format::InputFile;
use super::plan::{id_problem, shown, Checked, InputLines};
use super::JobError;
use crate::client::Client;
use crate::follow::FollowList;
use crate::request::validate_account;

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

/// Writes the snapshot of `accounts` to `out`.
pub(crate) fn export<S: AsRef<str>>(
    client: &Client,
    accounts: impl IntoIterator<Item = S>,
    out: &mut impl Write,
    mut progress: impl FnMut(&ExportSummary),
) -> Result<ExportSummary, JobError> {
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
    for account in accounts {
        let account = account.as_ref();
        validate_account(crate::error::Field::Other("account"), account)?;
        for (list, name) in [
            (FollowList::Following, "following"),
            (FollowList::Fans, "fans"),
        ] {
            for entry in client.follow_get(account, list).page_size(1000) {
                let entry = entry?;
                let relation = Relation {
                    account: account.to_string(),
                    list: name.to_string(),
                    to: entry.to_account,
                    follow_time: entry.follow_time,
                    listed_at: now(),
                };
                line(out, &relation)?;
                summary.relations += 1;
                if summary.relations.is_multiple_of(1000) {
                    progress(&summary);
                }
            }
        }
        summary.accounts += 1;
        progress(&summary);
    }
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

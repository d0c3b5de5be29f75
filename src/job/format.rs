//! The journal's lines: what each says, how it is written (JSON with a
//! checksum of its own bytes), and the limits a reader holds it to. Pure:
//! no I/O.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{JobError, Operation};
use crate::follow::{BatchRequest, FollowAdd, FollowDelete};

/// The most accounts one follow_add or follow_delete request carries: the
/// endpoints' own limit (the two are the same).
pub(crate) const PER_REQUEST: usize = FollowAdd::MAX_ACCOUNTS;
const _: () = assert!(FollowAdd::MAX_ACCOUNTS == FollowDelete::MAX_ACCOUNTS);

/// How many ids one journal line of a purge's listing holds.
pub(crate) const IDS_PER_LINE: usize = 1000;

/// The most rounds of removal of a purge in one run; one more listing after
/// the last checks it, and what it finds is the first round of a resume.
pub const PURGE_ROUNDS: u32 = 3;

/// The highest round number a purge journal may hold (sixteen runs of
/// [`PURGE_ROUNDS`] + 1 listings): a bound for the reader.
pub(crate) const MAX_PURGE_ROUND: u32 = 63;

/// The format version written in every header. Format 1 journals (without
/// checksums) and format 2 journals (without `sending` lines) are still read
/// and continued, without `sending` lines.
pub(crate) const FORMAT: u32 = 3;

/// The first format whose journals hold a `sending` line before each
/// request is sent.
pub(crate) const WRITE_AHEAD: u32 = 3;

/// The longest line a journal may hold, newline excluded. The longest line
/// the writer makes (a listing page of 1,000 ids of 32 bytes, escaped) is
/// well under it.
pub const MAX_LINE: usize = 1 << 20;

/// The most bytes of a refusal's `ResultInfo` or an error kept in a line.
const MAX_REASON: usize = 512;

/// What a job is: the first line of its journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Header {
    /// [`FORMAT`].
    pub tim_follow_job: u32,
    /// `follow`, `unfollow` or `purge`.
    pub operation: JobOp,
    /// The source account of a follow or unfollow job, or the purged account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Whether the input lists `FROM TO` pairs rather than targets of `from`.
    #[serde(default)]
    pub pairs: bool,
    /// The app the job belongs to.
    pub sdkappid: u64,
    /// The input file, when the job has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<InputFile>,
    /// Accounts (input lines) in the job; 0 for a purge until it has listed.
    pub total: u64,
    /// Requests the job is split into (0 for a purge).
    pub requests: u64,
    /// What the input file holds: lines of ids or pairs, a journal whose
    /// applied relations the job reverses (undo), or a snapshot whose
    /// relations it re-creates (restore).
    #[serde(default, skip_serializing_if = "Reads::is_lines")]
    pub reads: Reads,
    /// Whether each request is read back before it is sent (always for
    /// undo and restore; asked for with `Job::check_first`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub check_first: bool,
    /// An undo of a job that did not check first, told to reverse every
    /// applied account (`Job::reverse_all_applied`): a resume keeps it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reverse_all_applied: bool,
    /// A pairs job whose input was sorted (by `FROM`, then `TO`, repeats
    /// dropped) before it was cut into requests, with the run size of the
    /// sort. A pairs journal without it cut consecutive pairs, and is
    /// resumed that way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sorted: Option<super::sort::SortSpec>,
    /// The rate limit (calls a second to each endpoint) the job was run
    /// at, when it was given (`Job::record_rate_limit`): a resume runs at
    /// it unless given another. Absent in older journals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<u32>,
}

/// What a journal's job does: `"follow"`, `"unfollow"` or `"purge"` in its
/// header (the strings every format has written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum JobOp {
    /// Follows (a job of targets or pairs, an undo of an unfollow, a restore).
    Follow,
    /// Unfollows.
    Unfollow,
    /// Every relation of one account removed, both ways.
    Purge,
}

impl JobOp {
    /// The journal's operation of a follow or unfollow job.
    pub(crate) fn of(op: Operation) -> JobOp {
        match op {
            Operation::Follow => JobOp::Follow,
            Operation::Unfollow => JobOp::Unfollow,
        }
    }

    /// The follow or unfollow it sends; `None` for a purge.
    pub(crate) fn operation(self) -> Option<Operation> {
        match self {
            JobOp::Follow => Some(Operation::Follow),
            JobOp::Unfollow => Some(Operation::Unfollow),
            JobOp::Purge => None,
        }
    }
}

/// Which list of a purged account a listing line holds: `"following"` or
/// `"fans"` in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ListName {
    /// The accounts it follows.
    Following,
    /// The accounts that follow it.
    Fans,
}

/// What a job's input file holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Reads {
    /// One account, or one `FROM TO` pair, a line.
    #[default]
    Lines,
    /// A journal: its applied relations, reversed.
    Journal,
    /// A snapshot: its relations, re-created.
    Snapshot,
}

impl Reads {
    pub(crate) fn is_lines(&self) -> bool {
        *self == Reads::Lines
    }
}

/// The input file as it was when the job started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InputFile {
    /// The absolute path.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// The SHA-256 of its bytes, hex.
    pub sha256: String,
    /// The SHA-256 of each block, as this run's first pass read them (not
    /// journaled: each run reads the input whole first).
    #[serde(skip)]
    pub blocks: super::plan::Blocks,
}

/// One line after the header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub(crate) enum Line {
    /// A request finished: its accounts by outcome.
    Done(Done),
    /// A request is about to be sent for the first time (format 3): its
    /// answer may be lost from here on.
    Sending(Sending),
    /// Purge: one page of a list, as listed before anything was deleted.
    Listed {
        round: u32,
        list: ListName,
        ids: Vec<String>,
    },
    /// Purge: the lists of `round` are complete; its requests can start.
    Snapshot {
        round: u32,
        following: u64,
        fans: u64,
    },
}

/// A request about to be sent, written before it is: a resume that finds
/// it without the request's `done` line reads the request's accounts back
/// (the answer was lost) instead of sending them as new.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Sending {
    /// The purge round (0 for other jobs).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub round: u32,
    /// The request's index in its job (or round).
    pub r: u64,
    /// The accounts the read before sending found already in the wanted
    /// state (not sent): the prior state, kept by a resume.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_place: Vec<String>,
}

/// A finished request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Done {
    /// The purge round (0 for other jobs).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub round: u32,
    /// The request's index in its job (or round).
    pub r: u64,
    /// 0 for the request's first line; n for the n-th settling of the
    /// accounts its previous line left unknown (exactly those accounts).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retry: u32,
    /// The account the request was sent as (`From_Account`), for pairs and purges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Applied accounts.
    #[serde(default)]
    pub applied: Vec<String>,
    /// Accounts a read-back before sending found already in the wanted
    /// state (undo and restore check first): not sent, and not reversed by
    /// an undo of this job.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_place: Vec<String>,
    /// Refused accounts: account, `ResultCode`, `ResultInfo`.
    #[serde(default)]
    pub refused: Vec<(String, i64, String)>,
    /// Accounts whose outcome is not known: account, error.
    #[serde(default)]
    pub unknown: Vec<(String, String)>,
}

impl Done {
    /// The accounts the line speaks for.
    pub(crate) fn len(&self) -> usize {
        self.applied.len() + self.in_place.len() + self.refused.len() + self.unknown.len()
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// `text`, cut to at most [`MAX_REASON`] bytes on a character boundary.
pub(crate) fn reason(text: &str) -> String {
    if text.len() <= MAX_REASON {
        return text.to_string();
    }
    let mut end = MAX_REASON - 3;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// The short checksum of a line's bytes: the first 8 bytes of their
/// SHA-256, in hex.
fn checksum(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = hmac_sha256::Hash::new();
    for p in parts {
        h.update(p);
    }
    let digest = h.finalize();
    let mut hex = [0u8; 16];
    for (i, b) in digest[..8].iter().enumerate() {
        hex[2 * i] = b"0123456789abcdef"[usize::from(b >> 4)];
        hex[2 * i + 1] = b"0123456789abcdef"[usize::from(b & 15)];
    }
    hex
}

/// The field that ends every line: `,"c":"` + 16 hex digits + `"}`.
const SUM_PREFIX: &[u8] = b",\"c\":\"";
const SUM_LEN: usize = SUM_PREFIX.len() + 16 + 2;

/// A value as one journal line: its JSON object with the checksum of that
/// object as its last field, and a newline.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, JobError> {
    let mut line = serde_json::to_vec(value)
        .map_err(|e| JobError::Journal(format!("cannot encode a journal line: {e}")))?;
    if line.len() < 3 || line.pop() != Some(b'}') {
        return Err(JobError::Journal("a journal line is not an object".into()));
    }
    let sum = checksum(&[&line, b"}"]);
    line.extend_from_slice(SUM_PREFIX);
    line.extend_from_slice(&sum);
    line.extend_from_slice(b"\"}\n");
    if line.len() > MAX_LINE {
        return Err(JobError::Journal(format!(
            "a journal line of {} bytes is over the {MAX_LINE}-byte limit",
            line.len()
        )));
    }
    Ok(line)
}

/// Checks the checksum a line ends with. Format 1 lines carry none.
pub(crate) fn verify(raw: &[u8], format: u32) -> Result<(), &'static str> {
    if format < 2 {
        return Ok(());
    }
    if raw.len() < SUM_LEN + 2 {
        return Err("a line too short to be a journal line");
    }
    let (body, tail) = raw.split_at(raw.len() - SUM_LEN);
    let sum = tail
        .strip_prefix(SUM_PREFIX)
        .and_then(|t| t.strip_suffix(b"\"}"))
        .ok_or("a line without its checksum")?;
    if checksum(&[body, b"}"]) != sum {
        return Err("a line whose checksum does not match its bytes (edited or damaged)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_carries_the_checksum_of_its_own_bytes() {
        let line = encode(&Line::Snapshot {
            round: 1,
            following: 2,
            fans: 3,
        })
        .unwrap();
        let raw = &line[..line.len() - 1];
        assert!(verify(raw, 2).is_ok());
        let text = String::from_utf8(raw.to_vec()).unwrap();
        assert!(
            text.ends_with("\"}") && text.contains(",\"c\":\""),
            "{text}"
        );
        let edited = text.replace("\"fans\":3", "\"fans\":4");
        assert!(verify(edited.as_bytes(), 2).is_err());
        assert!(verify(edited.as_bytes(), 1).is_ok(), "format 1 has none");
        assert!(verify(b"{}", 2).is_err());
        // Still JSON, and still the same line to serde.
        let back: Line = serde_json::from_slice(raw).unwrap();
        assert!(matches!(back, Line::Snapshot { fans: 3, .. }));
    }

    #[test]
    fn reasons_are_cut_on_a_character_boundary() {
        assert_eq!(reason("short"), "short");
        let long = "é".repeat(600);
        let cut = reason(&long);
        assert!(cut.len() <= MAX_REASON && cut.ends_with("..."));
    }
}

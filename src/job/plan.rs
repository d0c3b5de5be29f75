//! From an input to requests: validating every line before anything is
//! sent, and cutting the lines into requests the same way on every run, so
//! that a request's index names the same accounts when the job resumes.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::format::{InputFile, PER_REQUEST};
pub(crate) use super::input::{Blocks, Checked, IndexedInput, INPUT_BLOCK};
use super::input::{Changed, Tee};
use super::JobError;
use crate::request::validate_account;

/// The longest input line read, newline excluded: an account id is at most
/// 32 bytes, so a longer line is a mistake (a binary file, a wrong column),
/// found after reading at most this much of it.
pub const MAX_INPUT_LINE: usize = 4096;

/// One request of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    /// The purge round (0 for other jobs).
    pub round: u32,
    /// Its index in the job (or round).
    pub r: u64,
    /// `From_Account`.
    pub from: String,
    /// The targets, in input order (for sorted pairs, in `TO` order).
    pub to: Vec<String>,
    /// Whether the journal records `from` (it varies from request to request).
    pub from_in_journal: bool,
    /// 0 for a first send; n for the n-th settling of accounts left unknown.
    pub retry: u32,
}

/// One valid input line: the account it names, or the pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Entry {
    Target(String),
    Pair(String, String),
}

/// Reads an entry from a line: `None` for blank and `#` comment lines.
pub(super) fn entry(line: &str, pairs: bool) -> Result<Option<Entry>, String> {
    let line = line.trim_start_matches('\u{feff}').trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let check = |id: &str| match id_problem(id) {
        None => Ok(()),
        Some(why) => Err(format!("{} is not an account id ({why})", shown(id))),
    };
    if !pairs {
        check(line)?;
        return Ok(Some(Entry::Target(line.to_string())));
    }
    let mut parts = line
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty());
    match (parts.next(), parts.next(), parts.next()) {
        (Some(from), Some(to), None) => {
            for id in [from, to] {
                check(id)?;
            }
            Ok(Some(Entry::Pair(from.to_string(), to.to_string())))
        }
        _ => Err(format!("{} is not a `FROM TO` pair", shown(line))),
    }
}

/// A piece of input for an error message: quoted, at most 40 bytes of it.
pub(crate) fn shown(text: &str) -> String {
    if text.len() <= 40 {
        return format!("{text:?}");
    }
    let mut end = 40;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}... ({} bytes)", &text[..end], text.len())
}

/// The lines of an input, numbered from 1, each at most
/// [`MAX_INPUT_LINE`] bytes: a longer one is an error naming its number and
/// showing its start, read no further.
pub(crate) struct InputLines<R> {
    reader: R,
    path: std::path::PathBuf,
    number: u64,
    buf: Vec<u8>,
    ended: bool,
    /// Bytes read so far, and where the last line read starts.
    consumed: u64,
    start: u64,
}

impl<R: BufRead> InputLines<R> {
    /// The number of the last line read.
    pub(crate) fn number(&self) -> u64 {
        self.number
    }

    pub(crate) fn new(reader: R, path: &Path) -> Self {
        InputLines {
            reader,
            path: path.to_path_buf(),
            number: 0,
            buf: Vec::new(),
            ended: false,
            consumed: 0,
            start: 0,
        }
    }

    /// The byte offset (from where reading began) of the last line read.
    pub(super) fn start(&self) -> u64 {
        self.start
    }

    fn read(&mut self) -> Result<Option<String>, JobError> {
        self.buf.clear();
        let n = (&mut self.reader)
            .take(MAX_INPUT_LINE as u64 + 2)
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| read_error(&self.path, "cannot read", e))?;
        if n == 0 {
            return Ok(None);
        }
        self.start = self.consumed;
        self.consumed += n as u64;
        self.number += 1;
        let line = match self.buf.strip_suffix(b"\n") {
            Some(l) => l.strip_suffix(b"\r").unwrap_or(l),
            None => &self.buf[..],
        };
        if line.len() > MAX_INPUT_LINE {
            let start = String::from_utf8_lossy(&line[..40]);
            return Err(JobError::InvalidInput {
                line: self.number,
                reason: format!(
                    "longer than {MAX_INPUT_LINE} bytes (an account id is at most 32); \
                     it starts with {start:?}"
                ),
            });
        }
        match std::str::from_utf8(line) {
            Ok(text) => Ok(Some(text.to_string())),
            Err(_) => Err(JobError::InvalidInput {
                line: self.number,
                reason: "not UTF-8 text".into(),
            }),
        }
    }
}

impl<R: BufRead> Iterator for InputLines<R> {
    type Item = Result<String, JobError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ended {
            return None;
        }
        let next = self.read().transpose();
        self.ended = !matches!(next, Some(Ok(_)));
        next
    }
}

/// A read of an input that failed: [`JobError::InputChanged`] for a block
/// that is not what the first pass hashed, [`JobError::Io`] otherwise.
pub(crate) fn read_error(path: &Path, what: &'static str, e: std::io::Error) -> JobError {
    match e.get_ref().and_then(|i| i.downcast_ref::<Changed>()) {
        Some(c) => JobError::InputChanged {
            path: path.to_path_buf(),
            offset: c.offset,
            block: c.block,
            size: c.size,
        },
        None => JobError::io(path, what, e),
    }
}

/// Why `id` is not a valid account id, in plain words ("account id is 33
/// bytes; at most 32 are allowed"); `None` when it is one.
pub(crate) fn id_problem(id: &str) -> Option<String> {
    match validate_account(crate::error::Field::Other("account"), id) {
        Ok(()) => None,
        Err(crate::error::Error::InvalidInput(bad)) => Some(bad.reason),
        Err(other) => Some(other.to_string()),
    }
}

/// Cuts entries into requests: 20 targets of `from`, or consecutive pairs
/// with the same `FROM` (at most 20).
pub(super) struct Cutter {
    pub(super) from: Option<String>,
    pub(super) next_r: u64,
    pub(super) open: Option<Request>,
}

impl Cutter {
    pub(super) fn new(from: Option<&str>) -> Cutter {
        Cutter {
            from: from.map(str::to_string),
            next_r: 0,
            open: None,
        }
    }

    /// Adds an entry; returns the request it closed, if any.
    pub(super) fn push(&mut self, entry: Entry) -> Option<Request> {
        let (from, to) = match entry {
            Entry::Target(to) => (self.from.clone().unwrap_or_default(), to),
            Entry::Pair(from, to) => (from, to),
        };
        let fits = self
            .open
            .as_ref()
            .is_some_and(|r| r.from == from && r.to.len() < PER_REQUEST);
        let closed = if fits { None } else { self.open.take() };
        let pairs = self.from.is_none();
        let r = &mut self.next_r;
        let open = self.open.get_or_insert_with(|| {
            *r += 1;
            Request {
                round: 0,
                r: *r - 1,
                from,
                to: Vec::with_capacity(PER_REQUEST),
                from_in_journal: pairs,
                retry: 0,
            }
        });
        open.to.push(to);
        closed
    }

    pub(super) fn finish(&mut self) -> Option<Request> {
        self.open.take()
    }
}

/// What the first pass over an input file found.
#[derive(Debug, Clone)]
pub(crate) struct Scan {
    pub input: InputFile,
    /// Valid entries.
    pub total: u64,
    /// Requests they make.
    pub requests: u64,
}

/// Reads the whole file once: every line valid (errors name the line), its
/// size and SHA-256, and how many entries and requests it makes.
pub(crate) fn scan_file(path: &Path, from: Option<&str>, block: usize) -> Result<Scan, JobError> {
    let mut tee = Tee::open(path, block)?;
    let lines = InputLines::new(BufReader::new(&mut tee), path);
    let (total, requests) = count(requests(lines, from, None))?;
    Ok(Scan {
        input: tee.input(path)?,
        total,
        requests,
    })
}

/// A file's absolute path, size and SHA-256 (and of each block), read once.
pub(crate) fn input_file(path: &Path, block: usize) -> Result<InputFile, JobError> {
    let mut tee = Tee::open(path, block)?;
    std::io::copy(&mut tee, &mut std::io::sink())
        .map_err(|e| JobError::io(path, "cannot read", e))?;
    tee.input(path)
}

/// The requests of `FROM TO` pairs that come from elsewhere than a file of
/// lines (the relations a journal applied, those of a snapshot): cut the
/// same way as a file of pairs, the first error ending them.
pub(crate) fn pair_requests(
    pairs: impl Iterator<Item = Result<(String, String), JobError>> + Send,
) -> impl Iterator<Item = Result<Request, JobError>> + Send {
    cut(
        pairs.map(|p| p.map(|(from, to)| Entry::Pair(from, to))),
        None,
    )
}

/// The `FROM TO` pairs of a file of pairs scanned before, validated as they
/// are read (a pairs job's input, to sort), each block checked against the
/// first pass before any of its lines is read: the first error ends them.
pub(crate) fn pairs_of_file(
    input: &InputFile,
    path: &Path,
) -> Result<impl Iterator<Item = Result<(String, String), JobError>> + Send, JobError> {
    let lines = InputLines::new(Checked::open(input, path)?, path);
    Ok(entries(lines, true).map(|e| e.map(Entry::into_pair)))
}

/// The `FROM TO` pairs of lines from an iterator, validated as they are
/// read: the first error ends them.
pub(crate) fn pairs_of_lines(
    lines: Box<dyn Iterator<Item = String> + Send>,
) -> impl Iterator<Item = Result<(String, String), JobError>> + Send {
    entries(lines.map(Ok), true).map(|e| e.map(Entry::into_pair))
}

impl Entry {
    /// The pair (an account of a targets file has no `FROM`: empty).
    fn into_pair(self) -> (String, String) {
        match self {
            Entry::Pair(from, to) => (from, to),
            Entry::Target(to) => (String::new(), to),
        }
    }
}

/// The accounts and requests of a stream of requests, or its first error.
pub(crate) fn count(
    requests: impl Iterator<Item = Result<Request, JobError>>,
) -> Result<(u64, u64), JobError> {
    let (mut total, mut n) = (0u64, 0u64);
    for r in requests {
        total += r?.to.len() as u64;
        n += 1;
    }
    Ok((total, n))
}

/// The requests of a file scanned before, read lazily, each block checked
/// against the first pass before any of its lines is read
/// ([`JobError::InputChanged`] when it is not the same).
pub(crate) fn from_file(
    input: &InputFile,
    path: &Path,
    from: Option<&str>,
) -> Result<impl Iterator<Item = Result<Request, JobError>> + Send, JobError> {
    let checked = Checked::open(input, path)?;
    Ok(requests(InputLines::new(checked, path), from, None))
}

/// The account ids of a file of targets: see [`read_accounts`](super::read_accounts).
pub(crate) fn accounts<R: BufRead>(
    reader: R,
    name: &Path,
) -> impl Iterator<Item = Result<String, JobError>> {
    entries(InputLines::new(reader, name), false).map(|e| {
        e.map(|e| match e {
            Entry::Target(id) | Entry::Pair(_, id) => id,
        })
    })
}

/// The requests of lines from an iterator, validated as they are read.
pub(crate) fn from_lines(
    lines: Box<dyn Iterator<Item = String> + Send>,
    from: Option<&str>,
    stop: Arc<AtomicBool>,
) -> impl Iterator<Item = Result<Request, JobError>> + Send {
    requests(lines.map(Ok), from, Some(stop))
}

/// Cuts lines into requests; an invalid line yields its error (and sets
/// `stop`, when given, so that no request after it is taken).
fn requests(
    lines: impl Iterator<Item = Result<String, JobError>> + Send,
    from: Option<&str>,
    stop: Option<Arc<AtomicBool>>,
) -> impl Iterator<Item = Result<Request, JobError>> + Send {
    let entries = entries(lines, from.is_none()).inspect(move |e| {
        if let (Err(_), Some(stop)) = (e, &stop) {
            stop.store(true, Ordering::SeqCst);
        }
    });
    cut(entries, from)
}

/// The entries of lines (blank and comment lines skipped), each error
/// naming its line; the first error ends them.
fn entries(
    lines: impl Iterator<Item = Result<String, JobError>>,
    pairs: bool,
) -> impl Iterator<Item = Result<Entry, JobError>> {
    let mut lines = lines.enumerate();
    let mut ended = false;
    std::iter::from_fn(move || {
        while !ended {
            let (i, line) = lines.next()?;
            let parsed = line.and_then(|l| {
                entry(&l, pairs).map_err(|reason| JobError::InvalidInput {
                    line: i as u64 + 1,
                    reason,
                })
            });
            match parsed {
                Ok(None) => {}
                Ok(Some(e)) => return Some(Ok(e)),
                Err(e) => {
                    ended = true;
                    return Some(Err(e));
                }
            }
        }
        None
    })
}

/// Cuts entries into requests, the same way on every run: 20 targets of
/// `from`, or consecutive pairs with the same `FROM`. The first error ends
/// them.
fn cut(
    entries: impl Iterator<Item = Result<Entry, JobError>> + Send,
    from: Option<&str>,
) -> impl Iterator<Item = Result<Request, JobError>> + Send {
    let mut cutter = Cutter::new(from);
    let mut entries = entries;
    let mut ended = false;
    std::iter::from_fn(move || {
        while !ended {
            match entries.next() {
                None => {
                    ended = true;
                    return cutter.finish().map(Ok);
                }
                Some(Err(e)) => {
                    ended = true;
                    return Some(Err(e));
                }
                Some(Ok(e)) => {
                    if let Some(closed) = cutter.push(e) {
                        return Some(Ok(closed));
                    }
                }
            }
        }
        None
    })
}

/// Which requests are finished: one bit per request, per purge round, in
/// chunks of 4,096 requests made only where a request is marked, so that
/// memory follows the lines read, whatever their numbers.
#[derive(Debug, Default)]
pub(crate) struct DoneSet {
    chunks: std::collections::HashMap<(u32, u64), Box<[u64; CHUNK_WORDS]>>,
}

/// 64 words of 64 bits: 4,096 requests a chunk.
const CHUNK_WORDS: usize = 64;
const CHUNK_BITS: u64 = 64 * CHUNK_WORDS as u64;

impl DoneSet {
    /// Marks request `r` of round 0; `false` if it was marked already.
    #[cfg(test)]
    pub(crate) fn insert(&mut self, r: u64) -> bool {
        self.insert_in(0, r)
    }

    /// Marks request `r` of `round`; `false` if it was marked already.
    pub(crate) fn insert_in(&mut self, round: u32, r: u64) -> bool {
        let chunk = self
            .chunks
            .entry((round, r / CHUNK_BITS))
            .or_insert_with(|| Box::new([0; CHUNK_WORDS]));
        let at = r % CHUNK_BITS;
        let (word, bit) = ((at / 64) as usize, at % 64);
        let was = chunk[word] & (1 << bit) != 0;
        chunk[word] |= 1 << bit;
        !was
    }

    /// Whether request `r` of `round` is finished.
    pub(crate) fn contains_in(&self, round: u32, r: u64) -> bool {
        let at = r % CHUNK_BITS;
        self.chunks
            .get(&(round, r / CHUNK_BITS))
            .is_some_and(|c| c[(at / 64) as usize] & (1 << (at % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(lines: &[&str], from: Option<&str>) -> Vec<Request> {
        let lines: Vec<Result<String, JobError>> =
            lines.iter().map(|l| Ok(l.to_string())).collect();
        requests(lines.into_iter(), from, None)
            .map(|r| r.unwrap())
            .collect()
    }

    #[test]
    fn targets_make_requests_of_20_in_input_order() {
        let lines: Vec<String> = (0..45).map(|i| format!("u{i}")).collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let reqs = cut(&refs, Some("me"));
        let sizes: Vec<usize> = reqs.iter().map(|r| r.to.len()).collect();
        assert_eq!(sizes, [20, 20, 5]);
        assert_eq!(reqs.iter().map(|r| r.r).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(reqs[2].to[4], "u44");
        assert!(reqs.iter().all(|r| r.from == "me" && !r.from_in_journal));
    }

    #[test]
    fn consecutive_pairs_with_one_from_share_a_request() {
        let reqs = cut(&["a x", "a y", "b x", "# note", "", "a z"], None);
        let got: Vec<(&str, usize)> = reqs.iter().map(|r| (r.from.as_str(), r.to.len())).collect();
        assert_eq!(got, [("a", 2), ("b", 1), ("a", 1)]);
        assert!(reqs.iter().all(|r| r.from_in_journal));
    }

    #[test]
    fn bad_lines_are_named_by_number() {
        let lines = vec![Ok("a".to_string()), Ok("".into()), Ok("x".repeat(40))];
        let got: Vec<_> = requests(lines.into_iter(), Some("me"), None).collect();
        match got.last() {
            Some(Err(JobError::InvalidInput { line: 3, reason })) => {
                assert!(reason.contains("40 bytes"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        assert!(entry("a b c", true).is_err());
        assert!(
            entry("\u{feff}alice", false).unwrap().is_some(),
            "a BOM is dropped"
        );
    }

    #[test]
    fn the_done_set_is_one_bit_per_request_per_round() {
        let mut d = DoneSet::default();
        assert!(d.insert(130) && !d.insert(130));
        assert!(d.contains_in(0, 130) && !d.contains_in(0, 129) && !d.contains_in(0, 100_000));
        assert!(d.insert_in(2, 5) && d.contains_in(2, 5) && !d.contains_in(1, 5));
        assert!(d.insert(u64::MAX) && d.contains_in(0, u64::MAX));
        assert_eq!(d.chunks.len(), 3, "a chunk where a request is marked");
    }
}

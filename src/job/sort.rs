//! Pairs grouped by `FROM` whatever the input's order: an external sort
//! with bounded memory. The pairs are read in runs of at most
//! [`SortSpec::run`] pairs, each sorted in memory (by `FROM`, then `TO`,
//! byte order) with its repeats dropped and spilled to a temporary file next
//! to the journal; the runs are then merged (at most [`FAN_IN`] at once),
//! repeats across runs dropped too, and cut into requests of up to 20
//! targets of one `FROM`.
//!
//! The order is a function of the set of pairs alone (not of the run size,
//! nor of the input's order), so a resume cuts the same requests: request
//! `r` names the same accounts on every run. A job's journal header says
//! it is sorted (`"sorted":{"run":N}`); a pairs journal without it was cut
//! the old way (consecutive pairs) and is resumed that way.
//!
//! The spilled runs are removed when the job ends, however it returns; the
//! runs of a process that was killed are removed by the next job that
//! holds the journal's lock.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::format::{Header, Reads};
use super::journal::Reader;
use super::plan::{self, Request};
use super::{snapshot, undo, JobError};

/// How a pairs job's input was sorted, as its journal header records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SortSpec {
    /// The most pairs sorted in memory at once (one run).
    pub run: u64,
}

/// The default run: 262,144 pairs, at most 66 bytes each in memory plus a
/// 4-byte offset (about 18 MiB with 32-byte ids, 7 MiB with 12-byte ones).
pub(crate) const DEFAULT_RUN: usize = 1 << 18;

/// The largest run a header may ask for (its arena stays under 4 GiB).
pub(crate) const MAX_RUN: u64 = 1 << 24;

/// The most runs merged at once; more are merged in passes of this many.
pub(crate) const FAN_IN: usize = 64;

/// Buffer of each run file, read or written.
const BUFFER: usize = 64 * 1024;

type Pair = (String, String);

/// Checks a header's sort: only a pairs job is sorted, with a run from 1 to
/// [`MAX_RUN`] pairs.
pub(crate) fn check_header(header: &Header) -> Result<(), String> {
    match header.sorted {
        None => Ok(()),
        Some(_) if !header.pairs => Err("a sorted job that is not of pairs".into()),
        Some(s) if s.run == 0 || s.run > MAX_RUN => {
            Err(format!("a sort run of {} pairs (1 to {MAX_RUN})", s.run))
        }
        Some(_) => Ok(()),
    }
}

/// Where a sort spills its runs: `.NAME.sort-TAG-K` in a directory, TAG
/// unique to this sort (the process id and a random number).
#[derive(Debug, Clone)]
pub(crate) struct Spill {
    dir: PathBuf,
    name: String,
    tag: String,
}

impl Spill {
    /// Next to the journal at `journal`.
    pub(crate) fn next_to(journal: &Path) -> Spill {
        let dir = journal
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let name = journal
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        Spill::new(dir, name)
    }

    /// In the system's temporary directory (a job without a journal).
    pub(crate) fn temporary() -> Spill {
        Spill::new(std::env::temp_dir(), "tim-follow-pairs".into())
    }

    fn new(dir: PathBuf, name: String) -> Spill {
        let tag = format!("{}-{:08x}", std::process::id(), fastrand::u32(..));
        Spill { dir, name, tag }
    }

    fn prefix(&self) -> String {
        format!(".{}.sort-", self.name)
    }

    fn path(&self, k: usize) -> PathBuf {
        self.dir.join(format!("{}{}-{k}", self.prefix(), self.tag))
    }

    /// Removes the runs other sorts left next to the journal (a process
    /// killed during its job): called once the journal's lock is held, so
    /// no other job is using them. Returns how many were removed.
    pub(crate) fn remove_stale(&self) -> usize {
        let prefix = self.prefix();
        let own = format!("{prefix}{}-", self.tag);
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut removed = 0;
        for entry in entries.flatten().take(1_000_000) {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(&prefix)
                && !name.starts_with(&own)
                && entry.file_type().is_ok_and(|t| t.is_file())
                && std::fs::remove_file(entry.path()).is_ok()
            {
                removed += 1;
            }
        }
        removed
    }
}

/// Pairs in memory: each record `len FROM len TO` packed in one arena, and
/// the offsets of the records, sorted.
#[derive(Debug, Default)]
struct Batch {
    arena: Vec<u8>,
    offsets: Vec<u32>,
}

impl Batch {
    fn push(&mut self, from: &str, to: &str) {
        self.offsets.push(self.arena.len() as u32);
        for id in [from, to] {
            self.arena.push(id.len() as u8);
            self.arena.extend_from_slice(id.as_bytes());
        }
    }

    /// The record at `at`: its two ids' bytes, and its length.
    fn key(&self, at: u32) -> (&[u8], &[u8], usize) {
        let a = &self.arena[at as usize..];
        let f = usize::from(a[0]);
        let t = usize::from(a[1 + f]);
        (&a[1..1 + f], &a[2 + f..2 + f + t], 2 + f + t)
    }

    /// Sorts the offsets by (FROM, TO) and drops repeats.
    fn sort(&mut self) {
        let mut offsets = std::mem::take(&mut self.offsets);
        offsets.sort_unstable_by(|&a, &b| {
            let (af, at, _) = self.key(a);
            let (bf, bt, _) = self.key(b);
            (af, at).cmp(&(bf, bt))
        });
        offsets.dedup_by(|a, b| {
            let (af, at, _) = self.key(*a);
            let (bf, bt, _) = self.key(*b);
            (af, at) == (bf, bt)
        });
        self.offsets = offsets;
    }

    fn clear(&mut self) {
        self.arena.clear();
        self.offsets.clear();
    }

    fn pair(&self, i: usize) -> Pair {
        let (f, t, _) = self.key(self.offsets[i]);
        // Both were `&str` when pushed, and an id never splits.
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (text(f), text(t))
    }
}

/// The pairs of a job's input, sorted: spilled runs (or, when it fitted in
/// one run, the run in memory), with the counts their requests make. The
/// run files are removed when it is dropped.
#[derive(Debug)]
pub(crate) struct SortedPairs {
    /// How it was sorted.
    pub(crate) spec: SortSpec,
    spill: Spill,
    runs: Vec<PathBuf>,
    memory: Option<Arc<Batch>>,
    /// Distinct pairs.
    pub(crate) total: u64,
    /// Requests they make.
    pub(crate) requests: u64,
    /// The most pairs held in memory at once while sorting.
    pub(crate) peak_in_memory: usize,
    /// Runs spilled to disk (merging passes included), and their bytes.
    pub(crate) spilled: (usize, u64),
    next_file: usize,
}

impl Drop for SortedPairs {
    fn drop(&mut self) {
        for run in &self.runs {
            let _ = std::fs::remove_file(run);
        }
    }
}

impl SortedPairs {
    /// Sorts `pairs` (the first error ends it, and is returned) in runs of
    /// at most `run` pairs spilled by `spill`.
    pub(crate) fn sort(
        pairs: impl Iterator<Item = Result<Pair, JobError>>,
        spill: Spill,
        run: usize,
    ) -> Result<SortedPairs, JobError> {
        let run = run.clamp(1, MAX_RUN as usize);
        let mut sorted = SortedPairs {
            spec: SortSpec { run: run as u64 },
            spill,
            runs: Vec::new(),
            memory: None,
            total: 0,
            requests: 0,
            peak_in_memory: 0,
            spilled: (0, 0),
            next_file: 0,
        };
        let mut batch = Batch::default();
        for pair in pairs {
            let (from, to) = pair?;
            if from.len() > 255 || to.len() > 255 {
                // Validated ids are at most 32 bytes; this keeps the
                // record format honest whatever the caller gave.
                return Err(JobError::InvalidInput {
                    line: 0,
                    reason: format!("a pair with an id over 255 bytes ({from:?})"),
                });
            }
            batch.push(&from, &to);
            sorted.peak_in_memory = sorted.peak_in_memory.max(batch.offsets.len());
            if batch.offsets.len() >= run {
                batch.sort();
                sorted.spill_batch(&batch)?;
                batch.clear();
            }
        }
        batch.sort();
        if sorted.runs.is_empty() {
            batch.arena.shrink_to_fit();
            sorted.memory = Some(Arc::new(batch));
        } else {
            if !batch.offsets.is_empty() {
                sorted.spill_batch(&batch)?;
            }
            drop(batch);
        }
        while sorted.runs.len() > FAN_IN {
            let first: Vec<PathBuf> = sorted.runs.drain(..FAN_IN).collect();
            let merged = Merge::open(&first, None)?;
            let written = sorted.write_run(merged);
            for f in &first {
                let _ = std::fs::remove_file(f);
            }
            written?;
        }
        let (total, requests) = plan::count(sorted.requests_iter()?)?;
        sorted.total = total;
        sorted.requests = requests;
        Ok(sorted)
    }

    fn spill_batch(&mut self, batch: &Batch) -> Result<(), JobError> {
        let pairs = (0..batch.offsets.len()).map(|i| Ok(batch.pair(i)));
        self.write_run(pairs)
    }

    /// Writes sorted pairs as the next run file.
    fn write_run(
        &mut self,
        pairs: impl Iterator<Item = Result<Pair, JobError>>,
    ) -> Result<(), JobError> {
        let path = self.spill.path(self.next_file);
        self.next_file += 1;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        // The pairs are the user's data: for the user alone (the system's
        // temporary directory is shared).
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options
            .open(&path)
            .map_err(|e| JobError::io(&path, "cannot create the sort's run", e))?;
        // Listed before it is written: removed on any error from here.
        self.runs.push(path.clone());
        let mut out = BufWriter::with_capacity(BUFFER, file);
        let mut bytes = 0u64;
        let mut record = Vec::with_capacity(2 + 2 * 255);
        for pair in pairs {
            let (from, to) = pair?;
            record.clear();
            for id in [&from, &to] {
                record.push(id.len() as u8);
                record.extend_from_slice(id.as_bytes());
            }
            out.write_all(&record)
                .map_err(|e| JobError::io(&path, "cannot write the sort's run", e))?;
            bytes += record.len() as u64;
        }
        out.flush()
            .map_err(|e| JobError::io(&path, "cannot write the sort's run", e))?;
        self.spilled.0 += 1;
        self.spilled.1 += bytes;
        Ok(())
    }

    /// The distinct pairs, in order, read from the runs.
    pub(crate) fn pairs(
        &self,
    ) -> Result<impl Iterator<Item = Result<Pair, JobError>> + Send + 'static, JobError> {
        Merge::open(&self.runs, self.memory.clone())
    }

    fn requests_iter(
        &self,
    ) -> Result<impl Iterator<Item = Result<Request, JobError>> + Send + 'static, JobError> {
        Ok(plan::pair_requests(self.pairs()?))
    }

    /// The job's requests: the pairs of one `FROM` together, 20 a request.
    pub(crate) fn requests(
        &self,
    ) -> Result<Box<dyn Iterator<Item = Result<Request, JobError>> + Send>, JobError> {
        Ok(Box::new(self.requests_iter()?))
    }

    /// The spill of this sort (to remove stale runs once the lock is held).
    pub(crate) fn spill(&self) -> &Spill {
        &self.spill
    }
}

/// One sorted source of pairs: a run file or the run in memory.
enum Cursor {
    File(BufReader<File>, PathBuf),
    Memory(Arc<Batch>, usize),
}

impl Cursor {
    fn next(&mut self) -> Result<Option<Pair>, JobError> {
        match self {
            Cursor::Memory(batch, i) => {
                if *i >= batch.offsets.len() {
                    return Ok(None);
                }
                *i += 1;
                Ok(Some(batch.pair(*i - 1)))
            }
            Cursor::File(file, path) => {
                let damaged = |why: &str| {
                    JobError::io(
                        path,
                        "cannot read the sort's run",
                        std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string()),
                    )
                };
                let mut ids: [String; 2] = Default::default();
                for (k, id) in ids.iter_mut().enumerate() {
                    let mut len = [0u8; 1];
                    match file.read(&mut len) {
                        Ok(0) if k == 0 => return Ok(None),
                        Ok(0) => return Err(damaged("cut short")),
                        Ok(_) => {}
                        Err(e) => return Err(JobError::io(path, "cannot read the sort's run", e)),
                    }
                    if len[0] == 0 {
                        return Err(damaged("an empty id"));
                    }
                    let mut bytes = vec![0u8; usize::from(len[0])];
                    file.read_exact(&mut bytes)
                        .map_err(|e| JobError::io(path, "cannot read the sort's run", e))?;
                    *id = String::from_utf8(bytes).map_err(|_| damaged("an id not UTF-8"))?;
                }
                let [from, to] = ids;
                Ok(Some((from, to)))
            }
        }
    }
}

/// The k-way merge of sorted sources, repeats dropped.
struct Merge {
    cursors: Vec<Cursor>,
    heap: BinaryHeap<Reverse<(Pair, usize)>>,
    last: Option<Pair>,
    ended: bool,
}

impl Merge {
    fn open(runs: &[PathBuf], memory: Option<Arc<Batch>>) -> Result<Merge, JobError> {
        let mut cursors = Vec::with_capacity(runs.len() + 1);
        for path in runs {
            let file = File::open(path)
                .map_err(|e| JobError::io(path, "cannot open the sort's run", e))?;
            cursors.push(Cursor::File(
                BufReader::with_capacity(BUFFER, file),
                path.clone(),
            ));
        }
        if let Some(batch) = memory {
            cursors.push(Cursor::Memory(batch, 0));
        }
        let mut heap = BinaryHeap::with_capacity(cursors.len());
        for (i, c) in cursors.iter_mut().enumerate() {
            if let Some(pair) = c.next()? {
                heap.push(Reverse((pair, i)));
            }
        }
        Ok(Merge {
            cursors,
            heap,
            last: None,
            ended: false,
        })
    }

    fn step(&mut self) -> Result<Option<Pair>, JobError> {
        while let Some(Reverse((pair, i))) = self.heap.pop() {
            if let Some(next) = self.cursors[i].next()? {
                self.heap.push(Reverse((next, i)));
            }
            if self.last.as_ref() == Some(&pair) {
                continue;
            }
            self.last = Some(pair.clone());
            return Ok(Some(pair));
        }
        Ok(None)
    }
}

impl Iterator for Merge {
    type Item = Result<Pair, JobError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ended {
            return None;
        }
        let next = self.step().transpose();
        self.ended = !matches!(next, Some(Ok(_)));
        next
    }
}

/// The pairs of a job's input, as read before sorting.
fn input_pairs(
    header: &Header,
    path: &Path,
) -> Result<Box<dyn Iterator<Item = Result<Pair, JobError>> + Send>, JobError> {
    // Each read block by block as the first pass hashed it.
    let input = header
        .input
        .as_ref()
        .ok_or_else(|| JobError::Journal("the job names no input file".into()))?;
    Ok(match header.reads {
        Reads::Lines => Box::new(plan::pairs_of_file(input, &input.path)?),
        Reads::Journal => Box::new(undo::applied_pairs(path, input)?),
        Reads::Snapshot => Box::new(snapshot::pairs(path, input)?),
    })
}

/// Sorts a pairs job's input and records it in `header` (its sort, and the
/// distinct pairs and the requests they make), unless the job's journal
/// exists and was cut the old way (consecutive pairs, no `sorted` in its
/// header): then `None`, and the job goes on that way. A journal that
/// exists keeps its run size; a new job takes `run` (or the default).
/// Not a pairs job: `None`.
pub(crate) fn sort_job(
    header: &mut Header,
    path: &Path,
    journal: Option<&Path>,
    run: Option<usize>,
) -> Result<Option<SortedPairs>, JobError> {
    if !header.pairs {
        return Ok(None);
    }
    let mut run = run.unwrap_or(DEFAULT_RUN);
    if let Some(j) = journal.filter(|j| j.exists()) {
        // The journal's own checks come when it is opened.
        if let Ok((found, _)) = Reader::open(j) {
            if found.pairs {
                match found.sorted {
                    Some(s) => run = s.run as usize,
                    None => return Ok(None),
                }
            }
        }
    }
    // Next to the journal; in the temporary directory when the journal's
    // directory is not there (a preview of a job yet to be run).
    let spill = match journal {
        Some(j) if Spill::next_to(j).dir.is_dir() => Spill::next_to(j),
        _ => Spill::temporary(),
    };
    let sorted = SortedPairs::sort(input_pairs(header, path)?, spill, run)?;
    header.sorted = Some(sorted.spec);
    header.total = sorted.total;
    header.requests = sorted.requests;
    Ok(Some(sorted))
}

/// Sorts the pairs of lines read from an iterator (a job without a
/// journal): every line read and validated first.
pub(crate) fn sort_lines(
    lines: Box<dyn Iterator<Item = String> + Send>,
    run: Option<usize>,
) -> Result<SortedPairs, JobError> {
    SortedPairs::sort(
        plan::pairs_of_lines(lines),
        Spill::temporary(),
        run.unwrap_or(DEFAULT_RUN),
    )
}

/// What planning a file of pairs took: for benchmarks of the sort alone.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SortReport {
    /// Distinct pairs.
    pub pairs: u64,
    /// Requests they make.
    pub requests: u64,
    /// Runs spilled to disk (merging passes included).
    pub runs: usize,
    /// Bytes of those runs.
    pub spilled_bytes: u64,
}

/// Plans a pairs job's file as a job does before its first request, with
/// nothing sent: reads it whole (every line valid, its SHA-256), sorts it
/// in runs of `run` pairs (`None`: the default) spilled next to `journal`
/// (which is not created), counts its requests, and reads them all once
/// more, as the sending does. The runs are removed before it returns. For
/// benchmarks of the sort's time, memory and disk.
#[doc(hidden)]
pub fn plan_pairs_file(
    input: &Path,
    journal: &Path,
    run: Option<usize>,
) -> Result<SortReport, JobError> {
    let scan = plan::scan_file(input, None, plan::INPUT_BLOCK)?;
    let sorted = SortedPairs::sort(
        plan::pairs_of_file(&scan.input, input)?,
        Spill::next_to(journal),
        run.unwrap_or(DEFAULT_RUN),
    )?;
    let (pairs, requests) = plan::count(sorted.requests()?)?;
    debug_assert_eq!((pairs, requests), (sorted.total, sorted.requests));
    Ok(SortReport {
        pairs,
        requests,
        runs: sorted.spilled.0,
        spilled_bytes: sorted.spilled.1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tim-follow-sort-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn shuffled(n_from: usize, per: usize, seed: u64) -> Vec<Pair> {
        let mut pairs: Vec<Pair> = (0..n_from)
            .flat_map(|f| (0..per).map(move |t| (format!("f{f:03}"), format!("t{t:04}"))))
            .collect();
        fastrand::Rng::with_seed(seed).shuffle(&mut pairs);
        pairs
    }

    /// Each sort spills under a tag of its own, as each job does.
    fn sorted(pairs: &[Pair], spill: &Spill, run: usize) -> SortedPairs {
        let spill = Spill::new(spill.dir.clone(), spill.name.clone());
        SortedPairs::sort(pairs.iter().cloned().map(Ok), spill, run).unwrap()
    }

    fn requests_of(s: &SortedPairs) -> Vec<Request> {
        s.requests().unwrap().map(Result::unwrap).collect()
    }

    #[test]
    fn shuffled_pairs_come_out_grouped_and_the_same_whatever_the_run_or_the_order() {
        let d = dir("grouped");
        let spill = Spill::next_to(&d.join("job.journal"));
        let pairs = shuffled(20, 100, 7);
        let in_memory = sorted(&pairs, &spill, DEFAULT_RUN);
        assert_eq!(in_memory.spilled.0, 0, "2,000 pairs fit in one run");
        assert_eq!((in_memory.total, in_memory.requests), (2000, 100));
        let spilled = sorted(&pairs, &spill, 64);
        assert_eq!(spilled.spilled.0, 2000usize.div_ceil(64));
        assert!(spilled.peak_in_memory <= 64, "{}", spilled.peak_in_memory);
        let other_order = sorted(&shuffled(20, 100, 99), &spill, 300);
        let a = requests_of(&in_memory);
        assert_eq!(a, requests_of(&spilled));
        assert_eq!(a, requests_of(&other_order));
        assert!(a.iter().all(|r| r.to.len() == 20 && r.from_in_journal));
        assert_eq!(
            a.iter().map(|r| r.r).collect::<Vec<_>>(),
            (0..100).collect::<Vec<_>>()
        );
        drop((in_memory, spilled, other_order));
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0, "runs removed");
    }

    #[test]
    fn repeats_are_dropped_within_and_across_runs() {
        let d = dir("repeats");
        let spill = Spill::next_to(&d.join("j"));
        let mut pairs = shuffled(3, 10, 1);
        pairs.extend(shuffled(3, 10, 2));
        pairs.push(("f000".into(), "t0000".into()));
        for run in [4, 7, 1000] {
            let s = sorted(&pairs, &spill, run);
            assert_eq!((s.total, s.requests), (30, 3), "run {run}");
            let all: Vec<Pair> = s.pairs().unwrap().map(Result::unwrap).collect();
            let mut want = all.clone();
            want.sort();
            want.dedup();
            assert_eq!(all, want);
        }
    }

    #[test]
    fn more_runs_than_the_fan_in_are_merged_in_passes() {
        let d = dir("passes");
        let spill = Spill::next_to(&d.join("j"));
        let pairs = shuffled(10, 70, 3);
        let s = sorted(&pairs, &spill, 5);
        assert!(s.spilled.0 > FAN_IN + 1, "{:?}", s.spilled);
        assert!(s.runs.len() <= FAN_IN);
        assert_eq!((s.total, s.requests), (700, 40));
        assert_eq!(
            requests_of(&s),
            requests_of(&sorted(&pairs, &spill, 10_000))
        );
    }

    #[test]
    fn stale_runs_are_removed_and_own_kept() {
        let d = dir("stale");
        let journal = d.join("job.journal");
        std::fs::write(d.join(".job.journal.sort-1-00000000-0"), b"x").unwrap();
        std::fs::write(d.join("job.journal"), b"").unwrap();
        std::fs::write(d.join(".other.sort-1-00000000-0"), b"x").unwrap();
        let spill = Spill::next_to(&journal);
        let s = SortedPairs::sort(shuffled(2, 30, 4).into_iter().map(Ok), spill, 10).unwrap();
        assert_eq!(s.spill().remove_stale(), 1);
        assert_eq!(s.runs.iter().filter(|r| r.exists()).count(), 6);
        assert!(d.join(".other.sort-1-00000000-0").exists());
    }

    #[test]
    fn a_damaged_run_is_an_error_not_a_panic() {
        let d = dir("damaged");
        let s = sorted(&shuffled(2, 30, 5), &Spill::next_to(&d.join("j")), 10);
        std::fs::write(&s.runs[0], [5u8, b'a']).unwrap();
        let err = match s.pairs() {
            Ok(mut pairs) => pairs.find_map(Result::err).expect("an error"),
            Err(e) => e,
        };
        assert!(err.to_string().contains("sort's run"), "{err}");
    }

    #[test]
    fn a_header_sort_is_checked() {
        let mut h = Header {
            tim_follow_job: 3,
            operation: super::super::format::JobOp::Follow,
            from: None,
            pairs: true,
            sdkappid: 1,
            input: None,
            total: 0,
            requests: 0,
            reads: Reads::Lines,
            check_first: false,
            reverse_all_applied: false,
            sorted: Some(SortSpec { run: 10 }),
            rate_limit: None,
        };
        assert!(check_header(&h).is_ok());
        h.sorted = Some(SortSpec { run: 0 });
        assert!(check_header(&h).is_err());
        h.sorted = Some(SortSpec { run: 10 });
        h.pairs = false;
        assert!(check_header(&h).is_err());
    }
}

//! Undo: the relations a journal's job applied, in journal order, as the
//! `FROM TO` pairs of a job that reverses them. What the job was asked but
//! did not apply (refused, unknown, never sent) is not reversed, nor what a
//! read-back found already in place before sending.

use std::collections::VecDeque;
use std::path::Path;

use super::format::{Done, Header, InputFile, JobOp, Line, Reads};
use super::journal::Reader;
use super::plan::{Checked, IndexedInput};
use super::{JobError, Operation};

/// The operation that reverses the job of `header`: a follow is undone by
/// an unfollow; an unfollow and a purge by follows.
pub(crate) fn reverse(header: &Header) -> Operation {
    match header.operation {
        JobOp::Follow => Operation::Unfollow,
        JobOp::Unfollow | JobOp::Purge => Operation::Follow,
    }
}

/// The operation a journal's job undoes, from its header alone.
pub(crate) fn operation_of(path: &Path) -> Result<Operation, JobError> {
    let (header, _) = Reader::open(path)?;
    Ok(reverse(&header))
}

/// Refuses to undo a follow or unfollow job that did not read each
/// request's accounts before sending it, unless told to reverse every
/// applied account: the service answers a follow of an account already
/// followed (an unfollow of one not followed) as applied, so its journal
/// cannot tell what the job changed from what was already as wanted. An
/// undo, a restore and a purge journal are exact (read first, or listed).
pub(crate) fn check_exact(path: &Path, reverse_all_applied: bool) -> Result<(), JobError> {
    let (header, _) = Reader::open(path)?;
    let lines = header.reads == Reads::Lines && header.operation != JobOp::Purge;
    if lines && !header.check_first && !reverse_all_applied {
        return Err(JobError::PriorStateUnknown {
            journal: path.to_path_buf(),
        });
    }
    Ok(())
}

/// The applied relations of the journal at `path` as `(FROM, TO)` pairs,
/// streamed: each line of a request names its `From_Account` (or the
/// header does, for a job of one source account). For a purge, its
/// following come back as `(account, followed)` and its fans as
/// `(fan, account)`: following them again reverses both.
pub(crate) fn applied_pairs(
    path: &Path,
    input: &InputFile,
) -> Result<impl Iterator<Item = Result<(String, String), JobError>> + Send, JobError> {
    let checked = Checked::open(input, path)?;
    let (header, mut reader) = Reader::from_reader(checked, &path.display().to_string())?;
    let default_from = header.from.clone().unwrap_or_default();
    let mut input = job_input(&header)?;
    let mut queue = VecDeque::new();
    let mut ended = false;
    let journal = path.to_path_buf();
    Ok(std::iter::from_fn(move || loop {
        if let Some(pair) = queue.pop_front() {
            return Some(Ok(pair));
        }
        if ended {
            return None;
        }
        match reader.next_line() {
            Ok(Some(Line::Done(d))) => {
                let from = d.from.clone().unwrap_or_else(|| default_from.clone());
                if let Some(input) = &mut input {
                    if let Err(e) = in_input(input, &journal, &d, &from) {
                        ended = true;
                        return Some(Err(e));
                    }
                }
                queue.extend(d.applied.into_iter().map(|to| (from.clone(), to)));
            }
            Ok(Some(_)) => {}
            Ok(None) => ended = true,
            Err(e) => {
                ended = true;
                return Some(Err(e));
            }
        }
    }))
}

/// The input file of a follow or unfollow job (a file of ids or pairs, the
/// snapshot of a restore), indexed by request, when it is still there and
/// unchanged (its size and SHA-256 the journal's): `None` otherwise, and
/// for a purge and for an undo (of an undo). A pairs job whose requests
/// were cut after a sort is sorted again the same way (its request numbers
/// follow the sort, not the file).
fn job_input(header: &Header) -> Result<Option<IndexedInput>, JobError> {
    let Some(recorded) = &header.input else {
        return Ok(None);
    };
    if header.reads == Reads::Journal
        || header.operation == JobOp::Purge
        || !recorded.path.is_file()
    {
        return Ok(None);
    }
    if let Some(spec) = &header.sorted {
        return sorted_input(header, recorded, spec.run);
    }
    let from = if header.pairs {
        None
    } else {
        header.from.as_deref()
    };
    let indexed = match header.reads {
        Reads::Snapshot => IndexedInput::open_snapshot(&recorded.path),
        _ => IndexedInput::open(&recorded.path, from),
    };
    match indexed {
        Ok((indexed, now)) if now.size == recorded.size && now.sha256 == recorded.sha256 => {
            Ok(Some(indexed))
        }
        // Changed, unreadable or no longer valid: not the job's input.
        _ => Ok(None),
    }
}

/// The requests of a sorted pairs job, sorted again from its input when
/// that is unchanged, each block read as it was just hashed.
fn sorted_input(
    header: &Header,
    recorded: &InputFile,
    run: u64,
) -> Result<Option<IndexedInput>, JobError> {
    let path = &recorded.path;
    let Ok(now) = super::plan::input_file(path, super::plan::INPUT_BLOCK) else {
        return Ok(None);
    };
    if now.size != recorded.size || now.sha256 != recorded.sha256 {
        return Ok(None);
    }
    let pairs: Box<dyn Iterator<Item = Result<(String, String), JobError>> + Send> =
        match header.reads {
            Reads::Snapshot => Box::new(super::snapshot::pairs(path, &now)?),
            _ => Box::new(super::plan::pairs_of_file(&now, path)?),
        };
    let spill = super::sort::Spill::temporary();
    let sorted = super::sort::SortedPairs::sort(pairs, spill, run as usize)?;
    Ok(Some(IndexedInput::of_sorted(sorted.pairs()?, path)?))
}

/// Refuses a line whose applied accounts are not in its request as the
/// job's input cuts it: a journal line forged or damaged (with its
/// checksum recomputed) would reverse a relation the job never touched.
fn in_input(
    input: &mut IndexedInput,
    journal: &Path,
    line: &Done,
    from: &str,
) -> Result<(), JobError> {
    let request = input.request(line.r)?;
    let held = |account: &String| {
        request
            .as_ref()
            .is_some_and(|q| q.from == from && q.to.contains(account))
    };
    match line.applied.iter().find(|a| !held(a)) {
        None => Ok(()),
        Some(account) => Err(JobError::Journal(format!(
            "damaged journal {}: request {} journals {from} -> {account} applied, \
             but that request of the job's input {} does not hold it",
            journal.display(),
            line.r,
            input.path().display()
        ))),
    }
}

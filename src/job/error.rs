//! Why a job could not run or go on.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::Error;

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
    /// Reading the input or writing the journal failed. Its message names
    /// the file and what was being done; the system's error is its
    /// [`source`](std::error::Error::source).
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// An undo of a journal whose job did not read each account before
    /// changing it ([`Job::check_first`](super::Job::check_first) off): it
    /// cannot tell what the job changed from what was already as wanted.
    /// [`Job::reverse_all_applied`](super::Job::reverse_all_applied)
    /// reverses every applied account anyway. Found before any request.
    PriorStateUnknown {
        /// The journal to undo.
        journal: PathBuf,
    },
    /// The input file changed while the job read it again for sending: a
    /// block of it is not what the first pass read and hashed. The job
    /// stopped before any line of that block was sent; what was sent
    /// before it came from the input as hashed.
    InputChanged {
        /// The input file.
        path: PathBuf,
        /// The first byte of the changed block.
        offset: u64,
        /// The block's number (from 0).
        block: u64,
        /// The file's size on the first pass.
        size: u64,
    },
    /// A journal or snapshot made for another app than the client's
    /// (its SDKAppID is not the credentials'): an undo, a restore or a
    /// resume of it would write to the wrong app. Found before any request.
    OtherApp {
        /// `"journal"` or `"snapshot"`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The SDKAppID it records.
        made_for: u64,
        /// The client's SDKAppID.
        credentials: u64,
    },
    /// A call the job needed failed (for a purge: listing an account).
    /// Transparent: its message and its source are the call's error's.
    Client(Error),
}

impl JobError {
    pub(crate) fn io(path: &Path, what: &'static str, source: std::io::Error) -> JobError {
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
            JobError::Io { path, what, .. } => write!(f, "{what} {}", path.display()),
            JobError::InUse { path, pid } => {
                write!(f, "journal {} is in use by ", path.display())?;
                match pid {
                    Some(pid) => write!(f, "process {pid}"),
                    None => f.write_str("another process"),
                }
            }
            JobError::PriorStateUnknown { journal } => write!(
                f,
                "the job of {} did not read each account before changing it \
                 (check_first was off): its journal cannot tell the relations \
                 it changed from those that were already as wanted, and an \
                 undo would reverse both; reverse_all_applied reverses every \
                 applied account",
                journal.display()
            ),
            JobError::InputChanged {
                path,
                offset,
                block,
                size,
            } => write!(
                f,
                "the input {} changed while the job ran: its bytes from offset {offset} \
                 (block {block}) are not those the job read and hashed first (the file \
                 had {size} bytes then); nothing of them was sent. Put the file back as \
                 it was and resume, or start a new journal",
                path.display()
            ),
            JobError::OtherApp {
                what,
                path,
                made_for,
                credentials,
            } => write!(
                f,
                "the {what} {} was made for SDKAppID {made_for}; these credentials are for \
                 {credentials}",
                path.display()
            ),
            // Transparent: the call's own error says what failed.
            JobError::Client(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for JobError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JobError::Io { source, .. } => Some(source),
            JobError::Client(e) => std::error::Error::source(e),
            _ => None,
        }
    }
}

impl From<Error> for JobError {
    fn from(e: Error) -> Self {
        JobError::Client(e)
    }
}

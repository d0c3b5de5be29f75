//! The journal of a job: an append-only JSON Lines file. The first line says
//! what the job is; then one line per finished request (and, for a purge,
//! the snapshot of the lists it works through).
//!
//! Each line is written whole with one `write` call, with nothing left in a
//! user-space buffer; a thread of its own flushes the file to disk
//! (`fdatasync`) within a second of each write, and it is flushed when the
//! job stops. A crash can tear only the last line,
//! which reading ignores (and resuming cuts off before appending). The
//! journal never holds the UserSig or the SecretKey.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::JobError;
use crate::sync::lock;

/// The format version written in every header.
pub(crate) const FORMAT: u32 = 1;

/// What a job is: the first line of its journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Header {
    /// [`FORMAT`].
    pub tim_follow_job: u32,
    /// `follow`, `unfollow` or `purge`.
    pub operation: String,
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
    /// Requests the job is split into (for a purge: of its first round).
    pub requests: u64,
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
}

/// One line after the header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub(crate) enum Line {
    /// A request finished: its accounts by outcome.
    Done(Done),
    /// Purge: one page of a list, as listed before anything was deleted.
    Listed {
        round: u32,
        list: String,
        ids: Vec<String>,
    },
    /// Purge: the lists of `round` are complete; its requests can start.
    Snapshot {
        round: u32,
        following: u64,
        fans: u64,
    },
}

/// A finished request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Done {
    /// The purge round (0 for other jobs).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub round: u32,
    /// The request's index in its job (or round).
    pub r: u64,
    /// The account the request was sent as (`From_Account`), for pairs and purges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Applied accounts.
    #[serde(default)]
    pub applied: Vec<String>,
    /// Refused accounts: account, `ResultCode`, `ResultInfo`.
    #[serde(default)]
    pub refused: Vec<(String, i64, String)>,
    /// Accounts whose outcome is not known: account, error.
    #[serde(default)]
    pub unknown: Vec<(String, String)>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Appends lines to a journal. A thread of its own flushes it to disk
/// within a second of each write, so that the disk's latency never holds up
/// the requests; [`sync`](Writer::sync) flushes at once.
pub(crate) struct Writer {
    file: File,
    path: PathBuf,
    syncer: Option<Syncer>,
}

/// The background flush: its stop signal, its thread, and what it shares.
struct Syncer {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
    shared: Arc<SyncState>,
}

#[derive(Default)]
struct SyncState {
    /// Lines written since the last flush.
    dirty: AtomicBool,
    /// A flush that failed, reported at the next write.
    failed: Mutex<Option<std::io::Error>>,
}

impl Writer {
    fn new(file: File, path: &Path) -> Result<Writer, JobError> {
        let shared = Arc::new(SyncState::default());
        let clone = file
            .try_clone()
            .map_err(|e| JobError::io(path, "cannot open the journal", e))?;
        let (stop, stopped) = mpsc::channel::<()>();
        let state = shared.clone();
        let thread = std::thread::Builder::new()
            .name("tim-follow-journal-sync".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(Duration::from_millis(500))
                {
                    if state.dirty.swap(false, Ordering::SeqCst) {
                        if let Err(e) = clone.sync_data() {
                            lock(&state.failed).get_or_insert(e);
                        }
                    }
                }
            })
            .map_err(|e| JobError::io(path, "cannot start the journal's flush", e))?;
        Ok(Writer {
            file,
            path: path.to_path_buf(),
            syncer: Some(Syncer {
                stop,
                thread,
                shared,
            }),
        })
    }

    /// Creates a new journal with its header; fails if the file exists.
    pub(crate) fn create(path: &Path, header: &Header) -> Result<Writer, JobError> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| JobError::io(path, "cannot create the journal", e))?;
        let mut w = Writer::new(file, path)?;
        w.append(header)?;
        w.sync()?;
        Ok(w)
    }

    /// Opens a journal to append after its last whole line, cutting off a
    /// torn one.
    pub(crate) fn reopen(path: &Path, whole_len: u64) -> Result<Writer, JobError> {
        let mut file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| JobError::io(path, "cannot open the journal", e))?;
        file.set_len(whole_len)
            .and_then(|()| file.seek(SeekFrom::End(0)).map(drop))
            .map_err(|e| JobError::io(path, "cannot cut the journal's torn line", e))?;
        Writer::new(file, path)
    }

    /// Writes one line in one call, with nothing left in a buffer.
    pub(crate) fn append<T: Serialize>(&mut self, value: &T) -> Result<(), JobError> {
        let mut line = serde_json::to_vec(value)
            .map_err(|e| JobError::Journal(format!("cannot encode a journal line: {e}")))?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .map_err(|e| JobError::io(&self.path, "cannot write the journal", e))?;
        if let Some(s) = &self.syncer {
            s.shared.dirty.store(true, Ordering::SeqCst);
        }
        self.flush_failure()
    }

    /// Reports a background flush that failed.
    pub(crate) fn flush_failure(&self) -> Result<(), JobError> {
        let failed = self
            .syncer
            .as_ref()
            .and_then(|s| lock(&s.shared.failed).take());
        match failed {
            Some(e) => Err(JobError::io(&self.path, "cannot sync the journal", e)),
            None => Ok(()),
        }
    }

    /// Flushes the journal to disk now.
    pub(crate) fn sync(&mut self) -> Result<(), JobError> {
        if let Some(s) = &self.syncer {
            s.shared.dirty.store(false, Ordering::SeqCst);
        }
        self.file
            .sync_data()
            .map_err(|e| JobError::io(&self.path, "cannot sync the journal", e))
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some(s) = self.syncer.take() {
            let _ = s.stop.send(());
            let _ = s.thread.join();
        }
        let _ = self.file.sync_data();
    }
}

/// A journal as read back: its header, the lines after it, and the length
/// of its whole lines (a torn last line is left out).
pub(crate) struct Reader {
    file: BufReader<File>,
    path: PathBuf,
    /// Bytes of whole (newline-terminated, parsed) lines read so far.
    pub(crate) whole_len: u64,
}

impl Reader {
    /// Opens a journal and reads its header.
    pub(crate) fn open(path: &Path) -> Result<(Header, Reader), JobError> {
        let file =
            File::open(path).map_err(|e| JobError::io(path, "cannot open the journal", e))?;
        let mut reader = Reader {
            file: BufReader::new(file),
            path: path.to_path_buf(),
            whole_len: 0,
        };
        let not_a_journal = || {
            JobError::Journal(format!(
                "{} is not a tim-follow journal (no header line)",
                path.display()
            ))
        };
        let first = reader.next_raw()?.ok_or_else(not_a_journal)?;
        let header: Header = serde_json::from_slice(&first).map_err(|_| not_a_journal())?;
        if header.tim_follow_job != FORMAT {
            return Err(JobError::Journal(format!(
                "{} is a journal of format {}, this version reads format {FORMAT}",
                path.display(),
                header.tim_follow_job
            )));
        }
        reader.whole_len = first.len() as u64 + 1;
        Ok((header, reader))
    }

    /// The next newline-terminated line, without its newline; `None` at the
    /// end, or at a last line the crash cut before its newline.
    fn next_raw(&mut self) -> Result<Option<Vec<u8>>, JobError> {
        let mut line = Vec::new();
        self.file
            .read_until(b'\n', &mut line)
            .map_err(|e| JobError::io(&self.path, "cannot read the journal", e))?;
        if line.pop() != Some(b'\n') {
            return Ok(None);
        }
        Ok(Some(line))
    }

    /// The next line; `None` at the end (a torn last line is ignored). A
    /// whole line that does not parse is damage, not a crash: an error.
    pub(crate) fn next_line(&mut self) -> Result<Option<Line>, JobError> {
        let Some(raw) = self.next_raw()? else {
            return Ok(None);
        };
        let line = serde_json::from_slice::<Line>(&raw).map_err(|e| {
            JobError::Journal(format!(
                "{}: a damaged line after byte {}: {e}",
                self.path.display(),
                self.whole_len
            ))
        })?;
        self.whole_len += raw.len() as u64 + 1;
        Ok(Some(line))
    }
}

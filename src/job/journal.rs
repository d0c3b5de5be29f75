//! The journal of a job: an append-only JSON Lines file. The first line says
//! what the job is; then a line before each request is sent and one when it
//! is answered (and, for a purge, the snapshot of the lists it works
//! through). The workers write the first kind and the job's thread the
//! second, through one shared [`Writer`].
//!
//! One process writes a journal at a time: the writer holds an advisory lock
//! on it (`flock`) for as long as it runs, which the kernel releases when the
//! process ends, however it ends. The file is opened for appending only.
//!
//! Each line is written whole with one `write` call, with nothing left in a
//! user-space buffer, and ends with a short checksum of its own bytes
//! (`"c"`: the first 8 bytes of the SHA-256 of the line without that field,
//! in hex), so that a line edited by hand or damaged on disk is found, not
//! counted. A thread of its own flushes the file to disk (`fdatasync`) within
//! a second of each write, and it is flushed when the job stops. A crash can
//! tear only the last line, which reading ignores (and resuming cuts off
//! before appending). Lines are read with a cap of [`MAX_LINE`] bytes. The
//! journal never holds the UserSig or the SecretKey.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::format::{encode, verify, Header, Line, FORMAT, MAX_LINE};
use super::replay::Replay;
use super::JobError;
use crate::sync::lock;

/// Refuses a path that is not a regular file (a directory, a device, a
/// pipe) before anything opens it.
fn regular_file(path: &Path) -> Result<(), JobError> {
    let meta = std::fs::metadata(path).map_err(|e| JobError::io(path, "cannot open", e))?;
    if meta.is_file() {
        return Ok(());
    }
    let what = if meta.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    };
    Err(JobError::Journal(format!(
        "damaged journal {}: {what}, not a tim-follow journal",
        path.display()
    )))
}

/// Opens an existing journal for appending and takes its lock: the one
/// writer. Fails at once, changing nothing, if another process holds it.
pub(crate) fn lock_existing(path: &Path) -> Result<File, JobError> {
    regular_file(path)?;
    let file = OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| JobError::io(path, "cannot open the journal", e))?;
    take_lock(file, path)
}

fn take_lock(file: File, path: &Path) -> Result<File, JobError> {
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(JobError::InUse {
            path: path.to_path_buf(),
            pid: holder(&file),
        }),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(JobError::io(path, "cannot lock the journal", e))
        }
    }
}

/// The process that holds the lock on `file`, from `/proc/locks` (Linux).
#[cfg(target_os = "linux")]
pub(crate) fn holder(file: &File) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let ino = file.metadata().ok()?.ino();
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    holder_in(&locks, ino)
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn holder(_: &File) -> Option<u32> {
    None
}

/// In the text of `/proc/locks` (`1: FLOCK  ADVISORY  WRITE 4242 08:01:1234 0 EOF`),
/// the pid of the granted flock on inode `ino`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn holder_in(locks: &str, ino: u64) -> Option<u32> {
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // A waiter's line has "->" after the number.
        if fields.get(1) != Some(&"FLOCK") {
            return None;
        }
        let pid: u32 = fields.get(4)?.parse().ok()?;
        let inode: u64 = fields.get(5)?.rsplit(':').next()?.parse().ok()?;
        (inode == ino).then_some(pid)
    })
}

/// Appends lines to a journal whose lock it holds. A thread of its own
/// flushes it to disk within a second of each write, so that the disk's
/// latency never holds up the requests; [`sync`](Writer::sync) flushes at
/// once.
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

    /// Creates a new journal with its header, locked; `None` when another
    /// process created it first (continue it as an existing journal then).
    ///
    /// The journal is written and locked under a temporary name and then
    /// linked to its own name, which fails if that exists: a journal appears
    /// whole and locked, or not at all, so that two jobs started at once on
    /// a new journal cannot both write it. On a file system without hard
    /// links (FAT), it is created in place.
    pub(crate) fn create(path: &Path, header: &Header) -> Result<Option<Writer>, JobError> {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let unique = format!("{}-{:016x}", std::process::id(), fastrand::u64(..));
        let tmp = path.with_file_name(format!(".{name}.{unique}.new"));
        let w = Writer::create_at(&tmp, path, header)?;
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        let w = match linked {
            Ok(()) => w,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(None),
            Err(_) => {
                drop(w);
                match Writer::create_at(path, path, header) {
                    Err(JobError::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::AlreadyExists =>
                    {
                        return Ok(None)
                    }
                    other => other?,
                }
            }
        };
        // The new name is on disk too.
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(Some(w))
    }

    /// A new file at `at`, locked, holding the header of the journal `path`.
    fn create_at(at: &Path, path: &Path, header: &Header) -> Result<Writer, JobError> {
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(at)
            .map_err(|e| JobError::io(path, "cannot create the journal", e))?;
        let file = take_lock(file, path)?;
        let w = Writer::new(file, path)?;
        w.append(header)?;
        w.sync()?;
        Ok(w)
    }

    /// Continues a journal locked with [`lock_existing`] after its first
    /// `keep` bytes (its whole lines), cutting off a torn last line.
    pub(crate) fn continue_after(file: File, path: &Path, keep: u64) -> Result<Writer, JobError> {
        let len = file
            .metadata()
            .map_err(|e| JobError::io(path, "cannot open the journal", e))?
            .len();
        if len > keep {
            file.set_len(keep)
                .map_err(|e| JobError::io(path, "cannot cut the journal's torn line", e))?;
        }
        Writer::new(file, path)
    }

    /// Writes one line in one call, with nothing left in a buffer.
    /// Appends from any thread: the file is opened for appending, so lines
    /// written at once by several threads never mix.
    pub(crate) fn append<T: Serialize>(&self, value: &T) -> Result<(), JobError> {
        let line = encode(value)?;
        (&self.file)
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
    pub(crate) fn sync(&self) -> Result<(), JobError> {
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

/// A journal as read back: its header, then its lines, each checked (size,
/// checksum, and against what came before: see [`Replay`]) before it is
/// returned. A torn last line is left out.
pub(crate) struct Reader<R> {
    file: R,
    name: String,
    format: u32,
    /// What the lines read so far say.
    pub(crate) replay: Replay,
    /// Bytes of whole (newline-terminated, checked) lines read so far.
    pub(crate) whole_len: u64,
}

impl Reader<BufReader<File>> {
    /// Opens the journal at `path` and reads its header.
    pub(crate) fn open(path: &Path) -> Result<(Header, Self), JobError> {
        regular_file(path)?;
        let file =
            File::open(path).map_err(|e| JobError::io(path, "cannot open the journal", e))?;
        Reader::from_reader(
            BufReader::with_capacity(64 * 1024, file),
            &path.display().to_string(),
        )
    }
}

impl<R: BufRead> Reader<R> {
    /// Reads a journal's header from any reader; `name` names it in errors.
    pub(crate) fn from_reader(file: R, name: &str) -> Result<(Header, Self), JobError> {
        let mut reader = Reader {
            file,
            name: name.to_string(),
            format: FORMAT,
            replay: Replay::default(),
            whole_len: 0,
        };
        let not_a_journal = || {
            JobError::Journal(format!(
                "{name} is not a tim-follow journal (no header line)"
            ))
        };
        let first = match reader.next_raw() {
            Ok(Some(line)) => line,
            Ok(None) | Err(JobError::Journal(_)) => return Err(not_a_journal()),
            Err(e) => return Err(e),
        };
        #[derive(Deserialize)]
        struct Version {
            tim_follow_job: u32,
        }
        let version: Version = serde_json::from_slice(&first).map_err(|_| not_a_journal())?;
        if !(1..=FORMAT).contains(&version.tim_follow_job) {
            return Err(JobError::Journal(format!(
                "{name} is a journal of format {}, this version reads formats 1 to {FORMAT}",
                version.tim_follow_job
            )));
        }
        reader.format = version.tim_follow_job;
        let header: Header = serde_json::from_slice(&first)
            .map_err(|e| reader.damaged(0, &format!("its header: {e}")))?;
        verify(&first, reader.format).map_err(|why| reader.damaged(0, why))?;
        reader.replay =
            Replay::new(&header, reader.format).map_err(|why| reader.damaged(0, &why))?;
        reader.whole_len = first.len() as u64 + 1;
        Ok((header, reader))
    }

    fn damaged(&self, at: u64, why: &str) -> JobError {
        JobError::Journal(format!("damaged journal {} at byte {at}: {why}", self.name))
    }

    /// The next newline-terminated line, without its newline; `None` at the
    /// end, or at a last line the crash cut before its newline. A line over
    /// [`MAX_LINE`] is damage, found after reading at most that much.
    fn next_raw(&mut self) -> Result<Option<Vec<u8>>, JobError> {
        let mut line = Vec::new();
        (&mut self.file)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::InvalidData => self.damaged(self.whole_len, &e.to_string()),
                _ => super::plan::read_error(Path::new(&self.name), "cannot read the journal", e),
            })?;
        if line.last() == Some(&b'\n') {
            line.pop();
            return Ok(Some(line));
        }
        if line.len() > MAX_LINE {
            return Err(self.damaged(
                self.whole_len,
                &format!("a line longer than {MAX_LINE} bytes"),
            ));
        }
        Ok(None)
    }

    /// The next line; `None` at the end (a torn last line is ignored). A
    /// whole line that does not parse, fails its checksum or contradicts the
    /// lines before it is damage, not a crash: an error naming its byte.
    pub(crate) fn next_line(&mut self) -> Result<Option<Line>, JobError> {
        let at = self.whole_len;
        let Some(raw) = self.next_raw()? else {
            return Ok(None);
        };
        verify(&raw, self.format).map_err(|why| self.damaged(at, why))?;
        let line = serde_json::from_slice::<Line>(&raw)
            .map_err(|e| self.damaged(at, &format!("a line that does not parse: {e}")))?;
        self.replay
            .apply(&line)
            .map_err(|why| self.damaged(at, &why))?;
        self.whole_len += raw.len() as u64 + 1;
        Ok(Some(line))
    }

    /// Reads every line to the end.
    pub(crate) fn read_all(&mut self) -> Result<(), JobError> {
        while self.next_line()?.is_some() {}
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_holder_is_read_from_proc_locks() {
        let text = "1: POSIX  ADVISORY  WRITE 10 00:2d:77 0 EOF\n\
                    2: FLOCK  ADVISORY  WRITE 4242 08:01:1234 0 EOF\n\
                    2: -> FLOCK  ADVISORY  WRITE 99 08:01:1234 0 EOF\n";
        assert_eq!(
            holder_in(text, 1234),
            Some(4242),
            "the holder, not the waiter"
        );
        assert_eq!(holder_in(text, 77), None, "a POSIX lock is not ours");
        assert_eq!(holder_in("garbage\n\n1: FLOCK", 1234), None);
    }
}

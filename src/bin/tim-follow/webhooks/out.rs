//! `--out FILE`: the events file, written by a thread of its own that
//! stores each event (synced to disk) before it is acknowledged, and
//! follows the file when it is deleted, replaced or cut under it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use tim_follow::receiver::{Delivery, Remembered};

use super::reload;
use crate::Failure;

/// A line waiting to be stored, and who waits for it.
type Pending = (Vec<u8>, mpsc::SyncSender<Result<(), String>>);

/// The events file: one JSON line per event, appended by a thread of its
/// own that writes what has queued up and syncs it to disk once (a group
/// commit) before any of those events is acknowledged. The receiver holds
/// an exclusive lock on it (`flock`, as journals do) for its whole life.
pub(super) struct EventFile {
    queue: mpsc::Sender<Pending>,
    path: PathBuf,
}

impl EventFile {
    /// Opens (or creates) the file and takes its lock, cuts a torn last
    /// line off, and remembers the keys of the events already in it.
    pub(super) fn open(path: &Path, remembered: &Remembered) -> Result<EventFile, Failure> {
        if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
            return Err(Failure::Usage(format!(
                "--out {}: not a regular file",
                path.display()
            )));
        }
        let (mut file, dev, ino) = open_locked(path).map_err(|e| match e {
            Opened::InUse(why) => Failure::Refused(why),
            Opened::Io(e) => Failure::Other(format!("cannot open {}: {e}", path.display())),
        })?;
        let whole = reload::read_back(&mut file, path, remembered)?;
        let (tx, rx) = mpsc::channel::<Pending>();
        let mut events = Events {
            path: path.to_path_buf(),
            file,
            dev,
            ino,
            len: whole,
            torn: false,
        };
        std::thread::Builder::new()
            .name("tim-follow-events".into())
            .spawn(move || write_loop(&mut events, &rx))
            .map_err(|e| Failure::Other(format!("cannot start the writer: {e}")))?;
        Ok(EventFile {
            queue: tx,
            path: path.to_path_buf(),
        })
    }

    /// Whether an event could be stored now: the writer finds the file
    /// (reopening it by its path if it was replaced or deleted) within 2
    /// s, and its file system has room for a few events.
    pub(super) fn check(&self) -> Result<(), String> {
        let (done, wait) = mpsc::sync_channel(1);
        self.queue
            .send((Vec::new(), done))
            .map_err(|_| "the events file is closed".to_string())?;
        match wait.recv_timeout(Duration::from_secs(2)) {
            Ok(answer) => answer?,
            Err(_) => return Err("the events file does not answer within 2 s".into()),
        }
        match free_bytes(&self.path) {
            Some(free) if free < 256 * 1024 => Err(format!(
                "{}: {free} bytes left on its file system",
                self.path.display()
            )),
            _ => Ok(()),
        }
    }

    /// Appends the event's line; returns once it is on disk.
    pub(super) fn append(&self, d: &Delivery) -> Result<(), String> {
        let mut line = d.json().to_string().into_bytes();
        line.push(b'\n');
        let (done, wait) = mpsc::sync_channel(1);
        self.queue
            .send((line, done))
            .map_err(|_| "the events file is closed".to_string())?;
        wait.recv()
            .unwrap_or_else(|_| Err("the events file is closed".into()))
    }
}

/// Why the events file could not be opened.
enum Opened {
    /// Another process holds its lock (the message says which).
    InUse(String),
    Io(std::io::Error),
}

/// Opens `path` for appending (`O_APPEND`: every write goes to the end as
/// the file is, never past it) and takes its exclusive lock; with its
/// device and inode, to notice a file replaced under the receiver.
fn open_locked(path: &Path) -> Result<(File, u64, u64), Opened> {
    use std::os::unix::fs::MetadataExt;
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(Opened::Io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(Opened::InUse(format!(
                "events file {} is in use by {}",
                path.display(),
                tim_follow::job::flock_holder(&file).map_or_else(
                    || "another process".to_string(),
                    |pid| format!("process {pid}")
                )
            )))
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(Opened::Io(e)),
    }
    let meta = file.metadata().map_err(Opened::Io)?;
    // The new name itself must survive a power loss.
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok((file, meta.dev(), meta.ino()))
}

/// The writer's view of the events file.
struct Events {
    path: PathBuf,
    file: File,
    /// Device and inode of `file`, to tell whether `path` still names it.
    dev: u64,
    ino: u64,
    /// Its length after the last write that was stored.
    len: u64,
    /// Whether its last line is torn (left so by someone else).
    torn: bool,
}

impl Events {
    /// Makes sure, before a write, that the path still names the open file
    /// and that the file is not shorter than this writer left it: a file
    /// deleted, renamed or replaced is reopened by its path, one truncated
    /// is written after what is left. Both are logged.
    fn check(&mut self) -> Result<(), String> {
        use std::os::unix::fs::MetadataExt;
        let gone = |e: std::io::Error| format!("cannot read {}: {e}", self.path.display());
        let open = self.file.metadata().map_err(gone)?;
        let named = std::fs::metadata(&self.path);
        let moved = match &named {
            Ok(m) => m.dev() != self.dev || m.ino() != self.ino,
            Err(_) => true,
        };
        if moved || open.nlink() == 0 {
            let (file, dev, ino) = open_locked(&self.path).map_err(|e| match e {
                Opened::InUse(why) => why,
                Opened::Io(e) => format!("cannot open {}: {e}", self.path.display()),
            })?;
            eprintln!(
                "{}: the events file was {} under the receiver; reopened by its path \
                 (the events before are in the old file)",
                self.path.display(),
                if open.nlink() == 0 {
                    "deleted"
                } else {
                    "renamed or replaced"
                }
            );
            (self.file, self.dev, self.ino) = (file, dev, ino);
            self.len = self.file.metadata().map_err(gone)?.len();
            self.torn = !ends_whole(&self.file, self.len);
        } else if open.len() < self.len {
            eprintln!(
                "{}: the events file was truncated under the receiver (from {} to {} bytes); \
                 the next events are appended to what is left",
                self.path.display(),
                self.len,
                open.len()
            );
            self.len = open.len();
            self.torn = !ends_whole(&self.file, self.len);
        }
        Ok(())
    }

    /// Appends `lines` and syncs them to disk. A failed write takes back
    /// only its own bytes, measured from the file as it is just before.
    /// Lines that went into a file deleted or cut while they were written
    /// are written again where the path points now.
    fn store(&mut self, lines: &[u8]) -> Result<(), String> {
        use std::os::unix::fs::MetadataExt;
        for _ in 0..3 {
            self.check()?;
            let mut bytes = Vec::with_capacity(lines.len() + 1);
            if self.torn {
                // Someone else's torn line stays a line of its own.
                bytes.push(b'\n');
            }
            bytes.extend_from_slice(lines);
            let before = self
                .file
                .metadata()
                .map_err(|e| format!("cannot read {}: {e}", self.path.display()))?
                .len();
            match self
                .file
                .write_all(&bytes)
                .and_then(|()| self.file.sync_data())
            {
                Ok(()) => {
                    let after = self
                        .file
                        .metadata()
                        .map_err(|e| format!("cannot read {}: {e}", self.path.display()))?;
                    if after.nlink() == 0 || after.len() < before + bytes.len() as u64 {
                        // Deleted or cut while written: not stored.
                        continue;
                    }
                    self.len = after.len();
                    self.torn = false;
                    return Ok(());
                }
                Err(e) => {
                    // Only what this write added, never past the file as it is.
                    if let Ok(now) = self.file.metadata() {
                        if now.len() > before {
                            let _ = self.file.set_len(before);
                            let _ = self.file.sync_data();
                        }
                    }
                    return Err(format!(
                        "cannot store the event in {}: {e}",
                        self.path.display()
                    ));
                }
            }
        }
        Err(format!(
            "{} keeps changing under the receiver: the event is not stored",
            self.path.display()
        ))
    }
}

/// The bytes an unprivileged process may still write on the file system
/// of `path` (`statvfs`), if it can be told.
fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `name` is a NUL-terminated path and `st` a buffer of the
    // struct statvfs(3) fills; it is read only when the call succeeded.
    let st = unsafe {
        if libc::statvfs(name.as_ptr(), st.as_mut_ptr()) != 0 {
            return None;
        }
        st.assume_init()
    };
    #[allow(clippy::unnecessary_cast)] // the field types differ by platform
    Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

/// Whether the first `len` bytes of `file` end with a newline (or are none).
fn ends_whole(file: &File, len: u64) -> bool {
    use std::os::unix::fs::FileExt;
    let mut last = [0u8; 1];
    len == 0 || (file.read_at(&mut last, len - 1).is_ok() && last[0] == b'\n')
}

/// Writes and syncs what queued up, then answers each waiter.
fn write_loop(events: &mut Events, rx: &mpsc::Receiver<Pending>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < 1024 {
            match rx.try_recv() {
                Ok(more) => batch.push(more),
                Err(_) => break,
            }
        }
        let bytes: Vec<u8> = batch.iter().flat_map(|(l, _)| l.iter().copied()).collect();
        // Only probes (empty): the check alone.
        let answer = if bytes.is_empty() {
            events.check()
        } else {
            events.store(&bytes)
        };
        for (_, done) in batch {
            let _ = done.send(answer.clone());
        }
    }
}

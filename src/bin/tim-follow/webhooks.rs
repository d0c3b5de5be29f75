//! `webhooks --listen ADDR --out FILE | --exec CMD`: the follow events the
//! service sends, verified, stored before they are acknowledged.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use tim_follow::callback::Verifier;
use tim_follow::receiver::{Delivery, Receiver, ReceiverStats, Remembered, Seen};

use crate::Failure;

/// Events remembered for the repeat check (at most; about 150 bytes each),
/// and for how long.
const REMEMBERED: usize = 1_000_000;
const REMEMBER_FOR: Duration = Duration::from_secs(24 * 3600);
/// The longest an `--exec` command may take for one event, by default.
const EXEC_TIMEOUT: Duration = Duration::from_secs(30);

/// Where verified events go: `Ok` once they are stored.
type Sink = dyn Fn(&Delivery) -> Result<(), String> + Send + Sync;

/// What `webhooks` was given.
pub(crate) struct Options {
    pub listen: Option<String>,
    pub out: Option<String>,
    pub exec: Option<String>,
    pub exec_timeout: Option<Duration>,
    pub token_file: Option<String>,
}

pub(crate) fn run(o: &Options) -> Result<u8, Failure> {
    let listen = o.listen.as_deref().ok_or_else(|| {
        Failure::Usage("`webhooks` needs --listen ADDR (such as 0.0.0.0:9000)".into())
    })?;
    let addr: SocketAddr = listen.parse().map_err(|_| {
        Failure::Usage(format!(
            "--listen takes an address and port such as 0.0.0.0:9000, not {listen:?}"
        ))
    })?;
    let verifier = verifier(o)?;
    let remembered = Arc::new(Remembered::new(REMEMBERED, REMEMBER_FOR));
    let mut health: Option<Arc<EventFile>> = None;
    let sink: Arc<Sink> =
        match (&o.out, &o.exec) {
            (Some(out), None) => {
                let file = Arc::new(EventFile::open(Path::new(out), &remembered)?);
                health = Some(file.clone());
                Arc::new(move |d: &Delivery| file.append(d))
            }
            (None, Some(cmd)) => {
                let cmd = cmd.clone();
                let limit = o.exec_timeout.unwrap_or(EXEC_TIMEOUT);
                Arc::new(move |d: &Delivery| exec(&cmd, d, limit))
            }
            _ => return Err(Failure::Usage(
                "`webhooks` needs one of --out FILE (events appended as JSON lines) or --exec CMD \
                 (each event's JSON on the command's stdin)"
                    .into(),
            )),
        };
    let seen = seen(remembered)?;
    let mut builder = Receiver::builder(addr, verifier).seen(seen);
    if let Some(file) = health {
        builder = builder.health(move || file.check());
    }
    let receiver = builder
        .start(move |d| sink(d))
        .map_err(|e| Failure::Other(format!("cannot listen on {addr}: {e}")))?;
    eprintln!(
        "listening on {} for follow webhooks{}",
        receiver.local_addr(),
        o.out
            .as_deref()
            .map(|f| format!("; events go to {f}"))
            .unwrap_or_default()
    );
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    let mut last = Instant::now();
    let mut shown = ReceiverStats::default();
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
        if last.elapsed() >= Duration::from_secs(5) {
            last = Instant::now();
            let now = receiver.stats();
            if now != shown {
                eprintln!("{}", progress(&now));
                shown = now;
            }
        }
    }
    eprintln!("stopping: the deliveries in flight finish…");
    let end = receiver.shutdown();
    eprintln!("{}", progress(&end));
    Ok(0)
}

fn progress(s: &ReceiverStats) -> String {
    let refused: Vec<String> = s
        .refused
        .iter()
        .map(|(why, n)| format!("{n} {why}"))
        .collect();
    format!(
        "{} received, {} acknowledged ({} stored, {} repeats), {} failed, {} not yet (a copy in \
         flight), refused: {}",
        s.received,
        s.acked,
        s.handled,
        s.repeats,
        s.failed,
        s.not_yet,
        if refused.is_empty() {
            "none".to_string()
        } else {
            refused.join(", ")
        }
    )
}

/// The verifier from `TIM_SDKAPPID` and `TIM_CALLBACK_TOKEN` or `--token-file`.
fn verifier(o: &Options) -> Result<Verifier, Failure> {
    let sdkappid = match std::env::var("TIM_SDKAPPID") {
        Ok(v) if v.trim().is_empty() => {
            return Err(Failure::Usage("TIM_SDKAPPID is set but empty".into()))
        }
        Ok(v) => v.trim().parse::<u64>().map_err(|_| {
            Failure::Usage(format!("TIM_SDKAPPID: {v:?} is not an SDKAppID (a number)"))
        })?,
        Err(_) => {
            return Err(Failure::Usage(
                "TIM_SDKAPPID: required (the app whose webhooks to accept)".into(),
            ))
        }
    };
    let token = match (&o.token_file, std::env::var("TIM_CALLBACK_TOKEN")) {
        (Some(path), _) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| Failure::Usage(format!("--token-file {path}: {e}")))?
                .trim()
                .to_string(),
        ),
        (None, Ok(t)) if t.trim().is_empty() => {
            return Err(Failure::Usage("TIM_CALLBACK_TOKEN is set but empty".into()))
        }
        (None, Ok(t)) => Some(t.trim().to_string()),
        (None, Err(_)) => None,
    };
    let verifier = Verifier::new(sdkappid);
    Ok(match token {
        Some(t) if t.is_empty() => {
            return Err(Failure::Usage("--token-file: the file is empty".into()))
        }
        Some(t) => verifier.token(t),
        None => {
            eprintln!(
                "warning: no TIM_CALLBACK_TOKEN (or --token-file): deliveries are checked for the \
                 SDKAppID only, and anyone who can reach the address can send events"
            );
            verifier
        }
    })
}

/// The repeat check: shared through Redis with `TIM_REDIS_URL`, else in memory.
fn seen(remembered: Arc<Remembered>) -> Result<Arc<dyn Seen>, Failure> {
    let Some(url) = crate::redis_url()? else {
        return Ok(remembered);
    };
    #[cfg(feature = "redis")]
    {
        let sdkappid = std::env::var("TIM_SDKAPPID")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let shared = tim_follow::receiver::RedisSeen::new(url.trim(), sdkappid, REMEMBER_FOR)
            .map_err(|e| {
                Failure::Usage(format!(
                    "TIM_REDIS_URL: {}",
                    e.to_string().replace("invalid input: redis_url: ", "")
                ))
            })?;
        Ok(Arc::new(shared))
    }
    #[cfg(not(feature = "redis"))]
    {
        let _ = (url, remembered);
        Err(Failure::Usage(
            "TIM_REDIS_URL is set, but this tim-follow was built without the `redis` feature"
                .into(),
        ))
    }
}

/// The most of an `--exec` command's stderr kept (for the log line of a
/// failure); the rest is read and dropped.
const EXEC_STDERR: usize = 1024;

/// `--exec CMD`: the event's JSON on the command's stdin; done when it
/// exits 0. The command runs in a process group of its own; `limit` covers
/// writing its stdin, waiting and reading its stderr, and at the limit the
/// whole group is killed, so that nothing it started lives on.
fn exec(cmd: &str, d: &Delivery, limit: Duration) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let deadline = Instant::now() + limit;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let group = child.id() as libc::pid_t;
    let kill_group = || {
        // SAFETY: kill(2) with a negative pid signals the process group
        // `group`, which this child leads; it touches no memory.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
    };
    // Stdin and stderr on threads of their own, so that a command that
    // reads neither cannot hold the limit off; both end when the group is
    // killed (their pipes close).
    if let Some(mut stdin) = child.stdin.take() {
        let mut line = d.json().to_string().into_bytes();
        line.push(b'\n');
        let _ = std::thread::Builder::new()
            .name("tim-follow-exec-in".into())
            .spawn(move || {
                let _ = stdin.write_all(&line);
            });
    }
    let (err_tx, err_rx) = mpsc::channel();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = std::thread::Builder::new()
            .name("tim-follow-exec-err".into())
            .spawn(move || {
                let mut kept = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = stderr.read(&mut buf) {
                    let room = EXEC_STDERR.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
                let _ = err_tx.send(kept);
            });
    } else {
        let _ = err_tx.send(Vec::new());
    }
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() >= deadline => break Err(None),
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => break Err(Some(e)),
        }
    };
    // Its stderr until it closes, within the same limit.
    let left = deadline.saturating_duration_since(Instant::now());
    let stderr = match &status {
        Ok(_) => err_rx.recv_timeout(left).ok(),
        Err(_) => None,
    };
    if status.is_err() || stderr.is_none() {
        kill_group();
        let _ = child.wait();
    }
    let said = |stderr: Option<Vec<u8>>| {
        let text = String::from_utf8_lossy(&stderr.unwrap_or_default())
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if text.is_empty() {
            String::new()
        } else {
            format!(": {text}")
        }
    };
    match status {
        Ok(status) if stderr.is_none() => Err(format!(
            "--exec: the command exited with {status}, but what it started kept its stderr open past {} s: \
             its process group was killed",
            limit.as_secs_f64()
        )),
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("--exec: the command exited with {status}{}", said(stderr))),
        Err(None) => Err(format!(
            "--exec: the command took more than {} s: its process group was killed",
            limit.as_secs_f64()
        )),
        Err(Some(e)) => Err(format!("--exec: cannot wait for the command: {e}")),
    }
}

/// A line waiting to be stored, and who waits for it.
type Pending = (Vec<u8>, mpsc::SyncSender<Result<(), String>>);

/// The events file: one JSON line per event, appended by a thread of its
/// own that writes what has queued up and syncs it to disk once (a group
/// commit) before any of those events is acknowledged. The receiver holds
/// an exclusive lock on it (`flock`, as journals do) for its whole life.
struct EventFile {
    queue: mpsc::Sender<Pending>,
    path: PathBuf,
}

impl EventFile {
    /// Opens (or creates) the file and takes its lock, cuts a torn last
    /// line off, and remembers the keys of the events already in it.
    fn open(path: &Path, remembered: &Remembered) -> Result<EventFile, Failure> {
        let fail = |what: &str, e: std::io::Error| {
            Failure::Other(format!("{what} {}: {e}", path.display()))
        };
        if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
            return Err(Failure::Usage(format!(
                "--out {}: not a regular file",
                path.display()
            )));
        }
        let (mut file, dev, ino) = open_locked(path).map_err(|e| match e {
            Opened::InUse(why) => Failure::Refused(why),
            Opened::Io(e) => fail("cannot open", e),
        })?;
        let whole = whole_length(&mut file).map_err(|e| fail("cannot read", e))?;
        let len = file.metadata().map_err(|e| fail("cannot read", e))?.len();
        if whole < len {
            eprintln!(
                "{}: cut off a torn last line ({} bytes) left by a crash",
                path.display(),
                len - whole
            );
            file.set_len(whole).map_err(|e| fail("cannot cut", e))?;
        }
        file.seek(SeekFrom::Start(0))
            .map_err(|e| fail("cannot read", e))?;
        let loaded = reload(&mut file, remembered).map_err(|e| fail("cannot read", e))?;
        if loaded.damaged > 0 {
            eprintln!(
                "{}: skipped {} damaged line(s) (not JSON, not UTF-8 or longer than {} KiB; \
                 the first is line {})",
                path.display(),
                loaded.damaged,
                MAX_LINE / 1024,
                loaded.first_damaged
            );
        }
        if loaded.recent > REMEMBERED {
            eprintln!(
                "{}: {} events of the last 24 h; the repeat check remembers the latest {REMEMBERED}",
                path.display(),
                loaded.recent
            );
        }
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
    fn check(&self) -> Result<(), String> {
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
    fn append(&self, d: &Delivery) -> Result<(), String> {
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
                lock_holder(&file).map_or_else(
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

/// The process that holds the `flock` on `file`, from `/proc/locks`
/// (Linux), as the job journal finds it.
#[cfg(target_os = "linux")]
fn lock_holder(file: &File) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let ino = file.metadata().ok()?.ino();
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
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

#[cfg(not(target_os = "linux"))]
fn lock_holder(_: &File) -> Option<u32> {
    None
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

/// The longest line read back from an events file.
const MAX_LINE: usize = 256 * 1024;

/// What [`reload`] found.
#[derive(Debug, Default)]
struct Reloaded {
    /// Events within the repeat window, remembered.
    recent: usize,
    /// Lines skipped, and the number of the first.
    damaged: usize,
    first_damaged: usize,
}

/// Remembers the key of every event of the file whose `EventTime` (or,
/// for other commands, whose arrival) is within the repeat window, as
/// handled that long ago. The key is computed again from the event's
/// parts. A damaged line (not UTF-8, not JSON, too long) is skipped and
/// counted; reading goes on.
fn reload(file: &mut File, remembered: &Remembered) -> std::io::Result<Reloaded> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut found = Reloaded::default();
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut line = Vec::new();
    let mut number = 0;
    loop {
        line.clear();
        let n = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        number += 1;
        let mut damaged = false;
        if line.last() != Some(&b'\n') && n > MAX_LINE {
            // Too long: skip the rest of it, in bounded steps.
            damaged = true;
            loop {
                let buf = reader.fill_buf()?;
                if buf.is_empty() {
                    break;
                }
                match buf.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        reader.consume(i + 1);
                        break;
                    }
                    None => {
                        let len = buf.len();
                        reader.consume(len);
                    }
                }
            }
        }
        let event = (!damaged)
            .then(|| serde_json::from_slice::<Stored>(&line).ok())
            .flatten()
            .and_then(|v| v.key());
        match event {
            Some((key, at_ms)) => {
                let age = Duration::from_millis(now_ms.saturating_sub(at_ms));
                if age <= REMEMBER_FOR {
                    found.recent += 1;
                    remembered.insert_aged(&key, age);
                }
            }
            None => {
                found.damaged += 1;
                if found.first_damaged == 0 {
                    found.first_damaged = number;
                }
            }
        }
    }
    Ok(found)
}

/// The fields of a stored event that its key and time come from.
#[derive(serde::Deserialize)]
struct Stored<'a> {
    #[serde(borrow)]
    command: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    from: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    to: Option<Vec<std::borrow::Cow<'a, str>>>,
    #[serde(default)]
    event_time: Option<u64>,
    #[serde(borrow, default)]
    key: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    received_at: Option<u64>,
}

impl Stored<'_> {
    /// The key of a stored event and when it happened (ms): computed again
    /// from a follow event's parts, as stored for other commands.
    fn key(&self) -> Option<(String, u64)> {
        if let (Some(from), Some(to), Some(at)) = (&self.from, &self.to, self.event_time) {
            let key = tim_follow::receiver::follow_key(&self.command, from, to, at);
            return Some((key, at));
        }
        Some((self.key.as_deref()?.to_string(), self.received_at?))
    }
}

/// The length of a file's whole lines (up to its last newline).
fn whole_length(file: &mut File) -> std::io::Result<u64> {
    let len = file.metadata()?.len();
    let mut at = len;
    let mut buf = [0u8; 4096];
    while at > 0 {
        let n = (at as usize).min(buf.len());
        file.seek(SeekFrom::Start(at - n as u64))?;
        file.read_exact(&mut buf[..n])?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
            return Ok(at - n as u64 + i as u64 + 1);
        }
        at -= n as u64;
    }
    Ok(0)
}

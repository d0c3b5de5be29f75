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

/// Events remembered for the repeat check, and for how long.
const REMEMBERED: usize = 100_000;
const REMEMBER_FOR: Duration = Duration::from_secs(24 * 3600);
/// The longest an `--exec` command may take for one event.
const EXEC_TIMEOUT: Duration = Duration::from_secs(30);

/// Where verified events go: `Ok` once they are stored.
type Sink = dyn Fn(&Delivery) -> Result<(), String> + Send + Sync;

/// What `webhooks` was given.
pub(crate) struct Options {
    pub listen: Option<String>,
    pub out: Option<String>,
    pub exec: Option<String>,
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
    let sink: Arc<Sink> =
        match (&o.out, &o.exec) {
            (Some(out), None) => {
                let file = EventFile::open(Path::new(out), &remembered)?;
                Arc::new(move |d: &Delivery| file.append(d))
            }
            (None, Some(cmd)) => {
                let cmd = cmd.clone();
                Arc::new(move |d: &Delivery| exec(&cmd, d))
            }
            _ => return Err(Failure::Usage(
                "`webhooks` needs one of --out FILE (events appended as JSON lines) or --exec CMD \
                 (each event's JSON on the command's stdin)"
                    .into(),
            )),
        };
    let seen = seen(remembered)?;
    let receiver = Receiver::builder(addr, verifier)
        .seen(seen)
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
        "{} received, {} acknowledged ({} stored, {} repeats), {} failed, refused: {}",
        s.received,
        s.acked,
        s.handled,
        s.repeats,
        s.failed,
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
        // A bad URL is Field::RedisUrl, named TIM_REDIS_URL by `in_cli_terms`.
        let shared = tim_follow::receiver::RedisSeen::new(url.trim(), sdkappid, REMEMBER_FOR)?;
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

/// `--exec CMD`: the event's JSON on the command's stdin; done when it exits 0.
fn exec(cmd: &str, d: &Delivery) -> Result<(), String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = writeln!(stdin, "{}", d.json());
    }
    let deadline = Instant::now() + EXEC_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("{cmd:?} exited with {status}")),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{cmd:?} took more than {} s",
                    EXEC_TIMEOUT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// A line waiting to be stored, and who waits for it.
type Pending = (Vec<u8>, mpsc::SyncSender<Result<(), String>>);

/// The events file: one JSON line per event, appended by a thread of its
/// own that writes what has queued up and syncs it to disk once (a group
/// commit) before any of those events is acknowledged.
struct EventFile {
    queue: mpsc::Sender<Pending>,
}

impl EventFile {
    /// Opens (or creates) the file, cuts a torn last line off, and
    /// remembers the keys of the events already in it.
    fn open(path: &Path, remembered: &Remembered) -> Result<EventFile, Failure> {
        let fail = |what: &str, e: std::io::Error| {
            Failure::Other(format!("{what} {}: {e}", path.display()))
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| fail("cannot open", e))?;
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
        for line in BufReader::new(&mut file).lines() {
            let Ok(line) = line else { break };
            if let Some(key) = serde_json::from_str::<serde_json::Value>(&line)
                .ok()
                .and_then(|v| v["key"].as_str().map(str::to_string))
            {
                remembered.insert(&key);
            }
        }
        let (tx, rx) = mpsc::channel::<Pending>();
        let path: PathBuf = path.to_path_buf();
        std::thread::Builder::new()
            .name("tim-follow-events".into())
            .spawn(move || write_loop(file, whole, &path, &rx))
            .map_err(|e| Failure::Other(format!("cannot start the writer: {e}")))?;
        Ok(EventFile { queue: tx })
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

/// Writes and syncs what queued up, then answers each waiter. A failed
/// write is cut back off, so that the file keeps whole lines only.
fn write_loop(mut file: File, mut len: u64, path: &Path, rx: &mpsc::Receiver<Pending>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < 1024 {
            match rx.try_recv() {
                Ok(more) => batch.push(more),
                Err(_) => break,
            }
        }
        let bytes: Vec<u8> = batch.iter().flat_map(|(l, _)| l.iter().copied()).collect();
        let result = file.write_all(&bytes).and_then(|()| file.sync_data());
        let answer = match result {
            Ok(()) => {
                len += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                let _ = file.set_len(len);
                Err(format!("cannot store the event in {}: {e}", path.display()))
            }
        };
        for (_, done) in batch {
            let _ = done.send(answer.clone());
        }
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

//! `--exec CMD`: each event's JSON on a command's stdin, within a time
//! limit, the command and all it started killed at the limit.

use std::io::{Read, Write};
use std::process::{Child, ChildStderr, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tim_follow::receiver::Delivery;

/// The most of an `--exec` command's stderr kept (for the log line of a
/// failure); the rest is read and dropped.
const EXEC_STDERR: usize = 1024;

/// How the wait for the command ended: its exit status, or `Err(None)` at
/// the limit, or `Err(Some(_))` when it could not be waited for.
type Waited = Result<ExitStatus, Option<std::io::Error>>;

/// `--exec CMD`: the event's JSON on the command's stdin; done when it
/// exits 0. The command runs in a process group of its own; `limit` covers
/// writing its stdin, waiting and reading its stderr, and at the limit the
/// whole group is killed, so that nothing it started lives on.
pub(super) fn exec(cmd: &str, d: &Delivery, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    let mut child = spawn(cmd)?;
    // Stdin and stderr on threads of their own, so that a command that
    // reads neither cannot hold the limit off; both end when the group is
    // killed (their pipes close).
    if let Some(stdin) = child.stdin.take() {
        feed(stdin, d);
    }
    let kept = keep_stderr(child.stderr.take());
    let status = wait(&mut child, deadline);
    // Its stderr until it closes, within the same limit.
    let left = deadline.saturating_duration_since(Instant::now());
    let stderr = match &status {
        Ok(_) => kept.recv_timeout(left).ok(),
        Err(_) => None,
    };
    if status.is_err() || stderr.is_none() {
        kill_group(&child);
        let _ = child.wait();
    }
    verdict(status, stderr, limit)
}

/// Starts `sh -c CMD` in a process group of its own, stdin and stderr piped.
fn spawn(cmd: &str) -> Result<Child, String> {
    use std::os::unix::process::CommandExt;
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))
}

/// Kills the process group that `child` leads.
fn kill_group(child: &Child) {
    let group = child.id() as libc::pid_t;
    // SAFETY: kill(2) with a negative pid signals the process group
    // `group`, which this child leads; it touches no memory.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
}

/// Writes the event's JSON line to the command's stdin, on a thread.
fn feed(mut stdin: ChildStdin, d: &Delivery) {
    let mut line = d.json().to_string().into_bytes();
    line.push(b'\n');
    let _ = std::thread::Builder::new()
        .name("tim-follow-exec-in".into())
        .spawn(move || {
            let _ = stdin.write_all(&line);
        });
}

/// Reads the command's stderr on a thread until it closes, keeping the
/// first [`EXEC_STDERR`] bytes; they come on the channel at its end.
fn keep_stderr(stderr: Option<ChildStderr>) -> mpsc::Receiver<Vec<u8>> {
    let (err_tx, err_rx) = mpsc::channel();
    if let Some(mut stderr) = stderr {
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
    err_rx
}

/// Waits for the command to exit, until `deadline`.
fn wait(child: &mut Child, deadline: Instant) -> Waited {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() >= deadline => return Err(None),
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(Some(e)),
        }
    }
}

/// Done, or why not, from how the command ended and its stderr (`None`
/// when it was not closed in time).
fn verdict(status: Waited, stderr: Option<Vec<u8>>, limit: Duration) -> Result<(), String> {
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

/// What the command said on stderr, on one line, after ": " (or nothing).
fn said(stderr: Option<Vec<u8>>) -> String {
    let text = String::from_utf8_lossy(&stderr.unwrap_or_default())
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

//! The durable-job commands: `--journal` with `add`/`delete`, `purge`,
//! `resume` and `status`, with a live progress line and Ctrl-C.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use tim_follow::job::{self, Job, JobError, JobInput, JobProgress, JobSummary};
use tim_follow::Client;

use crate::Failure;

/// Exit status of a job stopped by Ctrl-C (128 + SIGINT).
const INTERRUPTED: u8 = 130;

impl From<JobError> for Failure {
    fn from(e: JobError) -> Self {
        match e {
            JobError::Client(e) => e.into(),
            JobError::Io { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                Failure::Usage(e.to_string())
            }
            JobError::Io { .. } => Failure::Other(e.to_string()),
            JobError::InvalidInput { .. } => Failure::Refused(format!("the input file: {e}")),
            other => Failure::Refused(other.to_string()),
        }
    }
}

/// The job of `add`/`delete --journal`, `purge` or `resume`.
pub(crate) fn job_for(
    command: &str,
    positional: &[String],
    file: Option<&str>,
) -> Result<Job, Failure> {
    let one = |what: &str| match positional {
        [only] => Ok(only.clone()),
        _ => Err(Failure::Usage(format!(
            "`{command}` takes exactly one {what}"
        ))),
    };
    match command {
        "add" | "delete" => {
            let from = one("account, FROM (with --journal the targets come from --file)")?;
            let path = match file {
                Some("-") | None => {
                    return Err(Failure::Usage(format!(
                        "`{command}` with --journal needs --file PATH (a file, not stdin: \
                         resuming checks it is unchanged)"
                    )))
                }
                Some(p) => p,
            };
            Ok(if command == "add" {
                Job::follow(from, JobInput::file(path))
            } else {
                Job::unfollow(from, JobInput::file(path))
            })
        }
        "purge" => Ok(Job::purge(one("account")?)),
        "resume" => match file {
            Some("-") => Err(Failure::Usage(
                "`resume --file` takes the moved input file, not stdin".into(),
            )),
            Some(moved) => Ok(Job::resume_with_input(one("journal path")?, moved)?),
            None => Ok(Job::resume(one("journal path")?)?),
        },
        _ => Err(Failure::Usage(format!("`{command}` is not a job"))),
    }
}

/// Runs a job with progress on stderr and Ctrl-C handling; prints what was
/// not applied and a summary; returns the exit status.
pub(crate) fn run(job: Job, client: &Client, journal: Option<&Path>) -> Result<u8, Failure> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let _ = ctrlc::set_handler(move || {
        if !flag.swap(true, Ordering::SeqCst) {
            eprintln!("\nstopping: the requests in flight finish and are journaled…");
        }
    });
    let mut display = Display::new();
    let summary = job
        .stop_when(stop.clone())
        .run(client, |p| display.show(p))?;
    display.done();
    if let Some(path) = journal {
        print_failures(path)?;
    }
    print_summary(&summary);
    let resume = |before: &str| {
        if let Some(path) = journal {
            eprintln!("{before}: tim-follow resume {}", path.display());
        }
    };
    if let Some(why) = &summary.stopped_by {
        eprintln!("the job stopped: {why}");
        if why.starts_with("no answer") {
            resume(&format!(
                "{} waiting; when the service answers again",
                crate::accounts(summary.to_resume)
            ));
        } else {
            resume("fix it, then");
        }
        return Ok(3);
    }
    if summary.pending > 0 {
        resume("stopped; to continue");
        return Ok(INTERRUPTED);
    }
    if summary.unknown > 0 {
        resume(&format!(
            "{} unknown (no answer could be read); to read them back and send what is \
             still needed",
            crate::accounts(summary.unknown)
        ));
    }
    Ok(u8::from(summary.applied < summary.total))
}

/// `status [--json] PATH`.
pub(crate) fn status(positional: &[String], as_json: bool) -> Result<u8, Failure> {
    let [path] = positional else {
        return Err(Failure::Usage(
            "`status` takes exactly one journal path".into(),
        ));
    };
    let s = job::status(path)?;
    if as_json {
        let v = json!({
            "journal": path,
            "total": s.total,
            "applied": s.applied,
            "refused": s.refused,
            "unknown": s.unknown,
            "pending": s.pending,
            "to_resume": s.to_resume,
            "complete": s.complete,
        });
        crate::out_line(&v.to_string())?;
    } else {
        let state = if s.complete {
            " (complete)".to_string()
        } else {
            format!(
                " (not complete: {} waiting for `tim-follow resume {path}`)",
                crate::accounts(s.to_resume)
            )
        };
        crate::out_line(&format!("{path}: {}{state}", counts(&s)))?;
    }
    Ok(0)
}

fn counts(s: &JobSummary) -> String {
    format!(
        "{}: {} applied, {} refused, {} unknown, {} pending",
        crate::accounts(s.total),
        s.applied,
        s.refused,
        s.unknown,
        s.pending
    )
}

fn print_summary(s: &JobSummary) {
    eprintln!(
        "{} ({} requests sent in {:.1} s)",
        counts(s),
        s.requests_sent,
        s.elapsed.as_secs_f64()
    );
}

/// Every account of the journal that was not applied, one line each.
fn print_failures(path: &Path) -> Result<(), Failure> {
    for f in job::failures(path)? {
        let f = f?;
        let who = match &f.from {
            Some(from) => format!("{from} -> {}", f.account),
            None => f.account.clone(),
        };
        let line = match f.refused {
            Some(code) => format!("{who:<32}  REFUSED  {code} {}", f.reason),
            None => format!("{who:<32}  UNKNOWN  {}", f.reason),
        };
        crate::out_line(&line)?;
    }
    Ok(())
}

/// A batch call's progress on stderr: a live bar on a terminal, a plain
/// line every 5 s otherwise. Shown from the call's worker threads.
pub(crate) struct BatchDisplay {
    bar: Option<ProgressBar>,
    last: std::sync::Mutex<Instant>,
}

impl BatchDisplay {
    pub(crate) fn new() -> BatchDisplay {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            let style =
                ProgressStyle::with_template("{bar:30} {pos}/{len} accounts  {msg}  ETA {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        BatchDisplay {
            bar,
            last: std::sync::Mutex::new(Instant::now()),
        }
    }

    pub(crate) fn show(&self, p: tim_follow::Progress) {
        match &self.bar {
            Some(bar) => {
                bar.set_length(p.total as u64);
                bar.set_position(p.done as u64);
                let rate = p.done as f64 / bar.elapsed().as_secs_f64().max(0.001);
                bar.set_message(format!("{rate:.0}/s  not applied {}", p.failed));
            }
            None => {
                let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
                if last.elapsed() >= Duration::from_secs(5) || p.done == p.total {
                    *last = Instant::now();
                    eprintln!("{}/{} accounts, {} not applied", p.done, p.total, p.failed);
                }
            }
        }
    }

    pub(crate) fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Progress on stderr: a live bar on a terminal, a plain line every 5 s otherwise.
enum Display {
    Bar(ProgressBar),
    Lines { last: Instant },
}

impl Display {
    fn new() -> Display {
        if !std::io::stderr().is_terminal() {
            return Display::Lines {
                last: Instant::now(),
            };
        }
        let bar = ProgressBar::new(0);
        let style = ProgressStyle::with_template("{bar:30} {pos}/{len} accounts  {msg}  ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        Display::Bar(bar)
    }

    fn show(&mut self, p: &JobProgress) {
        match self {
            Display::Bar(bar) => {
                bar.set_length(p.total);
                bar.set_position(p.done);
                let rate = p.done as f64 / p.elapsed.as_secs_f64().max(0.001);
                bar.set_message(format!(
                    "{rate:.0}/s  refused {}  unknown {}",
                    p.refused, p.unknown
                ));
            }
            Display::Lines { last } if last.elapsed() >= Duration::from_secs(5) => {
                *last = Instant::now();
                let rate = p.requests as f64 / p.elapsed.as_secs_f64().max(0.001);
                let left = p.total.saturating_sub(p.done);
                let eta = if rate > 0.0 {
                    left as f64 / 20.0 / rate
                } else {
                    0.0
                };
                let _ = writeln!(
                    std::io::stderr(),
                    "{}/{} accounts, {rate:.0} requests/s, {} refused, {} unknown, ETA {eta:.0} s",
                    p.done,
                    p.total,
                    p.refused,
                    p.unknown
                );
            }
            Display::Lines { .. } => {}
        }
    }

    fn done(&self) {
        if let Display::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

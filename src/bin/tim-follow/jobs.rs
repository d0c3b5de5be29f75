//! The durable-job commands: `--journal` with `add`/`delete`, `purge`,
//! `resume` and `status`, with a live progress line and Ctrl-C.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use tim_follow::job::{
    self, Expected, Job, JobError, JobInput, JobProgress, JobSummary, Operation, PreviewItem,
};
use tim_follow::Client;

use crate::args::Args;
use crate::Failure;

/// Exit status of a job stopped by Ctrl-C (128 + SIGINT).
const INTERRUPTED: u8 = 130;

impl From<JobError> for Failure {
    fn from(e: JobError) -> Self {
        match e {
            JobError::Client(e) => e.into(),
            JobError::Io { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                Failure::Usage(format!("{e}: {source}"))
            }
            JobError::Io { ref source, .. } => Failure::Other(format!("{e}: {source}")),
            JobError::PriorStateUnknown { ref journal } => Failure::Refused(format!(
                "{} was written by a job that did not read each account first \
                 (--no-check-first, or a journal of 0.2): it cannot tell the relations \
                 that job changed from those already as wanted, and an undo would \
                 reverse both; --reverse-all-applied reverses every applied account",
                journal.display()
            )),
            JobError::InvalidInput { .. } => Failure::Refused(format!("the input file: {e}")),
            other => Failure::Refused(other.to_string()),
        }
    }
}

/// The job of `add`/`delete` with `--journal`, `--pairs` or `--dry-run`,
/// `purge`, `undo`, `restore` or `resume`.
pub(crate) fn job_for(command: &str, positional: &[String], args: &Args) -> Result<Job, Failure> {
    let one = |what: &str| one_argument(command, positional, what);
    match command {
        "add" | "delete" => change_job(command, positional, args),
        "purge" => Ok(Job::purge(one("account")?)),
        "undo" => {
            Ok(Job::undo(one("journal to undo")?)?.reverse_all_applied(args.reverse_all_applied))
        }
        "restore" => Ok(Job::restore(one("snapshot file")?)),
        "resume" => match args.file.as_deref() {
            Some("-") => Err(Failure::Usage(
                "`resume --file` takes the moved input file, not stdin".into(),
            )),
            Some(moved) => Ok(Job::resume_with_input(one("journal path")?, moved)?),
            None => Ok(Job::resume(one("journal path")?)?),
        },
        _ => Err(Failure::Usage(format!("`{command}` is not a job"))),
    }
}

/// The one argument `command` takes, `what` it is.
fn one_argument(command: &str, positional: &[String], what: &str) -> Result<String, Failure> {
    match positional {
        [only] => Ok(only.clone()),
        _ => Err(Failure::Usage(format!(
            "`{command}` takes exactly one {what}"
        ))),
    }
}

/// `add` or `delete` as a job: of `--pairs`, of the targets of a dry run,
/// or of FROM and the `--file` of a journaled one.
fn change_job(command: &str, positional: &[String], args: &Args) -> Result<Job, Failure> {
    let op = if command == "add" {
        Operation::Follow
    } else {
        Operation::Unfollow
    };
    if let Some(pairs) = args.pairs.as_deref() {
        if pairs == "-" {
            return Err(Failure::Usage(
                "--pairs takes a file, not stdin (resuming checks it is unchanged)".into(),
            ));
        }
        return Ok(checked(Job::pairs(op, JobInput::file(pairs)), args));
    }
    if args.journal.is_none() {
        return preview_job(command, op, positional, args.file.as_deref());
    }
    let from = one_argument(
        command,
        positional,
        "account, FROM (with --journal the targets come from --file)",
    )?;
    let path = match args.file.as_deref() {
        Some("-") | None => {
            return Err(Failure::Usage(format!(
                "`{command}` with --journal needs --file PATH (a file, not stdin: \
                 resuming checks it is unchanged)"
            )))
        }
        Some(p) => p,
    };
    Ok(checked(targets_job(op, &from, JobInput::file(path)), args))
}

/// A preview of a plain call: the targets on the command line or in `file`.
fn preview_job(
    command: &str,
    op: Operation,
    positional: &[String],
    file: Option<&str>,
) -> Result<Job, Failure> {
    let (from, rest) = positional
        .split_first()
        .ok_or_else(|| Failure::Usage(format!("`{command}` needs an account")))?;
    let mut to = rest.to_vec();
    if let Some(path) = file {
        to.extend(crate::read_ids(path)?);
    }
    if to.is_empty() {
        return Err(Failure::Usage(format!(
            "`{command}` needs at least one target"
        )));
    }
    Ok(targets_job(op, from, JobInput::lines(to)))
}

/// `--check-first` / `--no-check-first`, or the library's default.
fn checked(job: Job, args: &Args) -> Job {
    match args.check_first {
        Some(on) => job.check_first(on),
        None => job,
    }
}

/// FROM follows (or unfollows) every account of `input`.
fn targets_job(op: Operation, from: &str, input: JobInput) -> Job {
    match op {
        Operation::Follow => Job::follow(from, input),
        Operation::Unfollow => Job::unfollow(from, input),
    }
}

/// `--dry-run`: each relation as it would go, and the counts; exit 0 when
/// every relation could be read, 1 when some could not.
pub(crate) fn preview(job: Job, client: &Client, as_json: bool) -> Result<u8, Failure> {
    let mut failed_write = None;
    let preview = job.preview(client, |item| {
        if failed_write.is_some() {
            return;
        }
        let text = if as_json {
            preview_json(item).to_string()
        } else {
            preview_text(item)
        };
        if let Err(e) = crate::out_line(&text) {
            failed_write = Some(e);
        }
    })?;
    if let Some(e) = failed_write {
        return Err(e);
    }
    eprintln!("dry run: {preview} (nothing was sent)");
    Ok(u8::from(preview.unknown > 0))
}

/// A relation of a preview as one JSON object.
fn preview_json(item: &PreviewItem) -> serde_json::Value {
    let mut v = json!({"from": item.from, "account": item.account});
    let extra = match &item.expected {
        Expected::Change => json!({"expected": "change"}),
        Expected::InPlace => json!({"expected": "in_place"}),
        Expected::Refused { code, info } => {
            json!({"expected": "refused", "code": code, "info": info})
        }
        Expected::SelfFollow => {
            json!({"expected": "refused", "info": "an account cannot follow itself"})
        }
        Expected::Unknown(e) => json!({"expected": "unknown", "error": e}),
        _ => json!({"expected": "unknown"}),
    };
    if let (Some(m), serde_json::Value::Object(extra)) = (v.as_object_mut(), extra) {
        m.extend(extra);
        m.insert("words".into(), item.words().into());
    }
    v
}

/// A relation of a preview as one line of the table: the operation's own
/// words ("would be removed", "not there"; "would be made", "already
/// there").
fn preview_text(item: &PreviewItem) -> String {
    let who = format!("{} -> {}", item.from, item.account);
    match &item.expected {
        Expected::Refused { code, info } => format!("{who:<40}  REFUSED  {code} {info}"),
        Expected::SelfFollow => format!("{who:<40}  REFUSED  an account cannot follow itself"),
        Expected::Unknown(e) => format!("{who:<40}  UNKNOWN  {e}"),
        _ => format!("{who:<40}  {}", item.words()),
    }
}

/// Where `export --out` writes.
pub(crate) enum ExportTo {
    /// `--out -`.
    Stdout,
    /// A regular file (or a new one): written under a temporary name beside
    /// it, synced, renamed over it. For a symlink to a regular file, the
    /// file it points to (the link stays).
    File(PathBuf),
}

/// Checks `--out` before anything is listed: `-` is stdout; a path that is
/// there must be a regular file (or a symlink to one), never a device, a
/// directory, a FIFO or a socket, which a rename would replace. A FIFO is
/// refused rather than written through, so that `--out` always means a
/// whole snapshot or none (`--out - > FIFO` streams to one).
pub(crate) fn export_target(out: &str) -> Result<ExportTo, Failure> {
    if out == "-" {
        return Ok(ExportTo::Stdout);
    }
    let path = Path::new(out);
    let refuse = |what: String| {
        Failure::Refused(format!(
            "--out {out} is {what}: the snapshot goes to a regular file (it replaces it \
             whole when the export ends), or to stdout with --out -"
        ))
    };
    let meta = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(ExportTo::File(path.to_path_buf()))
        }
        Err(e) => return Err(Failure::Other(format!("cannot read {out}: {e}"))),
        Ok(meta) => meta,
    };
    if meta.is_file() {
        return Ok(ExportTo::File(path.to_path_buf()));
    }
    if !meta.file_type().is_symlink() {
        return Err(refuse(kind_of(&meta).into()));
    }
    let target = std::fs::canonicalize(path)
        .map_err(|_| refuse("a symlink to nothing that exists".into()))?;
    match std::fs::metadata(&target) {
        Ok(m) if m.is_file() => Ok(ExportTo::File(target)),
        Ok(m) => Err(refuse(format!(
            "a symlink to {} ({})",
            kind_of(&m),
            target.display()
        ))),
        Err(e) => Err(Failure::Other(format!("cannot read {out}: {e}"))),
    }
}

/// What a file that is not a regular file is, in words.
fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

/// Removes the temporary files (`.NAME.PID.partial`) of exports to `out`
/// that died before renaming them: those whose lock is free (the kernel
/// releases it when a process ends, however it ends) and, where `/proc`
/// tells, whose process is gone.
fn remove_stale_partials(out: &Path) {
    let name = out.file_name().unwrap_or_default().to_string_lossy();
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!(".{name}.");
    for entry in entries.flatten().take(100_000) {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = file
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".partial"))
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let running = Path::new("/proc/self").exists()
            && Path::new(&format!("/proc/{pid}")).exists()
            && pid != std::process::id();
        if running || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        let free = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .is_ok_and(|f| f.try_lock().is_ok());
        if free {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// `export --out FILE` (written under a temporary name, synced, renamed),
/// or `--out -` (stdout).
pub(crate) fn export(client: &Client, accounts: &[String], to: ExportTo) -> Result<u8, Failure> {
    let out = match to {
        ExportTo::File(out) => out,
        ExportTo::Stdout => {
            let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
            let summary = job::export(client, accounts, &mut stdout, report_every_5s())?;
            eprintln!(
                "{} relations of {} written to stdout",
                summary.relations,
                crate::accounts(summary.accounts)
            );
            return Ok(0);
        }
    };
    remove_stale_partials(&out);
    let name = out.file_name().unwrap_or_default().to_string_lossy();
    let tmp = out.with_file_name(format!(".{name}.{}.partial", std::process::id()));
    let file = std::fs::File::create(&tmp)
        .map_err(|e| Failure::Other(format!("cannot create {}: {e}", tmp.display())))?;
    // Held until the end: a later export knows this file is not stale.
    let _ = file.try_lock();
    let mut writer = std::io::BufWriter::new(file);
    let result = job::export(client, accounts, &mut writer, report_every_5s());
    let summary = match result {
        Ok(summary) => summary,
        Err(e) => {
            drop(writer);
            let _ = std::fs::remove_file(&tmp);
            return Err(e.into());
        }
    };
    let whole = writer
        .into_inner()
        .map_err(|e| e.into_error())
        .and_then(|file| file.sync_all())
        .and_then(|()| std::fs::rename(&tmp, &out));
    if let Err(e) = whole {
        let _ = std::fs::remove_file(&tmp);
        return Err(Failure::Other(format!(
            "cannot write {}: {e}",
            out.display()
        )));
    }
    eprintln!(
        "{} relations of {} written to {}",
        summary.relations,
        crate::accounts(summary.accounts),
        out.display()
    );
    Ok(0)
}

/// An export's progress: a line on stderr every 5 s.
fn report_every_5s() -> impl FnMut(&job::ExportSummary) {
    let mut last = Instant::now();
    move |s| {
        if last.elapsed() >= Duration::from_secs(5) {
            last = Instant::now();
            eprintln!("{} accounts, {} relations so far", s.accounts, s.relations);
        }
    }
}

/// Runs a job with progress on stderr and Ctrl-C handling; prints what was
/// not applied and a summary; returns the exit status.
/// Runs a job; `relations` when it counts relations (purge, pairs, undo,
/// restore) rather than the accounts of one FROM, for the progress line;
/// `resume_line` makes the command that resumes it, once it ran.
pub(crate) fn run(
    job: Job,
    client: &Client,
    journal: Option<&Path>,
    relations: bool,
    resume_line: impl Fn() -> Option<String>,
) -> Result<u8, Failure> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let _ = ctrlc::set_handler(move || {
        if !flag.swap(true, Ordering::SeqCst) {
            eprintln!("\nstopping: the requests in flight finish and are journaled…");
        }
    });
    let mut display = Display::new(if relations { "relations" } else { "accounts" });
    let summary = job
        .stop_when(stop.clone())
        .run(client, |p| display.show(p))?;
    display.done();
    if let Some(path) = journal {
        print_failures(path)?;
    }
    print_summary(&summary);
    let resume = |before: &str| {
        if let Some(line) = resume_line() {
            eprintln!("{before}: {line}");
        }
    };
    if let Some(why) = &summary.stopped_by {
        eprintln!("the job stopped: {why}");
        if why.is_no_answer() {
            resume(&format!(
                "{} waiting; when the service answers again",
                units(&summary, summary.to_resume)
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
            units(&summary, summary.unknown)
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
            "in_place": s.in_place,
            "refused": s.refused,
            "unknown": s.unknown,
            "pending": s.pending,
            "to_resume": s.to_resume,
            "complete": s.complete,
            "sort_run": s.sort_run,
        });
        crate::out_line(&v.to_string())?;
    } else {
        let state = if s.complete {
            " (complete)".to_string()
        } else {
            format!(
                " (not complete: {} waiting for `tim-follow resume {path}`)",
                units(&s, s.to_resume)
            )
        };
        let sorted = match s.sort_run {
            Some(run) => format!("; pairs grouped by FROM (sorted in runs of {run})"),
            None => String::new(),
        };
        crate::out_line(&format!("{path}: {}{state}{sorted}", counts(&s)))?;
    }
    Ok(0)
}

/// `n` of what the job counts: "3 accounts", or for a purge, a job of pairs,
/// an undo or a restore, "3 relations".
fn units(s: &JobSummary, n: u64) -> String {
    crate::plural(n, if s.relations { "relation" } else { "account" })
}

fn counts(s: &JobSummary) -> String {
    let in_place = match s.in_place {
        0 => String::new(),
        n => format!(" ({n} already in place)"),
    };
    format!(
        "{}: {} applied{in_place}, {} refused, {} unknown, {} pending",
        units(s, s.total),
        s.applied,
        s.refused,
        s.unknown,
        s.pending
    )
}

fn print_summary(s: &JobSummary) {
    eprintln!(
        "{} ({} sent in {:.1} s)",
        counts(s),
        crate::plural(s.requests_sent, "request"),
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
    Lines { last: Instant, unit: &'static str },
}

impl Display {
    /// `unit`: what the job counts, "accounts" or "relations".
    fn new(unit: &'static str) -> Display {
        if !std::io::stderr().is_terminal() {
            return Display::Lines {
                last: Instant::now(),
                unit,
            };
        }
        let bar = ProgressBar::new(0);
        let template = format!("{{bar:30}} {{pos}}/{{len}} {unit}  {{msg}}  ETA {{eta}}");
        let style = ProgressStyle::with_template(&template)
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
            Display::Lines { last, unit } if last.elapsed() >= Duration::from_secs(5) => {
                *last = Instant::now();
                let rate = p.requests as f64 / p.elapsed.as_secs_f64().max(0.001);
                let per_s = p.accounts_sent as f64 / p.elapsed.as_secs_f64().max(0.001);
                let left = p.total.saturating_sub(p.done);
                let eta = if per_s > 0.0 {
                    left as f64 / per_s
                } else {
                    0.0
                };
                let _ = writeln!(
                    std::io::stderr(),
                    "{}/{} {unit}, {rate:.0} requests/s, {} refused, {} unknown, ETA {eta:.0} s",
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

//! `tim-follow`: follow, unfollow, check, list and count from the command line.
//!
//! Built with the `cli` feature: `cargo install --locked --path . --features cli`.

mod args;
mod help;
mod jobs;
mod logger;
mod webhooks;

use args::{Args, Parsed};

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;

use serde_json::{json, Value};
use tim_follow::{
    BatchOutcome, BatchRequest, Client, ClientBuilder, Error, ErrorKind, Field, FollowAdd,
    FollowCheck, FollowCounts, FollowDelete, FollowGetInfo, FollowList, FollowType, InvalidInput,
    Outcome,
};

enum Failure {
    Usage(String),
    /// Not a usage error, but nothing was sent: a damaged journal, a
    /// journal in use, an input file with a bad line. Exit 2, no usage hint.
    Refused(String),
    Call(Error),
    /// A failure that is neither a usage error nor a call's: a file, stdout.
    Other(String),
}

/// Writes one line to stdout; a failed write (a full disk) is a failure,
/// not silence. A reader that went away (`| head`) ends the program quietly.
fn out_line(line: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    written(writeln!(out, "{line}").and_then(|()| out.flush()))
}

/// The outcome of a write to stdout: a failure (a full disk) is exit 3, not
/// silence; a reader that went away (`| head`) ends the program quietly.
fn written(result: std::io::Result<()>) -> Result<(), Failure> {
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(Failure::Other(format!("cannot write the output: {e}"))),
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidInput(bad) => Failure::Usage(in_cli_terms(&bad)),
            other => Failure::Call(other),
        }
    }
}

/// A builder's complaint in the words of this tool: its variables and
/// arguments, not the library's method names, chosen by the field.
pub(crate) fn in_cli_terms(bad: &InvalidInput) -> String {
    let reason = &bad.reason;
    let name = match &bad.field {
        Field::BaseUrl => "TIM_BASE_URL",
        Field::SdkAppId => "TIM_SDKAPPID",
        Field::Admin => "TIM_ADMIN",
        Field::SecretKey => "TIM_SECRET_KEY",
        Field::UserSig => "TIM_USERSIG",
        Field::RateLimit => "--rate-limit",
        Field::Timeout => "--timeout",
        Field::RedisUrl => "TIM_REDIS_URL",
        Field::FromAccount => "FROM",
        Field::Env(var) => var,
        Field::Credentials => return "no credentials: set TIM_SECRET_KEY (or TIM_USERSIG)".into(),
        Field::ListItem { id, .. } => return format!("the account {id:?}: {reason}"),
        // Settings this tool does not expose: the library's own words.
        _ => return bad.to_string(),
    };
    // The library's remedy names its builder methods; this tool has its own.
    let remedy = match (&bad.field, bad.remedy) {
        (Field::BaseUrl, Some(_)) => ": use https (plain http goes to 127.0.0.1 or localhost only)",
        (Field::RateLimit, Some(_)) => "; give a number above 0",
        _ => "",
    };
    format!("{name}: {reason}{remedy}")
}

/// A call's error for this tool's user: the data-center hint of 70016 and
/// 70020 only when the region picked the endpoint.
fn call_error(e: &Error) -> String {
    let base = std::env::var("TIM_BASE_URL")
        .ok()
        .filter(|v| !v.trim().is_empty());
    match (e.api(), base) {
        (Some(api), Some(base)) if matches!(api.code, 70016 | 70020) => format!(
            "API error {} ({:?}): {} (TIM_BASE_URL is {base}: check that it serves this SDKAppID)",
            api.code,
            api.kind(),
            api.info
        ),
        _ => e.to_string(),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => ExitCode::from(code),
        Err(Failure::Usage(msg)) => {
            eprintln!("error: {msg}\n\nRun `tim-follow --help` for usage.");
            ExitCode::from(2)
        }
        Err(Failure::Refused(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Call(e)) => {
            eprintln!("error: {}", call_error(&e));
            if let Some(advice) = advice(&e) {
                eprintln!("\n{advice}");
            }
            ExitCode::from(3)
        }
        Err(Failure::Other(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(3)
        }
    }
}

/// Whether the client makes its UserSigs from a SecretKey (set once the
/// client is built): the advice for 70001 depends on it.
static GENERATES_USERSIGS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// What the user should fix for the usual misconfigurations.
fn advice(e: &Error) -> Option<String> {
    let api = e.api()?;
    let text = match api.code {
        70016 | 70020 if std::env::var("TIM_BASE_URL").is_ok_and(|v| !v.trim().is_empty()) => return None,
        70016 | 70020 => "The SDKAppID is not served by this data center. Set --region (or TIM_REGION) \
                          to the region the app was created in (Console > Application > Basic information).",
        70009 => "The UserSig was made with another key. Check that TIM_SECRET_KEY is the SecretKey \
                  of this SDKAppID (Console > Application > Basic configuration).",
        70001 if GENERATES_USERSIGS.get() == Some(&true) => {
            "The UserSig was made from the SecretKey moments ago, and made again, and the \
             service still calls it expired: the clock of this machine is probably wrong (a \
             board without a real-time clock or NTP starts in 1970). Check `date -u` and set \
             the time (NTP), then run again."
        }
        70001 => "The UserSig of TIM_USERSIG has expired. Set TIM_SECRET_KEY instead so that \
                  signatures are generated and renewed, or generate a new one (one generated \
                  just now that is expired means the clock of the machine that made it is wrong).",
        30005 => "The follow/fan feature is off for this app: it needs the Pro, Pro Plus or Enterprise \
                  package on the international sites, or 旗舰版/企业版 (Ultimate/Enterprise) on the \
                  China site, and the switch in Console > Configuration > Friends and Relationship Chains.",
        60010 | 30004 => "TIM_ADMIN must be an App admin account (Console > Auxiliary tools > admin accounts).",
        // Other codes: the error line already carries the hint, if any.
        _ => return None,
    };
    Some(text.to_string())
}

fn read_ids(path: &str) -> Result<Vec<String>, Failure> {
    let reader: Box<dyn BufRead> = if path == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(path)
            .map_err(|e| Failure::Usage(format!("cannot open {path}: {e}")))?;
        Box::new(std::io::BufReader::new(f))
    };
    tim_follow::job::read_accounts(reader, path)
        .map(|id| {
            id.map_err(|e| match e {
                tim_follow::job::JobError::InvalidInput { .. } => {
                    Failure::Refused(format!("{path}: {e}"))
                }
                other => Failure::Other(format!("{path}: {other}")),
            })
        })
        .collect()
}

/// "1 account", "2 accounts".
pub(crate) fn accounts(n: impl Into<u64>) -> String {
    plural(n.into(), "account")
}

/// "1 request", "2 requests": `noun` with an `s` unless `n` is 1.
pub(crate) fn plural(n: u64, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

fn run() -> Result<u8, Failure> {
    let args = match args::parse(std::env::args_os().skip(1))? {
        Parsed::Run(args) => *args,
        Parsed::Help(topic) => {
            let text = match topic {
                None => help::HELP.to_string(),
                Some(cmd) => help::command_help(&cmd),
            };
            out_line(text.trim_end())?;
            return Ok(0);
        }
        Parsed::Version => {
            out_line(concat!("tim-follow ", env!("CARGO_PKG_VERSION")))?;
            return Ok(0);
        }
        Parsed::Nothing => {
            eprint!("{}", help::USAGE);
            return Ok(2);
        }
    };
    logger::init(args.verbose);
    match args.command.as_str() {
        "status" => jobs::status(&args.positional, args.json),
        "export" => export(&args),
        "webhooks" => webhooks::run(&webhooks::Options {
            listen: args.listen.clone(),
            out: args.out.clone(),
            exec: args.exec.clone(),
            exec_timeout: args.exec_timeout,
            token_file: args.token_file.clone(),
        }),
        _ if is_job(&args) => run_job(&args),
        _ if args.journal.is_some() => Err(Failure::Usage(format!(
            "--journal goes with add, delete, purge, undo and restore, not `{}`",
            args.command
        ))),
        _ => run_call(&args),
    }
}

/// Whether the command runs as a job: purge, resume, undo and restore
/// always; add and delete with a journal, pairs or a dry run.
fn is_job(args: &Args) -> bool {
    matches!(
        args.command.as_str(),
        "purge" | "resume" | "undo" | "restore"
    ) || (matches!(args.command.as_str(), "add" | "delete")
        && (args.journal.is_some() || args.pairs.is_some() || args.dry_run))
}

/// One call: add, delete, check, list or counts, with the accounts of the
/// command line and `--file`.
fn run_call(args: &Args) -> Result<u8, Failure> {
    let mut positional = args.positional.clone();
    if let Some(path) = &args.file {
        positional.extend(read_ids(path)?);
    }
    let need = |n: usize, what: &str| {
        if positional.len() < n {
            Err(Failure::Usage(format!("`{}` needs {what}", args.command)))
        } else {
            Ok(())
        }
    };
    match args.command.as_str() {
        "add" | "delete" | "check" => need(2, "an account and at least one target")?,
        "list" => need(1, "an account")?,
        "counts" => need(1, "at least one account")?,
        other => return Err(Failure::Usage(format!("unknown command {other:?}"))),
    }
    let named: Vec<&str> = positional
        .iter()
        .map(String::as_str)
        .filter(|p| !matches!(*p, "fans" | "following" | "mutual"))
        .collect();
    let (client, _emulator) = make_client(args, &named)?;
    call(args, &client, &positional)
}

/// A job: `--journal … add|delete|purge|undo|restore`, `--pairs`, `resume`,
/// or any of them with `--dry-run`.
fn run_job(args: &Args) -> Result<u8, Failure> {
    if args.emulator && args.command == "resume" {
        return Err(Failure::Usage(
            "--emulator keeps no state from one run to the next: there is nothing to resume".into(),
        ));
    }
    let mut job = jobs::job_for(&args.command, &args.positional, args)?;
    let journal = match args.command.as_str() {
        "resume" => args.positional.first().cloned(),
        _ => args.journal.clone(),
    };
    // The rate a journal records is the resume's unless it is given anew.
    let mut args = args.clone();
    match args.rate_limit {
        Some(n) => job = job.record_rate_limit(n),
        None => args.rate_limit = job.recorded_rate_limit(),
    }
    let args = &args;
    let mut named: Vec<String> = args.positional.clone();
    if let (true, Some(path)) = (args.emulator, &args.file) {
        named.extend(read_ids(path)?);
    }
    let named: Vec<&str> = named.iter().map(String::as_str).collect();
    let (client, _emulator) = make_client(args, &named)?;
    let job = match &journal {
        Some(path) => job.journal(path),
        None => job,
    };
    if args.dry_run {
        return jobs::preview(job, &client, args.json);
    }
    if args.command == "undo" || args.command == "restore" {
        eprintln!(
            "note: relations made again get new follow times from the service; \
             the original times cannot come back"
        );
    }
    // What the progress line counts; a resumed job's journal says.
    let relations = match args.command.as_str() {
        "purge" | "undo" | "restore" => true,
        "resume" => journal
            .as_deref()
            .and_then(|j| tim_follow::job::status(j).ok())
            .is_some_and(|s| s.relations),
        _ => args.pairs.is_some(),
    };
    // Made once the job ran: its journal then says what it records.
    let resume = || journal.as_deref().map(|j| resume_line(args, j));
    let path = journal.as_deref().map(Path::new);
    jobs::run(job, &client, path, relations, resume)
}

/// The command that resumes the job of `journal` as this run ran it: with
/// the moved input (`--file`), and the rate limit and timeout when they are
/// not what the journal records.
fn resume_line(args: &Args, journal: &str) -> String {
    let mut line = String::from("tim-follow resume");
    if let (Some(moved), "resume") = (&args.file, args.command.as_str()) {
        line += &format!(" --file {}", shell_word(moved));
    }
    let recorded = tim_follow::job::Job::resume(journal)
        .ok()
        .and_then(|j| j.recorded_rate_limit());
    if let Some(n) = args.rate_limit.filter(|n| Some(*n) != recorded) {
        line += &format!(" --rate-limit {n}");
    }
    if let Some(t) = args.timeout {
        line += &format!(" --timeout {}", t.as_secs_f64());
    }
    line += " ";
    line += &shell_word(journal);
    line
}

/// A path as one word for a shell: quoted when it holds anything but
/// letters, digits and `/._-+:@,`.
fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@,".contains(c));
    if plain {
        return text.to_string();
    }
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// `export --out FILE ACCOUNT...`: a snapshot, written to a temporary file
/// and renamed when whole (or to stdout with `--out -`).
fn export(args: &Args) -> Result<u8, Failure> {
    let mut accounts = args.positional.clone();
    if let Some(path) = &args.file {
        accounts.extend(read_ids(path)?);
    }
    if accounts.is_empty() {
        return Err(Failure::Usage(
            "`export` needs at least one account (or --file)".into(),
        ));
    }
    let to = jobs::export_target(args.out.as_deref().unwrap_or_default())?;
    let named: Vec<&str> = accounts.iter().map(String::as_str).collect();
    let (client, _emulator) = make_client(args, &named)?;
    jobs::export(&client, &accounts, to)
}

/// The client: for the built-in emulator (with `named` imported), or from
/// the environment. The emulator, when there is one, lives as long as the
/// returned value.
fn make_client(
    args: &Args,
    named: &[&str],
) -> Result<(Client, Option<tim_follow::testkit::Emulator>), Failure> {
    if !args.emulator {
        let mut b: ClientBuilder = Client::builder_from_env();
        one_endpoint(args)?;
        if let Some(r) = args.region {
            b = b.region(r);
        }
        let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.trim().is_empty());
        if set("TIM_SECRET_KEY") && set("TIM_USERSIG") {
            eprintln!(
                "note: TIM_SECRET_KEY and TIM_USERSIG are both set; TIM_SECRET_KEY is used \
                 (UserSigs are made from it and renewed before they expire)"
            );
        }
        let sdkappid = std::env::var("TIM_SDKAPPID")
            .ok()
            .and_then(|v| v.trim().parse().ok());
        let client = limits(b, args, sdkappid)?.build()?;
        let _ = GENERATES_USERSIGS.set(client.generates_usersigs());
        return Ok((client, None));
    }
    let emulator = tim_follow::testkit::Emulator::start()
        .map_err(|e| Failure::Usage(format!("cannot start the emulator: {e}")))?;
    emulator.import_accounts(named);
    eprintln!(
        "(emulator at {}; {} imported)",
        emulator.base_url(),
        accounts(named.len() as u64)
    );
    let builder = limits(emulator.client_builder(), args, Some(emulator.sdkappid()))?;
    let client = builder.build()?;
    let _ = GENERATES_USERSIGS.set(client.generates_usersigs());
    Ok((client, Some(emulator)))
}

/// Refuses a region, from `--region` or `TIM_REGION`, beside `TIM_BASE_URL`:
/// a setting that names one data center must not go to another endpoint.
fn one_endpoint(args: &Args) -> Result<(), Failure> {
    let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.trim().is_empty());
    if !set("TIM_BASE_URL") {
        return Ok(());
    }
    let (region, leave_out) = if args.region.is_some() {
        ("--region", "leave out --region")
    } else if set("TIM_REGION") {
        ("TIM_REGION", "unset TIM_REGION")
    } else {
        return Ok(());
    };
    Err(Failure::Usage(format!(
        "{region} does not go with TIM_BASE_URL, which picks the endpoint itself: \
         unset TIM_BASE_URL, or {leave_out}"
    )))
}

/// `TIM_REDIS_URL`, when it is set; set but empty is an error.
pub(crate) fn redis_url() -> Result<Option<String>, Failure> {
    match std::env::var("TIM_REDIS_URL") {
        Err(_) => Ok(None),
        Ok(url) if url.trim().is_empty() => Err(Failure::Usage(
            "TIM_REDIS_URL is set but empty: unset it, or give redis://host:port".into(),
        )),
        Ok(url) => Ok(Some(url)),
    }
}

/// `--rate-limit` and `TIM_REDIS_URL`.
fn limits(
    mut b: ClientBuilder,
    args: &Args,
    sdkappid: Option<u64>,
) -> Result<ClientBuilder, Failure> {
    if let Some(t) = args.timeout {
        b = b.timeout(t);
    }
    let rate = args.rate_limit.unwrap_or(200);
    if let Some(n) = args.rate_limit {
        b = b.rate_limit(n);
    }
    let Some(url) = redis_url()? else {
        return Ok(b);
    };
    let _ = (&url, sdkappid, rate);
    #[cfg(feature = "redis")]
    {
        let Some(sdkappid) = sdkappid else {
            return Ok(b); // building the client reports TIM_SDKAPPID
        };
        let budget = tim_follow::RedisLimiter::new(url.trim(), sdkappid, f64::from(rate))?;
        Ok(b.rate_limiter(std::sync::Arc::new(budget)))
    }
    #[cfg(not(feature = "redis"))]
    Err(Failure::Usage(
        "TIM_REDIS_URL is set, but this tim-follow was built without the `redis` feature \
         (cargo install --locked --path . --features cli,redis)"
            .into(),
    ))
}

/// The one-call commands: add, delete, check, counts, list.
fn call(args: &Args, client: &Client, positional: &[String]) -> Result<u8, Failure> {
    let from = positional[0].clone();
    let rest = &positional[1..];
    match args.command.as_str() {
        "add" => report(
            &batch::<FollowAdd>(client, &from, rest)?,
            args.json,
            "applied",
            |_| Value::Null,
            |_| String::new(),
        ),
        "delete" => report(
            &batch::<FollowDelete>(client, &from, rest)?,
            args.json,
            "applied",
            |_| Value::Null,
            |_| String::new(),
        ),
        "check" => report(
            &batch::<FollowCheck>(client, &from, rest)?,
            args.json,
            "answered",
            |t| json!({"follow_type": t.code(), "follows": t.follows(), "followed_by": t.followed_by()}),
            |t| relation_label(*t).to_string(),
        ),
        "counts" => report(
            &batch::<FollowGetInfo>(client, &from, positional)?,
            args.json,
            "answered",
            |c: &FollowCounts| json!({"followers": c.followers, "following": c.following, "mutual": c.mutual}),
            |c| {
                format!(
                    "{} followers, {} following, {} mutual",
                    c.followers, c.following, c.mutual
                )
            },
        ),
        "list" => list(args, client, &from, rest.first().map(String::as_str)),
        _ => unreachable!("commands were checked above"),
    }
}

/// `list FROM [fans|following|mutual]`: one line per account, up to
/// `--limit`, and the number listed on stderr.
fn list(args: &Args, client: &Client, from: &str, which: Option<&str>) -> Result<u8, Failure> {
    let list = match which {
        None | Some("following") => FollowList::Following,
        Some("fans") => FollowList::Fans,
        Some("mutual") => FollowList::Mutual,
        Some(other) => {
            return Err(Failure::Usage(format!(
                "unknown list {other:?}: fans, following or mutual"
            )))
        }
    };
    let mut out = std::io::stdout().lock();
    let mut n = 0;
    for entry in client.follow_get(from, list) {
        if args.limit.is_some_and(|l| n >= l) {
            break;
        }
        let entry = entry?;
        n += 1;
        let line = if args.json {
            json!({"account": entry.to_account, "follow_time": entry.follow_time}).to_string()
        } else {
            format!("{:<32}  {}", entry.to_account, entry.follow_time_rfc3339())
        };
        written(writeln!(out, "{line}"))?;
    }
    written(out.flush())?;
    if !args.json {
        eprintln!("{}", accounts(n as u64));
    }
    Ok(0)
}

fn relation_label(t: FollowType) -> &'static str {
    match t {
        FollowType::None => "none",
        FollowType::Fan => "fan (follows you)",
        FollowType::Following => "following",
        FollowType::Mutual => "mutual",
        FollowType::Unknown(_) => "unknown",
    }
}

/// A batch call, with progress on stderr when it takes more than one request.
fn batch<E: BatchRequest>(
    client: &Client,
    from: &str,
    to: &[String],
) -> Result<BatchOutcome<E::Payload>, Error> {
    if to.len() <= E::MAX_ACCOUNTS {
        return client.batch_with_progress::<E, _>(from, to, |_| {});
    }
    let display = jobs::BatchDisplay::new();
    let out = client.batch_with_progress::<E, _>(from, to, |p| display.show(p));
    display.done();
    out
}

/// Prints one line per account and a summary that says how many were
/// `done` (applied for a change, answered for check and counts); returns
/// the exit status.
fn report<T>(
    out: &BatchOutcome<T>,
    as_json: bool,
    done: &str,
    payload_json: impl Fn(&T) -> Value,
    payload_text: impl Fn(&T) -> String,
) -> Result<u8, Failure> {
    for item in out {
        let line = match (&item.outcome, as_json) {
            (Outcome::Applied(p), true) => {
                // "applied" for a change, "answered" for a read (check, counts).
                let mut v = json!({"account": item.account, "outcome": done});
                if let (Value::Object(m), Value::Object(extra)) = (&mut v, payload_json(p)) {
                    m.extend(extra);
                }
                v.to_string()
            }
            (Outcome::Refused(e), true) => json!({"account": item.account, "outcome": "refused", "code": e.code, "info": e.info}).to_string(),
            (Outcome::Unknown(e), true) => json!({"account": item.account, "outcome": "unknown", "error": e.to_string()}).to_string(),
            (Outcome::Applied(p), false) => format!("{:<32}  ok  {}", item.account, payload_text(p)).trim_end().to_string(),
            (Outcome::Refused(e), false) => format!("{:<32}  REFUSED  {} {}", item.account, e.code, e.info),
            (Outcome::Unknown(e), false) => format!("{:<32}  UNKNOWN  {e}", item.account),
        };
        out_line(&line)?;
    }
    let failed = out.len() - out.applied().count();
    if !as_json {
        eprintln!(
            "{}: {} {done}, {} refused, {} unknown",
            accounts(out.len() as u64),
            out.applied().count(),
            out.refused().count(),
            out.unknown().count()
        );
        if let Some((_, e)) = out.unknown().next() {
            if e.api().is_some_and(|a| a.kind() == ErrorKind::RateLimited) || e.is_retryable() {
                eprintln!("the unknown accounts may be sent again");
            }
        }
    }
    Ok(u8::from(failed > 0))
}

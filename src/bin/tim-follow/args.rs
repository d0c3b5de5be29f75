//! The command line, read with `lexopt`: options anywhere before `--`,
//! `--opt value` and `--opt=value`, `-vv`, `--` before arguments that start
//! with `-`. Options that do not apply to the command are refused here.

use std::ffi::OsString;
use std::time::Duration;

use lexopt::Arg::{Long, Short, Value};
use tim_follow::Region;

use crate::help;
use crate::Failure;

/// What the command line asks for.
pub(crate) enum Parsed {
    /// A command to run.
    Run(Box<Args>),
    /// `--help`, `help`, `help COMMAND`, `COMMAND --help`: the whole help
    /// (`None`) or one command's.
    Help(Option<String>),
    /// `--version`.
    Version,
    /// No arguments at all: a short usage on stderr, exit 2.
    Nothing,
}

/// The command, its arguments and every option given.
#[derive(Clone)]
pub(crate) struct Args {
    pub command: String,
    pub positional: Vec<String>,
    pub region: Option<Region>,
    pub file: Option<String>,
    pub json: bool,
    pub limit: Option<usize>,
    pub emulator: bool,
    pub journal: Option<String>,
    pub pairs: Option<String>,
    pub out: Option<String>,
    pub dry_run: bool,
    pub check_first: Option<bool>,
    pub reverse_all_applied: bool,
    pub listen: Option<String>,
    pub exec: Option<String>,
    pub exec_timeout: Option<Duration>,
    pub token_file: Option<String>,
    pub rate_limit: Option<u32>,
    pub timeout: Option<Duration>,
    pub verbose: u8,
}

/// Every long option, for the "did you mean" of an unknown one.
pub(crate) const LONG_OPTIONS: &[&str] = &[
    "region",
    "file",
    "journal",
    "dry-run",
    "pairs",
    "check-first",
    "no-check-first",
    "reverse-all-applied",
    "out",
    "json",
    "table",
    "limit",
    "rate-limit",
    "timeout",
    "verbose",
    "emulator",
    "listen",
    "exec",
    "exec-timeout",
    "token-file",
    "help",
    "version",
];

/// Reads the arguments (without the program name).
pub(crate) fn parse(raw: impl IntoIterator<Item = OsString>) -> Result<Parsed, Failure> {
    // Arguments that are not UTF-8 are a usage error, not a panic; they are
    // named by position before any is interpreted.
    let mut words = Vec::new();
    for (i, a) in raw.into_iter().enumerate() {
        match a.into_string() {
            Ok(s) => words.push(s),
            Err(bad) => {
                return Err(Failure::Usage(format!(
                    "argument {} ({}) is not UTF-8 text",
                    i + 1,
                    bad.to_string_lossy()
                )))
            }
        }
    }
    if words.is_empty() {
        return Ok(Parsed::Nothing);
    }
    let mut args = Args {
        command: String::new(),
        positional: Vec::new(),
        region: None,
        file: None,
        json: false,
        limit: None,
        emulator: false,
        journal: None,
        pairs: None,
        out: None,
        dry_run: false,
        check_first: None,
        reverse_all_applied: false,
        listen: None,
        exec: None,
        exec_timeout: None,
        token_file: None,
        rate_limit: None,
        timeout: None,
        verbose: 0,
    };
    let mut help = false;
    let mut p = lexopt::Parser::from_args(words);
    while let Some(arg) = p.next().map_err(lexopt_error)? {
        match arg {
            Short('h') | Long("help") => help = true,
            Short('V') | Long("version") => return Ok(Parsed::Version),
            Short('v') | Long("verbose") => args.verbose = args.verbose.saturating_add(1),
            Long("region") => {
                let v = value(&mut p, "--region")?;
                args.region =
                    Some(v.parse().map_err(|e: tim_follow::ParseRegionError| {
                        Failure::Usage(e.to_string())
                    })?);
            }
            Long("file") => once(&mut args.file, value(&mut p, "--file")?, "--file")?,
            Long("journal") => once(&mut args.journal, value(&mut p, "--journal")?, "--journal")?,
            Long("pairs") => once(&mut args.pairs, value(&mut p, "--pairs")?, "--pairs")?,
            Long("out") => once(&mut args.out, value(&mut p, "--out")?, "--out")?,
            Long("dry-run") => args.dry_run = true,
            Long("check-first") => args.check_first = Some(true),
            Long("no-check-first") => args.check_first = Some(false),
            Long("reverse-all-applied") => args.reverse_all_applied = true,
            Long("listen") => args.listen = Some(value(&mut p, "--listen")?),
            Long("exec") => args.exec = Some(value(&mut p, "--exec")?),
            Long("token-file") => args.token_file = Some(value(&mut p, "--token-file")?),
            Long("json") => args.json = true,
            Long("table") => args.json = false,
            Long("emulator") => args.emulator = true,
            Long("limit") => {
                let v = value(&mut p, "--limit")?;
                args.limit =
                    Some(v.parse().map_err(|_| {
                        Failure::Usage(format!("--limit takes a number, not {v:?}"))
                    })?);
            }
            Long("timeout") => {
                args.timeout = Some(seconds("--timeout", &value(&mut p, "--timeout")?)?);
            }
            Long("exec-timeout") => {
                let v = value(&mut p, "--exec-timeout")?;
                args.exec_timeout = Some(seconds("--exec-timeout", &v)?);
            }
            Long("rate-limit") => {
                let v = value(&mut p, "--rate-limit")?;
                args.rate_limit = match v.parse::<u32>() {
                    Ok(n) if n > 0 => Some(n),
                    _ => {
                        return Err(Failure::Usage(format!(
                            "--rate-limit takes a number of calls per second above 0, not {v:?}"
                        )))
                    }
                };
            }
            Long(other) => return Err(unknown_option(&format!("--{other}"), other)),
            Short(c) => return Err(unknown_option(&format!("-{c}"), &c.to_string())),
            Value(v) => {
                // Already checked to be UTF-8 above.
                let v = v.to_string_lossy().into_owned();
                if args.command.is_empty() {
                    args.command = v;
                } else {
                    args.positional.push(v);
                }
            }
        }
    }
    if args.command == "help" {
        return match args.positional.as_slice() {
            [] => Ok(Parsed::Help(None)),
            [topic] => known_command(topic).map(|()| Parsed::Help(Some(topic.clone()))),
            [_, extra, ..] => Err(Failure::Usage(format!(
                "`help` takes at most one command; {extra:?} is one too many"
            ))),
        };
    }
    if help {
        if args.command.is_empty() {
            return Ok(Parsed::Help(None));
        }
        known_command(&args.command)?;
        return Ok(Parsed::Help(Some(args.command)));
    }
    if args.command.is_empty() {
        return Err(Failure::Usage("no command given".into()));
    }
    known_command(&args.command)?;
    check_applies(&args)?;
    Ok(Parsed::Run(Box::new(args)))
}

/// An option's value, from `--opt value` or `--opt=value`.
fn value(p: &mut lexopt::Parser, flag: &str) -> Result<String, Failure> {
    match p.value() {
        Ok(v) => Ok(v.to_string_lossy().into_owned()),
        Err(_) => Err(Failure::Usage(format!("{flag} needs a value"))),
    }
}

/// An option that may be given once.
fn once(slot: &mut Option<String>, v: String, flag: &str) -> Result<(), Failure> {
    if slot.is_some() {
        let hint = if flag == "--file" {
            "; give one file"
        } else {
            ""
        };
        return Err(Failure::Usage(format!("{flag} is given twice{hint}")));
    }
    *slot = Some(v);
    Ok(())
}

/// The parser's own complaints in this tool's words.
fn lexopt_error(e: lexopt::Error) -> Failure {
    match e {
        lexopt::Error::UnexpectedValue { option, value } => Failure::Usage(format!(
            "{option} takes no value (given {:?})",
            value.to_string_lossy()
        )),
        lexopt::Error::MissingValue { option: Some(o) } => {
            Failure::Usage(format!("{o} needs a value"))
        }
        other => Failure::Usage(other.to_string()),
    }
}

/// "unknown option --limt (did you mean --limit?)".
fn unknown_option(shown: &str, name: &str) -> Failure {
    let hint = help::closest(name, LONG_OPTIONS)
        .map(|c| format!(" (did you mean --{c}?)"))
        .unwrap_or_default();
    Failure::Usage(format!(
        "unknown option {shown}{hint}; an argument that starts with '-' goes after `--`"
    ))
}

/// Refuses a command this tool does not have, naming the closest one.
fn known_command(cmd: &str) -> Result<(), Failure> {
    if help::COMMANDS.contains(&cmd) {
        return Ok(());
    }
    let hint = help::closest(cmd, help::COMMANDS)
        .map(|c| format!(" (did you mean {c}?)"))
        .unwrap_or_default();
    Err(Failure::Usage(format!("unknown command {cmd:?}{hint}")))
}

/// Refuses options that do nothing for the command, and extra arguments.
fn check_applies(args: &Args) -> Result<(), Failure> {
    let cmd = args.command.as_str();
    let refuse = |what: &str| Err(Failure::Usage(format!("{what} does not apply to `{cmd}`")));
    if args.limit.is_some() && cmd != "list" {
        return refuse("--limit");
    }
    if args.file.is_some() && matches!(cmd, "list" | "status" | "purge" | "undo" | "restore") {
        return refuse("--file");
    }
    if args.pairs.is_some() && !matches!(cmd, "add" | "delete") {
        return refuse("--pairs");
    }
    if args.pairs.is_some() && args.file.is_some() {
        return Err(Failure::Usage(
            "--pairs and --file cannot go together: a job reads one file".into(),
        ));
    }
    if args.out.is_some() && !matches!(cmd, "export" | "webhooks") {
        return refuse("--out");
    }
    if cmd == "export" && args.out.is_none() {
        return Err(Failure::Usage("`export` needs --out FILE".into()));
    }
    for (given, flag) in [
        (args.listen.is_some(), "--listen"),
        (args.exec.is_some(), "--exec"),
        (args.exec_timeout.is_some(), "--exec-timeout"),
        (args.token_file.is_some(), "--token-file"),
    ] {
        if given && cmd != "webhooks" {
            return refuse(flag);
        }
    }
    if args.exec_timeout.is_some() && args.exec.is_none() {
        return Err(Failure::Usage("--exec-timeout goes with --exec CMD".into()));
    }
    if cmd == "webhooks" && !args.positional.is_empty() {
        return Err(Failure::Usage(format!(
            "`webhooks` takes no arguments; {:?} is one too many",
            args.positional[0]
        )));
    }
    if args.dry_run
        && !matches!(
            cmd,
            "add" | "delete" | "purge" | "undo" | "restore" | "resume"
        )
    {
        return refuse("--dry-run");
    }
    if args.check_first.is_some() && (args.journal.is_none() || !matches!(cmd, "add" | "delete")) {
        return Err(Failure::Usage(
            "--check-first and --no-check-first go with a journaled add or delete \
             (undo and restore always check)"
                .into(),
        ));
    }
    if args.reverse_all_applied && cmd != "undo" {
        return Err(Failure::Usage(
            "--reverse-all-applied goes with undo".into(),
        ));
    }
    let most = match cmd {
        "list" => Some(2),
        "status" | "resume" | "purge" | "undo" | "restore" => Some(1),
        _ if args.pairs.is_some() => Some(0),
        _ => None,
    };
    match most {
        Some(n) if args.positional.len() > n => Err(Failure::Usage(format!(
            "`{cmd}` takes at most {n} argument{}; {:?} is one too many",
            if n == 1 { "" } else { "s" },
            args.positional[n]
        ))),
        _ => Ok(()),
    }
}

/// A number of seconds for `flag`: more than 0 and at most a day.
fn seconds(flag: &str, v: &str) -> Result<Duration, Failure> {
    match v.parse::<f64>() {
        Ok(s) if s > 0.0 && s <= 86_400.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err(Failure::Usage(format!(
            "{flag} takes seconds, more than 0 and at most a day, not {v:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(words: &[&str]) -> Result<Parsed, Failure> {
        parse(words.iter().map(OsString::from))
    }

    fn usage(words: &[&str]) -> String {
        match run(words) {
            Err(Failure::Usage(m)) => m,
            _ => panic!("{words:?} is not a usage error"),
        }
    }

    #[test]
    fn equals_and_space_forms_are_the_same() {
        for words in [
            &["--limit=5", "list", "a"][..],
            &["list", "--limit", "5", "a"],
        ] {
            let Ok(Parsed::Run(a)) = run(words) else {
                panic!("{words:?}")
            };
            assert_eq!(a.limit, Some(5));
            assert_eq!(a.positional, ["a"]);
        }
    }

    #[test]
    fn double_dash_ends_options() {
        let Ok(Parsed::Run(a)) = run(&["check", "--json", "--", "a", "-b", "--c"]) else {
            panic!()
        };
        assert!(a.json);
        assert_eq!(a.positional, ["a", "-b", "--c"]);
    }

    #[test]
    fn clustered_verbosity() {
        let Ok(Parsed::Run(a)) = run(&["-vv", "counts", "a"]) else {
            panic!()
        };
        assert_eq!(a.verbose, 2);
    }

    #[test]
    fn suggestions() {
        assert!(usage(&["--limt", "5", "list", "a"]).contains("did you mean --limit?"));
        assert!(usage(&["ad", "a", "b"]).contains("did you mean add?"));
        assert!(usage(&["--json=yes", "check", "a", "b"]).contains("--json takes no value"));
        assert!(usage(&["list", "a", "--limit"]).contains("--limit needs a value"));
    }

    #[test]
    fn help_forms() {
        assert!(matches!(run(&["help"]), Ok(Parsed::Help(None))));
        assert!(matches!(run(&["help", "add"]), Ok(Parsed::Help(Some(c))) if c == "add"));
        assert!(matches!(run(&["purge", "--help"]), Ok(Parsed::Help(Some(c))) if c == "purge"));
        assert!(matches!(run(&[]), Ok(Parsed::Nothing)));
        assert!(usage(&["help", "frob"]).contains("unknown command"));
    }
}

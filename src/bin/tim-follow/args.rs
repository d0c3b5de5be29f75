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
#[derive(Clone, Default)]
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
    let words = utf8_words(raw)?;
    if words.is_empty() {
        return Ok(Parsed::Nothing);
    }
    let mut args = Args::default();
    let mut help = false;
    let mut p = lexopt::Parser::from_args(words);
    while let Some(arg) = p.next().map_err(lexopt_error)? {
        match arg {
            Short('h') | Long("help") => help = true,
            Short('V') | Long("version") => return Ok(Parsed::Version),
            Short('v') => args.verbose = args.verbose.saturating_add(1),
            Short(c) => return Err(unknown_option(&format!("-{c}"), &c.to_string())),
            Long(name) => {
                let name = name.to_owned();
                args.long_option(&name, &mut p)?;
            }
            // Already checked to be UTF-8 by `utf8_words`.
            Value(v) => args.word(v.to_string_lossy().into_owned()),
        }
    }
    finish(args, help)
}

/// The arguments as text. Arguments that are not UTF-8 are a usage error,
/// not a panic; they are named by position before any is interpreted.
fn utf8_words(raw: impl IntoIterator<Item = OsString>) -> Result<Vec<String>, Failure> {
    raw.into_iter()
        .enumerate()
        .map(|(i, a)| {
            a.into_string().map_err(|bad| {
                Failure::Usage(format!(
                    "argument {} ({}) is not UTF-8 text",
                    i + 1,
                    bad.to_string_lossy()
                ))
            })
        })
        .collect()
}

impl Args {
    /// A word that is not an option: the command, then its arguments.
    fn word(&mut self, v: String) {
        if self.command.is_empty() {
            self.command = v;
        } else {
            self.positional.push(v);
        }
    }

    /// `--name`, `--name value` or `--name=value`.
    fn long_option(&mut self, name: &str, p: &mut lexopt::Parser) -> Result<(), Failure> {
        if self.flag(name) {
            return Ok(());
        }
        let flag = format!("--{name}");
        let value = || value(p, &flag);
        self.valued(name, &flag, value)
    }

    /// A long option that takes no value; false when `name` is not one.
    fn flag(&mut self, name: &str) -> bool {
        match name {
            "verbose" => self.verbose = self.verbose.saturating_add(1),
            "dry-run" => self.dry_run = true,
            "check-first" => self.check_first = Some(true),
            "no-check-first" => self.check_first = Some(false),
            "reverse-all-applied" => self.reverse_all_applied = true,
            "json" => self.json = true,
            "table" => self.json = false,
            "emulator" => self.emulator = true,
            _ => return false,
        }
        true
    }

    /// A long option that takes a value, read by `value` only when `name`
    /// is one; any other name is an unknown option.
    fn valued(
        &mut self,
        name: &str,
        flag: &str,
        value: impl FnOnce() -> Result<String, Failure>,
    ) -> Result<(), Failure> {
        match name {
            "region" => self.region = Some(region(&value()?)?),
            "file" => once(&mut self.file, value()?, flag)?,
            "journal" => once(&mut self.journal, value()?, flag)?,
            "pairs" => once(&mut self.pairs, value()?, flag)?,
            "out" => once(&mut self.out, value()?, flag)?,
            "listen" => self.listen = Some(value()?),
            "exec" => self.exec = Some(value()?),
            "token-file" => self.token_file = Some(value()?),
            "limit" => self.limit = Some(limit(&value()?)?),
            "timeout" => self.timeout = Some(seconds(flag, &value()?)?),
            "exec-timeout" => self.exec_timeout = Some(seconds(flag, &value()?)?),
            "rate-limit" => self.rate_limit = Some(rate_limit(&value()?)?),
            _ => return Err(unknown_option(flag, name)),
        }
        Ok(())
    }
}

/// What the words read ask for: help, or a command whose options apply.
fn finish(args: Args, help: bool) -> Result<Parsed, Failure> {
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

/// `--region`: one of the names `Region` reads.
fn region(v: &str) -> Result<Region, Failure> {
    v.parse()
        .map_err(|e: tim_follow::ParseRegionError| Failure::Usage(e.to_string()))
}

/// `--limit`: a number of accounts.
fn limit(v: &str) -> Result<usize, Failure> {
    v.parse()
        .map_err(|_| Failure::Usage(format!("--limit takes a number, not {v:?}")))
}

/// `--rate-limit`: calls per second, above 0.
fn rate_limit(v: &str) -> Result<u32, Failure> {
    match v.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(Failure::Usage(format!(
            "--rate-limit takes a number of calls per second above 0, not {v:?}"
        ))),
    }
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
    check_inputs(args)?;
    check_webhooks(args)?;
    check_job_options(args)?;
    check_arity(args)
}

/// "--limit does not apply to `check`".
fn refuse(what: &str, cmd: &str) -> Result<(), Failure> {
    Err(Failure::Usage(format!("{what} does not apply to `{cmd}`")))
}

/// `--limit`, `--file`, `--pairs` and `--out`.
fn check_inputs(args: &Args) -> Result<(), Failure> {
    let cmd = args.command.as_str();
    if args.limit.is_some() && cmd != "list" {
        return refuse("--limit", cmd);
    }
    if args.file.is_some() && matches!(cmd, "list" | "status" | "purge" | "undo" | "restore") {
        return refuse("--file", cmd);
    }
    if args.pairs.is_some() && !matches!(cmd, "add" | "delete") {
        return refuse("--pairs", cmd);
    }
    if args.pairs.is_some() && args.file.is_some() {
        return Err(Failure::Usage(
            "--pairs and --file cannot go together: a job reads one file".into(),
        ));
    }
    if args.out.is_some() && !matches!(cmd, "export" | "webhooks") {
        return refuse("--out", cmd);
    }
    if cmd == "export" && args.out.is_none() {
        return Err(Failure::Usage("`export` needs --out FILE".into()));
    }
    Ok(())
}

/// The options of `webhooks` only, and its lack of arguments.
fn check_webhooks(args: &Args) -> Result<(), Failure> {
    let cmd = args.command.as_str();
    for (given, flag) in [
        (args.listen.is_some(), "--listen"),
        (args.exec.is_some(), "--exec"),
        (args.exec_timeout.is_some(), "--exec-timeout"),
        (args.token_file.is_some(), "--token-file"),
    ] {
        if given && cmd != "webhooks" {
            return refuse(flag, cmd);
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
    Ok(())
}

/// `--dry-run`, `--check-first`, `--no-check-first`, `--reverse-all-applied`.
fn check_job_options(args: &Args) -> Result<(), Failure> {
    let cmd = args.command.as_str();
    if args.dry_run
        && !matches!(
            cmd,
            "add" | "delete" | "purge" | "undo" | "restore" | "resume"
        )
    {
        return refuse("--dry-run", cmd);
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
    Ok(())
}

/// At most as many arguments as the command takes.
fn check_arity(args: &Args) -> Result<(), Failure> {
    let cmd = args.command.as_str();
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

//! The help texts, the short usage, and the "did you mean" of a mistyped
//! option or command.

/// Every command, in the order the help lists them.
pub(crate) const COMMANDS: &[&str] = &[
    "add", "delete", "check", "list", "counts", "purge", "undo", "export", "restore", "resume",
    "status", "webhooks", "help",
];

/// What `tim-follow` alone prints (on stderr, exit 2).
pub(crate) const USAGE: &str = "\
usage: tim-follow [OPTIONS] <COMMAND> [ARGS]

commands: add, delete, check, list, counts, purge, undo, export, restore, resume, status,
          webhooks, help
`tim-follow help` for the whole help, `tim-follow help COMMAND` for one command.
";

pub(crate) const HELP: &str = "\
tim-follow — the follow/fan API of Tencent Cloud Chat from the command line

USAGE:
    tim-follow [OPTIONS] <COMMAND> [ARGS]
    tim-follow help [COMMAND]     this help, or one command's (or: COMMAND --help)

    Options go anywhere, as `--opt value` or `--opt=value`; `--` ends them, so that an
    account that starts with '-' can follow it (tim-follow check -- -me you).

COMMANDS:
    add <FROM> <TO>...        FROM follows each TO
    delete <FROM> <TO>...     FROM unfollows each TO
    check <FROM> <TO>...      the relation of FROM to each TO
    list <FROM> [fans|following|mutual]
                              every account of FROM's list (default: following)
    counts <ACCOUNT>...       follower, following and mutual counts

LONG JOBS (journaled: they survive a crash and resume where they stopped):
    --journal <PATH> --pairs <PAIRS> add|delete
                              each FROM follows / unfollows TO, for every `FROM TO` line
    --journal <PATH> --file <IDS> add <FROM>
    --journal <PATH> --file <IDS> delete <FROM>
                              FROM follows / unfollows every account of IDS
    --journal <PATH> purge <ACCOUNT>
                              remove every relation of ACCOUNT: its following list and
                              its fans, listed into the journal first, checked at the end
    --journal <PATH> undo <JOURNAL>
                              reverse what the job of JOURNAL applied (add -> delete,
                              delete -> add, purge -> follow again, both ways)
    export --out <SNAPSHOT> <ACCOUNT>...
                              write each ACCOUNT's following list and fans (JSON Lines)
                              to a regular file, or to stdout with --out -
    --journal <PATH> restore <SNAPSHOT>
                              make every relation of SNAPSHOT again (those there are kept)
    resume [--file <IDS>] <PATH>
                              continue the job of a journal (after a crash, Ctrl-C or an
                              outage): accounts left unknown are read back first, then
                              sent where still needed; --file names the input if it moved
                              (same size and SHA-256)
    status [--json] <PATH>    what the job of a journal has done (no credentials needed)

EVENTS (the webhooks the service sends after follows and unfollows):
    webhooks --listen <ADDR> --out <FILE>
                              each verified event is appended to FILE as a JSON line, on
                              disk before it is acknowledged; a repeat is not written again
                              (event_time and received_at in Unix ms, request_time in s)
    webhooks --listen <ADDR> --exec <CMD>
                              each event's JSON on CMD's stdin, acknowledged when CMD exits 0
                              within --exec-timeout <SECONDS> (default 30; past it CMD and
                              every process it started in its group are killed)
                              GET /healthz: 200 while events can be stored, else 503;
                              GET /metrics: the counters, in the Prometheus text format
                              (TIM_SDKAPPID, and TIM_CALLBACK_TOKEN or --token-file <PATH>)

OPTIONS:
    --region <REGION>         data center: china, singapore (sgp), seoul (kr), tokyo (jpn),
                              frankfurt (ger), mumbai (ind), silicon-valley (usa), jakarta (idn),
                              or Tencent Cloud's names (ap-singapore, eu-frankfurt, ...);
                              refused when TIM_BASE_URL is set (it picks the endpoint)
    --file <PATH>             read more TO accounts from a file, one per line ('-' for stdin);
                              empty lines and lines starting with # are skipped
    --journal <PATH>          run add, delete, purge, undo or restore as a durable job
                              journaled at PATH (created, or continued if it holds the
                              same job)
    --dry-run                 add, delete, purge, undo, restore, resume: read what would
                              change and print it; nothing is followed or unfollowed
    --pairs <PATH>            add/delete: a file of `FROM TO` lines (spaces, a tab or a comma)
                              in any order: each FROM's targets go together, 20 a request
    --no-check-first          journaled add/delete: do not read each request's accounts first
                              (faster; its undo then needs --reverse-all-applied). By default
                              they are read, and those already as wanted are journaled in
                              place, so that an undo leaves them alone (--check-first: the
                              default, still accepted)
    --reverse-all-applied     undo of a job run with --no-check-first: reverse every account it
                              journaled applied, those that were already so before included
    --out <PATH>              export: the snapshot to write; webhooks: the events file
    --json                    print JSON (one object per account) instead of a table
    --limit <N>               list: stop after N accounts
    --rate-limit <N>          at most N calls per second to each endpoint (default 200, Tencent's
                              limit per app): for this process, or with TIM_REDIS_URL for every
                              process that shares it; a journal records it, and `resume` keeps
                              it unless given another
    --timeout <SECONDS>       the limit of one attempt (default 30); a request makes up to 4
                              attempts, and a batch stops after 3 requests fail alike
    -v, -vv                   log what the client does on stderr (retries, pacing, failover,
                              renewals, read-backs); RUST_LOG=debug does the same
    --emulator                run against a built-in local emulator (no credentials needed;
                              its state lasts this one run: for longer, start the standalone
                              emulator and use the export line it prints, with
                              --open-accounts for a job over ids never imported);
                              every account named on the command line is imported
    -h, --help                print this help (with a command: that command's)
    -V, --version             print the version

CREDENTIALS (environment):
    TIM_SDKAPPID              the app's SDKAppID (required)
    TIM_SECRET_KEY            the app's SecretKey (UserSigs are generated), or
    TIM_USERSIG               a ready-made admin UserSig
    TIM_ADMIN                 the App admin account (default: administrator)
    TIM_REGION                as --region (default: china); refused with TIM_BASE_URL
    TIM_BASE_URL              another endpoint, such as a proxy
    TIM_REDIS_URL             share the rate budget with other processes through this Redis
                              (redis://host:port; needs a build with the `redis` feature);
                              for `webhooks`, share the check for repeated events
    TIM_CALLBACK_TOKEN        webhooks: the callback token set in the console (Sign check)

EXIT STATUS:
    0  every account was applied
    1  the call ran, but some accounts were refused or are unknown (see the output)
    2  usage or configuration error, a bad input line, a damaged journal or one in use
       by another process (nothing was sent)
    3  the call failed: credentials, permissions, network or service error
  130  a job was stopped with Ctrl-C (its journal says how to resume it)
";

/// Options every command that calls the service takes.
const CALL_OPTIONS: &str =
    "    --region <REGION>         data center (default: TIM_REGION, or china)
    --timeout <SECONDS>       the limit of one attempt (default 30)
    --rate-limit <N>          at most N calls per second to each endpoint (default 200)
    --emulator                against a built-in local emulator (no credentials needed)
    -v, -vv                   log what the client does on stderr";

/// One command's help: the commands it is for, its usage lines, what it
/// does, and the options that apply to it.
struct CommandHelp {
    names: &'static [&'static str],
    usage: &'static str,
    about: &'static str,
    options: &'static str,
}

/// Every command's help, in the order of `COMMANDS`.
const COMMAND_HELP: &[CommandHelp] = &[
    CommandHelp {
        names: &["add", "delete"],
        usage: "tim-follow [OPTIONS] add|delete <FROM> <TO>...\n    \
         tim-follow --journal <PATH> [--file <IDS>] add|delete <FROM> [<TO>...]\n    \
         tim-follow [--journal <PATH>] --pairs <PAIRS> add|delete",
        about: "FROM follows (add) or unfollows (delete) each TO. With --journal, --pairs or\n\
         --dry-run it runs as a durable job that survives a crash and resumes.",
        options: "    --file <PATH>             more TO accounts, one per line ('-' for stdin)\n    \
         --pairs <PATH>            a file of `FROM TO` lines (spaces, a tab or a comma)\n    \
         --journal <PATH>          run as a durable job journaled at PATH\n    \
         --no-check-first          journaled: do not read each request's accounts first\n    \
         --dry-run                 print what would change; nothing is sent\n    \
         --json                    one JSON object per account",
    },
    CommandHelp {
        names: &["check"],
        usage: "tim-follow [OPTIONS] check <FROM> <TO>...",
        about: "The relation of FROM to each TO (a read: nothing changes).",
        options: "    --file <PATH>             more TO accounts, one per line ('-' for stdin)\n    \
         --json                    one JSON object per account",
    },
    CommandHelp {
        names: &["list"],
        usage: "tim-follow [OPTIONS] list <FROM> [fans|following|mutual]",
        about: "Every account of FROM's list (default: following), page after page.",
        options: "    --limit <N>               stop after N accounts\n    \
         --json                    one JSON object per account",
    },
    CommandHelp {
        names: &["counts"],
        usage: "tim-follow [OPTIONS] counts <ACCOUNT>...",
        about: "Follower, following and mutual counts of each ACCOUNT.",
        options: "    --file <PATH>             more accounts, one per line ('-' for stdin)\n    \
         --json                    one JSON object per account",
    },
    CommandHelp {
        names: &["purge"],
        usage: "tim-follow --journal <PATH> [OPTIONS] purge <ACCOUNT>",
        about: "Remove every relation of ACCOUNT: its following list and its fans, listed into\n\
         the journal first, checked at the end.",
        options: "    --journal <PATH>          the job's journal (required)\n    \
         --dry-run                 print what would change; nothing is sent",
    },
    CommandHelp {
        names: &["undo"],
        usage: "tim-follow --journal <PATH> [OPTIONS] undo <JOURNAL>",
        about: "Reverse what the job of JOURNAL applied (add -> delete, delete -> add, purge ->\n\
         follow again, both ways).",
        options: "    --journal <PATH>          the undo's own journal (required)\n    \
         --reverse-all-applied     for a job run with --no-check-first: reverse every\n                              \
         account it journaled applied\n    \
         --dry-run                 print what would change; nothing is sent",
    },
    CommandHelp {
        names: &["export"],
        usage: "tim-follow [OPTIONS] export --out <SNAPSHOT> <ACCOUNT>...",
        about: "Write each ACCOUNT's following list and fans to SNAPSHOT (JSON Lines), written\n\
         whole or not at all.",
        options: "    --out <PATH>              the snapshot to write (required; - for stdout; a\n                              \
         regular file, never a device or a directory)\n    \
         --file <PATH>             more accounts, one per line ('-' for stdin)",
    },
    CommandHelp {
        names: &["restore"],
        usage: "tim-follow --journal <PATH> [OPTIONS] restore <SNAPSHOT>",
        about: "Make every relation of SNAPSHOT again (those there are kept).",
        options: "    --journal <PATH>          the job's journal (required)\n    \
         --dry-run                 print what would change; nothing is sent",
    },
    CommandHelp {
        names: &["resume"],
        usage: "tim-follow [OPTIONS] resume [--file <IDS>] <JOURNAL>",
        about: "Continue the job of JOURNAL (after a crash, Ctrl-C or an outage): accounts left\n\
         unknown are read back first, then sent where still needed.",
        options: "    --file <PATH>             the job's input, if it moved (same size and SHA-256)\n    \
         --dry-run                 print what would change; nothing is sent",
    },
    CommandHelp {
        names: &["status"],
        usage: "tim-follow status [--json] <JOURNAL>",
        about: "What the job of JOURNAL has done (no credentials needed).",
        options: "    --json                    print JSON",
    },
    CommandHelp {
        names: &["webhooks"],
        usage: "tim-follow webhooks --listen <ADDR> (--out <FILE> | --exec <CMD>)",
        about: "Receive the follow events the service sends: each verified event is stored\n\
         (appended to FILE, or given to CMD on stdin) before it is acknowledged.\n\
         Needs TIM_SDKAPPID, and TIM_CALLBACK_TOKEN or --token-file.\n\
         GET /healthz answers 200 while events can be stored, else 503;\n\
         GET /metrics gives the counters in the Prometheus text format.",
        options: "    --listen <ADDR>           the address to listen on, such as 0.0.0.0:9000\n    \
         --out <FILE>              append each event to FILE as a JSON line (event_time\n                              \
         and received_at in Unix ms, request_time in Unix s)\n    \
         --exec <CMD>              run CMD for each event, acknowledged when it exits 0\n    \
         --exec-timeout <SECONDS>  CMD's limit (default 30), its process group killed past it\n    \
         --token-file <PATH>       the callback token, from a file",
    },
];

/// One command's help: what it does and the options that apply to it.
pub(crate) fn command_help(cmd: &str) -> String {
    let Some(h) = COMMAND_HELP.iter().find(|h| h.names.contains(&cmd)) else {
        return HELP.to_string();
    };
    let (usage, about, options) = (h.usage, h.about, h.options);
    let common = match cmd {
        "status" | "webhooks" => String::new(),
        _ => format!("{CALL_OPTIONS}\n"),
    };
    format!(
        "USAGE:\n    {usage}\n\n{about}\n\nOPTIONS:\n{options}\n{common}    \
         -h, --help                this help\n\n\
         Credentials and exit status: `tim-follow help`.\n"
    )
}

/// The known name closest to `given`, when it is close enough to be a typo:
/// the one name it begins, or the nearest within a third of its length.
pub(crate) fn closest<'a>(given: &str, known: &[&'a str]) -> Option<&'a str> {
    let mut begun = known
        .iter()
        .filter(|k| given.len() >= 2 && k.starts_with(given));
    if let (Some(only), None) = (begun.next(), begun.next()) {
        return Some(only);
    }
    let (best, d) = known
        .iter()
        .map(|k| (*k, edit_distance(given, k)))
        .min_by_key(|&(_, d)| d)?;
    let most = given.chars().count().div_ceil(3).clamp(1, 3);
    (d <= most).then_some(best)
}

/// Edit distance in characters, a swap of two neighbours counting as one
/// (optimal string alignment); names here are short.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    d[0] = (0..=b.len()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_name() {
        let opts = crate::args::LONG_OPTIONS;
        assert_eq!(closest("limt", opts), Some("limit"));
        assert_eq!(closest("jsn", opts), Some("json"));
        assert_eq!(closest("dry", opts), Some("dry-run"));
        assert_eq!(closest("ratelimit", opts), Some("rate-limit"));
        assert_eq!(closest("frobnicate", opts), None);
        assert_eq!(closest("ad", COMMANDS), Some("add"));
        assert_eq!(closest("x", COMMANDS), None);
        assert_eq!(closest("lsit", COMMANDS), Some("list"));
        assert_eq!(closest("re", COMMANDS), None, "restore or resume");
    }

    #[test]
    fn every_command_has_its_help() {
        for cmd in COMMANDS.iter().filter(|c| **c != "help") {
            let text = command_help(cmd);
            assert!(text.starts_with("USAGE:"), "{cmd}");
            assert!(HELP.contains(cmd), "{cmd}");
        }
    }
}

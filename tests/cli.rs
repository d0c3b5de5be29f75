//! The command-line tool, run as a user would (built with `--features cli`).
#![cfg(feature = "cli")]

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

#[path = "cli/promises.rs"]
mod promises;

/// The tool with a clean environment: nothing of the developer's shell
/// (`TIM_*`, `RUST_LOG`, proxies) reaches it, only `PATH` (for `--exec`).
fn tool() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tim-follow"));
    cmd.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd
}

/// The longest any one run of the tool may take before its test fails: far
/// above what any of them needs, so only a hang reaches it.
const RUN_LIMIT: Duration = Duration::from_secs(180);

/// A child process that is killed when dropped, so that a failing test
/// leaves nothing running behind it.
struct Running(Option<Child>);

impl Running {
    fn spawn(cmd: &mut Command) -> Running {
        Running(Some(cmd.spawn().expect("the binary starts")))
    }

    fn id(&self) -> u32 {
        self.0.as_ref().map_or(0, Child::id)
    }

    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("still running")
    }

    /// SIGKILL, and the process reaped.
    fn kill(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits for the end (at most [`RUN_LIMIT`], then the process is killed
    /// and the test fails), with whatever stdout and stderr were piped.
    fn finish(mut self) -> Output {
        let mut child = self.0.take().expect("still running");
        let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut bytes);
                }
                bytes
            })
        };
        let out = drain(child.stdout.take().map(|p| Box::new(p) as _));
        let err = drain(child.stderr.take().map(|p| Box::new(p) as _));
        let deadline = Instant::now() + RUN_LIMIT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("the child can be waited for") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the tool ran for more than {RUN_LIMIT:?}: killed");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Output {
            status,
            stdout: out.join().unwrap_or_default(),
            stderr: err.join().unwrap_or_default(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `cmd` to its end with stdin empty and the output captured, within
/// [`RUN_LIMIT`].
fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Running::spawn(cmd).finish()
}

/// Waits until `ready` holds, checking every 10 ms, for at most 30 s.
fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends `signal` (e.g. `-INT`) to process `pid`.
fn signal(signal: &str, pid: u32) {
    let sent = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill {signal} {pid}");
}

fn tim(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = tool();
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run(&mut cmd);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_and_usage_errors_exit_0_and_2() {
    let (code, out, _) = tim(&["--help"], &[]);
    assert_eq!(code, 0);
    assert!(out.contains("EXIT STATUS") && out.contains("TIM_SECRET_KEY"));
    let (code, _, err) = tim(&["frobnicate", "a"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown command"));
    let (code, _, err) = tim(&["--region", "mars", "add", "a", "b"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("singapore (sgp)"));
    let (code, _, err) = tim(&["add", "a", "b"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("TIM_SDKAPPID"), "{err}");
}

#[test]
fn offline_add_check_counts_list_and_json() {
    let (code, out, _) = tim(&["--emulator", "add", "alice", "bob", "carol"], &[]);
    assert_eq!(code, 0);
    assert!(out.contains("bob") && out.contains("ok"));
    let (code, out, _) = tim(&["--emulator", "--json", "check", "alice", "bob"], &[]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(v["outcome"], "answered", "a read applies nothing");
    assert_eq!(v["follow_type"], 0, "a fresh emulator per run");
    let (code, out, _) = tim(&["--emulator", "counts", "alice"], &[]);
    assert_eq!(code, 0);
    assert!(out.contains("0 followers"));
    let (code, _, err) = tim(&["--emulator", "list", "alice", "fans"], &[]);
    assert_eq!(code, 0);
    assert!(err.contains("0 accounts"));
}

#[test]
fn misconfigurations_get_advice_and_exit_3() {
    let emu = tim_follow::testkit::Emulator::builder()
        .accounts(&["alice", "bob"])
        .start()
        .unwrap();
    let base = emu.base_url();
    let (code, _, err) = tim(
        &["add", "alice", "bob"],
        &[
            ("TIM_SDKAPPID", "1400000000"),
            ("TIM_SECRET_KEY", "wrong"),
            ("TIM_BASE_URL", &base),
        ],
    );
    assert_eq!(code, 3);
    assert!(
        err.contains("70009") && err.contains("SecretKey of this SDKAppID"),
        "{err}"
    );
    assert!(!err.contains("wrong\n"), "the key is not echoed");
    let (code, _, err) = tim(
        &["add", "alice", "bob"],
        &[
            ("TIM_SDKAPPID", "1400000009"),
            ("TIM_SECRET_KEY", emu.secret_key()),
            ("TIM_BASE_URL", &base),
        ],
    );
    assert_eq!(code, 3);
    // TIM_BASE_URL chose the endpoint, not a region: no region advice.
    assert!(
        err.contains("70020") && err.contains("TIM_BASE_URL is"),
        "{err}"
    );
    assert!(
        !err.contains("--region") && !err.contains("pick the region"),
        "{err}"
    );
    // A refusal: the call ran, exit 1.
    let (code, out, _) = tim(
        &["add", "alice", "bob", "nobody"],
        &[
            ("TIM_SDKAPPID", "1400000000"),
            ("TIM_SECRET_KEY", emu.secret_key()),
            ("TIM_BASE_URL", &base),
        ],
    );
    assert_eq!(code, 1);
    assert!(out.contains("REFUSED  30003"), "{out}");
}

/// A scratch directory of its own, emptied first.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn env_for(emu: &tim_follow::testkit::Emulator) -> Vec<(&'static str, String)> {
    vec![
        ("TIM_SDKAPPID", emu.sdkappid().to_string()),
        ("TIM_SECRET_KEY", emu.secret_key().to_string()),
        ("TIM_BASE_URL", emu.base_url()),
    ]
}

fn borrowed<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[test]
fn a_journaled_job_status_and_resume() {
    let dir = scratch("journal");
    let targets: Vec<String> = (0..50).map(|i| format!("u{i:02}")).collect();
    let emu = tim_follow::testkit::Emulator::builder()
        .accounts(&["me"])
        .accounts(&targets)
        .start()
        .unwrap();
    let ids = dir.join("ids.txt");
    std::fs::write(&ids, targets.join("\n") + "\nnobody\n").unwrap();
    let journal = dir.join("job.journal");
    let (j, i) = (journal.to_str().unwrap(), ids.to_str().unwrap());
    let env = env_for(&emu);
    let (code, out, err) = tim(&["--journal", j, "--file", i, "add", "me"], &borrowed(&env));
    assert_eq!(code, 1, "{err}");
    assert!(
        out.contains("nobody") && out.contains("REFUSED  30003"),
        "{out}"
    );
    assert!(err.contains("51 accounts: 50 applied, 1 refused"), "{err}");
    assert_eq!(emu.following("me").len(), 50);
    // status needs no credentials.
    let (code, out, _) = tim(&["status", "--json", j], &[]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    for (k, want) in [
        ("total", 51),
        ("applied", 50),
        ("refused", 1),
        ("unknown", 0),
        ("pending", 0),
    ] {
        assert_eq!(v[k], want, "{k}");
    }
    assert_eq!(v["complete"], true);
    // Resuming a complete job sends nothing and exits as the job did.
    let before = emu.requests().len();
    let (code, _, err) = tim(&["resume", j], &borrowed(&env));
    assert_eq!(code, 1, "{err}");
    assert_eq!(emu.requests().len(), before);
    // Another operation, or a changed input, is refused before any request.
    let (code, _, err) = tim(
        &["--journal", j, "--file", i, "delete", "me"],
        &borrowed(&env),
    );
    assert_eq!(code, 2);
    assert!(err.contains("another job"), "{err}");
    std::fs::write(&ids, "u00\n").unwrap();
    let (code, _, err) = tim(&["resume", j], &borrowed(&env));
    assert_eq!(code, 2);
    assert!(err.contains("changed"), "{err}");
    assert_eq!(emu.requests().len(), before);
    // Usage: a journal needs a file; status needs a path.
    let (code, _, err) = tim(&["--journal", j, "add", "me", "u01"], &borrowed(&env));
    assert_eq!(code, 2);
    assert!(err.contains("--file"), "{err}");
    let (code, _, _) = tim(
        &["resume", dir.join("missing").to_str().unwrap()],
        &borrowed(&env),
    );
    assert_eq!(code, 2);
}

#[test]
fn purge_from_the_command_line() {
    let dir = scratch("purge");
    let emu = tim_follow::testkit::Emulator::builder()
        .accounts(&["gone", "a", "b", "c"])
        .start()
        .unwrap();
    emu.seed_follow("gone", "a");
    emu.seed_follow("b", "gone");
    emu.seed_follow("c", "gone");
    let journal = dir.join("purge.journal");
    let env = env_for(&emu);
    let (code, _, err) = tim(
        &["--journal", journal.to_str().unwrap(), "purge", "gone"],
        &borrowed(&env),
    );
    assert_eq!(code, 0, "{err}");
    assert!(emu.following("gone").is_empty() && emu.fans("gone").is_empty());
    assert!(err.contains("3 relations: 3 applied"), "{err}");
}

#[test]
fn ctrl_c_stops_a_job_flushes_its_journal_and_says_how_to_resume() {
    let dir = scratch("sigint");
    let targets: Vec<String> = (0..2000).map(|i| format!("u{i:04}")).collect();
    let emu = tim_follow::testkit::Emulator::builder()
        .accounts(&["me"])
        .accounts(&targets)
        .rate_limit(None, 60007)
        .start()
        .unwrap();
    emu.set_latency(Some(std::time::Duration::from_millis(150)));
    let ids = dir.join("ids.txt");
    std::fs::write(&ids, targets.join("\n")).unwrap();
    let journal = dir.join("job.journal");
    let mut cmd = tool();
    // 20 calls a second: 100 requests take 5 s, so Ctrl-C surely comes
    // while the job sends, however many requests are in flight.
    cmd.args([
        "--rate-limit",
        "20",
        "--journal",
        journal.to_str().unwrap(),
        "--file",
        ids.to_str().unwrap(),
    ])
    .args(["add", "me"])
    .envs(env_for(&emu))
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let child = Running::spawn(&mut cmd);
    // Ctrl-C once the job is sending (its first follows have arrived).
    wait_for("the job's first follows", || {
        emu.request_count("follow/follow_add") >= 1
    });
    signal("-INT", child.id());
    let out = child.finish();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("tim-follow resume"), "{err}");
    let (code, out, _) = tim(&["status", "--json", journal.to_str().unwrap()], &[]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["complete"], false);
    let done = v["applied"].as_u64().unwrap();
    assert!(done > 0 && done < 2000, "{done}");
    assert_eq!(
        emu.following("me").len() as u64,
        done,
        "the journal has every applied request"
    );
    emu.set_latency(None);
    let env = env_for(&emu);
    let (code, _, err) = tim(&["resume", journal.to_str().unwrap()], &borrowed(&env));
    assert_eq!(code, 0, "{err}");
    assert_eq!(emu.following("me").len(), 2000);
}

#[test]
fn verbose_shows_what_the_client_did_and_never_a_secret() {
    let targets: Vec<String> = (0..45).map(|i| format!("u{i:02}")).collect();
    let emu = tim_follow::testkit::Emulator::builder()
        .accounts(&["me"])
        .accounts(&targets)
        .rate_limit(Some(1), 60007)
        .start()
        .unwrap();
    let mut args = vec!["-v", "--rate-limit", "50", "add", "me"];
    args.extend(targets.iter().map(String::as_str));
    let env = env_for(&emu);
    let (code, _, err) = tim(&args, &borrowed(&env));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("[INFO]") && err.contains("rate limit"),
        "{err}"
    );
    assert!(!err.contains(emu.secret_key()));
    // Without -v, only warnings.
    let (code, _, err) = tim(&["add", "me", "u00"], &borrowed(&env));
    assert_eq!(code, 0);
    assert!(!err.contains("[INFO]"), "{err}");
}

#[test]
fn rate_limit_and_redis_settings_are_checked_before_anything_is_sent() {
    let (code, _, err) = tim(&["--rate-limit", "0", "--emulator", "add", "a", "b"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("--rate-limit"), "{err}");
    let (code, _, err) = tim(&["--emulator", "add", "a", "b"], &[("TIM_REDIS_URL", " ")]);
    assert_eq!(code, 2);
    assert!(err.contains("TIM_REDIS_URL"), "{err}");
    let (code, _, err) = tim(
        &["--emulator", "add", "a", "b"],
        &[("TIM_REDIS_URL", "redis://127.0.0.1:1")],
    );
    if cfg!(feature = "redis") {
        // Unreachable: the local share is used, and the call goes through.
        assert_eq!(code, 0, "{err}");
        assert!(err.contains("Redis is unreachable"), "{err}");
    } else {
        assert_eq!(code, 2);
        assert!(err.contains("`redis` feature"), "{err}");
    }
}

#[test]
fn manners_version_extra_arguments_repeats_and_options_that_do_not_apply() {
    let (code, out, _) = tim(&["--version"], &[]);
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        format!("tim-follow {}", env!("CARGO_PKG_VERSION"))
    );
    for (args, says) in [
        (
            &["--emulator", "list", "a", "fans", "extra"][..],
            "one too many",
        ),
        (
            &["--file", "a", "--file", "b", "add", "x"][..],
            "--file is given twice",
        ),
        (
            &["--limit", "3", "--emulator", "add", "a", "b"][..],
            "--limit does not apply",
        ),
        (&["status", "a", "b"][..], "one too many"),
    ] {
        let (code, _, err) = tim(args, &[]);
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn a_non_utf8_argument_is_a_usage_error_not_a_panic() {
    use std::os::unix::ffi::OsStrExt;
    let out = run(tool().arg("add").arg(std::ffi::OsStr::from_bytes(b"a\xff")));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("not UTF-8"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_full_stdout_is_a_failure_not_silence() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Running::spawn(
        tool()
            .args(["--emulator", "add", "a", "b"])
            .stdin(Stdio::null())
            .stdout(full)
            .stderr(Stdio::piped()),
    )
    .finish();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("cannot write the output"), "{err}");
}

#[test]
fn files_words_and_variables_in_the_users_terms() {
    let dir = scratch("manners");
    // A BOM, a comment, and one account: "1 account".
    let ids = dir.join("ids.txt");
    std::fs::write(&ids, "\u{feff}bob\n# not an account\n").unwrap();
    let (code, out, err) = tim(
        &[
            "--emulator",
            "--file",
            ids.to_str().unwrap(),
            "add",
            "alice",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("bob "), "{out}");
    assert!(err.contains("1 account: 1 applied"), "{err}");
    // check is answered, not applied.
    let (_, _, err) = tim(&["--emulator", "check", "alice", "bob"], &[]);
    assert!(err.contains("1 account: 1 answered"), "{err}");
    // A line that is not UTF-8 is named by number.
    std::fs::write(&ids, b"bob\n\xff\xfe\n").unwrap();
    let (code, _, err) = tim(
        &["--emulator", "--file", ids.to_str().unwrap(), "add", "a"],
        &[],
    );
    assert_eq!(code, 2);
    assert!(err.contains("line 2") && err.contains("UTF-8"), "{err}");
    // A variable set to nothing is named.
    let (code, _, err) = tim(
        &["add", "a", "b"],
        &[
            ("TIM_SDKAPPID", "1"),
            ("TIM_USERSIG", "s"),
            ("TIM_BASE_URL", ""),
        ],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("TIM_BASE_URL") && err.contains("empty"),
        "{err}"
    );
    // A connection refused names where it was refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let (code, _, err) = tim(
        &["add", "a", "b"],
        &[
            ("TIM_SDKAPPID", "1"),
            ("TIM_USERSIG", "sig-sig-sig"),
            ("TIM_BASE_URL", &base),
        ],
    );
    assert_eq!(code, 3);
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
}

#[test]
fn list_prints_times_readably_and_raw_in_json() {
    let emu = tim_follow::testkit::Emulator::builder()
        .accounts(&["a", "b"])
        .start()
        .unwrap();
    emu.seed_follow("a", "b");
    let env = env_for(&emu);
    let (code, out, _) = tim(&["list", "a", "following"], &borrowed(&env));
    assert_eq!(code, 0);
    let when = out.split_whitespace().nth(1).unwrap_or_default();
    assert!(
        when.len() == 20 && when.ends_with('Z') && when.contains('T'),
        "{out}"
    );
    let (_, out, _) = tim(&["--json", "list", "a", "following"], &borrowed(&env));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(v["follow_time"].as_i64().unwrap() > 1_600_000_000);
}

#[test]
fn the_standalone_emulator_recipe_works_as_the_readme_says() {
    // Build the example, as `cargo run --features testkit --example emulator` would.
    let built = Command::new(env!("CARGO"))
        .args([
            "build",
            "-q",
            "--features",
            "testkit",
            "--example",
            "emulator",
        ])
        .status()
        .unwrap();
    assert!(built.success());
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_tim-follow"))
        .parent()
        .unwrap()
        .join("examples/emulator");
    let mut emu = Running::spawn(
        Command::new(exe)
            .args(["--accounts", "alice,bob,carol"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped()),
    );
    let stdout = emu.child().stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let first = lines.next().unwrap().unwrap();
    assert!(
        first.starts_with("listening on http://127.0.0.1:"),
        "{first}"
    );
    let export = lines.next().unwrap().unwrap();
    // What `eval "$(… | grep '^export ')"` sets.
    let vars: Vec<(&str, &str)> = export
        .strip_prefix("export ")
        .expect("an export line")
        .split(' ')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let names: Vec<&str> = vars.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        names,
        [
            "TIM_BASE_URL",
            "TIM_SDKAPPID",
            "TIM_ADMIN",
            "TIM_SECRET_KEY"
        ]
    );
    // The printed curl example names two of the accounts given.
    let example = lines.next().unwrap().unwrap();
    assert!(example.starts_with("example"), "{example}");
    assert!(
        example.contains(r#"{"From_Account":"alice","To_Account":["bob"]}"#),
        "{example}"
    );
    let (code, _, err) = tim(&["add", "alice", "bob", "carol"], &vars);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = tim(&["--json", "check", "alice", "bob"], &vars);
    assert_eq!(code, 0);
    assert!(out.contains(r#""follows":true"#), "{out}");
    let (code, out, _) = tim(&["list", "alice"], &vars);
    assert_eq!(code, 0);
    assert!(out.contains("bob") && out.contains("carol"), "{out}");
    let (code, out, _) = tim(&["counts", "alice"], &vars);
    assert_eq!(code, 0);
    assert!(out.contains("2 following"), "{out}");
    emu.kill();
}

#[test]
fn builder_complaints_name_the_variables_and_arguments() {
    let (code, _, err) = tim(
        &["add", "a", "b"],
        &[
            ("TIM_SDKAPPID", "1"),
            ("TIM_USERSIG", "s"),
            ("TIM_BASE_URL", "http://10.1.2.3"),
        ],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("TIM_BASE_URL: ") && err.contains("use https"),
        "{err}"
    );
    assert!(
        !err.contains("allow_insecure_http") && !err.contains("base_url"),
        "{err}"
    );
    let (code, _, err) = tim(&["add", "a", "b"], &[("TIM_SDKAPPID", "1")]);
    assert_eq!(code, 2);
    assert!(err.contains("TIM_SECRET_KEY (or TIM_USERSIG)"), "{err}");
    assert!(
        !err.contains(".secret_key(") && !err.contains(".usersig("),
        "{err}"
    );
}

#[test]
fn a_call_of_several_requests_shows_progress_on_stderr() {
    let targets: Vec<String> = (0..45).map(|i| format!("u{i:02}")).collect();
    let mut args = vec!["--emulator", "add", "me"];
    args.extend(targets.iter().map(String::as_str));
    let (code, out, err) = tim(&args, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("45/45 accounts, 0 not applied"), "{err}");
    assert!(!out.contains("accounts,"), "progress stays off stdout");
    // One request: no progress line.
    let (_, _, err) = tim(&["--emulator", "add", "me", "u00"], &[]);
    assert!(!err.contains("not applied"), "{err}");
}

#[test]
fn a_thousand_ids_against_a_server_that_never_answers_end_quickly_with_exit_3() {
    use std::time::{Duration, Instant};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let started = Instant::now();
        let mut held = Vec::new();
        while started.elapsed() < Duration::from_secs(30) {
            match listener.accept() {
                Ok((s, _)) => held.push(s),
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    let dir = scratch("silent");
    let ids = dir.join("ids.txt");
    let lines: Vec<String> = (0..1000).map(|i| format!("u{i:04}")).collect();
    std::fs::write(&ids, lines.join("\n")).unwrap();
    let started = Instant::now();
    let (code, _, err) = tim(
        &[
            "--timeout",
            "1",
            "--file",
            ids.to_str().unwrap(),
            "delete",
            "me",
        ],
        &[
            ("TIM_SDKAPPID", "1"),
            ("TIM_USERSIG", "sig-sig-sig"),
            ("TIM_BASE_URL", &base),
        ],
    );
    let took = started.elapsed();
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("Timeout") || err.contains("timeout"), "{err}");
    // A request is at most 4 attempts of 1 s with short waits between them:
    // the batch ends within two of those, not after 50.
    assert!(took < Duration::from_secs(10), "{took:?}");
}

/// The most heap (and other private writable memory) the tool gets in the
/// tests of hostile input: 50 MiB, through `ulimit -d`. An allocation past
/// it fails, and Rust aborts (exit 134), so a test that passes under it
/// never held more.
const DATA_LIMIT_KIB: u32 = 50 * 1024;

/// Runs the tool under [`DATA_LIMIT_KIB`].
fn tim_limited(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new("/bin/sh");
    cmd.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd.arg("-c")
        .arg(format!("ulimit -d {DATA_LIMIT_KIB} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_tim-follow"))
        .args(args)
        .envs(env.iter().copied());
    let out = run(&mut cmd);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An emulator with `me` and `targets`, and `targets` in `dir/ids.txt`.
fn emulator_and_ids(
    dir: &std::path::Path,
    targets: &[String],
) -> (tim_follow::testkit::Emulator, std::path::PathBuf) {
    let emu = tim_follow::testkit::Emulator::builder()
        .accounts(&["me"])
        .accounts(targets)
        .start()
        .unwrap();
    let ids = dir.join("ids.txt");
    std::fs::write(&ids, targets.join("\n")).unwrap();
    (emu, ids)
}

/// A journal line with its checksum, as a hand editor would forge it.
fn forged_line(json: &str) -> String {
    let body = json.strip_suffix('}').unwrap();
    let digest = hmac_sha256::Hash::hash(format!("{body}}}").as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{body},\"c\":\"{hex}\"}}\n")
}

#[test]
fn an_outage_exits_3_and_resume_settles_it_with_one_writer_at_a_time() {
    let dir = scratch("outage");
    let targets: Vec<String> = (0..2000).map(|i| format!("u{i:04}")).collect();
    let (emu, ids) = emulator_and_ids(&dir, &targets);
    let journal = dir.join("job.journal");
    let (j, i) = (journal.to_str().unwrap(), ids.to_str().unwrap());
    let sdkappid = emu.sdkappid().to_string();
    let dead = [
        ("TIM_SDKAPPID", sdkappid.as_str()),
        ("TIM_SECRET_KEY", emu.secret_key()),
        ("TIM_BASE_URL", "http://127.0.0.1:1"),
    ];
    let (code, _, err) = tim(&["--journal", j, "--file", i, "add", "me"], &dead);
    assert_eq!(code, 3, "{err}");
    let last = err.trim_end().lines().last().unwrap_or("");
    assert!(last.contains(&format!("tim-follow resume {j}")), "{err}");
    assert!(err.contains("no answer from the service"), "{err}");
    let (code, out, _) = tim(&["status", "--json", j], &[]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (v["complete"].as_bool(), v["to_resume"].as_u64()),
        (Some(false), Some(2000))
    );
    let (_, text, _) = tim(&["status", j], &[]);
    assert!(
        text.contains("2000 accounts waiting for `tim-follow resume"),
        "{text}"
    );
    // The service is back. Two resumes at once: one writes, one is refused.
    let env = env_for(&emu);
    let mut first = tool();
    first
        .args(["--rate-limit", "40", "resume", j])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let first = Running::spawn(&mut first);
    wait_for("the first resume's first request", || {
        !emu.requests().is_empty()
    });
    let (code, _, err) = tim(&["resume", j], &borrowed(&env));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("journal {j} is in use by process {}", first.id())),
        "{err}"
    );
    assert!(!err.contains("--help"), "not a usage error: {err}");
    let out = first.finish();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(emu.following("me").len(), 2000);
    assert_eq!(
        emu.request_count("follow/follow_add"),
        100,
        "each request once"
    );
    assert!(
        emu.request_count("follow/follow_check") >= 1,
        "read back first"
    );
    let (_, out, _) = tim(&["status", "--json", j], &[]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (v["applied"].as_u64(), v["complete"].as_bool()),
        (Some(2000), Some(true))
    );
    assert_eq!(
        (v["unknown"].as_u64(), v["to_resume"].as_u64()),
        (Some(0), Some(0))
    );
}

#[test]
fn the_memory_limit_of_these_tests_lets_a_whole_job_run() {
    let dir = scratch("limit");
    let targets: Vec<String> = (0..500).map(|i| format!("u{i:03}")).collect();
    let (emu, ids) = emulator_and_ids(&dir, &targets);
    let j = dir.join("j");
    let env = env_for(&emu);
    let args = [
        "--journal",
        j.to_str().unwrap(),
        "--file",
        ids.to_str().unwrap(),
        "add",
        "me",
    ];
    let (code, _, err) = tim_limited(&args, &borrowed(&env));
    assert_eq!(code, 0, "{err}");
    assert_eq!(emu.following("me").len(), 500);
}

#[test]
fn damaged_journals_exit_2_in_little_memory_and_never_abort() {
    let dir = scratch("damaged");
    let emu = tim_follow::testkit::Emulator::builder()
        .accounts(&["me", "u1", "u2"])
        .start()
        .unwrap();
    let env = env_for(&emu);
    let ids = dir.join("ids.txt");
    std::fs::write(&ids, "u1\nu2\n").unwrap();
    let journal = dir.join("job.journal");
    let j = journal.to_str().unwrap();
    let (code, _, err) = tim(
        &["--journal", j, "--file", ids.to_str().unwrap(), "add", "me"],
        &borrowed(&env),
    );
    assert_eq!(code, 0, "{err}");
    let good = std::fs::read_to_string(&journal).unwrap();
    let before = emu.requests().len();
    let link = dir.join("full");
    std::os::unix::fs::symlink("/dev/full", &link).unwrap();
    let cases: Vec<(&str, Option<String>)> = vec![
        ("a symlink to /dev/full", None),
        ("a directory", None),
        (
            "an absurd request number",
            Some(forged_line(
                r#"{"t":"done","r":10000000000000000,"applied":["u1"]}"#,
            )),
        ),
        (
            "an absurd round",
            Some(forged_line(
                r#"{"t":"done","round":4000000000,"r":0,"applied":["u1"]}"#,
            )),
        ),
        ("an edited id", None),
    ];
    for (what, extra) in cases {
        let path = match what {
            "a symlink to /dev/full" => link.clone(),
            "a directory" => dir.clone(),
            _ => journal.clone(),
        };
        match (what, &extra) {
            ("an edited id", _) => std::fs::write(&journal, good.replacen("u2", "u3", 1)).unwrap(),
            (_, Some(line)) => std::fs::write(&journal, format!("{good}{line}")).unwrap(),
            _ => {}
        }
        let p = path.to_str().unwrap();
        for args in [vec!["status", p], vec!["resume", p]] {
            let (code, _, err) = tim_limited(&args, &borrowed(&env));
            assert_eq!(code, 2, "{what}, {args:?}: {err}");
            assert!(err.contains("damaged journal"), "{what}: {err}");
            assert!(!err.contains("--help"), "{what}: {err}");
        }
    }
    assert_eq!(emu.requests().len(), before, "nothing was sent");
}

#[test]
fn huge_input_lines_are_refused_in_flat_memory_with_their_number_and_start() {
    let dir = scratch("huge-lines");
    let emu = tim_follow::testkit::Emulator::builder()
        .accounts(&["me"])
        .start()
        .unwrap();
    let env = env_for(&emu);
    let small = dir.join("one-mib.txt");
    std::fs::write(&small, format!("u1\n{}\n", "x".repeat(1 << 20))).unwrap();
    // 300 MB without a newline (a sparse file: no disk spent on it).
    let big = dir.join("300mb.txt");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(300 << 20)
        .unwrap();
    let journal = dir.join("j");
    for (file, line) in [(&small, 2), (&big, 1)] {
        let f = file.to_str().unwrap();
        for args in [
            vec![
                "--journal",
                journal.to_str().unwrap(),
                "--file",
                f,
                "add",
                "me",
            ],
            vec!["--file", f, "add", "me"],
        ] {
            let (code, _, err) = tim_limited(&args, &borrowed(&env));
            assert_eq!(code, 2, "{args:?}: {err}");
            assert!(
                err.contains(&format!("line {line}: longer than 4096 bytes")),
                "{args:?}: {err}"
            );
            assert!(err.len() < 400, "the error is short: {} bytes", err.len());
        }
    }
    assert!(!journal.exists());
    assert!(emu.requests().is_empty());
}

#[test]
fn mistakes_happen_preview_undo_export_and_restore_from_the_command_line() {
    let dir = scratch("mistakes");
    let targets: Vec<String> = (0..2000).map(|i| format!("u{i:04}")).collect();
    let emu = tim_follow::testkit::Emulator::builder()
        .accounts(&["me", "fan1", "fan2"])
        .accounts(&targets)
        .start()
        .unwrap();
    for t in &targets[..1000] {
        emu.seed_follow("me", t);
    }
    emu.seed_follow("fan1", "me");
    emu.seed_follow("fan2", "me");
    let graph = || {
        let mut f = emu.following("me");
        let mut g = emu.fans("me");
        f.sort();
        g.sort();
        (f, g)
    };
    let before = graph();
    let writes =
        || emu.request_count("follow/follow_add") + emu.request_count("follow/follow_delete");
    let env = env_for(&emu);
    let ids = dir.join("ids.txt");
    std::fs::write(&ids, targets.join("\n")).unwrap();
    let (i, path) = (ids.to_str().unwrap(), |name: &str| {
        dir.join(name).to_str().unwrap().to_string()
    });

    // 1. See it before sending it.
    let (code, out, err) = tim(&["--dry-run", "--file", i, "delete", "me"], &borrowed(&env));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("1,000 of 2,000 relations would be removed; 1,000 are not there"),
        "{err}"
    );
    assert_eq!(out.lines().count(), 2000);
    assert!(out.contains("me -> u0000") && out.contains("would be removed"));
    assert!(out.contains("not there"));
    assert_eq!(writes(), 0);
    let (_, out, _) = tim(&["--dry-run", "--json", "purge", "me"], &borrowed(&env));
    let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(first["expected"], "change");
    assert_eq!(out.lines().count(), 1002);
    assert_eq!(writes(), 0);
    assert_eq!(graph(), before);

    // 2. Send it, then take it back: the README's commands as written.
    let d = path("delete.journal");
    let (code, _, err) = tim(
        &["--journal", &d, "--file", i, "delete", "me"],
        &borrowed(&env),
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("1000 already in place"), "{err}");
    assert!(emu.following("me").is_empty());
    let u = path("undo.journal");
    let (code, _, err) = tim(&["--journal", &u, "undo", &d], &borrowed(&env));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("original times cannot come back"), "{err}");
    assert_eq!(graph(), before);
    let (_, out, _) = tim(&["status", "--json", &u], &[]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (v["applied"].as_u64(), v["complete"].as_bool()),
        (Some(1000), Some(true))
    );
    // Without the read first, the undo says what it cannot know, and sends
    // nothing unless told to reverse every applied account.
    let n = path("no-check.journal");
    let (code, _, err) = tim(
        &[
            "--journal",
            &n,
            "--no-check-first",
            "--file",
            i,
            "delete",
            "me",
        ],
        &borrowed(&env),
    );
    assert_eq!(code, 0, "{err}");
    let before_undo = writes();
    let nu = path("no-check-undo.journal");
    let (code, _, err) = tim(&["--journal", &nu, "undo", &n], &borrowed(&env));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--no-check-first") && err.contains("--reverse-all-applied"),
        "{err}"
    );
    assert_eq!(writes(), before_undo);
    let (code, _, err) = tim(
        &["--journal", &nu, "--reverse-all-applied", "undo", &n],
        &borrowed(&env),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(emu.following("me").len(), 2000, "every applied account");
    let (code, _, err) = tim(
        &[
            "--journal",
            &path("again.journal"),
            "--file",
            i,
            "delete",
            "me",
        ],
        &borrowed(&env),
    );
    assert_eq!(code, 0, "{err}");
    for t in &targets[..1000] {
        emu.seed_follow("me", t);
    }
    assert_eq!(graph(), before);

    // 3. A snapshot, a purge, and the snapshot made again.
    let s = path("me.snapshot");
    let (code, _, err) = tim(&["export", "--out", &s, "me"], &borrowed(&env));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("1002 relations of 1 account"), "{err}");
    let (code, _, err) = tim(
        &["--journal", &path("purge.journal"), "purge", "me"],
        &borrowed(&env),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(graph(), (vec![], vec![]));
    let (code, _, err) = tim(
        &["--journal", &path("restore.journal"), "restore", &s],
        &borrowed(&env),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(graph(), before);

    // 4. Pairs: 300 fans made in one command.
    let pairs: Vec<String> = targets[..300].iter().map(|t| format!("{t} me")).collect();
    let p = dir.join("pairs.txt");
    std::fs::write(&p, pairs.join("\n")).unwrap();
    let (code, _, err) = tim(
        &[
            "--journal",
            &path("pairs.journal"),
            "--pairs",
            p.to_str().unwrap(),
            "add",
        ],
        &borrowed(&env),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(emu.fans("me").len(), 302);
    let (code, out, err) = tim(&["status", &path("pairs.journal")], &borrowed(&env));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("pairs grouped by FROM (sorted in runs of 262144)"),
        "{out}"
    );
    // Options that do not fit are refused before anything runs.
    let (code, _, err) = tim(&["--pairs", "x", "check", "a", "b"], &borrowed(&env));
    assert_eq!(code, 2);
    assert!(err.contains("--pairs does not apply"), "{err}");
    let (code, _, err) = tim(&["export", "me"], &borrowed(&env));
    assert_eq!(code, 2);
    assert!(err.contains("--out"), "{err}");
}

/// A free port on 127.0.0.1.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

fn receiver_process(port: u16, out: &std::path::Path) -> std::process::Child {
    webhooks_process(port, &["--out", out.to_str().unwrap()])
}

/// `tim-follow webhooks` on 127.0.0.1:`port` with `args`, once it listens.
fn webhooks_process(port: u16, args: &[&str]) -> std::process::Child {
    let child = tool()
        .args(["webhooks", "--listen", &format!("127.0.0.1:{port}")])
        .args(args)
        .env("TIM_SDKAPPID", "1400000000")
        .env("TIM_CALLBACK_TOKEN", "cli-token")
        .env_remove("TIM_REDIS_URL")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // It listens once it has read its events file back: 150,000 events in a
    // debug build on a loaded machine take a while.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the receiver did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child
}

/// The events of a webhooks file: (command, from, to, event time) per line.
fn stored_events(out: &std::path::Path) -> Vec<(String, String, Vec<String>, u64)> {
    let text = std::fs::read_to_string(out).unwrap_or_default();
    assert!(text.is_empty() || text.ends_with('\n'), "whole lines only");
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            let to = v["to"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_string());
            (
                v["command"].as_str().unwrap().to_string(),
                v["from"].as_str().unwrap().to_string(),
                to.collect(),
                v["event_time"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn webhooks_keep_every_acknowledged_event_once_across_a_sigkill() {
    let dir = scratch("webhooks");
    let out = dir.join("events.jsonl");
    let port = free_port();
    let mut receiver = receiver_process(port, &out);
    let targets: Vec<String> = (0..500).map(|i| format!("t{i:03}")).collect();
    let froms: Vec<String> = (0..4).map(|i| format!("f{i}")).collect();
    let emu = tim_follow::testkit::Emulator::builder()
        .webhook(format!("http://127.0.0.1:{port}/tim"), Some("cli-token"))
        .webhook_retries(8)
        .rate_limit(None, 60007)
        .accounts(&targets)
        .accounts(&froms)
        .start()
        .unwrap();
    std::thread::scope(|scope| {
        for from in &froms {
            let client = emu.client_builder().no_rate_limit().build().unwrap();
            let targets = &targets;
            scope.spawn(move || {
                for t in targets {
                    client.follow(from, t).unwrap();
                    std::thread::sleep(std::time::Duration::from_micros(500));
                }
            });
        }
        // Half-way, the receiver is killed, and started again.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while emu.webhooks().len() < 600 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        receiver.kill().unwrap(); // SIGKILL
        receiver.wait().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        receiver = receiver_process(port, &out);
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while emu.webhooks().len() < 2000 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let sent = emu.webhooks();
    assert_eq!(sent.len(), 2000);
    let stored = stored_events(&out);
    let unique: std::collections::HashSet<_> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len(), "no event stored twice");
    let acked: Vec<_> = sent.iter().filter(|w| w.acked).collect();
    assert_eq!(acked.len(), 2000, "every delivery acknowledged in the end");
    assert!(
        sent.iter().any(|w| w.attempts > 1),
        "deliveries met the receiver down and were sent again"
    );
    for w in &acked {
        let key = (
            w.command.clone(),
            w.from_account.clone(),
            w.to_accounts.clone(),
            w.event_time_ms,
        );
        assert!(
            unique.contains(&key),
            "acknowledged but not stored: {key:?}"
        );
    }
    // A forged delivery is refused and never stored.
    let forged = "{\"CallbackCommand\":\"Follow.CallbackAfterFollowAdd\",\"From_Account\":\"x\",\"FollowList\":[{\"To_Account\":\"y\"}],\"EventTime\":1}";
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let request = format!(
        "POST /tim?SdkAppid=1400000000&CallbackCommand=Follow.CallbackAfterFollowAdd&Sign={}&RequestTime={now} HTTP/1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{forged}",
        "0".repeat(64),
        forged.len()
    );
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    std::io::Write::write_all(&mut s, request.as_bytes()).unwrap();
    let mut reply = String::new();
    let _ = std::io::Read::read_to_string(&mut s, &mut reply);
    assert!(reply.starts_with("HTTP/1.1 403"), "{reply}");
    assert_eq!(stored_events(&out).len(), stored.len());
    // Ctrl-C: a graceful stop that says what it did.
    let sent = Command::new("kill")
        .args(["-INT", &receiver.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let end = receiver.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&end.stderr);
    assert_eq!(end.status.code(), Some(0), "{err}");
    assert!(err.contains("1 bad sign"), "{err}");
}

#[test]
fn webhooks_settings_are_checked_in_the_tools_words() {
    let (code, _, err) = tim(&["webhooks", "--out", "x"], &[("TIM_SDKAPPID", "1")]);
    assert_eq!(code, 2);
    assert!(err.contains("--listen"), "{err}");
    let (code, _, err) = tim(
        &["webhooks", "--listen", "nowhere", "--out", "x"],
        &[("TIM_SDKAPPID", "1")],
    );
    assert_eq!(code, 2);
    assert!(err.contains("--listen takes an address"), "{err}");
    let (code, _, err) = tim(
        &["webhooks", "--listen", "127.0.0.1:0"],
        &[("TIM_SDKAPPID", "1")],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("--out FILE") && err.contains("--exec CMD"),
        "{err}"
    );
    let (code, _, err) = tim(&["webhooks", "--listen", "127.0.0.1:0", "--out", "x"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("TIM_SDKAPPID"), "{err}");
    let (code, _, err) = tim(
        &[
            "webhooks",
            "--listen",
            "127.0.0.1:0",
            "--out",
            "x",
            "--exec-timeout",
            "5",
        ],
        &[("TIM_SDKAPPID", "1")],
    );
    assert_eq!(code, 2);
    assert!(err.contains("--exec-timeout goes with --exec"), "{err}");
    let (code, _, err) = tim(
        &[
            "webhooks",
            "--listen",
            "127.0.0.1:0",
            "--exec",
            "true",
            "--exec-timeout",
            "0",
        ],
        &[("TIM_SDKAPPID", "1")],
    );
    assert_eq!(code, 2);
    assert!(err.contains("--exec-timeout takes seconds"), "{err}");
    let (code, _, err) = tim(&["--listen", "127.0.0.1:0", "add", "a", "b"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("--listen does not apply"), "{err}");
}

/// Resident memory of a process, in KiB (Linux).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn hostile_deliveries_leave_the_receivers_memory_and_file_alone() {
    let dir = scratch("webhooks-hostile");
    let out = dir.join("events.jsonl");
    let port = free_port();
    let mut receiver = receiver_process(port, &out);
    let before = rss_kib(receiver.id());
    for round in 0..2 {
        // 1,000 connections that send nothing.
        let idle: Vec<_> = (0..1000)
            .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).ok())
            .collect();
        // The connections asked to make room close within 100 ms.
        std::thread::sleep(std::time::Duration::from_millis(300));
        // Oversized bodies (refused unread) and forged signatures.
        for i in 0..50 {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
            let (sign, len) = if i % 2 == 0 {
                ("0".repeat(64), 4 << 20)
            } else {
                ("1".repeat(64), 10)
            };
            let head = format!(
                "POST /tim?SdkAppid=1400000000&CallbackCommand=Follow.CallbackAfterFollowAdd&Sign={sign}&RequestTime=1 HTTP/1.1\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
            );
            let _ = std::io::Write::write_all(&mut s, head.as_bytes());
            let _ = std::io::Write::write_all(&mut s, &vec![b'x'; len.min(64 * 1024)]);
            let mut reply = String::new();
            let _ = std::io::Read::read_to_string(&mut s, &mut reply);
            assert!(
                reply.starts_with("HTTP/1.1 413") || reply.starts_with("HTTP/1.1 403"),
                "round {round}: {reply}"
            );
        }
        drop(idle);
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let after = rss_kib(receiver.id());
    assert!(before > 0 && after > 0);
    assert!(
        after < before + 16 * 1024,
        "memory grew from {before} KiB to {after} KiB"
    );
    assert!(stored_events(&out).is_empty(), "nothing written");
    receiver.kill().unwrap();
    receiver.wait().unwrap();
}

#[test]
fn another_apps_journal_or_snapshot_exits_2_and_sends_nothing() {
    let dir = scratch("other-app");
    let targets: Vec<String> = (0..30).map(|i| format!("u{i:02}")).collect();
    let start = |app: u64| {
        tim_follow::testkit::Emulator::builder()
            .sdkappid(app)
            .accounts(&["me"])
            .accounts(&targets)
            .start()
            .unwrap()
    };
    let (theirs, ours) = (start(1_400_000_001), start(1_400_000_000));
    let ids = dir.join("ids.txt");
    std::fs::write(&ids, targets.join("\n")).unwrap();
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let (j, s) = (path("add.journal"), path("me.snapshot"));
    let their_env = env_for(&theirs);
    let (code, _, err) = tim(
        &[
            "--journal",
            &j,
            "--file",
            ids.to_str().unwrap(),
            "add",
            "me",
        ],
        &borrowed(&their_env),
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = tim(&["export", "--out", &s, "me"], &borrowed(&their_env));
    assert_eq!(code, 0, "{err}");
    let env = env_for(&ours);
    let said = "was made for SDKAppID 1400000001; these credentials are for 1400000000";
    for args in [
        vec!["--journal", &*path("undo.journal"), "undo", &j],
        vec!["resume", &j],
        vec!["--journal", &*path("restore.journal"), "restore", &s],
        vec!["restore", &s],
    ] {
        let (code, _, err) = tim(&args, &borrowed(&env));
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(said), "{args:?}: {err}");
    }
    assert_eq!(ours.requests().len(), 0);
    assert!(!dir.join("undo.journal").exists());
}

#[test]
fn export_out_never_replaces_what_is_not_a_regular_file_and_dash_streams() {
    use std::os::unix::fs::FileTypeExt;
    let dir = scratch("export-out");
    let emu = tim_follow::testkit::Emulator::builder()
        .accounts(&["me", "a", "b", "c"])
        .start()
        .unwrap();
    emu.seed_follow("me", "a");
    emu.seed_follow("me", "b");
    emu.seed_follow("c", "me");
    let env = env_for(&emu);
    // A symlink to a device, a directory, a FIFO: refused before any
    // listing, and left as they were.
    let null = dir.join("null");
    std::os::unix::fs::symlink("/dev/null", &null).unwrap();
    let sub = dir.join("sub");
    std::fs::create_dir(&sub).unwrap();
    let fifo = dir.join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    for (target, said) in [
        (&null, "a symlink to a character device"),
        (&sub, "a directory"),
        (&fifo, "a FIFO"),
    ] {
        let t = target.to_str().unwrap();
        let (code, out, err) = tim(&["export", "--out", t, "me"], &borrowed(&env));
        assert_eq!(code, 2, "{t}: {err}");
        assert!(err.contains(said) && err.contains("--out -"), "{t}: {err}");
        assert!(out.is_empty());
    }
    assert!(std::fs::symlink_metadata(&null)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(std::fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
    assert!(sub.is_dir());
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    assert_eq!(emu.request_count("follow/follow_get"), 0, "nothing listed");
    // `--out -`: the snapshot on stdout, whole.
    let (code, out, err) = tim(&["export", "--out", "-", "me"], &borrowed(&env));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("3 relations of 1 account written to stdout"),
        "{err}"
    );
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert_eq!(lines[0]["tim_follow_snapshot"], 1);
    assert_eq!(lines[0]["sdkappid"], emu.sdkappid());
    assert_eq!(lines[4]["relations"], 3);
    // What was streamed is a snapshot restore reads whole.
    let streamed = dir.join("streamed.snapshot");
    std::fs::write(&streamed, &out).unwrap();
    let (code, _, err) = tim(&["restore", streamed.to_str().unwrap()], &borrowed(&env));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("3 already in place"), "{err}");
    // A symlink to a regular file: written through, the link kept; the
    // temporary file of an export that died is removed.
    let real = dir.join("real.snapshot");
    std::fs::write(&real, "old").unwrap();
    let link = dir.join("link.snapshot");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let stale = dir.join(".real.snapshot.4199999.partial");
    std::fs::write(&stale, "half").unwrap();
    let (code, _, err) = tim(
        &["export", "--out", link.to_str().unwrap(), "me"],
        &borrowed(&env),
    );
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let text = std::fs::read_to_string(&real).unwrap();
    assert!(text.starts_with("{\"tim_follow_snapshot\":1"), "{text}");
    assert!(!stale.exists(), "the dead export's partial file is gone");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Sends one signed follow event (token `cli-token`) to the receiver on
/// `port`; returns the reply (status line, headers and body).
fn deliver(port: u16, from: &str, to: &str, event_time: u64) -> String {
    let body = format!(
        "{{\"CallbackCommand\":\"Follow.CallbackAfterFollowAdd\",\"From_Account\":\"{from}\",\"FollowList\":[{{\"To_Account\":\"{to}\"}}],\"EventTime\":{event_time}}}"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let request = format!(
        "POST /tim?SdkAppid=1400000000&CallbackCommand=Follow.CallbackAfterFollowAdd&Sign={}&RequestTime={now} HTTP/1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        tim_follow::callback::sign_hex("cli-token", now),
        body.len()
    );
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(60)));
    let _ = std::io::Write::write_all(&mut s, request.as_bytes());
    let mut reply = String::new();
    let _ = std::io::Read::read_to_string(&mut s, &mut reply);
    reply
}

#[test]
fn webhooks_never_acknowledge_a_repeat_of_an_event_still_being_handled() {
    let port = free_port();
    let mut receiver = webhooks_process(port, &["--exec", "cat >/dev/null; sleep 2; exit 1"]);
    let first = std::thread::spawn(move || deliver(port, "a", "b", 11));
    std::thread::sleep(std::time::Duration::from_millis(500));
    let started = std::time::Instant::now();
    let repeat = deliver(port, "a", "b", 11);
    let first = first.join().unwrap();
    assert!(first.starts_with("HTTP/1.1 500"), "{first}");
    assert!(
        !repeat.contains("\"ErrorCode\":0"),
        "acknowledged after {:?}, never handled: {repeat}",
        started.elapsed()
    );
    receiver.kill().unwrap();
    receiver.wait().unwrap();
}

/// Every line of an events file that parses, as (from, to, event time);
/// the file must hold no NUL byte.
fn events_in(path: &std::path::Path) -> Vec<(String, String, u64)> {
    let bytes = std::fs::read(path).unwrap_or_default();
    assert!(!bytes.contains(&0), "NUL bytes in {}", path.display());
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| {
            (
                v["from"].as_str().unwrap_or_default().to_string(),
                v["to"][0].as_str().unwrap_or_default().to_string(),
                v["event_time"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

fn acked(reply: &str) -> bool {
    reply.starts_with("HTTP/1.1 200") && reply.contains("\"ErrorCode\":0")
}

#[test]
fn one_receiver_per_events_file_and_a_file_changed_under_it_loses_nothing() {
    let dir = scratch("webhooks-one-writer");
    let out = dir.join("events.jsonl");
    let port = free_port();
    let mut receiver = receiver_process(port, &out);
    // A second receiver on the same file is refused at once.
    let (code, _, err) = tim(
        &[
            "webhooks",
            "--listen",
            "127.0.0.1:0",
            "--out",
            out.to_str().unwrap(),
        ],
        &[("TIM_SDKAPPID", "1400000000"), ("TIM_CALLBACK_TOKEN", "x")],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "events file {} is in use by process {}",
            out.display(),
            receiver.id()
        )),
        "{err}"
    );
    let mut acknowledged = Vec::new();
    let send = |acknowledged: &mut Vec<(String, String, u64)>, n: u64| {
        let reply = deliver(port, "a", &format!("t{n}"), n);
        assert!(acked(&reply), "{reply}");
        acknowledged.push(("a".to_string(), format!("t{n}"), n));
    };
    for n in 0..5 {
        send(&mut acknowledged, n);
    }
    // logrotate's copytruncate: copied, then cut to nothing.
    let copy = dir.join("events.jsonl.1");
    std::fs::copy(&out, &copy).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&out)
        .unwrap()
        .set_len(0)
        .unwrap();
    for n in 5..8 {
        send(&mut acknowledged, n);
    }
    // Cut in the middle of a line by someone else.
    let len = std::fs::metadata(&out).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&out)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    let torn_away = acknowledged.pop().unwrap(); // that one was cut by hand
    for n in 8..10 {
        send(&mut acknowledged, n);
    }
    // Renamed (logrotate's default), then deleted.
    let renamed = dir.join("events.jsonl.2");
    std::fs::rename(&out, &renamed).unwrap();
    for n in 10..12 {
        send(&mut acknowledged, n);
    }
    let deleted: Vec<_> = events_in(&out);
    std::fs::remove_file(&out).unwrap();
    for n in 12..14 {
        send(&mut acknowledged, n);
    }
    let mut stored = events_in(&copy);
    stored.extend(events_in(&renamed));
    stored.extend(deleted);
    stored.extend(events_in(&out));
    assert!(!stored.contains(&torn_away));
    assert_eq!(
        stored, acknowledged,
        "each acknowledged event once, in order"
    );
    // A second receiver is refused on the file that replaced the old one too.
    let (code, _, err) = tim(
        &[
            "webhooks",
            "--listen",
            "127.0.0.1:0",
            "--out",
            out.to_str().unwrap(),
        ],
        &[("TIM_SDKAPPID", "1400000000"), ("TIM_CALLBACK_TOKEN", "x")],
    );
    assert_eq!(code, 2, "{err}");
    receiver.kill().unwrap();
    let end = receiver.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&end.stderr);
    assert!(err.contains("was truncated under the receiver"), "{err}");
    assert!(
        err.contains("was renamed or replaced under the receiver"),
        "{err}"
    );
    assert!(err.contains("was deleted under the receiver"), "{err}");
}

#[test]
fn a_write_that_fails_takes_back_only_its_own_bytes_and_is_not_acknowledged() {
    let dir = scratch("webhooks-full");
    let out = dir.join("events.jsonl");
    let port = free_port();
    // A file size limit of 2 KiB: a write past it fails (EFBIG) part-way.
    let mut receiver = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f 4; exec '{}' webhooks --listen 127.0.0.1:{port} --out '{}'",
            env!("CARGO_BIN_EXE_tim-follow"),
            out.display()
        ))
        .env("TIM_SDKAPPID", "1400000000")
        .env("TIM_CALLBACK_TOKEN", "cli-token")
        .env_remove("TIM_REDIS_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "not started");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let mut acknowledged = Vec::new();
    let mut refused = 0;
    for n in 0..40 {
        // Each event on two connections at once: a full disk acknowledges
        // neither copy.
        let request = delivery_request("a", &format!("t{n}"), n);
        let replies: Vec<String> = std::thread::scope(|scope| {
            let copies: Vec<_> = (0..2)
                .map(|_| {
                    let request = &request;
                    scope.spawn(move || {
                        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                        let _ = c.set_read_timeout(Some(std::time::Duration::from_secs(30)));
                        let _ = std::io::Write::write_all(&mut c, request);
                        let mut reply = String::new();
                        let _ = std::io::Read::read_to_string(&mut c, &mut reply);
                        reply
                    })
                })
                .collect();
            copies.into_iter().map(|c| c.join().unwrap()).collect()
        });
        if replies.iter().any(|r| acked(r)) {
            acknowledged.push(("a".to_string(), format!("t{n}"), n));
        } else {
            for reply in &replies {
                assert!(
                    reply.starts_with("HTTP/1.1 500") || reply.starts_with("HTTP/1.1 503"),
                    "{reply}"
                );
            }
            refused += 1;
        }
    }
    receiver.kill().unwrap();
    receiver.wait().unwrap();
    assert!(refused > 0 && !acknowledged.is_empty(), "{refused} refused");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.ends_with('\n'), "the failed writes left no torn line");
    assert_eq!(events_in(&out), acknowledged, "what was acknowledged, only");
}

/// Whether process `pid` is gone (or a zombie waiting for its parent).
fn process_gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

#[test]
fn an_exec_command_that_never_reads_is_killed_with_its_group_at_the_limit() {
    let dir = scratch("webhooks-exec-limit");
    let pids = dir.join("pids");
    let _ = std::fs::remove_file(&pids);
    let port = free_port();
    let cmd = format!(
        "sleep 300 & echo $! >> '{p}'; echo $$ >> '{p}'; echo to stderr >&2; sleep 300",
        p = pids.display()
    );
    let receiver = webhooks_process(port, &["--exec", &cmd, "--exec-timeout", "1"]);
    let started = std::time::Instant::now();
    let reply = deliver(port, "a", "b", 21);
    assert!(reply.starts_with("HTTP/1.1 500"), "{reply}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "not stopped at its limit: {:?}",
        started.elapsed()
    );
    let pids = std::fs::read_to_string(&pids).unwrap();
    let pids: Vec<&str> = pids.split_whitespace().collect();
    assert_eq!(pids.len(), 2, "{pids:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !pids.iter().all(|p| process_gone(p)) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for pid in &pids {
        assert!(process_gone(pid), "process {pid} outlived the limit");
    }
    let end = interrupt(receiver);
    let err = String::from_utf8_lossy(&end.stderr);
    assert!(err.contains("its process group was killed"), "{err}");
}

/// Ctrl-C (SIGINT) to a receiver; its end once it stopped.
fn interrupt(receiver: std::process::Child) -> std::process::Output {
    let pid = i32::try_from(receiver.id()).unwrap();
    // SAFETY: kill(2) on a child of this test, which it has not waited for.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    receiver.wait_with_output().unwrap()
}

#[test]
fn a_thousand_refused_requests_are_a_few_log_lines() {
    let port = free_port();
    let out = scratch("webhooks-quiet").join("events.jsonl");
    let receiver = receiver_process(port, &out);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut reader = std::io::BufReader::new(s.try_clone().unwrap());
    for i in 0..1000 {
        // GETs and forged signatures, on one keep-alive connection.
        let request = if i % 2 == 0 {
            "GET /tim HTTP/1.1\r\nContent-Length: 0\r\n\r\n".to_string()
        } else {
            format!(
                "POST /tim?SdkAppid=1400000000&CallbackCommand=Follow.CallbackAfterFollowAdd&Sign={}&RequestTime={now} HTTP/1.1\r\nContent-Length: 2\r\n\r\n{{}}",
                "0".repeat(64)
            )
        };
        std::io::Write::write_all(&mut s, request.as_bytes()).unwrap();
        let mut length = 0;
        loop {
            let mut line = String::new();
            std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        std::io::Read::read_exact(&mut reader, &mut body).unwrap();
    }
    let end = interrupt(receiver);
    let err = String::from_utf8_lossy(&end.stderr);
    let lines = err.lines().count();
    assert!(lines <= 12, "{lines} lines for 1,000 refusals:\n{err}");
    assert!(err.contains("refused (method): 500 in the last"), "{err}");
    assert!(err.contains("refused (bad sign): 500 in the last"), "{err}");
    assert!(err.contains("from 127.0.0.1:"), "{err}");
    assert!(!err.contains(&"0".repeat(64)), "no Sign in the log: {err}");
}

#[test]
fn a_restart_remembers_every_event_of_the_last_day_past_a_damaged_line() {
    let dir = scratch("webhooks-reload");
    let out = dir.join("events.jsonl");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let day_ms = 24 * 3600 * 1000;
    let at = |i: u64| now_ms - 60_000 - i * 100;
    let mut text = Vec::new();
    // An event older than the window, then 150,000 recent ones with a
    // damaged (not UTF-8) line in the middle.
    let line = |to: &str, t: u64| {
        format!(
            "{{\"command\":\"Follow.CallbackAfterFollowAdd\",\"from\":\"a\",\"to\":[\"{to}\"],\"event_time\":{t},\"request_time\":null,\"received_at\":{t},\"key\":\"old\"}}\n"
        )
    };
    text.extend(line("old", now_ms - day_ms - 3_600_000).as_bytes());
    for i in 0..150_000u64 {
        if i == 75_000 {
            text.extend(b"{\"command\":\"\xff\xfe\"}\n");
        }
        text.extend(line(&format!("t{i}"), at(i)).as_bytes());
    }
    std::fs::write(&out, &text).unwrap();
    let port = free_port();
    let receiver = receiver_process(port, &out);
    for i in [0, 74_999, 75_000, 149_999] {
        let reply = deliver(port, "a", &format!("t{i}"), at(i));
        assert!(acked(&reply), "{reply}");
    }
    assert_eq!(
        std::fs::read(&out).unwrap(),
        text,
        "repeats of stored events are not stored again"
    );
    // The event older than the window is stored again.
    let reply = deliver(port, "a", "old", now_ms - day_ms - 3_600_000);
    assert!(acked(&reply), "{reply}");
    assert!(std::fs::read(&out).unwrap().len() > text.len());
    // Ids the client would refuse are refused.
    let reply = deliver(port, "a", &"x".repeat(33), now_ms);
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    let end = interrupt(receiver);
    let err = String::from_utf8_lossy(&end.stderr);
    assert!(
        err.contains("skipped 1 damaged line(s)") && err.contains("the first is line 75002"),
        "{err}"
    );
    assert!(err.contains("1 bad account"), "{err}");
}

/// `GET path` on the receiver at `port`: the whole reply.
fn get(port: u16, path: &str) -> String {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(30)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let _ = std::io::Write::write_all(&mut s, request.as_bytes());
    let mut reply = String::new();
    let _ = std::io::Read::read_to_string(&mut s, &mut reply);
    reply
}

#[test]
fn healthz_says_whether_events_can_be_stored_and_metrics_count_them() {
    let dir = scratch("webhooks-health").join("sub");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("events.jsonl");
    let port = free_port();
    let receiver = receiver_process(port, &out);
    let health = get(port, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(acked(&deliver(port, "a", "b", 1)));
    assert!(acked(&deliver(port, "a", "b", 1)), "a repeat");
    assert!(get(port, "/other").starts_with("HTTP/1.1 405"));
    let metrics = get(port, "/metrics");
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    for line in [
        "# TYPE tim_follow_webhooks_received_total counter",
        "tim_follow_webhooks_received_total 3",
        "tim_follow_webhooks_acknowledged_total 2",
        "tim_follow_webhooks_stored_total 1",
        "tim_follow_webhooks_repeats_total 1",
        "tim_follow_webhooks_refused_total{reason=\"method\"} 1",
        "tim_follow_webhooks_store_seconds_count 1",
        "tim_follow_webhooks_store_seconds_bucket{le=\"+Inf\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line}:\n{metrics}");
    }
    // The file deleted: reopened, still healthy.
    std::fs::remove_file(&out).unwrap();
    let health = get(port, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(out.exists(), "recreated by the health check");
    // Its directory gone: events cannot be stored, and it says so.
    std::fs::remove_dir_all(&dir).unwrap();
    let health = get(port, "/healthz");
    assert!(health.starts_with("HTTP/1.1 503"), "{health}");
    assert!(health.contains("cannot store events"), "{health}");
    assert!(deliver(port, "a", "c", 2).starts_with("HTTP/1.1 500"));
    // Back: healthy again, and the next event is stored.
    std::fs::create_dir_all(&dir).unwrap();
    let health = get(port, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(acked(&deliver(port, "a", "c", 2)));
    assert_eq!(events_in(&out), vec![("a".into(), "c".into(), 2)]);
    interrupt(receiver);
}

/// A signed follow event's request (token `cli-token`), to be closed after.
fn delivery_request(from: &str, to: &str, event_time: u64) -> Vec<u8> {
    let body = format!(
        "{{\"CallbackCommand\":\"Follow.CallbackAfterFollowAdd\",\"From_Account\":\"{from}\",\"FollowList\":[{{\"To_Account\":\"{to}\"}}],\"EventTime\":{event_time}}}"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!(
        "POST /tim?SdkAppid=1400000000&CallbackCommand=Follow.CallbackAfterFollowAdd&Sign={}&RequestTime={now} HTTP/1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        tim_follow::callback::sign_hex("cli-token", now),
        body.len()
    )
    .into_bytes()
}

#[test]
fn sigkill_ten_times_with_each_event_on_two_connections_keeps_every_acknowledged_event_once() {
    let dir = scratch("webhooks-sigkill-pairs");
    let out = dir.join("events.jsonl");
    let mut acknowledged = std::collections::HashSet::new();
    let mut sent = 0;
    for round in 0..10u64 {
        let port = free_port();
        let mut receiver = receiver_process(port, &out);
        let stop = std::sync::atomic::AtomicBool::new(false);
        let acked_now = std::sync::Mutex::new(Vec::new());
        let count = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for sender in 0..4u64 {
                let (stop, acked_now, count) = (&stop, &acked_now, &count);
                scope.spawn(move || {
                    for n in 0..5_000u64 {
                        if stop.load(std::sync::atomic::Ordering::SeqCst) {
                            return;
                        }
                        let to = format!("r{round}s{sender}n{n}");
                        let time = 1_000_000 + round * 100_000 + sender * 10_000 + n;
                        let request = delivery_request("a", &to, time);
                        // The same event on two connections at once.
                        let conns: Vec<_> = (0..2)
                            .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).ok())
                            .collect();
                        if conns.is_empty() {
                            return; // killed
                        }
                        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        for mut c in &conns {
                            let _ = c.set_read_timeout(Some(std::time::Duration::from_secs(30)));
                            let _ = std::io::Write::write_all(&mut c, &request);
                        }
                        let mut ok = false;
                        for mut c in conns {
                            let mut reply = String::new();
                            let _ = std::io::Read::read_to_string(&mut c, &mut reply);
                            ok |= acked(&reply);
                        }
                        if ok {
                            acked_now.lock().unwrap().push((to, time));
                        }
                    }
                });
            }
            // SIGKILL at a random moment.
            std::thread::sleep(std::time::Duration::from_millis(fastrand::u64(50..400)));
            receiver.kill().unwrap();
            receiver.wait().unwrap();
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        sent += count.into_inner();
        acknowledged.extend(acked_now.into_inner().unwrap());
    }
    // A last start cuts a torn last line off; then a graceful stop.
    let port = free_port();
    interrupt(receiver_process(port, &out));
    let stored = events_in(&out);
    let lines = std::fs::read_to_string(&out).unwrap().lines().count();
    assert_eq!(stored.len(), lines, "every line whole");
    let mut once = std::collections::HashSet::new();
    for (from, to, time) in &stored {
        assert_eq!(from, "a");
        assert!(once.insert((to.clone(), *time)), "stored twice: {to}");
    }
    assert!(
        acknowledged.len() > 100,
        "{} of {sent} acknowledged",
        acknowledged.len()
    );
    for event in &acknowledged {
        assert!(once.contains(event), "acknowledged, not stored: {event:?}");
    }
    println!(
        "{sent} events sent on two connections each, {} acknowledged, {} stored",
        acknowledged.len(),
        stored.len()
    );
}

#[test]
fn no_arguments_is_a_short_usage_on_stderr_and_exit_2() {
    let (code, out, err) = tim(&[], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty(), "nothing on stdout: {out}");
    assert!(err.starts_with("usage: tim-follow"), "{err}");
    assert!(err.lines().count() < 10, "a short usage: {err}");
    // Options without a command are no command either.
    let (code, out, err) = tim(&["--json"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty() && err.contains("no command"), "{err}");
}

#[test]
fn help_command_and_command_help() {
    let (code, out, _) = tim(&["help"], &[]);
    assert_eq!(code, 0);
    assert!(out.contains("EXIT STATUS"), "{out}");
    for args in [
        &["help", "list"][..],
        &["list", "--help"],
        &["--help", "list"],
    ] {
        let (code, out, err) = tim(args, &[]);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(
            out.contains("list <FROM>") && out.contains("--limit"),
            "{args:?}: {out}"
        );
        assert!(!out.contains("EXIT STATUS"), "one command's help: {out}");
    }
    let (code, _, err) = tim(&["help", "lsit"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean list?"), "{err}");
}

#[test]
fn option_values_with_equals_or_space() {
    for args in [
        &["--emulator", "--limit=1", "list", "alice"][..],
        &["--emulator", "list", "alice", "--limit", "1"],
        &[
            "--emulator",
            "--timeout=5",
            "--rate-limit=50",
            "list",
            "alice",
        ],
    ] {
        let (code, _, err) = tim(args, &[]);
        assert_eq!(code, 0, "{args:?}: {err}");
    }
    let (code, _, err) = tim(&["--emulator", "--limit=many", "list", "alice"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("--limit takes a number"), "{err}");
    let (code, _, err) = tim(&["--emulator", "--json=yes", "check", "a", "b"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("--json takes no value"), "{err}");
}

#[test]
fn an_account_that_starts_with_a_dash_goes_after_double_dash() {
    let (code, out, err) = tim(&["--emulator", "add", "--", "-me", "--you"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("--you") && out.contains("ok"), "{out}");
    // Without `--` it is an option, and refused as unknown.
    let (code, _, err) = tim(&["--emulator", "add", "-me", "you"], &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown option -m") && err.contains("`--`"),
        "{err}"
    );
}

#[test]
fn an_unknown_option_names_the_closest_one() {
    for (args, says) in [
        (&["--limt", "5", "list", "a"][..], "did you mean --limit?"),
        (&["--emulater", "list", "a"], "did you mean --emulator?"),
        (&["--dry", "add", "a", "b"], "did you mean --dry-run?"),
        (&["ad", "a", "b"], "did you mean add?"),
    ] {
        let (code, _, err) = tim(args, &[]);
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let (code, _, err) = tim(&["--zzzzzzzz", "list", "a"], &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown option --zzzzzzzz") && !err.contains("did you mean"),
        "{err}"
    );
}

#[test]
fn verbosity_clusters() {
    let (code, _, err) = tim(&["-vv", "--emulator", "counts", "a"], &[]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = tim(&["-V"], &[]);
    assert_eq!(code, 0);
    assert!(out.starts_with("tim-follow "), "{out}");
}

#[test]
fn one_version_in_the_tool_the_readme_and_the_changelog() {
    let version = env!("CARGO_PKG_VERSION");
    let (code, out, _) = tim(&["--version"], &[]);
    assert_eq!(code, 0);
    assert_eq!(out.trim(), format!("tim-follow {version}"));
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    assert!(
        readme.contains(&format!("Version {version}.")),
        "README names {version}"
    );
    let changelog = std::fs::read_to_string(format!("{root}/CHANGELOG.md")).unwrap();
    let top = changelog.lines().find(|l| l.starts_with("## ")).unwrap();
    assert!(
        top.starts_with(&format!("## {version} — 20")),
        "dated top section: {top}"
    );
}

#[test]
fn the_70001_advice_depends_on_the_credentials() {
    let emu = tim_follow::testkit::Emulator::builder()
        .accounts(&["alice", "bob"])
        .start()
        .unwrap();
    let base = emu.base_url();
    // A UserSig made from the SecretKey, made again, and still "expired":
    // the clock of this machine.
    emu.inject(tim_follow::testkit::Fault::ErrorCode(70001), 10);
    let (code, _, err) = tim(
        &["--timeout", "10", "add", "alice", "bob"],
        &[
            ("TIM_SDKAPPID", "1400000000"),
            ("TIM_SECRET_KEY", emu.secret_key()),
            ("TIM_BASE_URL", &base),
        ],
    );
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("70001") && err.contains("clock"), "{err}");
    assert!(!err.contains("Set TIM_SECRET_KEY"), "it is set: {err}");
    emu.clear_faults();
    // A ready-made UserSig that expired long ago: set TIM_SECRET_KEY.
    let old = tim_follow::usersig::generate_at(
        emu.sdkappid(),
        emu.secret_key(),
        emu.admin(),
        std::time::Duration::from_secs(600),
        1_600_000_000,
    );
    let (code, _, err) = tim(
        &["add", "alice", "bob"],
        &[
            ("TIM_SDKAPPID", "1400000000"),
            ("TIM_USERSIG", &old),
            ("TIM_BASE_URL", &base),
        ],
    );
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("70001") && err.contains("Set TIM_SECRET_KEY"),
        "{err}"
    );
    assert!(!err.contains(&old), "the UserSig is not echoed");
}

#[test]
fn previews_speak_the_operations_words_and_resume_keeps_the_rate_limit() {
    let dir = scratch("preview-rate");
    let targets: Vec<String> = (0..60).map(|i| format!("u{i:02}")).collect();
    let (emu, ids) = emulator_and_ids(&dir, &targets);
    emu.seed_follow("me", "u00");
    let env = env_for(&emu);
    let (code, out, err) = tim(
        &["--dry-run", "add", "me", "me", "u00", "u01"],
        &borrowed(&env),
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].contains("REFUSED  an account cannot follow itself"),
        "{out}"
    );
    assert!(
        lines[1].ends_with("already there") && lines[2].ends_with("would be made"),
        "{out}"
    );
    assert!(
        err.contains("1 of 3 relations would be made; 1 are there already; 1 would be refused"),
        "{err}"
    );
    let (code, out, _) = tim(
        &["--dry-run", "delete", "me", "u00", "u01"],
        &borrowed(&env),
    );
    assert_eq!(code, 0);
    assert!(
        out.contains("would be removed") && out.contains("not there"),
        "{out}"
    );
    assert_eq!(
        emu.request_count("follow/follow_add") + emu.request_count("follow/follow_delete"),
        0
    );
    // A job run at 10 calls a second, stopped by an outage: the journal
    // records the rate; the resume line needs no flag for it.
    let (j, i) = (dir.join("job.journal"), ids.to_str().unwrap());
    let j = j.to_str().unwrap();
    let sdkappid = emu.sdkappid().to_string();
    let dead = [
        ("TIM_SDKAPPID", sdkappid.as_str()),
        ("TIM_SECRET_KEY", emu.secret_key()),
        ("TIM_BASE_URL", "http://127.0.0.1:1"),
    ];
    let (code, _, err) = tim(
        &[
            "--journal",
            j,
            "--rate-limit",
            "10",
            "--file",
            i,
            "add",
            "me",
        ],
        &dead,
    );
    assert_eq!(code, 3, "{err}");
    let last = err.trim_end().lines().last().unwrap_or("");
    assert!(last.ends_with(&format!(": tim-follow resume {j}")), "{err}");
    // A resume given another rate says so in its own resume line.
    let (code, _, err) = tim(&["--rate-limit", "7", "resume", j], &dead);
    assert_eq!(code, 3, "{err}");
    let last = err.trim_end().lines().last().unwrap_or("");
    assert!(
        last.ends_with(&format!(": tim-follow resume --rate-limit 7 {j}")),
        "{err}"
    );
    // Resumed without the flag: at the recorded 10 a second (no burst), so
    // its 3 follow_add calls are at least ~100 ms apart.
    let (code, _, err) = tim(&["resume", j], &borrowed(&env));
    assert_eq!(code, 0, "{err}");
    assert_eq!(emu.following("me").len(), 60);
    let adds: Vec<std::time::Duration> = emu
        .requests()
        .iter()
        .filter(|r| r.path == "follow/follow_add")
        .map(|r| r.at)
        .collect();
    assert_eq!(adds.len(), 3);
    for pair in adds.windows(2) {
        assert!(
            pair[1] - pair[0] >= std::time::Duration::from_millis(80),
            "{adds:?}"
        );
    }
}

#[test]
fn the_small_things_of_the_first_hour() {
    // One account: no plural.
    let (code, _, err) = tim(&["--emulator", "counts", "alice"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("; 1 account imported)"), "{err}");
    assert!(err.contains("1 account: 1 answered"), "{err}");
    // Tencent Cloud's own region names.
    let (code, _, err) = tim(&["--region", "ap-singapore", "add", "a", "b"], &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("TIM_SDKAPPID") && !err.contains("region"),
        "{err}"
    );
    // --region with TIM_BASE_URL: refused, nothing sent.
    let (code, _, err) = tim(
        &["--region", "singapore", "add", "a", "b"],
        &[
            ("TIM_SDKAPPID", "1400000000"),
            ("TIM_SECRET_KEY", "k"),
            ("TIM_BASE_URL", "http://127.0.0.1:9"),
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--region does not go with TIM_BASE_URL"),
        "{err}"
    );
    // TIM_REGION with TIM_BASE_URL: refused the same way, in its own name.
    let (code, _, err) = tim(
        &["add", "a", "b"],
        &[
            ("TIM_SDKAPPID", "1400000000"),
            ("TIM_SECRET_KEY", "k"),
            ("TIM_REGION", "singapore"),
            ("TIM_BASE_URL", "http://127.0.0.1:9"),
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("TIM_REGION does not go with TIM_BASE_URL")
            && err.contains("unset TIM_BASE_URL, or unset TIM_REGION"),
        "{err}"
    );
    // The same pair through a job: refused before its journal is made.
    let dir = std::env::temp_dir().join(format!("tim-cli-region-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let journal = dir.join("region.journal");
    let ids = dir.join("ids");
    std::fs::write(&ids, "b\n").unwrap();
    let (code, _, err) = tim(
        &[
            "--journal",
            journal.to_str().unwrap(),
            "--file",
            ids.to_str().unwrap(),
            "add",
            "a",
        ],
        &[
            ("TIM_SDKAPPID", "1400000000"),
            ("TIM_SECRET_KEY", "k"),
            ("TIM_REGION", "sgp"),
            ("TIM_BASE_URL", "http://127.0.0.1:9"),
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("TIM_REGION does not go with TIM_BASE_URL"),
        "{err}"
    );
    assert!(!journal.exists(), "nothing journaled");
    let _ = std::fs::remove_dir_all(&dir);
    // A purge counts relations, a plain job accounts.
    let dir = std::env::temp_dir().join(format!("tim-cli-units-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let journal = dir.join("purge.journal");
    let (code, _, err) = tim(
        &[
            "--emulator",
            "--journal",
            journal.to_str().unwrap(),
            "purge",
            "alice",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("0 relations:"), "{err}");
    assert!(!err.contains("0 accounts:"), "{err}");
    assert!(
        err.contains("request sent") || err.contains("requests sent"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn list_into_a_full_disk_fails_like_every_other_command() {
    let emu = tim_follow::testkit::Emulator::builder()
        .accounts(&["alice", "bob", "carol"])
        .start()
        .unwrap();
    emu.seed_follow("alice", "bob");
    emu.seed_follow("alice", "carol");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full (Linux) answers every write with ENOSPC");
    let base = emu.base_url();
    let out = Command::new(env!("CARGO_BIN_EXE_tim-follow"))
        .args(["list", "alice"])
        .env_clear()
        .env("TIM_SDKAPPID", "1400000000")
        .env("TIM_SECRET_KEY", emu.secret_key())
        .env("TIM_BASE_URL", &base)
        .stdout(full)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("cannot write the output"), "{err}");
}

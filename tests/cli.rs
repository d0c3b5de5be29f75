//! The command-line tool, run as a user would (built with `--features cli`).
#![cfg(feature = "cli")]

use std::process::Command;

fn tim(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tim-follow"));
    cmd.args(args);
    for var in [
        "TIM_SDKAPPID",
        "TIM_ADMIN",
        "TIM_SECRET_KEY",
        "TIM_USERSIG",
        "TIM_REGION",
        "TIM_BASE_URL",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the binary runs");
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
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tim-follow"));
    cmd.args([
        "--journal",
        journal.to_str().unwrap(),
        "--file",
        ids.to_str().unwrap(),
    ])
    .args(["add", "me"])
    .envs(env_for(&emu))
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(600));
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
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
    let out = Command::new(env!("CARGO_BIN_EXE_tim-follow"))
        .arg("add")
        .arg(std::ffi::OsStr::from_bytes(b"a\xff"))
        .output()
        .unwrap();
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
    let out = Command::new(env!("CARGO_BIN_EXE_tim-follow"))
        .args(["--emulator", "add", "a", "b"])
        .stdout(full)
        .output()
        .unwrap();
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
    let mut emu = Command::new(exe)
        .args(["--accounts", "alice,bob,carol"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(emu.stdout.take().unwrap()));
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
    let _ = emu.kill();
    let _ = emu.wait();
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
    cmd.arg("-c")
        .arg(format!("ulimit -d {DATA_LIMIT_KIB} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_tim-follow"))
        .args(args)
        .env_remove("TIM_BASE_URL")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null());
    let out = cmd.output().expect("the binary runs");
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
    let mut first = Command::new(env!("CARGO_BIN_EXE_tim-follow"));
    first
        .args(["--rate-limit", "40", "resume", j])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let first = first.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while emu.requests().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (code, _, err) = tim(&["resume", j], &borrowed(&env));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("journal {j} is in use by process {}", first.id())),
        "{err}"
    );
    assert!(!err.contains("--help"), "not a usage error: {err}");
    let out = first.wait_with_output().unwrap();
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
    assert!(out.contains("me -> u0000") && out.contains("would change"));
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
    let child = Command::new(env!("CARGO_BIN_EXE_tim-follow"))
        .args(["webhooks", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--out", out.to_str().unwrap()])
        .env("TIM_SDKAPPID", "1400000000")
        .env("TIM_CALLBACK_TOKEN", "cli-token")
        .env_remove("TIM_REDIS_URL")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
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

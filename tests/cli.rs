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
    assert_eq!(v["outcome"], "applied");
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
    assert!(err.contains("70020") && err.contains("--region"), "{err}");
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

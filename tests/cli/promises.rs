//! Promises of the README about the command-line tool that no other test
//! holds to (see `tests/README.md` for the whole table).

use super::*;
use tim_follow::testkit::{Emulator, Fault};

fn emulator(targets: &[String]) -> Emulator {
    Emulator::builder()
        .accounts(&["me"])
        .accounts(targets)
        .rate_limit(None, 60007)
        .start()
        .unwrap()
}

fn writes(emu: &Emulator) -> usize {
    emu.request_count("follow/follow_add") + emu.request_count("follow/follow_delete")
}

/// `-vv` shows the client's debug lines (the UserSig made, each retry) and
/// never a UserSig the service received, nor the SecretKey.
#[test]
fn debug_output_never_shows_a_usersig() {
    let targets: Vec<String> = (0..3).map(|i| format!("u{i}")).collect();
    let emu = emulator(&targets);
    // A refused signature makes a new one; a 502 makes a retry.
    emu.inject(Fault::ErrorCode(70001), 1);
    emu.inject(Fault::HttpStatus(502), 1);
    let env = env_for(&emu);
    let mut args = vec!["-vv", "add", "me"];
    args.extend(targets.iter().map(String::as_str));
    let (code, _, err) = tim(&args, &borrowed(&env));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("generating the admin UserSig") && err.contains("renewing it"),
        "debug lines shown: {err}"
    );
    let sigs = emu.received_usersigs();
    assert!(!sigs.is_empty());
    for sig in &sigs {
        assert!(!err.contains(sig.as_str()), "a UserSig in: {err}");
    }
    assert!(!err.contains(emu.secret_key()), "the SecretKey in: {err}");
}

/// `--dry-run` reads and never writes, for add, undo, restore and resume.
#[test]
fn dry_runs_of_add_undo_restore_and_resume_send_no_write() {
    let dir = scratch("dry-runs");
    let targets: Vec<String> = (0..30).map(|i| format!("u{i:02}")).collect();
    let emu = emulator(&targets);
    for t in &targets[..10] {
        emu.seed_follow("me", t);
    }
    let env = env_for(&emu);
    let env = borrowed(&env);
    let ids = dir.join("ids.txt");
    std::fs::write(&ids, targets.join("\n")).unwrap();
    let i = ids.to_str().unwrap();
    // add, without a journal.
    let mut args = vec!["--dry-run", "add", "me"];
    args.extend(targets.iter().map(String::as_str));
    let (code, out, err) = tim(&args, &env);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("u00") && out.contains("u29"), "{out}");
    assert_eq!(writes(&emu), 0, "a preview of add wrote");
    assert_eq!(emu.following("me").len(), 10);
    // A job, then the preview of its undo.
    let j = dir.join("job.journal");
    let j = j.to_str().unwrap();
    let (code, _, err) = tim(&["--journal", j, "--file", i, "add", "me"], &env);
    assert_eq!(code, 0, "{err}");
    assert_eq!(emu.following("me").len(), 30);
    let before = writes(&emu);
    let u = dir.join("undo.journal");
    let (code, out, err) = tim(
        &["--dry-run", "--journal", u.to_str().unwrap(), "undo", j],
        &env,
    );
    assert_eq!(code, 0, "{err}");
    assert!(!out.is_empty(), "the preview says what would change");
    assert_eq!(writes(&emu), before, "a preview of undo wrote");
    assert_eq!(emu.following("me").len(), 30);
    // A snapshot, the relations gone, and the preview of its restore.
    let snap = dir.join("me.snapshot");
    let s = snap.to_str().unwrap();
    let (code, _, err) = tim(&["export", "--out", s, "me"], &env);
    assert_eq!(code, 0, "{err}");
    let gone = emu.client().follow_delete("me", &targets).unwrap();
    assert!(gone.all_applied());
    let before = writes(&emu);
    let r = dir.join("restore.journal");
    let (code, _, err) = tim(
        &["--dry-run", "--journal", r.to_str().unwrap(), "restore", s],
        &env,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(writes(&emu), before, "a preview of restore wrote");
    assert!(emu.following("me").is_empty());
    // A job stopped by an outage, and the preview of its resume.
    let stopped = dir.join("stopped.journal");
    let st = stopped.to_str().unwrap();
    let sdkappid = emu.sdkappid().to_string();
    let dead = [
        ("TIM_SDKAPPID", sdkappid.as_str()),
        ("TIM_SECRET_KEY", emu.secret_key()),
        ("TIM_BASE_URL", "http://127.0.0.1:1"),
    ];
    let (code, _, err) = tim(&["--journal", st, "--file", i, "add", "me"], &dead);
    assert_eq!(code, 3, "{err}");
    let before = writes(&emu);
    let (code, _, err) = tim(&["--dry-run", "resume", st], &env);
    assert_eq!(code, 0, "{err}");
    assert_eq!(writes(&emu), before, "a preview of resume wrote");
    assert!(emu.following("me").is_empty());
    let (_, out, _) = tim(&["status", "--json", st], &[]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        v["complete"], false,
        "the preview did not touch the journal"
    );
}

/// A receiver on `--exec`, with the token in `--token-file`.
fn exec_receiver(port: u16, token_file: &std::path::Path, exec: &str) -> Running {
    let mut cmd = tool();
    cmd.args(["webhooks", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--exec", exec])
        .args(["--token-file", token_file.to_str().unwrap()])
        .env("TIM_SDKAPPID", "1400000000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = Running::spawn(&mut cmd);
    wait_for("the receiver to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    child
}

/// `--exec`: each event's JSON on the command's stdin, acknowledged when it
/// exits 0 and only then; `--token-file` (a trailing newline is not part of
/// the token) verifies the deliveries.
/// One follow made through an emulator that delivers its event (token
/// `exec-token`) to a receiver on `--exec exec` with `token_file`: whether
/// the delivery was acknowledged.
fn one_delivery(token_file: &std::path::Path, exec: &str) -> bool {
    let port = free_port();
    let _receiver = exec_receiver(port, token_file, exec);
    let emu = Emulator::builder()
        .webhook(format!("http://127.0.0.1:{port}/tim"), Some("exec-token"))
        .accounts(&["me", "u1"])
        .start()
        .unwrap();
    emu.client().follow("me", "u1").unwrap();
    wait_for("the delivery's end", || !emu.webhooks().is_empty());
    emu.webhooks()[0].acked
}

#[test]
fn exec_hands_each_event_over_and_acknowledges_only_an_exit_0() {
    let dir = scratch("exec");
    let token = dir.join("token");
    std::fs::write(&token, "exec-token\n").unwrap();
    let got = dir.join("got.jsonl");
    let exec = format!("cat >> '{}'", got.display());
    assert!(
        one_delivery(&token, &exec),
        "a stored event is acknowledged"
    );
    let text = std::fs::read_to_string(&got).unwrap();
    let v: serde_json::Value = serde_json::from_str(text.trim()).expect("the event as JSON");
    assert_eq!(v["from"], "me", "{text}");
    assert_eq!(v["to"][0], "u1", "{text}");
    // A command that fails: never acknowledged.
    assert!(
        !one_delivery(&token, "cat > /dev/null; exit 1"),
        "acknowledged a failed command"
    );
    // The wrong token: refused.
    let wrong = dir.join("wrong-token");
    std::fs::write(&wrong, "another-token").unwrap();
    assert!(
        !one_delivery(&wrong, "cat > /dev/null"),
        "a forged signature was acknowledged"
    );
}

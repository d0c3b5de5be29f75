//! The webhook receiver's throughput:
//!
//! - `receiver serve BIN N`: runs `BIN webhooks` (the command-line receiver,
//!   fsyncing each group of events before acknowledging them) on a free
//!   port, posts N signed follow deliveries to it from 8 threads (keep-alive
//!   connections), checks that each is acknowledged and stored, and prints
//!   the deliveries per second and the fsyncs' batching;
//! - `receiver verify N`: `Verifier::verify` alone, N times on one thread,
//!   prints verifications per second.

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tim_follow::callback::{self, Verifier};

const TOKEN: &str = "bench-token";
const SENDERS: u64 = 8;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["serve", bin, n] => serve(bin, n.parse().expect("N")),
        ["verify", n] => verify(n.parse().expect("N")),
        _ => eprintln!("usage: receiver serve BIN N | receiver verify N"),
    }
}

fn body(i: u64) -> String {
    format!(
        r#"{{"CallbackCommand":"{}","From_Account":"user_{i}","FollowList":[{{"To_Account":"star"}}],"EventTime":{}}}"#,
        callback::FOLLOW_ADD,
        1_700_000_000_000 + i
    )
}

fn serve(bin: &str, n: u64) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("tim-follow-receiver-bench-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("events.jsonl");
    let _ = std::fs::remove_file(&out);
    let mut child = Command::new(bin)
        .args(["webhooks", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--out", out.to_str().unwrap()])
        .env("TIM_SDKAPPID", "1400000000")
        .env("TIM_CALLBACK_TOKEN", TOKEN)
        .stderr(Stdio::null())
        .spawn()
        .expect("the receiver starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the receiver did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    let acked = AtomicU64::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for s in 0..SENDERS {
            let acked = &acked;
            scope.spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                let mut i = s;
                while i < n {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_secs();
                    let url = format!(
                        "http://127.0.0.1:{port}/cb?SdkAppid=1400000000&CallbackCommand={}&Sign={}&RequestTime={now}",
                        callback::FOLLOW_ADD,
                        callback::sign_hex(TOKEN, now)
                    );
                    let mut reply = agent.post(&url).send(body(i)).expect("an answer");
                    let text = reply.body_mut().read_to_string().unwrap();
                    assert!(text.contains("\"ErrorCode\":0"), "{text}");
                    acked.fetch_add(1, Ordering::Relaxed);
                    i += SENDERS;
                }
            });
        }
    });
    let secs = started.elapsed().as_secs_f64();
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let lines = std::io::BufReader::new(std::fs::File::open(&out).unwrap())
        .lines()
        .count() as u64;
    assert_eq!(lines, n, "every acknowledged event is in the file");
    assert_eq!(acked.load(Ordering::Relaxed), n);
    let _ = std::fs::remove_dir_all(&dir);
    println!("{n} {secs:.2} {:.0}", n as f64 / secs);
}

fn verify(n: u64) {
    let verifier = Verifier::new(1400000000).token(TOKEN);
    let now = 1_700_000_000;
    let query = format!(
        "SdkAppid=1400000000&CallbackCommand={}&contenttype=json&ClientIP=127.0.0.1&OptPlatform=RESTAPI&Sign={}&RequestTime={now}",
        callback::FOLLOW_ADD,
        callback::sign_hex(TOKEN, now)
    );
    let body = body(1);
    let started = Instant::now();
    for _ in 0..n {
        let event = verifier
            .verify_at(&query, body.as_bytes(), now)
            .expect("verifies");
        std::hint::black_box(event);
    }
    let secs = started.elapsed().as_secs_f64();
    println!("{n} {secs:.3} {:.0}", n as f64 / secs);
}

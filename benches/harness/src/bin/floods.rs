//! The webhook receiver beside a flood:
//!
//! `floods BIN KIND N`: runs `BIN webhooks --out FILE` (the command-line
//! receiver, default bounds) on a free port, starts N flooding connections
//! of KIND from 127.0.0.1 (the legitimate sender's own address) that
//! reconnect as soon as they are closed (`heads`: a request head dribbled a
//! byte every 2 s; `bodies`: a whole head, then the body a byte every 2 s;
//! `idle`: nothing sent; `none`: no flood), lets the flood fill the
//! receiver for 3 s, then sends 200 signed deliveries from 4 threads, each
//! on a connection of its own (the hardest case: every delivery must win a
//! place), 20 ms apart. Checks that each acknowledged event is in FILE and
//! prints one line:
//!
//! `acked sent within_1s p50_ms p99_ms max_ms peak_rss_kib flood_opened flood_closed`
//!
//! where a delivery's latency runs from its connect to the end of the reply,
//! and the peak RSS is the receiver's `VmHWM` just before it is stopped.

use std::io::{BufRead, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tim_follow::callback;

#[path = "../../../../tests/suite/flooder.rs"]
#[allow(dead_code)]
mod flooder;

use flooder::{Flood, Kind};

const TOKEN: &str = "bench-token";
const DELIVERIES: usize = 200;
const SENDERS: usize = 4;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (bin, kind, n) = match &args[..] {
        [bin, kind, n] => (bin.as_str(), kind.as_str(), n.parse::<usize>().expect("N")),
        _ => {
            eprintln!("usage: floods BIN heads|bodies|idle|none N");
            std::process::exit(2);
        }
    };
    let kind = match kind {
        "heads" => Some(Kind::SlowHead),
        "bodies" => Some(Kind::SlowBody),
        "idle" => Some(Kind::Idle),
        "none" => None,
        other => panic!("unknown flood {other}"),
    };
    run(bin, kind, n);
}

/// One delivery on a connection of its own: acknowledged, and how long.
fn deliver(addr: SocketAddr, i: usize) -> (bool, Duration) {
    let started = Instant::now();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let body = format!(
        r#"{{"CallbackCommand":"{}","From_Account":"fan_{i}","FollowList":[{{"To_Account":"star"}}],"EventTime":{}}}"#,
        callback::FOLLOW_ADD,
        1_700_000_000_000u64 + i as u64
    );
    let request = format!(
        "POST /cb?SdkAppid=1400000000&CallbackCommand={}&Sign={}&RequestTime={now} HTTP/1.1\r\nHost: receiver\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        callback::FOLLOW_ADD,
        callback::sign_hex(TOKEN, now),
        body.len()
    );
    let outcome = (|| {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
            .map_err(|e| format!("connect: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        s.write_all(request.as_bytes())
            .map_err(|e| format!("write: {e}"))?;
        let mut reply = Vec::new();
        let read = s.take(64 * 1024).read_to_end(&mut reply);
        let reply = String::from_utf8_lossy(&reply);
        match reply.contains("\"ErrorCode\":0") {
            true => Ok(()),
            false => Err(format!("{read:?}, answered {:?}", reply.lines().next())),
        }
    })();
    let took = started.elapsed();
    if let Err(why) = &outcome {
        eprintln!("delivery {i} not acknowledged after {took:?}: {why}");
    }
    (outcome.is_ok(), took)
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn run(bin: &str, kind: Option<Kind>, n: usize) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let dir = std::env::temp_dir().join(format!("tim-follow-floods-bench-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("events.jsonl");
    let _ = std::fs::remove_file(&out);
    let mut child = Command::new(bin)
        .args(["webhooks", "--listen", &addr.to_string()])
        .args(["--out", out.to_str().unwrap()])
        .env("TIM_SDKAPPID", "1400000000")
        .env("TIM_CALLBACK_TOKEN", TOKEN)
        .stderr(Stdio::null())
        .spawn()
        .expect("the receiver starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "the receiver did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut flood = kind.map(|kind| {
        Flood::start(
            kind,
            n,
            addr,
            &[IpAddr::V4(Ipv4Addr::LOCALHOST)],
            Duration::from_secs(2),
            2,
        )
    });
    std::thread::sleep(Duration::from_secs(3));
    let results: Vec<(bool, Duration)> = std::thread::scope(|scope| {
        let senders: Vec<_> = (0..SENDERS)
            .map(|s| {
                scope.spawn(move || {
                    (s..DELIVERIES)
                        .step_by(SENDERS)
                        .map(|i| {
                            let r = deliver(addr, i);
                            std::thread::sleep(Duration::from_millis(20));
                            r
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        senders
            .into_iter()
            .flat_map(|s| s.join().unwrap())
            .collect()
    });
    let rss = peak_rss_kib(child.id());
    let (opened, closed) = match &mut flood {
        Some(f) => {
            f.stop();
            (
                f.counts().opened.load(Ordering::Relaxed),
                f.counts().closed.load(Ordering::Relaxed),
            )
        }
        None => (0, 0),
    };
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let stored = std::io::BufReader::new(std::fs::File::open(&out).unwrap())
        .lines()
        .count();
    let acked = results.iter().filter(|r| r.0).count();
    assert!(
        stored >= acked,
        "{acked} acknowledged, {stored} in the file"
    );
    let within = results
        .iter()
        .filter(|r| r.0 && r.1 <= Duration::from_secs(1))
        .count();
    let mut took: Vec<f64> = results.iter().map(|r| r.1.as_secs_f64() * 1e3).collect();
    took.sort_by(f64::total_cmp);
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{acked} {} {within} {:.1} {:.1} {:.1} {rss} {opened} {closed}",
        results.len(),
        took[took.len() / 2],
        took[took.len() * 99 / 100],
        took[took.len() - 1],
    );
}

//! Where the time of one 20-account follow_delete goes: a workload per mode,
//! run under `valgrind --tool=callgrind` by `benches/stages.sh` (instruction
//! counts, which a noisy machine does not change) and timed interleaved
//! (wall time).
//!
//! ```text
//! stages serve                   a fixed-reply server; prints its base URL, ends with stdin
//! stages count MODE N BASE       runs MODE N times (for callgrind: two N, the difference)
//! stages time ROUNDS ITERS BASE  interleaved wall time of the call modes, µs per call
//! ```
//!
//! The call modes send the same bytes: the same URL length (the same
//! UserSig, a 5-digit `random`), the same body, and get the same reply.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Instant;

use tim_follow::request::{validate_account, Context, Request};
use tim_follow::{Client, FollowDelete, RetryPolicy};
use tim_follow_bench::{
    fixed_reply_server, floor_request, ids, reply_body, same_agent, serve_fixed_reply, ureq_post,
    FloorReq, FloorResp, SIG,
};

fn serve_forever() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    println!("http://{}", listener.local_addr().unwrap());
    std::io::stdout().flush().unwrap();
    serve_fixed_reply(listener);
    // Until stdin closes.
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}

/// What every mode shares.
struct Setup {
    to: Vec<String>,
    /// The request of every call, built once (for the body writer alone).
    request: FollowDelete,
    /// A client as most programs run it: signing with a SecretKey (the
    /// UserSig cached), rate limited with adaptive pacing (at a rate no
    /// loop here reaches, so it never waits).
    paced: Client,
    reply: Vec<u8>,
    base: String,
    client: Client,
    /// Bare ureq with tim-follow's settings: timeouts, no proxy, same headers.
    same: ureq::Agent,
}

impl Setup {
    fn new(base: &str) -> Setup {
        let client = Client::builder(1400000000, "administrator")
            .base_url(base)
            .usersig(SIG)
            .no_rate_limit()
            .retry(RetryPolicy::none())
            .build()
            .unwrap();
        let same = same_agent();
        let paced = Client::builder(1400000000, "administrator")
            .base_url(base)
            .secret_key("bench-secret-key")
            .rate_limit(1_000_000)
            .retry(RetryPolicy::none())
            .build()
            .unwrap();
        Setup {
            request: FollowDelete::new("UserID_001", &ids()).unwrap(),
            paced,
            to: ids(),
            reply: reply_body().into_bytes(),
            base: base.to_string(),
            client,
            same,
        }
    }

    /// A URL of the same length as the client's: `random` has as many digits.
    fn url(&self) -> String {
        context(&self.base, 12345).url(FollowDelete::PATH)
    }

    fn body(&self) -> Vec<u8> {
        serde_json::to_vec(&FloorReq {
            from: "UserID_001",
            to: &self.to,
        })
        .unwrap()
    }
}

fn context(base: &str, random: u32) -> Context<'_> {
    Context {
        base_url: base,
        sdkappid: 1400000000,
        identifier: "administrator",
        usersig: SIG,
        random,
    }
}

#[inline(never)]
fn floor_parse(reply: &[u8]) -> FloorResp {
    serde_json::from_slice(reply).unwrap()
}

/// One run of a mode.
fn run(mode: &str, s: &Setup, url: &str, body: &[u8]) {
    use std::hint::black_box;
    match mode {
        // Nothing: what the process costs without the loop.
        "none" => {}
        // Whole calls.
        "client" => {
            black_box(s.client.follow_delete("UserID_001", &s.to).unwrap());
        }
        "bare" => {
            black_box(ureq_post(&s.same, url, body));
        }
        "bare_work" => {
            let (url, body) = floor_request(&s.base, &s.to);
            black_box(floor_parse(&ureq_post(&s.same, &url, &body)));
        }
        // The client's sans-IO stages, alone.
        "validate" => {
            validate_account(tim_follow::Field::FromAccount, "UserID_001").unwrap();
            for id in &s.to {
                validate_account(tim_follow::Field::Other("To_Account"), black_box(id)).unwrap();
            }
        }
        "url" => {
            black_box(context(&s.base, black_box(12345)).url(FollowDelete::PATH));
        }
        "client_paced" => {
            black_box(s.paced.follow_delete("UserID_001", &s.to).unwrap());
        }
        "body" => {
            black_box(black_box(&s.request).body().unwrap());
        }
        "new" => {
            black_box(FollowDelete::new("UserID_001", &s.to).unwrap());
        }
        "parse" => {
            black_box(FollowDelete::parse(200, black_box(&s.reply)).unwrap());
        }
        "sans" => {
            let req = FollowDelete::new("UserID_001", &s.to).unwrap();
            let prepared = req
                .prepare(&context("https://adminapisgp.im.qcloud.com", 12345))
                .unwrap();
            let parsed = FollowDelete::parse(200, &s.reply).unwrap();
            black_box((prepared, parsed));
        }
        // The floor's stages.
        "floor_url_body" => {
            black_box(floor_request("https://adminapisgp.im.qcloud.com", &s.to));
        }
        "floor_parse" => {
            black_box(floor_parse(black_box(&s.reply)));
        }
        "floor" => {
            let req = floor_request("https://adminapisgp.im.qcloud.com", &s.to);
            let r: FloorResp = serde_json::from_slice(&s.reply).unwrap();
            black_box((req, r));
        }
        // Bare ureq, then as many instructions of busy work as the same-work
        // row adds, but no allocation: does any pause between calls cost more
        // than its own length?
        "spin" => spin(black_box(SPIN)),
        "bare_spin" => {
            black_box(ureq_post(&s.same, url, body));
            spin(black_box(SPIN));
        }
        m if m.starts_with("bare_spin_") => {
            let n: u64 = m["bare_spin_".len()..].parse().unwrap();
            black_box(ureq_post(&s.same, url, body));
            spin(black_box(n));
        }
        m if m.starts_with("spin_") => spin(black_box(m["spin_".len()..].parse().unwrap())),
        other => panic!("unknown mode {other}"),
    }
}

/// Iterations of [`spin`] that take about as long as the floor's build + parse.
const SPIN: u64 = 6_000;

#[inline(never)]
fn spin(n: u64) {
    let mut x = 0u64;
    for i in 0..n {
        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
    }
    std::hint::black_box(x);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
    match arg(0) {
        "serve" => serve_forever(),
        "count" => {
            let n: usize = arg(2).parse().unwrap();
            let s = Setup::new(arg(3));
            let (url, body) = (s.url(), s.body());
            for _ in 0..n {
                run(arg(1), &s, &url, &body);
            }
        }
        "time" => {
            let rounds: usize = arg(1).parse().unwrap();
            let iters: usize = arg(2).parse().unwrap();
            let base = if arg(3) == "thread" {
                fixed_reply_server()
            } else {
                arg(3).to_string()
            };
            let s = Setup::new(&base);
            let (url, body) = (s.url(), s.body());
            let modes: Vec<&str> = args[4..].iter().map(String::as_str).collect();
            for m in &modes {
                for _ in 0..iters / 10 {
                    run(m, &s, &url, &body);
                }
            }
            let mut times: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
            for _ in 0..rounds {
                for (i, m) in modes.iter().enumerate() {
                    let t = Instant::now();
                    for _ in 0..iters {
                        run(m, &s, &url, &body);
                    }
                    times[i].push(t.elapsed().as_secs_f64() * 1e6 / iters as f64);
                }
            }
            // Per mode: the median µs per call, and the median of its per-round
            // ratio to the first mode.
            for (i, m) in modes.iter().enumerate() {
                let mut own = times[i].clone();
                own.sort_by(|a, b| a.partial_cmp(b).unwrap());
                let mut ratio: Vec<f64> = (0..rounds).map(|r| times[i][r] / times[0][r]).collect();
                ratio.sort_by(|a, b| a.partial_cmp(b).unwrap());
                println!("{m} {:.2} {:.3}", own[rounds / 2], ratio[rounds / 2]);
            }
        }
        _ => {
            eprintln!("usage: stages serve | count MODE N BASE | time ROUNDS ITERS BASE MODE...");
            std::process::exit(2);
        }
    }
}

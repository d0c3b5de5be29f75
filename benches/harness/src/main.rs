//! Measures tim-follow beside its baselines and prints Markdown tables.
//!
//! 1. sans-IO: URL + body of a 20-account follow_delete and the parse of its
//!    20-item reply, against plain serde derive structs and `format!`.
//! 2. sequential loopback calls against one fixed-reply server: `Client`, bare
//!    ureq (fastest configuration, and with `timeout_global`), reqwest blocking,
//!    and a raw std `TcpStream` client on one keep-alive connection.
//! 3. bulk: 10,000 unfollows against the emulator with 50 ms latency and a
//!    200 calls/s limit: `Client` with its workers, the same client with one
//!    worker, and the floor of 500 requests at 200/s.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::Criterion;
use tim_follow::request::{Context, Request, CONTENT_TYPE};
use tim_follow::testkit::Emulator;
use tim_follow::{Client, FollowDelete, RetryPolicy};
use tim_follow_bench::{
    fixed_reply_server, floor_request, ids, reply_body, same_agent, ureq_post, FloorReq, FloorResp,
    SIG,
};

// ------------------------------------------------------- fixed-reply server

/// The raw floor: one keep-alive connection, request written at once, reply read by length.
struct RawClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    request: Vec<u8>,
    line: String,
}

impl RawClient {
    fn new(base: &str, path_and_query: &str, body: &[u8]) -> RawClient {
        let addr = base.trim_start_matches("http://");
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        let mut request = format!(
            "POST {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        RawClient {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
            request,
            line: String::new(),
        }
    }

    fn call(&mut self) -> Vec<u8> {
        self.writer.write_all(&self.request).unwrap();
        let mut len = 0;
        loop {
            self.line.clear();
            self.reader.read_line(&mut self.line).unwrap();
            if self.line == "\r\n" {
                break;
            }
            if let Some(v) = self
                .line
                .to_ascii_lowercase()
                .strip_prefix("content-length:")
            {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0u8; len];
        self.reader.read_exact(&mut body).unwrap();
        body
    }
}

// ------------------------------------------------------------- interleaving

/// Runs each job `iters` times in turn, `rounds` times over, and returns for
/// each job the median over rounds of its time per iteration divided by the
/// first job's, so that drift of a noisy machine hits every job alike.
fn interleaved_ratios(rounds: usize, iters: usize, jobs: &mut [&mut dyn FnMut()]) -> Vec<f64> {
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); jobs.len()];
    for _ in 0..rounds {
        let mut times = Vec::with_capacity(jobs.len());
        for job in jobs.iter_mut() {
            let t = Instant::now();
            for _ in 0..iters {
                job();
            }
            times.push(t.elapsed().as_secs_f64());
        }
        for (i, t) in times.iter().enumerate() {
            ratios[i].push(t / times[0]);
        }
    }
    ratios
        .into_iter()
        .map(|mut r| {
            r.sort_by(|a, b| a.partial_cmp(b).unwrap());
            r[r.len() / 2]
        })
        .collect()
}

// ------------------------------------------------------------------ report

fn criterion_home() -> PathBuf {
    std::env::temp_dir().join("tim-follow-criterion")
}

/// The median time of one iteration of a finished criterion benchmark, in ns.
fn median_ns(group: &str, id: &str) -> f64 {
    let path = criterion_home()
        .join(group)
        .join(id)
        .join("new")
        .join("estimates.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["median"]["point_estimate"].as_f64().unwrap()
}

/// The URL values every request of the benchmark carries.
fn context(base_url: &str) -> Context<'_> {
    Context {
        base_url,
        sdkappid: 1400000000,
        identifier: "administrator",
        usersig: SIG,
        random: 12345,
    }
}

/// tim-follow's sans-IO work for one call: build, render, serialize, parse.
fn sans_ours(to: &[String], reply: &[u8]) {
    let req = FollowDelete::new("UserID_001", to).unwrap();
    let prepared = req
        .prepare(&context("https://adminapisgp.im.qcloud.com"))
        .unwrap();
    let parsed = FollowDelete::parse(200, reply).unwrap();
    std::hint::black_box((prepared, parsed));
}

/// The floor: the same work with plain serde derive structs and `format!`.
fn sans_floor(to: &[String], reply: &[u8]) {
    let (url, body) = floor_request("https://adminapisgp.im.qcloud.com", to);
    let parsed: FloorResp = serde_json::from_slice(reply).unwrap();
    std::hint::black_box((url, body, parsed));
}

/// The same work as the Client with bare ureq and plain serde: URL, body, POST, parse.
fn ureq_with_serde_floor(agent: &ureq::Agent, base: &str, to: &[String]) -> FloorResp {
    let (url, body) = floor_request(base, to);
    serde_json::from_slice(&ureq_post(agent, &url, &body)).unwrap()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    std::env::set_var("CRITERION_HOME", criterion_home());
    let mut c = Criterion::default()
        .without_plots()
        .sample_size(if quick { 10 } else { 60 })
        .warm_up_time(Duration::from_millis(if quick { 200 } else { 1000 }))
        .measurement_time(Duration::from_secs(if quick { 1 } else { 4 }));
    let rounds = if quick { 5 } else { 21 };

    // 1. sans-IO
    let to = ids();
    let reply = reply_body().into_bytes();
    {
        let mut g = c.benchmark_group("sansio");
        g.bench_function("tim_follow", |b| b.iter(|| sans_ours(&to, &reply)));
        g.bench_function("serde_floor", |b| b.iter(|| sans_floor(&to, &reply)));
        g.finish();
    }
    let sans_ratio = interleaved_ratios(
        rounds,
        5000,
        &mut [&mut || sans_floor(&to, &reply), &mut || {
            sans_ours(&to, &reply)
        }],
    )[1];

    // 2. sequential loopback
    let base = fixed_reply_server();
    let body = serde_json::to_vec(&FloorReq {
        from: "UserID_001",
        to: &to,
    })
    .unwrap();
    let url = context(&base).url(FollowDelete::PATH);
    let client = Client::builder(1400000000, "administrator")
        .base_url(&base)
        .usersig(SIG)
        .no_rate_limit()
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let ours = || client.follow_delete("UserID_001", &to).unwrap();
    let fast: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .build()
        .into();
    let same = same_agent();
    let global: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let rq = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap();
    let reqwest_post = || {
        rq.post(&url)
            .header("Content-Type", "application/json")
            .body(body.clone())
            .send()
            .unwrap()
            .bytes()
            .unwrap()
    };
    {
        let mut g = c.benchmark_group("loopback");
        g.bench_function("tim_follow_client", |b| b.iter(ours));
        g.bench_function("ureq_fastest", |b| b.iter(|| ureq_post(&fast, &url, &body)));
        g.bench_function("ureq_same_timeouts", |b| {
            b.iter(|| ureq_post(&same, &url, &body))
        });
        g.bench_function("ureq_timeout_global", |b| {
            b.iter(|| ureq_post(&global, &url, &body))
        });
        g.bench_function("reqwest_blocking", |b| b.iter(reqwest_post));
        g.bench_function("ureq_same_with_serde", |b| {
            b.iter(|| ureq_with_serde_floor(&same, &base, &to))
        });
        let pq = url.trim_start_matches(&base).to_string();
        let mut raw = RawClient::new(&base, &pq, &body);
        g.bench_function("raw_std_tcp", |b| b.iter(|| raw.call()));
        g.finish();
    }
    let loop_iters = if quick { 500 } else { 2000 };
    let loop_ratios = interleaved_ratios(
        rounds,
        loop_iters,
        &mut [
            &mut || {
                std::hint::black_box(ureq_post(&fast, &url, &body));
            },
            &mut || {
                std::hint::black_box(ureq_post(&same, &url, &body));
            },
            &mut || {
                std::hint::black_box(ours());
            },
            &mut || {
                std::hint::black_box(reqwest_post());
            },
            &mut || {
                std::hint::black_box(ureq_with_serde_floor(&same, &base, &to));
            },
        ],
    );

    // 3. bulk at Tencent's ceiling
    // `None`: the default client (requests in flight follow the latency).
    let bulk = |workers: Option<usize>| -> (Duration, usize, usize) {
        let emu = Emulator::builder()
            .rate_limit(Some(200), 60007)
            .start()
            .unwrap();
        let targets: Vec<String> = (0..10_000).map(|i| format!("t{i:05}")).collect();
        for t in &targets {
            emu.seed_follow("u", t);
        }
        emu.set_latency(Some(Duration::from_millis(50)));
        let builder = emu.client_builder();
        let client = match workers {
            Some(n) => builder.concurrency(n),
            None => builder,
        }
        .build()
        .unwrap();
        let start = Instant::now();
        let out = client.follow_delete("u", &targets).unwrap();
        let took = start.elapsed();
        let limited = emu
            .requests()
            .iter()
            .filter(|r| r.error_code == Some(60007))
            .count();
        (took, out.applied().count(), limited)
    };
    let (bulk_many, applied_many, limited_many) = bulk(None);
    let (bulk_one, applied_one, limited_one) = if quick {
        (Duration::ZERO, 0, 0)
    } else {
        bulk(Some(1))
    };

    // Report
    let ns = |g: &str, id: &str| median_ns(g, id);
    let sans = ns("sansio", "tim_follow");
    let floor = ns("sansio", "serde_floor");
    println!(
        "### 1. sans-IO: build URL + body of a 20-account follow_delete, parse its 20-item reply\n"
    );
    println!("| code | median per build+parse | vs floor |\n|---|---:|---:|");
    println!("| tim-follow (`FollowDelete::new`, `prepare`, `FollowDelete::parse`) | {:.2} µs | {:.2}× |", sans / 1e3, sans / floor);
    println!(
        "| floor: serde derive structs + `format!` URL | {:.2} µs | 1.00× |",
        floor / 1e3
    );
    println!(
        "\nInterleaved ({rounds} rounds alternating the two, median of per-round ratios): tim-follow takes {:.2}× the floor's time.",
        sans_ratio
    );
    println!("\nTarget: ≤ 1.1× the floor, interleaved.\n");

    println!("### 2. Sequential loopback calls (one keep-alive connection, fixed 20-item reply)\n");
    println!("| client | median per call | calls/s | vs fastest bare ureq |\n|---|---:|---:|---:|");
    let fastest = ns("loopback", "ureq_fastest");
    for (id, label) in [
        ("tim_follow_client", "tim-follow `Client::follow_delete` (builds, signs, limits off, parses, merges)"),
        ("ureq_fastest", "bare ureq 3 `Agent`, no timeouts (no resolver thread)"),
        ("ureq_same_timeouts", "bare ureq 3 `Agent` with tim-follow's timeouts (connect 5 s, whole call 30 s), headers and a thread-free resolver: the same bytes"),
        ("ureq_timeout_global", "bare ureq 3 `Agent` with `timeout_global` (default resolver: a thread per call)"),
        ("reqwest_blocking", "reqwest 0.13 blocking"),
        ("ureq_same_with_serde", "bare ureq with the same timeouts, plus the same work done with plain serde (URL, body, parse of the reply)"),
        ("raw_std_tcp", "raw floor: std `TcpStream`, one write, read by length"),
    ] {
        let m = ns("loopback", id);
        println!("| {label} | {:.1} µs | {:.0} | {:.2}× |", m / 1e3, 1e9 / m, fastest / m);
    }
    let ours = ns("loopback", "tim_follow_client");
    println!(
        "\nFrom the medians above, tim-follow reaches {:.2}× the fastest bare ureq (target ≥ 0.9×), {:.2}× bare ureq with the same timeouts, \
         and {:.2}× reqwest blocking (target ≥ 1.1×).",
        fastest / ours,
        ns("loopback", "ureq_same_timeouts") / ours,
        ns("loopback", "reqwest_blocking") / ours
    );
    println!(
        "\nInterleaved ({rounds} rounds of {loop_iters} calls per client in turn, median of per-round time ratios), \
         tim-follow reaches {:.2}× the throughput of the fastest bare ureq, {:.2}× that of bare ureq with the same timeouts \
         and {:.2}× that of reqwest blocking. Against bare ureq doing the same work with plain serde \
         (building the URL and body and parsing the reply, which the bare rows skip), it reaches {:.2}×.\n",
        loop_ratios[0] / loop_ratios[2],
        loop_ratios[1] / loop_ratios[2],
        loop_ratios[3] / loop_ratios[2],
        loop_ratios[4] / loop_ratios[2]
    );

    println!("### 3. Bulk: 10,000 unfollows, 50 ms emulator latency, 200 calls/s limit\n");
    println!("| run | wall time | vs 2.5 s floor | applied | rate-limit answers |\n|---|---:|---:|---:|---:|");
    println!(
        "| `Client`, default settings (in flight following the latency) | {:.2} s | {:.2}× | {applied_many} | {limited_many} |",
        bulk_many.as_secs_f64(),
        bulk_many.as_secs_f64() / 2.5
    );
    if !quick {
        println!("| same client, `.concurrency(1)` (one request at a time) | {:.2} s | {:.2}× | {applied_one} | {limited_one} |", bulk_one.as_secs_f64(), bulk_one.as_secs_f64() / 2.5);
    }
    println!("| floor: 500 requests at 200/s | 2.50 s | 1.00× | | |");
    println!("\nTarget: ≤ 1.15× the floor with zero rate-limit answers.");
}

//! `webhooks --listen ADDR --out FILE | --exec CMD`: the follow events the
//! service sends, verified, stored before they are acknowledged.
//!
//! This file sets the receiver up from the flags and the environment and
//! runs it until Ctrl-C; `out` is the events file of `--out` (its writer,
//! and `reload` its reading back at start), `exec` the runner of `--exec`.

mod exec;
mod out;
mod reload;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tim_follow::callback::Verifier;
use tim_follow::receiver::{Delivery, Receiver, ReceiverStats, Remembered, Seen};

use crate::Failure;
use out::EventFile;

/// Events remembered for the repeat check (at most; about 150 bytes each),
/// and for how long.
const REMEMBERED: usize = 1_000_000;
const REMEMBER_FOR: Duration = Duration::from_secs(24 * 3600);
/// The longest an `--exec` command may take for one event, by default.
const EXEC_TIMEOUT: Duration = Duration::from_secs(30);

/// Where verified events go: `Ok` once they are stored.
type Sink = dyn Fn(&Delivery) -> Result<(), String> + Send + Sync;

/// What `webhooks` was given.
pub(crate) struct Options {
    pub listen: Option<String>,
    pub out: Option<String>,
    pub exec: Option<String>,
    pub exec_timeout: Option<Duration>,
    pub token_file: Option<String>,
}

pub(crate) fn run(o: &Options) -> Result<u8, Failure> {
    let addr = listen_addr(o)?;
    let verifier = verifier(o)?;
    let remembered = Arc::new(Remembered::new(REMEMBERED, REMEMBER_FOR));
    let (sink, health) = sink(o, &remembered)?;
    let seen = seen(remembered)?;
    let mut builder = Receiver::builder(addr, verifier).seen(seen);
    if let Some(file) = health {
        builder = builder.health(move || file.check());
    }
    let receiver = builder
        .start(move |d| sink(d))
        .map_err(|e| Failure::Other(format!("cannot listen on {addr}: {e}")))?;
    eprintln!(
        "listening on {} for follow webhooks{}",
        receiver.local_addr(),
        o.out
            .as_deref()
            .map(|f| format!("; events go to {f}"))
            .unwrap_or_default()
    );
    until_stopped(receiver);
    Ok(0)
}

/// The address of `--listen`.
fn listen_addr(o: &Options) -> Result<SocketAddr, Failure> {
    let listen = o.listen.as_deref().ok_or_else(|| {
        Failure::Usage("`webhooks` needs --listen ADDR (such as 0.0.0.0:9000)".into())
    })?;
    listen.parse().map_err(|_| {
        Failure::Usage(format!(
            "--listen takes an address and port such as 0.0.0.0:9000, not {listen:?}"
        ))
    })
}

/// Where events go, from `--out` or `--exec`; with the events file, for
/// the health check, when it is `--out`.
fn sink(
    o: &Options,
    remembered: &Remembered,
) -> Result<(Arc<Sink>, Option<Arc<EventFile>>), Failure> {
    match (&o.out, &o.exec) {
        (Some(out), None) => {
            let file = Arc::new(EventFile::open(std::path::Path::new(out), remembered)?);
            let health = file.clone();
            Ok((Arc::new(move |d: &Delivery| file.append(d)), Some(health)))
        }
        (None, Some(cmd)) => {
            let cmd = cmd.clone();
            let limit = o.exec_timeout.unwrap_or(EXEC_TIMEOUT);
            Ok((
                Arc::new(move |d: &Delivery| exec::exec(&cmd, d, limit)),
                None,
            ))
        }
        _ => Err(Failure::Usage(
            "`webhooks` needs one of --out FILE (events appended as JSON lines) or --exec CMD \
             (each event's JSON on the command's stdin)"
                .into(),
        )),
    }
}

/// Runs the receiver until Ctrl-C, its figures on stderr every 5 s when
/// they changed; then lets the deliveries in flight finish.
fn until_stopped(receiver: Receiver) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    let mut last = Instant::now();
    let mut shown = ReceiverStats::default();
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
        if last.elapsed() >= Duration::from_secs(5) {
            last = Instant::now();
            let now = receiver.stats();
            if now != shown {
                eprintln!("{}", progress(&now));
                shown = now;
            }
        }
    }
    eprintln!("stopping: the deliveries in flight finish…");
    let end = receiver.shutdown();
    eprintln!("{}", progress(&end));
}

fn progress(s: &ReceiverStats) -> String {
    let refused: Vec<String> = s
        .refused
        .iter()
        .map(|(why, n)| format!("{n} {why}"))
        .collect();
    format!(
        "{} received, {} acknowledged ({} stored, {} repeats), {} failed, {} not yet (a copy in \
         flight), refused: {}",
        s.received,
        s.acked,
        s.handled,
        s.repeats,
        s.failed,
        s.not_yet,
        if refused.is_empty() {
            "none".to_string()
        } else {
            refused.join(", ")
        }
    )
}

/// The verifier from `TIM_SDKAPPID` and `TIM_CALLBACK_TOKEN` or `--token-file`.
fn verifier(o: &Options) -> Result<Verifier, Failure> {
    let sdkappid = match std::env::var("TIM_SDKAPPID") {
        Ok(v) if v.trim().is_empty() => {
            return Err(Failure::Usage("TIM_SDKAPPID is set but empty".into()))
        }
        Ok(v) => v.trim().parse::<u64>().map_err(|_| {
            Failure::Usage(format!("TIM_SDKAPPID: {v:?} is not an SDKAppID (a number)"))
        })?,
        Err(_) => {
            return Err(Failure::Usage(
                "TIM_SDKAPPID: required (the app whose webhooks to accept)".into(),
            ))
        }
    };
    let token = match (&o.token_file, std::env::var("TIM_CALLBACK_TOKEN")) {
        (Some(path), _) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| Failure::Usage(format!("--token-file {path}: {e}")))?
                .trim()
                .to_string(),
        ),
        (None, Ok(t)) if t.trim().is_empty() => {
            return Err(Failure::Usage("TIM_CALLBACK_TOKEN is set but empty".into()))
        }
        (None, Ok(t)) => Some(t.trim().to_string()),
        (None, Err(_)) => None,
    };
    let verifier = Verifier::new(sdkappid);
    Ok(match token {
        Some(t) if t.is_empty() => {
            return Err(Failure::Usage("--token-file: the file is empty".into()))
        }
        Some(t) => verifier.token(t),
        None => {
            eprintln!(
                "warning: no TIM_CALLBACK_TOKEN (or --token-file): deliveries are checked for the \
                 SDKAppID only, and anyone who can reach the address can send events"
            );
            verifier
        }
    })
}

/// The repeat check: shared through Redis with `TIM_REDIS_URL`, else in memory.
fn seen(remembered: Arc<Remembered>) -> Result<Arc<dyn Seen>, Failure> {
    let Some(url) = crate::redis_url()? else {
        return Ok(remembered);
    };
    #[cfg(feature = "redis")]
    {
        let sdkappid = std::env::var("TIM_SDKAPPID")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        // A bad URL is Field::RedisUrl, named TIM_REDIS_URL by `in_cli_terms`.
        let shared = tim_follow::receiver::RedisSeen::new(url.trim(), sdkappid, REMEMBER_FOR)?;
        Ok(Arc::new(shared))
    }
    #[cfg(not(feature = "redis"))]
    {
        let _ = (url, remembered);
        Err(Failure::Usage(
            "TIM_REDIS_URL is set, but this tim-follow was built without the `redis` feature"
                .into(),
        ))
    }
}

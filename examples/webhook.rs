//! A webhook receiver that verifies and prints follow events, on the
//! library's `receiver` (keep-alive, bounded connections, timeouts, an
//! acknowledgement only once the handler returned `Ok`).
//!
//! ```text
//! cargo run --example webhook -- --demo                           # end to end, offline, then exits
//! cargo run --example webhook -- --port 8090 --sdkappid 1400000000 --token TOKEN   # until interrupted
//! ```
//!
//! With `--demo`, an emulator sends signed webhooks to the receiver after a
//! follow and an unfollow; the receiver checks `SdkAppid`, `Sign` and
//! `RequestTime` and prints the events. To store events durably instead,
//! use `tim-follow webhooks --listen ADDR --out FILE`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tim_follow::callback::{Event, Verifier};
use tim_follow::receiver::{Receiver, Remembered};
use tim_follow::testkit::Emulator;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port = 0u16;
    let mut sdkappid = tim_follow::testkit::DEFAULT_SDKAPPID;
    let mut token = "demo-callback-token".to_string();
    let mut demo = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => port = args.next().ok_or("--port needs a number")?.parse()?,
            "--sdkappid" => sdkappid = args.next().ok_or("--sdkappid needs a number")?.parse()?,
            "--token" => token = args.next().ok_or("--token needs a value")?,
            "--demo" => demo = true,
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let printed = Arc::new(AtomicUsize::new(0));
    let count = printed.clone();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let receiver = Receiver::builder(addr, Verifier::new(sdkappid).token(token.clone()))
        .seen(Arc::new(Remembered::new(10_000, Duration::from_secs(600))))
        .start(move |delivery| {
            match &delivery.event {
                Event::FollowAdd(e) => println!(
                    "{} followed {:?} at {} ms",
                    e.from_account, e.to_accounts, e.event_time_ms
                ),
                Event::FollowDelete(e) => println!(
                    "{} unfollowed {:?} at {} ms",
                    e.from_account, e.to_accounts, e.event_time_ms
                ),
                other => println!("other webhook: {other:?}"),
            }
            count.fetch_add(1, Ordering::SeqCst);
            Ok::<(), std::io::Error>(())
        })?;
    let url = format!("http://{}/tim/callback", receiver.local_addr());
    println!("receiving webhooks at {url}");
    if !demo {
        let _ = receiver.wait(); // until the process is interrupted
        return Ok(());
    }

    // The demo: an emulator that calls this receiver, and a follow then an unfollow.
    let emu = Emulator::builder()
        .sdkappid(sdkappid)
        .accounts(&["alice", "bob", "carol"])
        .webhook(&url, Some(&token))
        .start()?;
    let client = emu.client();
    client.follow_add("alice", &["bob", "carol"])?;
    client.follow_delete("alice", &["bob"])?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while printed.load(Ordering::SeqCst) < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let stats = receiver.shutdown();
    println!(
        "{} events received and acknowledged, {} refused",
        stats.handled,
        stats.refused.values().sum::<u64>()
    );
    if stats.handled < 2 {
        return Err("the demo's two events did not arrive".into());
    }
    Ok(())
}

//! A tiny webhook receiver that verifies and prints follow events.
//!
//! ```text
//! cargo run --example webhook -- --demo                           # end to end, offline, then exits
//! cargo run --example webhook -- --port 8090 --sdkappid 1400000000 --token TOKEN   # until interrupted
//! ```
//!
//! With `--demo`, an emulator sends signed webhooks to the receiver after a
//! follow and an unfollow; the receiver checks `SdkAppid`, `Sign` and
//! `RequestTime` and prints the events.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use tim_follow::callback::{ack_fail, ack_ok, Event, Verifier};
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
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    let url = format!("http://{}/tim/callback", listener.local_addr()?);
    println!("receiving webhooks at {url}");
    let verifier = Verifier::new(sdkappid).token(token.clone());

    if !demo {
        for stream in listener.incoming() {
            handle(stream?, &verifier);
        }
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
    listener.set_nonblocking(false)?;
    for _ in 0..2 {
        let (stream, _) = listener.accept()?;
        handle(stream, &verifier);
    }
    Ok(())
}

/// Reads one POST, verifies it, prints the event and answers.
fn handle(stream: TcpStream, verifier: &Verifier) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let target = request_line.split(' ').nth(1).unwrap_or("").to_string();
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length.min(1 << 20)];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let reply = match verifier.verify(query, &body) {
        Ok(Event::FollowAdd(e)) => {
            println!(
                "{} followed {:?} at {} ms",
                e.from_account, e.to_accounts, e.event_time_ms
            );
            ack_ok().to_string()
        }
        Ok(Event::FollowDelete(e)) => {
            println!(
                "{} unfollowed {:?} at {} ms",
                e.from_account, e.to_accounts, e.event_time_ms
            );
            ack_ok().to_string()
        }
        Ok(other) => {
            println!("other webhook: {other:?}");
            ack_ok().to_string()
        }
        Err(e) => {
            println!("rejected webhook: {e}");
            ack_fail(1, &e.to_string())
        }
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    );
}

//! What the benchmark programs share: the request and reply of the measured
//! call, the plain-serde floor, a thread-free resolver for bare ureq, the
//! fixed-reply server's connection loop and one bare POST.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tim_follow::request::CONTENT_TYPE;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

pub const SIG: &str = "eJyrVgrxCdYrSy1SslIy0jNQ0gHzM1NS80oy0zLBwhWZiflZpXlQqeKU7MSCgswUJStDEwMogMikVhRkFqUCxU1NTY3goiWZuSAxc1S1xZnpQJN9yhzNU-Q9y83Tg4vzirPLwqqcXAL8nZ1dkkr9nMtN3D3KQ5wNkjILtJ1MbJVqAa3HMfI_";

pub fn ids() -> Vec<String> {
    (2..22).map(|i| format!("UserID_{i:03}")).collect()
}

pub fn reply_body() -> String {
    let items: Vec<String> = ids()
        .iter()
        .map(|id| format!(r#"{{"To_Account":"{id}","ResultCode":0,"ResultInfo":""}}"#))
        .collect();
    format!(
        r#"{{"ResultItem":[{}],"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ErrorDisplay":""}}"#,
        items.join(",")
    )
}

// ------------------------------------------------------------- serde floor

#[derive(Serialize)]
pub struct FloorReq<'a> {
    #[serde(rename = "From_Account")]
    pub from: &'a str,
    #[serde(rename = "To_Account")]
    pub to: &'a [String],
}

#[derive(Deserialize)]
#[allow(dead_code)]
pub struct FloorItem {
    #[serde(rename = "To_Account")]
    pub to: String,
    #[serde(rename = "ResultCode")]
    pub code: i64,
    #[serde(rename = "ResultInfo")]
    pub info: String,
}

#[derive(Deserialize)]
#[allow(dead_code)]
pub struct FloorResp {
    #[serde(rename = "ResultItem")]
    pub items: Vec<FloorItem>,
    #[serde(rename = "ActionStatus")]
    pub status: String,
    #[serde(rename = "ErrorCode")]
    pub code: i64,
    #[serde(rename = "ErrorInfo")]
    pub info: String,
}

/// A resolver for IP-literal hosts that never spawns a thread (as tim-follow's does).
#[derive(Debug)]
pub struct IpLiteral;

impl Resolver for IpLiteral {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        _: &ureq::config::Config,
        _: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let ip: std::net::IpAddr = uri
            .host()
            .and_then(|h| h.parse().ok())
            .ok_or(ureq::Error::HostNotFound)?;
        let mut out = self.empty();
        out.push(std::net::SocketAddr::new(ip, uri.port_u16().unwrap_or(80)));
        Ok(out)
    }
}

/// Bare ureq as the client sets it up: its timeouts (connect 5 s, whole
/// call 30 s), its User-Agent, no proxy and a resolver without a thread, so
/// that both send the same bytes.
pub fn same_agent() -> ureq::Agent {
    ureq::Agent::with_parts(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_connect(Some(Duration::from_secs(5)))
            .timeout_global(Some(Duration::from_secs(30)))
            // The client's User-Agent, `tim-follow/` and the crate's version.
            .user_agent("tim-follow/0.3.0")
            .build(),
        DefaultConnector::new(),
        IpLiteral,
    )
}

/// A fixed-reply server on threads of this process (a thread per
/// connection, every request answered with [`reply_body`]); its base URL.
pub fn fixed_reply_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    serve_fixed_reply(listener);
    base
}

/// Answers every request on `listener` with [`reply_body`], from threads.
pub fn serve_fixed_reply(listener: TcpListener) {
    let body = reply_body();
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let response = response.clone();
            std::thread::spawn(move || serve(stream, &response));
        }
    });
}

fn serve(stream: TcpStream, response: &[u8]) {
    let _ = stream.set_nodelay(true);
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        let mut len = 0usize;
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if writer.write_all(response).is_err() {
            return;
        }
    }
}

/// The floor's request: the URL by `format!`, the body by serde derive.
#[inline(never)] // a stage of its own in benches/stages.py
pub fn floor_request(base: &str, to: &[String]) -> (String, Vec<u8>) {
    let url = format!(
        "{base}/v4/follow/follow_delete?sdkappid={}&identifier={}&usersig={}&random={}&contenttype=json",
        1400000000u64, "administrator", SIG, 12345u32
    );
    let body = serde_json::to_vec(&FloorReq {
        from: "UserID_001",
        to,
    })
    .unwrap();
    (url, body)
}

/// One POST through a bare ureq agent, body read to the end.
#[inline(never)] // a stage of its own in benches/stages.py
pub fn ureq_post(agent: &ureq::Agent, url: &str, body: &[u8]) -> Vec<u8> {
    let mut r = agent
        .post(url)
        .header("Content-Type", CONTENT_TYPE)
        .send(body)
        .unwrap();
    r.body_mut().read_to_vec().unwrap()
}

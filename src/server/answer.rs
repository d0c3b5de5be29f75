//! A [`Reply`] as the bytes sent back.

use super::Reply;

/// The bytes of `reply` and whether the connection stays open after them
/// (`keep`: the request allows it); `None` closes it without a word.
pub(crate) fn render(reply: Reply, keep: bool) -> Option<(Vec<u8>, bool)> {
    match reply {
        Reply::Response {
            status,
            content_type,
            body,
        } => {
            let mut out = format!(
                "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
                reason(status),
                body.len(),
                if keep { "keep-alive" } else { "close" }
            )
            .into_bytes();
            out.extend_from_slice(&body);
            Some((out, keep))
        }
        Reply::Close => None,
        Reply::Truncated { body, claimed } => {
            let mut out = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {claimed}\r\n\r\n"
            )
            .into_bytes();
            out.extend_from_slice(&body);
            Some((out, false))
        }
    }
}

/// A short plain-text answer, for what the server refuses itself.
pub(crate) fn plain(status: u16, text: &str) -> Reply {
    Reply::Response {
        status,
        content_type: "text/plain",
        body: text.as_bytes().to_vec(),
    }
}

pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        417 => "Expectation Failed",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

//! Reading an HTTP/1.1 request from the front of a byte buffer, with no I/O:
//! the server (the emulator's, the webhook receiver's) feeds it what the socket gave so far, and it answers
//! "need more", a whole head or body, or the status to refuse it with. Never
//! panics, whatever the bytes (fuzzed).

/// The longest request head accepted.
pub(crate) const MAX_HEAD: usize = 64 * 1024;
/// The largest request body accepted by default.
#[cfg_attr(not(feature = "testkit"), allow(dead_code))]
pub(crate) const MAX_BODY: usize = 8 * 1024 * 1024;

/// A refusal: the status and a short reason, sent before closing.
pub(crate) type Refusal = (u16, &'static str);

/// How the body of a request is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    Length(usize),
    Chunked,
}

/// A request line and the headers that matter here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    pub method: String,
    pub target: String,
    /// Whether the connection closes after the reply.
    pub close: bool,
    pub framing: Framing,
    /// Where the body starts in the buffer.
    pub body_start: usize,
}

/// Reads the head at the front of `buf`: `Ok(None)` until it is complete.
pub(crate) fn parse_head(buf: &[u8], max_body: usize) -> Result<Option<Head>, Refusal> {
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        return if buf.len() > MAX_HEAD {
            Err((431, "request head too large"))
        } else {
            Ok(None)
        };
    };
    if head_end > MAX_HEAD {
        return Err((431, "request head too large"));
    }
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let mut lines = head.split("\r\n");
    let mut parts = lines.next().unwrap_or_default().split(' ');
    let (method, target, version) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    if method.is_empty() || !target.starts_with('/') || !version.starts_with("HTTP/1.") {
        return Err((400, "malformed request line"));
    }
    let mut length: Option<usize> = None;
    let mut chunked = false;
    let mut close = version == "HTTP/1.0";
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                let n = value.parse().map_err(|_| (400, "bad content-length"))?;
                if length.replace(n).is_some() {
                    return Err((400, "more than one content-length"));
                }
            }
            "transfer-encoding" => chunked |= value.to_ascii_lowercase().contains("chunked"),
            "connection" => {
                let v = value.to_ascii_lowercase();
                close = (close || v.contains("close")) && !v.contains("keep-alive");
            }
            _ => {}
        }
    }
    let framing = match (length, chunked) {
        (Some(_), true) => return Err((400, "content-length together with chunked")),
        (Some(n), false) if n > max_body => return Err((413, "body too large")),
        (Some(n), false) => Framing::Length(n),
        (None, true) => Framing::Chunked,
        (None, false) => Framing::Length(0),
    };
    Ok(Some(Head {
        method: method.to_string(),
        target: target.to_string(),
        close,
        framing,
        body_start: head_end + 4,
    }))
}

/// Reads the body of `head` from `buf`: `Ok(None)` until it is complete,
/// then the body and where the next request starts.
pub(crate) fn parse_body(
    buf: &[u8],
    head: &Head,
    max_body: usize,
) -> Result<Option<(Vec<u8>, usize)>, Refusal> {
    let start = head.body_start.min(buf.len());
    match head.framing {
        Framing::Length(n) => Ok(buf
            .get(start..start.saturating_add(n))
            .map(|body| (body.to_vec(), start + n))),
        Framing::Chunked => parse_chunked(buf, start, max_body),
    }
}

fn parse_chunked(
    buf: &[u8],
    mut at: usize,
    max_body: usize,
) -> Result<Option<(Vec<u8>, usize)>, Refusal> {
    let mut body = Vec::new();
    loop {
        let Some(line_len) = buf.get(at..).and_then(|rest| find(rest, b"\r\n")) else {
            return Ok(None);
        };
        let line = String::from_utf8_lossy(&buf[at..at + line_len]);
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| (400, "bad chunk size"))?;
        if size > max_body - body.len() {
            return Err((413, "body too large"));
        }
        let data = at + line_len + 2;
        // Both bounds stay within MAX_HEAD + 2 × max_body: no overflow.
        let Some(chunk) = buf.get(data..data + size + 2) else {
            return Ok(None);
        };
        if &chunk[size..] != b"\r\n" {
            return Err((400, "chunk without its CRLF"));
        }
        body.extend_from_slice(&chunk[..size]);
        at = data + size + 2;
        if size == 0 {
            // Trailers are not expected; the final CRLF was consumed above.
            return Ok(Some((body, at)));
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A whole request as [`read_request`] returns it: method, target and body.
#[cfg_attr(not(feature = "testkit"), allow(dead_code))]
pub type Whole = (String, String, Vec<u8>);

/// Reads one whole request from `bytes` (for the fuzz target): the method,
/// target and body, or the status and reason it was refused with, or `None`
/// when incomplete.
#[cfg_attr(not(feature = "testkit"), allow(dead_code))]
pub fn read_request(bytes: &[u8]) -> Option<Result<Whole, (u16, &'static str)>> {
    let head = match parse_head(bytes, MAX_BODY) {
        Ok(Some(head)) => head,
        Ok(None) => return None,
        Err(refusal) => return Some(Err(refusal)),
    };
    match parse_body(bytes, &head, MAX_BODY) {
        Ok(Some((body, next))) => {
            debug_assert!(next <= bytes.len());
            Some(Ok((head.method, head.target, body)))
        }
        Ok(None) => None,
        Err(refusal) => Some(Err(refusal)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Option<Result<Whole, Refusal>> {
        read_request(text.as_bytes())
    }

    #[test]
    fn content_length_and_chunked_bodies_are_read() {
        let r = read("POST /v4/a HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}")
            .unwrap()
            .unwrap();
        assert_eq!(
            (r.0.as_str(), r.1.as_str(), r.2.as_slice()),
            ("POST", "/v4/a", &b"{}"[..])
        );
        let r = read(
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n1;x\r\n \r\n0\r\n\r\n",
        );
        assert_eq!(r.unwrap().unwrap().2, b"{} ");
        assert!(
            read("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n{}").is_none(),
            "incomplete"
        );
        assert!(read("POST / HTTP/1.1\r\nContent-").is_none());
    }

    #[test]
    fn ambiguous_framing_is_a_400() {
        for text in [
            "POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
            "POST / HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
            "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            "GET nothing HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(read(text).unwrap().unwrap_err().0, 400, "{text:?}");
        }
    }

    #[test]
    fn huge_sizes_are_refused_without_overflow() {
        // A chunk size near usize::MAX overflowed the reader's earlier bounds arithmetic.
        let text = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n";
        assert_eq!(read(text).unwrap().unwrap_err().0, 413);
        let text = format!("POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", usize::MAX);
        assert_eq!(read(&text).unwrap().unwrap_err().0, 413);
        let text = format!("POST / HTTP/1.1\r\nContent-Length: {MAX_BODY}\r\n\r\n");
        assert!(read(&text).is_none(), "the largest body is waited for");
    }

    #[test]
    fn connection_close_is_honoured() {
        let head = |t: &str| parse_head(t.as_bytes(), MAX_BODY).unwrap().unwrap().close;
        assert!(head("GET / HTTP/1.0\r\n\r\n"));
        assert!(!head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
        assert!(head("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
        assert!(!head("GET / HTTP/1.1\r\n\r\n"));
    }
}

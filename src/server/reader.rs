//! One connection's requests, read as their bytes arrive: each byte is
//! looked at once (no parse of the whole buffer again after each read), the
//! head is kept until its blank line and then parsed once, and of a body
//! only the data is kept. No I/O: the event loop feeds it.

use super::wire::{self, Chunked, Framing, Head, Refusal};

/// A request read whole.
#[derive(Debug)]
pub(crate) struct Request {
    pub head: Head,
    pub body: Vec<u8>,
}

/// What a [`Reader::feed`] saw.
#[derive(Debug)]
pub(crate) enum Event {
    /// The head is read ([`Reader::head`]); the body comes next.
    HeadRead,
    /// A whole request; the reader starts on the next one.
    Request(Request),
}

enum Phase {
    Head,
    Length(Head, usize),
    Chunked(Head, Chunked),
}

/// Empty lines accepted before a request line (RFC 9112 §2.2 says at least one).
const MAX_LEADING_LINES: usize = 64;

/// Reads one request after another from a connection's bytes.
pub(crate) struct Reader {
    max_body: usize,
    head: Vec<u8>,
    phase: Phase,
    body: Vec<u8>,
    skipped: usize,
    received: usize,
}

impl Reader {
    pub(crate) fn new(max_body: usize) -> Reader {
        Reader {
            max_body,
            head: Vec::new(),
            phase: Phase::Head,
            body: Vec::new(),
            skipped: 0,
            received: 0,
        }
    }

    /// Bytes of the request under way received so far (0 between requests).
    pub(crate) fn received(&self) -> usize {
        self.received
    }

    /// Whether the head is read and the body is being read.
    pub(crate) fn in_body(&self) -> bool {
        !matches!(self.phase, Phase::Head)
    }

    /// The memory this reader holds for the request under way: at most
    /// [`wire::MAX_HEAD`] + 4 for a head, then the body (at most the
    /// largest accepted, twice over while its vector grows).
    pub(crate) fn buffered(&self) -> usize {
        self.head.capacity() + self.body.capacity()
    }

    /// The head once [`Event::HeadRead`] was seen, until the request ends.
    pub(crate) fn head(&self) -> Option<&Head> {
        match &self.phase {
            Phase::Head => None,
            Phase::Length(head, _) | Phase::Chunked(head, _) => Some(head),
        }
    }

    /// Reads from `input`: how many bytes it used and what it saw. Call it
    /// again with the rest after an event (also with nothing left: a
    /// request without a body ends right after its head). Without an event,
    /// all of `input` was used.
    pub(crate) fn feed(&mut self, input: &[u8]) -> Result<(usize, Option<Event>), Refusal> {
        let (used, event) = match &mut self.phase {
            Phase::Head => self.feed_head(input)?,
            Phase::Length(_, left) => {
                let take = (*left).min(input.len());
                self.body.extend_from_slice(&input[..take]);
                *left -= take;
                let done = *left == 0;
                (take, done.then(|| self.finish()))
            }
            Phase::Chunked(_, chunked) => {
                let (used, done) = chunked.feed(input, &mut self.body, self.max_body)?;
                (used, done.then(|| self.finish()))
            }
        };
        self.received = match &event {
            Some(Event::Request(_)) => 0,
            _ => self.received + used,
        };
        Ok((used, event))
    }

    fn feed_head(&mut self, input: &[u8]) -> Result<(usize, Option<Event>), Refusal> {
        let mut used = 0;
        while self.head.is_empty() && used < input.len() && matches!(input[used], b'\r' | b'\n') {
            self.skipped += 1;
            used += 1;
            if self.skipped > 2 * MAX_LEADING_LINES {
                return Err((400, "too many empty lines before a request"));
            }
        }
        let rest = &input[used..];
        let from = self.head.len();
        let take = rest
            .len()
            .min(wire::MAX_HEAD + 4 - from.min(wire::MAX_HEAD + 4));
        self.head.extend_from_slice(&rest[..take]);
        let Some(end) = wire::head_end(&self.head, from)? else {
            return Ok((used + take, None));
        };
        let excess = self.head.len() - end;
        self.head.truncate(end);
        let head = wire::parse_head(&self.head, self.max_body)?;
        self.phase = match head.framing {
            Framing::Length(n) => {
                self.body = Vec::with_capacity(n.min(16 * 1024));
                Phase::Length(head, n)
            }
            Framing::Chunked => Phase::Chunked(head, Chunked::default()),
        };
        Ok((used + take - excess, Some(Event::HeadRead)))
    }

    /// Hands over the request read and starts on the next.
    fn finish(&mut self) -> Event {
        let phase = std::mem::replace(&mut self.phase, Phase::Head);
        let body = std::mem::take(&mut self.body);
        // A connection kept open between requests holds no large buffer.
        if self.head.capacity() > 4 * 1024 {
            self.head = Vec::new();
        }
        self.head.clear();
        self.skipped = 0;
        match phase {
            Phase::Length(head, _) | Phase::Chunked(head, _) => {
                Event::Request(Request { head, body })
            }
            Phase::Head => unreachable!("a body is read only after its head"),
        }
    }
}

/// Reads the first request of `bytes`, given in pieces cut at `cuts`.
pub(crate) fn read_whole(
    bytes: &[u8],
    cuts: &[usize],
    max_body: usize,
) -> Option<Result<wire::Whole, Refusal>> {
    let mut cuts: Vec<usize> = cuts.iter().copied().filter(|c| *c < bytes.len()).collect();
    cuts.sort_unstable();
    cuts.push(bytes.len());
    let mut reader = Reader::new(max_body);
    let mut start = 0;
    for cut in cuts {
        let mut piece = &bytes[start..cut];
        start = cut;
        loop {
            let (used, event) = match reader.feed(piece) {
                Ok(step) => step,
                Err(refusal) => return Some(Err(refusal)),
            };
            piece = &piece[used..];
            match event {
                Some(Event::Request(r)) => return Some(Ok((r.head.method, r.head.target, r.body))),
                Some(Event::HeadRead) => {}
                None => break,
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_of_any_size_read_the_same_as_the_whole() {
        let text = b"\r\nPOST /a?b=c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n";
        let whole = read_whole(text, &[], 1024).unwrap().unwrap();
        assert_eq!(whole.2, b"abc");
        for cut in 0..text.len() {
            let cuts: Vec<usize> = (0..text.len()).step_by(cut + 1).collect();
            assert_eq!(read_whole(text, &cuts, 1024).unwrap().unwrap(), whole);
        }
    }

    #[test]
    fn requests_follow_one_another_and_the_count_restarts() {
        let mut r = Reader::new(1024);
        let two = b"GET /1 HTTP/1.1\r\n\r\nPOST /2 HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi";
        let (used, e) = r.feed(two).unwrap();
        assert!(matches!(e, Some(Event::HeadRead)));
        assert_eq!(r.head().unwrap().target, "/1");
        let (zero, e) = r.feed(&two[used..]).unwrap();
        assert_eq!(zero, 0);
        assert!(matches!(e, Some(Event::Request(ref q)) if q.body.is_empty()));
        assert_eq!(r.received(), 0);
        let rest = &two[used..];
        let (used, _) = r.feed(rest).unwrap();
        assert!(r.in_body());
        let (_, e) = r.feed(&rest[used..]).unwrap();
        let Some(Event::Request(q)) = e else {
            panic!("a second request")
        };
        assert_eq!(
            (q.head.target.as_str(), q.body.as_slice()),
            ("/2", &b"hi"[..])
        );
    }

    #[test]
    fn an_endless_chunk_size_line_is_refused_with_little_buffered() {
        let mut r = Reader::new(64 * 1024);
        let head = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let (used, _) = r.feed(head).unwrap();
        assert_eq!(used, head.len());
        let zeros = [b'0'; 256];
        let mut sent = 0;
        let refused = loop {
            match r.feed(&zeros) {
                Ok((n, _)) => sent += n,
                Err(refusal) => break refusal,
            }
            assert!(sent <= 10 << 20, "still reading after {sent} bytes");
            assert!(r.buffered() <= wire::MAX_HEAD + 4 + 16 * 1024);
        };
        assert_eq!(refused.0, 400);
        assert!(sent <= wire::MAX_CHUNK_LINE, "{sent}");
        // And an endless extension, trailer, head: all bounded.
        let ext = format!("{}1;{}", String::from_utf8_lossy(head), "e".repeat(4096));
        assert_eq!(
            read_whole(ext.as_bytes(), &[], 1024)
                .unwrap()
                .unwrap_err()
                .0,
            400
        );
        let trailer = format!(
            "{}0\r\nT: {}",
            String::from_utf8_lossy(head),
            "t".repeat(20_000)
        );
        assert_eq!(
            read_whole(trailer.as_bytes(), &[], 1024)
                .unwrap()
                .unwrap_err()
                .0,
            431
        );
        let long = format!("GET / HTTP/1.1\r\nX: {}", "x".repeat(100_000));
        let mut r = Reader::new(1024);
        assert_eq!(r.feed(long.as_bytes()).unwrap_err().0, 431);
        assert!(r.buffered() <= 2 * (wire::MAX_HEAD + 4));
    }

    #[test]
    fn empty_lines_before_a_request_are_bounded() {
        assert!(read_whole(b"\r\n\r\nGET / HTTP/1.1\r\n\r\n", &[], 0)
            .unwrap()
            .is_ok());
        let many = "\r\n".repeat(1000) + "GET / HTTP/1.1\r\n\r\n";
        assert_eq!(
            read_whole(many.as_bytes(), &[], 0).unwrap().unwrap_err().0,
            400
        );
    }
}

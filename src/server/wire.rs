//! Reading an HTTP/1.1 request head and a chunked body, with no I/O: the
//! server's `Reader` feeds these what the socket
//! gave so far. Every byte is bounded (the head, its header count, a
//! chunk-size line with its extensions, the trailers) and framing that
//! HTTP/1.1 forbids is refused: a signed or listed `Content-Length`, two of
//! them, one beside `Transfer-Encoding`, a coding other than `chunked`
//! (501), obs-fold, bare CR or LF. Never panics, whatever the bytes
//! (fuzzed).

/// The longest request head accepted (431 beyond).
pub(crate) const MAX_HEAD: usize = 64 * 1024;
/// The most header fields in a head (431 beyond).
pub(crate) const MAX_HEADERS: usize = 100;
/// The longest chunk-size line, extensions included (400 beyond).
pub(crate) const MAX_CHUNK_LINE: usize = 1024;
/// The most bytes of trailer fields after the last chunk (431 beyond).
pub(crate) const MAX_TRAILERS: usize = 8 * 1024;
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
    /// `Expect: 100-continue` on an HTTP/1.1 request.
    pub expect_continue: bool,
}

/// Where a head ends in `buf` (the index after its blank line), searching
/// only from `from` (the length already searched): `Ok(None)` until then,
/// 431 once it is longer than [`MAX_HEAD`].
pub(crate) fn head_end(buf: &[u8], from: usize) -> Result<Option<usize>, Refusal> {
    let start = from.saturating_sub(3).min(buf.len());
    match find(&buf[start..], b"\r\n\r\n") {
        Some(at) if start + at + 4 <= MAX_HEAD + 4 => Ok(Some(start + at + 4)),
        Some(_) => Err((431, "request head too large")),
        None if buf.len() > MAX_HEAD + 3 => Err((431, "request head too large")),
        None => Ok(None),
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A field value's bytes: visible, space, tab or obs-text; never a CTL.
fn is_value_byte(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

/// Parses a whole head (`head` ends with its blank line, as [`head_end`]
/// found it) for a server taking bodies up to `max_body`.
pub(crate) fn parse_head(head: &[u8], max_body: usize) -> Result<Head, Refusal> {
    // Each line keeps its CR, checked below; the blank line goes.
    let text = head
        .strip_suffix(b"\n\r\n")
        .ok_or((400, "a head not ended by a blank line"))?;
    let mut lines = text.split(|&b| b == b'\n');
    let request_line = lines.next().unwrap_or_default();
    let (method, target, http10) = request_line_parts(strip_cr(request_line)?)?;
    let mut fields = Fields::default();
    for (n, line) in lines.enumerate() {
        if n >= MAX_HEADERS {
            return Err((431, "too many header fields"));
        }
        fields.add(strip_cr(line)?)?;
    }
    let framing = fields.framing(http10, max_body)?;
    let close = if http10 {
        !fields.keep_alive
    } else {
        fields.close
    };
    Ok(Head {
        method,
        target,
        close: close || fields.close,
        framing,
        expect_continue: fields.expect_continue && !http10,
    })
}

/// A line of the head without its CR: a bare CR or LF left in it is a 400.
fn strip_cr(line: &[u8]) -> Result<&[u8], Refusal> {
    let line = line
        .strip_suffix(b"\r")
        .ok_or((400, "a line not ended by CRLF"))?;
    if line.contains(&b'\r') {
        return Err((400, "a bare CR in the head"));
    }
    Ok(line)
}

/// Method, target and whether it is HTTP/1.0.
fn request_line_parts(line: &[u8]) -> Result<(String, String, bool), Refusal> {
    const BAD: Refusal = (400, "malformed request line");
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(BAD);
    };
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(BAD);
    }
    if !target.starts_with(b"/") || !target.iter().all(|&b| b > 0x20 && b != 0x7f) {
        return Err(BAD);
    }
    let http10 = match version {
        b"HTTP/1.1" => false,
        b"HTTP/1.0" => true,
        _ => return Err(BAD),
    };
    Ok((
        String::from_utf8_lossy(method).into_owned(),
        String::from_utf8_lossy(target).into_owned(),
        http10,
    ))
}

/// What the header fields say about framing and the connection.
#[derive(Default)]
struct Fields {
    length: Option<usize>,
    /// The transfer codings, in order, lowercased.
    codings: Vec<String>,
    transfer_encoding: bool,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
}

impl Fields {
    fn add(&mut self, line: &[u8]) -> Result<(), Refusal> {
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            return Err((400, "obs-fold in the head"));
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or((400, "a header line without a colon"))?;
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err((400, "malformed header name"));
        }
        if !value.iter().all(|&b| is_value_byte(b)) {
            return Err((400, "a control character in a header value"));
        }
        let value = String::from_utf8_lossy(value);
        let value = value.trim_matches([' ', '\t']);
        match name.to_ascii_lowercase().as_slice() {
            b"content-length" => self.content_length(value),
            b"transfer-encoding" => {
                self.transfer_encoding = true;
                self.codings.extend(
                    value
                        .split(',')
                        .map(|c| c.trim_matches([' ', '\t']).to_ascii_lowercase())
                        .filter(|c| !c.is_empty()),
                );
                Ok(())
            }
            b"connection" => {
                for token in value.split(',').map(|t| t.trim().to_ascii_lowercase()) {
                    self.close |= token == "close";
                    self.keep_alive |= token == "keep-alive";
                }
                Ok(())
            }
            b"expect" if value.eq_ignore_ascii_case("100-continue") => {
                self.expect_continue = true;
                Ok(())
            }
            b"expect" => Err((417, "only 100-continue is expected")),
            _ => Ok(()),
        }
    }

    /// `1*DIGIT`, once: no sign, no list, no second field.
    fn content_length(&mut self, value: &str) -> Result<(), Refusal> {
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err((400, "bad content-length"));
        }
        if self.length.is_some() {
            return Err((400, "more than one content-length"));
        }
        // Digits only: a failure is an overflow, so larger than any bound.
        self.length = Some(value.parse().unwrap_or(usize::MAX));
        Ok(())
    }

    fn framing(&self, http10: bool, max_body: usize) -> Result<Framing, Refusal> {
        if self.transfer_encoding {
            if self.length.is_some() {
                return Err((400, "content-length together with transfer-encoding"));
            }
            if http10 {
                return Err((400, "transfer-encoding in an HTTP/1.0 request"));
            }
            let chunked = self.codings.iter().filter(|c| *c == "chunked").count();
            return match self.codings.as_slice() {
                _ if chunked > 1 => Err((400, "chunked applied more than once")),
                [only] if only == "chunked" => Ok(Framing::Chunked),
                [.., last] if last == "chunked" => Err((501, "only chunked is understood")),
                _ => Err((400, "chunked is not the final transfer coding")),
            };
        }
        match self.length {
            Some(n) if n > max_body => Err((413, "body too large")),
            Some(n) => Ok(Framing::Length(n)),
            None => Ok(Framing::Length(0)),
        }
    }
}

/// Where a chunked body's reader is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// In a chunk-size line: its value so far, its length, where in the
    /// line ([`DIGITS`], [`SPACE`], [`EXT`]), whether its CR came.
    Size {
        value: usize,
        len: usize,
        ext: u8,
        cr: bool,
    },
    /// In a chunk's data, this much to go.
    Data(usize),
    /// After a chunk's data: its CR, then its LF.
    DataCr,
    DataLf,
    /// In the trailer section: the current line's length, whether its CR came.
    Trailer {
        len: usize,
        cr: bool,
    },
    Done,
}

/// In a chunk-size line: the digits, whitespace after them, extensions.
const DIGITS: u8 = 0;
const SPACE: u8 = 1;
const EXT: u8 = 2;

const SIZE_START: Chunk = Chunk::Size {
    value: 0,
    len: 0,
    ext: DIGITS,
    cr: false,
};

/// A chunked body read as it arrives: only the data is kept, so what one
/// connection buffers is its body and at most one bounded line.
#[derive(Debug, Clone)]
pub(crate) struct Chunked {
    at: Chunk,
    trailers: usize,
}

impl Default for Chunked {
    fn default() -> Self {
        Chunked {
            at: SIZE_START,
            trailers: 0,
        }
    }
}

impl Chunked {
    /// Reads from `input`, appending data to `body` (at most `max_body` in
    /// all): the bytes used and whether the body ended.
    pub(crate) fn feed(
        &mut self,
        input: &[u8],
        body: &mut Vec<u8>,
        max_body: usize,
    ) -> Result<(usize, bool), Refusal> {
        let mut used = 0;
        while used < input.len() {
            if let Chunk::Data(left) = self.at {
                let take = left.min(input.len() - used);
                body.extend_from_slice(&input[used..used + take]);
                used += take;
                self.at = if take == left {
                    Chunk::DataCr
                } else {
                    Chunk::Data(left - take)
                };
                continue;
            }
            self.at = self.step(input[used], body.len(), max_body)?;
            used += 1;
            if self.at == Chunk::Done {
                return Ok((used, true));
            }
        }
        Ok((used, false))
    }

    /// One byte outside a chunk's data.
    fn step(&mut self, b: u8, have: usize, max_body: usize) -> Result<Chunk, Refusal> {
        match self.at {
            Chunk::Size {
                value,
                len,
                ext,
                cr,
            } => size_step(value, len, ext, cr, b, have, max_body),
            Chunk::DataCr if b == b'\r' => Ok(Chunk::DataLf),
            Chunk::DataLf if b == b'\n' => Ok(SIZE_START),
            Chunk::DataCr | Chunk::DataLf => Err((400, "chunk without its CRLF")),
            Chunk::Trailer { len, cr } => {
                self.trailers += 1;
                if self.trailers > MAX_TRAILERS {
                    return Err((431, "trailers too large"));
                }
                match (b, cr) {
                    (b'\n', true) if len == 0 => Ok(Chunk::Done),
                    (b'\n', true) => Ok(Chunk::Trailer { len: 0, cr: false }),
                    (b'\r', false) => Ok(Chunk::Trailer { len, cr: true }),
                    (b'\r' | b'\n', _) | (_, true) => Err((400, "a bare CR or LF in the trailers")),
                    _ => Ok(Chunk::Trailer { len: len + 1, cr }),
                }
            }
            // Data is read in `feed`; nothing follows the end.
            Chunk::Data(_) | Chunk::Done => Ok(self.at),
        }
    }
}

/// One byte of a chunk-size line: hex digits, then optional extensions
/// (`;name=value`, whitespace before them), then CRLF.
fn size_step(
    value: usize,
    len: usize,
    ext: u8,
    cr: bool,
    b: u8,
    have: usize,
    max_body: usize,
) -> Result<Chunk, Refusal> {
    if len >= MAX_CHUNK_LINE && !matches!(b, b'\r' | b'\n') {
        return Err((400, "chunk-size line too long"));
    }
    let next = |value, ext, cr| {
        Ok(Chunk::Size {
            value,
            len: len + 1,
            ext,
            cr,
        })
    };
    match b {
        _ if cr && b != b'\n' => Err((400, "a bare CR in a chunk-size line")),
        b'\n' if !cr => Err((400, "a bare LF in a chunk-size line")),
        b'\n' if value == 0 => Ok(Chunk::Trailer { len: 0, cr: false }),
        b'\n' => Ok(Chunk::Data(value)),
        _ if len == 0 && !b.is_ascii_hexdigit() => Err((400, "bad chunk size")),
        b'\r' => next(value, ext, true),
        _ if ext == DIGITS && b.is_ascii_hexdigit() => {
            let digit = usize::from(match b {
                b'0'..=b'9' => b - b'0',
                _ => (b | 0x20) - b'a' + 10,
            });
            let value = value
                .checked_mul(16)
                .and_then(|v| v.checked_add(digit))
                .filter(|v| *v <= max_body.saturating_sub(have))
                .ok_or((413, "body too large"))?;
            next(value, DIGITS, false)
        }
        b';' => next(value, EXT, false),
        b' ' | b'\t' if ext != EXT => next(value, SPACE, false),
        _ if ext == EXT && is_value_byte(b) => next(value, EXT, false),
        _ => Err((400, "bad chunk size")),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A whole request as [`read_request`] returns it: method, target and body.
#[cfg_attr(not(feature = "testkit"), allow(dead_code))]
pub type Whole = (String, String, Vec<u8>);

/// Reads one whole request from `bytes` (for the fuzz targets), as the
/// server does, in one piece: the method, target and body, or the status
/// and reason it was refused with, or `None` when incomplete.
#[cfg_attr(not(feature = "testkit"), allow(dead_code))]
pub fn read_request(bytes: &[u8]) -> Option<Result<Whole, (u16, &'static str)>> {
    read_request_in_pieces(bytes, &[])
}

/// As [`read_request`], with `bytes` arriving in pieces cut at `cuts`
/// (offsets into `bytes`, in any order; those past the end are ignored):
/// the outcome is the same whatever the cuts.
#[cfg_attr(not(feature = "testkit"), allow(dead_code))]
pub fn read_request_in_pieces(
    bytes: &[u8],
    cuts: &[usize],
) -> Option<Result<Whole, (u16, &'static str)>> {
    super::reader::read_whole(bytes, cuts, MAX_BODY)
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;

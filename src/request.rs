//! The sans-IO core: request URLs, request bodies and response parsing.
//!
//! Nothing here does I/O or reads a clock or a random number generator: the
//! `random` query value is passed in. Use these pieces with any HTTP stack:
//!
//! ```
//! use tim_follow::request::{Context, Request};
//! use tim_follow::FollowDelete;
//!
//! let req = FollowDelete::new("UserID_001", &["UserID_002", "UserID_003"])?;
//! let ctx = Context {
//!     base_url: "https://adminapisgp.im.qcloud.com",
//!     sdkappid: 1400000000,
//!     identifier: "administrator",
//!     usersig: "eJyr...",
//!     random: 99999999,
//! };
//! let prepared = req.prepare(&ctx)?;
//! assert_eq!(prepared.url, "https://adminapisgp.im.qcloud.com/v4/follow/follow_delete?sdkappid=1400000000\
//!                          &identifier=administrator&usersig=eJyr...&random=99999999&contenttype=json");
//! assert_eq!(prepared.body, br#"{"From_Account":"UserID_001","To_Account":["UserID_002","UserID_003"]}"#);
//! assert_eq!(prepared.content_type, "application/json; charset=utf-8");
//!
//! // ... POST `prepared.body` to `prepared.url` with your HTTP client, then:
//! let reply = br#"{"ResultItem":[{"To_Account":"UserID_002","ResultCode":0,"ResultInfo":""}],
//!                  "ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ErrorDisplay":""}"#;
//! let parsed = FollowDelete::parse(200, reply)?;
//! assert_eq!(parsed.items[0].to_account, "UserID_002");
//! # Ok::<(), tim_follow::Error>(())
//! ```

use serde::de::{DeserializeOwned, DeserializeSeed, IgnoredAny};
use serde::{Deserialize, Serialize};

use crate::error::{snippet, ApiError, DecodeError, Error};

/// The longest account id (UserID) Tencent accepts, in bytes.
pub const MAX_ACCOUNT_BYTES: usize = 32;

/// How many characters of an undecodable body an error shows.
const SNIPPET_CHARS: usize = 120;

/// The content type of every request body.
pub const CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// One REST API request: where it goes and what it answers.
///
/// The follow endpoints implement it ([`FollowAdd`](crate::FollowAdd),
/// [`FollowDelete`](crate::FollowDelete), [`FollowCheck`](crate::FollowCheck),
/// [`FollowGet`](crate::FollowGet), [`FollowGetInfo`](crate::FollowGetInfo));
/// implement it for any other REST API and send it with
/// [`Client::call`](crate::Client::call).
pub trait Request: Serialize {
    /// `servicename/command`, such as `follow/follow_delete`.
    const PATH: &'static str;
    /// Whether sending the request twice has the same effect as sending it
    /// once, so that it may be retried after it may have reached the server.
    const IDEMPOTENT: bool;
    /// The typed response body (the envelope fields are checked separately).
    type Response: DeserializeOwned;

    /// The JSON request body.
    fn body(&self) -> Result<Vec<u8>, Error> {
        serde_json::to_vec(self).map_err(|e| {
            Error::invalid(
                Self::PATH,
                format!("request body cannot be serialized: {e}"),
            )
        })
    }

    /// The whole request, ready to send: URL, body and content type.
    fn prepare(&self, context: &Context<'_>) -> Result<Prepared, Error> {
        Ok(Prepared {
            url: context.url(Self::PATH),
            body: self.body()?,
            content_type: CONTENT_TYPE,
        })
    }

    /// Reads a reply to this request: see [`parse_response`].
    fn parse(http_status: u16, body: &[u8]) -> Result<Self::Response, Error> {
        parse_response_for(Self::PATH, http_status, body)
    }
}

/// Where a request goes and who signs it: the values of every request's URL.
/// Named fields, so that two of them cannot be swapped unnoticed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Context<'a> {
    /// A scheme and host such as `https://console.tim.qq.com` (a trailing
    /// `/` is ignored).
    pub base_url: &'a str,
    /// The app's SDKAppID.
    pub sdkappid: u64,
    /// The App admin account the request is sent as.
    pub identifier: &'a str,
    /// The admin's UserSig.
    pub usersig: &'a str,
    /// The `random` query value (any 32-bit number, new for each request).
    pub random: u32,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("base_url", &self.base_url)
            .field("sdkappid", &self.sdkappid)
            .field("identifier", &self.identifier)
            .field("usersig", &"<redacted>")
            .field("random", &self.random)
            .finish()
    }
}

impl Context<'_> {
    /// The URL of `path`:
    /// `{base_url}/v4/{path}?sdkappid=…&identifier=…&usersig=…&random=…&contenttype=json`.
    ///
    /// Every query value is percent-encoded, except the characters of RFC
    /// 3986's unreserved set and `*`: UserSigs use the alphabet
    /// `[A-Za-z0-9*_-]`, and `*` is sent as is, like every official SDK does
    /// (whether the gateway decodes `%2A` is not documented).
    pub fn url(&self, path: &str) -> String {
        let base = self.base_url.trim_end_matches('/');
        let path = path.trim_start_matches('/');
        let mut url = String::with_capacity(base.len() + path.len() + self.usersig.len() + 96);
        url.push_str(base);
        url.push_str("/v4/");
        url.push_str(path);
        url.push_str("?sdkappid=");
        push_decimal(&mut url, self.sdkappid);
        url.push_str("&identifier=");
        encode_into(&mut url, self.identifier);
        url.push_str("&usersig=");
        encode_into(&mut url, self.usersig);
        url.push_str("&random=");
        push_decimal(&mut url, u64::from(self.random));
        url.push_str("&contenttype=json");
        url
    }
}

/// A request ready to send: POST `body` to `url` with `Content-Type:
/// content_type`. Its `Debug` hides the URL's UserSig.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Prepared {
    /// The full URL, query included (it carries the UserSig: keep it out of logs).
    pub url: String,
    /// The JSON body.
    pub body: Vec<u8>,
    /// The body's content type, [`CONTENT_TYPE`].
    pub content_type: &'static str,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("url", &crate::error::redact(&self.url))
            .field("body", &String::from_utf8_lossy(&self.body))
            .field("content_type", &self.content_type)
            .finish()
    }
}

/// Appends `n` in decimal.
fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // ASCII digits: always UTF-8.
    out.push_str(std::str::from_utf8(&digits[at..]).unwrap_or_default());
}

/// Percent-encodes `value` into `out` (UTF-8 bytes; unreserved characters and `*` kept).
pub(crate) fn encode_into(out: &mut String, value: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    /// The bytes sent as they are.
    const KEPT: [bool; 256] = {
        let mut kept = [false; 256];
        let mut b = 0;
        while b < 256 {
            let c = b as u8;
            kept[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'*');
            b += 1;
        }
        kept
    };
    let kept = |b: u8| KEPT[usize::from(b)];
    // UserSigs and ids usually need no escape: copy them whole.
    if value.bytes().all(kept) {
        out.push_str(value);
        return;
    }
    for &b in value.as_bytes() {
        if kept(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

/// Decodes `%XX` escapes and `+` (as a space); invalid escapes are kept as they are.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits a query string into decoded name/value pairs.
pub(crate) fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

/// The common fields of every response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Envelope {
    /// `ActionStatus`: `OK` or `FAIL`; may be absent.
    #[serde(rename = "ActionStatus", default)]
    pub action_status: Option<String>,
    /// `ErrorCode`: 0 on success.
    #[serde(rename = "ErrorCode", default)]
    pub error_code: Option<i64>,
    /// `ErrorInfo`.
    #[serde(rename = "ErrorInfo", default)]
    pub error_info: Option<String>,
    /// `ErrorDisplay`.
    #[serde(rename = "ErrorDisplay", default)]
    pub error_display: Option<String>,
}

impl Envelope {
    /// Checks the envelope: `Ok` when `ErrorCode` is 0 (or absent with
    /// `ActionStatus` `OK`), the API error otherwise.
    pub fn check(&self, endpoint: &str, body: &[u8]) -> Result<(), Error> {
        let failed = self.action_status.as_deref() == Some("FAIL");
        match self.error_code {
            Some(0) if !failed => Ok(()),
            Some(0) => Err(decode_error(
                endpoint,
                "ActionStatus is FAIL but ErrorCode is 0",
                body,
            )),
            Some(code) => Err(Error::Api(ApiError::new(
                code,
                self.error_info.clone().unwrap_or_default(),
                self.error_display.clone().unwrap_or_default(),
            ))),
            None if self.action_status.as_deref() == Some("OK") => Ok(()),
            None => Err(decode_error(
                endpoint,
                "the reply has no ErrorCode (not a REST API envelope)",
                body,
            )),
        }
    }
}

/// Parses a response of any endpoint: checks the HTTP status and the
/// envelope, then decodes the typed body. Never panics, whatever the bytes.
///
/// - HTTP status other than 2xx: [`Error::HttpStatus`] (Tencent answers 200
///   for every API-level outcome).
/// - `ErrorCode` non-zero: [`Error::Api`].
/// - Anything that is not the documented JSON: [`Error::Decode`] with the
///   line and column and a short, redacted start of the body.
///
/// Unknown fields are ignored, as Tencent may add fields at any time.
pub fn parse_response<T: DeserializeOwned>(http_status: u16, body: &[u8]) -> Result<T, Error> {
    parse_response_for("REST API", http_status, body)
}

/// [`parse_response`] with the endpoint's name in decode errors.
pub fn parse_response_for<T: DeserializeOwned>(
    endpoint: &str,
    http_status: u16,
    body: &[u8],
) -> Result<T, Error> {
    if !(200..300).contains(&http_status) {
        return Err(Error::HttpStatus {
            status: http_status,
            snippet: snippet(body, SNIPPET_CHARS),
        });
    }
    // One pass: the envelope fields are captured on the way while `T` is built.
    let mut envelope = Envelope::default();
    // JSON is UTF-8: checking the whole body once (a fast, vectorised scan)
    // spares serde_json a check of every string inside it. A body that is not
    // UTF-8 goes the slower way, for serde_json's positioned error.
    let parsed = match std::str::from_utf8(body) {
        Ok(text) => capture::<T, _>(serde_json::Deserializer::from_str(text), &mut envelope),
        Err(_) => capture::<T, _>(serde_json::Deserializer::from_slice(body), &mut envelope),
    };
    match parsed {
        Ok(value) => {
            envelope.check(endpoint, body)?;
            Ok(value)
        }
        Err(e) => {
            // The typed body failed; an error envelope may explain why (an
            // error reply need not carry the fields of a success).
            if envelope.error_code.is_none() {
                match serde_json::from_slice::<EnvelopeOnly>(body) {
                    Ok(full) => envelope = full.envelope,
                    Err(_) => return Err(decode_error(endpoint, &e.to_string(), body)),
                }
            }
            match envelope.check(endpoint, body) {
                Err(api @ Error::Api(_)) => Err(api),
                _ => Err(decode_error(endpoint, &e.to_string(), body)),
            }
        }
    }
}

/// Parses a whole JSON document into `T`, capturing the envelope on the way.
fn capture<'de, T: DeserializeOwned, R: serde_json::de::Read<'de>>(
    mut de: serde_json::Deserializer<R>,
    envelope: &mut Envelope,
) -> Result<T, serde_json::Error> {
    let value = Capture::<T> {
        envelope,
        target: std::marker::PhantomData,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Deserializes `T` from a JSON object, capturing the envelope fields on the
/// way (`T` still sees them).
struct Capture<'e, T> {
    envelope: &'e mut Envelope,
    target: std::marker::PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> serde::de::DeserializeSeed<'de> for Capture<'_, T> {
    type Value = T;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Capture<'_, T> {
    type Value = T;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object (a REST API reply)")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(serde::de::value::MapAccessDeserializer::new(Tap {
            inner: map,
            envelope: self.envelope,
            pending: None,
        }))
    }
}

/// An envelope value read by [`Tap`] and still to be handed to the target.
enum Pending {
    Int(Option<i64>),
    Text(Option<String>),
}

/// A map access that copies the envelope fields aside as they pass.
struct Tap<'e, A> {
    inner: A,
    envelope: &'e mut Envelope,
    pending: Option<Pending>,
}

/// A map key, borrowed from the input when it has no escapes.
pub(crate) struct Key<'de>(std::borrow::Cow<'de, str>);

impl Key<'_> {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de, A: serde::de::MapAccess<'de>> serde::de::MapAccess<'de> for Tap<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        use serde::de::value::{BorrowedStrDeserializer, StringDeserializer};
        let Some(Key(key)) = self.inner.next_key::<Key<'de>>()? else {
            return Ok(None);
        };
        self.pending = match key.as_ref() {
            "ErrorCode" => {
                let v: Option<i64> = self.inner.next_value()?;
                self.envelope.error_code = v;
                Some(Pending::Int(v))
            }
            "ActionStatus" | "ErrorInfo" | "ErrorDisplay" => {
                let v: Option<String> = self.inner.next_value()?;
                let slot = match key.as_ref() {
                    "ActionStatus" => &mut self.envelope.action_status,
                    "ErrorInfo" => &mut self.envelope.error_info,
                    _ => &mut self.envelope.error_display,
                };
                slot.clone_from(&v);
                Some(Pending::Text(v))
            }
            _ => None,
        };
        match key {
            std::borrow::Cow::Borrowed(k) => seed.deserialize(BorrowedStrDeserializer::new(k)),
            std::borrow::Cow::Owned(k) => seed.deserialize(StringDeserializer::new(k)),
        }
        .map(Some)
    }

    fn next_value_seed<V: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, A::Error> {
        use serde::de::value::{I64Deserializer, StringDeserializer, UnitDeserializer};
        match self.pending.take() {
            None => self.inner.next_value_seed(seed),
            Some(Pending::Int(Some(v))) => seed.deserialize(I64Deserializer::new(v)),
            Some(Pending::Text(Some(v))) => seed.deserialize(StringDeserializer::new(v)),
            Some(Pending::Int(None) | Pending::Text(None)) => {
                seed.deserialize(UnitDeserializer::new())
            }
        }
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// The envelope, reading past every other field without building it.
struct EnvelopeOnly {
    envelope: Envelope,
}

impl<'de> Deserialize<'de> for EnvelopeOnly {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = EnvelopeOnly;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object with ErrorCode")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut env = Envelope::default();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match key.as_ref() {
                        "ActionStatus" => env.action_status = map.next_value()?,
                        "ErrorCode" => env.error_code = map.next_value()?,
                        "ErrorInfo" => env.error_info = map.next_value()?,
                        "ErrorDisplay" => env.error_display = map.next_value()?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(EnvelopeOnly { envelope: env })
            }
        }
        d.deserialize_map(V)
    }
}

pub(crate) fn decode_error(endpoint: &str, message: &str, body: &[u8]) -> Error {
    Error::Decode(DecodeError {
        endpoint: endpoint.to_string(),
        message: message.to_string(),
        snippet: snippet(body, SNIPPET_CHARS),
    })
}

#[cfg(test)]
thread_local! {
    static VALIDATIONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How many account ids this thread has validated (tests of "validate once").
#[cfg(test)]
pub(crate) fn validations() -> usize {
    VALIDATIONS.with(|v| v.get())
}

/// Checks one account id: non-empty and at most 32 bytes.
pub fn validate_account(field: &str, id: &str) -> Result<(), Error> {
    #[cfg(test)]
    VALIDATIONS.with(|v| v.set(v.get() + 1));
    // Fast path: 1–32 bytes of printable ASCII, the usual UserID.
    if !id.is_empty()
        && id.len() <= MAX_ACCOUNT_BYTES
        && id.bytes().all(|b| (0x20..0x7f).contains(&b))
    {
        return Ok(());
    }
    if id.is_empty() {
        return Err(Error::invalid(field, "account id is empty"));
    }
    if id.len() > MAX_ACCOUNT_BYTES {
        return Err(Error::invalid(
            field,
            format!(
                "account id is {} bytes; at most {MAX_ACCOUNT_BYTES} are allowed",
                id.len()
            ),
        ));
    }
    let bytes = id.as_bytes();
    // Control characters: C0 and DEL (one byte), C1 (0xC2 0x80..=0x9F in UTF-8).
    let control = bytes.iter().any(|&b| b < 0x20 || b == 0x7f)
        || bytes
            .windows(2)
            .any(|w| w[0] == 0xc2 && (0x80..=0x9f).contains(&w[1]));
    if control {
        return Err(Error::invalid(
            field,
            "account id contains a control character",
        ));
    }
    Ok(())
}

/// Checks a target list: non-empty, at most `max` ids, each valid.
pub(crate) fn validate_targets<S: AsRef<str>>(
    field: &str,
    ids: &[S],
    max: usize,
) -> Result<(), Error> {
    if ids.is_empty() {
        return Err(Error::invalid(field, "the list is empty"));
    }
    if ids.len() > max {
        return Err(Error::invalid(
            field,
            format!(
                "{} accounts in one request; at most {max} are allowed (Client splits longer lists)",
                ids.len()
            ),
        ));
    }
    for (i, id) in ids.iter().enumerate() {
        validate_account_at(field, i, id.as_ref())?;
    }
    Ok(())
}

/// Appends `s` to `out` as a JSON string, escaped byte for byte as
/// serde_json escapes it (`"`, `\\`, and control characters; nothing else).
pub(crate) fn push_json_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut rest = s.as_bytes();
    while let Some(at) = first_to_escape(rest) {
        out.extend_from_slice(&rest[..at]);
        let b = rest[at];
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 15)],
            ]),
        }
        rest = &rest[at + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

/// The index of the first byte of `b` a JSON string must escape (`"`, `\\`
/// or a control character), eight bytes at a time.
pub(crate) fn first_to_escape(b: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // Each byte's high bit set where the byte is zero (exact for the lowest
    // such byte, which is all that is used).
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let mut at = 0;
    while let Some(chunk) = b.get(at..at + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let hits = zero(w ^ (ONES * u64::from(b'"')))
            | zero(w ^ (ONES * u64::from(b'\\')))
            // Bytes below 0x20: subtracting 0x20 borrows into the high bit.
            | (w.wrapping_sub(ONES * 0x20) & !w & HIGH);
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    b[at..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|p| at + p)
}

/// The body of a batch request, `{"From_Account":from,"<field>":[...]}`, the
/// targets as strings or, `wrapped`, as `{"To_Account":target}` objects:
/// the bytes serde_json writes for the request structs, without serde.
pub(crate) fn batch_body<S: AsRef<str>>(
    from: &str,
    field: &str,
    to: &[S],
    wrapped: bool,
) -> Vec<u8> {
    let per = if wrapped { 18 } else { 3 };
    let size =
        24 + from.len() + field.len() + to.iter().map(|t| t.as_ref().len() + per).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(b"{\"From_Account\":");
    push_json_str(&mut out, from);
    out.extend_from_slice(b",\"");
    out.extend_from_slice(field.as_bytes());
    out.extend_from_slice(b"\":[");
    for (i, t) in to.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if wrapped {
            out.extend_from_slice(b"{\"To_Account\":");
            push_json_str(&mut out, t.as_ref());
            out.push(b'}');
        } else {
            push_json_str(&mut out, t.as_ref());
        }
    }
    out.extend_from_slice(b"]}");
    out
}

/// Checks the id at `index` of the list `field`, naming it `field[index]`.
pub(crate) fn validate_account_at(field: &str, index: usize, id: &str) -> Result<(), Error> {
    // Formatting the field name only on failure keeps the happy path allocation-free.
    validate_account("", id).map_err(|e| match e {
        Error::InvalidInput(mut inv) => {
            inv.field = format!("{field}[{index}] ({id:?})");
            Error::InvalidInput(inv)
        }
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_in_decimal() {
        for n in [
            0,
            1,
            9,
            10,
            99999999,
            1400000000,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut s = String::from("x");
            push_decimal(&mut s, n);
            assert_eq!(s, format!("x{n}"));
        }
    }

    #[test]
    fn json_strings_are_escaped_as_serde_json_escapes_them() {
        let every: String = (0u8..=0x7f)
            .map(char::from)
            .chain("é\u{2028}😀".chars())
            .collect();
        for s in [every.as_str(), "", "plain", "a\"b\\c"] {
            let mut out = Vec::new();
            push_json_str(&mut out, s);
            assert_eq!(out, serde_json::to_vec(s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn url_matches_the_documented_sample() {
        let url = Context {
            base_url: "https://xxxxxx/",
            sdkappid: 88888888,
            identifier: "admin",
            usersig: "xxx",
            random: 99999999,
        }
        .url("follow/follow_delete");
        assert_eq!(
            url,
            "https://xxxxxx/v4/follow/follow_delete?sdkappid=88888888&identifier=admin&usersig=xxx&random=99999999&contenttype=json"
        );
    }

    #[test]
    fn query_values_are_percent_encoded_but_usersig_alphabet_is_kept() {
        let url = Context {
            base_url: "http://h",
            sdkappid: 1,
            identifier: "ad min&x=é",
            usersig: "eJy*A-_z",
            random: u32::MAX,
        }
        .url("a/b");
        assert!(url.contains("identifier=ad%20min%26x%3D%C3%A9&"), "{url}");
        assert!(url.contains("usersig=eJy*A-_z&"), "{url}");
        assert!(url.contains("random=4294967295&"), "{url}");
    }

    #[test]
    fn success_needs_error_code_zero_and_action_status_may_be_absent() {
        #[derive(Deserialize)]
        struct Empty {}
        assert!(parse_response::<Empty>(200, br#"{"ErrorCode":0}"#).is_ok());
        assert!(parse_response::<Empty>(200, br#"{"ActionStatus":"OK"}"#).is_ok());
        let e = parse_response::<Empty>(200, br#"{"ActionStatus":"FAIL","ErrorCode":70001,"ErrorInfo":"expired","ErrorDisplay":"d"}"#)
            .err()
            .unwrap();
        assert_eq!(e, Error::Api(ApiError::new(70001, "expired", "d")));
        let e = parse_response::<Empty>(200, br#"{"foo":1}"#).err().unwrap();
        assert!(matches!(e, Error::Decode(_)), "{e}");
        let e = parse_response::<Empty>(200, br#"{"ActionStatus":"FAIL","ErrorCode":0}"#)
            .err()
            .unwrap();
        assert!(matches!(e, Error::Decode(_)), "{e}");
    }

    #[test]
    fn non_200_and_non_json_are_typed_errors() {
        #[derive(Deserialize, Debug)]
        struct Empty {}
        match parse_response::<Empty>(502, b"<html>Bad Gateway</html>") {
            Err(Error::HttpStatus {
                status: 502,
                snippet,
            }) => assert!(snippet.contains("Bad Gateway")),
            other => panic!("{other:?}"),
        }
        match parse_response::<Empty>(200, b"<html>oops") {
            Err(Error::Decode(d)) => {
                assert!(d.message.contains("line 1 column"), "{}", d.message);
                assert_eq!(d.snippet, "<html>oops");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_response::<Empty>(200, b""),
            Err(Error::Decode(_))
        ));
        assert!(matches!(
            parse_response::<Empty>(200, b"[1,2]"),
            Err(Error::Decode(_))
        ));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%26c"), "a b&c");
        assert_eq!(percent_decode("eJy*A-_z"), "eJy*A-_z");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn one_pass_parse_keeps_envelope_fields_visible_to_the_target() {
        let v: serde_json::Value = parse_response(
            200,
            br#"{"A":1,"ErrorCode":0,"ErrorInfo":null,"ActionStatus":"OK","B":[1,{"ErrorCode":5}]}"#,
        )
        .unwrap();
        assert_eq!(v["ErrorCode"], 0);
        assert_eq!(v["ErrorInfo"], serde_json::Value::Null);
        assert_eq!(
            v["B"][1]["ErrorCode"], 5,
            "nested fields are not the envelope"
        );
        #[derive(Deserialize, Debug)]
        struct WithCode {
            #[serde(rename = "ErrorCode")]
            code: i64,
            #[serde(rename = "Need")]
            need: Vec<u8>,
        }
        let w: WithCode = parse_response(200, br#"{"Need":[1],"ErrorCode":0}"#).unwrap();
        assert_eq!((w.code, w.need), (0, vec![1]));
        // An error reply without the success fields is the API error, wherever ErrorCode stands.
        for body in [
            &br#"{"ErrorCode":30001,"ErrorInfo":"bad"}"#[..],
            br#"{"ErrorInfo":"bad","ErrorCode":30001}"#,
            br#"{"Need":"not a list","ErrorCode":30001,"ErrorInfo":"bad"}"#,
        ] {
            let e = parse_response::<WithCode>(200, body).unwrap_err();
            assert_eq!(e.code(), Some(30001), "{}", String::from_utf8_lossy(body));
        }
        // A success reply that lacks a required field is a decode error naming it.
        match parse_response::<WithCode>(200, br#"{"ErrorCode":0}"#) {
            Err(Error::Decode(d)) => assert!(d.message.contains("Need"), "{}", d.message),
            other => panic!("{other:?}"),
        }
        // Escaped keys and trailing garbage.
        let v: serde_json::Value = parse_response(200, br#"{"Error\u0043ode":0}"#).unwrap();
        assert_eq!(v["ErrorCode"], 0);
        assert!(matches!(
            parse_response::<serde_json::Value>(200, br#"{"ErrorCode":0} x"#),
            Err(Error::Decode(_))
        ));
        assert!(matches!(
            parse_response::<serde_json::Value>(200, br#"{"ErrorCode":"0"}"#),
            Err(Error::Decode(_))
        ));
    }

    #[test]
    fn account_validation() {
        assert!(validate_account("From_Account", "UserID_001").is_ok());
        assert!(validate_account("From_Account", &"a".repeat(32)).is_ok());
        let e = validate_account("From_Account", &"a".repeat(33)).unwrap_err();
        assert!(e.to_string().contains("33 bytes"), "{e}");
        assert!(validate_account("x", "").is_err());
        assert!(validate_account("x", "a\nb").is_err());
        // 11 three-byte characters are 33 bytes.
        assert!(validate_account("x", &"好".repeat(11)).is_err());
        let e = validate_targets("To_Account", &["a", "", "c"], 20).unwrap_err();
        assert!(e.to_string().contains("To_Account[1]"), "{e}");
        let e = validate_targets::<&str>("To_Account", &[], 20).unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
    }
}

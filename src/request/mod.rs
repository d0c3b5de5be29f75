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
//!
//! The request side lives here: the [`Request`] trait and the URL
//! ([`Context`]), the batch requests' JSON bodies, the account-id checks.
//! Replies are read beside the batch replies' reader; [`parse_response`]
//! is re-exported here, where users of the sans-IO pieces look for it.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::Error;

mod body;
mod validate;

pub(crate) use body::{batch_body, first_to_escape};
pub use validate::validate_account;
#[cfg(test)]
pub(crate) use validate::validations;
pub(crate) use validate::{validate_account_at, validate_targets};

/// The receiver's path to the query decoder, which lives in
/// `server/query.rs`.
#[cfg(feature = "receiver")]
pub(crate) use crate::query::parse_query;
pub use crate::reply::envelope::parse_response;
/// [`parse_response`] with the endpoint's name in decode errors: the serde
/// reader alone, without the batch replies' one-pass reader.
///
/// Hidden: [`Request::parse`] is the way to read a reply with an endpoint's
/// name; this stays reachable for the fuzz targets and property tests that
/// compare the batch readers with serde.
#[doc(hidden)]
pub use crate::reply::envelope::parse_response_for;
pub(crate) use crate::reply::envelope::{decode_error, Key};

/// The longest account id (UserID) Tencent accepts, in bytes.
pub const MAX_ACCOUNT_BYTES: usize = 32;

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
                crate::error::Field::Other(Self::PATH),
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
}

//! Webhooks: Tencent calls your server after follows and unfollows.
//!
//! Framework-agnostic: hand [`Verifier::verify`] the raw query string and body
//! bytes of the POST, then answer with [`ack_ok`]. The verifier checks that
//! `SdkAppid` is your app's and, when a callback token is configured (feature
//! `usersig`), that `Sign` is the SHA-256 of the token followed by
//! `RequestTime`, compared in constant time, with `RequestTime` at most 60 s
//! away from now.
//!
//! ```
//! use tim_follow::callback::{self, Event, Verifier};
//!
//! let verifier = Verifier::new(1400000000).token("xxxxyyyy");
//! let query = "SdkAppid=1400000000&CallbackCommand=Follow.CallbackAfterFollowDelete\
//!              &contenttype=json&ClientIP=127.0.0.1&OptPlatform=RESTAPI\
//!              &Sign=17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061&RequestTime=1669872112";
//! let body = br#"{"CallbackCommand":"Follow.CallbackAfterFollowDelete","From_Account":"UserID_001",
//!                "To_Account":["UserID_002","UserID_003"],"EventTime":1702018343678}"#;
//! match verifier.verify_at(query, body, 1669872120)? {
//!     Event::FollowDelete(e) => assert_eq!(e.to_accounts, ["UserID_002", "UserID_003"]),
//!     other => panic!("{other:?}"),
//! }
//! assert_eq!(callback::ack_ok(), r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}"#);
//! # Ok::<(), callback::CallbackError>(())
//! ```
//!
//! To run the server as well, see the `receiver` module (feature
//! `receiver`), which verifies with this and acknowledges only handled
//! events.
//!
//! Only `RequestTime` is signed, not the body (that is Tencent's scheme): use
//! HTTPS for the callback URL so the body cannot be altered on the way.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::query::parse_query;

/// The command of the webhook after a follow.
pub const FOLLOW_ADD: &str = "Follow.CallbackAfterFollowAdd";
/// The command of the webhook after an unfollow.
pub const FOLLOW_DELETE: &str = "Follow.CallbackAfterFollowDelete";

/// A verified webhook.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// `Follow.CallbackAfterFollowAdd`: `from_account` followed `to_accounts`.
    FollowAdd(FollowEvent),
    /// `Follow.CallbackAfterFollowDelete`: `from_account` unfollowed `to_accounts`.
    FollowDelete(FollowEvent),
    /// Any other command, with its whole body.
    Other {
        /// `CallbackCommand`.
        command: String,
        /// The body as JSON.
        body: Value,
    },
}

/// A follow or unfollow event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FollowEvent {
    /// `From_Account`: who followed or unfollowed.
    pub from_account: String,
    /// The accounts followed (`FollowList[].To_Account`) or unfollowed (`To_Account[]`).
    pub to_accounts: Vec<String>,
    /// `EventTime`, Unix milliseconds.
    pub event_time_ms: u64,
}

/// Why a webhook was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallbackError {
    /// A required query parameter is missing (`SdkAppid`, `CallbackCommand`).
    MissingParameter(&'static str),
    /// `SdkAppid` is not this app's.
    SdkAppIdMismatch {
        /// This app's SDKAppID.
        expected: u64,
        /// The `SdkAppid` received.
        found: String,
    },
    /// A token is configured but the request has no `Sign` or `RequestTime`.
    MissingSignature,
    /// `Sign` does not match the token and `RequestTime`.
    BadSignature,
    /// `RequestTime` is not a number.
    BadRequestTime,
    /// `RequestTime` is older than the allowed skew (a replay?).
    TooOld {
        /// `RequestTime`.
        request_time: u64,
        /// The time it was checked at.
        now: u64,
    },
    /// `RequestTime` is further in the future than the allowed skew.
    FromFuture {
        /// `RequestTime`.
        request_time: u64,
        /// The time it was checked at.
        now: u64,
    },
    /// `CallbackCommand` in the query and the body differ.
    CommandMismatch,
    /// A query parameter the check reads appears more than once: which one
    /// counts would be a guess, so none does.
    RepeatedParameter(&'static str),
    /// The body is larger than [`Verifier::max_body`] allows; it was not parsed.
    TooLarge {
        /// The body's size in bytes.
        size: usize,
        /// The bound.
        max: usize,
    },
    /// The body is not the documented JSON.
    Malformed(String),
}

impl fmt::Display for CallbackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallbackError::MissingParameter(p) => write!(f, "webhook query has no {p}"),
            CallbackError::SdkAppIdMismatch { expected, found } => {
                write!(f, "webhook is for SdkAppid {found:?}, not {expected}")
            }
            CallbackError::MissingSignature => {
                f.write_str("webhook has no Sign/RequestTime but a token is configured")
            }
            CallbackError::BadSignature => f.write_str("webhook Sign does not match the token"),
            CallbackError::BadRequestTime => f.write_str("webhook RequestTime is not a number"),
            CallbackError::TooOld { request_time, now } => {
                write!(
                    f,
                    "webhook RequestTime {request_time} is {}s old",
                    now.saturating_sub(*request_time)
                )
            }
            CallbackError::FromFuture { request_time, now } => write!(
                f,
                "webhook RequestTime {request_time} is {}s in the future",
                request_time.saturating_sub(*now)
            ),
            CallbackError::CommandMismatch => {
                f.write_str("CallbackCommand differs between query and body")
            }
            CallbackError::RepeatedParameter(p) => {
                write!(f, "webhook query has {p} more than once")
            }
            CallbackError::TooLarge { size, max } => {
                write!(
                    f,
                    "webhook body is {size} bytes; at most {max} are accepted"
                )
            }
            CallbackError::Malformed(why) => write!(f, "webhook body is malformed: {why}"),
        }
    }
}

impl std::error::Error for CallbackError {}

/// Checks and parses webhooks for one app.
#[derive(Clone)]
pub struct Verifier {
    sdkappid: u64,
    #[cfg_attr(not(feature = "usersig"), allow(dead_code))]
    token: Option<crate::secret::Secret>,
    max_skew: Duration,
    max_body: usize,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("sdkappid", &self.sdkappid)
            .field("token", &self.token)
            .field("max_skew", &self.max_skew)
            .field("max_body", &self.max_body)
            .finish()
    }
}

impl Verifier {
    /// A verifier for the app `sdkappid`, without a token: only `SdkAppid`
    /// is checked — which anyone who knows the SDKAppID can forge. Without
    /// a [`token`](Verifier::token), anyone who can reach the callback URL
    /// can post events: set the callback authentication token in the console
    /// and here.
    pub fn new(sdkappid: u64) -> Verifier {
        Verifier {
            sdkappid,
            token: None,
            max_skew: Duration::from_secs(60),
            max_body: 1 << 20,
        }
    }

    /// The largest body accepted, in bytes (default 1 MiB): a larger one is
    /// refused with [`CallbackError::TooLarge`] before it is parsed.
    pub fn max_body(mut self, bytes: usize) -> Verifier {
        self.max_body = bytes;
        self
    }

    /// The callback authentication token set in the console: every webhook
    /// must then carry a valid `Sign` and a recent `RequestTime`.
    ///
    /// Surrounding whitespace (a trailing newline read from a file, a space
    /// from a copy) is trimmed, as [`ClientBuilder::secret_key`] trims a
    /// SecretKey and `tim-follow webhooks` trims `TIM_CALLBACK_TOKEN` and
    /// `--token-file`: a token never holds any.
    ///
    /// [`ClientBuilder::secret_key`]: crate::ClientBuilder::secret_key
    #[cfg(feature = "usersig")]
    pub fn token(mut self, token: impl Into<String>) -> Verifier {
        self.token = Some(crate::secret::Secret::trimmed(token));
        self
    }

    /// How far `RequestTime` may be from now, either way (default 60 s).
    pub fn max_skew(mut self, skew: Duration) -> Verifier {
        self.max_skew = skew;
        self
    }

    /// Verifies and parses a webhook against the current time.
    pub fn verify(&self, query: &str, body: &[u8]) -> Result<Event, CallbackError> {
        self.verify_at(query, body, crate::clock::unix_now())
    }

    /// Verifies and parses a webhook as if the time were `now_unix_secs`.
    pub fn verify_at(
        &self,
        query: &str,
        body: &[u8],
        now_unix_secs: u64,
    ) -> Result<Event, CallbackError> {
        if body.len() > self.max_body {
            return Err(CallbackError::TooLarge {
                size: body.len(),
                max: self.max_body,
            });
        }
        let query = parse_query(query.trim_start_matches('?'));
        for name in ["SdkAppid", "CallbackCommand", "Sign", "RequestTime"] {
            if query.iter().filter(|(n, _)| n == name).count() > 1 {
                return Err(CallbackError::RepeatedParameter(name));
            }
        }
        let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let app = get("SdkAppid").ok_or(CallbackError::MissingParameter("SdkAppid"))?;
        if app.parse::<u64>().ok() != Some(self.sdkappid) {
            return Err(CallbackError::SdkAppIdMismatch {
                expected: self.sdkappid,
                found: app.chars().take(32).collect(),
            });
        }
        #[cfg(feature = "usersig")]
        if let Some(token) = &self.token {
            let (Some(sign), Some(time)) = (get("Sign"), get("RequestTime")) else {
                return Err(CallbackError::MissingSignature);
            };
            let request_time: u64 = time.parse().map_err(|_| CallbackError::BadRequestTime)?;
            let expected = sign_hex(token.expose(), request_time);
            if !crate::secret::constant_time_eq(
                expected.as_bytes(),
                sign.to_ascii_lowercase().as_bytes(),
            ) {
                return Err(CallbackError::BadSignature);
            }
            let skew = self.max_skew.as_secs();
            if request_time.saturating_add(skew) < now_unix_secs {
                return Err(CallbackError::TooOld {
                    request_time,
                    now: now_unix_secs,
                });
            }
            if request_time > now_unix_secs.saturating_add(skew) {
                return Err(CallbackError::FromFuture {
                    request_time,
                    now: now_unix_secs,
                });
            }
        }
        #[cfg(not(feature = "usersig"))]
        let _ = now_unix_secs;
        let command =
            get("CallbackCommand").ok_or(CallbackError::MissingParameter("CallbackCommand"))?;
        parse_event(command, body)
    }
}

/// Parses a webhook body without any check. `command` is `CallbackCommand`.
pub fn parse_event(command: &str, body: &[u8]) -> Result<Event, CallbackError> {
    // The follow events are read straight into their types; only other
    // commands, kept as raw JSON, build a whole `Value`.
    match command {
        FOLLOW_ADD | FOLLOW_DELETE => parse_follow(command, body),
        other => parse_other(other, body),
    }
}

fn malformed(e: serde_json::Error) -> CallbackError {
    CallbackError::Malformed(e.to_string())
}

fn missing(field: &str) -> CallbackError {
    CallbackError::Malformed(format!("missing field `{field}`"))
}

/// `Ok` unless the body names a command other than the request's.
fn same_command(command: &str, body_command: Option<&str>) -> Result<(), CallbackError> {
    match body_command {
        Some(c) if c != command => Err(CallbackError::CommandMismatch),
        _ => Ok(()),
    }
}

/// An entry of `FollowList`.
#[derive(Deserialize)]
struct Target {
    #[serde(rename = "To_Account")]
    to_account: String,
}

/// Both follow events' fields, each optional so that the command is
/// compared before the fields are required.
#[derive(Deserialize)]
struct Fields {
    #[serde(rename = "CallbackCommand", default)]
    command: Option<String>,
    #[serde(rename = "From_Account", default)]
    from_account: Option<String>,
    #[serde(rename = "FollowList", default)]
    follow_list: Option<Vec<Target>>,
    #[serde(rename = "To_Account", default)]
    to_account: Option<Vec<String>>,
    #[serde(rename = "EventTime", default)]
    event_time: Option<u64>,
}

/// [`parse_event`] for [`FOLLOW_ADD`] and [`FOLLOW_DELETE`].
fn parse_follow(command: &str, body: &[u8]) -> Result<Event, CallbackError> {
    let f: Fields = serde_json::from_slice(body).map_err(malformed)?;
    same_command(command, f.command.as_deref())?;
    let to_accounts = if command == FOLLOW_ADD {
        let list = f.follow_list.ok_or_else(|| missing("FollowList"))?;
        list.into_iter().map(|t| t.to_account).collect()
    } else {
        f.to_account.ok_or_else(|| missing("To_Account"))?
    };
    let event = FollowEvent {
        from_account: f.from_account.ok_or_else(|| missing("From_Account"))?,
        to_accounts,
        event_time_ms: f.event_time.ok_or_else(|| missing("EventTime"))?,
    };
    Ok(if command == FOLLOW_ADD {
        Event::FollowAdd(event)
    } else {
        Event::FollowDelete(event)
    })
}

/// [`parse_event`] for any other command: the body kept as a JSON object.
fn parse_other(command: &str, body: &[u8]) -> Result<Event, CallbackError> {
    let value: Value = serde_json::from_slice(body).map_err(malformed)?;
    if !value.is_object() {
        return Err(CallbackError::Malformed(
            "the body is not a JSON object".into(),
        ));
    }
    same_command(
        command,
        value.get("CallbackCommand").and_then(Value::as_str),
    )?;
    Ok(Event::Other {
        command: command.to_string(),
        body: value,
    })
}

/// `Sign` for a token and a `RequestTime`: lowercase hex SHA-256 of the
/// token immediately followed by the decimal time.
///
/// ```
/// assert_eq!(
///     tim_follow::callback::sign_hex("xxxxyyyy", 1669872112),
///     "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"
/// );
/// ```
#[cfg(feature = "usersig")]
pub fn sign_hex(token: &str, request_time: u64) -> String {
    let digest = hmac_sha256::Hash::hash(format!("{token}{request_time}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The reply body that acknowledges a webhook.
pub fn ack_ok() -> &'static str {
    r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}"#
}

/// A failure reply body (Tencent ignores the code of after-event webhooks,
/// but logs it).
pub fn ack_fail(code: i64, info: &str) -> String {
    serde_json::json!({"ActionStatus": "FAIL", "ErrorCode": code, "ErrorInfo": info}).to_string()
}

#[cfg(all(test, feature = "usersig"))]
mod tests {
    use super::*;

    /// A query for `State.StateChange` signed with `token` at `time`.
    fn signed(token: &str, time: u64) -> String {
        format!(
            "SdkAppid=1400000000&CallbackCommand=State.StateChange&Sign={}&RequestTime={time}",
            sign_hex(token, time)
        )
    }

    #[test]
    fn the_token_is_trimmed_like_a_secret_key() {
        let body = br#"{"CallbackCommand":"State.StateChange"}"#;
        let time = 1_669_872_112;
        for given in ["tok\n", " tok", "\ttok \r\n", "tok"] {
            let v = Verifier::new(1400000000).token(given);
            assert!(
                v.verify_at(&signed("tok", time), body, time).is_ok(),
                "{given:?}"
            );
            // The whitespace is not part of the key: a Sign made with it fails.
            if given != "tok" {
                assert!(
                    matches!(
                        v.verify_at(&signed(given, time), body, time),
                        Err(CallbackError::BadSignature)
                    ),
                    "{given:?}"
                );
            }
        }
        // Whitespace inside the token is kept.
        let v = Verifier::new(1400000000).token(" t ok ");
        assert!(v.verify_at(&signed("t ok", time), body, time).is_ok());
        assert!(v.verify_at(&signed("tok", time), body, time).is_err());
    }
}

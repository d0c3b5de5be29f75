//! The envelope every reply carries (`ActionStatus`, `ErrorCode`,
//! `ErrorInfo`, `ErrorDisplay`) and the serde reader of any reply, which
//! captures the envelope while it builds the typed body.

use serde::de::{DeserializeOwned, DeserializeSeed, IgnoredAny};
use serde::Deserialize;

use crate::error::{snippet, ApiError, DecodeError, Error};

/// How many characters of an undecodable body an error shows.
const SNIPPET_CHARS: usize = 120;

/// The common fields of every response, as read. Crate-private: users get
/// the envelope's verdict as [`Error::Api`] or success, never the fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct Envelope {
    /// `ActionStatus`: `OK` or `FAIL`; may be absent.
    #[serde(rename = "ActionStatus", default)]
    pub(crate) action_status: Option<String>,
    /// `ErrorCode`: 0 on success.
    #[serde(rename = "ErrorCode", default)]
    pub(crate) error_code: Option<i64>,
    /// `ErrorInfo`.
    #[serde(rename = "ErrorInfo", default)]
    pub(crate) error_info: Option<String>,
    /// `ErrorDisplay`.
    #[serde(rename = "ErrorDisplay", default)]
    pub(crate) error_display: Option<String>,
}

impl Envelope {
    /// Checks the envelope: `Ok` when `ErrorCode` is 0 (or absent with
    /// `ActionStatus` `OK`), the API error otherwise.
    pub(crate) fn check(&self, endpoint: &str, body: &[u8]) -> Result<(), Error> {
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
mod tests {
    use super::*;

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
}

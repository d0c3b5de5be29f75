//! UserSig version 2 (TLSSigAPIv2, symmetric key): generation and verification.
//!
//! A UserSig is compressed, signed JSON: the fields `TLS.ver`, `TLS.identifier`,
//! `TLS.sdkappid`, `TLS.expire`, `TLS.time` and `TLS.sig`, where `TLS.sig` is the
//! standard-base64 HMAC-SHA256, keyed with the SecretKey's UTF-8 bytes, of
//!
//! ```text
//! TLS.identifier:{identifier}\nTLS.sdkappid:{sdkappid}\nTLS.time:{time}\nTLS.expire:{expire}\n
//! ```
//!
//! The JSON is zlib-compressed, base64-encoded, and `+ / =` are replaced by `* - _`.
//!
//! ```
//! use std::time::Duration;
//! use tim_follow::usersig;
//!
//! let key = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
//! let sig = usersig::generate_at(1400000000, key, "xiaojun", Duration::from_secs(86400), 1_700_000_000);
//! let claims = usersig::verify_at(&sig, 1400000000, key, "xiaojun", 1_700_000_100)?;
//! assert_eq!(claims.expires_at(), 1_700_086_400);
//! assert!(usersig::verify_at(&sig, 1400000000, key, "xiaojun", 1_800_000_000).is_err());
//! # Ok::<(), usersig::VerifyError>(())
//! ```
//!
//! Verification accepts the signatures of every official library: any JSON
//! key order and spacing, numbers or numeric strings, and any zlib level
//! including stored (uncompressed) blocks. Like the official Go verifier, a
//! missing `TLS.time` or `TLS.expire` reads as 0 (the Go library leaves out
//! zero values; the HMAC still covers them). Like it too, [`verify`] refuses a
//! signature that carries a `TLS.userbuf` (a PrivateMapKey is not a UserSig);
//! [`verify_with_userbuf`] checks those.
//!
//! A UserSig longer than 8 KiB, or one that inflates past 16 KiB, is refused
//! as malformed before any JSON is read: a small input cannot make the
//! verifier allocate more.

use std::fmt;
use std::time::Duration;

use crate::clock::unix_now;
use crate::secret::constant_time_eq;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;

/// The largest inflated UserSig accepted by [`verify`], in bytes.
const MAX_INFLATED: usize = 16 * 1024;
/// The longest UserSig accepted by [`verify`], in characters.
const MAX_SIG_CHARS: usize = 8 * 1024;

const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Generates a UserSig valid for `expire` from now.
///
/// `key` is the app's SecretKey as shown in the console, used as its UTF-8
/// bytes (not hex-decoded).
pub fn generate(sdkappid: u64, key: &str, identifier: &str, expire: Duration) -> String {
    generate_at(sdkappid, key, identifier, expire, unix_now())
}

/// Generates a UserSig as if the time were `now_unix_secs`.
pub fn generate_at(
    sdkappid: u64,
    key: &str,
    identifier: &str,
    expire: Duration,
    now_unix_secs: u64,
) -> String {
    let expire = expire.as_secs();
    // TLS.sig: standard base64 of the HMAC-SHA256 over the content string.
    let sig = STANDARD.encode(hmac_raw(
        key,
        identifier,
        sdkappid,
        now_unix_secs,
        expire,
        None,
    ));
    // Compact JSON in the order of the Java library; the identifier is escaped by serde_json.
    let json = format!(
        "{{\"TLS.ver\":\"2.0\",\"TLS.identifier\":{},\"TLS.sdkappid\":{sdkappid},\"TLS.expire\":{expire},\"TLS.time\":{now_unix_secs},\"TLS.sig\":\"{sig}\"}}",
        serde_json::Value::from(identifier)
    );
    let compressed = miniz_oxide::deflate::compress_to_vec_zlib(json.as_bytes(), 6);
    to_tencent_base64(&STANDARD.encode(compressed))
}

fn hmac_raw(
    key: &str,
    identifier: &str,
    sdkappid: u64,
    time: u64,
    expire: u64,
    userbuf_b64: Option<&str>,
) -> [u8; 32] {
    let mut content = format!(
        "TLS.identifier:{identifier}\nTLS.sdkappid:{sdkappid}\nTLS.time:{time}\nTLS.expire:{expire}\n"
    );
    if let Some(ub) = userbuf_b64 {
        content.push_str("TLS.userbuf:");
        content.push_str(ub);
        content.push('\n');
    }
    hmac_sha256::HMAC::mac(content.as_bytes(), key.as_bytes())
}

fn to_tencent_base64(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '+' => '*',
            '/' => '-',
            '=' => '_',
            c => c,
        })
        .collect()
}

fn from_tencent_base64(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '*' => '+',
            '-' => '/',
            '_' => '=',
            c => c,
        })
        .collect()
}

/// The decoded content of a valid UserSig.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Claims {
    /// `TLS.ver`, normally `2.0`.
    pub version: String,
    /// `TLS.identifier`: the UserID it was made for.
    pub identifier: String,
    /// `TLS.sdkappid`.
    pub sdkappid: u64,
    /// `TLS.time`: when it was made, Unix seconds.
    pub time: u64,
    /// `TLS.expire`: its validity in seconds from `time`.
    pub expire: u64,
    /// `TLS.userbuf`, decoded, when present.
    pub userbuf: Option<Vec<u8>>,
}

impl Claims {
    /// The last Unix second at which it is valid (`time + expire`).
    pub fn expires_at(&self) -> u64 {
        self.time.saturating_add(self.expire)
    }
}

impl fmt::Debug for Claims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claims")
            .field("version", &self.version)
            .field("identifier", &self.identifier)
            .field("sdkappid", &self.sdkappid)
            .field("time", &self.time)
            .field("expire", &self.expire)
            .field("userbuf_len", &self.userbuf.as_ref().map(Vec::len))
            .finish()
    }
}

/// Why a UserSig was rejected. Never contains the signature or the key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// Not a UserSig: empty, bad base64, bad zlib, bad JSON or a missing field.
    Malformed(String),
    /// The HMAC does not match: made with another SecretKey, or tampered with.
    BadSignature,
    /// Valid once, but `now` is past `time + expire`.
    Expired {
        /// `time + expire`.
        expired_at: u64,
        /// The time it was checked at.
        now: u64,
    },
    /// Made for another UserID.
    IdentifierMismatch {
        /// The UserID it was checked for.
        expected: String,
        /// `TLS.identifier`.
        found: String,
    },
    /// Made for another SDKAppID.
    SdkAppIdMismatch {
        /// The SDKAppID it was checked for.
        expected: u64,
        /// `TLS.sdkappid`.
        found: u64,
    },
    /// It carries a `TLS.userbuf` (a PrivateMapKey, for instance) where a
    /// plain UserSig was expected; use [`verify_with_userbuf`] for those.
    UnexpectedUserBuf,
    /// Its `TLS.userbuf` is missing or differs from the one expected.
    UserBufMismatch,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::Malformed(why) => write!(f, "malformed UserSig: {why}"),
            VerifyError::BadSignature => {
                f.write_str("UserSig signature mismatch (made with another SecretKey?)")
            }
            VerifyError::Expired { expired_at, now } => write!(
                f,
                "UserSig expired at {expired_at} (checked at {now}, {}s late)",
                now.saturating_sub(*expired_at)
            ),
            VerifyError::IdentifierMismatch { expected, found } => write!(
                f,
                "UserSig was made for identifier {found:?}, not {expected:?}"
            ),
            VerifyError::SdkAppIdMismatch { expected, found } => {
                write!(f, "UserSig was made for SDKAppID {found}, not {expected}")
            }
            VerifyError::UnexpectedUserBuf => f.write_str(
                "the signature carries a TLS.userbuf (a PrivateMapKey?), not a plain UserSig",
            ),
            VerifyError::UserBufMismatch => {
                f.write_str("the signature's TLS.userbuf is missing or not the one expected")
            }
        }
    }
}

impl std::error::Error for VerifyError {}

/// Verifies a UserSig against the current time.
pub fn verify(
    sig: &str,
    sdkappid: u64,
    key: &str,
    identifier: &str,
) -> Result<Claims, VerifyError> {
    verify_at(sig, sdkappid, key, identifier, unix_now())
}

/// Verifies a UserSig as if the time were `now_unix_secs`: decodes it, then
/// checks the SDKAppID, the identifier, that it carries no `TLS.userbuf`, the
/// HMAC and the expiry (`now > time + expire` is expired; equality is still
/// valid).
pub fn verify_at(
    sig: &str,
    sdkappid: u64,
    key: &str,
    identifier: &str,
    now_unix_secs: u64,
) -> Result<Claims, VerifyError> {
    verify_decoded(decode(sig)?, sdkappid, key, identifier, None, now_unix_secs)
}

/// Verifies a signature that carries a `TLS.userbuf` (such as a
/// PrivateMapKey) equal to `userbuf`, against the current time.
pub fn verify_with_userbuf(
    sig: &str,
    sdkappid: u64,
    key: &str,
    identifier: &str,
    userbuf: &[u8],
) -> Result<Claims, VerifyError> {
    verify_with_userbuf_at(sig, sdkappid, key, identifier, userbuf, unix_now())
}

/// [`verify_with_userbuf`] as if the time were `now_unix_secs`.
pub fn verify_with_userbuf_at(
    sig: &str,
    sdkappid: u64,
    key: &str,
    identifier: &str,
    userbuf: &[u8],
    now_unix_secs: u64,
) -> Result<Claims, VerifyError> {
    let decoded = decode(sig)?;
    verify_decoded(
        decoded,
        sdkappid,
        key,
        identifier,
        Some(userbuf),
        now_unix_secs,
    )
}

fn verify_decoded(
    (claims, sig_bytes, userbuf_b64): Decoded,
    sdkappid: u64,
    key: &str,
    identifier: &str,
    userbuf: Option<&[u8]>,
    now_unix_secs: u64,
) -> Result<Claims, VerifyError> {
    if claims.sdkappid != sdkappid {
        return Err(VerifyError::SdkAppIdMismatch {
            expected: sdkappid,
            found: claims.sdkappid,
        });
    }
    if claims.identifier != identifier {
        return Err(VerifyError::IdentifierMismatch {
            expected: identifier.to_string(),
            found: claims.identifier,
        });
    }
    let expected = hmac_raw(
        key,
        &claims.identifier,
        claims.sdkappid,
        claims.time,
        claims.expire,
        userbuf_b64.as_deref(),
    );
    match (userbuf, claims.userbuf.as_deref()) {
        (None, None) => {}
        (None, Some(_)) => return Err(VerifyError::UnexpectedUserBuf),
        (Some(want), Some(got)) if want == got => {}
        (Some(_), _) => return Err(VerifyError::UserBufMismatch),
    }
    if !constant_time_eq(&expected, &sig_bytes) {
        return Err(VerifyError::BadSignature);
    }
    if now_unix_secs > claims.expires_at() {
        return Err(VerifyError::Expired {
            expired_at: claims.expires_at(),
            now: now_unix_secs,
        });
    }
    Ok(claims)
}

/// Decodes a UserSig without checking it.
pub fn decode_claims(sig: &str) -> Result<Claims, VerifyError> {
    decode(sig).map(|(c, _, _)| c)
}

/// Decodes the JSON inside a UserSig, as text.
pub fn decode_json(sig: &str) -> Result<String, VerifyError> {
    let bytes = inflate(sig)?;
    String::from_utf8(bytes).map_err(|_| VerifyError::Malformed("JSON is not UTF-8".into()))
}

fn inflate(sig: &str) -> Result<Vec<u8>, VerifyError> {
    let malformed = |s: &str| VerifyError::Malformed(s.to_string());
    if sig.is_empty() {
        return Err(malformed("empty"));
    }
    if sig.len() > MAX_SIG_CHARS {
        return Err(malformed("longer than 8 KiB"));
    }
    let compressed = LENIENT
        .decode(from_tencent_base64(sig.trim()))
        .map_err(|_| malformed("not Tencent base64"))?;
    miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&compressed, MAX_INFLATED)
        .map_err(|_| malformed("not a zlib stream (or inflates past 16 KiB)"))
}

type Decoded = (Claims, Vec<u8>, Option<String>);

/// The string field `name` of a UserSig's JSON.
fn claim_text(
    obj: &serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Result<String, VerifyError> {
    match obj.get(name) {
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(VerifyError::Malformed(format!("{name} is not a string"))),
        None => Err(VerifyError::Malformed(format!("{name} is missing"))),
    }
}

/// The whole-number field `name` of a UserSig's JSON (a number or a string
/// of digits); absent is 0 where `missing_is_zero`.
fn claim_number(
    obj: &serde_json::Map<String, serde_json::Value>,
    name: &str,
    missing_is_zero: bool,
) -> Result<u64, VerifyError> {
    let not_whole = || VerifyError::Malformed(format!("{name} is not a whole number"));
    match obj.get(name) {
        None if missing_is_zero => Ok(0),
        Some(serde_json::Value::Number(n)) => n.as_u64().ok_or_else(not_whole),
        Some(serde_json::Value::String(s)) => s.parse().map_err(|_| not_whole()),
        Some(_) => Err(VerifyError::Malformed(format!("{name} is not a number"))),
        None => Err(VerifyError::Malformed(format!("{name} is missing"))),
    }
}

fn decode(sig: &str) -> Result<Decoded, VerifyError> {
    let malformed = |s: &str| VerifyError::Malformed(s.to_string());
    let json = inflate(sig)?;
    let value: serde_json::Value =
        serde_json::from_slice(&json).map_err(|_| malformed("content is not JSON"))?;
    let obj = value
        .as_object()
        .ok_or_else(|| malformed("content is not a JSON object"))?;
    let text = |name: &str| claim_text(obj, name);
    let number = |name: &str, missing_is_zero: bool| claim_number(obj, name, missing_is_zero);
    let version = text("TLS.ver")?;
    let identifier = text("TLS.identifier")?;
    let sdkappid = number("TLS.sdkappid", false)?;
    // The official Go library leaves out zero values, and its verifier reads them as 0.
    let time = number("TLS.time", true)?;
    let expire = number("TLS.expire", true)?;
    let sig_b64 = text("TLS.sig")?;
    let sig_bytes = LENIENT
        .decode(sig_b64.as_bytes())
        .map_err(|_| malformed("TLS.sig is not base64"))?;
    let userbuf_b64 = match obj.get("TLS.userbuf") {
        None => None,
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(malformed("TLS.userbuf is not a string")),
    };
    let userbuf = match &userbuf_b64 {
        None => None,
        Some(s) => Some(
            LENIENT
                .decode(s.as_bytes())
                .map_err(|_| malformed("TLS.userbuf is not base64"))?,
        ),
    };
    Ok((
        Claims {
            version,
            identifier,
            sdkappid,
            time,
            expire,
            userbuf,
        },
        sig_bytes,
        userbuf_b64,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
    const VECTOR_A: &str = "eJyrVgrxCdYrSy1SslIy0jNQ0gHzM1NS80oy0zLBwhWZiflZpXlQqeKU7MSCgswUJStDEwMogMikVhRkFqUCxU1NTY3goiWZuSAxc1S1xZnpQJN9yhzNU-Q9y83Tg4vzirPLwqqcXAL8nZ1dkkr9nMtN3D3KQ5wNkjILtJ1MbJVqAa3HMfI_";
    const VECTOR_A_JSON: &str = r#"{"TLS.ver":"2.0","TLS.identifier":"xiaojun","TLS.sdkappid":1400000000,"TLS.expire":15552000,"TLS.time":1700000000,"TLS.sig":"LvA7d/Iw7gSsnskvVzBDPOCCDbuNCw4GHwTC0bip+B4="}"#;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn vector_a_hmac_and_tls_sig() {
        let raw = hmac_raw(KEY, "xiaojun", 1400000000, 1700000000, 15552000, None);
        assert_eq!(
            hex(&raw),
            "2ef03b77f230ee04ac9ec92f5730433ce0820dbb8d0b0e061f04c2d1b8a9f81e"
        );
        assert_eq!(
            STANDARD.encode(hmac_raw(
                KEY, "xiaojun", 1400000000, 1700000000, 15552000, None
            )),
            "LvA7d/Iw7gSsnskvVzBDPOCCDbuNCw4GHwTC0bip+B4="
        );
    }

    #[test]
    fn vector_b_tls_sig() {
        assert_eq!(
            STANDARD.encode(hmac_raw(
                KEY,
                "administrator",
                1400000000,
                1600000000,
                86400,
                None
            )),
            "los0WU+OsAqKAMeEseEb6GMMPAPQp6knnzQ5XIlQj0U="
        );
    }

    #[test]
    fn vector_a_decodes_to_its_exact_json_and_verifies() {
        assert_eq!(decode_json(VECTOR_A).unwrap(), VECTOR_A_JSON);
        let c = verify_at(VECTOR_A, 1400000000, KEY, "xiaojun", 1700000000).unwrap();
        assert_eq!(
            (c.time, c.expire, c.version.as_str()),
            (1700000000, 15552000, "2.0")
        );
        // The last valid second is time + expire; one more is expired.
        assert!(verify_at(VECTOR_A, 1400000000, KEY, "xiaojun", 1715552000).is_ok());
        assert_eq!(
            verify_at(VECTOR_A, 1400000000, KEY, "xiaojun", 1715552001),
            Err(VerifyError::Expired {
                expired_at: 1715552000,
                now: 1715552001
            })
        );
    }

    #[test]
    fn generated_json_is_the_java_order_of_vector_a() {
        let sig = generate_at(
            1400000000,
            KEY,
            "xiaojun",
            Duration::from_secs(15552000),
            1700000000,
        );
        assert_eq!(decode_json(&sig).unwrap(), VECTOR_A_JSON);
        assert!(sig
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '*' | '-' | '_')));
    }

    #[test]
    fn stored_block_and_other_key_orders_are_accepted() {
        // As the Go library makes them: no compression, and Python-style spacing and order.
        let json = r#"{"TLS.ver": "2.0", "TLS.identifier": "xiaojun", "TLS.sdkappid": 1400000000, "TLS.time": 1700000000, "TLS.expire": 15552000, "TLS.sig": "LvA7d/Iw7gSsnskvVzBDPOCCDbuNCw4GHwTC0bip+B4="}"#;
        let stored = miniz_oxide::deflate::compress_to_vec_zlib(json.as_bytes(), 0);
        let sig = to_tencent_base64(&STANDARD.encode(&stored));
        assert!(verify_at(&sig, 1400000000, KEY, "xiaojun", 1700000001).is_ok());
        let best = miniz_oxide::deflate::compress_to_vec_zlib(json.as_bytes(), 9);
        let sig = to_tencent_base64(&STANDARD.encode(&best));
        assert!(verify_at(&sig, 1400000000, KEY, "xiaojun", 1700000001).is_ok());
    }

    #[test]
    fn every_verify_error() {
        let sig = generate_at(1400000000, KEY, "admin", Duration::from_secs(60), 1000);
        assert_eq!(
            verify_at(&sig, 1400000000, "other-key", "admin", 1000),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify_at(&sig, 1400000001, KEY, "admin", 1000),
            Err(VerifyError::SdkAppIdMismatch {
                expected: 1400000001,
                found: 1400000000
            })
        );
        assert!(matches!(
            verify_at(&sig, 1400000000, KEY, "bob", 1000),
            Err(VerifyError::IdentifierMismatch { .. })
        ));
        assert!(matches!(
            verify_at(&sig, 1400000000, KEY, "admin", 1061),
            Err(VerifyError::Expired { .. })
        ));
        for bad in ["", "!!!!", "eJyr", "AAAA"] {
            assert!(matches!(
                verify_at(bad, 1400000000, KEY, "admin", 1000),
                Err(VerifyError::Malformed(_))
            ));
        }
        // Valid zlib, but missing a field.
        let json = br#"{"TLS.ver":"2.0","TLS.identifier":"admin"}"#;
        let sig = to_tencent_base64(
            &STANDARD.encode(miniz_oxide::deflate::compress_to_vec_zlib(json, 6)),
        );
        let err = verify_at(&sig, 1400000000, KEY, "admin", 1000).unwrap_err();
        assert_eq!(
            err,
            VerifyError::Malformed("TLS.sdkappid is missing".into())
        );
        // A tampered expiry breaks the HMAC.
        let json = r#"{"TLS.ver":"2.0","TLS.identifier":"admin","TLS.sdkappid":1400000000,"TLS.expire":999999,"TLS.time":1000,"TLS.sig":"AAAA"}"#;
        let sig = to_tencent_base64(&STANDARD.encode(miniz_oxide::deflate::compress_to_vec_zlib(
            json.as_bytes(),
            6,
        )));
        assert_eq!(
            verify_at(&sig, 1400000000, KEY, "admin", 1000),
            Err(VerifyError::BadSignature)
        );
    }

    /// A signature over `json`'s claims with `userbuf_b64`, packed as the libraries do.
    fn pack(json: &str) -> String {
        to_tencent_base64(&STANDARD.encode(miniz_oxide::deflate::compress_to_vec_zlib(
            json.as_bytes(),
            6,
        )))
    }

    #[test]
    fn a_userbuf_is_refused_where_a_plain_usersig_is_expected() {
        let buf = b"room-42";
        let buf_b64 = STANDARD.encode(buf);
        let mac = STANDARD.encode(hmac_raw(
            KEY,
            "admin",
            1400000000,
            1000,
            600,
            Some(&buf_b64),
        ));
        let sig = pack(&format!(
            r#"{{"TLS.ver":"2.0","TLS.identifier":"admin","TLS.sdkappid":1400000000,"TLS.expire":600,"TLS.time":1000,"TLS.userbuf":"{buf_b64}","TLS.sig":"{mac}"}}"#
        ));
        assert_eq!(
            verify_at(&sig, 1400000000, KEY, "admin", 1000),
            Err(VerifyError::UnexpectedUserBuf)
        );
        let claims = verify_with_userbuf_at(&sig, 1400000000, KEY, "admin", buf, 1000).unwrap();
        assert_eq!(claims.userbuf.as_deref(), Some(&buf[..]));
        assert_eq!(
            verify_with_userbuf_at(&sig, 1400000000, KEY, "admin", b"room-43", 1000),
            Err(VerifyError::UserBufMismatch)
        );
        let plain = generate_at(1400000000, KEY, "admin", Duration::from_secs(600), 1000);
        assert_eq!(
            verify_with_userbuf_at(&plain, 1400000000, KEY, "admin", buf, 1000),
            Err(VerifyError::UserBufMismatch)
        );
    }

    #[test]
    fn zero_time_or_expire_left_out_as_the_go_library_does_reads_as_zero() {
        // TLS.time left out (0): valid until `expire`.
        let mac = STANDARD.encode(hmac_raw(KEY, "admin", 1400000000, 0, 5000, None));
        let sig = pack(&format!(
            r#"{{"TLS.ver":"2.0","TLS.identifier":"admin","TLS.sdkappid":1400000000,"TLS.expire":5000,"TLS.sig":"{mac}"}}"#
        ));
        let claims = verify_at(&sig, 1400000000, KEY, "admin", 4000).unwrap();
        assert_eq!((claims.time, claims.expire), (0, 5000));
        assert!(matches!(
            verify_at(&sig, 1400000000, KEY, "admin", 5001),
            Err(VerifyError::Expired { .. })
        ));
        // TLS.expire left out (0): valid only at `time` itself.
        let mac = STANDARD.encode(hmac_raw(KEY, "admin", 1400000000, 1000, 0, None));
        let sig = pack(&format!(
            r#"{{"TLS.ver":"2.0","TLS.identifier":"admin","TLS.sdkappid":1400000000,"TLS.time":1000,"TLS.sig":"{mac}"}}"#
        ));
        assert!(verify_at(&sig, 1400000000, KEY, "admin", 1000).is_ok());
        // A left-out field is still covered by the HMAC: claiming 0 for a real value fails.
        let mac = STANDARD.encode(hmac_raw(KEY, "admin", 1400000000, 1000, 600, None));
        let sig = pack(&format!(
            r#"{{"TLS.ver":"2.0","TLS.identifier":"admin","TLS.sdkappid":1400000000,"TLS.time":1000,"TLS.sig":"{mac}"}}"#
        ));
        assert_eq!(
            verify_at(&sig, 1400000000, KEY, "admin", 1000),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn a_small_signature_that_inflates_to_megabytes_is_refused() {
        let bomb = miniz_oxide::deflate::compress_to_vec_zlib(&vec![b' '; 4 << 20], 10);
        let sig = to_tencent_base64(&STANDARD.encode(&bomb));
        assert!(sig.len() < MAX_SIG_CHARS, "{} chars", sig.len());
        match verify_at(&sig, 1400000000, KEY, "admin", 1000) {
            Err(VerifyError::Malformed(why)) => assert!(why.contains("16 KiB"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn identifiers_with_quotes_are_escaped() {
        let sig = generate_at(1, "k", "a\"b", Duration::from_secs(10), 5);
        let c = verify_at(&sig, 1, "k", "a\"b", 5).unwrap();
        assert_eq!(c.identifier, "a\"b");
    }

    #[test]
    fn errors_and_claims_debug_never_show_the_sig_or_key() {
        let sig = generate_at(1, KEY, "admin", Duration::from_secs(10), 5);
        let c = verify_at(&sig, 1, KEY, "admin", 5).unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains(KEY));
        for e in [
            verify_at(&sig, 1, "x", "admin", 5).unwrap_err(),
            verify_at(&sig, 1, KEY, "admin", 50).unwrap_err(),
        ] {
            assert!(!e.to_string().contains(&sig) && !e.to_string().contains(KEY));
        }
    }
}

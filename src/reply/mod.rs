//! The replies of the batch endpoints, read strictly: one item reader for
//! every endpoint, which never takes a missing or mistyped field for success.
//!
//! Each item must carry `To_Account` (a string) and `ResultCode` (an
//! integer); an applied item (`ResultCode` 0) must also carry its payload's
//! fields (`FollowType` for follow_check, the three counts for
//! follow_get_info). An item that does not is kept, with
//! [`ReplyItem::problem`] naming the field, so that
//! [`Client`](crate::Client) reports that account `Unknown` — never
//! `Applied` — while the other accounts of the reply keep their answers.
//!
//! ```
//! use tim_follow::request::parse_response;
//! use tim_follow::{BatchReply, FollowType};
//!
//! let reply: BatchReply<FollowType> = parse_response(200, br#"{"ErrorCode":0,"ResultItem":[
//!     {"To_Account":"a","ResultCode":0,"FollowType":2},
//!     {"To_Account":"b","ResultCode":0}]}"#)?;
//! assert_eq!(reply.items[0].payload, Some(FollowType::Following));
//! assert_eq!(reply.items[1].payload, None);
//! assert!(reply.items[1].problem.as_deref().unwrap().contains("FollowType"));
//! # Ok::<(), tim_follow::Error>(())
//! ```

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::Error;

pub(crate) mod envelope;
mod scan;

/// How many items and replies each reader read on this thread (feature
/// `testkit`), for [`testkit::reader_paths`](crate::testkit::reader_paths):
/// the fixed-order pass, the one-pass reader's field-by-field items, and
/// whole replies left to serde.
#[cfg(feature = "testkit")]
pub(crate) mod paths {
    use std::cell::Cell;

    thread_local! {
        static COUNTS: Cell<[u64; 3]> = const { Cell::new([0; 3]) };
    }

    pub(crate) fn count(path: usize) {
        COUNTS.with(|c| {
            let mut v = c.get();
            v[path] += 1;
            c.set(v);
        });
    }

    pub(crate) fn get() -> [u64; 3] {
        COUNTS.with(Cell::get)
    }
}

/// The readers [`paths`] counts.
const FIXED_ORDER: usize = 0;
const KEYED: usize = 1;
const SERDE: usize = 2;

/// Counts a read by `path` (nothing without the `testkit` feature).
#[inline]
fn counted(_path: usize) {
    #[cfg(feature = "testkit")]
    paths::count(_path);
}

/// Reads the reply of a batch endpoint: a reply in the usual shape in one
/// pass ([`scan`]), anything else with serde
/// ([`envelope::parse_response_for`]), with the same result either way.
pub(crate) fn parse_batch<P: Payload>(
    endpoint: &str,
    http_status: u16,
    body: &[u8],
) -> Result<BatchReply<P>, Error> {
    if (200..300).contains(&http_status) {
        if let Some((reply, envelope)) = std::str::from_utf8(body).ok().and_then(scan::scan::<P>) {
            envelope.check(endpoint, body)?;
            return Ok(reply);
        }
    }
    counted(SERDE);
    envelope::parse_response_for(endpoint, http_status, body)
}

/// What an applied account of a batch endpoint reports, and the reply fields
/// it is read from. Implemented by `()` (follow_add, follow_delete),
/// [`FollowType`](crate::FollowType) (follow_check) and
/// [`FollowCounts`](crate::FollowCounts) (follow_get_info); sealed.
pub trait Payload: sealed::Sealed + Sized + Clone + fmt::Debug + PartialEq + Send {
    /// The reply field that lists the items: `ResultItem` or `FollowInfo`.
    const LIST_FIELD: &'static str;
    /// The integer fields an applied item must carry, in the order
    /// [`from_fields`](Payload::from_fields) takes them.
    const FIELDS: &'static [&'static str];

    /// The payload from the values of [`FIELDS`](Payload::FIELDS), or what is
    /// wrong with them.
    fn from_fields(values: &[i64]) -> Result<Self, String>;
}

pub(crate) mod sealed {
    /// Only this crate's payloads implement [`Payload`](super::Payload).
    pub trait Sealed {}
}

impl sealed::Sealed for () {}

impl Payload for () {
    const LIST_FIELD: &'static str = "ResultItem";
    const FIELDS: &'static [&'static str] = &[];
    fn from_fields(_: &[i64]) -> Result<(), String> {
        Ok(())
    }
}

/// The reply of a batch endpoint: one item per account, in the server's order.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BatchReply<P> {
    /// The items of [`Payload::LIST_FIELD`]; empty when the reply has none.
    pub items: Vec<ReplyItem<P>>,
}

/// One account's entry in a batch reply.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ReplyItem<P> {
    /// `To_Account` (empty when the item has none: see `problem`).
    pub to_account: String,
    /// `ResultCode`: 0 when applied.
    pub result_code: i64,
    /// `ResultInfo`: why it was refused; empty on success or when absent.
    pub result_info: String,
    /// The payload, when the item is applied and complete.
    pub payload: Option<P>,
    /// What the item lacks or has wrong, naming the field; such an item is
    /// neither applied nor refused.
    pub problem: Option<String>,
}

/// A JSON value read without failing on its type, so that one bad field
/// spoils one item, not the whole reply.
enum Loose {
    Int(i64),
    Str(String),
    Other(&'static str),
}

impl Loose {
    fn int(self, field: &str) -> Result<i64, String> {
        match self {
            Loose::Int(v) => Ok(v),
            Loose::Str(_) => Err(format!("{field} is a string, not an integer")),
            Loose::Other(what) => Err(format!("{field} is {what}, not an integer")),
        }
    }

    fn string(self, field: &str) -> Result<String, String> {
        match self {
            Loose::Str(s) => Ok(s),
            Loose::Int(_) => Err(format!("{field} is a number, not a string")),
            Loose::Other(what) => Err(format!("{field} is {what}, not a string")),
        }
    }
}

impl<'de> Deserialize<'de> for Loose {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Loose;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_i64<E>(self, v: i64) -> Result<Loose, E> {
                Ok(Loose::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Loose, E> {
                Ok(i64::try_from(v).map_or(Loose::Other("an integer out of range"), Loose::Int))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Loose, E> {
                Ok(Loose::Other("a fractional number"))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Loose, E> {
                Ok(Loose::Other("a boolean"))
            }
            fn visit_str<E>(self, v: &str) -> Result<Loose, E> {
                Ok(Loose::Str(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Loose, E> {
                Ok(Loose::Str(v))
            }
            fn visit_unit<E>(self) -> Result<Loose, E> {
                Ok(Loose::Other("null"))
            }
            fn visit_none<E>(self) -> Result<Loose, E> {
                Ok(Loose::Other("null"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Loose, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Loose::Other("an array"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Loose, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Loose::Other("an object"))
            }
        }
        d.deserialize_any(V)
    }
}

/// The fields of one item as they are read, before they are checked.
struct RawItem {
    to_account: Option<Loose>,
    result_code: Option<Loose>,
    result_info: Option<Loose>,
    payload: Vec<Option<Loose>>,
}

impl RawItem {
    /// Checks the fields; the first problem found is kept.
    fn finish<P: Payload>(self) -> ReplyItem<P> {
        let mut problem = None;
        let to_account = field(self.to_account, "To_Account", Loose::string, &mut problem);
        let result_code = field(self.result_code, "ResultCode", Loose::int, &mut problem);
        let result_info = match self.result_info {
            None => Some(String::new()),
            info => field(info, "ResultInfo", Loose::string, &mut problem),
        };
        let payload = match result_code {
            Some(0) => read_payload::<P>(self.payload)
                .map_err(|p| problem.get_or_insert(p))
                .ok(),
            _ => None,
        };
        ReplyItem {
            to_account: to_account.unwrap_or_default(),
            result_code: result_code.unwrap_or(-1),
            result_info: result_info.unwrap_or_default(),
            payload: payload.filter(|_| problem.is_none()),
            problem,
        }
    }
}

/// A required field read with `read`; a problem is noted in `problem` unless
/// one was noted before.
fn field<T>(
    value: Option<Loose>,
    name: &str,
    read: fn(Loose, &str) -> Result<T, String>,
    problem: &mut Option<String>,
) -> Option<T> {
    let read = value.map_or_else(|| Err(format!("{name} is missing")), |v| read(v, name));
    read.map_err(|p| problem.get_or_insert(p)).ok()
}

fn read_payload<P: Payload>(fields: Vec<Option<Loose>>) -> Result<P, String> {
    let mut values = Vec::with_capacity(fields.len());
    for (name, value) in P::FIELDS.iter().zip(fields) {
        match value {
            Some(v) => values.push(v.int(name)?),
            None => return Err(format!("{name} is missing")),
        }
    }
    P::from_fields(&values)
}

impl<'de, P: Payload> Deserialize<'de> for ReplyItem<P> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<P>(PhantomData<P>);
        impl<'de, P: Payload> Visitor<'de> for V<P> {
            type Value = ReplyItem<P>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a result item object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ReplyItem<P>, A::Error> {
                let mut raw = RawItem {
                    to_account: None,
                    result_code: None,
                    result_info: None,
                    payload: (0..P::FIELDS.len()).map(|_| None).collect(),
                };
                while let Some(key) = map.next_key::<crate::request::Key<'de>>()? {
                    let slot = match key.as_str() {
                        "To_Account" => &mut raw.to_account,
                        "ResultCode" => &mut raw.result_code,
                        "ResultInfo" => &mut raw.result_info,
                        k => match P::FIELDS.iter().position(|f| *f == k) {
                            Some(i) => &mut raw.payload[i],
                            None => {
                                map.next_value::<IgnoredAny>()?;
                                continue;
                            }
                        },
                    };
                    *slot = Some(map.next_value()?);
                }
                Ok(raw.finish())
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

impl<'de, P: Payload> Deserialize<'de> for BatchReply<P> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<P>(PhantomData<P>);
        impl<'de, P: Payload> Visitor<'de> for V<P> {
            type Value = BatchReply<P>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a reply object with {}", P::LIST_FIELD)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BatchReply<P>, A::Error> {
                let mut items = Vec::new();
                while let Some(key) = map.next_key::<crate::request::Key<'de>>()? {
                    if key.as_str() == P::LIST_FIELD {
                        items = map.next_value()?;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(BatchReply { items })
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::parse_response;

    fn items<P: Payload>(list: &str) -> Vec<ReplyItem<P>> {
        let body = format!(r#"{{"ErrorCode":0,"{}":{list}}}"#, P::LIST_FIELD);
        parse_response::<BatchReply<P>>(200, body.as_bytes())
            .expect("parses")
            .items
    }

    #[test]
    fn a_complete_item_is_read_and_unknown_fields_are_ignored() {
        let got = items::<()>(r#"[{"To_Account":"a","ResultCode":0,"ResultInfo":"","X":[1]}]"#);
        assert_eq!(got[0].to_account, "a");
        assert_eq!(got[0].payload, Some(()));
        assert_eq!(got[0].problem, None);
    }

    #[test]
    fn a_missing_or_mistyped_result_code_is_a_problem_not_success() {
        for (list, field) in [
            (r#"[{"To_Account":"a"}]"#, "ResultCode is missing"),
            (
                r#"[{"To_Account":"a","ResultCode":"0"}]"#,
                "ResultCode is a string",
            ),
            (
                r#"[{"To_Account":"a","ResultCode":null}]"#,
                "ResultCode is null",
            ),
            (
                r#"[{"To_Account":"a","ResultCode":0.5}]"#,
                "ResultCode is a fractional",
            ),
            (r#"[{"ResultCode":0}]"#, "To_Account is missing"),
            (
                r#"[{"To_Account":7,"ResultCode":0}]"#,
                "To_Account is a number",
            ),
        ] {
            let got = items::<()>(list);
            assert_eq!(got[0].payload, None, "{list}");
            let p = got[0].problem.as_deref().unwrap_or_default();
            assert!(p.contains(field), "{list}: {p}");
        }
    }

    #[test]
    fn a_refused_item_needs_no_payload() {
        let got = items::<()>(r#"[{"To_Account":"a","ResultCode":30003,"ResultInfo":"no"}]"#);
        assert_eq!((got[0].result_code, got[0].problem.clone()), (30003, None));
        assert_eq!(got[0].result_info, "no");
    }

    #[test]
    fn one_bad_item_leaves_the_others_alone() {
        let got = items::<()>(
            r#"[{"To_Account":"a","ResultCode":{"x":1}},{"To_Account":"b","ResultCode":0}]"#,
        );
        assert!(got[0].problem.is_some());
        assert_eq!(got[1].payload, Some(()));
    }

    #[test]
    fn a_reply_without_its_list_has_no_items() {
        let r: BatchReply<()> = parse_response(200, br#"{"ErrorCode":0}"#).unwrap();
        assert!(r.items.is_empty());
        let e = parse_response::<BatchReply<()>>(200, br#"{"ErrorCode":0,"ResultItem":5}"#);
        assert!(matches!(e, Err(crate::Error::Decode(_))), "{e:?}");
    }
}

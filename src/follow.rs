//! The follow endpoints (`v4/follow/*`): one request struct each, with typed
//! responses. Each is declared once — path, batch limit, idempotency,
//! response type — and [`Client`](crate::Client) is generic over them.
//!
//! Every follow endpoint is idempotent: following an account already
//! followed, or unfollowing one not followed, leaves the same graph, and
//! check, get and get_info change nothing; so any of them may be retried
//! after an answer was lost. The *answer* to such a repeat is not documented
//! (the service may refuse it as a duplicate): the client settles that by
//! reading the relation back (see [`BatchOutcome`](crate::BatchOutcome)).

use serde::de::Deserializer;
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Field};
use crate::reply::{sealed::Sealed, BatchReply, Payload};
use crate::request::{batch_body, validate_account, validate_targets, Request};

/// A batch endpoint: its per-request account limit and what an applied
/// account reports. [`Client`](crate::Client) splits longer lists into
/// requests of at most [`MAX_ACCOUNTS`](BatchRequest::MAX_ACCOUNTS) and merges
/// the results in input order.
pub trait BatchRequest: Request<Response = BatchReply<Self::Payload>> + Sized {
    /// The most target accounts one request may carry.
    const MAX_ACCOUNTS: usize;
    /// What an applied account reports: `()` for add/delete, a
    /// [`FollowType`] for check, [`FollowCounts`] for get_info.
    type Payload: Payload;

    /// Builds one request, validating `from` and `to` (non-empty, at most
    /// [`MAX_ACCOUNTS`](BatchRequest::MAX_ACCOUNTS) ids of 1–32 bytes).
    fn build<S: AsRef<str>>(from: &str, to: &[S]) -> Result<Self, Error>;

    /// For a write: whether it wants `From_Account` to follow the targets
    /// (`true` for follow_add, `false` for follow_delete), the state a
    /// read-back with follow_check compares against, and the payload of an
    /// account the read-back proves applied.
    #[doc(hidden)]
    const READ_BACK: Option<(bool, Self::Payload)> = None;

    /// The JSON body of one request for ids the client has validated
    /// already: no second check, no copy of the ids.
    #[doc(hidden)]
    fn checked_body(checked: checked::Checked<'_>) -> Result<Vec<u8>, Error> {
        Self::build(checked.from, checked.to)?.body()
    }
}

/// Ids validated by the client: a value only this crate can make.
mod checked {
    /// `from` and `to` are valid account ids; `to` has 1 to `MAX_ACCOUNTS`.
    #[derive(Debug, Clone, Copy)]
    pub struct Checked<'a> {
        pub(crate) from: &'a str,
        pub(crate) to: &'a [&'a str],
    }
}
pub(crate) use checked::Checked;

fn owned<S: AsRef<str>>(to: &[S]) -> Vec<String> {
    to.iter().map(|s| s.as_ref().to_owned()).collect()
}

fn check_batch<S: AsRef<str>>(from: &str, to: &[S], max: usize) -> Result<(), Error> {
    validate_account(Field::FromAccount, from)?;
    validate_targets("To_Account", to, max)
}

/// Declares a batch endpoint: the request struct with its validating
/// constructor, its [`Request`] and [`BatchRequest`] implementations.
macro_rules! batch_endpoint {
    // Whether the targets are written as `{"To_Account":…}` objects.
    (@wrapped) => { false };
    (@wrapped $ser:literal) => { true };
    (
        $(#[$doc:meta])*
        $name:ident {
            path: $path:literal,
            max: $max:literal,
            targets: $field:literal $(serialized with $ser:literal)?,
            payload: $payload:ty,
            wants_follow: $wants:expr $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
        pub struct $name {
            #[serde(rename = "From_Account")]
            from_account: String,
            #[serde(rename = $field $(, serialize_with = $ser)?)]
            to_account: Vec<String>,
        }

        impl $name {
            /// Validates and builds the request: `from` and every target are
            /// 1–32 bytes without control characters, and there are from one
            /// to [`MAX_ACCOUNTS`](BatchRequest::MAX_ACCOUNTS) targets.
            pub fn new<S: AsRef<str>>(from: &str, to: &[S]) -> Result<Self, Error> {
                check_batch(from, to, $max)?;
                Ok($name {
                    from_account: from.to_owned(),
                    to_account: owned(to),
                })
            }
        }

        impl Request for $name {
            const PATH: &'static str = $path;
            const IDEMPOTENT: bool = true;
            type Response = BatchReply<$payload>;
            /// The bytes serde writes for this struct, written directly.
            fn body(&self) -> Result<Vec<u8>, Error> {
                Ok(batch_body(&self.from_account, $field, &self.to_account, batch_endpoint!(@wrapped $($ser)?)))
            }
            fn parse(http_status: u16, body: &[u8]) -> Result<Self::Response, Error> {
                crate::reply::parse_batch(Self::PATH, http_status, body)
            }
        }

        impl BatchRequest for $name {
            const MAX_ACCOUNTS: usize = $max;
            type Payload = $payload;
            const READ_BACK: Option<(bool, $payload)> = $wants;
            fn build<S: AsRef<str>>(from: &str, to: &[S]) -> Result<Self, Error> {
                Self::new(from, to)
            }
            fn checked_body(checked: Checked<'_>) -> Result<Vec<u8>, Error> {
                Ok(batch_body(checked.from, $field, checked.to, batch_endpoint!(@wrapped $($ser)?)))
            }
        }
    };
}

// ---------------------------------------------------------------- follow_add

fn follow_items<S: Serializer, T: AsRef<str>>(to: &[T], s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Item<'a> {
        #[serde(rename = "To_Account")]
        to_account: &'a str,
    }
    let mut seq = s.serialize_seq(Some(to.len()))?;
    for t in to {
        seq.serialize_element(&Item {
            to_account: t.as_ref(),
        })?;
    }
    seq.end()
}

batch_endpoint! {
    /// `v4/follow/follow_add`: `From_Account` follows each target (at most 20).
    ///
    /// ```
    /// use tim_follow::{FollowAdd, request::Request};
    /// let req = FollowAdd::new("UserID_001", &["UserID_002", "UserID_003"])?;
    /// assert_eq!(req.body()?, br#"{"From_Account":"UserID_001","FollowItem":[{"To_Account":"UserID_002"},{"To_Account":"UserID_003"}]}"#);
    /// # Ok::<(), tim_follow::Error>(())
    /// ```
    FollowAdd {
        path: "follow/follow_add",
        max: 20,
        targets: "FollowItem" serialized with "follow_items",
        payload: (),
        wants_follow: Some((true, ())),
    }
}

// ------------------------------------------------------------- follow_delete

batch_endpoint! {
    /// `v4/follow/follow_delete`: `From_Account` unfollows each target (at most 20).
    ///
    /// ```
    /// use tim_follow::{FollowDelete, request::Request};
    /// let req = FollowDelete::new("UserID_001", &["UserID_002", "UserID_003"])?;
    /// assert_eq!(req.body()?, br#"{"From_Account":"UserID_001","To_Account":["UserID_002","UserID_003"]}"#);
    /// assert!(FollowDelete::new("UserID_001", &[""; 1]).is_err());
    /// # Ok::<(), tim_follow::Error>(())
    /// ```
    FollowDelete {
        path: "follow/follow_delete",
        max: 20,
        targets: "To_Account",
        payload: (),
        wants_follow: Some((false, ())),
    }
}

// -------------------------------------------------------------- follow_check

/// The relation between `From_Account` and one target, as follow_check reports it.
///
/// Values as documented for the REST API: 0 none, 1 the target follows
/// `From_Account` (the target is a fan), 2 `From_Account` follows the target,
/// 3 both. The native client SDKs number 1 and 2 the other way round; this
/// crate follows the REST documentation, which also matches follow_get's
/// list numbering (1 fans, 2 following, 3 mutual).
///
/// ```
/// use tim_follow::FollowType;
/// assert!(FollowType::Following.follows());
/// assert!(!FollowType::Following.followed_by());
/// assert!(FollowType::Mutual.is_mutual());
/// assert_eq!(FollowType::from_code(1), FollowType::Fan);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FollowType {
    /// 0: neither follows the other.
    None,
    /// 1: the target follows `From_Account`, not the reverse.
    Fan,
    /// 2: `From_Account` follows the target, not the reverse.
    Following,
    /// 3: both follow each other.
    Mutual,
    /// A value this crate does not know.
    Unknown(i64),
}

impl FollowType {
    /// The type for a wire value.
    pub fn from_code(code: i64) -> FollowType {
        match code {
            0 => FollowType::None,
            1 => FollowType::Fan,
            2 => FollowType::Following,
            3 => FollowType::Mutual,
            other => FollowType::Unknown(other),
        }
    }

    /// The wire value.
    pub fn code(self) -> i64 {
        match self {
            FollowType::None => 0,
            FollowType::Fan => 1,
            FollowType::Following => 2,
            FollowType::Mutual => 3,
            FollowType::Unknown(c) => c,
        }
    }

    /// Whether `From_Account` follows the target.
    pub fn follows(self) -> bool {
        matches!(self, FollowType::Following | FollowType::Mutual)
    }

    /// Whether the target follows `From_Account`.
    pub fn followed_by(self) -> bool {
        matches!(self, FollowType::Fan | FollowType::Mutual)
    }

    /// Whether both follow each other.
    pub fn is_mutual(self) -> bool {
        self == FollowType::Mutual
    }

    /// Whether this relation is the state a write wants: `Some(true)` when
    /// `From_Account` follows the target and `want_follow` is set, or does
    /// not and it is not; `None` for a value the documentation does not
    /// define, which proves nothing either way.
    ///
    /// The one rule every read-back uses (the client's settling of lost
    /// answers, the jobs' settling and read-first, the previews): an
    /// undocumented `FollowType` is never taken for the wanted state.
    ///
    /// ```
    /// use tim_follow::FollowType;
    /// assert_eq!(FollowType::Mutual.as_wanted(true), Some(true));
    /// assert_eq!(FollowType::Fan.as_wanted(false), Some(true));
    /// assert_eq!(FollowType::Unknown(7).as_wanted(false), None);
    /// ```
    pub fn as_wanted(self, want_follow: bool) -> Option<bool> {
        match self {
            FollowType::Unknown(_) => None,
            known => Some(known.follows() == want_follow),
        }
    }
}

impl Sealed for FollowType {}

impl Payload for FollowType {
    const LIST_FIELD: &'static str = "ResultItem";
    const FIELDS: &'static [&'static str] = &["FollowType"];
    fn from_fields(values: &[i64]) -> Result<FollowType, String> {
        match values {
            [code] => Ok(FollowType::from_code(*code)),
            _ => Err("FollowType is missing".into()),
        }
    }
}

impl<'de> Deserialize<'de> for FollowType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        i64::deserialize(d).map(FollowType::from_code)
    }
}

impl Serialize for FollowType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.code())
    }
}

batch_endpoint! {
    /// `v4/follow/follow_check`: the relation of `From_Account` to each target (at most 100).
    FollowCheck {
        path: "follow/follow_check",
        max: 100,
        targets: "To_Account",
        payload: FollowType,
        wants_follow: None,
    }
}

// ---------------------------------------------------------------- follow_get

/// Which list follow_get pages through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FollowList {
    /// 1: the accounts that follow `From_Account` (its fans).
    Fans,
    /// 2: the accounts `From_Account` follows.
    Following,
    /// 3: the accounts that follow `From_Account` and that it follows back.
    Mutual,
}

impl FollowList {
    /// The wire value of `FollowType` in the request.
    pub fn code(self) -> u8 {
        match self {
            FollowList::Fans => 1,
            FollowList::Following => 2,
            FollowList::Mutual => 3,
        }
    }

    /// The list for a wire value.
    pub fn from_code(code: i64) -> Option<FollowList> {
        match code {
            1 => Some(FollowList::Fans),
            2 => Some(FollowList::Following),
            3 => Some(FollowList::Mutual),
            _ => None,
        }
    }
}

impl Serialize for FollowList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.code())
    }
}

/// `v4/follow/follow_get`: one page of a fans, following or mutual list.
///
/// ```
/// use tim_follow::{FollowGet, FollowList, request::Request};
/// let req = FollowGet::new("UserID_001", FollowList::Fans, "", 100)?;
/// assert_eq!(req.body()?, br#"{"From_Account":"UserID_001","FollowType":1,"StartCursor":"","WantNum":100}"#);
/// assert!(FollowGet::new("UserID_001", FollowList::Fans, "", 1001).is_err());
/// # Ok::<(), tim_follow::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FollowGet {
    #[serde(rename = "From_Account")]
    from_account: String,
    #[serde(rename = "FollowType")]
    list: FollowList,
    #[serde(rename = "StartCursor")]
    start_cursor: String,
    #[serde(rename = "WantNum")]
    want_num: u32,
}

impl FollowGet {
    /// The largest page size the service accepts.
    pub const MAX_WANT_NUM: u32 = 1000;
    /// The page size the service documents as its default.
    pub const DEFAULT_WANT_NUM: u32 = 100;

    /// Validates and builds the request: `cursor` is `""` for the first page,
    /// then the previous page's `next_cursor`; `want_num` is 1–1000.
    pub fn new(from: &str, list: FollowList, cursor: &str, want_num: u32) -> Result<Self, Error> {
        validate_account(Field::FromAccount, from)?;
        if want_num == 0 || want_num > Self::MAX_WANT_NUM {
            return Err(Error::invalid(
                Field::Other("WantNum"),
                format!("{want_num} is outside 1..={}", Self::MAX_WANT_NUM),
            ));
        }
        if cursor.len() > 1024 {
            return Err(Error::invalid(
                Field::Other("StartCursor"),
                "longer than 1024 bytes",
            ));
        }
        Ok(FollowGet {
            from_account: from.to_owned(),
            list,
            start_cursor: cursor.to_owned(),
            want_num,
        })
    }
}

/// One page of follow_get, read strictly: an entry without `To_Account`
/// (a string) or `FollowTime` (an integer), or a `NextCursor` that is not a
/// string, is a [`Decode`](crate::Error::Decode) error naming the field,
/// never an entry with an empty id or a zero time. Purge, export and undo
/// build on listings, so a listing that cannot be read whole is an error,
/// not a shorter list. `FollowItem` may be left out when a page is empty.
///
/// A page without `NextCursor` reads as a last page here (Tencent's own Web
/// SDK, `@tencentcloud/chat` 3.6.6, takes a missing `NextCursor` as `""`);
/// [`FollowGet::check_page`] then tells a short page (the last) from a full
/// one, which could have been cut short and is a `Decode` error.
/// [`Client::follow_get_page`](crate::Client::follow_get_page) and
/// [`Client::follow_get`](crate::Client::follow_get) do that check.
///
/// ```
/// use tim_follow::{request::parse_response, FollowPage};
/// let missing = parse_response::<FollowPage>(200,
///     br#"{"ErrorCode":0,"FollowItem":[{"To_Account":"a"}],"NextCursor":""}"#);
/// assert!(missing.unwrap_err().to_string().contains("FollowTime"));
/// let mistyped = parse_response::<FollowPage>(200,
///     br#"{"ErrorCode":0,"FollowItem":[{"To_Account":7,"FollowTime":1}],"NextCursor":""}"#);
/// assert!(mistyped.unwrap_err().to_string().contains("To_Account"));
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(from = "RawPage")]
#[non_exhaustive]
pub struct FollowPage {
    /// `FollowItem`: the accounts of this page.
    pub entries: Vec<FollowEntry>,
    /// `NextCursor`: `""` when this is the last page (or when the reply left
    /// it out: see [`FollowGet::check_page`]).
    pub next_cursor: String,
    /// Whether the reply had a `NextCursor`.
    cursor_given: bool,
}

/// A page as the JSON has it, `NextCursor` possibly left out.
#[derive(Deserialize)]
struct RawPage {
    #[serde(rename = "FollowItem", default)]
    entries: Vec<FollowEntry>,
    #[serde(
        rename = "NextCursor",
        default,
        deserialize_with = "strict::next_cursor"
    )]
    next_cursor: Option<String>,
}

impl From<RawPage> for FollowPage {
    fn from(raw: RawPage) -> FollowPage {
        FollowPage {
            entries: raw.entries,
            cursor_given: raw.next_cursor.is_some(),
            next_cursor: raw.next_cursor.unwrap_or_default(),
        }
    }
}

impl FollowGet {
    /// Checks a page read for this request: a page without `NextCursor` is
    /// the last one when it holds fewer entries than asked for (`WantNum`),
    /// and a [`Decode`](crate::Error::Decode) error when it is full, since
    /// the list may go on past it. A page with `NextCursor` is returned as is.
    ///
    /// ```
    /// use tim_follow::{request::Request, FollowGet, FollowList};
    /// let body = br#"{"ErrorCode":0,"FollowItem":[{"To_Account":"a","FollowTime":1}]}"#;
    /// let short = FollowGet::new("me", FollowList::Fans, "", 2)?;
    /// assert!(short.check_page(FollowGet::parse(200, body)?)?.is_last());
    /// let full = FollowGet::new("me", FollowList::Fans, "", 1)?;
    /// assert!(full.check_page(FollowGet::parse(200, body)?).is_err());
    /// # Ok::<(), tim_follow::Error>(())
    /// ```
    pub fn check_page(&self, page: FollowPage) -> Result<FollowPage, Error> {
        if page.cursor_given || page.entries.len() < self.want_num as usize {
            return Ok(page);
        }
        Err(crate::request::decode_error(
            Self::PATH,
            &format!(
                "NextCursor is missing from a full page ({} entries, as many as asked for): \
                 the list may go on past it",
                page.entries.len()
            ),
            b"",
        ))
    }
}

/// Readers of listing fields whose errors name the field.
mod strict {
    use serde::de::{Deserialize, Deserializer, Error};

    fn named<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
        field: &str,
        what: &str,
    ) -> Result<T, D::Error> {
        T::deserialize(d).map_err(|e| D::Error::custom(format!("{field} is not {what} ({e})")))
    }

    pub(super) fn next_cursor<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        named::<D, String>(d, "NextCursor", "a string").map(Some)
    }

    pub(super) fn to_account<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        named(d, "FollowItem[].To_Account", "a string")
    }

    pub(super) fn follow_time<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        named(d, "FollowItem[].FollowTime", "an integer")
    }

    pub(super) fn sequence<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        named(d, "FollowItem[].profile_sequence", "a non-negative integer")
    }
}

impl FollowEntry {
    /// [`follow_time`](FollowEntry::follow_time) as RFC 3339 in UTC, such as
    /// `2023-12-11T02:35:18Z`.
    ///
    /// ```
    /// # let page: tim_follow::FollowPage = tim_follow::request::parse_response(200,
    /// #     br#"{"ErrorCode":0,"FollowItem":[{"To_Account":"a","FollowTime":1702262118}],"NextCursor":""}"#)?;
    /// assert_eq!(page.entries[0].follow_time_rfc3339(), "2023-12-11T02:35:18Z");
    /// # Ok::<(), tim_follow::Error>(())
    /// ```
    pub fn follow_time_rfc3339(&self) -> String {
        crate::clock::rfc3339(self.follow_time)
    }
}

impl FollowPage {
    /// Whether there are no more pages (`NextCursor` is `""` or was left
    /// out; see [`FollowGet::check_page`]).
    pub fn is_last(&self) -> bool {
        self.next_cursor.is_empty()
    }
}

/// One account of a follow_get page.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct FollowEntry {
    /// `To_Account`: the fan, followed or mutual account.
    #[serde(rename = "To_Account", deserialize_with = "strict::to_account")]
    pub to_account: String,
    /// `FollowTime`: when the follow happened, Unix seconds.
    #[serde(rename = "FollowTime", deserialize_with = "strict::follow_time")]
    pub follow_time: i64,
    /// `ProfileItem`: profile tags of the account (values are any JSON).
    #[serde(rename = "ProfileItem", default)]
    pub profile: Vec<ProfileItem>,
    /// The profile sequence, read from `profile_sequence` (as in the REST
    /// documentation's sample) or `ProfileSequence` (as the client SDKs read it).
    #[serde(
        rename = "profile_sequence",
        alias = "ProfileSequence",
        default,
        deserialize_with = "strict::sequence"
    )]
    pub profile_sequence: Option<u64>,
}

/// One profile tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProfileItem {
    /// `Tag`, such as `Tag_Profile_IM_Nick`.
    #[serde(rename = "Tag", default)]
    pub tag: String,
    /// `Value`: a string, a number or other JSON.
    #[serde(rename = "Value", default)]
    pub value: serde_json::Value,
}

impl Request for FollowGet {
    const PATH: &'static str = "follow/follow_get";
    const IDEMPOTENT: bool = true;
    type Response = FollowPage;
}

// ----------------------------------------------------------- follow_get_info

batch_endpoint! {
    /// `v4/follow/follow_get_info`: the follower, following and mutual counts of
    /// each target (at most 20; may include `From_Account` itself).
    FollowGetInfo {
        path: "follow/follow_get_info",
        max: 20,
        targets: "To_Account",
        payload: FollowCounts,
        wants_follow: None,
    }
}

/// The three counts of one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FollowCounts {
    /// `FollowerCount`: how many accounts follow it (fans).
    pub followers: u64,
    /// `FollowingCount`: how many accounts it follows.
    pub following: u64,
    /// `MutualFollowingCount`: how many follow it and are followed back.
    pub mutual: u64,
}

impl Sealed for FollowCounts {}

impl Payload for FollowCounts {
    const LIST_FIELD: &'static str = "FollowInfo";
    const FIELDS: &'static [&'static str] =
        &["FollowerCount", "FollowingCount", "MutualFollowingCount"];
    fn from_fields(values: &[i64]) -> Result<FollowCounts, String> {
        let count = |i: usize| {
            let v = values.get(i).copied().unwrap_or(-1);
            u64::try_from(v).map_err(|_| format!("{} is {v}, not a count", Self::FIELDS[i]))
        };
        Ok(FollowCounts {
            followers: count(0)?,
            following: count(1)?,
            mutual: count(2)?,
        })
    }
}

//! The follow endpoints (`v4/follow/*`): one request struct each, with typed
//! responses. Each is declared once — path, batch limit, idempotency,
//! response type — and [`Client`](crate::Client) is generic over them.
//!
//! Every follow endpoint is idempotent: following an account already
//! followed, or unfollowing one not followed, leaves the same graph, and
//! check, get and get_info change nothing; so any of them may be retried
//! after an answer was lost.

use std::fmt;

use serde::de::Deserializer;
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, Error};
use crate::request::{validate_account, validate_targets, Request};

/// A batch endpoint: its per-request account limit and how its per-account
/// results are read. [`Client`](crate::Client) splits longer lists into
/// requests of at most [`MAX_ACCOUNTS`](BatchRequest::MAX_ACCOUNTS) and merges
/// the results in input order.
pub trait BatchRequest: Request + Sized {
    /// The most target accounts one request may carry.
    const MAX_ACCOUNTS: usize;
    /// What an applied account reports: `()` for add/delete, a
    /// [`FollowType`] for check, [`FollowCounts`] for get_info.
    type Payload: Clone + fmt::Debug + PartialEq + Send;

    /// Builds one request, validating `from` and `to` (non-empty, at most
    /// [`MAX_ACCOUNTS`](BatchRequest::MAX_ACCOUNTS) ids of 1–32 bytes).
    fn build<S: AsRef<str>>(from: &str, to: &[S]) -> Result<Self, Error>;

    /// The per-account results of a response, in the server's order.
    fn into_items(response: Self::Response) -> Vec<ItemResult<Self::Payload>>;
}

/// One account's entry in a batch response.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ItemResult<T> {
    /// `To_Account`.
    pub to_account: String,
    /// `ResultCode`: 0 when applied.
    pub result_code: i64,
    /// `ResultInfo`: why it was refused, empty on success.
    pub result_info: String,
    /// The payload (meaningful when `result_code` is 0).
    pub payload: T,
}

impl<T> ItemResult<T> {
    /// `Ok(payload)` when applied, the refusal as an [`ApiError`] otherwise.
    pub fn into_result(self) -> Result<T, ApiError> {
        if self.result_code == 0 {
            Ok(self.payload)
        } else {
            Err(ApiError::new(self.result_code, self.result_info, ""))
        }
    }
}

fn owned<S: AsRef<str>>(to: &[S]) -> Vec<String> {
    to.iter().map(|s| s.as_ref().to_owned()).collect()
}

fn check_batch<S: AsRef<str>>(from: &str, to: &[S], max: usize) -> Result<(), Error> {
    validate_account("From_Account", from)?;
    validate_targets("To_Account", to, max)
}

/// Declares a batch endpoint: the request struct with its validating
/// constructor, its [`Request`] and [`BatchRequest`] implementations.
macro_rules! batch_endpoint {
    (
        $(#[$doc:meta])*
        $name:ident {
            path: $path:literal,
            max: $max:literal,
            targets: $field:literal $(serialized with $ser:literal)?,
            response: $response:ty,
            payload: $payload:ty,
            items: $items:path $(,)?
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
            type Response = $response;
        }

        impl BatchRequest for $name {
            const MAX_ACCOUNTS: usize = $max;
            type Payload = $payload;
            fn build<S: AsRef<str>>(from: &str, to: &[S]) -> Result<Self, Error> {
                Self::new(from, to)
            }
            fn into_items(response: $response) -> Vec<ItemResult<$payload>> {
                $items(response)
            }
        }
    };
}

/// The response of [`FollowAdd`] and [`FollowDelete`]: one result per target.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct FollowResults {
    /// `ResultItem`.
    #[serde(rename = "ResultItem", default)]
    pub result_item: Vec<ResultItem>,
}

/// One entry of `ResultItem`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ResultItem {
    /// `To_Account`.
    #[serde(rename = "To_Account", default)]
    pub to_account: String,
    /// `ResultCode`: 0 on success.
    #[serde(rename = "ResultCode", default)]
    pub result_code: i64,
    /// `ResultInfo`: empty on success.
    #[serde(rename = "ResultInfo", default)]
    pub result_info: String,
}

fn plain_items(r: FollowResults) -> Vec<ItemResult<()>> {
    r.result_item
        .into_iter()
        .map(|i| ItemResult {
            to_account: i.to_account,
            result_code: i.result_code,
            result_info: i.result_info,
            payload: (),
        })
        .collect()
}

// ---------------------------------------------------------------- follow_add

fn follow_items<S: Serializer>(to: &[String], s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Item<'a> {
        #[serde(rename = "To_Account")]
        to_account: &'a str,
    }
    let mut seq = s.serialize_seq(Some(to.len()))?;
    for t in to {
        seq.serialize_element(&Item { to_account: t })?;
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
        response: FollowResults,
        payload: (),
        items: plain_items,
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
        response: FollowResults,
        payload: (),
        items: plain_items,
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
        response: FollowCheckResponse,
        payload: FollowType,
        items: check_items,
    }
}

/// The response of [`FollowCheck`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct FollowCheckResponse {
    /// `ResultItem`.
    #[serde(rename = "ResultItem", default)]
    pub result_item: Vec<CheckItem>,
}

/// One entry of follow_check's `ResultItem`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct CheckItem {
    /// `To_Account`.
    #[serde(rename = "To_Account", default)]
    pub to_account: String,
    /// `ResultCode`: 0 on success.
    #[serde(rename = "ResultCode", default)]
    pub result_code: i64,
    /// `ResultInfo`.
    #[serde(rename = "ResultInfo", default)]
    pub result_info: String,
    /// `FollowType` (valid when `result_code` is 0).
    #[serde(rename = "FollowType", default = "follow_type_none")]
    pub follow_type: FollowType,
}

fn follow_type_none() -> FollowType {
    FollowType::None
}

fn check_items(r: FollowCheckResponse) -> Vec<ItemResult<FollowType>> {
    r.result_item
        .into_iter()
        .map(|i| ItemResult {
            to_account: i.to_account,
            result_code: i.result_code,
            result_info: i.result_info,
            payload: i.follow_type,
        })
        .collect()
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
        validate_account("From_Account", from)?;
        if want_num == 0 || want_num > Self::MAX_WANT_NUM {
            return Err(Error::invalid(
                "WantNum",
                format!("{want_num} is outside 1..={}", Self::MAX_WANT_NUM),
            ));
        }
        if cursor.len() > 1024 {
            return Err(Error::invalid("StartCursor", "longer than 1024 bytes"));
        }
        Ok(FollowGet {
            from_account: from.to_owned(),
            list,
            start_cursor: cursor.to_owned(),
            want_num,
        })
    }
}

/// One page of follow_get.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct FollowPage {
    /// `FollowItem`: the accounts of this page.
    #[serde(rename = "FollowItem", default)]
    pub entries: Vec<FollowEntry>,
    /// `NextCursor`: `""` when this is the last page.
    #[serde(rename = "NextCursor", default)]
    pub next_cursor: String,
}

impl FollowPage {
    /// Whether there are no more pages.
    pub fn is_last(&self) -> bool {
        self.next_cursor.is_empty()
    }
}

/// One account of a follow_get page.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct FollowEntry {
    /// `To_Account`: the fan, followed or mutual account.
    #[serde(rename = "To_Account", default)]
    pub to_account: String,
    /// `FollowTime`: when the follow happened, Unix seconds.
    #[serde(rename = "FollowTime", default)]
    pub follow_time: i64,
    /// `ProfileItem`: profile tags of the account (values are any JSON).
    #[serde(rename = "ProfileItem", default)]
    pub profile: Vec<ProfileItem>,
    /// The profile sequence, read from `profile_sequence` (as in the REST
    /// documentation's sample) or `ProfileSequence` (as the client SDKs read it).
    #[serde(rename = "profile_sequence", alias = "ProfileSequence", default)]
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
        response: FollowGetInfoResponse,
        payload: FollowCounts,
        items: info_items,
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

/// The response of [`FollowGetInfo`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct FollowGetInfoResponse {
    /// `FollowInfo` (not `ResultItem`).
    #[serde(rename = "FollowInfo", default)]
    pub follow_info: Vec<InfoItem>,
}

/// One entry of `FollowInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct InfoItem {
    /// `To_Account`.
    #[serde(rename = "To_Account", default)]
    pub to_account: String,
    /// `ResultCode`: 0 on success.
    #[serde(rename = "ResultCode", default)]
    pub result_code: i64,
    /// `ResultInfo`.
    #[serde(rename = "ResultInfo", default)]
    pub result_info: String,
    /// `FollowerCount`.
    #[serde(rename = "FollowerCount", default)]
    pub follower_count: u64,
    /// `FollowingCount`.
    #[serde(rename = "FollowingCount", default)]
    pub following_count: u64,
    /// `MutualFollowingCount`.
    #[serde(rename = "MutualFollowingCount", default)]
    pub mutual_following_count: u64,
}

fn info_items(r: FollowGetInfoResponse) -> Vec<ItemResult<FollowCounts>> {
    r.follow_info
        .into_iter()
        .map(|i| ItemResult {
            to_account: i.to_account,
            result_code: i.result_code,
            result_info: i.result_info,
            payload: FollowCounts {
                followers: i.follower_count,
                following: i.following_count,
                mutual: i.mutual_following_count,
            },
        })
        .collect()
}

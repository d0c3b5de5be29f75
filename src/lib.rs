//! A blocking, runtime-free client for the follow/fan API of Tencent Cloud
//! Chat (Tencent IM): unfollow, follow, check, list and count.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod auth;
pub mod callback;
mod client;
mod error;
pub mod follow;
mod outcome;
mod ratelimit;
mod region;
pub mod request;
mod retry;
#[cfg(feature = "testkit")]
pub mod testkit;
mod transport;
#[cfg(feature = "usersig")]
pub mod usersig;

pub use client::{Client, ClientBuilder, FollowIter};
pub use error::{
    ApiError, DecodeError, Error, ErrorKind, InvalidInput, TransportError, TransportErrorKind,
};
pub use follow::{
    BatchRequest, FollowAdd, FollowCheck, FollowCounts, FollowDelete, FollowEntry, FollowGet,
    FollowGetInfo, FollowList, FollowPage, FollowType, ItemResult,
};
pub use outcome::{AccountOutcome, BatchOutcome, Outcome, Progress};
pub use region::{ParseRegionError, Region};
pub use retry::RetryPolicy;

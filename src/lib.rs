//! A blocking, runtime-free client for the follow/fan API of Tencent Cloud
//! Chat (Tencent IM): unfollow, follow, check, list and count — with UserSig
//! generation, webhook verification and an in-process emulator of the
//! service, so that programs built on it run and are tested offline.
//!
//! ```
//! use tim_follow::testkit::Emulator;
//! use tim_follow::{Client, FollowList, FollowType};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Offline: the emulator stands in for Tencent on 127.0.0.1.
//! let emu = Emulator::builder().accounts(&["UserID_001", "UserID_002", "UserID_003"]).start()?;
//! let client = Client::builder(emu.sdkappid(), emu.admin())
//!     .base_url(emu.base_url())            // for the real service: .region(Region::Singapore)
//!     .secret_key(emu.secret_key())        // the app's SecretKey: UserSigs are made for you
//!     .build()?;
//!
//! client.follow_add("UserID_001", &["UserID_002", "UserID_003"])?;
//! assert_eq!(client.relation("UserID_001", "UserID_002")?, FollowType::Following);
//!
//! let out = client.follow_delete("UserID_001", &["UserID_002", "UserID_003"])?;
//! assert!(out.all_applied());
//! assert_eq!(client.follow_get("UserID_001", FollowList::Following).count(), 0);
//! # Ok(()) }
//! ```
//!
//! # Contents
//!
//! - [Regions](#regions) · [Credentials](#credentials) · [Endpoints](#endpoints)
//!   · [Batch outcomes](#batch-outcomes) · [Errors and retries](#errors-and-retries)
//!   · [Rate limits and throughput](#rate-limits-and-throughput) · [The emulator](#the-emulator)
//!   · [Webhooks](#webhooks) · [Features](#features) · [Security notes](#security-notes)
//! - Guides: [a sync service](guides::service), [a build script](guides::build_script),
//!   [an embedded-Linux admin tool](guides::embedded).
//!
//! # Regions
//!
//! An app lives in one data center; calls go to its domain. [`Region`] lists
//! all eight with their primary and standby domains, and parses names and
//! short forms (`"sgp".parse::<Region>()`). A wrong region is answered with
//! 70016 or 70020, whose [`ApiError::hint`] says so. When the primary domain
//! cannot be resolved or connected to, the attempt goes to the standby domain
//! (see [`ClientBuilder::failover`]). [`ClientBuilder::base_url`] points the
//! client at a proxy or the emulator instead.
//!
//! # Credentials
//!
//! Every call is signed with a UserSig of the App admin account.
//! [`ClientBuilder::secret_key`] (feature `usersig`) generates it from the
//! SecretKey, caches it and renews it before it expires; an answer that it
//! expired renews it and retries once. [`ClientBuilder::usersig`] uses one
//! you made elsewhere. [`Client::from_env`] reads `TIM_SDKAPPID`, `TIM_ADMIN`,
//! `TIM_SECRET_KEY` or `TIM_USERSIG`, `TIM_REGION` and `TIM_BASE_URL`.
//! [`usersig::generate`] and [`usersig::verify`] are public, for signing your
//! end users too.
//!
//! # Endpoints
//!
//! | method | REST API | accounts per request |
//! |---|---|---|
//! | [`Client::follow_add`], [`Client::follow`] | `v4/follow/follow_add` | 20 |
//! | [`Client::follow_delete`], [`Client::unfollow`] | `v4/follow/follow_delete` | 20 |
//! | [`Client::follow_check`], [`Client::relation`] | `v4/follow/follow_check` | 100 |
//! | [`Client::follow_get`], [`Client::follow_get_page`] | `v4/follow/follow_get` | 1000 per page |
//! | [`Client::follow_get_info`], [`Client::counts`] | `v4/follow/follow_get_info` | 20 |
//! | [`Client::call`], [`Client::call_json`] | any REST API | — |
//!
//! The request structs ([`FollowAdd`], [`FollowDelete`], [`FollowCheck`],
//! [`FollowGet`], [`FollowGetInfo`]) with [`request::Context`] and
//! [`request::Request::parse`] are a sans-IO layer: they do no I/O, so they
//! work with any HTTP client and their bytes are tested exactly.
//!
//! # Batch outcomes
//!
//! The batch methods take any number of accounts, split them into requests of
//! the endpoint's limit and return a [`BatchOutcome`]: every distinct account
//! exactly once, in input order, as [`Outcome::Applied`] (with its payload),
//! [`Outcome::Refused`] (the per-account `ResultCode` and `ResultInfo`) or
//! [`Outcome::Unknown`] (its request failed after retries, or its part of
//! the reply could not be read). `Applied` is only ever what the service said
//! for that account, or what reading the relation back proved after an answer
//! was lost (see [`BatchOutcome`]). Duplicates are sent once; an empty list
//! sends nothing. `Err` means that no request
//! succeeded: the input was invalid (found before any request) or every
//! request failed (after a transport failure, some may still have been
//! applied: every follow operation is idempotent, so send the call again).
//!
//! # Errors and retries
//!
//! [`Error`] keeps apart invalid input, transport failures, HTTP statuses, API
//! error codes (classified by [`ErrorKind`], with [`ApiError::hint`]) and
//! undecodable replies. Retries follow [`RetryPolicy`]: exponential backoff
//! with full jitter for transport failures, HTTP 5xx/408/429 and the transient
//! and rate-limit codes; never for invalid input, permission, account or
//! signature errors. Every follow endpoint is idempotent, so a retry after a
//! lost answer is harmless.
//!
//! # Rate limits and throughput
//!
//! Tencent allows 200 calls per second to each follow API. The client spaces
//! the calls to each endpoint so that no second holds more, across every clone
//! and thread ([`ClientBuilder::rate_limit`]). To reach that rate over a real
//! network, the client keeps as many requests in flight as the rate and the
//! measured latency need (rate × latency, with headroom for its spread; a
//! handful on loopback, about 90 at 300 ms a call), growing and shrinking as
//! the latency does, up to a cap of 256 ([`ClientBuilder::concurrency`]).
//! Batches, jobs, purges, undo, restore and previews start worker threads
//! only as needed; [`Client::batch_with_progress`] reports progress.
//!
//! # The emulator
//!
//! [`testkit::Emulator`] (feature `testkit`) is a local follow service over real
//! HTTP: UserSig checks with the documented error codes, accounts, the follow
//! graph, paging, counts, rate limiting and fault injection. Run it standalone
//! with `cargo run --features testkit --example emulator`.
//!
//! # Webhooks
//!
//! [`callback::Verifier`] checks and parses the `Follow.CallbackAfterFollowAdd`
//! and `Follow.CallbackAfterFollowDelete` webhooks from the raw query and body,
//! with any HTTP server; [`callback::ack_ok`] is the reply. With feature
//! `receiver`, `receiver::Receiver` is that server: it verifies each
//! delivery, hands it to your handler and acknowledges it only once the
//! handler returned `Ok` (the command-line tool's `webhooks` stores each
//! event on disk first).
//!
//! # Features
//!
//! | feature | default | brings |
//! |---|---|---|
//! | `rustls` | yes | HTTPS through rustls |
//! | `native-tls` | no | HTTPS through the system TLS library, with the system's roots (wins over `rustls`) |
//! | `usersig` | yes | [`usersig`], [`ClientBuilder::secret_key`], webhook `Sign` checks |
//! | `testkit` | no | [`testkit`], the emulator |
//! | `job` | no | `job`: journaled bulk jobs that resume after a crash, purge, preview (`Job::preview`), undo (`Job::undo`), export and restore |
//! | `receiver` | no | `receiver`: a webhook server that acknowledges an event only once it is handled |
//! | `redis` | no | `RedisLimiter`: a rate budget shared by processes through Redis; `receiver::RedisSeen` |
//! | `cli` | no | the `tim-follow` command-line tool |
//!
//! # Security notes
//!
//! - The UserSig and the SecretKey never appear in `Debug`, `Display` or error
//!   text; request URLs are redacted before they reach an error.
//! - Plain `http://` is refused except to loopback, unless
//!   [`ClientBuilder::allow_insecure_http`]; TLS certificate verification
//!   cannot be turned off.
//! - Response bodies are capped ([`ClientBuilder::max_response_bytes`]); every
//!   call has a connect and a whole-attempt timeout.
//! - Proxies from the environment (`HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`) are
//!   honoured for remote hosts, never for loopback.
//! - Webhook signatures cover `RequestTime` only, not the body (Tencent's
//!   scheme): serve the callback URL over HTTPS.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod callback;
mod client;
mod clock;
mod error;
pub mod follow;
pub mod guides;
mod inflight;
#[cfg(feature = "job")]
pub mod job;
mod outcome;
// The query decoding of the server side, in the server's folder; compiled
// without the server too, for the webhook verifier (`callback`).
#[path = "server/query.rs"]
mod query;
mod ratelimit;
#[cfg(feature = "receiver")]
pub mod receiver;
#[cfg(feature = "redis")]
mod redact;
#[cfg(feature = "redis")]
mod redis_pool;
mod region;
mod reply;
pub mod request;
mod retry;
mod secret;
#[cfg(any(feature = "testkit", feature = "receiver"))]
mod server;
mod signer;
mod sync;
#[cfg(feature = "testkit")]
pub mod testkit;
mod transport;
#[cfg(feature = "usersig")]
pub mod usersig;

pub use client::{Client, ClientBuilder, FollowIter};
pub use error::{
    ApiError, DecodeError, Error, ErrorKind, Field, InvalidInput, TransportError,
    TransportErrorKind,
};
pub use follow::{
    BatchRequest, FollowAdd, FollowCheck, FollowCounts, FollowDelete, FollowEntry, FollowGet,
    FollowGetInfo, FollowList, FollowPage, FollowType,
};
pub use outcome::{AccountOutcome, BatchOutcome, Outcome, Progress};
#[cfg(feature = "redis")]
pub use ratelimit::RedisLimiter;
pub use ratelimit::{Adaptive, LocalLimiter, RateLimit};
pub use region::{ParseRegionError, Region};
pub use reply::{BatchReply, Payload, ReplyItem};
pub use retry::RetryPolicy;

/// The README's examples, compiled as doctests. Each is a whole program as
/// printed; those that need a feature say so in a sentence, so the README is
/// compiled when every feature it uses is on (as `cargo test --workspace`,
/// the README's test command, turns them on).
#[cfg(all(
    doctest,
    feature = "job",
    feature = "redis",
    feature = "testkit",
    feature = "usersig"
))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

//! The blocking client: [`Client`] and its public methods. The jobs behind
//! them live beside this file: [`builder`] (settings and environment),
//! [`batch`] (splitting and workers), [`run`] (the attempt loop) and
//! [`paging`] (follow lists).

mod batch;
mod builder;
mod paging;
mod run;

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

pub use builder::ClientBuilder;
pub use paging::FollowIter;

use crate::error::Error;
use crate::follow::{
    BatchRequest, FollowAdd, FollowCheck, FollowCounts, FollowDelete, FollowGet, FollowGetInfo,
    FollowList, FollowPage, FollowType,
};
use crate::outcome::{BatchOutcome, Outcome, Progress};
use crate::request::{parse_response_for, Request};

/// A blocking client for the follow API. Cheap to clone: clones share the
/// connection pool, the UserSig cache and the rate limiter.
///
/// ```no_run
/// use tim_follow::{Client, FollowList, Region};
///
/// # fn main() -> Result<(), tim_follow::Error> {
/// let client = Client::builder(1400000000, "administrator")
///     .region(Region::Singapore)
///     .secret_key(std::env::var("TIM_SECRET_KEY").unwrap_or_default())
///     .build()?;
/// let out = client.follow_delete("UserID_001", &["UserID_002", "UserID_003"])?;
/// assert!(out.all_applied());
/// for entry in client.follow_get("UserID_001", FollowList::Following) {
///     println!("{}", entry?.to_account);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    engine: run::Engine,
    concurrency: usize,
    call_deadline: Option<std::time::Duration>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.inner.engine;
        f.debug_struct("Client")
            .field("sdkappid", &e.sdkappid)
            .field("admin", &e.admin)
            .field("base_url", &e.bases.primary())
            .field("standby_base_url", &e.bases.standby())
            .field("credentials", &e.signer)
            .field("rate_limit", &e.limiter.as_ref().map(|l| l.max_rate()))
            .field("concurrency", &self.inner.concurrency)
            .field("retry", &e.retry)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// The app's SDKAppID.
    pub fn sdkappid(&self) -> u64 {
        self.inner.engine.sdkappid
    }

    /// The admin identifier the client calls as.
    pub fn admin(&self) -> &str {
        &self.inner.engine.admin
    }

    /// The most requests the client keeps in flight at once
    /// ([`ClientBuilder::concurrency`]).
    pub fn concurrency(&self) -> usize {
        self.inner.concurrency
    }

    /// How many requests may be in flight now: what the rate limit and the
    /// measured latency need, within the cap.
    #[cfg(feature = "job")]
    pub(crate) fn in_flight_target(&self) -> usize {
        self.inner.engine.gate.target()
    }

    /// Waits up to `within` until a request may start; whether one may.
    #[cfg(feature = "job")]
    pub(crate) fn room_in_flight(&self, within: std::time::Duration) -> bool {
        self.inner.engine.gate.room(within)
    }

    /// Gives back the place [`room_in_flight`](Client::room_in_flight)
    /// promised this thread: it has nothing to send.
    #[cfg(feature = "job")]
    pub(crate) fn no_room_needed(&self) {
        self.inner.engine.gate.unpromise();
    }

    /// The primary base URL.
    pub fn base_url(&self) -> &str {
        self.inner.engine.bases.primary()
    }

    /// True when the client makes its UserSigs from a SecretKey (and renews
    /// them); false when it uses a pre-generated UserSig as is. A 70001
    /// ("expired") then means different things: with a SecretKey, the
    /// signature was made moments ago, so the clock of this machine is wrong.
    pub fn generates_usersigs(&self) -> bool {
        match self.inner.engine.signer {
            crate::signer::Signer::Fixed(_) => false,
            #[cfg(feature = "usersig")]
            crate::signer::Signer::Key(_) => true,
        }
    }

    // ------------------------------------------------------------ batch calls

    /// Unfollows: `from` stops following each of `to` (`v4/follow/follow_delete`).
    ///
    /// Any number of accounts: longer lists are split into requests of 20.
    /// Every distinct account comes back once, in input order, applied,
    /// refused or unknown. Unfollowing an account not followed is answered by
    /// the service's own rule (undocumented; the emulator answers 0 or a code,
    /// as set up). A refusal that follows a lost answer is settled by reading
    /// the relation back: see [`BatchOutcome`].
    ///
    /// `Err` means no request succeeded: the input was invalid (nothing was
    /// sent), or every request failed — after a transport failure some may
    /// still have been applied, so send the same call again. An empty `to` is
    /// `Ok` with no account and sends nothing.
    pub fn follow_delete<S: AsRef<str>>(
        &self,
        from: &str,
        to: &[S],
    ) -> Result<BatchOutcome<()>, Error> {
        self.batch::<FollowDelete, S>(from, to, None)
    }

    /// Follows: `from` follows each of `to` (`v4/follow/follow_add`), in
    /// requests of 20. Same rules as [`follow_delete`](Client::follow_delete).
    pub fn follow_add<S: AsRef<str>>(
        &self,
        from: &str,
        to: &[S],
    ) -> Result<BatchOutcome<()>, Error> {
        self.batch::<FollowAdd, S>(from, to, None)
    }

    /// The relation of `from` to each of `to` (`v4/follow/follow_check`), in
    /// requests of 100.
    pub fn follow_check<S: AsRef<str>>(
        &self,
        from: &str,
        to: &[S],
    ) -> Result<BatchOutcome<FollowType>, Error> {
        self.batch::<FollowCheck, S>(from, to, None)
    }

    /// The follower, following and mutual counts of each of `to`
    /// (`v4/follow/follow_get_info`), in requests of 20.
    pub fn follow_get_info<S: AsRef<str>>(
        &self,
        from: &str,
        to: &[S],
    ) -> Result<BatchOutcome<FollowCounts>, Error> {
        self.batch::<FollowGetInfo, S>(from, to, None)
    }

    /// Runs any batch endpoint over any number of accounts, reporting progress
    /// after each request.
    ///
    /// `progress` is called on the call's worker threads (hence `Sync`),
    /// one call at a time (the calls are serialized), after each request
    /// with the totals so far; keep it quick, since a worker waits for it.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), tim_follow::Error> {
    /// # let client = tim_follow::Client::builder(1, "administrator").usersig("s").build()?;
    /// # let ids = vec!["a".to_string()];
    /// use tim_follow::FollowDelete;
    /// let out = client.batch_with_progress::<FollowDelete, _>("UserID_001", &ids, |p| {
    ///     eprintln!("{}/{} done, {} failed", p.done, p.total, p.failed);
    /// })?;
    /// # let _ = out; Ok(()) }
    /// ```
    pub fn batch_with_progress<E: BatchRequest, S: AsRef<str>>(
        &self,
        from: &str,
        to: &[S],
        progress: impl Fn(Progress) + Sync,
    ) -> Result<BatchOutcome<E::Payload>, Error> {
        self.batch::<E, S>(from, to, Some(&progress))
    }

    fn batch<E: BatchRequest, S: AsRef<str>>(
        &self,
        from: &str,
        to: &[S],
        progress: batch::OnProgress<'_>,
    ) -> Result<BatchOutcome<E::Payload>, Error> {
        let limits = batch::Limits {
            concurrency: self.inner.concurrency,
            deadline: self.inner.call_deadline,
        };
        batch::run::<E, S>(&self.inner.engine, limits, from, to, progress)
    }

    // ------------------------------------------------------ single accounts

    /// `from` follows `to`; a refusal is an [`Error::Api`].
    pub fn follow(&self, from: &str, to: &str) -> Result<(), Error> {
        self.single::<FollowAdd>(from, to)
    }

    /// `from` unfollows `to`; a refusal is an [`Error::Api`].
    pub fn unfollow(&self, from: &str, to: &str) -> Result<(), Error> {
        self.single::<FollowDelete>(from, to)
    }

    /// The relation of `from` to `to`.
    pub fn relation(&self, from: &str, to: &str) -> Result<FollowType, Error> {
        self.single::<FollowCheck>(from, to)
    }

    /// The follower, following and mutual counts of `account`.
    pub fn counts(&self, account: &str) -> Result<FollowCounts, Error> {
        self.single::<FollowGetInfo>(account, account)
    }

    fn single<E: BatchRequest>(&self, from: &str, to: &str) -> Result<E::Payload, Error> {
        let out = self.batch::<E, &str>(from, &[to], None)?;
        match out.into_vec().pop().map(|i| i.outcome) {
            Some(Outcome::Applied(p)) => Ok(p),
            Some(Outcome::Refused(api)) => Err(Error::Api(api)),
            Some(Outcome::Unknown(e)) => Err(e),
            None => Err(Error::invalid(
                crate::error::Field::Other("To_Account"),
                "no result",
            )),
        }
    }

    // ------------------------------------------------------------ follow_get

    /// One page of `from`'s fans, following or mutual list
    /// (`v4/follow/follow_get`): `cursor` is `""` for the first page, then
    /// the previous page's `next_cursor`; `want` is 1–1000. A page without
    /// `NextCursor` is the last one when it holds fewer than `want` entries,
    /// and a `Decode` error when full ([`FollowGet::check_page`]).
    pub fn follow_get_page(
        &self,
        from: &str,
        list: FollowList,
        cursor: &str,
        want: u32,
    ) -> Result<FollowPage, Error> {
        let request = FollowGet::new(from, list, cursor, want)?;
        request.check_page(self.call(&request)?)
    }

    /// Every entry of `from`'s fans, following or mutual list, fetched lazily
    /// page by page (1000 per request; see [`FollowIter::page_size`]).
    /// An error is yielded once and ends the iteration, as does a cursor the
    /// service repeats.
    pub fn follow_get(&self, from: &str, list: FollowList) -> FollowIter {
        FollowIter::new(self.clone(), from, list)
    }

    // ----------------------------------------------------------- any endpoint

    /// Sends any typed request, with signing, rate limiting and retries (a
    /// request not marked [`Request::IDEMPOTENT`] is retried only when it
    /// surely was not carried out).
    pub fn call<R: Request>(&self, request: &R) -> Result<R::Response, Error> {
        self.inner.engine.call(request)
    }

    /// Calls any REST API with a JSON body, such as `openim/querystate`, and
    /// returns the whole reply once its `ErrorCode` is 0. As the endpoint's
    /// semantics are unknown, a failed attempt is retried only when the
    /// request surely was not carried out (no connection, or a rate-limit
    /// answer); use [`call_json_idempotent`](Client::call_json_idempotent)
    /// for endpoints that are safe to repeat.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), tim_follow::Error> {
    /// # let client = tim_follow::Client::builder(1, "administrator").usersig("s").build()?;
    /// let reply = client.call_json("openim/querystate", &serde_json::json!({"To_Account": ["UserID_001"]}))?;
    /// println!("{}", reply["QueryResult"]);
    /// # Ok(()) }
    /// ```
    pub fn call_json(&self, path: &str, body: &Value) -> Result<Value, Error> {
        self.call_json_inner(path, body, false)
    }

    /// [`call_json`](Client::call_json) for an endpoint that is safe to send
    /// twice: every retryable failure is retried.
    pub fn call_json_idempotent(&self, path: &str, body: &Value) -> Result<Value, Error> {
        self.call_json_inner(path, body, true)
    }

    fn call_json_inner(&self, path: &str, body: &Value, idempotent: bool) -> Result<Value, Error> {
        let path = path.trim_start_matches('/');
        let path = path.strip_prefix("v4/").unwrap_or(path);
        let valid = !path.is_empty()
            && path.contains('/')
            && path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'/' | b'-' | b'.'))
            && !path.contains("..");
        if !valid {
            return Err(Error::invalid(
                crate::error::Field::Other("path"),
                format!("{path:?} is not of the form servicename/command"),
            ));
        }
        if !body.is_object() {
            return Err(Error::invalid(
                crate::error::Field::Other("body"),
                "must be a JSON object (send {} for no fields)",
            ));
        }
        let bytes = serde_json::to_vec(body).map_err(|e| {
            Error::invalid(
                crate::error::Field::Other("body"),
                format!("cannot be serialized: {e}"),
            )
        })?;
        // The envelope is checked before the whole reply is kept.
        let parse = |status, reply: &[u8]| parse_response_for::<Value>(path, status, reply);
        let mut trace = run::Trace::default();
        self.inner
            .engine
            .execute(path, &bytes, idempotent, parse, &mut trace)
    }
}

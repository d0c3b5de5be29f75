//! Per-account results of the batch calls.

use crate::error::{ApiError, Error};

/// What happened to one account of a batch call.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<T> {
    /// The service applied the operation (`ResultCode` 0), with its payload.
    Applied(T),
    /// The service refused this account (`ResultCode` non-zero, `ResultInfo`).
    Refused(ApiError),
    /// The request carrying this account failed after its retries (or was
    /// not sent because an earlier one failed with an error that would hit it
    /// too); the error says why. Whether it was applied is not known when the
    /// error is a transport failure: send it again to be sure (every follow
    /// operation is idempotent).
    Unknown(Error),
}

impl<T> Outcome<T> {
    /// Whether the operation was applied.
    pub fn is_applied(&self) -> bool {
        matches!(self, Outcome::Applied(_))
    }
}

/// One account and its outcome.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AccountOutcome<T> {
    /// The account (a `To_Account` of the call).
    pub account: String,
    /// What happened to it.
    pub outcome: Outcome<T>,
}

/// The result of a batch call: every distinct requested account exactly
/// once, in the order of its first appearance in the input.
///
/// ```no_run
/// # fn main() -> Result<(), tim_follow::Error> {
/// # let client = tim_follow::Client::builder(1400000000, "administrator").usersig("sig").build()?;
/// let ids: Vec<String> = (0..45).map(|i| format!("user_{i}")).collect();
/// let out = client.follow_delete("UserID_001", &ids)?;
/// println!("{} unfollowed", out.applied().count());
/// for (account, refusal) in out.refused() {
///     eprintln!("{account}: refused with {}: {}", refusal.code, refusal.info);
/// }
/// let retry_later: Vec<&str> = out.unknown().map(|(account, _)| account).collect();
/// # let _ = retry_later;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BatchOutcome<T> {
    items: Vec<AccountOutcome<T>>,
    requests: usize,
}

impl<T> BatchOutcome<T> {
    pub(crate) fn new(items: Vec<AccountOutcome<T>>, requests: usize) -> Self {
        BatchOutcome { items, requests }
    }

    /// How many accounts (distinct, in input order).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the call had no account.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How many requests the list was split into.
    pub fn requests(&self) -> usize {
        self.requests
    }

    /// Every account with its outcome, in input order.
    pub fn iter(&self) -> std::slice::Iter<'_, AccountOutcome<T>> {
        self.items.iter()
    }

    /// The outcome of one account.
    pub fn get(&self, account: &str) -> Option<&Outcome<T>> {
        self.items
            .iter()
            .find(|i| i.account == account)
            .map(|i| &i.outcome)
    }

    /// Whether every account was applied.
    pub fn all_applied(&self) -> bool {
        self.items.iter().all(|i| i.outcome.is_applied())
    }

    /// The applied accounts with their payloads.
    pub fn applied(&self) -> impl Iterator<Item = (&str, &T)> {
        self.items.iter().filter_map(|i| match &i.outcome {
            Outcome::Applied(p) => Some((i.account.as_str(), p)),
            _ => None,
        })
    }

    /// The refused accounts with the service's reason.
    pub fn refused(&self) -> impl Iterator<Item = (&str, &ApiError)> {
        self.items.iter().filter_map(|i| match &i.outcome {
            Outcome::Refused(e) => Some((i.account.as_str(), e)),
            _ => None,
        })
    }

    /// The accounts whose request failed, with the error.
    pub fn unknown(&self) -> impl Iterator<Item = (&str, &Error)> {
        self.items.iter().filter_map(|i| match &i.outcome {
            Outcome::Unknown(e) => Some((i.account.as_str(), e)),
            _ => None,
        })
    }

    /// The accounts, in order.
    pub fn into_vec(self) -> Vec<AccountOutcome<T>> {
        self.items
    }
}

impl<T> IntoIterator for BatchOutcome<T> {
    type Item = AccountOutcome<T>;
    type IntoIter = std::vec::IntoIter<AccountOutcome<T>>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl<'a, T> IntoIterator for &'a BatchOutcome<T> {
    type Item = &'a AccountOutcome<T>;
    type IntoIter = std::slice::Iter<'a, AccountOutcome<T>>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

/// How far a batch call has come, passed to a progress callback after each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Accounts whose request has finished.
    pub done: usize,
    /// Accounts in the call (distinct).
    pub total: usize,
    /// Accounts so far refused or unknown.
    pub failed: usize,
}

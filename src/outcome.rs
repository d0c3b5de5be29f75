//! Per-account results of the batch calls, and the pure rules that make
//! them from a reply: every account asked for comes back exactly once.

use crate::error::{ApiError, Error};
use crate::follow::FollowType;
use crate::reply::ReplyItem;
use crate::request::decode_error;

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
    /// Whether the outcome was established by reading the relation back
    /// with follow_check, because the answer to an earlier attempt was lost
    /// and a later one refused the account (see [`BatchOutcome`]).
    pub confirmed_by_read_back: bool,
}

impl<T> AccountOutcome<T> {
    pub(crate) fn new(account: String, outcome: Outcome<T>) -> Self {
        AccountOutcome {
            account,
            outcome,
            confirmed_by_read_back: false,
        }
    }
}

/// The result of a batch call: every distinct requested account exactly
/// once, in the order of its first appearance in the input.
///
/// # What each outcome means
///
/// - [`Outcome::Applied`]: the service answered `ResultCode` 0 for the account
///   with every documented field, or — see below — reading the relation back
///   proved it.
/// - [`Outcome::Refused`]: the service refused the account.
/// - [`Outcome::Unknown`]: the request failed after its retries, or the reply
///   had no well-formed item for the account (a [`Error::Decode`] naming the
///   field). Sending the account again is safe.
///
/// # Lost answers
///
/// If an attempt of a follow or unfollow may have been carried out but its
/// answer was lost ([`Error::may_have_been_applied`]) and a later attempt of
/// the same request refuses some accounts, those refusals may only say that
/// the lost attempt already did the work. The client then reads their
/// relations back with one follow_check and reports `Applied` where the graph
/// is in the wanted state, the refusal where it is not, and `Unknown` where
/// the read-back has no answer. [`read_backs`](BatchOutcome::read_backs)
/// counts those requests; [`AccountOutcome::confirmed_by_read_back`] marks the
/// accounts. Without such a fault no read-back is sent.
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
    read_backs: usize,
}

impl<T> BatchOutcome<T> {
    pub(crate) fn new(items: Vec<AccountOutcome<T>>, requests: usize, read_backs: usize) -> Self {
        BatchOutcome {
            items,
            requests,
            read_backs,
        }
    }

    /// How many follow_check requests were sent to read relations back
    /// (0 unless an answer was lost and a later attempt refused accounts).
    pub fn read_backs(&self) -> usize {
        self.read_backs
    }

    /// How many accounts got their outcome from a read-back.
    pub fn confirmed_by_read_back(&self) -> usize {
        self.items
            .iter()
            .filter(|i| i.confirmed_by_read_back)
            .count()
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

/// The outcomes of the accounts of one request, in the order asked, from the
/// items of its reply.
///
/// The service answers in request order, so each item is looked for at its
/// own index first and searched for only when it is not there. An account
/// without an item, whose item names a problem, or with two items that
/// disagree, is `Unknown` with a decode error; items for accounts not asked
/// for are ignored.
pub(crate) fn merge<P: PartialEq>(
    endpoint: &str,
    asked: &[&str],
    items: Vec<ReplyItem<P>>,
) -> Vec<AccountOutcome<P>> {
    // The usual reply: one item per account, in the order asked.
    if items.len() == asked.len() && items.iter().zip(asked).all(|(it, a)| it.to_account == *a) {
        return items
            .into_iter()
            .map(|item| {
                outcome_of(item)
                    .unwrap_or_else(|(account, problem)| unknown(endpoint, account, &problem))
            })
            .collect();
    }
    let extra = items.len() > asked.len();
    let mut items: Vec<Option<ReplyItem<P>>> = items.into_iter().map(Some).collect();
    asked
        .iter()
        .enumerate()
        .map(|(i, account)| {
            let found = take_item(&mut items, i, account);
            // Only a reply with more items than accounts can hold a second one.
            let conflict = extra
                && found.as_ref().is_some_and(|first| {
                    let twin = take_item(&mut items, usize::MAX, account);
                    twin.is_some_and(|twin| twin != *first)
                });
            let checked = match found {
                None => Err("the reply has no result".to_string()),
                Some(_) if conflict => Err("the reply has two different results".to_string()),
                Some(item) => outcome_of(item).map_err(|(_, problem)| problem),
            };
            checked.unwrap_or_else(|problem| unknown(endpoint, (*account).to_string(), &problem))
        })
        .collect()
}

/// An account whose item cannot be taken as an answer: `Unknown`, saying why.
fn unknown<P>(endpoint: &str, account: String, problem: &str) -> AccountOutcome<P> {
    let why = format!("for {account:?}: {problem}");
    let err = decode_error(endpoint, &why, b"");
    AccountOutcome::new(account, Outcome::Unknown(err))
}

/// Takes the item for `account`: at `index` when it is there, else the first anywhere.
fn take_item<P>(
    items: &mut [Option<ReplyItem<P>>],
    index: usize,
    account: &str,
) -> Option<ReplyItem<P>> {
    let is_it =
        |slot: &Option<ReplyItem<P>>| slot.as_ref().is_some_and(|it| it.to_account == account);
    match items.get_mut(index) {
        Some(slot) if is_it(slot) => slot.take(),
        _ => items.iter_mut().find(|s| is_it(s)).and_then(Option::take),
    }
}

/// The outcome an item reports, or its account and what is wrong with it.
/// The reply's own string becomes the outcome's account (no copy).
fn outcome_of<P>(item: ReplyItem<P>) -> Result<AccountOutcome<P>, (String, String)> {
    if let Some(problem) = item.problem {
        return Err((item.to_account, problem));
    }
    let outcome = match (item.result_code, item.payload) {
        (0, Some(payload)) => Outcome::Applied(payload),
        (0, None) => return Err((item.to_account, "the result has no payload".to_string())),
        (code, _) => Outcome::Refused(ApiError::new(code, item.result_info, "")),
    };
    Ok(AccountOutcome::new(item.to_account, outcome))
}

/// Every account of a request that failed as a whole: `Unknown` with its error.
pub(crate) fn all_unknown<P>(asked: &[&str], err: &Error) -> Vec<AccountOutcome<P>> {
    asked
        .iter()
        .map(|a| AccountOutcome::new((*a).to_string(), Outcome::Unknown(err.clone())))
        .collect()
}

/// Settles the refusals of a write whose earlier attempt may have been
/// carried out, from the relations read back with follow_check: a refused
/// account whose relation is the one wanted (`wants_follow`) was applied —
/// by the attempt whose answer was lost — and a refusal stands when the
/// relation is not. When the read-back gives no answer for an account, its
/// outcome is `Unknown` with that error: the refusal may be false.
pub(crate) fn confirm<P: Clone>(
    outcomes: &mut [AccountOutcome<P>],
    relations: Result<Vec<AccountOutcome<FollowType>>, Error>,
    (wants_follow, applied): (bool, P),
) {
    for o in outcomes.iter_mut() {
        if !matches!(o.outcome, Outcome::Refused(_)) {
            continue;
        }
        let read = match &relations {
            Ok(rel) => rel
                .iter()
                .find(|r| r.account == o.account)
                .map(|r| &r.outcome),
            Err(e) => {
                settle_unknown(o, e.clone());
                continue;
            }
        };
        match read {
            Some(Outcome::Applied(t)) => match t.as_wanted(wants_follow) {
                Some(true) => {
                    o.outcome = Outcome::Applied(applied.clone());
                    o.confirmed_by_read_back = true;
                }
                Some(false) => o.confirmed_by_read_back = true,
                None => {
                    let why = format!(
                        "the read-back of {:?} has FollowType {}, which the documentation does not define",
                        o.account,
                        t.code()
                    );
                    settle_unknown(o, decode_error("follow/follow_check", &why, b""));
                }
            },
            Some(Outcome::Refused(_)) => {}
            Some(Outcome::Unknown(e)) => settle_unknown(o, e.clone()),
            None => {
                let why = format!("the read-back has no result for {:?}", o.account);
                settle_unknown(o, decode_error("follow/follow_check", &why, b""));
            }
        }
    }
}

fn settle_unknown<P>(o: &mut AccountOutcome<P>, err: Error) {
    o.outcome = Outcome::Unknown(err);
    o.confirmed_by_read_back = false;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::BatchReply;
    use crate::request::parse_response;

    const EP: &str = "follow/follow_delete";

    fn reply(list: &str) -> Vec<ReplyItem<()>> {
        let body = format!(r#"{{"ErrorCode":0,"ResultItem":{list}}}"#);
        parse_response::<BatchReply<()>>(200, body.as_bytes())
            .unwrap()
            .items
    }

    fn item(account: &str, code: i64) -> String {
        format!(r#"{{"To_Account":"{account}","ResultCode":{code},"ResultInfo":""}}"#)
    }

    fn summary(out: &[AccountOutcome<()>]) -> Vec<(String, &'static str)> {
        out.iter()
            .map(|o| {
                let kind = match &o.outcome {
                    Outcome::Applied(()) => "applied",
                    Outcome::Refused(_) => "refused",
                    Outcome::Unknown(_) => "unknown",
                };
                (o.account.clone(), kind)
            })
            .collect()
    }

    fn s(pairs: &[(&str, &'static str)]) -> Vec<(String, &'static str)> {
        pairs.iter().map(|(a, k)| (a.to_string(), *k)).collect()
    }

    #[test]
    fn items_in_order_are_matched_by_position() {
        let items = reply(&format!("[{},{}]", item("a", 0), item("b", 30003)));
        let out = merge(EP, &["a", "b"], items);
        assert_eq!(summary(&out), s(&[("a", "applied"), ("b", "refused")]));
    }

    #[test]
    fn reordered_items_are_found() {
        let items = reply(&format!(
            "[{},{},{}]",
            item("c", 0),
            item("a", 30003),
            item("b", 0)
        ));
        let out = merge(EP, &["a", "b", "c"], items);
        assert_eq!(
            summary(&out),
            s(&[("a", "refused"), ("b", "applied"), ("c", "applied")])
        );
    }

    #[test]
    fn a_missing_item_is_unknown_naming_the_account() {
        let items = reply(&format!("[{}]", item("a", 0)));
        let out = merge(EP, &["a", "b"], items);
        assert_eq!(summary(&out), s(&[("a", "applied"), ("b", "unknown")]));
        match &out[1].outcome {
            Outcome::Unknown(Error::Decode(d)) => {
                assert!(
                    d.message.contains("\"b\"") && d.message.contains("no result"),
                    "{d}"
                );
                assert_eq!(d.endpoint, EP);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_extra_item_is_ignored_and_never_reported() {
        let items = reply(&format!("[{},{}]", item("a", 0), item("zz", 0)));
        let out = merge(EP, &["a"], items);
        assert_eq!(summary(&out), s(&[("a", "applied")]));
    }

    #[test]
    fn duplicate_items_that_agree_count_once_and_that_disagree_are_unknown() {
        let items = reply(&format!(
            "[{},{},{}]",
            item("a", 0),
            item("b", 0),
            item("a", 0)
        ));
        assert_eq!(
            summary(&merge(EP, &["a", "b"], items)),
            s(&[("a", "applied"), ("b", "applied")])
        );
        let items = reply(&format!(
            "[{},{},{}]",
            item("a", 0),
            item("b", 0),
            item("a", 30001)
        ));
        let out = merge(EP, &["a", "b"], items);
        assert_eq!(summary(&out), s(&[("a", "unknown"), ("b", "applied")]));
        assert!(format!("{:?}", out[0].outcome).contains("two different results"));
    }

    #[test]
    fn an_item_with_a_problem_is_unknown_naming_the_field() {
        let items = reply(r#"[{"To_Account":"a"},{"To_Account":"b","ResultCode":0}]"#);
        let out = merge(EP, &["a", "b"], items);
        assert_eq!(summary(&out), s(&[("a", "unknown"), ("b", "applied")]));
        assert!(format!("{:?}", out[0].outcome).contains("ResultCode is missing"));
    }

    fn refused(account: &str) -> AccountOutcome<()> {
        AccountOutcome::new(
            account.into(),
            Outcome::Refused(ApiError::new(30001, "dup", "")),
        )
    }

    fn relation(account: &str, t: FollowType) -> AccountOutcome<FollowType> {
        AccountOutcome::new(account.into(), Outcome::Applied(t))
    }

    #[test]
    fn a_refusal_whose_relation_is_the_wanted_one_was_applied() {
        let mut out = vec![
            AccountOutcome::new("a".into(), Outcome::Applied(())),
            refused("b"),
            refused("c"),
        ];
        let rel = vec![
            relation("b", FollowType::Mutual),
            relation("c", FollowType::Fan),
        ];
        confirm(&mut out, Ok(rel), (true, ()));
        assert_eq!(
            summary(&out),
            s(&[("a", "applied"), ("b", "applied"), ("c", "refused")])
        );
        assert!(
            !out[0].confirmed_by_read_back,
            "not read back: it was answered"
        );
        assert!(out[1].confirmed_by_read_back && out[2].confirmed_by_read_back);
    }

    #[test]
    fn an_unfollow_is_confirmed_by_the_absence_of_the_relation() {
        let mut out = vec![refused("a"), refused("b")];
        let rel = vec![
            relation("a", FollowType::None),
            relation("b", FollowType::Following),
        ];
        confirm(&mut out, Ok(rel), (false, ()));
        assert_eq!(summary(&out), s(&[("a", "applied"), ("b", "refused")]));
    }

    #[test]
    fn an_undocumented_follow_type_read_back_is_unknown_never_applied() {
        for wants_follow in [false, true] {
            let mut out = vec![refused("a")];
            let rel = vec![relation("a", FollowType::Unknown(7))];
            confirm(&mut out, Ok(rel), (wants_follow, ()));
            assert_eq!(summary(&out), s(&[("a", "unknown")]));
            assert!(!out[0].confirmed_by_read_back);
        }
    }

    #[test]
    fn a_read_back_without_an_answer_leaves_the_account_unknown_not_refused() {
        let mut out = vec![refused("a"), refused("b")];
        let err = Error::transport(crate::error::TransportErrorKind::Timeout, "t");
        confirm(&mut out, Err(err), (true, ()));
        assert_eq!(summary(&out), s(&[("a", "unknown"), ("b", "unknown")]));
        let mut out = vec![refused("a"), refused("b")];
        let rel = vec![AccountOutcome::new(
            "b".into(),
            Outcome::Refused(ApiError::new(30003, "no such account", "")),
        )];
        confirm(&mut out, Ok(rel), (true, ()));
        assert_eq!(summary(&out), s(&[("a", "unknown"), ("b", "refused")]));
    }

    #[test]
    fn a_failed_request_makes_each_of_its_accounts_unknown() {
        let err = Error::transport(crate::error::TransportErrorKind::Timeout, "t");
        let out: Vec<AccountOutcome<()>> = all_unknown(&["a", "b"], &err);
        assert_eq!(summary(&out), s(&[("a", "unknown"), ("b", "unknown")]));
    }
}

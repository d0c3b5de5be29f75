//! Previews: what a job would change, read from the service, with nothing
//! sent but reads (`follow_check` for each account, `follow_get` for a
//! purge).

use std::fmt;

use super::plan::Request;
use super::{JobError, Operation};
use crate::client::Client;
use crate::error::Error;
use crate::follow::{FollowList, FollowType};
use crate::outcome::{BatchOutcome, Outcome};

/// What a job would do to one relation, as the service's graph stands now.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expected {
    /// The relation would change (be made, or be removed).
    Change,
    /// It is already as the job wants it (followed, or not there): a no-op.
    InPlace,
    /// Reading it was refused (an account that does not exist, say): the
    /// job's request would be refused the same way.
    Refused {
        /// `ResultCode`.
        code: i64,
        /// `ResultInfo`.
        info: String,
    },
    /// It could not be read: the reason.
    Unknown(String),
    /// A follow of an account by itself (`FROM` among its own targets):
    /// predicted refused, not read (the service does not let an account
    /// follow itself; which `ResultCode` it answers is not documented).
    /// Counted in [`Preview::refused`].
    SelfFollow,
}

/// One relation of a preview: `from` would follow or unfollow `account`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PreviewItem {
    /// Follow or unfollow: what [`Expected::Change`] and
    /// [`Expected::InPlace`] mean (made / already there, removed / not
    /// there); [`words`](Self::words) says it.
    pub operation: Operation,
    /// The account that would follow or unfollow.
    pub from: String,
    /// The account followed or unfollowed.
    pub account: String,
    /// What would happen.
    pub expected: Expected,
}

impl PreviewItem {
    /// What would happen, in words that match the operation: "would be
    /// made" or "already there" for a follow, "would be removed" or "not
    /// there" for an unfollow, "refused (CODE INFO)", "an account cannot
    /// follow itself", "could not be read (WHY)".
    pub fn words(&self) -> String {
        let follow = self.operation == Operation::Follow;
        match (&self.expected, follow) {
            (Expected::Change, true) => "would be made".into(),
            (Expected::Change, false) => "would be removed".into(),
            (Expected::InPlace, true) => "already there".into(),
            (Expected::InPlace, false) => "not there".into(),
            (Expected::Refused { code, info }, _) => format!("refused ({code} {info})"),
            (Expected::SelfFollow, _) => "refused (an account cannot follow itself)".into(),
            (Expected::Unknown(why), _) => format!("could not be read ({why})"),
        }
    }
}

/// What a job would change: see [`Job::preview`](super::Job::preview).
/// Its `Display` is one plain sentence, such as "1,000 of 2,000 relations
/// would be removed; 1,000 are not there".
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Preview {
    /// Follow or unfollow.
    pub operation: Operation,
    /// Relations the job would work on (for a resumed job: those not done).
    pub total: u64,
    /// Of those, the ones that would change.
    pub change: u64,
    /// Already as wanted: no-ops.
    pub in_place: u64,
    /// Whose read was refused (the job would be refused too).
    pub refused: u64,
    /// That could not be read.
    pub unknown: u64,
}

impl Preview {
    pub(crate) fn new(operation: Operation) -> Preview {
        Preview {
            operation,
            total: 0,
            change: 0,
            in_place: 0,
            refused: 0,
            unknown: 0,
        }
    }

    pub(crate) fn count(&mut self, expected: &Expected) {
        self.total += 1;
        match expected {
            Expected::Change => self.change += 1,
            Expected::InPlace => self.in_place += 1,
            Expected::Refused { .. } | Expected::SelfFollow => self.refused += 1,
            Expected::Unknown(_) => self.unknown += 1,
        }
    }
}

/// `1234567` → `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl fmt::Display for Preview {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (verb, kept) = match self.operation {
            Operation::Follow => ("made", "are there already"),
            Operation::Unfollow => ("removed", "are not there"),
        };
        let word = if self.total == 1 {
            "relation"
        } else {
            "relations"
        };
        write!(
            f,
            "{} of {} {word} would be {verb}; {} {kept}",
            grouped(self.change),
            grouped(self.total),
            grouped(self.in_place)
        )?;
        if self.refused > 0 {
            write!(f, "; {} would be refused", grouped(self.refused))?;
        }
        if self.unknown > 0 {
            write!(f, "; {} could not be read", grouped(self.unknown))?;
        }
        Ok(())
    }
}

/// What a read says of one account for `op`.
pub(crate) fn expected(op: Operation, read: Option<&Outcome<FollowType>>) -> Expected {
    match read {
        Some(Outcome::Applied(t)) => match t.as_wanted(op == Operation::Follow) {
            Some(true) => Expected::InPlace,
            Some(false) => Expected::Change,
            None => Expected::Unknown(format!("an unknown FollowType {}", t.code())),
        },
        Some(Outcome::Refused(api)) => Expected::Refused {
            code: api.code,
            info: api.info.clone(),
        },
        Some(Outcome::Unknown(e)) => Expected::Unknown(e.to_string()),
        None => Expected::Unknown("no answer for this account".into()),
    }
}

/// The most accounts of one `From_Account` read with one batch call: 100
/// `follow_check` requests, so that the requests in flight can follow the
/// latency (about 90 at 300 ms a call) within one call.
const READ_AT_ONCE: usize = 10_000;

/// Reads the relations of `requests` and reports each; the preview.
pub(crate) fn read(
    client: &Client,
    op: Operation,
    requests: impl Iterator<Item = Result<Request, JobError>>,
    each: &mut dyn FnMut(&PreviewItem),
    preview: &mut Preview,
) -> Result<(), JobError> {
    let mut group: Vec<Request> = Vec::new();
    let mut size = 0;
    for request in requests {
        let request = request?;
        let joins = group.first().is_some_and(|g| g.from == request.from)
            && size + request.to.len() <= READ_AT_ONCE;
        if !joins && !group.is_empty() {
            read_group(client, op, &std::mem::take(&mut group), each, preview);
            size = 0;
        }
        size += request.to.len();
        group.push(request);
    }
    if !group.is_empty() {
        read_group(client, op, &group, each, preview);
    }
    Ok(())
}

fn read_group(
    client: &Client,
    op: Operation,
    group: &[Request],
    each: &mut dyn FnMut(&PreviewItem),
    preview: &mut Preview,
) {
    let from = group[0].from.as_str();
    let all = group.iter().flat_map(|r| r.to.iter().map(String::as_str));
    // A follow of itself is not read: it is refused.
    let itself = |a: &str| op == Operation::Follow && a == from;
    let accounts: Vec<&str> = all.clone().filter(|a| !itself(a)).collect();
    let read: Option<Result<BatchOutcome<FollowType>, Error>> =
        (!accounts.is_empty()).then(|| client.follow_check(from, &accounts));
    for account in all {
        let expected = match &read {
            _ if itself(account) => Expected::SelfFollow,
            Some(Ok(out)) => expected(op, out.get(account)),
            Some(Err(e)) => Expected::Unknown(e.to_string()),
            None => Expected::Unknown("not read".into()),
        };
        preview.count(&expected);
        each(&PreviewItem {
            operation: op,
            from: from.to_string(),
            account: account.to_string(),
            expected,
        });
    }
}

/// A purge's preview: every relation of `account` now, each a change.
pub(crate) fn purge(
    client: &Client,
    account: &str,
    each: &mut dyn FnMut(&PreviewItem),
    preview: &mut Preview,
) -> Result<(), JobError> {
    for list in [FollowList::Following, FollowList::Fans] {
        for entry in client.follow_get(account, list).page_size(1000) {
            let other = entry?.to_account;
            let (from, to) = match list {
                FollowList::Fans => (other, account.to_string()),
                _ => (account.to_string(), other),
            };
            preview.count(&Expected::Change);
            each(&PreviewItem {
                operation: Operation::Unfollow,
                from,
                account: to,
                expected: Expected::Change,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_read_is_one_class_and_the_sentence_says_the_counts() {
        let f = |t| expected(Operation::Unfollow, Some(&Outcome::Applied(t)));
        assert_eq!(f(FollowType::Following), Expected::Change);
        assert_eq!(f(FollowType::Mutual), Expected::Change);
        assert_eq!(f(FollowType::Fan), Expected::InPlace);
        assert_eq!(f(FollowType::None), Expected::InPlace);
        assert!(matches!(f(FollowType::Unknown(9)), Expected::Unknown(_)));
        let g = |t| expected(Operation::Follow, Some(&Outcome::Applied(t)));
        assert_eq!(g(FollowType::None), Expected::Change);
        assert_eq!(g(FollowType::Mutual), Expected::InPlace);
        assert!(matches!(
            expected(Operation::Follow, None),
            Expected::Unknown(_)
        ));
        let mut p = Preview::new(Operation::Unfollow);
        for _ in 0..1000 {
            p.count(&Expected::Change);
            p.count(&Expected::InPlace);
        }
        assert_eq!(
            p.to_string(),
            "1,000 of 2,000 relations would be removed; 1,000 are not there"
        );
        p.count(&Expected::Unknown("x".into()));
        assert!(p.to_string().ends_with("; 1 could not be read"));
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(grouped(12), "12");
    }
}

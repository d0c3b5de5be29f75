//! Settling what a job cannot tell from an answer: the accounts a request
//! left unknown are read back (one `follow_check` per 100 accounts of one
//! `From_Account`) before anything is sent again, and requests that check
//! first are read before they are sent. An account found in the wanted
//! state is applied (its answer was lost) or in place (it was so before the
//! job touched it); the others are sent.

use std::collections::HashSet;

use crate::client::Client;
use crate::follow::{BatchRequest, FollowCheck};
use crate::outcome::Outcome;

use super::format::Done;
use super::plan::Request;
use super::sink::{judge, Sent};
use super::{JobError, Operation};

/// One piece of work for a worker.
pub(super) enum Work {
    /// A request sent for the first time.
    Send(Request),
    /// A request whose `sending` line has no `done` line (its answer was
    /// lost), with the accounts found in place before it was sent.
    Lost(Request, Vec<String>),
    /// Requests of one `From_Account` whose accounts were left unknown:
    /// read back first (one `follow_check`), then sent where still needed.
    Settle(Vec<Request>),
}

/// The most accounts one `follow_check` reads back: the endpoint's limit.
pub(super) const CHECK_ACCOUNTS: usize = FollowCheck::MAX_ACCOUNTS;

/// Groups requests to settle by `From_Account`, at most
/// [`CHECK_ACCOUNTS`] accounts a group, in journal order.
pub(super) fn settle_groups(unknown: Vec<Request>) -> Vec<Work> {
    let mut groups: Vec<Vec<Request>> = Vec::new();
    for request in unknown {
        let fits = groups.last().is_some_and(|g| {
            g[0].from == request.from
                && g.iter().map(|r| r.to.len()).sum::<usize>() + request.to.len() <= CHECK_ACCOUNTS
        });
        match groups.last_mut() {
            Some(g) if fits => g.push(request),
            _ => groups.push(vec![request]),
        }
    }
    groups.into_iter().map(Work::Settle).collect()
}

/// What an account a read-back finds in the wanted state is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Proved {
    /// Applied: it was sent before, its answer lost (settling unknowns).
    Applied,
    /// In place: it was so before this job touched it (a request that
    /// checks first).
    InPlace,
}

/// How a request is sent once read back: one call, its accounts sorted by
/// outcome; given the accounts the read found in place (not sent).
pub(super) type SendFn<'a> = &'a (dyn Fn(&Request, &[String]) -> Result<Sent, JobError> + Sync);

/// Reads requests' accounts back with one `follow_check`, then sends (with
/// `send`) the accounts not yet in the wanted state; those that are count
/// as `proved_as`. A read that gets no answer sends nothing and journals
/// nothing: the accounts stay as they were (pending, unknown or lost), for
/// a resume to read again, since what is in place cannot be told.
pub(super) fn settle(
    client: &Client,
    op: Operation,
    group: &[Request],
    proved_as: Proved,
    send: SendFn<'_>,
) -> Result<Sent, JobError> {
    let from = group.first().map(|r| r.from.as_str()).unwrap_or_default();
    let read = read_back(client, op, from, group);
    let (fatal, unanswered) = judge(&read);
    if unanswered.is_some() {
        return Ok(Sent {
            fatal,
            unanswered,
            ..Sent::default()
        });
    }
    // A read the service refused proves nothing: everything is sent (its
    // answer says the rest).
    let wanted = read.unwrap_or_default();
    if !wanted.is_empty() {
        log::info!(
            target: "tim_follow",
            "read back {} account(s) of {from} already in the wanted state",
            wanted.len()
        );
    }
    let mut sent = settle_with(group, &wanted, proved_as, send)?;
    sent.fatal = fatal.or(sent.fatal);
    Ok(sent)
}

/// Sends the accounts of `group` not in `wanted`; those in it count as
/// `proved_as`. The work got no answer only if every write it sent got
/// none (the write endpoint is down while the reads are answered).
fn settle_with(
    group: &[Request],
    wanted: &HashSet<String>,
    proved_as: Proved,
    send: SendFn<'_>,
) -> Result<Sent, JobError> {
    let mut out = Sent::default();
    let (mut all_unanswered, mut last_error) = (true, None);
    for request in group {
        let (proved, still): (Vec<String>, Vec<String>) =
            request.to.iter().cloned().partition(|a| wanted.contains(a));
        let mut line = if still.is_empty() {
            empty_line(request)
        } else {
            let again = Request {
                to: still,
                ..request.clone()
            };
            let sent = send(&again, &proved)?;
            out.requests += 1;
            out.accounts += sent.accounts;
            out.fatal = out.fatal.or(sent.fatal);
            all_unanswered &= sent.unanswered.is_some();
            last_error = sent.unanswered.or(last_error);
            sent.lines.into_iter().next().unwrap_or_default()
        };
        match proved_as {
            Proved::Applied => drop(line.applied.splice(0..0, proved)),
            Proved::InPlace => line.in_place = proved,
        }
        out.lines.push(line);
    }
    if out.requests > 0 && all_unanswered {
        out.unanswered = last_error;
    }
    Ok(out)
}

/// A request whose answer was lost: its accounts read back (those in the
/// wanted state were applied by the run that sent it), the rest sent;
/// the accounts its `sending` line found in place stay in place.
pub(super) fn lost(
    client: &Client,
    op: Operation,
    request: Request,
    in_place: Vec<String>,
    send: SendFn<'_>,
) -> Result<Sent, JobError> {
    let in_place: Vec<String> = in_place
        .into_iter()
        .filter(|a| request.to.contains(a))
        .collect();
    let rest = Request {
        to: request
            .to
            .iter()
            .filter(|a| !in_place.contains(a))
            .cloned()
            .collect(),
        ..request
    };
    let mut sent = if rest.to.is_empty() {
        Sent {
            lines: vec![empty_line(&rest)],
            ..Sent::default()
        }
    } else {
        settle(
            client,
            op,
            std::slice::from_ref(&rest),
            Proved::Applied,
            send,
        )?
    };
    if let Some(line) = sent.lines.first_mut() {
        line.in_place = in_place;
    }
    Ok(sent)
}

/// The accounts of `group` that one `follow_check` finds in the wanted
/// state of `op` (an unreadable relation is not).
fn read_back(
    client: &Client,
    op: Operation,
    from: &str,
    group: &[Request],
) -> Result<HashSet<String>, crate::Error> {
    let accounts: Vec<&str> = group
        .iter()
        .flat_map(|r| r.to.iter().map(String::as_str))
        .collect();
    let out = client.follow_check(from, &accounts)?;
    Ok(accounts
        .into_iter()
        .filter(|a| match out.get(a) {
            Some(Outcome::Applied(t)) => t.as_wanted(op == Operation::Follow) == Some(true),
            _ => false,
        })
        .map(str::to_string)
        .collect())
}

/// The line of a request none of whose accounts needs sending.
fn empty_line(request: &Request) -> Done {
    Done {
        round: request.round,
        r: request.r,
        retry: request.retry,
        from: request.from_in_journal.then(|| request.from.clone()),
        ..Done::default()
    }
}

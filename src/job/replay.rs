//! What a journal says, line by line: each line is checked against the
//! header and the lines before it before it counts, so that a forged or
//! misplaced line is damage rather than a number in the summary. Pure: no
//! I/O. Memory: one bit per finished request (in chunks, only where lines
//! are) and the accounts still unknown.

use std::collections::BTreeMap;

use super::format::{
    Done, Header, JobOp, Line, ListName, Reads, Sending, IDS_PER_LINE, MAX_PURGE_ROUND,
    PER_REQUEST, WRITE_AHEAD,
};
use super::plan::DoneSet;
use crate::request::validate_account;

/// Accounts of a request whose latest line left them unknown: pending for a
/// resume, which reads them back and sends what is still needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unsettled {
    /// The request's `From_Account` as journaled (pairs and purges).
    pub from: Option<String>,
    /// The unknown accounts.
    pub accounts: Vec<String>,
    /// How many settling lines the request has had.
    pub retries: u32,
}

/// The state a journal's lines build, and the rules they must keep.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    purge: bool,
    pairs: bool,
    /// Requests of a follow/unfollow job.
    requests: u64,
    /// Format 1 journals could repeat a request's line (two writers); it
    /// counted once then, and still does.
    tolerate_repeats: bool,
    /// Format 3: `sending` lines may be there.
    write_ahead: bool,
    /// Requests with a line, per round.
    pub(crate) done: DoneSet,
    /// Requests whose latest line left accounts unknown, by (round, r).
    pub(crate) unsettled: BTreeMap<(u32, u64), Unsettled>,
    /// Requests with a `sending` line and no `done` line yet, by (round,
    /// r): their answer was lost. The accounts found in place before.
    pub(crate) lost: BTreeMap<(u32, u64), Vec<String>>,
    /// Applied, those in place included.
    pub(crate) applied: u64,
    /// Found in place by a read-back before sending.
    pub(crate) in_place: u64,
    pub(crate) refused: u64,
    pub(crate) unknown: u64,
    /// Purge: the counts of each finished listing, by round.
    pub(crate) snapshots: Vec<(u64, u64)>,
    /// Purge: ids listed so far in the open round (following, fans).
    listing: [u64; 2],
    /// Purge: a listing found nothing left.
    pub(crate) emptied: bool,
}

impl Replay {
    /// Checks a header; the replay of the lines after it.
    pub(crate) fn new(header: &Header, format: u32) -> Result<Replay, String> {
        let mut r = Replay {
            tolerate_repeats: format < 2,
            write_ahead: format >= WRITE_AHEAD,
            pairs: header.pairs,
            requests: header.requests,
            ..Replay::default()
        };
        if let Some(from) = &header.from {
            valid(from)?;
        }
        super::sort::check_header(header)?;
        match header.operation {
            JobOp::Follow | JobOp::Unfollow => {
                let input = header
                    .input
                    .as_ref()
                    .ok_or("a job without its input file")?;
                if header.pairs == header.from.is_some() {
                    return Err("a job with both or neither of an account and pairs".into());
                }
                let most = header.requests.checked_mul(PER_REQUEST as u64);
                if header.requests > header.total
                    || header.total > input.size
                    || most.is_none_or(|m| m < header.total)
                {
                    return Err(format!(
                        "{} accounts in {} requests from {} bytes of input cannot be",
                        header.total, header.requests, input.size
                    ));
                }
            }
            JobOp::Purge => {
                r.purge = true;
                if header.from.is_none()
                    || header.input.is_some()
                    || header.pairs
                    || header.reads != Reads::Lines
                {
                    return Err("a purge header without its account, or with an input".into());
                }
            }
        }
        Ok(r)
    }

    /// Takes in the next line, or says why it cannot be.
    pub(crate) fn apply(&mut self, line: &Line) -> Result<(), String> {
        match line {
            Line::Done(d) => self.done_line(d),
            Line::Sending(s) => self.sending(s),
            Line::Listed { round, list, ids } => self.listed(*round, *list, ids),
            Line::Snapshot {
                round,
                following,
                fans,
            } => self.snapshot(*round, *following, *fans),
        }
    }

    /// Requests in round `round` of a purge, or of the job.
    fn requests_in(&self, round: u32) -> Result<u64, String> {
        if !self.purge {
            return match round {
                0 => Ok(self.requests),
                _ => Err("a purge round in a job that is not a purge".into()),
            };
        }
        let (following, fans) = self
            .snapshots
            .get(round as usize)
            .ok_or_else(|| format!("a request of round {round} before its listing"))?;
        Ok(following.div_ceil(PER_REQUEST as u64) + fans)
    }

    fn done_line(&mut self, d: &Done) -> Result<(), String> {
        let n = d.len();
        if n == 0 || n > PER_REQUEST {
            return Err(format!("a request of {n} accounts (1 to {PER_REQUEST})"));
        }
        let limit = self.requests_in(d.round)?;
        if d.r >= limit {
            return Err(format!(
                "request {} of round {}, which has {limit}",
                d.r, d.round
            ));
        }
        if d.from.is_some() != (self.purge || self.pairs) {
            return Err("a request line with the wrong `from`".into());
        }
        if let Some(from) = &d.from {
            valid(from)?;
        }
        for id in ids_of(d) {
            valid(id)?;
        }
        if d.retry == 0 {
            self.first(d)
        } else {
            self.settling(d)
        }
    }

    /// A request about to be sent: lost until its `done` line comes.
    fn sending(&mut self, s: &Sending) -> Result<(), String> {
        if !self.write_ahead {
            return Err("a `sending` line in a journal of format 1 or 2".into());
        }
        let limit = self.requests_in(s.round)?;
        if s.r >= limit {
            return Err(format!(
                "request {} of round {}, which has {limit}",
                s.r, s.round
            ));
        }
        if s.in_place.len() >= PER_REQUEST {
            return Err(format!(
                "a request about to be sent with {} accounts in place",
                s.in_place.len()
            ));
        }
        for id in &s.in_place {
            valid(id)?;
        }
        let key = (s.round, s.r);
        if self.done.contains_in(s.round, s.r) || self.lost.contains_key(&key) {
            return Err(format!(
                "request {} of round {} about to be sent twice",
                s.r, s.round
            ));
        }
        self.lost.insert(key, s.in_place.clone());
        Ok(())
    }

    /// A request's first line.
    fn first(&mut self, d: &Done) -> Result<(), String> {
        if !self.done.insert_in(d.round, d.r) {
            if self.tolerate_repeats {
                return Ok(());
            }
            return Err(format!(
                "request {} of round {} journaled twice",
                d.r, d.round
            ));
        }
        if let Some(before) = self.lost.remove(&(d.round, d.r)) {
            if !before.iter().all(|a| d.in_place.contains(a)) {
                return Err(format!(
                    "request {} of round {} without the accounts its `sending` line found in place",
                    d.r, d.round
                ));
            }
        }
        self.count(d);
        if !d.unknown.is_empty() {
            let unsettled = Unsettled {
                from: d.from.clone(),
                accounts: d.unknown.iter().map(|u| u.0.clone()).collect(),
                retries: 0,
            };
            self.unsettled.insert((d.round, d.r), unsettled);
        }
        Ok(())
    }

    /// A line that settles the accounts a request's previous line left unknown.
    fn settling(&mut self, d: &Done) -> Result<(), String> {
        let key = (d.round, d.r);
        let u = self.unsettled.get(&key).ok_or_else(|| {
            format!(
                "a retry of request {} of round {}, which has no unknown accounts",
                d.r, d.round
            )
        })?;
        let mut was: Vec<&str> = u.accounts.iter().map(String::as_str).collect();
        let mut now: Vec<&str> = ids_of(d).map(String::as_str).collect();
        was.sort_unstable();
        now.sort_unstable();
        if d.retry != u.retries + 1 || d.from != u.from || was != now {
            return Err(format!(
                "a retry of request {} of round {} that does not match its unknown accounts",
                d.r, d.round
            ));
        }
        self.unknown -= u.accounts.len() as u64;
        self.count(d);
        if d.unknown.is_empty() {
            self.unsettled.remove(&key);
        } else if let Some(u) = self.unsettled.get_mut(&key) {
            u.accounts = d.unknown.iter().map(|u| u.0.clone()).collect();
            u.retries = d.retry;
        }
        Ok(())
    }

    fn count(&mut self, d: &Done) {
        self.applied += (d.applied.len() + d.in_place.len()) as u64;
        self.in_place += d.in_place.len() as u64;
        self.refused += d.refused.len() as u64;
        self.unknown += d.unknown.len() as u64;
    }

    fn listed(&mut self, round: u32, list: ListName, ids: &[String]) -> Result<(), String> {
        if !self.purge {
            return Err("a listing in a job that is not a purge".into());
        }
        if round as usize != self.snapshots.len() || round > MAX_PURGE_ROUND {
            return Err(format!(
                "a listing of round {round} while round {} is open",
                self.snapshots.len()
            ));
        }
        let i = match list {
            ListName::Following => 0,
            ListName::Fans => 1,
        };
        if ids.is_empty() || ids.len() > IDS_PER_LINE {
            return Err(format!("a listing line of {} ids", ids.len()));
        }
        for id in ids {
            valid(id)?;
        }
        self.listing[i] += ids.len() as u64;
        Ok(())
    }

    fn snapshot(&mut self, round: u32, following: u64, fans: u64) -> Result<(), String> {
        if !self.purge {
            return Err("a snapshot in a job that is not a purge".into());
        }
        if round as usize != self.snapshots.len() || round > MAX_PURGE_ROUND {
            return Err(format!(
                "the snapshot of round {round} while round {} is open",
                self.snapshots.len()
            ));
        }
        if [following, fans] != self.listing {
            return Err(format!(
                "a snapshot of {following} + {fans} after a listing of {} + {}",
                self.listing[0], self.listing[1]
            ));
        }
        self.snapshots.push((following, fans));
        self.listing = [0, 0];
        self.emptied |= following + fans == 0;
        Ok(())
    }

    /// Accounts with an outcome.
    pub(crate) fn finished(&self) -> u64 {
        self.applied + self.refused + self.unknown
    }

    /// Purge: relations found by the finished listings.
    pub(crate) fn listed_total(&self) -> u64 {
        self.snapshots.iter().map(|(a, b)| a + b).sum()
    }
}

/// Every account a line speaks for.
fn ids_of(d: &Done) -> impl Iterator<Item = &String> {
    let ids = d.applied.iter().chain(&d.in_place);
    ids.chain(d.refused.iter().map(|r| &r.0))
        .chain(d.unknown.iter().map(|u| &u.0))
}

fn valid(id: &str) -> Result<(), String> {
    validate_account(crate::error::Field::Other(""), id).map_err(|_| {
        let shown: String = id.chars().take(40).collect();
        format!("an account id that is not valid: {shown:?}")
    })
}

#[cfg(test)]
mod tests {
    use super::super::format::InputFile;
    use super::*;

    fn header(total: u64, requests: u64) -> Header {
        Header {
            tim_follow_job: 2,
            operation: JobOp::Follow,
            from: Some("me".into()),
            pairs: false,
            sdkappid: 1,
            input: Some(InputFile {
                path: "/ids".into(),
                size: total * 3,
                sha256: String::new(),
                blocks: Default::default(),
            }),
            total,
            requests,
            reads: Reads::Lines,
            check_first: false,
            reverse_all_applied: false,
            sorted: None,
            rate_limit: None,
        }
    }

    fn done(r: u64, retry: u32, applied: &[&str], unknown: &[&str]) -> Line {
        Line::Done(Done {
            r,
            retry,
            applied: applied.iter().map(|a| a.to_string()).collect(),
            unknown: unknown
                .iter()
                .map(|a| (a.to_string(), "down".into()))
                .collect(),
            ..Done::default()
        })
    }

    #[test]
    fn unknown_accounts_are_settled_by_a_retry_of_exactly_those_accounts() {
        let mut r = Replay::new(&header(40, 2), 2).unwrap();
        r.apply(&done(0, 0, &["a"], &["b", "c"])).unwrap();
        assert_eq!((r.applied, r.unknown, r.unsettled.len()), (1, 2, 1));
        // Another set of accounts, or a skipped retry number, is damage.
        assert!(r.apply(&done(0, 1, &["b"], &["x"])).is_err());
        assert!(r.apply(&done(0, 2, &["b", "c"], &[])).is_err());
        r.apply(&done(0, 1, &["c"], &["b"])).unwrap();
        assert_eq!((r.applied, r.unknown), (2, 1));
        r.apply(&done(0, 2, &["b"], &[])).unwrap();
        assert_eq!((r.applied, r.unknown, r.unsettled.len()), (3, 0, 0));
        assert!(r.apply(&done(0, 3, &["b"], &[])).is_err(), "nothing left");
    }

    #[test]
    fn request_numbers_repeats_and_sizes_are_checked() {
        let mut r = Replay::new(&header(40, 2), 2).unwrap();
        assert!(r.apply(&done(2, 0, &["a"], &[])).is_err(), "out of range");
        assert!(r
            .apply(&done(10_000_000_000_000_000, 0, &["a"], &[]))
            .is_err());
        r.apply(&done(1, 0, &["a"], &[])).unwrap();
        assert!(r.apply(&done(1, 0, &["a"], &[])).is_err(), "twice");
        let many: Vec<String> = (0..21).map(|i| format!("u{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(r.apply(&done(0, 0, &many, &[])).is_err(), "21 accounts");
        assert!(r.apply(&done(0, 0, &["bad\u{1}id"], &[])).is_err());
        let mut round = Done {
            round: 4_000_000_000,
            applied: vec!["a".into()],
            ..Done::default()
        };
        assert!(r.apply(&Line::Done(round.clone())).is_err());
        round.round = 0;
        assert!(r.apply(&Line::Done(round)).is_ok());
        // Format 1 counted a repeated line once, and still does.
        let mut old = Replay::new(&header(40, 2), 1).unwrap();
        old.apply(&done(1, 0, &["a"], &[])).unwrap();
        old.apply(&done(1, 0, &["a"], &[])).unwrap();
        assert_eq!(old.applied, 1);
    }

    #[test]
    fn headers_that_cannot_be_are_refused() {
        assert!(Replay::new(&header(40, 2), 2).is_ok());
        assert!(
            Replay::new(&header(40, 41), 2).is_err(),
            "more requests than accounts"
        );
        assert!(Replay::new(&header(41, 2), 2).is_err(), "over 20 a request");
        let mut h = header(40, 2);
        h.total = u64::MAX;
        h.requests = u64::MAX;
        assert!(Replay::new(&h, 2).is_err(), "more accounts than bytes");
        // Today's strings, and no other.
        for (text, op) in [
            ("\"follow\"", JobOp::Follow),
            ("\"unfollow\"", JobOp::Unfollow),
            ("\"purge\"", JobOp::Purge),
        ] {
            assert_eq!(serde_json::from_str::<JobOp>(text).unwrap(), op);
            assert_eq!(serde_json::to_string(&op).unwrap(), text);
        }
        assert!(serde_json::from_str::<JobOp>("\"drop\"").is_err());
        for (text, list) in [
            ("\"following\"", ListName::Following),
            ("\"fans\"", ListName::Fans),
        ] {
            assert_eq!(serde_json::from_str::<ListName>(text).unwrap(), list);
            assert_eq!(serde_json::to_string(&list).unwrap(), text);
        }
    }

    #[test]
    fn purge_lines_follow_their_listing() {
        let h = Header {
            operation: JobOp::Purge,
            input: None,
            total: 0,
            requests: 0,
            ..header(0, 0)
        };
        let mut r = Replay::new(&h, 2).unwrap();
        let listed = |round, list: ListName, n: usize| Line::Listed {
            round,
            list,
            ids: (0..n).map(|i| format!("f{i}")).collect(),
        };
        let snap = |round, following, fans| Line::Snapshot {
            round,
            following,
            fans,
        };
        let fan_done = |round, r| {
            Line::Done(Done {
                round,
                r,
                from: Some("f0".into()),
                applied: vec!["me".into()],
                ..Done::default()
            })
        };
        assert!(r.apply(&fan_done(0, 0)).is_err(), "before the listing");
        assert!(
            r.apply(&listed(1, ListName::Fans, 2)).is_err(),
            "round 0 is open"
        );
        r.apply(&listed(0, ListName::Following, 21)).unwrap();
        r.apply(&listed(0, ListName::Fans, 2)).unwrap();
        assert_eq!(r.listing, [21, 2]);
        assert!(r.apply(&snap(0, 21, 3)).is_err(), "not what was listed");
        r.apply(&snap(0, 21, 2)).unwrap();
        // 2 requests for 21 following, then one per fan: 4.
        r.apply(&fan_done(0, 3)).unwrap();
        assert!(r.apply(&fan_done(0, 4)).is_err());
        assert!(r.apply(&listed(5, ListName::Fans, 1)).is_err());
        r.apply(&snap(1, 0, 0)).unwrap();
        assert!(r.emptied);
        assert_eq!(r.listed_total(), 23);
    }

    #[test]
    fn a_sending_line_without_its_done_line_is_a_lost_answer_with_its_prior_state() {
        // The fuzz seed: requests 0 and 2 were in flight when the process
        // died; request 2 had found five accounts in place.
        let seed = include_bytes!("../../fuzz/seeds/journal/lost-in-flight");
        let (_, mut reader) =
            super::super::journal::Reader::from_reader(&seed[..], "seed").unwrap();
        reader.read_all().unwrap();
        let r = &reader.replay;
        assert_eq!((r.applied, r.finished()), (20, 20));
        assert_eq!(r.lost.keys().copied().collect::<Vec<_>>(), [(0, 0), (0, 2)]);
        assert!(r.lost[&(0, 0)].is_empty());
        assert_eq!(r.lost[&(0, 2)].len(), 5);
        let mut r = Replay::new(&header(60, 3), 3).unwrap();
        let sending = |r: u64| {
            Line::Sending(Sending {
                r,
                ..Sending::default()
            })
        };
        assert!(r.apply(&sending(0)).is_ok());
        assert!(r.apply(&sending(0)).is_err(), "sent twice");
        assert!(r.apply(&sending(3)).is_err(), "no such request");
        // Format 2 has no such line.
        let mut old = Replay::new(&header(60, 3), 2).unwrap();
        assert!(old.apply(&sending(0)).is_err());
    }
}

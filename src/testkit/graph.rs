//! The emulated follow graph: accounts, who follows whom and since when, and
//! the order lists are paged in. Pure data, no I/O; the service locks it.

use std::collections::{BTreeMap, HashMap};

#[derive(Default)]
struct Edge {
    time: i64,
    seq: u64,
}

#[derive(Default)]
struct Account {
    nick: Option<String>,
    following: HashMap<String, Edge>,
    following_order: BTreeMap<u64, String>,
    fans: HashMap<String, Edge>,
    fans_order: BTreeMap<u64, String>,
}

#[derive(Default)]
pub(crate) struct Graph {
    accounts: HashMap<String, Account>,
    seq: u64,
}

impl Graph {
    pub(crate) fn import(&mut self, id: &str, nick: Option<String>) {
        let acc = self.accounts.entry(id.to_string()).or_default();
        if nick.is_some() {
            acc.nick = nick;
        }
    }

    pub(crate) fn exists(&self, id: &str) -> bool {
        self.accounts.contains_key(id)
    }

    /// `from` follows `to`: whether the graph changed (`false`: already
    /// following), or the `ResultCode` of a refusal.
    pub(crate) fn follow(
        &mut self,
        from: &str,
        to: &str,
        now: i64,
        max_following: usize,
    ) -> Result<bool, i64> {
        if from == to {
            return Err(30001);
        }
        let Some(a) = self.accounts.get(from) else {
            return Err(30003);
        };
        if !self.accounts.contains_key(to) {
            return Err(30003);
        }
        if a.following.contains_key(to) {
            return Ok(false);
        }
        if a.following.len() >= max_following {
            return Err(32100);
        }
        self.seq += 1;
        let seq = self.seq;
        if let Some(a) = self.accounts.get_mut(from) {
            a.following.insert(to.to_string(), Edge { time: now, seq });
            a.following_order.insert(seq, to.to_string());
        }
        if let Some(b) = self.accounts.get_mut(to) {
            b.fans.insert(from.to_string(), Edge { time: now, seq });
            b.fans_order.insert(seq, from.to_string());
        }
        Ok(true)
    }

    /// `from` unfollows `to`: whether the graph changed (`false`: was not
    /// following), or the `ResultCode` of a refusal.
    pub(crate) fn unfollow(&mut self, from: &str, to: &str) -> Result<bool, i64> {
        if !self.accounts.contains_key(to) {
            return Err(30003);
        }
        let Some(a) = self.accounts.get_mut(from) else {
            return Err(30003);
        };
        let Some(edge) = a.following.remove(to) else {
            return Ok(false);
        };
        a.following_order.remove(&edge.seq);
        if let Some(b) = self.accounts.get_mut(to) {
            b.fans.remove(from);
            b.fans_order.remove(&edge.seq);
        }
        Ok(true)
    }

    pub(crate) fn relation(&self, from: &str, to: &str) -> Option<i64> {
        let a = self.accounts.get(from)?;
        self.accounts.get(to)?;
        let follows = a.following.contains_key(to);
        let followed = a.fans.contains_key(to);
        Some(match (follows, followed) {
            (false, false) => 0,
            (false, true) => 1,
            (true, false) => 2,
            (true, true) => 3,
        })
    }

    pub(crate) fn counts(&self, id: &str) -> Option<(u64, u64, u64)> {
        let a = self.accounts.get(id)?;
        let mutual = a
            .following
            .keys()
            .filter(|k| a.fans.contains_key(*k))
            .count();
        Some((a.fans.len() as u64, a.following.len() as u64, mutual as u64))
    }

    /// One page of a list, newest first: entries with sequence below `before`.
    pub(crate) fn page(
        &self,
        id: &str,
        list: i64,
        before: u64,
        want: usize,
    ) -> (Vec<(String, i64, u64)>, bool) {
        let Some(a) = self.accounts.get(id) else {
            return (Vec::new(), false);
        };
        let (order, edges, other) = match list {
            1 => (&a.fans_order, &a.fans, None),
            2 => (&a.following_order, &a.following, None),
            _ => (&a.following_order, &a.following, Some(&a.fans)),
        };
        let mut out = Vec::with_capacity(want.min(1000));
        let mut more = false;
        for (seq, who) in order.range(..before).rev() {
            let time = match other {
                Some(fans) => match fans.get(who) {
                    Some(back) => back.time.max(edges.get(who).map(|e| e.time).unwrap_or(0)),
                    None => continue,
                },
                None => edges.get(who).map(|e| e.time).unwrap_or(0),
            };
            if out.len() == want {
                more = true;
                break;
            }
            out.push((who.clone(), time, *seq));
        }
        (out, more)
    }

    pub(crate) fn list(&self, id: &str, list: i64) -> Vec<String> {
        self.page(id, list, u64::MAX, usize::MAX)
            .0
            .into_iter()
            .map(|e| e.0)
            .collect()
    }

    pub(crate) fn nick(&self, id: &str) -> Option<&str> {
        self.accounts.get(id).and_then(|a| a.nick.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_rules() {
        let mut g = Graph::default();
        for id in ["a", "b", "c"] {
            g.import(id, None);
        }
        assert_eq!(g.follow("a", "a", 1, 5000), Err(30001));
        assert_eq!(g.follow("a", "zz", 1, 5000), Err(30003));
        assert_eq!(g.follow("a", "b", 1, 5000), Ok(true));
        assert_eq!(
            g.follow("a", "b", 2, 5000),
            Ok(false),
            "a repeat changes nothing"
        );
        assert_eq!(g.relation("a", "b"), Some(2));
        assert_eq!(g.relation("b", "a"), Some(1));
        assert_eq!(g.follow("b", "a", 3, 5000), Ok(true));
        assert_eq!(g.relation("a", "b"), Some(3));
        assert_eq!(g.counts("a"), Some((1, 1, 1)));
        assert_eq!(g.follow("a", "c", 4, 1), Err(32100));
        assert_eq!(g.unfollow("a", "c"), Ok(false), "not followed: no change");
        assert_eq!(g.unfollow("a", "b"), Ok(true));
        assert_eq!(g.relation("a", "b"), Some(1));
        assert_eq!(g.counts("b"), Some((0, 1, 0)));
    }
}

//! Paging through a follow list: [`FollowIter`].

use std::collections::{HashSet, VecDeque};

use super::Client;
use crate::error::Error;
use crate::follow::{FollowEntry, FollowGet, FollowList};
use crate::request::{decode_error, Request};

/// The entries of a follow list, fetched lazily page by page. Made by
/// [`Client::follow_get`].
#[derive(Debug)]
pub struct FollowIter {
    client: Client,
    from: String,
    list: FollowList,
    page_size: u32,
    cursor: Option<String>,
    buffer: VecDeque<FollowEntry>,
    seen: HashSet<String>,
}

impl FollowIter {
    pub(crate) fn new(client: Client, from: &str, list: FollowList) -> FollowIter {
        FollowIter {
            client,
            from: from.to_string(),
            list,
            page_size: FollowGet::MAX_WANT_NUM,
            cursor: Some(String::new()),
            buffer: VecDeque::new(),
            seen: HashSet::new(),
        }
    }

    /// Fetches `n` entries per request (1–1000; values outside are clamped).
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = n.clamp(1, FollowGet::MAX_WANT_NUM);
        self
    }
}

impl Iterator for FollowIter {
    type Item = Result<FollowEntry, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(entry) = self.buffer.pop_front() {
                return Some(Ok(entry));
            }
            let cursor = self.cursor.take()?;
            if !cursor.is_empty() && !self.seen.insert(cursor.clone()) {
                return Some(Err(decode_error(
                    FollowGet::PATH,
                    &format!("the service returned the cursor {cursor:?} twice; stopping to avoid a loop"),
                    b"",
                )));
            }
            match self
                .client
                .follow_get_page(&self.from, self.list, &cursor, self.page_size)
            {
                Ok(page) => {
                    if !page.next_cursor.is_empty() {
                        self.cursor = Some(page.next_cursor);
                    }
                    self.buffer.extend(page.entries);
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl std::iter::FusedIterator for FollowIter {}

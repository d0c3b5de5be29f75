//! Batch calls: validate and deduplicate the accounts once, split them into
//! requests of the endpoint's limit, send those on worker threads, and merge
//! every request's outcomes back in input order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::run::{Engine, Trace};
use crate::error::{Error, TransportErrorKind};
use crate::follow::{BatchRequest, Checked, FollowCheck};
use crate::outcome::{
    all_unknown, confirm, merge, AccountOutcome, BatchOutcome, Outcome, Progress,
};
use crate::request::Request;
use crate::request::{validate_account, validate_account_at};
use crate::sync::lock;

/// A progress callback, called on worker threads one at a time.
pub(crate) type OnProgress<'a> = Option<&'a (dyn Fn(Progress) + Sync)>;

/// The outcome of one request of a batch: one per account, in request order.
type ChunkResult<T> = Result<Vec<AccountOutcome<T>>, Error>;

/// How a batch call may spread out.
pub(crate) struct Limits {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// No request starts later than this after the call began.
    pub deadline: Option<std::time::Duration>,
}

/// Runs a batch endpoint over any number of accounts.
pub(crate) fn run<E: BatchRequest, S: AsRef<str>>(
    engine: &Engine,
    limits: Limits,
    from: &str,
    to: &[S],
    progress: OnProgress<'_>,
) -> Result<BatchOutcome<E::Payload>, Error> {
    let accounts = distinct_valid(from, to)?;
    if accounts.is_empty() {
        return Ok(BatchOutcome::new(Vec::new(), 0, 0));
    }
    let chunks: Vec<&[&str]> = accounts.chunks(E::MAX_ACCOUNTS).collect();
    let workers = Workers {
        engine,
        from,
        fatal: Mutex::new(None),
        tally: Mutex::new(Progress {
            done: 0,
            total: accounts.len(),
            failed: 0,
        }),
        progress,
        read_backs: AtomicUsize::new(0),
        streak: Streak::default(),
        deadline: limits.deadline.map(|d| (std::time::Instant::now() + d, d)),
        in_flight: AtomicUsize::new(0),
    };
    let results = workers.run_all::<E>(&chunks, limits.concurrency);
    if results.iter().all(Result::is_err) {
        // No request succeeded: report the first failure.
        if let Some(err) = results.into_iter().find_map(Result::err) {
            return Err(err);
        }
        return Ok(BatchOutcome::new(Vec::new(), 0, 0));
    }
    let mut items = Vec::new();
    for (chunk, result) in chunks.iter().zip(results) {
        let outcomes = result.unwrap_or_else(|e| all_unknown(chunk, &e));
        if items.is_empty() {
            // The first request's outcomes, kept where they are.
            items = outcomes;
            items.reserve_exact(accounts.len().saturating_sub(items.len()));
        } else {
            items.extend(outcomes);
        }
    }
    let read_backs = workers.read_backs.into_inner();
    Ok(BatchOutcome::new(items, chunks.len(), read_backs))
}

/// The accounts of a call, each checked once (errors name the caller's
/// index), without repeats, in the order of first appearance.
#[inline(never)] // a stage of its own in profiles (benches/stages.py)
pub(crate) fn distinct_valid<'a, S: AsRef<str>>(
    from: &str,
    to: &'a [S],
) -> Result<Vec<&'a str>, Error> {
    validate_account(crate::error::Field::FromAccount, from)?;
    for (i, id) in to.iter().enumerate() {
        validate_account_at("To_Account", i, id.as_ref())?;
    }
    // Repeats are dropped through a table of fingerprints and positions at
    // least twice as large as the list (open addressing: a probe always ends
    // at a free slot); strings are compared only when fingerprints are equal.
    // The usual short list's table is on the stack.
    let mut accounts: Vec<&str> = Vec::with_capacity(to.len());
    let size = (2 * to.len()).next_power_of_two();
    let mut on_stack = [(0u64, 0usize); 64];
    let mut on_heap = Vec::new();
    let slots: &mut [(u64, usize)] = if size <= on_stack.len() {
        &mut on_stack[..size]
    } else {
        on_heap.resize(size, (0, 0));
        &mut on_heap
    };
    for id in to.iter().map(AsRef::as_ref) {
        let print = fingerprint(id);
        let mut at = print as usize & (size - 1);
        loop {
            match slots[at] {
                (_, 0) => {
                    accounts.push(id);
                    slots[at] = (print, accounts.len());
                    break;
                }
                (p, i) if p == print && accounts[i - 1] == id => break,
                _ => at = (at + 1) & (size - 1),
            }
        }
    }
    Ok(accounts)
}

/// FNV-1a of an id's bytes: equal ids have equal fingerprints.
fn fingerprint(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// What the workers of one batch call share.
struct Workers<'a> {
    engine: &'a Engine,
    from: &'a str,
    /// An error that would hit every request (credentials, permission, app
    /// configuration): the requests not yet sent fail with it instead.
    fatal: Mutex<Option<Error>>,
    tally: Mutex<Progress>,
    progress: OnProgress<'a>,
    /// follow_check requests sent to settle ambiguous refusals.
    read_backs: AtomicUsize,
    /// Transport failures in a row while nothing succeeded.
    streak: Streak,
    /// Requests being sent now.
    in_flight: AtomicUsize,
    /// When the call's deadline passes, and its length.
    deadline: Option<(std::time::Instant, std::time::Duration)>,
}

/// After this many requests in a row failed for the same transport reason,
/// with none succeeding, the rest of a batch is reported `Unknown` with that
/// error instead of being sent: a server that never answers costs one
/// request deadline, not one per request.
const STREAK: usize = 3;

/// Counts transport failures of one kind in a row, until a request succeeds.
#[derive(Default)]
struct Streak(Mutex<StreakState>);

#[derive(Default)]
struct StreakState {
    any_success: bool,
    kind: Option<TransportErrorKind>,
    count: usize,
}

impl Streak {
    /// Whether requests have failed for a transport reason and none succeeded.
    fn doubtful(&self) -> bool {
        let s = lock(&self.0);
        !s.any_success && s.count > 0
    }

    /// Notes a request's result; the error that should stop the batch, once.
    fn lock_and_note<T>(&self, result: &Result<T, Error>) -> Option<Error> {
        let mut s = lock(&self.0);
        match result {
            Err(Error::Transport(t)) if !s.any_success => {
                if s.kind == Some(t.kind) {
                    s.count += 1;
                } else {
                    (s.kind, s.count) = (Some(t.kind), 1);
                }
                (s.count == STREAK).then(|| Error::Transport(t.clone()))
            }
            Err(_) => None,
            Ok(_) => {
                s.any_success = true;
                None
            }
        }
    }
}

impl Workers<'_> {
    /// Sends the chunks on up to `concurrency` threads, started as the
    /// number of requests in flight needs them; results in chunk order.
    fn run_all<E: BatchRequest>(
        &self,
        chunks: &[&[&str]],
        concurrency: usize,
    ) -> Vec<ChunkResult<E::Payload>> {
        let most = concurrency.min(chunks.len());
        if most <= 1 {
            return chunks.iter().map(|c| self.run_one::<E>(c)).collect();
        }
        let pool = Pool {
            next: AtomicUsize::new(0),
            started: AtomicUsize::new(0),
            most,
            slots: chunks.iter().map(|_| Mutex::new(None)).collect(),
        };
        std::thread::scope(|scope| {
            if !pool.grow::<E>(scope, self, chunks) {
                // Not even one thread: this one does the work.
                pool.work::<E>(scope, self, chunks);
                return;
            }
            // While chunks are left, this thread starts the workers a
            // growing target allows (the calls in flight waiting longer
            // than the estimate raise it before any of them returns).
            while pool.next.load(Ordering::SeqCst) < chunks.len() {
                std::thread::sleep(std::time::Duration::from_millis(20));
                while pool.grow::<E>(scope, self, chunks) {}
            }
        });
        pool.slots
            .into_iter()
            .map(|s| {
                s.into_inner()
                    .unwrap_or_else(|p| p.into_inner())
                    .unwrap_or_else(|| {
                        Err(Error::transport(
                            TransportErrorKind::Other,
                            "a worker thread ended early",
                        ))
                    })
            })
            .collect()
    }

    /// One request: sent unless a fatal error came first; progress reported.
    fn run_one<E: BatchRequest>(&self, chunk: &[&str]) -> ChunkResult<E::Payload> {
        self.wait_while_doubtful();
        self.check_deadline();
        let stop = lock(&self.fatal).clone();
        let result = match stop {
            Some(err) => Err(err),
            None => {
                self.in_flight.fetch_add(1, Ordering::SeqCst);
                let result = self.send::<E>(chunk);
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                result
            }
        };
        if let Some(err) = self.streak.lock_and_note(&result) {
            log::warn!(
                "tim-follow: {STREAK} requests in a row failed ({err}) and none succeeded; \
                 the rest of the batch is not sent"
            );
            lock(&self.fatal).get_or_insert(err);
        }
        if let Err(Error::Api(api)) = &result {
            if api.kind().is_fatal() {
                lock(&self.fatal).get_or_insert_with(|| Error::Api(api.clone()));
            }
        }
        let failed = match &result {
            Ok(o) => o.iter().filter(|o| !o.outcome.is_applied()).count(),
            Err(_) => chunk.len(),
        };
        let mut tally = lock(&self.tally);
        tally.done += chunk.len();
        tally.failed += failed;
        if let Some(report) = self.progress {
            report(*tally);
        }
        result
    }

    /// Past the call's deadline, the requests not yet sent fail with it.
    fn check_deadline(&self) {
        if let Some((at, length)) = self.deadline {
            if std::time::Instant::now() >= at {
                lock(&self.fatal).get_or_insert_with(|| {
                    Error::transport(
                        TransportErrorKind::Timeout,
                        format!(
                            "the call's deadline of {length:?} passed before this request was sent"
                        ),
                    )
                });
            }
        }
    }

    /// While requests fail for a transport reason and none has succeeded, a
    /// new request waits for those in flight to settle: either one succeeds,
    /// or enough fail to stop the batch, and no second wave goes out.
    fn wait_while_doubtful(&self) {
        while self.streak.doubtful()
            && self.in_flight.load(Ordering::SeqCst) > 0
            && lock(&self.fatal).is_none()
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    fn send<E: BatchRequest>(&self, chunk: &[&str]) -> ChunkResult<E::Payload> {
        let body = E::checked_body(Checked {
            from: self.from,
            to: chunk,
        })?;
        let mut trace = Trace::default();
        let reply = self
            .engine
            .execute(E::PATH, &body, E::IDEMPOTENT, E::parse, &mut trace)?;
        let mut outcomes = merge(E::PATH, chunk, reply.items);
        if let Some(wanted) = E::READ_BACK.filter(|_| trace.ambiguous) {
            self.read_back(&mut outcomes, wanted);
        }
        Ok(outcomes)
    }

    /// After an attempt whose answer was lost, a later attempt's refusals may
    /// describe the state the lost one made: read those relations back.
    fn read_back<P: Clone>(&self, outcomes: &mut [AccountOutcome<P>], wanted: (bool, P)) {
        let refused: Vec<&str> = outcomes
            .iter()
            .filter(|o| matches!(o.outcome, Outcome::Refused(_)))
            .map(|o| o.account.as_str())
            .collect();
        if refused.is_empty() {
            return;
        }
        self.read_backs.fetch_add(1, Ordering::Relaxed);
        log::info!(
            "tim-follow: an answer was lost and a later attempt refused {} accounts of {}; reading their relations back",
            refused.len(),
            self.from
        );
        let checked = Checked {
            from: self.from,
            to: &refused,
        };
        let relations = FollowCheck::checked_body(checked)
            .and_then(|body| {
                let mut trace = Trace::default();
                self.engine.execute(
                    FollowCheck::PATH,
                    &body,
                    true,
                    FollowCheck::parse,
                    &mut trace,
                )
            })
            .map(|reply| merge(FollowCheck::PATH, &refused, reply.items));
        confirm(outcomes, relations, wanted);
    }
}

/// The worker threads of one batch call and the chunks they share.
struct Pool<R> {
    /// The next chunk to take.
    next: AtomicUsize,
    /// Threads started.
    started: AtomicUsize,
    /// The most threads: the cap or the number of chunks, if fewer.
    most: usize,
    slots: Vec<Mutex<Option<R>>>,
}

impl<P: Send> Pool<ChunkResult<P>> {
    /// Starts one more worker if the requests in flight may grow past the
    /// threads there are and chunks are left; whether one started.
    fn grow<'scope, 'env, E: BatchRequest<Payload = P>>(
        &'scope self,
        scope: &'scope std::thread::Scope<'scope, 'env>,
        workers: &'scope Workers<'env>,
        chunks: &'scope [&'env [&'env str]],
    ) -> bool
    where
        'env: 'scope,
    {
        let left = chunks
            .len()
            .saturating_sub(self.next.load(Ordering::SeqCst));
        // A few spare workers wait at the gate with their request taken,
        // ready as soon as the target grows (the calls in flight waiting
        // longer than the estimate raise it at once).
        let wanted = crate::inflight::workers_for(workers.engine.gate.target()).min(self.most);
        left > 0
            && crate::inflight::start_worker(scope, &self.started, wanted, "tim-follow-batch", {
                move || self.work::<E>(scope, workers, chunks)
            })
    }

    /// Takes chunks until none is left, starting more workers as needed.
    fn work<'scope, 'env, E: BatchRequest<Payload = P>>(
        &'scope self,
        scope: &'scope std::thread::Scope<'scope, 'env>,
        workers: &'scope Workers<'env>,
        chunks: &'scope [&'env [&'env str]],
    ) where
        'env: 'scope,
    {
        let grow = || {
            // A few at a time: each one started starts more.
            for _ in 0..4 {
                if !self.grow::<E>(scope, workers, chunks) {
                    break;
                }
            }
        };
        loop {
            // Each worker, before each request and while it waits for a
            // place, starts those the target allows (the target grows with
            // the latency, and with the first calls' wait before any answer).
            grow();
            // A chunk is taken only when it can be sent at once, so that
            // the call's deadline and a fatal error are seen by the chunks
            // not yet taken.
            while self.next.load(Ordering::SeqCst) < chunks.len()
                && !workers
                    .engine
                    .gate
                    .room(std::time::Duration::from_millis(100))
            {
                grow();
            }
            grow();
            let i = self.next.fetch_add(1, Ordering::SeqCst);
            let Some(chunk) = chunks.get(i) else {
                workers.engine.gate.unpromise();
                break;
            };
            *lock(&self.slots[i]) = Some(workers.run_one::<E>(chunk));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::validations;
    use crate::FollowDelete;

    #[test]
    fn a_batch_validates_each_id_once() {
        let ids: Vec<String> = (0..45).map(|i| format!("user_{i}")).collect();
        let before = validations();
        let accounts = distinct_valid("from", &ids).unwrap();
        assert_eq!(
            validations() - before,
            46,
            "From_Account and 45 ids, once each"
        );
        let before = validations();
        let mut bodies = Vec::new();
        for chunk in accounts.chunks(20) {
            let from = "from";
            bodies.push(FollowDelete::checked_body(Checked { from, to: chunk }).unwrap());
        }
        assert_eq!(
            validations() - before,
            0,
            "building the requests checks nothing again"
        );
        // The bodies are those of the validating constructors, for both body shapes.
        let owned = FollowDelete::new("from", &accounts[..20]).unwrap();
        assert_eq!(bodies[0], owned.body().unwrap());
        let checked = Checked {
            from: "from",
            to: &accounts[..3],
        };
        let add = crate::FollowAdd::new("from", &accounts[..3]).unwrap();
        assert_eq!(
            crate::FollowAdd::checked_body(checked).unwrap(),
            add.body().unwrap()
        );
    }

    #[test]
    fn repeats_are_dropped_in_order_of_first_appearance_and_errors_name_the_index() {
        assert_eq!(distinct_valid("f", &["b", "a", "b"]).unwrap(), ["b", "a"]);
        let long: Vec<String> = (0..40).map(|i| format!("u{}", i % 35)).collect();
        assert_eq!(distinct_valid("f", &long).unwrap().len(), 35);
        // Repeats spread out, and lists without repeats, short and long.
        let spread: Vec<String> = (0..32).map(|i| format!("u{}", (i * 5) % 7)).collect();
        let want: Vec<String> = [0, 5, 3, 1, 6, 4, 2]
            .iter()
            .map(|i| format!("u{i}"))
            .collect();
        assert_eq!(distinct_valid("f", &spread).unwrap(), want);
        for n in [0, 1, 2, 3, 20, 1000] {
            let all: Vec<String> = (0..n).map(|i| format!("{i}")).collect();
            assert_eq!(distinct_valid("f", &all).unwrap(), all);
        }
        let err = distinct_valid("f", &["a", ""]).unwrap_err();
        assert!(err.to_string().contains("To_Account[1]"), "{err}");
    }
}

//! The threads that run the (blocking) handler on whole requests: as many
//! as are busy, up to a bound, on small stacks; one idle for a second ends.
//! Requests wait in a queue, which the event loop bounds (a connection has
//! at most one request in it).

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::{Handler, HttpRequest, Reply};

/// The stack of a worker: the handler parses JSON and writes a file or a
/// pipe; deep recursion is bounded by serde_json's own limit.
const STACK: usize = 256 * 1024;
/// A worker with nothing to do for this long ends.
const IDLE_EXIT: Duration = Duration::from_secs(1);

/// A request for connection `slot`.
pub(crate) struct Job {
    pub slot: usize,
    pub request: HttpRequest,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    threads: usize,
    /// Workers running the handler (a worker is counted free again before
    /// its reply is sent, so a request queued after that reply finds it).
    busy: usize,
    stop: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    handler: Arc<dyn Handler>,
    /// Replies go back to the event loop, which `wake` wakes.
    done: Mutex<Sender<(usize, Reply)>>,
    wake: Box<dyn Fn() + Send + Sync>,
}

/// The workers.
pub(crate) struct Pool {
    shared: Arc<Shared>,
    max: usize,
}

impl Pool {
    pub(crate) fn new(
        handler: Arc<dyn Handler>,
        max: usize,
        done: Sender<(usize, Reply)>,
        wake: Box<dyn Fn() + Send + Sync>,
    ) -> Pool {
        let shared = Shared {
            queue: Mutex::default(),
            ready: Condvar::new(),
            handler,
            done: Mutex::new(done),
            wake,
        };
        Pool {
            shared: Arc::new(shared),
            max: max.max(1),
        }
    }

    /// Queues `job`, starting a worker if none is free and the bound allows.
    /// With no worker at all and none startable, the job comes back.
    pub(crate) fn submit(&self, job: Job) -> Result<(), Job> {
        let mut q = crate::sync::lock(&self.shared.queue);
        q.jobs.push_back(job);
        if q.jobs.len() <= q.threads - q.busy || q.threads >= self.max {
            self.shared.ready.notify_one();
            return Ok(());
        }
        let shared = self.shared.clone();
        let spawned = std::thread::Builder::new()
            .name("tim-follow-http-work".into())
            .stack_size(STACK)
            .spawn(move || work(&shared));
        match spawned {
            Ok(_) => {
                q.threads += 1;
                Ok(())
            }
            Err(_) if q.threads > 0 => Ok(()),
            Err(_) => Err(q.jobs.pop_back().expect("just queued")),
        }
    }

    /// Lets the workers end once the queue is empty.
    pub(crate) fn stop(&self) {
        crate::sync::lock(&self.shared.queue).stop = true;
        self.shared.ready.notify_all();
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.stop();
    }
}

fn work(shared: &Shared) {
    let mut q = crate::sync::lock(&shared.queue);
    loop {
        if let Some(job) = q.jobs.pop_front() {
            q.busy += 1;
            drop(q);
            run(shared, job);
            q = crate::sync::lock(&shared.queue);
            continue;
        }
        if q.stop {
            break;
        }
        let (back, timeout) = shared
            .ready
            .wait_timeout(q, IDLE_EXIT)
            .unwrap_or_else(|e| e.into_inner());
        q = back;
        if timeout.timed_out() && q.jobs.is_empty() {
            break;
        }
    }
    q.threads -= 1;
}

fn run(shared: &Shared, job: Job) {
    let handler = &shared.handler;
    let reply =
        catch_unwind(AssertUnwindSafe(|| handler.handle(job.request))).unwrap_or_else(|_| {
            Reply::Response {
                status: 500,
                content_type: "text/plain",
                body: b"the handler failed".to_vec(),
            }
        });
    crate::sync::lock(&shared.queue).busy -= 1;
    let sent = crate::sync::lock(&shared.done).send((job.slot, reply));
    if sent.is_ok() {
        (shared.wake)();
    }
}

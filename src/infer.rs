//! The live translation worker: one thread owns the loaded generator; the UI hands it the
//! newest label map and never waits.
//!
//! Latest wins: a request the worker has not started yet is replaced by a newer one, and a
//! result older than one already delivered is dropped, so a fast painter sees the newest
//! painting translated as soon as the network can keep up, never a backlog.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

/// What the worker sends back for one request.
#[derive(Debug)]
pub struct Finished<Out> {
    /// The sequence number `submit` returned for the request.
    pub request_id: u64,
    pub output: Out,
    pub elapsed_ms: f64,
}

struct Slot<In> {
    pending: Option<(u64, In)>,
    shutting_down: bool,
}

struct Shared<In> {
    slot: Mutex<Slot<In>>,
    wakeup: Condvar,
    busy: AtomicBool,
}

/// A worker thread that runs `job` on the newest submitted input.
pub struct LatestWinsWorker<In: Send + 'static, Out: Send + 'static> {
    shared: Arc<Shared<In>>,
    results: Receiver<Finished<Out>>,
    next_id: AtomicU64,
    last_delivered: Option<u64>,
    thread: Option<JoinHandle<()>>,
}

impl<In: Send + 'static, Out: Send + 'static> LatestWinsWorker<In, Out> {
    /// Starts the thread. `job` runs on it; `notify` is called after each result is queued
    /// (the UI passes `ctx.request_repaint`).
    pub fn spawn(
        name: &str,
        mut job: impl FnMut(In) -> Out + Send + 'static,
        notify: impl Fn() + Send + 'static,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            slot: Mutex::new(Slot {
                pending: None,
                shutting_down: false,
            }),
            wakeup: Condvar::new(),
            busy: AtomicBool::new(false),
        });
        let (sender, results) = channel();
        let worker_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || run_worker(&worker_shared, &mut job, &sender, &notify))?;
        Ok(Self {
            shared,
            results,
            next_id: AtomicU64::new(0),
            last_delivered: None,
            thread: Some(thread),
        })
    }

    /// Queues `input`, replacing any request the worker has not started. Returns its id.
    pub fn submit(&self, input: In) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut slot = lock(&self.shared.slot);
        slot.pending = Some((id, input));
        self.shared.wakeup.notify_one();
        id
    }

    /// True while a request is queued or running.
    pub fn is_busy(&self) -> bool {
        self.shared.busy.load(Ordering::Acquire) || lock(&self.shared.slot).pending.is_some()
    }

    /// The newest finished result not yet seen, skipping any older than one already delivered.
    pub fn poll(&mut self) -> Option<Finished<Out>> {
        let mut newest = None;
        loop {
            match self.results.try_recv() {
                Ok(done) => {
                    let is_newer = self
                        .last_delivered
                        .is_none_or(|last| done.request_id > last);
                    if is_newer {
                        self.last_delivered = Some(done.request_id);
                        newest = Some(done);
                    }
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return newest,
            }
        }
    }

    /// Blocks until a result arrives (tests and the CLI only; the UI polls).
    pub fn wait_result(&mut self, timeout: std::time::Duration) -> Option<Finished<Out>> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(done) = self.poll() {
                return Some(done);
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        None
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic inside a job poisons nothing we rely on: the slot holds plain data.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn run_worker<In, Out>(
    shared: &Shared<In>,
    job: &mut impl FnMut(In) -> Out,
    sender: &Sender<Finished<Out>>,
    notify: &impl Fn(),
) {
    loop {
        let (request_id, input) = {
            let mut slot = lock(&shared.slot);
            loop {
                if slot.shutting_down {
                    return;
                }
                if let Some(request) = slot.pending.take() {
                    shared.busy.store(true, Ordering::Release);
                    break request;
                }
                slot = shared
                    .wakeup
                    .wait(slot)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        };
        let started = Instant::now();
        let output = job(input);
        let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        shared.busy.store(false, Ordering::Release);
        if sender
            .send(Finished {
                request_id,
                output,
                elapsed_ms,
            })
            .is_err()
        {
            return;
        }
        notify();
    }
}

impl<In: Send + 'static, Out: Send + 'static> Drop for LatestWinsWorker<In, Out> {
    /// Stops the thread after the job in progress; a queued request is discarded.
    fn drop(&mut self) {
        {
            let mut slot = lock(&self.shared.slot);
            slot.shutting_down = true;
            slot.pending = None;
        }
        self.shared.wakeup.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::sync_channel;
    use std::time::Duration;

    #[test]
    fn unstarted_requests_are_replaced_by_the_newest() {
        // The job blocks on a gate so we control when each request starts.
        let (gate_tx, gate_rx) = sync_channel::<()>(0);
        let gate_rx = Mutex::new(gate_rx);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen_in_job = Arc::clone(&seen);
        let mut worker = LatestWinsWorker::spawn(
            "test",
            move |input: u32| {
                let _ = lock(&gate_rx).recv();
                lock(&seen_in_job).push(input);
                input * 10
            },
            || {},
        )
        .unwrap();
        worker.submit(1);
        std::thread::sleep(Duration::from_millis(50)); // let the worker pick up request 1
        for value in 2..=5 {
            worker.submit(value);
        }
        gate_tx.send(()).unwrap(); // finish 1
        let first = worker
            .wait_result(Duration::from_secs(5))
            .expect("first result in time");
        gate_tx.send(()).unwrap(); // finish the newest queued one
        let second = worker
            .wait_result(Duration::from_secs(5))
            .expect("second result in time");
        assert_eq!(*lock(&seen), vec![1, 5], "requests 2-4 must be skipped");
        assert_eq!((first.output, second.output), (10, 50));
        assert!(!worker.is_busy());
    }

    #[test]
    fn older_results_are_dropped_when_a_newer_one_arrived() {
        let mut worker = LatestWinsWorker::spawn("test", |input: u32| input, || {}).unwrap();
        let first = worker.submit(7);
        let done = worker.wait_result(Duration::from_secs(5)).unwrap();
        assert_eq!((done.request_id, done.output), (first, 7));
        // Fake a stale result arriving late: it must not be delivered.
        worker.last_delivered = Some(first + 10);
        worker.submit(8);
        assert!(worker.wait_result(Duration::from_millis(300)).is_none());
    }

    #[test]
    fn drop_stops_the_thread_and_notify_fires() {
        let notified = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&notified);
        let mut worker = LatestWinsWorker::spawn(
            "test",
            |input: u32| input + 1,
            move || {
                counter.fetch_add(1, Ordering::SeqCst);
            },
        )
        .unwrap();
        worker.submit(1);
        assert_eq!(
            worker.wait_result(Duration::from_secs(5)).unwrap().output,
            2
        );
        assert_eq!(notified.load(Ordering::SeqCst), 1);
        drop(worker); // joins: the test would hang if the thread ignored shutdown
    }
}

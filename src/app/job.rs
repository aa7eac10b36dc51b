//! Work the UI thread hands off (issue 20): loading a model, inspecting a dataset, importing a
//! published checkpoint. A [`Job`] runs a closure on a named thread of its own, wakes the UI
//! when it is done, and hands the result over once through [`Job::poll`]; the UI thread never
//! waits on a disk or on building a network.
use std::sync::mpsc::{channel, Receiver, TryRecvError};

use crate::{Error, Result};

/// One piece of background work and, once, its result.
pub struct Job<T> {
    name: &'static str,
    result: Receiver<Result<T>>,
}

impl<T: Send + 'static> Job<T> {
    /// Runs `work` on a thread called `scenepaint-NAME`; `done` (a repaint request) runs after
    /// the result is ready.
    pub fn spawn(
        name: &'static str,
        work: impl FnOnce() -> Result<T> + Send + 'static,
        done: impl FnOnce() + Send + 'static,
    ) -> Result<Self> {
        let (send, result) = channel();
        std::thread::Builder::new()
            .name(format!("scenepaint-{name}"))
            .spawn(move || {
                // The UI may have dropped the job meanwhile; nobody to tell then.
                let _ = send.send(work());
                done();
            })
            .map_err(|e| Error::msg(format!("cannot start the {name} thread: {e}")))?;
        Ok(Job { name, result })
    }

    /// The result once it is ready (then `None` again forever).
    pub fn poll(&mut self) -> Option<Result<T>> {
        match self.result.try_recv() {
            Ok(result) => Some(result),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(Err(Error::msg(format!(
                "the {} thread stopped without a result",
                self.name
            )))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn wait<T: Send + 'static>(job: &mut Job<T>) -> Result<T> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(result) = job.poll() {
                return result;
            }
            assert!(Instant::now() < deadline, "the job never finished");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_job_hands_over_its_result_and_a_panicking_one_says_so() {
        let (woke, woken) = channel();
        let mut job = Job::spawn("test", || Ok(6 * 7), move || woke.send(()).unwrap()).unwrap();
        assert_eq!(wait(&mut job).unwrap(), 42);
        woken.recv_timeout(Duration::from_secs(5)).unwrap();
        let mut failed: Job<u32> = Job::spawn("doomed", || panic!("boom"), || {}).unwrap();
        let err = wait(&mut failed).unwrap_err().to_string();
        assert!(err.contains("doomed thread stopped"), "{err}");
    }
}

//! A training run owned by the GUI: `train::trainer::train` (the function `scenepaint train`
//! calls) on its own thread inside its own rayon pool, reporting over a channel. Pause blocks
//! the training thread between iterations; stop raises the trainer's flag, which saves a
//! checkpoint and the model bundle before returning.
use crate::train::evaluation::{EvalRecord, RealReference};
use crate::train::trainer::{self, Event, Observer, Outcome, Progress, TrainRequest};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Messages from the training thread.
enum Message {
    Progress(Progress),
    Event(Event),
    Done(Result<Outcome, String>),
}

struct ChannelObserver {
    sender: Sender<Message>,
    pause: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    notify: Box<dyn Fn() + Send>,
}

impl Observer for ChannelObserver {
    fn on_progress(&mut self, progress: &Progress) {
        let _ = self.sender.send(Message::Progress(progress.clone()));
        (self.notify)();
        // Paused: hold the training thread here, between two iterations.
        while self.pause.load(Ordering::Acquire) && !self.stop.load(Ordering::Acquire) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    fn on_event(&mut self, event: &Event) {
        let _ = self.sender.send(Message::Event(event.clone()));
        (self.notify)();
    }
}

/// The GUI's view of one run.
pub struct TrainingRun {
    receiver: Receiver<Message>,
    stop: Arc<AtomicBool>,
    pause: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub run_dir: PathBuf,
    /// Loss name -> (iteration, value) points.
    pub losses: BTreeMap<String, Vec<[f64; 2]>>,
    pub last: Option<Progress>,
    /// The newest sample grid and a counter that changes with it.
    pub sample: Option<(u64, PathBuf)>,
    /// (iteration, file) of every checkpoint written, oldest first.
    pub checkpoints: Vec<(u64, PathBuf)>,
    /// The run's model bundle, refreshed at every checkpoint, and the iteration it holds.
    pub bundle: Option<PathBuf>,
    pub bundle_iteration: Option<u64>,
    pub outcome: Option<Result<Outcome, String>>,
    /// FID/KID on the held-out pairs, oldest first (`eval_every`).
    pub evaluations: Vec<EvalRecord>,
    /// Real photos against real photos at the held-out count (`eval::reference`).
    pub real_reference: Option<RealReference>,
    /// Pairs that could not be read and were replaced, "file: why", oldest first.
    pub skipped: Vec<String>,
    /// The dataset's classes, once the run has started.
    pub palette: Option<crate::labels::Palette>,
}

impl TrainingRun {
    /// Starts `request` on a thread named `scenepaint-train` with a rayon pool of `threads`.
    pub fn start(
        request: TrainRequest,
        threads: usize,
        notify: impl Fn() + Send + 'static,
    ) -> crate::Result<Self> {
        let (sender, receiver) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let pause = Arc::new(AtomicBool::new(false));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("scenepaint-train-{i}"))
            .build()
            .map_err(|e| crate::Error::msg(format!("cannot start the training pool: {e}")))?;
        let run_dir = request.run_dir.clone();
        let mut observer = ChannelObserver {
            sender: sender.clone(),
            pause: Arc::clone(&pause),
            stop: Arc::clone(&stop),
            notify: Box::new(notify),
        };
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("scenepaint-train".into())
            .spawn(move || {
                let result = pool.install(|| trainer::train(&request, &mut observer, &thread_stop));
                let _ = sender.send(Message::Done(result.map_err(|e| e.to_string())));
                (observer.notify)();
            })
            .map_err(|e| crate::Error::msg(format!("cannot start the training thread: {e}")))?;
        Ok(Self {
            receiver,
            stop,
            pause,
            thread: Some(thread),
            run_dir,
            losses: BTreeMap::new(),
            last: None,
            sample: None,
            checkpoints: Vec::new(),
            bundle: None,
            bundle_iteration: None,
            outcome: None,
            evaluations: Vec::new(),
            real_reference: None,
            skipped: Vec::new(),
            palette: None,
        })
    }

    pub fn is_running(&self) -> bool {
        self.outcome.is_none()
    }

    pub fn is_paused(&self) -> bool {
        self.pause.load(Ordering::Acquire)
    }

    pub fn set_paused(&self, paused: bool) {
        self.pause.store(paused, Ordering::Release);
    }

    /// Asks the trainer to stop; it saves a checkpoint and the bundle first.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// Whether a stop was asked for (the run may still be saving).
    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// While stopping: whether the checkpoint holding the last step is on disk, so that only
    /// the model bundle is left to write (its weight average is measured first: seconds).
    pub fn stop_checkpoint_saved(&self) -> bool {
        self.stop_requested() && holds_last_step(&self.checkpoints, self.last.as_ref())
    }

    /// Takes everything the thread reported. True when something arrived.
    pub fn poll(&mut self) -> bool {
        let mut any = false;
        while let Ok(message) = self.receiver.try_recv() {
            any = true;
            match message {
                Message::Progress(progress) => {
                    for (name, value) in &progress.losses {
                        let points = self.losses.entry(name.clone()).or_default();
                        points.push([progress.iteration as f64, *value]);
                    }
                    self.last = Some(progress);
                }
                Message::Event(Event::Sample(path)) => {
                    let counter = self.sample.as_ref().map_or(0, |(n, _)| n + 1);
                    self.sample = Some((counter, path));
                }
                Message::Event(Event::Checkpoint(path)) => {
                    let iteration = self.last.as_ref().map_or(0, |p| p.iteration);
                    self.checkpoints.push((iteration, path));
                }
                Message::Event(Event::Bundle(path)) => {
                    self.bundle_iteration = self.last.as_ref().map(|p| p.iteration);
                    self.bundle = Some(path);
                }
                Message::Event(Event::Evaluation(record)) => {
                    self.evaluations.push(record);
                }
                Message::Event(Event::RealReference(reference)) => {
                    self.real_reference = Some(reference);
                }
                // Housekeeping the panel has no place for; the CLI prints it.
                Message::Event(Event::Skipped { file, why }) => {
                    self.skipped.push(format!("{}: {why}", file.display()));
                }
                Message::Event(Event::Started { palette, .. }) => self.palette = Some(palette),
                Message::Event(Event::Removed(_)) => {}
                Message::Done(outcome) => self.outcome = Some(outcome),
            }
        }
        any
    }
}

/// Whether the newest checkpoint holds the last reported step. A stopping trainer saves the
/// step it finished last, or keeps a checkpoint already written at that step.
fn holds_last_step(checkpoints: &[(u64, PathBuf)], last: Option<&Progress>) -> bool {
    matches!((checkpoints.last(), last), (Some((saved, _)), Some(p)) if *saved == p.iteration)
}

impl Drop for TrainingRun {
    /// Stops the run (it saves a checkpoint) and waits for the thread.
    fn drop(&mut self) {
        self.stop();
        self.set_paused(false);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(iteration: u64) -> Progress {
        Progress {
            iteration,
            total: 100,
            epoch: 0,
            losses: Default::default(),
            lr_g: 1e-4,
            lr_d: 1e-4,
            iters_per_s: 1.0,
            eta_s: 1.0,
        }
    }

    #[test]
    fn only_a_checkpoint_of_the_last_step_holds_it() {
        let at = |i: u64| (i, PathBuf::from(format!("checkpoint-{i}")));
        assert!(!holds_last_step(&[], Some(&progress(5))), "none saved yet");
        assert!(!holds_last_step(&[at(5)], None), "no step reported");
        assert!(
            !holds_last_step(&[at(4)], Some(&progress(5))),
            "step 5 came after the newest checkpoint"
        );
        assert!(holds_last_step(&[at(4), at(5)], Some(&progress(5))));
    }
}

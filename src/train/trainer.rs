//! The training loop shared by the CLI (`scenepaint train`) and the GUI training panel: it
//! reports through an [`Observer`], checks a stop flag between iterations, and keeps
//! `RUN_DIR` in a state a user can trust: `config.json`, `losses.jsonl`, sample grids in
//! `samples/`, `checkpoint.safetensors` (atomic) and the model bundle in `model/`.
//!
//! The run folder's files are written by `run_files`; which pairs and random draws an
//! iteration uses comes from `schedule` (the pair (seed, iteration) is the whole RNG state, so
//! `--resume` continues exactly where the checkpoint was taken).
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use candle_core::Device;
use serde::Serialize;

use super::build::RunRecord;
use super::checkpoint;
use super::config::TrainConfig;
use super::data::Dataset;
use super::evaluation::{self, EvalRecord, RealReference, RunEvaluator};
use super::family::{BufferSnapshot, Family, Losses};
use super::run_files::{
    append_log, load_checkpoint, run_config, save_checkpoint, truncate_log, write_holdout,
    write_sample,
};
pub use super::run_files::{TrainState, CHECKPOINT_FILE, CONFIG_FILE, HOLDOUT_FILE, LOSSES_FILE};
use super::schedule::{augment_of, batch_indices, step_rng};
use crate::error::{Error, Result};
use crate::labels::Palette;
use crate::nets::fast::on_pool_worker;

/// One reported iteration.
#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    pub iteration: u64,
    pub total: u64,
    pub epoch: u64,
    pub losses: Losses,
    pub lr_g: f64,
    pub lr_d: f64,
    pub iters_per_s: f64,
    pub eta_s: f64,
}

/// A duration for people: `42 s`, `7 min 05 s`, `2 h 03 min`.
pub fn human_duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "unknown".into();
    }
    let total = seconds.round() as u64;
    let (hours, minutes, secs) = (total / 3600, total / 60 % 60, total % 60);
    match (hours, minutes) {
        (0, 0) => format!("{secs} s"),
        (0, _) => format!("{minutes} min {secs:02} s"),
        _ => format!("{hours} h {minutes:02} min"),
    }
}

/// Things that happen besides iterations.
#[derive(Debug, Clone)]
pub enum Event {
    Started {
        resumed_from: u64,
        pairs: usize,
        /// The dataset's classes (what the evaluations' class ids name).
        palette: crate::labels::Palette,
    },
    Sample(PathBuf),
    Checkpoint(PathBuf),
    Bundle(PathBuf),
    /// FID and KID of the run's bundle on the held-out pairs (`eval_every`).
    Evaluation(EvalRecord),
    /// Real photos against real photos at the held-out count, once at the start (with
    /// `eval_every`): what the evaluations are read against.
    RealReference(RealReference),
    /// A temporary file or folder a killed run left behind, removed at the start.
    Removed(PathBuf),
    /// A pair that could not be read this iteration; the next readable one took its place.
    Skipped {
        file: PathBuf,
        why: String,
    },
}

/// Receives progress; the CLI prints it, the GUI forwards it over a channel. `Send`: the run
/// goes on a worker of the rayon pool ([`on_pool_worker`]).
pub trait Observer: Send {
    fn on_progress(&mut self, progress: &Progress);
    fn on_event(&mut self, _event: &Event) {}
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Finished {
        iteration: u64,
    },
    /// The stop flag was raised; a checkpoint was written at `iteration`.
    Stopped {
        iteration: u64,
    },
    /// A loss became NaN or infinite; nothing was saved after the last good checkpoint.
    Diverged {
        message: String,
    },
}

/// Everything a run needs besides the observer and the stop flag.
#[derive(Debug, Clone)]
pub struct TrainRequest {
    pub data: PathBuf,
    pub run_dir: PathBuf,
    pub config: TrainConfig,
    pub resume: bool,
    pub device: Device,
    pub palette: Option<Palette>,
    /// The command line that started the run, recorded in the bundle so it can be repeated.
    pub command: Option<String>,
}

fn first_non_finite(losses: &Losses) -> Option<(&String, f64)> {
    losses
        .iter()
        .find(|(_, v)| !v.is_finite())
        .map(|(k, v)| (k, *v))
}

/// Runs (or resumes) a training run until `config.iters`, the stop flag, or a diverging loss.
///
/// Call it on a worker thread (the GUI does, inside its own rayon pool via `pool.install` so
/// that training and live inference do not share Candle's CPU threads).
pub fn train(
    request: &TrainRequest,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
) -> Result<Outcome> {
    let outcome = match on_pool_worker(|| train_inner(request, observer, stop)) {
        Err(Error::Diverged(message)) => Ok(Outcome::Diverged { message }),
        other => other,
    };
    // The run's buffers were kept in the heap for reuse; the painter goes on without them.
    crate::heap::release_free_memory();
    outcome
}

fn train_inner(
    request: &TrainRequest,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
) -> Result<Outcome> {
    for path in checkpoint::remove_stale_temporaries(&request.run_dir) {
        observer.on_event(&Event::Removed(path));
    }
    let config = run_config(&request.run_dir, &request.config, request.resume)?;
    let mut dataset = Dataset::open(&request.data, request.palette.clone())?;
    let held_out = write_holdout(&request.run_dir, &mut dataset, config.holdout_every)?;
    if config.batch_size > dataset.len() {
        return Err(Error::msg(format!(
            "training config: batch_size is {} but {} has {} pair(s) to train on",
            config.batch_size,
            dataset.root.display(),
            dataset.len()
        )));
    }
    let mut family = super::build::build_family(&config, &dataset, &request.device)?;
    let evaluator = RunEvaluator::new(&config, &request.data, request.palette.clone(), &held_out)?;
    let losses_path = request.run_dir.join(LOSSES_FILE);
    let mut iteration = 0;
    let mut earlier_s = 0.0;
    let mut evaluations = Vec::new();
    if request.resume {
        let state = load_checkpoint(&request.run_dir, family.as_mut(), &request.device)?;
        (iteration, earlier_s) = (state.iteration, state.elapsed_s);
        truncate_log(&losses_path, iteration)?;
        evaluations = evaluation::logged(&losses_path);
    }
    let real_reference = evaluator.as_ref().and_then(RunEvaluator::real_reference);
    let style_colours =
        super::build::training_style_colours(family.as_ref(), &dataset)?.map(std::sync::Arc::new);
    let record = |iteration: u64, started: &Instant, evaluations: &[EvalRecord]| RunRecord {
        command: request.command.clone(),
        device: crate::device::device_name(&request.device),
        iteration,
        elapsed_s: earlier_s + started.elapsed().as_secs_f64(),
        held_out: held_out.clone(),
        evaluations: evaluations.to_vec(),
        real_reference,
        style_colours: style_colours.clone(),
    };
    observer.on_event(&Event::Started {
        resumed_from: iteration,
        pairs: dataset.len(),
        palette: dataset.palette.clone(),
    });
    if let Some(reference) = real_reference {
        observer.on_event(&Event::RealReference(reference));
    }
    let augment = augment_of(&config);
    let started = Instant::now();
    let start_iteration = iteration;
    let mut epoch = 0;
    // The checkpoint (unless nothing was trained since the last one) and the bundle (with the
    // run's evaluations so far), reported; returns the bundle's folder.
    let save = |family: &mut dyn Family,
                observer: &mut dyn Observer,
                iteration: u64,
                epoch: u64,
                checkpoint: bool,
                evaluations: &[EvalRecord]|
     -> Result<PathBuf> {
        let run = record(iteration, &started, evaluations);
        if checkpoint {
            let path = save_checkpoint(
                &request.run_dir,
                family,
                &config,
                iteration,
                epoch,
                run.elapsed_s,
            )?;
            observer.on_event(&Event::Checkpoint(path));
        }
        let bundle = super::build::write_bundle(&request.run_dir, family, &config, &dataset, &run)?;
        observer.on_event(&Event::Bundle(bundle.clone()));
        Ok(bundle)
    };
    // Scores the bundle just written; with a weight average, the current weights too.
    let evaluate = |family: &dyn Family,
                    bundle: &Path,
                    iteration: u64,
                    evaluations: &mut Vec<EvalRecord>,
                    observer: &mut dyn Observer|
     -> Result<()> {
        let Some(evaluator) = &evaluator else {
            return Ok(());
        };
        let run = record(iteration, &started, evaluations);
        let current =
            super::build::write_current_bundle(&request.run_dir, family, &config, &dataset, &run)?;
        let scored =
            std::iter::once((bundle.to_path_buf(), false)).chain(current.map(|dir| (dir, true)));
        for (dir, current_weights) in scored {
            let record = EvalRecord {
                current_weights,
                ..evaluator.evaluate(&dir, iteration)?
            };
            let improved = evaluation::best(evaluations).is_none_or(|b| record.fid < b.fid);
            evaluations.push(record);
            append_log(&losses_path, &record)?;
            observer.on_event(&Event::Evaluation(record));
            if config.keep_best_fid && improved {
                evaluation::record_in_bundle(&dir, evaluations)?;
                evaluation::keep_best(&request.run_dir, &dir)?;
            }
        }
        evaluation::record_in_bundle(bundle, evaluations)?;
        Ok(())
    };
    while iteration < config.iters {
        if stop.load(Ordering::Relaxed) {
            save(
                family.as_mut(),
                observer,
                iteration,
                epoch,
                true,
                &evaluations,
            )?;
            return Ok(Outcome::Stopped { iteration });
        }
        let (batch_epoch, indices) =
            batch_indices(config.seed, iteration, config.batch_size, dataset.len());
        epoch = batch_epoch;
        let mut rng = step_rng(config.seed, iteration);
        let stopped = |family: &mut dyn Family, observer: &mut dyn Observer| -> Result<Outcome> {
            save(family, observer, iteration, epoch, true, &evaluations)?;
            Ok(Outcome::Stopped { iteration })
        };
        let (batch, skipped) =
            match dataset.batch_skipping_bad(&indices, &augment, &mut rng, &request.device, stop) {
                Err(Error::Interrupted) => return stopped(family.as_mut(), observer),
                other => other?,
            };
        for (file, why) in skipped {
            observer.on_event(&Event::Skipped { file, why });
        }
        let lr = config.learning_rates(iteration);
        let buffers = BufferSnapshot::take(family.as_ref())?;
        let losses = match family.train_step(&batch, lr, &mut rng, stop) {
            Err(Error::Interrupted) => {
                buffers.restore()?;
                return stopped(family.as_mut(), observer);
            }
            other => other?,
        };
        if let Some((name, value)) = first_non_finite(&losses) {
            let checkpoint = request.run_dir.join(CHECKPOINT_FILE);
            let kept = if checkpoint.exists() {
                format!("the last checkpoint is kept in {}", checkpoint.display())
            } else {
                format!(
                    "no checkpoint was written yet (checkpoint_every is {})",
                    config.checkpoint_every
                )
            };
            let message = format!(
                "loss {name} is {value} at iteration {}: training stopped; {kept}",
                iteration + 1
            );
            return Ok(Outcome::Diverged { message });
        }
        iteration += 1;
        let elapsed_s = started.elapsed().as_secs_f64().max(1e-9);
        let iters_per_s = (iteration - start_iteration) as f64 / elapsed_s;
        let progress = Progress {
            iteration,
            total: config.iters,
            epoch,
            losses,
            lr_g: lr.0,
            lr_d: lr.1,
            iters_per_s,
            eta_s: (config.iters - iteration) as f64 / iters_per_s.max(1e-9),
        };
        if iteration % config.log_every == 0 || iteration == config.iters {
            append_log(&losses_path, &progress)?;
        }
        observer.on_progress(&progress);
        if iteration % config.sample_every == 0 || iteration == config.iters {
            let path = write_sample(
                &request.run_dir,
                family.as_ref(),
                &batch,
                &dataset,
                iteration,
                &mut rng,
            )?;
            observer.on_event(&Event::Sample(path));
        }
        // Each checkpoint also refreshes the bundle, so the painter can try the model while
        // the run goes on; the last one is written after the loop.
        let checkpoint_due = iteration % config.checkpoint_every == 0;
        let eval_due = evaluator.is_some() && iteration % config.eval_every == 0;
        if (checkpoint_due || eval_due) && iteration < config.iters {
            let bundle = save(
                family.as_mut(),
                observer,
                iteration,
                epoch,
                checkpoint_due,
                &evaluations,
            )?;
            if eval_due {
                evaluate(
                    family.as_ref(),
                    &bundle,
                    iteration,
                    &mut evaluations,
                    observer,
                )?;
            }
        }
    }
    let trained = iteration > start_iteration;
    let bundle = save(
        family.as_mut(),
        observer,
        iteration,
        epoch,
        trained,
        &evaluations,
    )?;
    if evaluations
        .last()
        .is_none_or(|last| last.iteration != iteration)
    {
        evaluate(
            family.as_ref(),
            &bundle,
            iteration,
            &mut evaluations,
            observer,
        )?;
    }
    Ok(Outcome::Finished { iteration })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(human_duration(42.4), "42 s");
        assert_eq!(human_duration(425.0), "7 min 05 s");
        assert_eq!(human_duration(7380.0), "2 h 03 min");
        assert_eq!(human_duration(f64::INFINITY), "unknown");
    }
}

//! The training loop shared by the CLI (`scenepaint train`) and the GUI training panel: it
//! reports through an [`Observer`], checks a stop flag between iterations, and keeps
//! `RUN_DIR` in a state a user can trust: `config.json`, `losses.jsonl`, sample grids in
//! `samples/`, `checkpoint.safetensors` (atomic) and the model bundle in `model/`.
//!
//! Every random draw of iteration `i` comes from ChaCha8 seeded with `seed` on stream `i + 1`
//! (and the data order of epoch `e` from a second seed on stream `e`), so the RNG state is the
//! pair (seed, iteration) and `--resume` continues exactly where the checkpoint was taken.
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use candle_core::{Device, Tensor};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::build::RunRecord;
use super::checkpoint;
use super::config::TrainConfig;
use super::data::{Augment, Batch, Dataset};
use super::evaluation::{self, EvalRecord, RunEvaluator};
use super::family::{scalar, BufferSnapshot, Family, Losses};
use crate::error::{Error, Result};
use crate::labels::Palette;

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
    },
    Sample(PathBuf),
    Checkpoint(PathBuf),
    Bundle(PathBuf),
    /// FID and KID of the run's bundle on the held-out pairs (`eval_every`).
    Evaluation(EvalRecord),
    /// A temporary file or folder a killed run left behind, removed at the start.
    Removed(PathBuf),
    /// A pair that could not be read this iteration; the next readable one took its place.
    Skipped {
        file: PathBuf,
        why: String,
    },
}

/// Receives progress; the CLI prints it, the GUI forwards it over a channel.
pub trait Observer {
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

/// What a checkpoint records besides tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainState {
    /// Iterations completed.
    pub iteration: u64,
    pub epoch: u64,
    pub seed: u64,
    /// Adam step counts by optimizer prefix.
    pub adam_steps: HashMap<String, u64>,
    pub lr_g: f64,
    pub lr_d: f64,
    pub total_iters: u64,
    pub decay_start: u64,
    /// Training time so far, summed over resumed sessions (older checkpoints lack it).
    #[serde(default)]
    pub elapsed_s: f64,
}

pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
pub const CONFIG_FILE: &str = "config.json";
pub const LOSSES_FILE: &str = "losses.jsonl";
pub const HOLDOUT_FILE: &str = "holdout.txt";

/// The generator of iteration `iteration`'s random draws.
pub fn step_rng(seed: u64, iteration: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(iteration + 1);
    rng
}

/// Dataset indices of the examples of one batch: each epoch visits every pair once in an
/// order drawn from the seed.
pub fn batch_indices(
    seed: u64,
    iteration: u64,
    batch_size: usize,
    pairs: usize,
) -> (u64, Vec<usize>) {
    let first = iteration * batch_size as u64;
    let mut cached: Option<(u64, Vec<usize>)> = None;
    let indices = (0..batch_size as u64)
        .map(|k| {
            let position = first + k;
            let epoch = position / pairs as u64;
            if cached.as_ref().is_none_or(|(e, _)| *e != epoch) {
                let mut order: Vec<usize> = (0..pairs).collect();
                let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0da7_a5ee_d000_0001);
                rng.set_stream(epoch);
                order.shuffle(&mut rng);
                cached = Some((epoch, order));
            }
            cached
                .as_ref()
                .map_or(0, |(_, order)| order[(position % pairs as u64) as usize])
        })
        .collect();
    (first / pairs as u64, indices)
}

fn augment_of(config: &TrainConfig) -> Augment {
    Augment {
        load_width: config.load_width,
        load_height: config.load_height,
        crop_width: config.crop_width,
        crop_height: config.crop_height,
        flip: config.flip,
    }
}

/// The first network tensor holding NaN or Inf, if any: such weights are never saved.
fn non_finite_tensor(tensors: &HashMap<String, Tensor>) -> Result<Option<String>> {
    for (name, tensor) in tensors {
        if tensor.dtype().is_float() && !scalar(&tensor.sum_all()?)?.is_finite() {
            return Ok(Some(name.clone()));
        }
    }
    Ok(None)
}

fn save_checkpoint(
    run_dir: &Path,
    family: &mut dyn Family,
    config: &TrainConfig,
    iteration: u64,
    epoch: u64,
    elapsed_s: f64,
) -> Result<PathBuf> {
    let mut tensors = HashMap::new();
    for (prefix, varmap) in family.networks() {
        tensors.extend(checkpoint::varmap_tensors(varmap, prefix)?);
    }
    if let Some(name) = non_finite_tensor(&tensors)? {
        return Err(Error::Diverged(format!(
            "weight {name} holds NaN or Inf at iteration {iteration}: training stopped; the last good checkpoint is kept in {}",
            run_dir.join(CHECKPOINT_FILE).display()
        )));
    }
    let mut adam_steps = HashMap::new();
    for (prefix, adam) in family.optimizers() {
        tensors.extend(adam.state_tensors(prefix));
        adam_steps.insert(prefix.to_string(), adam.step_count());
    }
    let (lr_g, lr_d) = config.learning_rates(iteration);
    let state = TrainState {
        iteration,
        epoch,
        seed: config.seed,
        adam_steps,
        lr_g,
        lr_d,
        total_iters: config.iters,
        decay_start: config.decay_start(),
        elapsed_s,
    };
    let path = run_dir.join(CHECKPOINT_FILE);
    checkpoint::save(&path, &tensors, &state)?;
    Ok(path)
}

fn load_checkpoint(run_dir: &Path, family: &mut dyn Family, device: &Device) -> Result<TrainState> {
    let path = run_dir.join(CHECKPOINT_FILE);
    let (tensors, state): (HashMap<String, Tensor>, TrainState) = checkpoint::load(&path, device)?;
    for (prefix, varmap) in family.networks() {
        checkpoint::load_into_varmap(varmap, &tensors, prefix, &path)?;
    }
    for (prefix, adam) in family.optimizers() {
        let step = state.adam_steps.get(prefix).copied().unwrap_or(0);
        adam.load_state(&tensors, prefix, step)?;
    }
    Ok(state)
}

/// Keeps the lines of `losses.jsonl` up to `iteration`: a run killed after its last
/// checkpoint logged steps that the resumed run will log again.
fn truncate_log(path: &Path, iteration: u64) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let kept: String = text
        .lines()
        .filter(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("iteration").and_then(|i| i.as_u64()))
                .is_some_and(|i| i <= iteration)
        })
        .map(|line| format!("{line}\n"))
        .collect();
    checkpoint::write_text_atomic(path, &kept)
}

fn append_log<T: Serialize>(path: &Path, entry: &T) -> Result<()> {
    let line = serde_json::to_string(entry).map_err(|e| Error::msg(format!("losses log: {e}")))?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    writeln!(file, "{line}").map_err(|e| Error::io(path, e))
}

/// The config a run uses: the saved one when resuming (only `iters` may grow), else the
/// request's, written to `RUN_DIR/config.json`.
/// The settings of `requested` that a resumed run ignores because the run folder's saved
/// config differs (a resumed run keeps its saved settings; only `iters` is taken).
pub fn ignored_on_resume(run_dir: &Path, requested: &TrainConfig) -> Result<Vec<String>> {
    let saved = TrainConfig::load(&run_dir.join(CONFIG_FILE))?;
    let as_object = |config: &TrainConfig| -> Result<serde_json::Map<String, serde_json::Value>> {
        match serde_json::to_value(config) {
            Ok(serde_json::Value::Object(map)) => Ok(map),
            Ok(_) => Err(Error::msg("a training config is not a JSON object")),
            Err(e) => Err(Error::msg(format!("training config: {e}"))),
        }
    };
    let (saved, requested) = (as_object(&saved)?, as_object(requested)?);
    Ok(requested
        .iter()
        .filter(|(key, value)| key.as_str() != "iters" && saved.get(key.as_str()) != Some(value))
        .map(|(key, value)| {
            let kept = saved.get(key.as_str()).cloned().unwrap_or_default();
            format!("{key}: kept {kept}, not {value}")
        })
        .collect())
}

fn run_config(request: &TrainRequest) -> Result<TrainConfig> {
    let config_path = request.run_dir.join(CONFIG_FILE);
    if request.resume {
        // A resumed run keeps its saved settings except the total number of iterations, which
        // the request sets (the CLI passes the saved total when --iters is not given).
        let mut saved = TrainConfig::load(&config_path)?;
        saved.iters = request.config.iters;
        // Checked before writing: a refused setting must not become the run's saved one.
        saved.validate()?;
        checkpoint::write_text_atomic(&config_path, &saved.to_json()?)?;
        return Ok(saved);
    }
    if request.run_dir.join(CHECKPOINT_FILE).exists() {
        return Err(Error::msg(format!(
            "{}: the run folder already has a checkpoint; pass --resume to continue it or choose another folder",
            request.run_dir.display()
        )));
    }
    request.config.validate()?;
    std::fs::create_dir_all(&request.run_dir).map_err(|e| Error::io(&request.run_dir, e))?;
    checkpoint::write_text_atomic(&config_path, &request.config.to_json()?)?;
    let _ = std::fs::remove_file(request.run_dir.join(LOSSES_FILE));
    Ok(request.config.clone())
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
    match train_inner(request, observer, stop) {
        Err(Error::Diverged(message)) => Ok(Outcome::Diverged { message }),
        other => other,
    }
}

fn train_inner(
    request: &TrainRequest,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
) -> Result<Outcome> {
    for path in checkpoint::remove_stale_temporaries(&request.run_dir) {
        observer.on_event(&Event::Removed(path));
    }
    let config = run_config(request)?;
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
    let record = |iteration: u64, started: &Instant, evaluations: &[EvalRecord]| RunRecord {
        command: request.command.clone(),
        device: crate::device::device_name(&request.device),
        iteration,
        elapsed_s: earlier_s + started.elapsed().as_secs_f64(),
        held_out: held_out.clone(),
        evaluations: evaluations.to_vec(),
    };
    observer.on_event(&Event::Started {
        resumed_from: iteration,
        pairs: dataset.len(),
    });
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
    let evaluate = |bundle: &Path,
                    iteration: u64,
                    evaluations: &mut Vec<EvalRecord>,
                    observer: &mut dyn Observer|
     -> Result<()> {
        let Some(evaluator) = &evaluator else {
            return Ok(());
        };
        let record = evaluator.evaluate(bundle, iteration)?;
        let improved = evaluation::best(evaluations).is_none_or(|b| record.fid < b.fid);
        evaluations.push(record);
        append_log(&losses_path, &record)?;
        evaluation::record_in_bundle(bundle, evaluations)?;
        if config.keep_best_fid && improved {
            evaluation::keep_best(&request.run_dir, bundle)?;
        }
        observer.on_event(&Event::Evaluation(record));
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
                evaluate(&bundle, iteration, &mut evaluations, observer)?;
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
        evaluate(&bundle, iteration, &mut evaluations, observer)?;
    }
    Ok(Outcome::Finished { iteration })
}

/// Applies `holdout_every` and lists the held-out pairs' names in `RUN_DIR/holdout.txt`.
fn write_holdout(run_dir: &Path, dataset: &mut Dataset, every: u32) -> Result<Vec<String>> {
    let held: Vec<String> = dataset
        .hold_out(every)?
        .into_iter()
        .map(|pair| pair.key)
        .collect();
    if dataset.is_empty() {
        return Err(Error::msg(format!(
            "{}: no pairs left to train on after holding out every {every}th",
            dataset.root.display()
        )));
    }
    if !held.is_empty() {
        std::fs::create_dir_all(run_dir).map_err(|e| Error::io(run_dir, e))?;
        let path = run_dir.join(HOLDOUT_FILE);
        checkpoint::write_text_atomic(&path, &(held.join("\n") + "\n"))?;
    }
    Ok(held)
}

fn write_sample(
    run_dir: &Path,
    family: &dyn Family,
    batch: &Batch,
    dataset: &Dataset,
    iteration: u64,
    rng: &mut ChaCha8Rng,
) -> Result<PathBuf> {
    let generated = family.generate(batch, rng)?;
    let dir = run_dir.join("samples");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let path = dir.join(format!("iter_{iteration:07}.png"));
    let grid = super::samples::grid(
        &batch.label,
        &generated,
        &batch.photo,
        &dataset.palette,
        &dataset.encoding,
    )?;
    checkpoint::write_atomic(&path, |tmp| {
        grid.save_with_format(tmp, image::ImageFormat::Png)
            .map_err(|e| Error::Image {
                path: tmp.into(),
                message: e.to_string(),
            })
    })?;
    Ok(path)
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

    #[test]
    fn every_epoch_visits_every_pair_once() {
        let mut seen = Vec::new();
        for iteration in 0..5 {
            let (epoch, indices) = batch_indices(9, iteration, 2, 5);
            assert_eq!(epoch, iteration * 2 / 5);
            seen.extend(indices);
        }
        let (first, second) = seen.split_at(5);
        let sorted = |s: &[usize]| {
            let mut v = s.to_vec();
            v.sort();
            v
        };
        assert_eq!(sorted(first), vec![0, 1, 2, 3, 4]);
        assert_eq!(sorted(second), vec![0, 1, 2, 3, 4]);
        assert_ne!(first, second, "each epoch draws a new order");
    }
}

//! The run folder's files (`RUN_DIR`): `config.json` (the saved config a resumed run keeps),
//! `checkpoint.safetensors` (weights, Adam state and [`TrainState`], written atomically, never
//! with NaN or Inf weights), `losses.jsonl` (cut back to the checkpoint on resume),
//! `holdout.txt` and the sample grids in `samples/`.
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::checkpoint;
use super::config::TrainConfig;
use super::data::{Batch, Dataset};
use super::family::{scalar, Family};
use crate::error::{Error, Result};

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

/// The first network tensor holding NaN or Inf, if any: such weights are never saved.
fn non_finite_tensor(tensors: &HashMap<String, Tensor>) -> Result<Option<String>> {
    for (name, tensor) in tensors {
        if tensor.dtype().is_float() && !scalar(&tensor.sum_all()?)?.is_finite() {
            return Ok(Some(name.clone()));
        }
    }
    Ok(None)
}

pub(super) fn save_checkpoint(
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

pub(super) fn load_checkpoint(
    run_dir: &Path,
    family: &mut dyn Family,
    device: &Device,
) -> Result<TrainState> {
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
pub(super) fn truncate_log(path: &Path, iteration: u64) -> Result<()> {
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
    crate::atomic_file::write_text_atomic(path, &kept)
}

pub(super) fn append_log<T: Serialize>(path: &Path, entry: &T) -> Result<()> {
    let line = serde_json::to_string(entry).map_err(|e| Error::msg(format!("losses log: {e}")))?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    writeln!(file, "{line}").map_err(|e| Error::io(path, e))
}

/// The config a run uses: the saved one when resuming (only `iters` may grow), else the
/// requested one, written to `RUN_DIR/config.json`.
pub(super) fn run_config(
    run_dir: &Path,
    requested: &TrainConfig,
    resume: bool,
) -> Result<TrainConfig> {
    let config_path = run_dir.join(CONFIG_FILE);
    if resume {
        // A resumed run keeps its saved settings except the total number of iterations, which
        // the request sets (the CLI passes the saved total when --iters is not given).
        let mut saved = TrainConfig::load(&config_path)?;
        saved.iters = requested.iters;
        // Checked before writing: a refused setting must not become the run's saved one.
        saved.validate()?;
        crate::atomic_file::write_text_atomic(&config_path, &saved.to_json()?)?;
        return Ok(saved);
    }
    if run_dir.join(CHECKPOINT_FILE).exists() {
        return Err(Error::msg(format!(
            "{}: the run folder already has a checkpoint; pass --resume to continue it or choose another folder",
            run_dir.display()
        )));
    }
    requested.validate()?;
    std::fs::create_dir_all(run_dir).map_err(|e| Error::io(run_dir, e))?;
    crate::atomic_file::write_text_atomic(&config_path, &requested.to_json()?)?;
    let _ = std::fs::remove_file(run_dir.join(LOSSES_FILE));
    Ok(requested.clone())
}

/// Applies `holdout_every` and lists the held-out pairs' names in `RUN_DIR/holdout.txt`.
pub(super) fn write_holdout(
    run_dir: &Path,
    dataset: &mut Dataset,
    every: u32,
) -> Result<Vec<String>> {
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
        crate::atomic_file::write_text_atomic(&path, &(held.join("\n") + "\n"))?;
    }
    Ok(held)
}

pub(super) fn write_sample(
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
        &dataset.label_channels,
    )?;
    crate::atomic_file::write_atomic(&path, |tmp| {
        grid.save_with_format(tmp, image::ImageFormat::Png)
            .map_err(|e| Error::Image {
                path: tmp.into(),
                message: e.to_string(),
            })
    })?;
    Ok(path)
}

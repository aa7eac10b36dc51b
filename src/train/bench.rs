//! Training-step measurements for `scenepaint bench --train`: seconds per iteration, images
//! per second and memory of a training configuration (any family, its crop size and batch),
//! on synthetic labels and photos (the data loader is not what is measured). Memory comes from `/proc/self/status` (VmHWM = peak resident set,
//! VmRSS = current), read after the warm-up and at the end to show it stays flat.
use std::time::Instant;

use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use std::path::{Path, PathBuf};

use super::build::build_family;
use super::config::{preset, read_overrides, with_overrides, TrainConfig};
use super::data::{Augment, Batch, Dataset, Layout};
use crate::error::{Error, Result};
use crate::labels::Palette;

/// One training-step case's result.
#[derive(Debug, Clone, Serialize)]
pub struct StepBench {
    pub preset: String,
    /// `fast` (our kernels) or `candle` (the plain ops), see `nets::fast::training_path`.
    pub path: String,
    pub width: u32,
    pub height: u32,
    pub batch_size: usize,
    pub steps: u64,
    /// Median of the timed steps.
    pub seconds_per_iter: f64,
    /// `batch_size / seconds_per_iter`.
    pub images_per_s: f64,
    /// Peak resident memory after the warm-up steps and at the end, in KiB.
    pub peak_kib_after_warmup: u64,
    pub peak_kib_end: u64,
    /// Current resident memory after the warm-up and at the end, in KiB.
    pub rss_kib_after_warmup: u64,
    pub rss_kib_end: u64,
    /// Current resident memory after each timed step, in KiB.
    pub rss_kib_per_step: Vec<u64>,
}

/// `VmHWM` and `VmRSS` of this process in KiB (0 where /proc is not available).
pub fn memory_kib() -> (u64, u64) {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return (0, 0);
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn synthetic_batch(
    (width, height): (usize, usize),
    batch: usize,
    classes: u32,
    device: &Device,
    rng: &mut ChaCha8Rng,
) -> Result<Batch> {
    // Blocky label maps (16 px cells) look more like scenes than per-pixel noise.
    let (cells_x, cells_y) = (width.div_ceil(16), height.div_ceil(16));
    let mut labels = Vec::with_capacity(batch * width * height);
    for _ in 0..batch {
        let cells: Vec<u32> = (0..cells_x * cells_y)
            .map(|_| rng.random_range(0..classes))
            .collect();
        labels.extend(
            (0..width * height).map(|i| cells[(i / width / 16) * cells_x + (i % width) / 16]),
        );
    }
    let photo: Vec<f32> = (0..batch * 3 * width * height)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    Ok(Batch {
        label: Tensor::from_vec(labels, (batch, 1, height, width), device)?,
        instance: None,
        photo: Tensor::from_vec(photo, (batch, 3, height, width), device)?,
    })
}

/// One `scenepaint bench --train` case: a preset, with the overrides of a training config.
#[derive(Debug, Clone)]
pub struct TrainCase {
    /// The name in the table: the preset's, or the config file's.
    pub name: String,
    pub preset: String,
    /// A JSON training config over the preset (`network`, `batch_size`, crop), as `--config`.
    pub overrides: Option<String>,
}

/// The configuration the next default model trains with (256x128, batch 4, batch-norm SPADE).
pub const DEFAULT_MODEL_CONFIG: &str = include_str!("../../assets/train/ycor-spade-256.json");

/// The cases `scenepaint bench --train` measures by default: the issue's spade-compact at
/// 256x256, the default model's configuration at its training size and batch, and the
/// compact pix2pix and pix2pixHD presets at theirs. `spade` (the published size) runs when
/// named with `--filter spade`.
pub fn train_cases() -> Vec<TrainCase> {
    let case = |name: &str, preset: &str, overrides: Option<&str>| TrainCase {
        name: name.into(),
        preset: preset.into(),
        overrides: overrides.map(String::from),
    };
    vec![
        case(
            "spade-compact",
            "spade-compact",
            Some(r#"{"crop_width": 256, "crop_height": 256}"#),
        ),
        case(
            "ycor-spade-256",
            "spade-compact",
            Some(DEFAULT_MODEL_CONFIG),
        ),
        case("pix2pix-compact", "pix2pix-compact", None),
        case("pix2pixhd-compact", "pix2pixhd-compact", None),
        case("spade", "spade", None),
    ]
}

impl TrainCase {
    /// A case for a training config file (as `scenepaint train --config` takes it, over the
    /// SPADE family's compact preset), named after the file: how fast a run of it will go.
    pub fn from_config_file(path: &Path) -> Result<Self> {
        let overrides = read_overrides(path)?;
        let name = path.file_stem().map_or_else(
            || path.display().to_string(),
            |s| s.to_string_lossy().into(),
        );
        let case = Self {
            name,
            preset: "spade-compact".into(),
            overrides: Some(serde_json::Value::Object(overrides).to_string()),
        };
        case.config()
            .map_err(|e| Error::msg(format!("{}: {e}", path.display())))?;
        Ok(case)
    }

    /// The preset with the overrides (a shallow merge, as `scenepaint train --config` does).
    pub fn config(&self) -> Result<TrainConfig> {
        let config = preset(&self.preset)?;
        let Some(text) = &self.overrides else {
            return Ok(config);
        };
        let from = format!("of bench case {}", self.name);
        match serde_json::from_str(text) {
            Ok(serde_json::Value::Object(overrides)) => with_overrides(&config, &overrides, &from),
            Ok(other) => Err(Error::msg(format!(
                "training config {from}: a JSON object of settings, not {other}"
            ))),
            Err(e) => Err(Error::msg(format!("training config {from}: {e}"))),
        }
    }
}

/// Times `steps` training steps of `case` after 2 warm-up steps, at its crop size and batch
/// (or `size` x `size` when given), on synthetic ycor-like data or on the first pairs of the
/// dataset at `data`.
pub fn train_step(
    case: &TrainCase,
    size: Option<u32>,
    steps: u64,
    device: &Device,
    data: Option<&Path>,
) -> Result<StepBench> {
    // As `scenepaint train` runs.
    crate::nets::fast::on_pool_worker(|| time_steps(case, size, steps, device, data))
}

fn time_steps(
    case: &TrainCase,
    size: Option<u32>,
    steps: u64,
    device: &Device,
    data: Option<&Path>,
) -> Result<StepBench> {
    let mut config = case.config()?;
    if let Some(size) = size {
        (config.crop_width, config.crop_height) = (size, size);
    }
    // The data is made at the crop size: no resize or crop to measure.
    (config.load_width, config.load_height) = (config.crop_width, config.crop_height);
    let dataset = match data {
        Some(root) => Dataset::open(root, None)?,
        None => {
            let palette = Palette::builtin("ycor")?;
            Dataset {
                layout: Layout::Ycor,
                root: PathBuf::from("(synthetic)"),
                pairs: Vec::new(),
                label_channels: Layout::Ycor.label_channels(&palette),
                palette,
            }
        }
    };
    let mut family = build_family(&config, &dataset, device)?;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let (width, height) = (config.crop_width, config.crop_height);
    let batch = match data {
        Some(_) => {
            let indices: Vec<usize> = (0..config.batch_size).collect();
            let aug = Augment::resize_only(width, height, false);
            dataset.batch(&indices, &aug, &mut rng, device)?
        }
        None => synthetic_batch(
            (width as usize, height as usize),
            config.batch_size,
            dataset.label_channels.channels as u32,
            device,
            &mut rng,
        )?,
    };
    let lr = config.learning_rates(0);
    let never_stop = std::sync::atomic::AtomicBool::new(false);
    for _ in 0..2 {
        family.train_step(&batch, lr, &mut rng, &never_stop)?;
    }
    let (peak_warm, rss_warm) = memory_kib();
    let mut rss_kib_per_step = Vec::with_capacity(steps as usize);
    let mut step_s = Vec::with_capacity(steps as usize);
    for _ in 0..steps {
        let started = Instant::now();
        family.train_step(&batch, lr, &mut rng, &never_stop)?;
        step_s.push(started.elapsed().as_secs_f64());
        rss_kib_per_step.push(memory_kib().1);
    }
    step_s.sort_by(f64::total_cmp);
    let seconds_per_iter = step_s.get(step_s.len() / 2).copied().unwrap_or(0.0);
    let (peak_end, rss_end) = memory_kib();
    Ok(StepBench {
        preset: case.name.clone(),
        path: match crate::nets::fast::training_path::training_path() {
            crate::nets::fast::training_path::TrainingPath::Fast => "fast".into(),
            crate::nets::fast::training_path::TrainingPath::Candle => "candle".into(),
        },
        width: config.crop_width,
        height: config.crop_height,
        batch_size: config.batch_size,
        steps,
        seconds_per_iter,
        images_per_s: config.batch_size as f64 / seconds_per_iter.max(1e-12),
        peak_kib_after_warmup: peak_warm,
        peak_kib_end: peak_end,
        rss_kib_after_warmup: rss_warm,
        rss_kib_end: rss_end,
        rss_kib_per_step,
    })
}

/// One line of `scenepaint bench --train`'s table.
pub fn format_step_row(result: &StepBench) -> String {
    let mib = |kib: u64| kib as f64 / 1024.0;
    let growth = match (
        result.rss_kib_per_step.first(),
        result.rss_kib_per_step.last(),
    ) {
        (Some(first), Some(last)) => mib(*last) - mib(*first),
        _ => 0.0,
    };
    format!(
        "train {:<17} {:<6} {}x{} batch {} {:>7.2} s/iter {:>6.2} images/s (median of {})  peak {:>6.0} MiB  RSS {:>6.0} -> {:>6.0} MiB ({growth:+.0} MiB over the timed steps)",
        result.preset,
        result.path,
        result.width,
        result.height,
        result.batch_size,
        result.seconds_per_iter,
        result.images_per_s,
        result.steps,
        mib(result.peak_kib_end),
        mib(result.rss_kib_after_warmup),
        mib(result.rss_kib_end),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_file_case_merges_the_file_over_the_compact_preset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wide-run.json");
        std::fs::write(
            &path,
            r#"{"crop_width": 96, "crop_height": 48, "batch_size": 3}"#,
        )
        .unwrap();
        let case = TrainCase::from_config_file(&path).unwrap();
        assert_eq!(case.name, "wide-run");
        let config = case.config().unwrap();
        let compact = preset("spade-compact").unwrap();
        assert_eq!((config.crop_width, config.crop_height), (96, 48));
        assert_eq!(config.batch_size, 3);
        assert_eq!(config.net, compact.net);
    }

    #[test]
    fn a_bad_config_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("absent.json");
        let error = TrainCase::from_config_file(&missing)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("absent.json") && error.contains("cannot read"),
            "{error}"
        );
        let wrong = dir.path().join("wrong.json");
        std::fs::write(&wrong, r#"{"batch_size": "four"}"#).unwrap();
        let error = TrainCase::from_config_file(&wrong).unwrap_err().to_string();
        // The file, the setting, the value found and the type expected.
        assert!(
            error.contains("wrong.json")
                && error.contains("\"batch_size\": \"four\" does not fit")
                && error.contains("usize"),
            "{error}"
        );
    }
}

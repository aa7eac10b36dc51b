//! Training-step measurements for `scenepaint bench`: seconds per iteration and memory of a
//! SPADE preset at a given size, batch 1, on synthetic labels and photos (the data loader is
//! not what is measured). Memory comes from `/proc/self/status` (VmHWM = peak resident set,
//! VmRSS = current), read after the warm-up and at the end to show it stays flat.
use std::time::Instant;

use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::build::load_vgg;
use super::config::{preset, NetKind, TrainConfig};
use super::data::Batch;
use super::family::Family;
use super::spade_family::SpadeFamily;
use crate::error::{Error, Result};
use crate::nets::spade::SpadeOptions;

/// One training-step case's result.
#[derive(Debug, Clone, Serialize)]
pub struct StepBench {
    pub preset: String,
    /// `fast` (our kernels) or `candle` (the plain ops), see `nets::fast::train_conv`.
    pub path: String,
    pub size: u32,
    pub steps: u64,
    /// Median of the timed steps.
    pub seconds_per_iter: f64,
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
    size: usize,
    classes: u32,
    device: &Device,
    rng: &mut ChaCha8Rng,
) -> Result<Batch> {
    // Blocky label maps (16 px cells) look more like scenes than per-pixel noise.
    let cells: Vec<u32> = (0..(size / 16).pow(2))
        .map(|_| rng.random_range(0..classes))
        .collect();
    let labels: Vec<u32> = (0..size * size)
        .map(|i| cells[(i / size / 16) * (size / 16) + (i % size) / 16])
        .collect();
    let photo: Vec<f32> = (0..3 * size * size)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    Ok(Batch {
        label: Tensor::from_vec(labels, (1, 1, size, size), device)?,
        instance: None,
        photo: Tensor::from_vec(photo, (1, 3, size, size), device)?,
    })
}

/// Times `steps` SPADE training steps of `preset_name` at `size` x `size` after 2 warm-up steps.
pub fn spade_step(preset_name: &str, size: u32, steps: u64, device: &Device) -> Result<StepBench> {
    spade_step_with(preset(preset_name)?, size, steps, device)
}

/// [`spade_step`] for a given SPADE config (e.g. a preset with `lambda_vgg` 0).
pub fn spade_step_with(
    mut config: TrainConfig,
    size: u32,
    steps: u64,
    device: &Device,
) -> Result<StepBench> {
    let preset_name = config.preset.clone();
    if config.net != NetKind::Spade {
        return Err(Error::msg(format!(
            "bench: preset {preset_name} is not a SPADE preset"
        )));
    }
    (
        config.crop_width,
        config.crop_height,
        config.load_width,
        config.load_height,
    ) = (size, size, size, size);
    let classes = 9u32;
    let mut network = config.network.clone();
    if let Some(map) = network.as_object_mut() {
        map.insert("label_nc".into(), classes.into());
        map.insert("no_instance".into(), true.into());
        map.insert("crop_size".into(), size.into());
    }
    let options = SpadeOptions::from_json(&network)?;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut family = SpadeFamily::new(
        &config,
        options,
        load_vgg(&config, device)?,
        device,
        &mut rng,
    )?;
    let batch = synthetic_batch(size as usize, classes, device, &mut rng)?;
    let lr = config.learning_rates(0);
    for _ in 0..2 {
        family.train_step(&batch, lr, &mut rng)?;
    }
    let (peak_warm, rss_warm) = memory_kib();
    let mut rss_kib_per_step = Vec::with_capacity(steps as usize);
    let mut step_s = Vec::with_capacity(steps as usize);
    for _ in 0..steps {
        let started = Instant::now();
        family.train_step(&batch, lr, &mut rng)?;
        step_s.push(started.elapsed().as_secs_f64());
        rss_kib_per_step.push(memory_kib().1);
    }
    step_s.sort_by(f64::total_cmp);
    let seconds_per_iter = step_s.get(step_s.len() / 2).copied().unwrap_or(0.0);
    let (peak_end, rss_end) = memory_kib();
    Ok(StepBench {
        preset: preset_name,
        path: match crate::nets::fast::train_conv::training_path() {
            crate::nets::fast::train_conv::TrainingPath::Fast => "fast".into(),
            crate::nets::fast::train_conv::TrainingPath::Candle => "candle".into(),
        },
        size,
        steps,
        seconds_per_iter,
        peak_kib_after_warmup: peak_warm,
        peak_kib_end: peak_end,
        rss_kib_after_warmup: rss_warm,
        rss_kib_end: rss_end,
        rss_kib_per_step,
    })
}

/// The training-step presets `scenepaint bench --train` measures.
pub const BENCH_TRAIN_PRESETS: [&str; 2] = ["spade-compact", "spade"];

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
        "train {:<15} {:<6} {}x{} {:>7.2} s/iter (median of {})  peak {:>6.0} MiB  RSS {:>6.0} -> {:>6.0} MiB ({growth:+.0} MiB over the timed steps)",
        result.preset,
        result.path,
        result.size,
        result.size,
        result.seconds_per_iter,
        result.steps,
        mib(result.peak_kib_end),
        mib(result.rss_kib_after_warmup),
        mib(result.rss_kib_end),
    )
}

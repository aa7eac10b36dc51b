//! Shared harness of the training-run tests: a few real ycor pairs at 64x64, a recording
//! observer, the logged L1 to the photos, checkpoint tensors, and the stop/resume comparison
//! every family must pass.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{Device, Tensor};
use scenepaint::labels::Palette;
use scenepaint::train::config::TrainConfig;
use scenepaint::train::trainer::{self, Event, Observer, Outcome, Progress, TrainRequest};

pub fn ycor() -> PathBuf {
    let dir = std::env::var("SCENEPAINT_SHARED")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../shared").into());
    let path = PathBuf::from(dir).join("datasets/ycor/train");
    assert!(
        path.join("images").is_dir(),
        "ycor dataset missing: {}",
        path.display()
    );
    path
}

/// The file stems of `dir`'s entries, sorted.
pub fn sorted_stems(dir: &Path) -> Vec<String> {
    let mut stems: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    stems.sort();
    stems
}

/// A paired folder with the first `count` ycor pairs, already at 64x64 (as `dataset prepare`
/// would write it) so that a step costs no JPEG decoding at full size.
pub fn small_ycor(root: &Path, count: usize) {
    let source = ycor();
    let stems = sorted_stems(&source.join("images"));
    let palette = Palette::builtin("ycor").unwrap();
    for dir in ["images", "labels"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    for stem in stems.iter().take(count) {
        let photo = image::open(source.join(format!("images/{stem}.jpg")))
            .unwrap()
            .to_rgb8();
        image::imageops::resize(&photo, 64, 64, image::imageops::FilterType::Triangle)
            .save(root.join(format!("images/{stem}.png")))
            .unwrap();
        let label = scenepaint::labelmap::read_label_map(
            source.join(format!("labels/{stem}.png")),
            &palette,
        )
        .unwrap();
        let map = label.resize_nearest(64, 64);
        scenepaint::labelmap::write_index_png(root.join(format!("labels/{stem}.png")), &map)
            .unwrap();
    }
}

pub fn request(data: &Path, run: &Path, config: TrainConfig, resume: bool) -> TrainRequest {
    TrainRequest {
        data: data.into(),
        run_dir: run.into(),
        config,
        resume,
        device: Device::Cpu,
        palette: Some(Palette::builtin("ycor").unwrap()),
        command: None,
    }
}

/// Trains `config` on `data` into the fresh folder `run` until it finishes (no stop flag):
/// the outcome and what the observer recorded.
pub fn train_fresh(data: &Path, run: &Path, config: TrainConfig) -> (Outcome, Recorder) {
    let mut recorder = Recorder::default();
    let outcome = trainer::train(
        &request(data, run, config, false),
        &mut recorder,
        &AtomicBool::new(false),
    )
    .unwrap();
    (outcome, recorder)
}

/// Records progress; raises the stop flag after `stop_after` iterations.
#[derive(Default)]
pub struct Recorder {
    pub steps: Vec<Progress>,
    pub events: Vec<String>,
    pub stop_after: Option<u64>,
    pub stop: Option<&'static AtomicBool>,
}

impl Observer for Recorder {
    fn on_progress(&mut self, progress: &Progress) {
        if Some(progress.iteration) == self.stop_after {
            if let Some(flag) = self.stop {
                flag.store(true, Ordering::Relaxed);
            }
        }
        self.steps.push(progress.clone());
    }
    fn on_event(&mut self, event: &Event) {
        self.events.push(format!("{event:?}"));
    }
}

/// Mean logged L1 of the generated images to the photos over the last `count` steps.
pub fn logged_l1_tail(run: &Path, count: usize) -> f64 {
    let text = std::fs::read_to_string(run.join(trainer::LOSSES_FILE)).unwrap();
    let values: Vec<f64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["losses"]["g_l1"]
                .as_f64()
                .unwrap()
        })
        .collect();
    values.iter().rev().take(count).sum::<f64>() / count as f64
}

/// Mean recorded L1 to the photos over the first `count` steps.
pub fn recorded_l1_head(recorder: &Recorder, count: usize) -> f64 {
    recorder
        .steps
        .iter()
        .take(count)
        .map(|s| s.losses["g_l1"])
        .sum::<f64>()
        / count as f64
}

/// The checkpoint's float tensors by name, sorted, as f32 values.
pub fn checkpoint_tensors(run: &Path) -> Vec<(String, Vec<f32>)> {
    let mut tensors: Vec<(String, Tensor)> =
        candle_core::safetensors::load(run.join(trainer::CHECKPOINT_FILE), &Device::Cpu)
            .unwrap()
            .into_iter()
            .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    tensors
        .into_iter()
        .filter(|(name, t)| !name.starts_with("__") && t.dtype().is_float())
        .map(|(name, t)| {
            (
                name,
                t.to_dtype(candle_core::DType::F32)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1()
                    .unwrap(),
            )
        })
        .collect()
}

/// Trains `config` for `2 * half` iterations straight and as `half` + `half` (stopped by
/// `stop`, then resumed) on 3 small pairs; both runs must end with identical weights and
/// optimizer state and log identical losses. Returns the checkpoint's tensor names.
pub fn assert_resume_equals_straight(
    config: &dyn Fn(u64) -> TrainConfig,
    half: u64,
    stop: &'static AtomicBool,
) -> Vec<String> {
    let data = tempfile::tempdir().unwrap();
    small_ycor(data.path(), 3);
    let total = 2 * half;
    let straight = tempfile::tempdir().unwrap();
    let (outcome, _) = train_fresh(data.path(), straight.path(), config(total));
    assert_eq!(outcome, Outcome::Finished { iteration: total });

    let split = tempfile::tempdir().unwrap();
    let mut first = Recorder {
        stop_after: Some(half),
        stop: Some(stop),
        ..Recorder::default()
    };
    let outcome = trainer::train(
        &request(data.path(), split.path(), config(total), false),
        &mut first,
        stop,
    )
    .unwrap();
    assert_eq!(outcome, Outcome::Stopped { iteration: half });
    stop.store(false, Ordering::Relaxed);
    let mut second = Recorder::default();
    let outcome = trainer::train(
        &request(data.path(), split.path(), config(total), true),
        &mut second,
        stop,
    )
    .unwrap();
    assert_eq!(outcome, Outcome::Finished { iteration: total });
    assert_eq!(second.steps.first().map(|s| s.iteration), Some(half + 1));

    let (a, b) = (
        checkpoint_tensors(straight.path()),
        checkpoint_tensors(split.path()),
    );
    assert_eq!(a.len(), b.len());
    for ((name_a, va), (name_b, vb)) in a.iter().zip(&b) {
        assert_eq!(name_a, name_b);
        assert_eq!(
            va, vb,
            "{name_a} differs between {total} straight steps and {half} + {half} resumed steps"
        );
    }
    let log = |dir: &Path| std::fs::read_to_string(dir.join(trainer::LOSSES_FILE)).unwrap();
    let strip = |text: String| -> Vec<String> {
        text.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                format!("{} {}", v["iteration"], v["losses"])
            })
            .collect()
    };
    assert_eq!(strip(log(straight.path())), strip(log(split.path())));
    a.into_iter().map(|(name, _)| name).collect()
}

//! Training runs end to end on real ycor pairs at 64x64 with the `spade-tiny` preset: the
//! generator learns (its L1 to the photos falls), N + N resumed steps equal 2N steps, a
//! diverging run stops without saving bad weights, and the run folder holds what it should.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{Device, Tensor};
use scenepaint::labels::Palette;
use scenepaint::train::config::{preset, TrainConfig};
use scenepaint::train::trainer::{self, Event, Observer, Outcome, Progress, TrainRequest};

fn ycor() -> PathBuf {
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

/// A paired folder with the first `count` ycor pairs, already at 64x64 (as `dataset prepare`
/// would write it) so that a step costs no JPEG decoding at full size.
fn small_ycor(root: &Path, count: usize) {
    let source = ycor();
    let mut stems: Vec<String> = std::fs::read_dir(source.join("images"))
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
        let ids = scenepaint::train::data::augment::resize_nearest(
            &label.ids,
            label.width,
            label.height,
            64,
            64,
        );
        let map = scenepaint::labelmap::LabelMap {
            width: 64,
            height: 64,
            ids,
        };
        scenepaint::labelmap::write_index_png(root.join(format!("labels/{stem}.png")), &map)
            .unwrap();
    }
}

fn tiny_config(iters: u64) -> TrainConfig {
    TrainConfig {
        iters,
        load_width: 64,
        load_height: 64,
        flip: true,
        lambda_vgg: 0.0,
        log_every: 1,
        sample_every: 1000,
        checkpoint_every: 1000,
        decay_start: Some(1000),
        seed: 11,
        ..preset("spade-tiny").unwrap()
    }
}

fn request(data: &Path, run: &Path, config: TrainConfig, resume: bool) -> TrainRequest {
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

/// Records progress; raises the stop flag after `stop_after` iterations.
#[derive(Default)]
struct Recorder {
    steps: Vec<Progress>,
    events: Vec<String>,
    stop_after: Option<u64>,
    stop: Option<&'static AtomicBool>,
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
fn logged_l1_tail(run: &Path, count: usize) -> f64 {
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

#[test]
fn spade_learns_on_real_ycor_pairs_and_the_run_folder_is_complete() {
    let data = tempfile::tempdir().unwrap();
    small_ycor(data.path(), 4);
    let run = tempfile::tempdir().unwrap();
    // All four pairs in every batch, no flip: the logged L1 (taken before each update) always
    // measures the generator on the same images. A raised learning rate so that a few dozen
    // steps visibly move a generator initialised at xavier gain 0.02.
    let config = TrainConfig {
        sample_every: 30,
        checkpoint_every: 15,
        batch_size: 4,
        flip: false,
        lr: 2e-3,
        ..tiny_config(30)
    };
    let mut recorder = Recorder::default();
    let outcome = trainer::train(
        &request(data.path(), run.path(), config, false),
        &mut recorder,
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(outcome, Outcome::Finished { iteration: 30 });
    assert_eq!(recorder.steps.len(), 30);
    assert!(
        recorder.events.iter().any(|e| e.contains("Bundle")),
        "{:?}",
        recorder.events
    );
    for step in &recorder.steps {
        assert!(
            step.losses.values().all(|v| v.is_finite()),
            "{:?}",
            step.losses
        );
        for key in ["g_gan", "g_feat", "d_fake", "d_real", "g_l1"] {
            assert!(
                step.losses.contains_key(key),
                "{key} missing from {:?}",
                step.losses
            );
        }
    }
    let first: f64 = recorder
        .steps
        .iter()
        .take(3)
        .map(|s| s.losses["g_l1"])
        .sum::<f64>()
        / 3.0;
    let last = logged_l1_tail(run.path(), 3);
    assert!(
        last < 0.8 * first,
        "generator L1 to the photos: first {first:.4}, last {last:.4}"
    );
    for file in [
        "config.json",
        "losses.jsonl",
        "checkpoint.safetensors",
        "samples/iter_0000030.png",
        "model/model.json",
        "model/generator.safetensors",
    ] {
        assert!(run.path().join(file).exists(), "{file} missing");
    }
    let grid = image::open(run.path().join("samples/iter_0000030.png")).unwrap();
    assert_eq!((grid.width(), grid.height()), (3 * 64, 4 * 64));
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run.path().join("model/model.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["net"], "spade");
    assert_eq!(manifest["input_encoding"]["classes"], 9);
    // A second run into the same folder without --resume is refused.
    let again = trainer::train(
        &request(data.path(), run.path(), tiny_config(2), false),
        &mut Recorder::default(),
        &AtomicBool::new(false),
    );
    assert!(again.unwrap_err().to_string().contains("--resume"));
}

#[test]
fn pix2pix_learns_on_real_ycor_pairs_and_writes_a_colour_image_bundle() {
    let data = tempfile::tempdir().unwrap();
    small_ycor(data.path(), 4);
    let run = tempfile::tempdir().unwrap();
    let config = TrainConfig {
        iters: 20,
        load_width: 64,
        load_height: 64,
        batch_size: 4,
        flip: false,
        lr: 1e-3,
        log_every: 1,
        sample_every: 1000,
        checkpoint_every: 1000,
        decay_start: Some(1000),
        seed: 5,
        ..preset("pix2pix-tiny").unwrap()
    };
    let mut recorder = Recorder::default();
    let outcome = trainer::train(
        &request(data.path(), run.path(), config, false),
        &mut recorder,
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(outcome, Outcome::Finished { iteration: 20 });
    for step in &recorder.steps {
        for key in ["g_gan", "g_l1", "d_fake", "d_real"] {
            let value = step.losses.get(key).copied();
            assert!(
                value.is_some_and(f64::is_finite),
                "{key}: {:?}",
                step.losses
            );
        }
    }
    let first: f64 = recorder
        .steps
        .iter()
        .take(3)
        .map(|s| s.losses["g_l1"])
        .sum::<f64>()
        / 3.0;
    let last = logged_l1_tail(run.path(), 3);
    assert!(
        last < 0.8 * first,
        "pix2pix L1 to the photos: first {first:.4}, last {last:.4}"
    );
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run.path().join("model/model.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["net"], "pix2pix_unet");
    assert_eq!(manifest["input_encoding"]["kind"], "colour_image");
    assert_eq!(manifest["options"]["num_downs"], 6);
    assert_eq!(manifest["options"]["use_dropout"], true);
}

fn checkpoint_tensors(run: &Path) -> Vec<(String, Vec<f32>)> {
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

static STOP: AtomicBool = AtomicBool::new(false);

#[test]
fn stop_and_resume_equals_an_uninterrupted_run() {
    let data = tempfile::tempdir().unwrap();
    small_ycor(data.path(), 3);
    let straight = tempfile::tempdir().unwrap();
    let outcome = trainer::train(
        &request(data.path(), straight.path(), tiny_config(6), false),
        &mut Recorder::default(),
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(outcome, Outcome::Finished { iteration: 6 });

    let split = tempfile::tempdir().unwrap();
    let mut first = Recorder {
        stop_after: Some(3),
        stop: Some(&STOP),
        ..Recorder::default()
    };
    let outcome = trainer::train(
        &request(data.path(), split.path(), tiny_config(6), false),
        &mut first,
        &STOP,
    )
    .unwrap();
    assert_eq!(outcome, Outcome::Stopped { iteration: 3 });
    STOP.store(false, Ordering::Relaxed);
    let mut second = Recorder::default();
    let outcome = trainer::train(
        &request(data.path(), split.path(), tiny_config(6), true),
        &mut second,
        &STOP,
    )
    .unwrap();
    assert_eq!(outcome, Outcome::Finished { iteration: 6 });
    assert_eq!(second.steps.first().map(|s| s.iteration), Some(4));

    let (a, b) = (
        checkpoint_tensors(straight.path()),
        checkpoint_tensors(split.path()),
    );
    assert_eq!(a.len(), b.len());
    assert!(
        a.iter().any(|(n, _)| n.starts_with("optG.exp_avg_sq.")),
        "optimizer moments are in the checkpoint"
    );
    for ((name_a, va), (name_b, vb)) in a.iter().zip(&b) {
        assert_eq!(name_a, name_b);
        assert_eq!(
            va, vb,
            "{name_a} differs between 6 straight steps and 3 + 3 resumed steps"
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
}

#[test]
fn a_diverging_run_stops_and_never_saves_bad_weights() {
    let data = tempfile::tempdir().unwrap();
    small_ycor(data.path(), 2);
    let run = tempfile::tempdir().unwrap();
    let config = TrainConfig {
        lr: f64::NAN,
        checkpoint_every: 1,
        ..tiny_config(5)
    };
    let outcome = trainer::train(
        &request(data.path(), run.path(), config, false),
        &mut Recorder::default(),
        &AtomicBool::new(false),
    )
    .unwrap();
    match outcome {
        Outcome::Diverged { message } => assert!(message.contains("NaN"), "{message}"),
        other => panic!("expected a diverged run, got {other:?}"),
    }
    assert!(
        !run.path().join(trainer::CHECKPOINT_FILE).exists(),
        "no checkpoint with NaN weights may be written"
    );
}

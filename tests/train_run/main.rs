//! Training runs end to end on real ycor pairs at 64x64 with the `spade-tiny` preset: the
//! generator learns (its L1 to the photos falls), N + N resumed steps equal 2N steps, a
//! diverging run stops without saving bad weights, and the run folder holds what it should;
//! pix2pix learns too and resumes exactly with its dropout on.
#![allow(clippy::unwrap_used)] // a test that cannot go on fails; the panic is the report
#[path = "../train_support/mod.rs"]
mod train_support;

use std::sync::atomic::AtomicBool;

use scenepaint::nets::layers::is_buffer_name;
use scenepaint::nets::style_colours::{ColourStats, StyleColours, STYLE_COLOURS_FILE};
use scenepaint::train::config::{preset, TrainConfig};
use scenepaint::train::trainer::{self, Outcome};
use train_support::{
    assert_resume_equals_straight, checkpoint_tensors, logged_l1_tail, recorded_l1_head, request,
    small_ycor, train_fresh, Recorder,
};

mod average;
mod interrupts;
mod refused;
mod resume;
mod terms;

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

/// pix2pix-tiny at 64x64 for a few iterations: every step logged, no checkpoint, sample or
/// learning-rate decay inside the run.
fn short_pix2pix(iters: u64, seed: u64) -> TrainConfig {
    short_config("pix2pix-tiny", iters, seed)
}

/// `preset` at 64x64 for `iters` iterations, logging every step, nothing else on the way.
fn short_config(preset_name: &str, iters: u64, seed: u64) -> TrainConfig {
    TrainConfig {
        iters,
        load_width: 64,
        load_height: 64,
        log_every: 1,
        sample_every: 1000,
        checkpoint_every: 1000,
        decay_start: Some(1000),
        seed,
        ..preset(preset_name).unwrap()
    }
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
    let (outcome, recorder) = train_fresh(data.path(), run.path(), config);
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
    let first = recorded_l1_head(&recorder, 3);
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
    let (outcome, recorder) = train_fresh(data.path(), run.path(), config);
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
    let first = recorded_l1_head(&recorder, 3);
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
    // No styles, so no style colours.
    assert!(!run.path().join("model").join(STYLE_COLOURS_FILE).exists());
}

/// pix2pix's hierarchical U-Net on real pairs: the global U-Net trains alone for
/// `niter_global_first` iterations (the local one's Adam moments stay zero), then both; the
/// bundle is a `unet_hier` generator that the translator loads.
#[test]
fn hierarchical_pix2pix_trains_the_global_unet_first_then_both() {
    let data = tempfile::tempdir().unwrap();
    small_ycor(data.path(), 3);
    let run = tempfile::tempdir().unwrap();
    let config = |iters| TrainConfig {
        iters,
        network: serde_json::json!({"netG": "unet_hier", "ngf": 4, "ndf": 8, "num_downs": 6,
            "global_ngf": 4, "global_num_downs": 5, "global_downsample": 2}),
        niter_global_first: 2,
        load_width: 64,
        load_height: 64,
        batch_size: 2,
        log_every: 1,
        sample_every: 1000,
        checkpoint_every: 1000,
        decay_start: Some(1000),
        seed: 3,
        ..preset("pix2pix-tiny").unwrap()
    };
    let moments = |part: &str| -> f32 {
        let tensors = train_support::checkpoint_tensors(run.path());
        let of_part: Vec<&(String, Vec<f32>)> = tensors
            .iter()
            .filter(|(name, _)| name.starts_with("optG.exp_avg.") && name.contains(part))
            .collect();
        assert!(!of_part.is_empty(), "no Adam moments of {part}");
        of_part
            .iter()
            .flat_map(|(_, v)| v.iter())
            .fold(0.0f32, |m, v| m.max(v.abs()))
    };
    let (outcome, _) = train_fresh(data.path(), run.path(), config(2));
    assert_eq!(outcome, Outcome::Finished { iteration: 2 });
    assert!(moments("global.") > 0.0, "the global U-Net trains first");
    assert_eq!(moments("local."), 0.0, "the local U-Net waits");
    let mut recorder = Recorder::default();
    let outcome = trainer::train(
        &request(data.path(), run.path(), config(4), true),
        &mut recorder,
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(outcome, Outcome::Finished { iteration: 4 });
    assert!(moments("local.") > 0.0, "then both train");
    let model =
        scenepaint::nets::bundle::Model::load(&run.path().join("model"), &candle_core::Device::Cpu)
            .unwrap();
    assert_eq!(model.manifest.options["netG"], "unet_hier");
    let map = scenepaint::labelmap::LabelMap::new(64, 64, 1);
    let image = model
        .translate(&map, &scenepaint::nets::bundle::TranslateOptions::default())
        .unwrap();
    assert_eq!(image.dimensions(), (64, 64));
}

#[test]
fn niter_global_first_needs_the_hierarchical_unet() {
    let config = TrainConfig {
        niter_global_first: 10,
        ..preset("pix2pix-compact").unwrap()
    };
    let err = config.validate().unwrap_err().to_string();
    assert!(
        err.contains("niter_global_first") && err.contains("unet_hier"),
        "{err}"
    );
    let hier = preset("pix2pix-hier-compact").unwrap();
    hier.validate().unwrap();
    assert_eq!(hier.niter_global_first, hier.iters / 4);
}

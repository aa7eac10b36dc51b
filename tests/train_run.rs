//! Training runs end to end on real ycor pairs at 64x64 with the `spade-tiny` preset: the
//! generator learns (its L1 to the photos falls), N + N resumed steps equal 2N steps, a
//! diverging run stops without saving bad weights, and the run folder holds what it should;
//! pix2pix learns too and resumes exactly with its dropout on.
#![allow(clippy::unwrap_used)] // a test that cannot go on fails; the panic is the report
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

static STOP: AtomicBool = AtomicBool::new(false);

#[test]
fn stop_and_resume_equals_an_uninterrupted_run() {
    let names = assert_resume_equals_straight(&tiny_config, 3, &STOP);
    assert!(
        names.iter().any(|n| n.starts_with("optG.exp_avg_sq.")),
        "optimizer moments are in the checkpoint"
    );
}

static STOP_AUGMENTED: AtomicBool = AtomicBool::new(false);

/// DiffAugment draws its transforms from the run's random stream: a resumed run must draw
/// the same ones (the transforms themselves: `train::diff_augment`'s unit tests).
#[test]
fn a_diff_augment_run_resumes_exactly() {
    let augmented = |iters| TrainConfig {
        diff_augment: Some("color,translation,cutout".into()),
        ..tiny_config(iters)
    };
    let names = assert_resume_equals_straight(&augmented, 3, &STOP_AUGMENTED);
    assert!(
        names.iter().any(|n| n.starts_with("optD.exp_avg.")),
        "D's moments compared"
    );
}

static STOP_SEGMENTATION: AtomicBool = AtomicBool::new(false);

/// OASIS's segmentation discriminator (with DiffAugment: its labels come from the augmented
/// maps): D reads the image alone and scores the 9 ycor classes plus "fake" per patch, its
/// adversarial losses are cross-entropies (about ln 10 for an untrained D), and a run
/// resumes exactly.
#[test]
fn a_segmentation_discriminator_run_trains_and_resumes_exactly() {
    let segmented = |iters| TrainConfig {
        segmentation_d: true,
        diff_augment: Some("color,translation,cutout".into()),
        ..tiny_config(iters)
    };
    let names = assert_resume_equals_straight(&segmented, 2, &STOP_SEGMENTATION);
    assert!(names.iter().any(|n| n.starts_with("optD.exp_avg.")));

    let data = tempfile::tempdir().unwrap();
    small_ycor(data.path(), 2);
    let run = tempfile::tempdir().unwrap();
    let (outcome, recorder) = train_fresh(data.path(), run.path(), segmented(1));
    assert_eq!(outcome, Outcome::Finished { iteration: 1 });
    let losses = &recorder.steps[0].losses;
    for term in ["d_real", "d_fake", "g_gan"] {
        let value = losses[term];
        assert!((1.5..3.5).contains(&value), "{term} {value}: {losses:?}");
    }
    let tensors = candle_core::safetensors::load(
        run.path().join("checkpoint.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let shape = |name: &str| tensors[name].dims().to_vec();
    let first = shape("D.discriminator_0.model0.0.weight");
    assert_eq!(first[1], 3, "D reads the image alone: {first:?}");
    let last = tensors
        .keys()
        .filter(|n| n.starts_with("D.discriminator_1.model") && n.ends_with(".0.bias"))
        .max()
        .unwrap();
    assert_eq!(shape(last), vec![10], "{last}: 9 classes + fake");
    let refused = TrainConfig {
        segmentation_d: true,
        ..short_pix2pix(2, 1)
    };
    let message = refused.validate().unwrap_err().to_string();
    assert!(message.contains("segmentation_d"), "{message}");
}

static STOP_PIX2PIX: AtomicBool = AtomicBool::new(false);

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

/// pix2pix trains with dropout: its masks must repeat on resume too.
#[test]
fn pix2pix_with_dropout_resumes_exactly() {
    let config = |iters| short_pix2pix(iters, 13);
    assert!(
        config(1).network["use_dropout"] != false,
        "the preset trains with dropout"
    );
    assert_resume_equals_straight(&config, 2, &STOP_PIX2PIX);
}

static STOP_AVERAGE: AtomicBool = AtomicBool::new(false);

/// A run that averages its generator: the checkpoint holds the average (`avgG.`), resuming
/// continues it exactly, and the bundle ships the average, not the last weights, with
/// batch-norm statistics (and spectral norm's vectors) measured for the average.
#[test]
fn a_generator_weight_average_resumes_exactly_and_is_what_the_bundle_holds() {
    let config = |iters| TrainConfig {
        average_decay: Some(0.5),
        ..short_pix2pix(iters, 14)
    };
    let names = assert_resume_equals_straight(&config, 2, &STOP_AVERAGE);
    assert!(names.iter().any(|n| n.starts_with("avgG.")), "{names:?}");
    assert_bundle_ships_the_measured_average(config(3), &[("generator", "avgG.")]);
}

/// The same for SPADE with batch-norm SPADE layers, spectral norm and the style encoder.
#[test]
fn a_spade_weight_average_ships_buffers_measured_for_it() {
    let config = TrainConfig {
        network: serde_json::json!({"ngf": 8, "ndf": 8, "spade_hidden_nc": 16,
            "norm_G": "spectralspadesyncbatch3x3", "use_vae": true, "z_dim": 16}),
        batch_size: 2,
        average_decay: Some(0.5),
        ..tiny_config(3)
    };
    assert_bundle_ships_the_measured_average(
        config,
        &[("generator", "avgG."), ("encoder", "avgE.")],
    );
}

/// The same for pix2pixHD with batch norm (instance norm, its default, keeps no statistics).
#[test]
fn a_batch_norm_pix2pixhd_average_ships_statistics_measured_for_it() {
    let config = TrainConfig {
        network: serde_json::json!({"netG": "global", "ngf": 8, "n_downsample_global": 2,
            "n_blocks_global": 2, "norm": "batch", "ndf": 8, "num_D": 2, "n_layers_D": 2}),
        batch_size: 2,
        average_decay: Some(0.5),
        lambda_vgg: 0.0,
        ..short_config("pix2pixhd-tiny", 3, 14)
    };
    assert_bundle_ships_the_measured_average(config, &[("generator", "avgG.")]);
}

/// Trains `config` to its end and compares each bundle file `(name, checkpoint prefix of its
/// average)` with the checkpoint: every weight is the average's; the buffers (running
/// statistics, spectral norm's u and v) are not the ones the average copied from the current
/// weights, but finite and measured (running variances positive).
fn assert_bundle_ships_the_measured_average(config: TrainConfig, files: &[(&str, &str)]) {
    let data = tempfile::tempdir().unwrap();
    small_ycor(data.path(), 3);
    let run = tempfile::tempdir().unwrap();
    let iters = config.iters;
    let (outcome, _) = train_fresh(data.path(), run.path(), config);
    assert_eq!(outcome, Outcome::Finished { iteration: iters });
    let checkpoint = checkpoint_tensors(run.path());
    let values = |t: &candle_core::Tensor| {
        let flat = t.flatten_all().unwrap();
        flat.to_dtype(candle_core::DType::F32)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    };
    for (file, prefix) in files {
        let bundle = candle_core::safetensors::load(
            run.path().join(format!("model/{file}.safetensors")),
            &candle_core::Device::Cpu,
        )
        .unwrap();
        let find = |prefix: &str, name: &str| {
            let key = format!("{prefix}{name}");
            checkpoint
                .iter()
                .find(|(n, _)| *n == key)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("{key} not in the checkpoint"))
        };
        let current = &prefix[3..]; // "avgG." -> "G."
        let (mut averaged, mut differs, mut buffers, mut measured) = (0, 0, 0, 0);
        for (name, stored) in bundle.iter().filter(|(_, t)| t.dtype().is_float()) {
            let stored = values(stored);
            if is_buffer_name(name) {
                assert!(stored.iter().all(|v| v.is_finite()), "{file} {name}");
                if name.ends_with("running_var") {
                    assert!(stored.iter().all(|&v| v > 0.0), "{file} {name}: {stored:?}");
                }
                buffers += 1;
                measured += usize::from(stored != find(prefix, name));
                continue;
            }
            assert_eq!(stored, find(prefix, name), "{file} {name}: the average");
            averaged += 1;
            differs += usize::from(find(current, name) != find(prefix, name));
        }
        assert!(
            averaged > 5 && differs > averaged / 2,
            "{file}: {differs} of {averaged} weights differ from the last weights"
        );
        assert!(
            buffers > 0 && measured == buffers,
            "{file}: {measured} of {buffers} buffers measured for the average"
        );
    }
}

#[test]
fn a_diverging_run_stops_and_never_saves_bad_weights() {
    let data = tempfile::tempdir().unwrap();
    small_ycor(data.path(), 2);
    let run = tempfile::tempdir().unwrap();
    // A learning rate this large (NaN itself is refused as a setting) throws the weights to
    // about 1e38 in the first step, and the next losses overflow.
    let config = TrainConfig {
        lr: 1e38,
        checkpoint_every: 1,
        ..tiny_config(5)
    };
    let (outcome, _) = train_fresh(data.path(), run.path(), config);
    match outcome {
        Outcome::Diverged { message } => assert!(
            (message.contains("NaN") || message.contains("inf"))
                && message.contains("no checkpoint"),
            "{message}"
        ),
        other => panic!("expected a diverged run, got {other:?}"),
    }
    assert!(
        !run.path().join(trainer::CHECKPOINT_FILE).exists(),
        "no checkpoint with NaN weights may be written"
    );
}

#[test]
fn resuming_names_the_requested_settings_it_ignores() {
    let run = tempfile::tempdir().unwrap();
    let saved = tiny_config(10);
    std::fs::write(
        run.path().join(trainer::CONFIG_FILE),
        saved.to_json().unwrap(),
    )
    .unwrap();
    // Continuing with another total only: nothing is ignored.
    let mut longer = scenepaint::train::config::ConfigChoice {
        net: saved.net,
        preset: None,
        overrides: serde_json::Map::new(),
        overrides_from: "test",
        iters: Some(50),
        run_dir: run.path(),
        resume: true,
    };
    let resolved = scenepaint::train::config::resolve(&longer).unwrap();
    assert_eq!(resolved.config.iters, 50);
    assert!(resolved.ignored_on_resume().unwrap().is_empty());
    // Asking for another batch size: the saved one is kept, and said so.
    longer.preset = Some(&saved.preset);
    longer.overrides = serde_json::to_value(&saved)
        .unwrap()
        .as_object()
        .unwrap()
        .clone();
    longer.overrides.insert("batch_size".into(), 8.into());
    let ignored = scenepaint::train::config::resolve(&longer)
        .unwrap()
        .ignored_on_resume()
        .unwrap();
    assert_eq!(ignored, vec!["batch_size: kept 1, not 8".to_string()]);
}

/// SPADE with the VAE style encoder (the shipped default's setup): the KL term is trained,
/// the encoder is checkpointed under `E.` and bundled, and the bundle encodes a photo style.
/// The class-balanced L1 (`lambda_class_l1`) is logged every step as its weight times the
/// loss, and changes what the generator learns: the same seed without it ends elsewhere.
#[test]
fn a_class_balanced_l1_run_logs_its_term_and_moves_the_generator() {
    let data = tempfile::tempdir().unwrap();
    small_ycor(data.path(), 2);
    let (plain_run, balanced_run) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (outcome, plain) = train_fresh(data.path(), plain_run.path(), tiny_config(2));
    assert_eq!(outcome, Outcome::Finished { iteration: 2 });
    let balanced = TrainConfig {
        lambda_class_l1: 5.0,
        ..tiny_config(2)
    };
    let (outcome, recorder) = train_fresh(data.path(), balanced_run.path(), balanced);
    assert_eq!(outcome, Outcome::Finished { iteration: 2 });
    for (step, plain_step) in recorder.steps.iter().zip(&plain.steps) {
        let term = step.losses.get("g_class_l1").copied();
        // Five times a mean absolute difference of images in [-1, 1] with weights of mean 1.
        assert!(
            term.is_some_and(|v| v > 0.0 && v < 5.0 * 2.0 * 9.0),
            "{:?}",
            step.losses
        );
        assert!(!plain_step.losses.contains_key("g_class_l1"));
    }
    let first = |run: &std::path::Path| {
        checkpoint_tensors(run)
            .into_iter()
            .find(|(name, _)| name.starts_with("G.") && !name.contains("running"))
            .unwrap()
    };
    let (name, plain_g) = first(plain_run.path());
    let (same_name, balanced_g) = first(balanced_run.path());
    assert_eq!(name, same_name);
    assert_ne!(
        plain_g, balanced_g,
        "{name} is the same with and without the term"
    );

    let refused = TrainConfig {
        lambda_class_l1: 1.0,
        ..short_pix2pix(2, 1)
    };
    let message = refused.validate().unwrap_err().to_string();
    assert!(message.contains("lambda_class_l1"), "{message}");
}

#[test]
fn a_vae_run_trains_and_bundles_the_style_encoder() {
    let data = tempfile::tempdir().unwrap();
    small_ycor(data.path(), 2);
    let run = tempfile::tempdir().unwrap();
    let mut config = tiny_config(2);
    config.network["use_vae"] = true.into();
    let (outcome, recorder) = train_fresh(data.path(), run.path(), config);
    assert_eq!(outcome, Outcome::Finished { iteration: 2 });
    for step in &recorder.steps {
        let kld = step.losses.get("kld").copied();
        assert!(
            kld.is_some_and(|v| v.is_finite() && v >= 0.0),
            "{:?}",
            step.losses
        );
    }
    let names: Vec<String> = train_support::checkpoint_tensors(run.path())
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert!(names.iter().any(|n| n.starts_with("E.fc_mu.")), "{names:?}");
    assert!(
        names.iter().any(|n| n.starts_with("optG.exp_avg.E.")),
        "{names:?}"
    );
    let bundle = run.path().join("model");
    let model = scenepaint::nets::bundle::Model::load(&bundle, &candle_core::Device::Cpu).unwrap();
    assert!(model.has_encoder() && model.uses_style() && model.has_style_colours());
    // The colours random styles take are the training photos', each measured as a photo is.
    let bank = StyleColours::read(&bundle).unwrap().unwrap();
    let mut keys: Vec<&str> = bank.photos.iter().map(|p| p.key.as_str()).collect();
    keys.sort_unstable();
    let stems = train_support::sorted_stems(&data.path().join("images"));
    assert_eq!(keys, stems.iter().map(String::as_str).collect::<Vec<_>>());
    let first = image::open(data.path().join("images").join(format!("{}.png", stems[0])))
        .unwrap()
        .to_rgb8();
    let measured = bank.photos.iter().find(|p| p.key == stems[0]).unwrap();
    assert_eq!(measured.stats, ColourStats::of_photo(&first).unwrap());
    // `scenepaint style-colours` gives an older bundle the same file, less the pairs its
    // model.json says were held out.
    std::fs::remove_file(bundle.join(STYLE_COLOURS_FILE)).unwrap();
    let manifest_path = bundle.join("model.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    manifest["training"]["held_out"] = serde_json::json!([stems[0]]);
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_scenepaint"))
        .args(["style-colours", "--model"])
        .arg(&bundle)
        .arg("--data")
        .arg(data.path())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&cli.stdout);
    assert!(
        cli.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert!(said.contains("1 held-out pair(s) left out"), "{said}");
    let from_cli = StyleColours::read(&bundle).unwrap().unwrap();
    let trained_without_held_out: Vec<_> = bank.photos[1..].to_vec();
    assert_eq!(
        bank.photos[0].key, stems[0],
        "the bank keeps the data's order"
    );
    assert_eq!(from_cli.photos, trained_without_held_out);
    let map = scenepaint::labelmap::LabelMap::new(64, 64, 8);
    let photo = image::RgbImage::from_fn(64, 64, |x, y| image::Rgb([x as u8 * 4, y as u8 * 4, 90]));
    let image = model
        .translate(
            &map,
            &scenepaint::nets::bundle::TranslateOptions {
                seed: 0,
                style: Some(photo.into()),
                generator_colours: false,
            },
        )
        .unwrap();
    assert_eq!(image.dimensions(), (64, 64));
}

#[test]
fn a_photo_damaged_during_a_run_is_skipped_and_reported_not_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    train_support::small_ycor(&data, 3);
    let photos: Vec<std::path::PathBuf> = std::fs::read_dir(data.join("images"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    // The dataset opened fine; then a photo became unreadable.
    std::fs::write(&photos[0], b"damaged").unwrap();
    let ycor = scenepaint::labels::Palette::builtin("ycor").unwrap();
    let dataset = scenepaint::train::data::Dataset::open(&data, Some(ycor)).unwrap();
    let augment = scenepaint::train::data::Augment {
        load_width: 64,
        load_height: 64,
        crop_width: 64,
        crop_height: 64,
        flip: false,
    };
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
    let indices: Vec<usize> = (0..dataset.len()).collect();
    let (batch, skipped) = dataset
        .batch_skipping_bad(
            &indices,
            &augment,
            &mut rng,
            &candle_core::Device::Cpu,
            &AtomicBool::new(false),
        )
        .unwrap();
    assert_eq!(batch.photo.dims()[0], 3, "the batch keeps its size");
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(skipped[0].0.ends_with(photos[0].file_name().unwrap()));
    // Nothing readable at all: an error naming the folder, not a loop.
    for photo in &photos {
        std::fs::write(photo, b"damaged").unwrap();
    }
    let err = dataset
        .batch_skipping_bad(
            &indices,
            &augment,
            &mut rng,
            &candle_core::Device::Cpu,
            &AtomicBool::new(false),
        )
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("no pair can be read"), "{err}");
}

/// Every network variable (parameters and buffers) and every optimizer moment of `family`.
fn family_state(family: &mut dyn scenepaint::train::family::Family) -> Vec<(String, Vec<f32>)> {
    use scenepaint::train::checkpoint::varmap_tensors;
    let mut tensors: Vec<(String, candle_core::Tensor)> = Vec::new();
    for (prefix, varmap) in family.networks() {
        tensors.extend(varmap_tensors(varmap, prefix).unwrap());
    }
    for (prefix, adam) in family.optimizers() {
        tensors.extend(adam.state_tensors(prefix));
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    tensors
        .into_iter()
        .filter(|(_, t)| t.dtype().is_float())
        .map(|(name, t)| {
            let values = t.to_dtype(candle_core::DType::F32).unwrap();
            (name, values.flatten_all().unwrap().to_vec1().unwrap())
        })
        .collect()
}

/// A stop request raised during an iteration is answered inside it, after the first
/// backward pass, and leaves nothing of the iteration behind once the buffers a training
/// forward moved (running statistics, spectral norm's vectors) are restored: for each family,
/// every variable and optimizer moment equals its value before, and the next full step gives
/// the losses a fresh family's first step gives.
#[test]
fn an_interrupted_iteration_leaves_every_network_as_it_was() {
    use candle_core::Device;
    use rand::SeedableRng;
    use scenepaint::train::build::build_family;
    use scenepaint::train::data::{Augment, Dataset};
    use scenepaint::train::family::BufferSnapshot;
    let data = tempfile::tempdir().unwrap();
    small_ycor(data.path(), 2);
    let palette = scenepaint::labels::Palette::builtin("ycor").unwrap();
    let dataset = Dataset::open(data.path(), Some(palette)).unwrap();
    let augment = Augment::resize_only(64, 64, false);
    let never = AtomicBool::new(false);
    let raised = AtomicBool::new(true);
    for name in ["spade-tiny", "pix2pix-tiny", "pix2pixhd-tiny"] {
        let config = TrainConfig {
            load_width: 64,
            load_height: 64,
            crop_width: 64,
            crop_height: 64,
            batch_size: 2,
            lambda_vgg: 0.0,
            ..preset(name).unwrap()
        };
        let rng = || rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let batch = dataset
            .batch_skipping_bad(&[0, 1], &augment, &mut rng(), &Device::Cpu, &never)
            .unwrap()
            .0;
        let stopped_loading =
            dataset.batch_skipping_bad(&[0, 1], &augment, &mut rng(), &Device::Cpu, &raised);
        assert!(matches!(
            stopped_loading,
            Err(scenepaint::Error::Interrupted)
        ));

        let lr = config.learning_rates(0);
        let mut family = build_family(&config, &dataset, &Device::Cpu).unwrap();
        let before = family_state(family.as_mut());
        let buffers = BufferSnapshot::take(family.as_ref()).unwrap();
        let step = family.train_step(&batch, lr, &mut rng(), &raised);
        assert!(
            matches!(step, Err(scenepaint::Error::Interrupted)),
            "{name}: {:?}",
            step.map(|_| ())
        );
        buffers.restore().unwrap();
        assert_eq!(family_state(family.as_mut()), before, "{name}");

        let resumed = family.train_step(&batch, lr, &mut rng(), &never).unwrap();
        let mut fresh = build_family(&config, &dataset, &Device::Cpu).unwrap();
        let straight = fresh.train_step(&batch, lr, &mut rng(), &never).unwrap();
        assert_eq!(resumed, straight, "{name}");
    }
}

/// The tensors of the family's variables under `prefix` differ from none of the state dict at
/// `file`; returns how many were compared.
fn assert_family_holds(
    family: &dyn scenepaint::train::family::Family,
    prefix: &str,
    file: &std::path::Path,
) -> usize {
    let stored = candle_core::safetensors::load(file, &candle_core::Device::Cpu).unwrap();
    let networks = family.networks();
    let (_, varmap) = networks.iter().find(|(p, _)| *p == prefix).unwrap();
    let data = varmap.data().lock().unwrap();
    for (name, var) in data.iter() {
        let values = |t: &candle_core::Tensor| -> Vec<f64> {
            let flat = t.flatten_all().unwrap();
            flat.to_dtype(candle_core::DType::F64)
                .unwrap()
                .to_vec1()
                .unwrap()
        };
        let (expected, found) = (values(&stored[name]), values(var.as_tensor()));
        assert_eq!(
            found,
            expected,
            "{prefix}{name} starts from {}",
            file.display()
        );
    }
    data.len()
}

/// `load_pretrain` seeds a SPADE run (generator, style encoder, discriminators) or a pix2pix run
/// (generator, discriminator) from an earlier run's bundle, so a long run can go on from a
/// committed milestone without its discriminator starting afresh.
#[test]
fn spade_and_pix2pix_runs_start_from_an_earlier_bundle() {
    use scenepaint::labels::Palette;
    use scenepaint::train::data::Dataset;
    let data = tempfile::tempdir().unwrap();
    small_ycor(data.path(), 2);
    let dataset = Dataset::open(data.path(), Some(Palette::builtin("ycor").unwrap())).unwrap();
    let spade = TrainConfig {
        network: serde_json::json!({"ngf": 8, "ndf": 8, "spade_hidden_nc": 16,
            "norm_G": "spectralspadesyncbatch3x3", "use_vae": true, "z_dim": 16}),
        batch_size: 2,
        ..tiny_config(2)
    };
    let pix2pix = TrainConfig {
        load_width: 64,
        load_height: 64,
        ..preset("pix2pix-tiny").unwrap()
    };
    for config in [spade, pix2pix] {
        let first = tempfile::tempdir().unwrap();
        let (outcome, _) = train_fresh(
            data.path(),
            first.path(),
            TrainConfig {
                iters: 2,
                ..config.clone()
            },
        );
        assert_eq!(outcome, Outcome::Finished { iteration: 2 });
        let bundle = first.path().join("model");
        let seeded = TrainConfig {
            load_pretrain: Some(bundle.clone()),
            seed: 99,
            ..config.clone()
        };
        let family =
            scenepaint::train::build::build_family(&seeded, &dataset, &candle_core::Device::Cpu)
                .unwrap();
        assert!(
            assert_family_holds(family.as_ref(), "G.", &bundle.join("generator.safetensors")) > 10
        );
        if config.net == scenepaint::train::config::NetFamily::Spade {
            assert!(
                assert_family_holds(family.as_ref(), "E.", &bundle.join("encoder.safetensors")) > 5
            );
        }
        let discriminator = bundle.join("discriminator.safetensors");
        assert!(assert_family_holds(family.as_ref(), "D.", &discriminator) > 5);
        let elsewhere = TrainConfig {
            load_pretrain: Some(first.path().join("missing")),
            ..config
        };
        let err =
            scenepaint::train::build::build_family(&elsewhere, &dataset, &candle_core::Device::Cpu)
                .err()
                .expect("a missing bundle is an error")
                .to_string();
        assert!(err.contains("missing"), "{err}");
    }
}

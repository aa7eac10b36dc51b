//! pix2pixHD training on real ycor pairs at 64x64: the global generator learns (its L1 to the
//! photos falls) with every published loss term, the bundle it writes loads and translates,
//! a local enhancer trains alone for `niter_fix_global` iterations and then with the global
//! generator, and a stopped and resumed run equals a straight one across that switch.
#![allow(clippy::unwrap_used)] // a test that cannot go on fails; the panic is the report
mod train_support;

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;

use candle_core::{Device, Tensor};
use rand::SeedableRng;
use serde_json::json;

use scenepaint::labels::Palette;
use scenepaint::nets::bundle::{Model, TranslateOptions};
use scenepaint::train::config::{preset, TrainConfig};
use scenepaint::train::data::{Augment, Dataset};
use scenepaint::train::family::Family;
use scenepaint::train::pix2pixhd_family::Pix2pixhdFamily;
use scenepaint::train::pix2pixhd_options::HdOptions;
use scenepaint::train::trainer::{self, Outcome};
use train_support::{
    assert_resume_equals_straight, logged_l1_tail, recorded_l1_head, small_ycor, train_fresh,
};

fn tiny_config(iters: u64) -> TrainConfig {
    TrainConfig {
        iters,
        load_width: 64,
        load_height: 64,
        flip: false,
        lambda_vgg: 0.0,
        log_every: 1,
        sample_every: 1000,
        checkpoint_every: 1000,
        decay_start: Some(1000),
        seed: 7,
        ..preset("pix2pixhd-tiny").unwrap()
    }
}

/// A local enhancer over a small global generator (inputs must be multiples of 2^(2+n)).
fn local_config(iters: u64, n_local_enhancers: usize, niter_fix_global: u64) -> TrainConfig {
    TrainConfig {
        network: json!({"netG": "local", "ngf": 4, "n_downsample_global": 2, "n_blocks_global": 2,
            "n_local_enhancers": n_local_enhancers, "n_blocks_local": 1,
            "ndf": 8, "num_D": 2, "n_layers_D": 2}),
        niter_fix_global,
        ..tiny_config(iters)
    }
}

fn manifest(run: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("model/model.json")).unwrap()).unwrap()
}

/// Mean L1 between the bundle's translation of each pair's label map and its photo, in [0, 2].
fn bundle_l1_to_photos(model_dir: &std::path::Path, data: &std::path::Path) -> f64 {
    let model = Model::load(model_dir, &Device::Cpu).unwrap();
    let palette = Palette::builtin("ycor").unwrap();
    let mut total = 0.0;
    let mut count = 0usize;
    for entry in std::fs::read_dir(data.join("labels")).unwrap() {
        let label_path = entry.unwrap().path();
        let labels = scenepaint::labelmap::read_label_map(&label_path, &palette).unwrap();
        let image = model
            .translate(&labels, &TranslateOptions::default())
            .unwrap();
        assert_eq!(image.dimensions(), (64, 64));
        let photo_path = data.join("images").join(label_path.file_name().unwrap());
        let photo = image::open(photo_path).unwrap().to_rgb8();
        for (a, b) in image.as_raw().iter().zip(photo.as_raw()) {
            total += (f64::from(*a) - f64::from(*b)).abs() / 127.5;
            count += 1;
        }
    }
    total / count as f64
}

#[test]
fn global_generator_learns_on_real_ycor_pairs_and_its_bundle_translates() {
    let data = tempfile::tempdir().unwrap();
    small_ycor(data.path(), 4);
    let run = tempfile::tempdir().unwrap();
    // All four pairs in every batch, no flip: the logged L1 (taken before each update) always
    // measures the generator on the same images. The VGG loss on, as published.
    let config = TrainConfig {
        batch_size: 4,
        lr: 1e-3,
        lambda_vgg: 10.0,
        ..tiny_config(12)
    };
    let (outcome, recorder) = train_fresh(data.path(), run.path(), config);
    assert_eq!(outcome, Outcome::Finished { iteration: 12 });
    for step in &recorder.steps {
        for key in ["g_gan", "g_feat", "g_vgg", "d_fake", "d_real", "g_l1"] {
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
        "pix2pixHD L1 to the photos: first {first:.4}, last {last:.4}"
    );
    let manifest = manifest(run.path());
    assert_eq!(manifest["net"], "pix2pixhd_global");
    assert_eq!(manifest["input_encoding"]["kind"], "one_hot");
    assert_eq!(manifest["input_encoding"]["classes"], 9);
    assert_eq!(manifest["input_encoding"]["instance_edges"], false);
    assert_eq!(manifest["options"]["input_nc"], 9);
    assert_eq!(manifest["options"]["ngf"], 8);
    // The bundle carries the trained generator with the training input encoding: its
    // translations are as close to the photos as the last training steps were.
    let bundle_l1 = bundle_l1_to_photos(&run.path().join("model"), data.path());
    eprintln!("L1 to the photos: first {first:.4}, last {last:.4}, bundle {bundle_l1:.4}");
    assert!(
        bundle_l1 < 0.9 * first,
        "bundle L1 {bundle_l1:.4}, training L1 first {first:.4}, last {last:.4}"
    );
}

/// Every float variable of a var map by name, as values.
fn snapshot(family: &Pix2pixhdFamily, prefix: &str) -> HashMap<String, Vec<f32>> {
    let (_, varmap) = family
        .networks()
        .into_iter()
        .find(|(p, _)| *p == prefix)
        .unwrap();
    let data = varmap.data().lock().unwrap();
    data.iter()
        .map(|(name, var)| {
            let values = var.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
            (name.clone(), values)
        })
        .collect()
}

/// Names of the variables in `after` that differ from `before`, among those `select` picks.
fn changed(
    before: &HashMap<String, Vec<f32>>,
    after: &HashMap<String, Vec<f32>>,
    select: impl Fn(&str) -> bool,
) -> (usize, usize) {
    let names: Vec<&String> = before.keys().filter(|n| select(n)).collect();
    let moved = names.iter().filter(|n| before[**n] != after[**n]).count();
    (moved, names.len())
}

#[test]
fn niter_fix_global_trains_only_the_outermost_enhancer_then_everything() {
    let data = tempfile::tempdir().unwrap();
    small_ycor(data.path(), 2);
    let dataset = Dataset::open(data.path(), Some(Palette::builtin("ycor").unwrap())).unwrap();
    let augment = Augment {
        load_width: 64,
        load_height: 64,
        crop_width: 64,
        crop_height: 64,
        flip: false,
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let batch = dataset
        .batch(&[0, 1], &augment, &mut rng, &Device::Cpu)
        .unwrap();
    for n_local in [1usize, 2] {
        let config = local_config(10, n_local, 2);
        let options =
            HdOptions::from_config(&config, &dataset.label_channels, dataset.has_instances())
                .unwrap();
        let mut family =
            Pix2pixhdFamily::new(&config, options, None, &Device::Cpu, &mut rng).unwrap();
        let trained = format!("model{n_local}_");
        let is_trained = |n: &str| n.starts_with(&trained);
        // Weights only: biases before an instance norm get (almost) no gradient.
        let weight = |n: &str| n.ends_with(".weight");
        let lr = config.learning_rates(0);
        let start = snapshot(&family, "G.");
        let d_start = snapshot(&family, "D.");
        for _ in 0..2 {
            assert!(family.global_fixed());
            family
                .train_step(&batch, lr, &mut rng, &AtomicBool::new(false))
                .unwrap();
        }
        let fixed = snapshot(&family, "G.");
        let (moved, total) = changed(&start, &fixed, |n| !is_trained(n));
        assert!(total > 0);
        assert_eq!(
            moved, 0,
            "n_local {n_local}: {moved} of {total} fixed variables changed"
        );
        let (moved, total) = changed(&start, &fixed, |n| is_trained(n) && weight(n));
        assert_eq!(
            moved, total,
            "n_local {n_local}: outermost enhancer weights"
        );
        let (moved, total) = changed(&d_start, &snapshot(&family, "D."), weight);
        assert_eq!(moved, total, "discriminator weights");

        assert!(!family.global_fixed(), "after niter_fix_global iterations");
        family
            .train_step(&batch, lr, &mut rng, &AtomicBool::new(false))
            .unwrap();
        let joined = snapshot(&family, "G.");
        let (moved, total) = changed(&fixed, &joined, weight);
        assert_eq!(
            moved, total,
            "n_local {n_local}: every generator weight trains"
        );
        let steps: HashMap<&str, u64> = family
            .optimizers()
            .into_iter()
            .map(|(prefix, adam)| (prefix, adam.step_count()))
            .collect();
        assert_eq!(
            steps,
            HashMap::from([("optG.", 3), ("optG_global.", 1), ("optD.", 3)])
        );
    }
}

#[test]
fn local_enhancer_bundle_loads_and_translates() {
    let data = tempfile::tempdir().unwrap();
    small_ycor(data.path(), 2);
    let run = tempfile::tempdir().unwrap();
    let (outcome, _) = train_fresh(data.path(), run.path(), local_config(3, 1, 2));
    assert_eq!(outcome, Outcome::Finished { iteration: 3 });
    let manifest = manifest(run.path());
    assert_eq!(manifest["net"], "pix2pixhd_local");
    assert_eq!(manifest["options"]["n_local_enhancers"], 1);
    assert_eq!(manifest["options"]["n_blocks_local"], 1);
    let model = Model::load(&run.path().join("model"), &Device::Cpu).unwrap();
    assert_eq!(model.generator().required_multiple(), 8);
    // The bundle's generator holds the checkpoint's generator weights exactly.
    let checkpoint: HashMap<String, Tensor> =
        candle_core::safetensors::load(run.path().join(trainer::CHECKPOINT_FILE), &Device::Cpu)
            .unwrap();
    let bundle = candle_core::safetensors::load(
        run.path().join("model/generator.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    assert!(bundle.keys().any(|k| k.starts_with("model1_2.")));
    for (name, tensor) in &bundle {
        let saved = &checkpoint[&format!("G.{name}")];
        let diff = (tensor - saved)
            .unwrap()
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(diff, 0.0, "{name}");
    }
    let l1 = bundle_l1_to_photos(&run.path().join("model"), data.path());
    assert!(l1.is_finite() && l1 > 0.0);
}

static STOP: AtomicBool = AtomicBool::new(false);

#[test]
fn stop_and_resume_equals_a_straight_run_across_the_global_switch() {
    // 3 + 3 iterations with the global generator joining at iteration 4 (after the resume).
    let names = assert_resume_equals_straight(&|iters| local_config(iters, 1, 4), 3, &STOP);
    for prefix in ["optG.exp_avg.", "optG_global.exp_avg_sq.", "optD.exp_avg."] {
        assert!(
            names.iter().any(|n| n.starts_with(prefix)),
            "{prefix} missing from the checkpoint"
        );
    }
}

/// pix2pixHD's recipe: train the global generator, then a local enhancer around it
/// (`load_pretrain`), its global part fixed for `niter_fix_global` iterations.
#[test]
fn a_local_enhancer_starts_from_a_trained_global_generator() {
    let data = tempfile::tempdir().unwrap();
    small_ycor(data.path(), 2);
    let global_run = tempfile::tempdir().unwrap();
    // The global generator a 1-enhancer local model of ngf 4 holds: ngf 8.
    let global = TrainConfig {
        network: json!({"netG": "global", "ngf": 8, "n_downsample_global": 2,
            "n_blocks_global": 2, "ndf": 8, "num_D": 2, "n_layers_D": 2}),
        ..tiny_config(2)
    };
    train_fresh(data.path(), global_run.path(), global);
    let trained_global = global_run.path().join("model");
    let pretrained =
        candle_core::safetensors::load(trained_global.join("generator.safetensors"), &Device::Cpu)
            .unwrap();

    let dataset = Dataset::open(data.path(), Some(Palette::builtin("ycor").unwrap())).unwrap();
    let config = TrainConfig {
        load_pretrain: Some(trained_global),
        ..local_config(2, 1, 2)
    };
    let options =
        HdOptions::from_config(&config, &dataset.label_channels, dataset.has_instances()).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let family = Pix2pixhdFamily::new(&config, options, None, &Device::Cpu, &mut rng).unwrap();
    let local = snapshot(&family, "G.");
    let mut shared = 0;
    for (name, values) in &local {
        if let Some(tensor) = pretrained.get(name) {
            let expected: Vec<f32> = tensor.flatten_all().unwrap().to_vec1().unwrap();
            if expected.len() == values.len() {
                assert_eq!(values, &expected, "{name} starts from the trained global");
                shared += 1;
            }
        }
    }
    let global_part = local.keys().filter(|n| n.starts_with("model.")).count();
    assert!(global_part > 10);
    assert_eq!(shared, global_part, "every global-part tensor is loaded");

    let wrong = TrainConfig {
        load_pretrain: Some(
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("weights/ycor-pix2pix"),
        ),
        ..local_config(2, 1, 2)
    };
    let options =
        HdOptions::from_config(&wrong, &dataset.label_channels, dataset.has_instances()).unwrap();
    let err = Pix2pixhdFamily::new(&wrong, options, None, &Device::Cpu, &mut rng)
        .err()
        .expect("a pix2pix U-Net is no pix2pixHD generator")
        .to_string();
    assert!(err.contains("matched none"), "{err}");
}

//! Interruptions and restarts: a photo damaged during a run, a stop inside an iteration, and runs seeded from an earlier bundle.
use super::*;

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

//! Generator weight averages: checkpointed, resumed exactly, and shipped with buffers measured for the average (pix2pix, SPADE with its encoder, batch-norm pix2pixHD).
use super::*;

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

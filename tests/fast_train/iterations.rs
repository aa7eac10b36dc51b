//! One whole training iteration of each family through the fast path equals the plain Candle path from the same weights and batch.
use super::*;

fn train_one_iteration(data: &Path, run: &Path, case: &Case, plain: bool) {
    let (preset, net) = (case.preset, case.net);
    let config = run.with_extension("json");
    let mut settings = serde_json::json!({
        "load_width": 64, "load_height": 64, "crop_width": 64, "crop_height": 64,
        "log_every": 1, "sample_every": 1000, "checkpoint_every": 1000, "seed": 4,
        "batch_size": 2,
    });
    if let Some(network) = &case.network {
        settings["network"] = network.clone();
    }
    for (key, value) in case.settings.as_object().into_iter().flatten() {
        settings[key] = value.clone();
    }
    if case.smooth_losses_only {
        settings["lambda_feat"] = 0.0.into();
        settings["lambda_vgg"] = 0.0.into();
    }
    std::fs::write(&config, settings.to_string()).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_scenepaint"));
    command
        .args([
            "train",
            "--net",
            net,
            "--preset",
            preset,
            "--palette",
            "ycor",
            "--iters",
            "1",
        ])
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(run)
        .arg("--config")
        .arg(&config);
    if plain {
        command.env(training_path::TRAINING_ENV, "candle");
    } else {
        command.env_remove(training_path::TRAINING_ENV);
    }
    let out = command.output().expect("run scenepaint train");
    assert!(
        out.status.success(),
        "{preset}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A training configuration compared on both paths.
struct Case {
    preset: &'static str,
    net: &'static str,
    /// Feature matching and VGG off: the losses left (GAN, KL, pix2pix's L1) have no kink that
    /// rounding can put a ReLU-zero feature on either side of.
    smooth_losses_only: bool,
    /// Relative L2 of each network's gradient (Adam's first moments, as one vector).
    gradient_tolerance: f64,
    /// Network options replacing the preset's (the config's `network`).
    network: Option<serde_json::Value>,
    /// Other settings of the config (an object), beside the ones every case has.
    settings: serde_json::Value,
}

/// One iteration through both paths: every logged loss and every tensor of the checkpoint
/// (weights after the Adam step, Adam moments, norm statistics, spectral-norm vectors).
///
/// With every loss on, the L1 terms of feature matching and VGG compare post-ReLU features
/// of the generated and the real image; where both are zero in one path and a rounding
/// residue apart in the other, `|a - b|`'s gradient turns from 0 to +-1, so the generator's
/// gradient may differ by up to a few 1e-3; measured: 5e-5 for SPADE with or without them,
/// below 2e-5 for pix2pix, 5.6e-3 for pix2pixHD's generator (its discriminator: 6e-7). The
/// VGG layers on Winograd's F(4x4, 3x3) round to about 1e-6 of their output instead of 1e-7,
/// so more of those features flip: SPADE's generator 1.2e-3 (5e-5 with
/// `SCENEPAINT_WINOGRAD=off`, every case of this file passing at its tolerance).
fn assert_one_iteration_matches(case: Case) {
    let (preset, net) = (case.preset, case.net);
    let _ = net;
    let data = tempfile::tempdir().unwrap();
    train_support::small_ycor(data.path(), 2);
    let runs = tempfile::tempdir().unwrap();
    let (fast, plain) = (runs.path().join("fast"), runs.path().join("plain"));
    train_one_iteration(data.path(), &fast, &case, false);
    train_one_iteration(data.path(), &plain, &case, true);
    let losses = |run: &Path| -> serde_json::Value {
        let text = std::fs::read_to_string(run.join("losses.jsonl")).unwrap();
        serde_json::from_str::<serde_json::Value>(text.lines().next().unwrap()).unwrap()["losses"]
            .clone()
    };
    let (lf, lp) = (losses(&fast), losses(&plain));
    let terms = lp.as_object().unwrap();
    assert!(!terms.is_empty());
    // The generator's adversarial terms see the discriminator after its first Adam step,
    // which moves a weight whose gradient is rounding noise by a step either way (see
    // `compare_weights`): D's last bias under the hinge loss has a zero gradient in theory
    // (as many terms push it up as down), and it shifts every D output by that step.
    let d_step = two_time_scale_lr_d(&plain);
    for (name, value) in terms {
        let (a, b) = (lf[name].as_f64().unwrap(), value.as_f64().unwrap());
        let sees_updated_d = name == "g_gan" || name == "g_feat";
        let tolerance = 1e-4 * b.abs().max(1e-3) + if sees_updated_d { 2.0 * d_step } else { 0.0 };
        assert!(
            (a - b).abs() <= tolerance,
            "{preset}: loss {name}: fast {a} vs plain {b} (tolerance {tolerance:.2e})"
        );
    }
    let tf: HashMap<String, Vec<f32>> = train_support::checkpoint_tensors(&fast)
        .into_iter()
        .collect();
    let tp: HashMap<String, Vec<f32>> = train_support::checkpoint_tensors(&plain)
        .into_iter()
        .collect();
    let mut names: Vec<&String> = tp.keys().collect();
    names.sort();
    assert_eq!(names.len(), tf.len(), "{preset}: the same tensors");
    // Gradients: every network's Adam moments, as one vector each.
    for optimizer in names
        .iter()
        .filter_map(|n| n.split_once(".exp_avg.").map(|(p, _)| p))
    {
        let tolerance = case.gradient_tolerance;
        for (moment, tolerance) in [("exp_avg", tolerance), ("exp_avg_sq", 2.0 * tolerance)] {
            let prefix = format!("{optimizer}.{moment}.");
            let keys: Vec<&&String> = names.iter().filter(|n| n.starts_with(&prefix)).collect();
            let flat = |t: &HashMap<String, Vec<f32>>| -> Vec<f32> {
                keys.iter()
                    .flat_map(|k| t[k.as_str()].iter().copied())
                    .collect()
            };
            let rel = rel_l2_values(&flat(&tf), &flat(&tp));
            assert!(
                rel < tolerance,
                "{preset}: {prefix}* differ: rel L2 {rel:.2e}"
            );
        }
    }
    for name in names.iter().filter(|n| !n.contains(".exp_avg")) {
        if let Some(err) = compare_weights(name, &tf, &tp) {
            panic!("{preset}: tensor {name}: {err}");
        }
    }
}

/// The discriminator's learning rate of a run, from its `config.json` (2 lr with TTUR).
fn two_time_scale_lr_d(run: &Path) -> f64 {
    let text = std::fs::read_to_string(run.join("config.json")).unwrap();
    let config: serde_json::Value = serde_json::from_str(&text).unwrap();
    let lr = config["lr"].as_f64().unwrap();
    if config["ttur"].as_bool().unwrap() {
        2.0 * lr
    } else {
        lr
    }
}

/// Why two checkpoints' non-moment tensor `name` disagree beyond float summation order.
///
/// Adam's first step moves every weight by `lr * sign(gradient)`. Where a gradient is rounding
/// noise on both paths (a bias in front of an instance norm has a zero gradient in theory) or
/// its sign turns on an L1 loss's kink, the weight may move either way: such a value may
/// differ by up to two steps, and only where its gradient is below 5 % of its tensor's RMS
/// gradient (or 1e-4 of the network's largest). Every other value agrees to 1e-4. Tensors
/// without a moment (norm statistics) agree to 1e-4 in relative L2; a spectral-norm vector
/// (`weight_u`, `weight_v`, one power iteration on the updated weight) to 1e-4 or twice its
/// weight's relative L2 difference, whichever is larger (measured: 1.66e-4 for a weight 1.69e-4
/// apart through such steps).
fn compare_weights(
    name: &str,
    fast: &HashMap<String, Vec<f32>>,
    plain: &HashMap<String, Vec<f32>>,
) -> Option<String> {
    const LR_MAX: f32 = 4e-4;
    let (a, b) = (&fast[name], &plain[name]);
    let (network, _) = name.split_once('.').unwrap_or(("", name));
    let Some(moment) = plain.get(&format!("opt{network}.exp_avg.{name}")) else {
        let rel = rel_l2_values(a, b);
        let weight = name
            .strip_suffix(".weight_u")
            .or_else(|| name.strip_suffix(".weight_v"))
            .map(|layer| format!("{layer}.weight_orig"));
        let tolerance = match weight {
            Some(w) if plain.contains_key(&w) => {
                (2.0 * rel_l2_values(&fast[&w], &plain[&w])).max(1e-4)
            }
            _ => 1e-4,
        };
        return (rel >= tolerance).then(|| format!("rel L2 {rel:.2e} (tolerance {tolerance:.2e})"));
    };
    let largest = plain
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("opt{network}.exp_avg.")))
        .flat_map(|(_, v)| v.iter().map(|x| x.abs()))
        .fold(0.0f32, f32::max);
    let rms = (moment.iter().map(|m| f64::from(*m).powi(2)).sum::<f64>()
        / moment.len().max(1) as f64)
        .sqrt() as f32;
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let close = (x - y).abs() <= 1e-4 * y.abs() + 1e-6;
        let noise = (5e-2 * rms).max(1e-4 * largest);
        let flipped = moment[i].abs() <= noise && (x - y).abs() <= 2.5 * LR_MAX;
        if !close && !flipped {
            return Some(format!(
                "element {i}: fast {x} vs plain {y} (its gradient {}, the tensor's RMS {rms})",
                moment[i]
            ));
        }
    }
    None
}

/// The published SPADE losses, then with OASIS's segmentation discriminator (the image alone
/// in, classes + fake out, the class-balanced cross-entropy for both networks' adversarial
/// terms). Not with DiffAugment: its cutouts make fake and real features equal, where feature
/// matching's L1 kinks flip with rounding and Adam's first step turns that into +-lr (with
/// the conditional D too: 7.6e-3 in g_feat); `tests/train_run/resume.rs` checks that augmented runs train
/// and resume exactly.
#[test]
fn one_spade_iteration_on_the_fast_path_equals_the_plain_path() {
    // Every loss on agrees to 5e-5 on the im2col convolutions (measured the same with the L1
    // terms off) and to 1.2e-3 with VGG on Winograd's kernels (the L1 kinks above).
    for settings in [
        serde_json::json!({}),
        serde_json::json!({"segmentation_d": true}),
    ] {
        assert_one_iteration_matches(Case {
            preset: "spade-tiny",
            net: "spade",
            smooth_losses_only: false,
            gradient_tolerance: 2.5e-3,
            network: None,
            settings,
        });
    }
}

#[test]
fn one_batch_norm_spade_iteration_on_the_fast_path_equals_the_plain_path() {
    // Batch-norm SPADE (the published `spectralspadesyncbatch3x3`) over a batch of 2: the
    // fused batch statistics, their gradient and the running statistics they update. The
    // generator's gradient, measured on two ycor pairs: 8.2e-5 with the smooth losses only,
    // 2.4e-4 with every loss on (the L1 kinks described at `assert_one_iteration_matches`).
    assert_one_iteration_matches(Case {
        preset: "spade-tiny",
        net: "spade",
        smooth_losses_only: false,
        gradient_tolerance: 5e-4,
        network: Some(serde_json::json!({
            "ngf": 8, "ndf": 8, "spade_hidden_nc": 16, "n_layers_D": 3,
            "norm_G": "spectralspadesyncbatch3x3"
        })),
        settings: serde_json::json!({}),
    });
}

#[test]
fn one_pix2pix_iteration_on_the_fast_path_equals_the_plain_path() {
    assert_one_iteration_matches(Case {
        preset: "pix2pix-tiny",
        net: "pix2pix",
        smooth_losses_only: false,
        gradient_tolerance: 2e-5,
        network: None,
        settings: serde_json::json!({}),
    });
}

#[test]
fn one_pix2pixhd_iteration_on_the_fast_path_equals_the_plain_path() {
    for smooth in [false, true] {
        assert_one_iteration_matches(Case {
            preset: "pix2pixhd-tiny",
            net: "pix2pixhd",
            smooth_losses_only: smooth,
            // Measured 5.6e-3 in both cases on these pairs, while the discriminator's gradient
            // agrees to 6e-7 and every single convolution to 1e-5 (the test above); the
            // generator's share is not explained yet (see the notes).
            gradient_tolerance: 1e-2,
            network: None,
            settings: serde_json::json!({}),
        });
    }
}

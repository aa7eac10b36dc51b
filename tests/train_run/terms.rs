//! Loss terms and networks beyond the plain run: the class-balanced L1 and the VAE style encoder.
use super::*;

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

/// SPADE with the VAE style encoder (the shipped default's setup): the KL term is trained,
/// the encoder is checkpointed under `E.` and bundled, and the bundle encodes a photo style.
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

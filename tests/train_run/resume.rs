//! Stopped and resumed runs equal straight ones: plain SPADE, DiffAugment, the segmentation discriminator, pix2pix with its dropout.
use super::*;

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

//! FID while training: a `spade-tiny` run on real ycor pairs with held-out pairs evaluates its
//! bundle every `eval_every` iterations and at the end, logs each FID in `losses.jsonl`,
//! records them in the bundle's `model.json`, keeps the best bundle in `best/`, continues the
//! history when resumed, and scores what `scenepaint evaluate` scores for the same bundle.
//! A run that averages its generator scores its current weights beside the average and keeps
//! whichever scored lower.
#![allow(clippy::unwrap_used)] // a test that cannot go on fails; the panic is the report
mod train_support;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use scenepaint::eval::{self, FidNetwork, PairChoice};
use scenepaint::nets::bundle::Model;
use scenepaint::nets::fast::InferencePath;
use scenepaint::train::config::{preset, TrainConfig};
use scenepaint::train::data::Dataset;
use scenepaint::train::evaluation::{self, EvalRecord};
use scenepaint::train::trainer::{self, Outcome};
use train_support::{request, small_ycor, train_fresh, Recorder};

fn network() -> PathBuf {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fid/inception-2015-12-05.pt"
    ));
    assert!(
        path.is_file(),
        "{} is missing (../shared beside the repository)",
        path.display()
    );
    path
}

fn config(iters: u64) -> TrainConfig {
    TrainConfig {
        iters,
        load_width: 64,
        load_height: 64,
        lambda_vgg: 0.0,
        log_every: 1,
        sample_every: 1000,
        checkpoint_every: 1000,
        holdout_every: 3,
        eval_every: 2,
        eval_size: Some((64, 64)),
        fid_network: Some(network()),
        keep_best_fid: true,
        seed: 5,
        ..preset("spade-tiny").unwrap()
    }
}

fn logged_evaluations(run: &std::path::Path) -> Vec<EvalRecord> {
    evaluation::logged(&run.join(trainer::LOSSES_FILE))
}

#[test]
fn a_run_evaluates_fid_on_its_held_out_pairs_and_keeps_the_best_bundle() {
    let data = tempfile::tempdir().unwrap();
    small_ycor(data.path(), 9);
    let run = tempfile::tempdir().unwrap();
    let (outcome, recorder) = train_fresh(data.path(), run.path(), config(5));
    assert_eq!(outcome, Outcome::Finished { iteration: 5 });

    // Iterations 2 and 4 by eval_every, and the end of the run.
    let history = logged_evaluations(run.path());
    let iterations: Vec<u64> = history.iter().map(|r| r.iteration).collect();
    assert_eq!(iterations, [2, 4, 5]);
    for record in &history {
        assert!(record.fid.is_finite() && record.fid > 0.0, "{record:?}");
        assert_eq!(record.pairs, 3, "every 3rd of 9 pairs is held out");
    }
    let reported = recorder
        .events
        .iter()
        .filter(|e| e.contains("Evaluation"))
        .count();
    assert_eq!(reported, 3, "{:?}", recorder.events);

    let bundle = run.path().join("model");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("model.json")).unwrap()).unwrap();
    let recorded: Vec<EvalRecord> =
        serde_json::from_value(manifest["training"]["evaluations"].clone()).unwrap();
    assert_eq!(recorded, history);
    let best = evaluation::best(&history).unwrap();
    assert_eq!(
        manifest["training"]["best_fid"]["iteration"],
        best.iteration
    );

    // `best/` holds the bundle of the best evaluation, whole and loadable.
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.path().join("best/model.json")).unwrap())
            .unwrap();
    assert_eq!(kept["training"]["iterations"], best.iteration);
    Model::load(&run.path().join("best"), &candle_core::Device::Cpu).expect("best bundle loads");

    // The final evaluation equals what `scenepaint evaluate` computes for the final bundle.
    let model = Model::load(&bundle, &candle_core::Device::Cpu).unwrap();
    let dataset = Dataset::open(data.path(), Some(model.palette.clone())).unwrap();
    let keys = scenepaint::train::validate::held_out_keys(&model, &bundle).unwrap();
    let fid_network = FidNetwork::load(&network(), InferencePath::Auto).unwrap();
    let scores = eval::evaluate_model(
        &fid_network,
        &model,
        &dataset,
        &PairChoice::Keys(keys),
        Some((64, 64)),
        &mut |_, _, _| {},
    )
    .unwrap();
    let last = history.last().unwrap();
    assert!(
        (scores.fid - last.fid).abs() < 1e-6 * last.fid,
        "{} vs {}",
        scores.fid,
        last.fid
    );
    // And so does its least visible class (`evaluate --classes`).
    let classes = eval::classes::class_contrasts(
        &model,
        &dataset,
        &PairChoice::Keys(scenepaint::train::validate::held_out_keys(&model, &bundle).unwrap()),
        (64, 64),
        &mut |_, _, _| {},
    )
    .unwrap();
    // Read back from the run's JSON exactly (serde_json's `float_roundtrip`).
    assert!(last.least_visible_class.is_some(), "{last:?}");
    assert_eq!(last.least_visible_class, classes.least_visible());

    // Real photos against real photos: once per run, in the bundle, equal to the held-out
    // photos scored against the 3 other photos `eval::reference` picks.
    let references: Vec<&String> = recorder
        .events
        .iter()
        .filter(|e| e.contains("RealReference"))
        .collect();
    assert_eq!(references.len(), 1, "{:?}", recorder.events);
    let reference = &manifest["training"]["real_reference"];
    assert_eq!(reference["pairs"], 3, "{manifest}");
    let held_out =
        PairChoice::Keys(scenepaint::train::validate::held_out_keys(&model, &bundle).unwrap());
    let photos = eval::photo_features(
        &fid_network,
        &dataset,
        &held_out,
        (64, 64),
        &mut |_, _, _| {},
    )
    .unwrap();
    let expected = eval::reference::real_reference(
        &fid_network,
        &dataset,
        &held_out,
        &photos,
        (64, 64),
        &mut |_, _, _| {},
    )
    .unwrap()
    .unwrap();
    let fid = reference["fid"].as_f64().unwrap();
    assert!(
        fid > 0.0 && (fid - expected.fid).abs() < 1e-6 * fid,
        "{fid} vs {}",
        expected.fid
    );
    assert!((reference["kid"].as_f64().unwrap() - expected.kid).abs() < 1e-9);
}

#[test]
fn a_resumed_run_continues_its_fid_history() {
    static STOP: AtomicBool = AtomicBool::new(false);
    let data = tempfile::tempdir().unwrap();
    small_ycor(data.path(), 6);
    let run = tempfile::tempdir().unwrap();
    let mut first = Recorder {
        stop_after: Some(2),
        stop: Some(&STOP),
        ..Recorder::default()
    };
    let outcome = trainer::train(
        &request(data.path(), run.path(), config(4), false),
        &mut first,
        &STOP,
    )
    .unwrap();
    assert_eq!(outcome, Outcome::Stopped { iteration: 2 });
    assert_eq!(
        logged_evaluations(run.path()).len(),
        1,
        "evaluated at iteration 2"
    );
    STOP.store(false, std::sync::atomic::Ordering::Relaxed);
    let mut second = Recorder::default();
    let outcome = trainer::train(
        &request(data.path(), run.path(), config(4), true),
        &mut second,
        &STOP,
    )
    .unwrap();
    assert_eq!(outcome, Outcome::Finished { iteration: 4 });
    let iterations: Vec<u64> = logged_evaluations(run.path())
        .iter()
        .map(|r| r.iteration)
        .collect();
    assert_eq!(iterations, [2, 4]);
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run.path().join("model/model.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        manifest["training"]["evaluations"].as_array().map(Vec::len),
        Some(2)
    );
}

/// A run that averages its generator scores both the average (`model/`) and its current
/// weights (`current/`) at every evaluation, logs and records both, and keeps whichever
/// scored lower in `best/`.
#[test]
fn an_averaged_run_scores_its_current_weights_too_and_keeps_the_better() {
    let data = tempfile::tempdir().unwrap();
    small_ycor(data.path(), 9);
    let run = tempfile::tempdir().unwrap();
    let averaged = TrainConfig {
        average_decay: Some(0.5),
        ..config(2)
    };
    let (outcome, recorder) = train_fresh(data.path(), run.path(), averaged);
    assert_eq!(outcome, Outcome::Finished { iteration: 2 });

    let history = logged_evaluations(run.path());
    let kinds: Vec<(u64, bool)> = history
        .iter()
        .map(|r| (r.iteration, r.current_weights))
        .collect();
    assert_eq!(kinds, [(2, false), (2, true)], "{history:?}");
    assert!(history.iter().all(|r| r.fid.is_finite() && r.fid > 0.0));
    assert_ne!(
        history[0].fid, history[1].fid,
        "the average and the current weights differ"
    );
    let reported = recorder
        .events
        .iter()
        .filter(|e| e.contains("Evaluation"))
        .count();
    assert_eq!(reported, 2, "{:?}", recorder.events);
    Model::load(&run.path().join("current"), &candle_core::Device::Cpu)
        .expect("the current-weights bundle loads");

    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run.path().join("model/model.json")).unwrap(),
    )
    .unwrap();
    let recorded: Vec<EvalRecord> =
        serde_json::from_value(manifest["training"]["evaluations"].clone()).unwrap();
    assert_eq!(recorded, history);

    // best/ is a copy of the bundle that scored lower.
    let best = evaluation::best(&history).unwrap();
    let winner = if best.current_weights {
        "current"
    } else {
        "model"
    };
    let generator =
        |dir: &str| std::fs::read(run.path().join(dir).join("generator.safetensors")).unwrap();
    assert!(
        generator("best") == generator(winner),
        "best/ holds {winner}/"
    );
    let loser = if best.current_weights {
        "model"
    } else {
        "current"
    };
    assert!(
        generator("best") != generator(loser),
        "the two bundles' weights differ"
    );
}

#[test]
fn eval_every_without_held_out_pairs_is_refused_by_name() {
    let bad = TrainConfig {
        holdout_every: 0,
        ..config(4)
    };
    let err = bad.validate().unwrap_err().to_string();
    assert!(
        err.contains("eval_every") && err.contains("holdout_every"),
        "{err}"
    );
}

//! Runs that must not go on as asked: a diverging run saves nothing bad, and resuming names the settings it ignores.
use super::*;

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

//! The training panel through the real painter UI (egui_kittest): choose a few real ycor pairs
//! (the panel shows what `dataset inspect` finds), start a tiny SPADE run, see loss points and
//! a sample grid, hand a copy of the run's latest checkpoint bundle to the painter's model
//! loader while the run goes on, stop it (a checkpoint and the bundle are written), and
//! continue the stopped run from its checkpoint.
#![allow(clippy::unwrap_used)] // a test that cannot go on fails; the panic is the report
#[path = "../painter_support/mod.rs"]
mod painter_support;
#[path = "../train_support/mod.rs"]
mod train_support;

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use painter_support::*;
use scenepaint::app::bundle_loader::BundleLoader;
use scenepaint::app::files::ScriptedDialogs;
use scenepaint::app::models::ModelLoader;
use scenepaint::app::PainterApp;
use scenepaint::live::{ModelInfo, Translator};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use train_support::small_ycor;

mod fid;
mod settings;

/// Records which bundle the painter asked for, then loads it with the real bundle loader, so
/// the preview runs the SPADE generator the panel just trained.
#[derive(Default)]
struct RecordingLoader {
    asked: Mutex<Vec<PathBuf>>,
}

impl ModelLoader for RecordingLoader {
    fn load(
        &self,
        dir: &Path,
        device: &candle_core::Device,
    ) -> scenepaint::Result<(ModelInfo, Box<dyn Translator>)> {
        self.asked.lock().unwrap().push(dir.to_path_buf());
        let (info, translator) = BundleLoader.load(dir, device)?;
        assert_eq!(info.palette.name, "ycor");
        Ok((info, translator))
    }
}

fn run_until(
    h: &mut Harness<'_, PainterApp>,
    what: &str,
    secs: u64,
    done: impl Fn(&PainterApp) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done(h.state()) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; status: {:?}",
            h.state().message
        );
        h.run_steps(1);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The painter with its training panel open on the scripted dataset (ycor palette, output in
/// `run_dir`, `set` applied to the options), after `dataset inspect` reported.
fn open_training_panel(
    opts: scenepaint::app::AppOptions,
    run_dir: &Path,
    set: impl FnOnce(&mut scenepaint::app::training_panel::TrainingPanel),
) -> Harness<'static, PainterApp> {
    let mut h = harness_with(opts);
    h.get_by_label("Training").click();
    h.run_steps(2);
    {
        let panel = &mut h.state_mut().training;
        panel.run_dir = run_dir.to_path_buf();
        panel.palette = Some("ycor".into());
        set(panel);
    }
    h.get_by_label("Choose…").click();
    run_until(&mut h, "dataset inspect's report", 60, |app| {
        app.training.inspect_text.starts_with("layout")
    });
    h
}

/// Scrolls the training window to the widget labelled `label` (as a user would), then clicks it
/// once the scroll's animation has ended (egui drops a click on a widget still moving).
fn click_in_panel(h: &mut Harness<'_, PainterApp>, label: &str) {
    h.get_by_label(label).scroll_to_me();
    h.run_steps(30);
    h.get_by_label(label).click();
}

#[test]
fn a_tiny_run_from_the_panel_reports_stops_and_goes_to_the_painter() {
    let data = tempfile::tempdir().unwrap();
    small_ycor(data.path(), 3);
    let runs = tempfile::tempdir().unwrap();
    let loader = Arc::new(RecordingLoader::default());
    let mut opts = options(64, 48, ScriptedDialogs::new([data.path().to_path_buf()]));
    opts.model_loader = Some(loader.clone());
    opts.model_folders = Vec::new();
    let mut h = open_training_panel(opts, &runs.path().join("run"), |panel| {
        panel.iters = 10_000;
        panel.sample_every = 1;
        panel.checkpoint_every = 2;
    });
    let report = h.state().training.inspect_text.clone();
    assert!(report.contains("pairs: 3 "), "{report}");
    assert!(report.contains("problems: 0"), "{report}");
    click_in_panel(&mut h, "Start");
    h.run_steps(1);
    run_until(&mut h, "a loss point and a sample", 120, |app| {
        let run = app.training.run.as_ref().unwrap();
        assert!(run.outcome.is_none(), "{:?}", run.outcome);
        !run.losses.is_empty() && run.sample.is_some()
    });
    h.run_steps(2);
    h.get_by_label("Latest sample");
    if let Ok(dir) = std::env::var("SCENEPAINT_SCREENSHOTS") {
        std::fs::create_dir_all(&dir).unwrap();
        let frame = h.render().unwrap();
        frame
            .save(Path::new(&dir).join("training_panel.png"))
            .unwrap();
    }
    h.get_by_label(scenepaint::app::training_panel::LOSS_PLOT_LABEL);
    assert!(h.state().training.is_training());

    // The run's first checkpoint refreshes its bundle: the painter can use it mid-run.
    run_until(&mut h, "a checkpoint's bundle", 120, |app| {
        app.training.run.as_ref().unwrap().bundle.is_some()
    });
    h.run_steps(2);
    click_in_panel(&mut h, "Use in painter");
    assert!(
        h.state().training.is_training(),
        "Use in painter does not stop the run"
    );
    run_until(&mut h, "the trained model in the painter", 30, |app| {
        app.live.is_some()
    });
    let asked = loader.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 1);
    assert!(asked[0].starts_with(runs.path().join("run")));
    assert_ne!(
        asked[0],
        runs.path().join("run/model"),
        "the painter gets a copy"
    );
    assert!(
        h.state().models.bundles.contains(&asked[0]),
        "the copy stays in the model list"
    );
    assert_eq!(h.state().models.selected.as_ref(), Some(&asked[0]));
    run_until(&mut h, "a preview from the trained model", 60, |app| {
        app.live.as_ref().unwrap().latest.is_some()
    });
    let preview = &h
        .state()
        .live
        .as_ref()
        .unwrap()
        .latest
        .as_ref()
        .unwrap()
        .image;
    let (min, max) = preview
        .pixels()
        .flat_map(|p| p.0)
        .fold((255u8, 0u8), |(lo, hi), v| (lo.min(v), hi.max(v)));
    assert!(max > min, "the trained generator produced a flat image");
    assert!(h.state().training.is_training(), "the run went on");

    click_in_panel(&mut h, "Stop");
    h.step(); // the frame that handles the click says so at once
    {
        use scenepaint::app::training_panel::{STOPPING_LABEL, STOPPING_MODEL_LABEL};
        // Which stage: the newest checkpoint may already hold the last step.
        let saved = h
            .state()
            .training
            .run
            .as_ref()
            .unwrap()
            .stop_checkpoint_saved();
        h.get_by_label(if saved {
            STOPPING_MODEL_LABEL
        } else {
            STOPPING_LABEL
        });
    }
    run_until(&mut h, "the run to stop", 120, |app| {
        !app.training.is_training()
    });
    {
        let run = h.state().training.run.as_ref().unwrap();
        assert!(matches!(
            run.outcome,
            Some(Ok(scenepaint::train::trainer::Outcome::Stopped { .. }))
        ));
        let stopped = run.last.as_ref().unwrap().iteration;
        let (last_saved, file) = run.checkpoints.last().expect("stopping saves a checkpoint");
        assert_eq!(
            *last_saved, stopped,
            "the stop checkpoint holds the last step"
        );
        assert!(file.is_file());
        assert_eq!(
            run.bundle_iteration,
            Some(stopped),
            "and refreshes the bundle"
        );
    }
    h.run_steps(2);
    let stopped = h
        .state()
        .training
        .run
        .as_ref()
        .unwrap()
        .last
        .as_ref()
        .unwrap()
        .iteration;
    h.get_by_label_contains(&format!("Stopped at iteration {stopped};"));

    let stopped_at = h
        .state()
        .training
        .run
        .as_ref()
        .unwrap()
        .last
        .as_ref()
        .unwrap()
        .iteration;
    h.get_by_label("Training device");
    click_in_panel(&mut h, "Continue from its checkpoint");
    h.run_steps(1);
    assert!(h.state().training.resume);
    click_in_panel(&mut h, "Start");
    h.run_steps(1);
    run_until(&mut h, "the resumed run's steps", 120, |app| {
        let run = app.training.run.as_ref().unwrap();
        assert!(
            run.outcome.is_none(),
            "{:?}; panel: {:?}",
            run.outcome,
            app.training.message
        );
        run.last
            .as_ref()
            .is_some_and(|p| p.iteration > stopped_at + 1)
    });
    let first_resumed = h
        .state()
        .training
        .run
        .as_ref()
        .unwrap()
        .losses
        .values()
        .next()
        .unwrap()[0][0];
    assert!(
        first_resumed > stopped_at as f64,
        "the run restarted at {first_resumed} instead of continuing after {stopped_at}"
    );
    click_in_panel(&mut h, "Stop");
    run_until(&mut h, "the resumed run to stop", 120, |app| {
        !app.training.is_training()
    });
}

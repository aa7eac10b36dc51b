//! The training panel through the real painter UI (egui_kittest): choose a few real ycor pairs
//! (the panel shows what `dataset inspect` finds), start a tiny SPADE run, see loss points and
//! a sample grid, hand a copy of the run's latest checkpoint bundle to the painter's model
//! loader while the run goes on, stop it (a checkpoint and the bundle are written), and
//! continue the stopped run from its checkpoint.
#![allow(clippy::unwrap_used)] // a test that cannot go on fails; the panic is the report
mod painter_support;

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use painter_support::*;
use scenepaint::app::bundle_loader::BundleLoader;
use scenepaint::app::files::ScriptedDialogs;
use scenepaint::app::models::ModelLoader;
use scenepaint::app::PainterApp;
use scenepaint::labels::Palette;
use scenepaint::live::{ModelInfo, Translator};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn ycor() -> PathBuf {
    let dir = std::env::var("SCENEPAINT_SHARED")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../shared").into());
    let path = PathBuf::from(dir).join("datasets/ycor/train");
    assert!(
        path.join("images").is_dir(),
        "ycor missing: {}",
        path.display()
    );
    path
}

/// The first `count` ycor pairs at 64x64 in a paired folder.
fn small_ycor(root: &Path, count: usize) {
    let source = ycor();
    let mut stems: Vec<String> = std::fs::read_dir(source.join("images"))
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    stems.sort();
    let palette = Palette::builtin("ycor").unwrap();
    for dir in ["images", "labels"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    for stem in stems.iter().take(count) {
        let photo = image::open(source.join(format!("images/{stem}.jpg")))
            .unwrap()
            .to_rgb8();
        image::imageops::resize(&photo, 64, 64, image::imageops::FilterType::Triangle)
            .save(root.join(format!("images/{stem}.png")))
            .unwrap();
        let label = scenepaint::labelmap::read_label_map(
            source.join(format!("labels/{stem}.png")),
            &palette,
        )
        .unwrap();
        let map = label.resize_nearest(64, 64);
        scenepaint::labelmap::write_index_png(root.join(format!("labels/{stem}.png")), &map)
            .unwrap();
    }
}

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
    h.get_by_label(scenepaint::app::training_panel::STOPPING_LABEL);
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

#[test]
fn the_gpu_pause_setting_applies_only_when_training_shares_the_previews_gpu() {
    use scenepaint::app::training_panel::shares_gpu;
    use scenepaint::device::DeviceChoice::{Cpu, Cuda, Metal};
    assert!(shares_gpu(Cuda, Cuda) && shares_gpu(Metal, Metal));
    assert!(!shares_gpu(Cpu, Cpu), "the CPU pools are separate");
    assert!(!shares_gpu(Cuda, Cpu) && !shares_gpu(Cpu, Cuda));
    let panel = scenepaint::app::training_panel::TrainingPanel::default();
    assert!(panel.pause_preview_on_shared_gpu, "on by default");
    assert!(!panel.holds_preview(Cuda), "no run, nothing held");
}

#[test]
fn a_run_with_fid_evaluation_plots_fid_beside_the_losses() {
    let data = tempfile::tempdir().unwrap();
    // The panel holds out every 10th pair when the preset holds out none: 2 of 20.
    small_ycor(data.path(), 20);
    let runs = tempfile::tempdir().unwrap();
    let opts = options(64, 48, ScriptedDialogs::new([data.path().to_path_buf()]));
    let mut h = open_training_panel(opts, &runs.path().join("run"), |panel| {
        panel.iters = 4;
        panel.checkpoint_every = 100;
        panel.eval_every = 2;
        panel.keep_best_fid = true;
    });
    h.get_by_label("FID every");
    click_in_panel(&mut h, "Start");
    h.run_steps(1);
    run_until(
        &mut h,
        "the run to finish with its evaluations",
        300,
        |app| {
            let run = app.training.run.as_ref().unwrap();
            run.outcome.is_some()
        },
    );
    h.run_steps(2);
    let run = h.state().training.run.as_ref().unwrap();
    assert!(
        matches!(
            run.outcome,
            Some(Ok(scenepaint::train::trainer::Outcome::Finished {
                iteration: 4
            }))
        ),
        "{:?}",
        run.outcome
    );
    let iterations: Vec<u64> = run.evaluations.iter().map(|r| r.iteration).collect();
    assert_eq!(iterations, [2, 4], "FID at every 2nd iteration");
    assert_eq!(
        run.real_reference.map(|r| r.pairs),
        Some(2),
        "the 2 held-out photos against 2 others"
    );
    assert!(
        runs.path().join("run/best/model.json").is_file(),
        "keep best"
    );
    h.get_by_label(scenepaint::app::loss_plot::FID_PLOT_LABEL);
    h.get_by_label(scenepaint::app::training_panel::LOSS_PLOT_LABEL);
    h.get_by_label_contains("Real photos score FID");
    if let Ok(dir) = std::env::var("SCENEPAINT_SCREENSHOTS") {
        h.get_by_label(scenepaint::app::loss_plot::FID_PLOT_LABEL)
            .scroll_to_me();
        h.run_steps(3);
        std::fs::create_dir_all(&dir).unwrap();
        let frame = h.render().unwrap();
        frame
            .save(Path::new(&dir).join("training_panel_fid.png"))
            .unwrap();
        h.get_by_label("FID every").scroll_to_me();
        h.run_steps(3);
        let frame = h.render().unwrap();
        frame
            .save(Path::new(&dir).join("training_panel_fid_options.png"))
            .unwrap();
    }
}

/// A dataset can be typed as well as chosen; the panel is docked beside the canvas, not a
/// window over it.
#[test]
fn a_typed_dataset_is_inspected_and_the_panel_is_docked() {
    let data = tempfile::tempdir().unwrap();
    small_ycor(data.path(), 2);
    let mut opts = options(64, 48, ScriptedDialogs::default());
    opts.model_folders = Vec::new();
    let mut h = harness_with(opts);
    let canvas_before = h.get_by_label(scenepaint::app::canvas::CANVAS_LABEL).rect();
    h.get_by_label("Training").click();
    h.run_steps(3);
    let canvas = h.get_by_label(scenepaint::app::canvas::CANVAS_LABEL).rect();
    assert!(
        canvas.left() > canvas_before.left() + 100.0,
        "the docked panel takes the left: {canvas_before:?} -> {canvas:?}"
    );
    // The dataset field: the panel's first text field.
    let dataset_field = |h: &Harness<'static, PainterApp>| {
        h.get_all_by_role(egui::accesskit::Role::TextInput)
            .filter(|node| node.rect().right() < canvas.left())
            .min_by(|a, b| a.rect().top().total_cmp(&b.rect().top()))
            .expect("a text field in the training panel")
            .rect()
            .center()
    };
    let at = dataset_field(&h);
    h.get_all_by_role(egui::accesskit::Role::TextInput)
        .find(|node| node.rect().contains(at))
        .unwrap()
        .focus();
    h.run_steps(1);
    h.get_all_by_role(egui::accesskit::Role::TextInput)
        .find(|node| node.rect().contains(at))
        .unwrap()
        .type_text(&data.path().display().to_string());
    h.run_steps(1);
    h.key_press(egui::Key::Enter);
    h.run_steps(2);
    assert_eq!(h.state().training.dataset.as_deref(), Some(data.path()));
    run_until(&mut h, "dataset inspect's report", 60, |app| {
        app.training.inspect_text.starts_with("layout")
    });
    h.get_by_label("Close").click();
    h.run_steps(3);
    assert!(!h.state().training.open);
}

/// A run that averages its generator is evaluated twice per `eval_every`: the FID plot draws
/// the average and the current weights as two curves, and the summary says which one the best
/// evaluation was, and names the class the bundle's images show least.
#[test]
fn the_fid_plot_tells_the_average_from_the_current_weights() {
    use scenepaint::eval::classes::ClassRatio;
    use scenepaint::train::evaluation::EvalRecord;
    let record = |iteration, fid, current_weights| EvalRecord {
        iteration,
        fid,
        kid: 0.1,
        pairs: 47,
        current_weights,
        least_visible_class: Some(ClassRatio {
            id: if current_weights { 2 } else { 4 },
            ratio: fid / 1000.0,
        }),
    };
    let records = vec![
        record(250, 268.0, false),
        record(250, 257.0, true),
        record(500, 262.0, false),
        record(500, 241.0, true),
        record(750, 259.0, false),
        record(750, 249.0, true),
    ];
    let ycor = scenepaint::labels::Palette::builtin("ycor").unwrap();
    let reference = Some(scenepaint::train::evaluation::RealReference {
        fid: 110.5,
        kid: 0.0012,
        pairs: 47,
    });
    let mut h = Harness::new_ui(|ui| {
        scenepaint::app::loss_plot::show_fid(ui, &records, Some(&ycor), reference);
    });
    h.run();
    h.get_by_label(scenepaint::app::loss_plot::FID_PLOT_LABEL);
    // The summary's latest value is the bundle's (the average); the best is the current weights'.
    h.get_by_label(
        "FID 259.0 at iteration 750 (KID 0.1000); best 241.0 at iteration 500 (current weights)",
    );
    h.get_by_label(
        "Least visible class: non-traversable (id 4), 0.26 of the photos' contrast with its \
         surroundings",
    );
    h.get_by_label("Real photos score FID 110.5 (KID 0.0012) against 47 other photos of the data");
    // Without a palette (a run not started yet) the id alone.
    let mut bare =
        Harness::new_ui(|ui| scenepaint::app::loss_plot::show_fid(ui, &records, None, None));
    bare.run();
    bare.get_by_label(
        "Least visible class: id 4, 0.26 of the photos' contrast with its surroundings",
    );
    assert!(
        bare.query_by_label_contains("Real photos score").is_none(),
        "no reference, no line"
    );
    if let Ok(dir) = std::env::var("SCENEPAINT_SCREENSHOTS") {
        std::fs::create_dir_all(&dir).unwrap();
        let frame = h.render().unwrap();
        frame
            .save(Path::new(&dir).join("fid_plot_average_and_current.png"))
            .unwrap();
    }
}

/// The small-data aids (DiffAugment, the generator's weight average) are switched on in the
/// panel, reach the run's configuration, and DiffAugment is offered for SPADE only.
#[test]
fn the_small_data_aids_reach_the_run_and_diffaugment_is_for_spade_only() {
    let data = tempfile::tempdir().unwrap();
    small_ycor(data.path(), 3);
    let runs = tempfile::tempdir().unwrap();
    let opts = options(64, 48, ScriptedDialogs::new([data.path().to_path_buf()]));
    let mut h = open_training_panel(opts, &runs.path().join("run"), |panel| {
        panel.iters = 2;
        panel.checkpoint_every = 100;
    });
    assert!(!h.state().training.diff_augment && !h.state().training.average_weights);
    click_in_panel(&mut h, "DiffAugment");
    click_in_panel(&mut h, "Average the generator's weights");
    h.run_steps(1);
    click_in_panel(&mut h, "Start");
    h.run_steps(1);
    run_until(&mut h, "the two-iteration run to finish", 300, |app| {
        app.training.run.as_ref().unwrap().outcome.is_some()
    });
    let run = h.state().training.run.as_ref().unwrap();
    assert!(matches!(run.outcome, Some(Ok(_))), "{:?}", run.outcome);
    let saved: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            runs.path()
                .join("run")
                .join(scenepaint::train::trainer::CONFIG_FILE),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(saved["diff_augment"], "color,translation,cutout", "{saved}");
    assert_eq!(saved["average_decay"], 0.999, "{saved}");

    // pix2pix has no DiffAugment: the switch is greyed out and the run would not get it.
    click_in_panel(&mut h, "Network");
    h.run_steps(2);
    h.get_by_label("Pix2pix").click();
    h.run_steps(2);
    let panel = &h.state().training;
    assert_eq!(panel.net, scenepaint::train::config::NetFamily::Pix2pix);
    use egui_kittest::kittest::NodeT as _;
    assert!(h.get_by_label("DiffAugment").accesskit_node().is_disabled());
    h.state_mut().training.diff_augment = true;
    assert_eq!(h.state().training.config().unwrap().diff_augment, None);
}

/// The learning rate, the iteration its decay starts from and the model a run starts from
/// (chosen with "Choose model…", an earlier run's bundle) reach the run's configuration, and
/// the run that loads that model finishes.
#[test]
fn the_learning_rate_its_decay_and_the_model_to_start_from_reach_the_run() {
    let data = tempfile::tempdir().unwrap();
    small_ycor(data.path(), 3);
    let runs = tempfile::tempdir().unwrap();
    let first = runs.path().join("first");
    let answers = [data.path().to_path_buf(), first.join("model")];
    let opts = options(64, 48, ScriptedDialogs::new(answers));
    let mut h = open_training_panel(opts, &first, |panel| {
        panel.iters = 2;
        panel.checkpoint_every = 100;
    });
    let finish = |h: &mut Harness<'_, PainterApp>| {
        click_in_panel(h, "Start");
        h.run_steps(1);
        run_until(h, "the two-iteration run to finish", 300, |app| {
            app.training.run.as_ref().unwrap().outcome.is_some()
        });
        let run = h.state().training.run.as_ref().unwrap();
        assert!(matches!(run.outcome, Some(Ok(_))), "{:?}", run.outcome);
    };
    finish(&mut h);
    h.get_by_label("Learning rate");
    h.get_by_label("Decay from iteration");
    let second = runs.path().join("second");
    {
        let panel = &mut h.state_mut().training;
        panel.run_dir = second.clone();
        panel.lr = 3e-4;
        panel.decay_start = 1;
    }
    click_in_panel(&mut h, "Choose model…");
    h.run_steps(2);
    assert_eq!(
        h.state().training.start_from,
        first.join("model").display().to_string()
    );
    finish(&mut h);
    let saved: serde_json::Value = serde_json::from_slice(
        &std::fs::read(second.join(scenepaint::train::trainer::CONFIG_FILE)).unwrap(),
    )
    .unwrap();
    assert_eq!(saved["lr"], 3e-4, "{saved}");
    assert_eq!(saved["decay_start"], 1, "{saved}");
    assert_eq!(
        saved["load_pretrain"],
        first.join("model").display().to_string(),
        "{saved}"
    );
}

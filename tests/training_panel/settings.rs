//! What the panel's fields reach: a typed dataset, the FID plot of an averaged run, the small-data aids, the learning rate, its decay and the model to start from.
use super::*;

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

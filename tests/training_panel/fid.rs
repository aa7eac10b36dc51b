//! The GPU pause setting, and a run with FID evaluation plotting FID beside the losses.
use super::*;

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

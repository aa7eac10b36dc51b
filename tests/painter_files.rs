//! Drives the painter's file flows headless: File menu exports and project round trip through
//! injected dialogs, import errors with "map to nearest class", new canvas presets and
//! autosave recovery after an unclean exit, and the in-app file browser of desktops without a
//! native dialog.
#![allow(clippy::unwrap_used)] // a test that cannot go on fails; the panic is the report
mod painter_support;

use egui::{Key, Modifiers};
use egui_kittest::kittest::Queryable;
use painter_support::*;
use scenepaint::app::files::ScriptedDialogs;
use scenepaint::app::system_dialogs::SystemDialogs;
use scenepaint::app::toolbar::Action;
use scenepaint::app::PainterApp;
use std::path::PathBuf;

#[test]
fn export_and_project_round_trip_through_the_file_menu() {
    let dir = tempfile::tempdir().unwrap();
    let index_png: PathBuf = dir.path().join("out_index.png");
    let colour_png = dir.path().join("out_colour.png");
    let project = dir.path().join("p.scenepaint");
    let dialogs = ScriptedDialogs::new([
        index_png.clone(),
        colour_png.clone(),
        project.clone(),
        project.clone(),
    ]);
    let mut h = harness_with(options(90, 40, dialogs));
    h.get_by_label("high vegetation").click();
    h.state_mut().brush_px = 7;
    drag(&mut h, &[[5.0, 5.0], [80.0, 35.0]]);
    let painted = map(&h);

    for item in [
        "Export index PNG…",
        "Export colour PNG…",
        "Save project as…",
    ] {
        h.get_by_label("File").click();
        h.run_steps(2);
        h.get_by_label_contains(item).click();
        h.run_steps(2);
    }
    let palette = h.state().palette.clone();
    assert_eq!(
        scenepaint::labelmap::read_label_map(&index_png, &palette).unwrap(),
        painted
    );
    assert_eq!(
        scenepaint::labelmap::read_label_map(&colour_png, &palette).unwrap(),
        painted
    );

    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run_steps(1);
    assert_ne!(map(&h), painted);
    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label_contains("Open project…").click();
    h.run_steps(2);
    // The undo is a change no file holds: opening asks first.
    h.get_by_label("Save changes to the painting?");
    h.get_by_label("Discard changes").click();
    h.run_steps(2);
    assert_eq!(map(&h), painted);
    assert_eq!(h.state().brush_px, 7);
}

#[test]
fn unknown_colour_import_offers_map_to_nearest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.png");
    let mut img = image::RgbImage::from_pixel(30, 20, image::Rgb([1, 88, 255]));
    img.put_pixel(3, 4, image::Rgb([254, 1, 2]));
    img.save(&path).unwrap();
    let mut h = harness_with(options(64, 64, ScriptedDialogs::new([path])));
    h.key_press_modifiers(Modifiers::COMMAND, Key::I);
    h.run_steps(2);
    h.get_by_label("Cannot import label map");
    h.get_by_label("Map to nearest class").click();
    h.run_steps(2);
    let m = map(&h);
    assert_eq!((m.width, m.height), (30, 20));
    assert_eq!(
        m.get(3, 4),
        h.state().palette.id_for_name("obstacle").unwrap()
    );
    assert_eq!(m.get(0, 0), h.state().palette.id_for_name("sky").unwrap());
}

#[test]
fn autosave_is_offered_after_unclean_exit() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(40, 30, ScriptedDialogs::default());
    opts.autosave_dir = Some(dir.path().to_path_buf());
    let mut h = harness_with(opts);
    h.get_by_label("sky").click();
    drag(&mut h, &[[5.0, 5.0], [30.0, 20.0]]);
    let painted = map(&h);
    // Let the autosave delay pass.
    for _ in 0..10 {
        h.step();
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    h.run_steps(240);
    let sessions = dir.path().join(scenepaint::app::autosave::SESSIONS_DIR);
    let slots: Vec<_> = std::fs::read_dir(&sessions).unwrap().collect();
    assert_eq!(slots.len(), 1, "one session slot");
    let file = slots[0]
        .as_ref()
        .unwrap()
        .path()
        .join(scenepaint::app::autosave::AUTOSAVE_FILE);
    assert!(file.exists(), "autosave written");
    // Simulate a crash: the lock goes as the OS drops it, the app is leaked so its
    // clean-exit hook never runs.
    h.state_mut().abandon_autosave();
    std::mem::forget(h);

    let mut opts = options(40, 30, ScriptedDialogs::default());
    opts.autosave_dir = Some(dir.path().to_path_buf());
    let mut h = harness_with(opts);
    h.get_by_label("Restore").click();
    h.run_steps(2);
    assert_eq!(map(&h), painted);
    assert!(
        !file.exists(),
        "the restored autosave moved into the new session's slot"
    );
    assert!(
        h.state().has_unsaved_work(),
        "a restored painting is not saved anywhere"
    );
    // A clean exit with that unsaved work keeps it for the next start.
    drop(h);
    let mut opts = options(40, 30, ScriptedDialogs::default());
    opts.autosave_dir = Some(dir.path().to_path_buf());
    let mut h = harness_with(opts);
    h.get_by_label("Restore").click();
    h.run_steps(2);
    assert_eq!(
        map(&h),
        painted,
        "offered again after a clean exit with unsaved work"
    );
}

#[test]
fn new_canvas_dialog_uses_presets() {
    let mut h = harness(64, 64);
    h.key_press_modifiers(Modifiers::COMMAND, Key::N);
    h.run_steps(2);
    h.get_by_label("1024x512").click();
    h.run_steps(1);
    h.get_by_label("Create").click();
    h.run_steps(2);
    let m = map(&h);
    assert_eq!((m.width, m.height), (1024, 512));
    assert!(m.ids.iter().all(|&id| id == h.state().palette.background));
}

/// Closing the window, Ctrl+Q, File > Quit and New with unsaved work ask first: Cancel keeps
/// the painting and the window, Save writes the project and then goes on, Discard goes on.
#[test]
fn unsaved_work_is_never_dropped_without_asking() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("kept.scenepaint");
    let mut h = harness_with(options(60, 40, ScriptedDialogs::new([project.clone()])));
    assert!(
        !h.state().has_unsaved_work(),
        "a fresh canvas has nothing to lose"
    );
    h.get_by_label("sky").click();
    drag(&mut h, &[[5.0, 5.0], [50.0, 30.0]]);
    let painted = map(&h);
    assert!(h.state().has_unsaved_work());

    // The window's close button.
    h.input_mut()
        .viewports
        .entry(egui::ViewportId::ROOT)
        .or_default()
        .events
        .push(egui::ViewportEvent::Close);
    h.run_steps(2);
    h.get_by_label("Save changes to the painting?");
    h.get_by_label_contains("Quit: the painting has changes");
    h.get_by_label("Cancel").click();
    h.run_steps(2);
    assert!(h.query_by_label("Save changes to the painting?").is_none());
    assert_eq!(map(&h), painted, "cancel keeps the painting");

    // Ctrl+Q, then Save: the project is written and the quit goes on.
    h.key_press_modifiers(Modifiers::COMMAND, Key::Q);
    h.run_steps(2);
    h.get_by_label("Save…").click();
    h.run_steps(2);
    let saved = scenepaint::paint::project::Project::load(&project).unwrap();
    assert_eq!(saved.label_map().unwrap(), painted);
    assert!(!h.state().has_unsaved_work());

    // New after more painting, then Discard: the new-canvas dialog follows.
    drag(&mut h, &[[10.0, 30.0], [40.0, 10.0]]);
    h.key_press_modifiers(Modifiers::COMMAND, Key::N);
    h.run_steps(2);
    h.get_by_label("Discard changes").click();
    h.run_steps(2);
    h.get_by_label("Create").click();
    h.run_steps(2);
    assert_ne!(map(&h), painted);
    assert!(!h.state().has_unsaved_work());
}

/// Settings survive a restart: tool, brush size, palette, recent files and the training
/// panel's fields, through the stored string eframe keeps; File > Open recent reopens a
/// project; an unreadable stored string gives the defaults.
#[test]
fn settings_round_trip_and_open_recent_reopens_a_project() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("remembered.scenepaint");
    let mut h = harness_with(options(40, 30, ScriptedDialogs::new([project.clone()])));
    h.get_by_label("Eraser").click();
    h.run_steps(1);
    h.key_press(Key::CloseBracket);
    h.run_steps(1);
    h.state_mut().training.iters = 1234;
    h.state_mut().training.crop_height = 96;
    h.state_mut().training.diff_augment = true;
    h.state_mut().training.lr = 5e-5;
    h.state_mut().training.decay_start = 321;
    h.state_mut().training.start_from = "weights/ycor-spade-256".into();
    h.state_mut().preview.split = 0.65;
    h.state_mut().preview.swapped = true;
    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label_contains("Save project as…").click();
    h.run_steps(2);
    assert!(project.exists());
    let settings = h.state().settings();
    let stored = settings.to_stored();
    let restored = scenepaint::app::settings::Settings::from_stored(Some(&stored));
    assert_eq!(restored, settings);
    assert_eq!(restored.recent_files, vec![project.clone()]);

    let mut h2 = harness_with(options(40, 30, ScriptedDialogs::default()));
    let fresh_brush = h2.state().brush_px;
    h2.state_mut().apply_settings(restored);
    h2.run_steps(1);
    assert_eq!(h2.state().tool, scenepaint::paint::Tool::Eraser);
    assert_eq!(h2.state().brush_px, h.state().brush_px);
    assert_ne!(
        h2.state().brush_px,
        fresh_brush,
        "the brush size was changed and kept"
    );
    assert_eq!(h2.state().training.iters, 1234);
    assert_eq!(h2.state().training.crop_height, 96);
    assert!(h2.state().training.diff_augment);
    assert_eq!(h2.state().training.lr, 5e-5);
    assert_eq!(h2.state().training.decay_start, 321);
    assert_eq!(h2.state().training.start_from, "weights/ycor-spade-256");
    assert_eq!(h2.state().preview.split, 0.65);
    assert!(h2.state().preview.swapped);
    h2.get_by_label("File").click();
    h2.run_steps(2);
    h2.get_by_label("Open recent").click();
    h2.run_steps(2);
    h2.get_by_label("remembered.scenepaint").click();
    h2.run_steps(2);
    assert_eq!(h2.state().project_path.as_deref(), Some(project.as_path()));

    // Settings stored before non-square crops and the small-data switches still load.
    let mut old: serde_json::Value = serde_json::from_str(&stored).unwrap();
    let fields = old["training"].as_object_mut().unwrap();
    let width = fields.remove("crop_width").unwrap();
    fields.insert("crop_px".into(), width.clone());
    let gone_fields = [
        "crop_height",
        "diff_augment",
        "average_weights",
        "lr",
        "decay_start",
        "start_from",
    ];
    for gone in gone_fields {
        fields.remove(gone).unwrap();
    }
    let older = scenepaint::app::settings::Settings::from_stored(Some(&old.to_string()));
    let training = older.training.expect("the older training fields load");
    assert_eq!(
        (training.crop_width, training.crop_height),
        (width.as_u64().unwrap() as u32, None)
    );
    assert_eq!(training.iters, 1234);
    assert_eq!((training.lr, training.decay_start), (None, None));

    let garbage = scenepaint::app::settings::Settings::from_stored(Some("{not json"));
    assert_eq!(garbage, scenepaint::app::settings::Settings::default());
}

/// The painter with the in-app file browser (what a desktop without a portal or zenity gets),
/// opening in `folder`.
fn with_in_app_browser(folder: &std::path::Path) -> egui_kittest::Harness<'static, PainterApp> {
    let mut opts = options(40, 30, ScriptedDialogs::default());
    opts.dialogs = Box::new(SystemDialogs::in_app(Some(folder.to_path_buf())));
    harness_with(opts)
}

#[test]
fn save_as_through_the_in_app_browser_writes_the_project_and_asks_before_replacing() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = with_in_app_browser(dir.path());
    h.state_mut().perform(Action::SaveProjectAs);
    h.run_steps(3);
    assert!(
        h.query_by_label("Places").is_some(),
        "recent places beside it"
    );
    assert!(h.state().dialogs.is_open());
    h.get_by_label("Save").click();
    h.run_steps(3);
    let saved = dir.path().join("painting.scenepaint");
    assert!(saved.is_file(), "{} written", saved.display());
    assert!(!h.state().dialogs.is_open());
    assert!(!h.state().has_unsaved_work());

    // The same name again: the browser asks before replacing the file.
    std::fs::write(&saved, b"older").unwrap();
    h.state_mut().perform(Action::SaveProjectAs);
    h.run_steps(3);
    h.get_by_label("Save").click();
    h.run_steps(3);
    assert!(h.query_by_label("Replace the file?").is_some());
    assert_eq!(std::fs::read(&saved).unwrap(), b"older", "not replaced yet");
    h.get_by_label("Replace").click();
    h.run_steps(3);
    assert!(
        scenepaint::paint::project::Project::load(&saved).is_ok(),
        "replaced by the project"
    );
}

#[test]
fn open_through_the_in_app_browser_lists_only_projects() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("trail.scenepaint");
    let mut first = with_in_app_browser(dir.path());
    first.get_by_label("sky").click();
    drag(&mut first, &[[2.0, 2.0], [30.0, 20.0]]);
    let painted = map(&first);
    first.state_mut().save_project(&project).unwrap();
    std::fs::write(dir.path().join("photo.png"), b"not a project").unwrap();

    let mut h = with_in_app_browser(dir.path());
    h.state_mut().perform(Action::OpenProject);
    h.run_steps(3);
    assert!(
        h.query_by_label_contains("photo.png").is_none(),
        "filtered out"
    );
    h.get_by_label_contains("trail.scenepaint").click();
    h.run_steps(2);
    h.get_by_label("Open").click();
    h.run_steps(3);
    assert_eq!(map(&h), painted);
    assert_eq!(h.state().project_path.as_deref(), Some(project.as_path()));
}

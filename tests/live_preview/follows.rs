//! The preview follows what the painter does: the picker, projects, pause, sizes, loading, import, undo and a narrow window.
use super::*;

#[test]
fn choosing_another_model_in_the_picker_loads_it() {
    let weights = tempfile::tempdir().unwrap();
    write_tiny_bundle(&weights.path().join("tiny-a"), "ycor", 16, false);
    write_tiny_bundle(&weights.path().join("tiny-b"), "ycor", 24, false);
    let mut opts = options(64, 48, ScriptedDialogs::default());
    opts.model_loader = Some(Arc::new(TinyLoader));
    opts.model_folders = vec![weights.path().to_path_buf()];
    let mut h = harness_with(opts);
    load_tiny(&mut h);
    let first = h.state().live.as_ref().unwrap().info.name.clone();
    let other = if first == "tiny-a" {
        "tiny-b"
    } else {
        "tiny-a"
    };
    h.get_by_label("Model").click();
    h.run_steps(2);
    h.get_by_label(other).click();
    run_until(&mut h, "the chosen model", |app| {
        app.live.as_ref().is_some_and(|l| l.info.name == other)
    });
}

/// Opening a project replaces the painting: the preview follows it. Each new document started
/// its change count at 0 again, so the worker saw "no change" and kept the old image.
#[test]
fn the_preview_follows_an_opened_project() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("sky.scenepaint");
    let (mut h, weights) = live_harness("ycor", 32, ScriptedDialogs::new([project.clone()]));
    load_tiny(&mut h);
    let palette = h.state().palette.clone();
    let sky = palette.id_for_name("sky").unwrap();
    scenepaint::paint::project::Project::new(
        &LabelMap::new(64, 48, sky),
        &palette,
        Default::default(),
    )
    .save(&project)
    .unwrap();
    let (_, model) = TinyModel::load(&weights.path().join("tiny"));
    let sky_colour = model.colour_of(sky, &Style::default());
    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label_contains("Open project…").click();
    h.run_steps(2);
    if h.query_by_label("Discard changes").is_some() {
        h.get_by_label("Discard changes").click();
        h.run_steps(2);
    }
    assert_eq!(map(&h), LabelMap::new(64, 48, sky), "the project is open");
    run_until(&mut h, "the opened painting's image", |app| {
        let live = app.live.as_ref().unwrap();
        live.latest
            .as_ref()
            .is_some_and(|g| g.image.get_pixel(16, 16).0 == sky_colour)
    });
}

/// The pause toggle says what state the preview is in.
#[test]
fn pause_reads_paused_while_paused() {
    let (mut h, _weights) = live_harness("ycor", 32, ScriptedDialogs::default());
    load_tiny(&mut h);
    h.get_by_label("Pause").click();
    h.run_steps(2);
    assert!(h.state().live.as_ref().unwrap().paused);
    h.get_by_label("Paused").click();
    h.run_steps(2);
    assert!(!h.state().live.as_ref().unwrap().paused);
    h.get_by_label("Pause");
}

/// The preview is as large as the painting: matching the canvas's zoom and pan, each
/// generated pixel sits at the painted one's place in the other half; Fit and Full size
/// show the whole image; Swap sides trades the halves.
#[test]
fn the_preview_matches_the_canvas_size_and_fills_the_window_in_full_size() {
    let (mut h, _weights) = live_harness("ycor", 32, ScriptedDialogs::default());
    load_tiny(&mut h);
    let canvas = h.get_by_label(CANVAS_LABEL).rect();
    let image_rect = |h: &Harness<'_, PainterApp>| {
        let app = h.state();
        app.view.image_rect(app.doc.width(), app.doc.height())
    };
    let painting = image_rect(&h);
    let preview = h.get_by_label(PREVIEW_IMAGE_LABEL).rect();
    assert!(
        (preview.area() - canvas.area()).abs() < 0.02 * canvas.area(),
        "the halves are the same size: {preview:?} vs {canvas:?}"
    );
    let app = h.state();
    let placed = app
        .preview
        .image_rect(preview, Some(placement(app)), [64, 48]);
    assert!(
        (placed.size() - painting.size()).length() < 0.5,
        "{placed:?} vs {painting:?}"
    );
    assert!(
        (placed.min - preview.min - (painting.min - canvas.min)).length() < 0.5,
        "the same place in each half"
    );

    h.get_by_label("Swap sides").click();
    h.run_steps(3);
    let swapped = h.get_by_label(CANVAS_LABEL).rect();
    assert!(
        swapped.min.x > canvas.min.x || swapped.min.y > canvas.min.y,
        "{swapped:?}"
    );

    h.get_by_label("Full size").click();
    h.run_steps(3);
    assert!(
        h.query_by_label(CANVAS_LABEL).is_none(),
        "the canvas gives way"
    );
    let full = h.get_by_label(PREVIEW_IMAGE_LABEL).rect();
    assert!(full.area() > 1.8 * preview.area(), "{full:?}");
    h.get_by_label("Back to canvas").click();
    h.run_steps(3);
    assert!(h.query_by_label(CANVAS_LABEL).is_some());
}

fn placement(app: &PainterApp) -> scenepaint::app::preview::CanvasPlacement {
    scenepaint::app::preview::CanvasPlacement {
        area: app.view.area(),
        image: app.view.image_rect(app.doc.width(), app.doc.height()),
    }
}

/// While a bundle loads the picker names it, not the first bundle of the list.
#[test]
fn the_picker_shows_the_model_that_is_loading() {
    let weights = tempfile::tempdir().unwrap();
    write_tiny_bundle(&weights.path().join("a-first"), "ycor", 32, false);
    write_tiny_bundle(&weights.path().join("b-second"), "ycor", 32, false);
    let mut opts = options(64, 48, ScriptedDialogs::default());
    opts.model_loader = Some(Arc::new(TinyLoader));
    opts.model_folders = vec![weights.path().to_path_buf()];
    opts.default_model = Some(weights.path().join("b-second"));
    let mut h = harness_with(opts);
    assert_eq!(
        h.state().models.selected.as_deref(),
        Some(weights.path().join("b-second").as_path())
    );
    run_until(&mut h, "the model to load", |app| app.live.is_some());
    assert_eq!(h.state().live.as_ref().unwrap().info.name, "b-second");
    assert!(h.state().models.loading.is_none());
}

/// Import, a fill and its undo, and a new canvas each change what is painted without a stroke:
/// the preview follows every one (the stale-preview cases besides Open, above).
#[test]
fn the_preview_follows_import_undo_and_a_new_canvas() {
    use egui::{Key, Modifiers};
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("sky.png");
    let (mut h, weights) = live_harness("ycor", 32, ScriptedDialogs::new([png.clone()]));
    load_tiny(&mut h);
    let palette = h.state().palette.clone();
    let (sky, grass) = (
        palette.id_for_name("sky").unwrap(),
        palette.id_for_name("traversable grass").unwrap(),
    );
    image::RgbImage::from_pixel(64, 48, image::Rgb(palette.rgb(sky)))
        .save(&png)
        .unwrap();
    let (_, model) = TinyModel::load(&weights.path().join("tiny"));
    let shows = |h: &mut Harness<'_, PainterApp>, id: u16, what: &str| {
        let colour = model.colour_of(id, &Style::default());
        run_until(h, what, |app| {
            let live = app.live.as_ref().unwrap();
            live.latest
                .as_ref()
                .is_some_and(|g| g.image.get_pixel(16, 16).0 == colour)
        });
    };
    let discard_if_asked = |h: &mut Harness<'_, PainterApp>| {
        if h.query_by_label("Discard changes").is_some() {
            h.get_by_label("Discard changes").click();
            h.run_steps(2);
        }
    };

    h.key_press_modifiers(Modifiers::COMMAND, Key::I);
    h.run_steps(2);
    discard_if_asked(&mut h);
    assert_eq!(
        map(&h),
        LabelMap::new(64, 48, sky),
        "the label map is imported"
    );
    shows(&mut h, sky, "the imported painting's image");

    h.get_by_label("traversable grass").click();
    h.get_by_label("Fill").click();
    h.run_steps(1);
    click_canvas(&mut h, 10.0, 10.0);
    h.run_steps(2);
    assert_eq!(map(&h).get(10, 10), grass, "the fill painted grass");
    shows(&mut h, grass, "the filled painting's image");
    h.get_by_label("Undo").click();
    h.run_steps(2);
    assert_eq!(
        map(&h),
        LabelMap::new(64, 48, sky),
        "undo went back to the import"
    );
    shows(&mut h, sky, "the image of the painting undo went back to");

    h.key_press_modifiers(Modifiers::COMMAND, Key::N);
    h.run_steps(2);
    h.get_by_label("Discard changes").click();
    // The new-canvas window settles its size and place over a few frames: click it then.
    h.run_steps(4);
    h.get_by_label("Create").click();
    h.run_steps(2);
    let background = h.state().palette.background;
    let m = map(&h);
    let mut ids = m.ids.clone();
    ids.sort();
    ids.dedup();
    assert!(
        m.ids.iter().all(|&id| id == background),
        "a new canvas: {}x{} ids {ids:?}, background {background}",
        m.width,
        m.height
    );
    shows(&mut h, background, "the new canvas's image");
}

/// In a narrow work area (a small window with the training panel open) the preview's view
/// controls move under its title instead of drawing over it (or over the training panel), and
/// stay in the window.
#[test]
fn the_preview_header_wraps_instead_of_overlapping_in_a_narrow_window() {
    let (mut h, _weights) = live_harness("ycor", 32, ScriptedDialogs::default());
    load_tiny(&mut h);
    let name = h.state().live.as_ref().unwrap().info.name.clone();
    h.get_by_label("Training").click();
    h.run_steps(3);
    for (width, one_row) in [(1400.0, true), (760.0, false), (1400.0, true)] {
        h.set_size(egui::vec2(width, 720.0));
        h.run_steps(4);
        let title = h.get_by_label(&name).rect();
        for control in ["Pause", "Swap sides", "Full size"] {
            let at = h.get_by_label(control).rect();
            assert!(
                !at.intersects(title) && at.min.x >= title.min.x - 8.0 && at.max.x <= width,
                "{width} wide: {control:?} at {at:?}, the title at {title:?}"
            );
            let beside = (at.center().y - title.center().y).abs() < 4.0;
            assert_eq!(
                beside, one_row,
                "{width} wide: {control:?} at {at:?}, {title:?}"
            );
        }
    }
}

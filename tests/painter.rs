//! Drives the real painter UI headless with egui_kittest: palette clicks, strokes, fill,
//! undo/redo and keyboard shortcuts, checking the label map pixel by pixel.
use egui::{Key, Modifiers, Pos2};
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use scenepaint::app::canvas::CANVAS_LABEL;
use scenepaint::app::files::ScriptedDialogs;
use scenepaint::app::{AppOptions, PainterApp};
use scenepaint::labelmap::LabelMap;
use scenepaint::paint::Tool;
use std::path::PathBuf;

fn options(width: u32, height: u32, dialogs: ScriptedDialogs) -> AppOptions {
    AppOptions {
        palette: "ycor".to_string(),
        width,
        height,
        autosave_dir: None,
        dialogs: Box::new(dialogs),
    }
}

fn harness_with(options: AppOptions) -> Harness<'static, PainterApp> {
    let mut harness = Harness::builder()
        .with_size([1200.0, 720.0])
        .build_eframe(move |_cc| PainterApp::new(options));
    harness.run_steps(3);
    harness
}

fn harness(width: u32, height: u32) -> Harness<'static, PainterApp> {
    harness_with(options(width, height, ScriptedDialogs::default()))
}

fn screen(h: &Harness<'_, PainterApp>, x: f32, y: f32) -> Pos2 {
    h.state().view.image_to_screen([x, y])
}

/// Presses at the first image point, moves through the others, releases at the last.
fn drag(h: &mut Harness<'_, PainterApp>, points: &[[f32; 2]]) {
    let first = screen(h, points[0][0], points[0][1]);
    h.hover_at(first);
    h.run_steps(1);
    h.drag_at(first);
    h.run_steps(1);
    for p in &points[1..] {
        let pos = screen(h, p[0], p[1]);
        h.hover_at(pos);
        h.run_steps(1);
    }
    let last = points[points.len() - 1];
    h.drop_at(screen(h, last[0], last[1]));
    h.run_steps(2);
}

fn click_canvas(h: &mut Harness<'_, PainterApp>, x: f32, y: f32) {
    drag(h, &[[x, y]]);
}

fn map(h: &Harness<'_, PainterApp>) -> LabelMap {
    h.state().doc.map().clone()
}

/// Distance from pixel centre (x, y) to segment a-b.
fn dist_to_segment(x: u32, y: u32, a: [f32; 2], b: [f32; 2]) -> f32 {
    let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let t = (((px - a[0]) * dx + (py - a[1]) * dy) / (dx * dx + dy * dy)).clamp(0.0, 1.0);
    ((a[0] + t * dx - px).powi(2) + (a[1] + t * dy - py).powi(2)).sqrt()
}

#[test]
fn canvas_is_an_accessible_widget() {
    let h = harness(64, 48);
    h.get_by_label(CANVAS_LABEL);
    h.get_by_label("No model loaded");
}

#[test]
fn palette_click_then_stroke_changes_only_pixels_under_it() {
    let mut h = harness(120, 80);
    h.get_by_label("sky").click();
    h.run_steps(2);
    let sky = h.state().palette.id_for_name("sky").unwrap();
    assert_eq!(h.state().active, sky);
    h.state_mut().brush_px = 5;
    let (a, b) = ([20.0, 30.0], [90.0, 50.0]);
    let mid = [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0];
    drag(&mut h, &[a, mid, b]);

    let m = map(&h);
    let zoom_slack = 1.0 / h.state().view.zoom + 1.0;
    let mut painted = 0;
    for y in 0..m.height {
        for x in 0..m.width {
            let d = dist_to_segment(x, y, a, b);
            let id = m.get(x, y);
            if d <= 1.5 {
                assert_eq!(id, sky, "pixel ({x},{y}) on the stroke");
            }
            if d > 2.5 + zoom_slack {
                assert_eq!(id, 0, "pixel ({x},{y}) far from the stroke changed");
            }
            painted += usize::from(id == sky);
        }
    }
    assert!(painted > 70 * 4, "{painted} pixels painted");
    assert_eq!(
        h.state().doc.history().undo_len(),
        1,
        "one stroke = one undo step"
    );
}

#[test]
fn fill_then_undo_redo_restore_exactly() {
    let mut h = harness(100, 60);
    h.get_by_label("obstacle").click();
    h.state_mut().brush_px = 3;
    // A vertical wall splits the canvas.
    drag(&mut h, &[[50.5, -5.0], [50.5, 30.0], [50.5, 70.0]]);
    let after_wall = map(&h);
    assert!(
        (0..60).all(|y| after_wall.get(50, y) == 5),
        "wall is closed"
    );

    h.get_by_label("Fill").click();
    h.get_by_label("sky").click();
    h.run_steps(1);
    assert_eq!(h.state().tool, Tool::Fill);
    click_canvas(&mut h, 10.5, 10.5);
    let after_fill = map(&h);
    let sky = h.state().palette.id_for_name("sky").unwrap();
    for y in 0..60 {
        for x in 0..100 {
            let expect = if after_wall.get(x, y) == 5 {
                5
            } else if x < 50 {
                sky
            } else {
                0
            };
            assert_eq!(after_fill.get(x, y), expect, "({x},{y})");
        }
    }

    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run_steps(1);
    assert_eq!(map(&h), after_wall);
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run_steps(1);
    assert_eq!(map(&h), LabelMap::new(100, 60, 0));
    h.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
    h.run_steps(1);
    assert_eq!(map(&h), after_wall);
    h.key_press_modifiers(Modifiers::COMMAND, Key::Y);
    h.run_steps(1);
    assert_eq!(map(&h), after_fill);

    // The toolbar buttons do the same.
    h.get_by_label("Undo").click();
    h.run_steps(1);
    assert_eq!(map(&h), after_wall);
    h.get_by_label("Redo").click();
    h.run_steps(1);
    assert_eq!(map(&h), after_fill);
}

#[test]
fn keyboard_shortcuts_pick_tools_sizes_and_classes() {
    let mut h = harness(64, 64);
    let classes: Vec<u16> = h.state().palette.classes.iter().map(|c| c.id).collect();
    h.key_press(Key::Num3);
    h.run_steps(1);
    assert_eq!(h.state().active, classes[2]);
    h.key_press(Key::Num9);
    h.run_steps(1);
    assert_eq!(h.state().active, classes[8]);

    for (key, tool) in [
        (Key::G, Tool::Fill),
        (Key::R, Tool::Rectangle),
        (Key::O, Tool::Ellipse),
        (Key::I, Tool::Eyedropper),
        (Key::E, Tool::Eraser),
        (Key::B, Tool::Brush),
    ] {
        h.key_press(key);
        h.run_steps(1);
        assert_eq!(h.state().tool, tool, "{key:?}");
    }

    let size = h.state().brush_px;
    h.key_press(Key::CloseBracket);
    h.run_steps(1);
    assert!(h.state().brush_px > size);
    h.key_press(Key::OpenBracket);
    h.key_press(Key::OpenBracket);
    h.run_steps(1);
    assert!(h.state().brush_px < size);

    let zoom = h.state().view.zoom;
    h.key_press_modifiers(Modifiers::COMMAND, Key::Plus);
    h.run_steps(1);
    assert!(h.state().view.zoom > zoom * 1.2);
    h.key_press_modifiers(Modifiers::COMMAND, Key::Minus);
    h.run_steps(1);
    assert!((h.state().view.zoom - zoom).abs() < 1e-3 * zoom);
}

#[test]
fn eraser_eyedropper_and_shapes() {
    let mut h = harness(80, 60);
    h.get_by_label("Rectangle").click();
    h.get_by_label("sky").click();
    h.run_steps(1);
    // Dragging past an intermediate corner must leave no trace of the first preview.
    drag(&mut h, &[[10.5, 10.5], [60.5, 50.5], [30.5, 20.5]]);
    let m = map(&h);
    let sky = h.state().palette.id_for_name("sky").unwrap();
    let count = m.ids.iter().filter(|&&v| v == sky).count();
    assert_eq!(count, 21 * 11);
    assert_eq!(m.get(10, 10), sky);
    assert_eq!(m.get(30, 20), sky);
    assert_eq!(m.get(31, 21), 0);

    // Alt+click picks the class under the cursor whatever the tool.
    h.key_press(Key::Num1);
    h.run_steps(1);
    assert_eq!(h.state().active, 0);
    let p = screen(&h, 15.5, 15.5);
    h.hover_at(p);
    h.run_steps(1);
    h.event_modifiers(
        egui::Event::PointerButton {
            pos: p,
            button: egui::PointerButton::Primary,
            pressed: true,
            modifiers: Modifiers::ALT,
        },
        Modifiers::ALT,
    );
    h.run_steps(1);
    h.event_modifiers(
        egui::Event::PointerButton {
            pos: p,
            button: egui::PointerButton::Primary,
            pressed: false,
            modifiers: Modifiers::ALT,
        },
        Modifiers::ALT,
    );
    h.run_steps(1);
    assert_eq!(h.state().active, sky, "alt+click picked sky");
    assert_eq!(map(&h), m, "picking does not paint");

    // The eraser paints the background class.
    h.key_press(Key::E);
    h.state_mut().brush_px = 1;
    h.run_steps(1);
    click_canvas(&mut h, 12.5, 12.5);
    assert_eq!(map(&h).get(12, 12), h.state().palette.background);

    h.get_by_label("Ellipse").click();
    h.run_steps(1);
    drag(&mut h, &[[40.5, 30.5], [78.5, 58.5]]);
    let m = map(&h);
    assert_eq!(m.get(59, 44), sky, "ellipse centre");
    assert_eq!(m.get(41, 31), 0, "ellipse corner stays empty");
    assert_eq!(m.get(40, 44), sky, "ellipse left edge");
}

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
    let file = dir.path().join(scenepaint::app::autosave::AUTOSAVE_FILE);
    assert!(file.exists(), "autosave written");
    // Simulate a crash: the app is leaked, so its clean-exit hook never runs.
    std::mem::forget(h);

    let mut opts = options(40, 30, ScriptedDialogs::default());
    opts.autosave_dir = Some(dir.path().to_path_buf());
    let mut h = harness_with(opts);
    h.get_by_label("Restore").click();
    h.run_steps(2);
    assert_eq!(map(&h), painted);
}

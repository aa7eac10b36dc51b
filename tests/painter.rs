//! Drives the real painter UI headless with egui_kittest: palette clicks, strokes, fill,
//! undo/redo, shapes, navigation and keyboard shortcuts, checking the label map pixel by pixel.
#![allow(clippy::unwrap_used)] // a test that cannot go on fails; the panic is the report
mod painter_support;

use egui::{Key, Modifiers};
use egui_kittest::kittest::{NodeT, Queryable};
use painter_support::*;
use scenepaint::app::canvas::CANVAS_LABEL;
use scenepaint::app::files::ScriptedDialogs;
use scenepaint::app::toolbar::Action;
use scenepaint::labelmap::LabelMap;
use scenepaint::paint::Tool;

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
fn wheel_zooms_around_the_cursor_and_middle_or_space_drag_pans() {
    let mut h = harness(200, 100);
    let anchor = [50.0, 25.0];
    let pos = screen(&h, anchor[0], anchor[1]);
    let zoom = h.state().view.zoom;
    h.hover_at(pos);
    h.run_steps(1);
    h.event(egui::Event::MouseWheel {
        unit: egui::MouseWheelUnit::Point,
        delta: egui::vec2(0.0, 120.0),
        phase: egui::TouchPhase::Move,
        source: egui::MouseWheelSource::Unknown,
        modifiers: Modifiers::NONE,
    });
    h.run_steps(10);
    assert!(h.state().view.zoom > zoom * 1.05, "wheel zoomed in");
    let after = h.state().view.screen_to_image(pos);
    assert!(
        (after[0] - anchor[0]).abs() < 0.5 && (after[1] - anchor[1]).abs() < 0.5,
        "{after:?}"
    );

    // Middle drag pans without painting.
    let before = map(&h);
    let offset = h.state().view.offset;
    let start = screen(&h, 100.0, 50.0);
    let end = start + egui::vec2(40.0, -25.0);
    let button = |pos, pressed| egui::Event::PointerButton {
        pos,
        button: egui::PointerButton::Middle,
        pressed,
        modifiers: Modifiers::NONE,
    };
    h.event(button(start, true));
    h.run_steps(1);
    h.hover_at(end);
    h.run_steps(1);
    h.event(button(end, false));
    h.run_steps(1);
    let moved = h.state().view.offset - offset;
    assert!(
        (moved - egui::vec2(40.0, -25.0)).length() < 0.01,
        "{moved:?}"
    );
    assert_eq!(map(&h), before, "panning never paints");

    // Space + primary drag pans too.
    let offset = h.state().view.offset;
    h.key_down(Key::Space);
    h.run_steps(1);
    h.drag_at(start);
    h.run_steps(1);
    h.hover_at(end);
    h.run_steps(1);
    h.drop_at(end);
    h.run_steps(1);
    h.key_up(Key::Space);
    h.run_steps(1);
    assert!((h.state().view.offset - offset - egui::vec2(40.0, -25.0)).length() < 0.01);
    assert_eq!(map(&h), before);

    h.key_press_modifiers(Modifiers::COMMAND, Key::Num0);
    h.run_steps(1);
    let fitted =
        h.state().view.image_to_screen([200.0, 100.0]) - h.state().view.image_to_screen([0.0, 0.0]);
    assert!(
        fitted.x > 300.0,
        "fit makes the image fill the area: {fitted:?}"
    );
}

#[test]
fn stroke_follows_every_position_of_a_slow_frame() {
    let mut h = harness(100, 100);
    h.state_mut().brush_px = 1;
    let pts = [[10.5, 10.5], [80.5, 10.5], [80.5, 80.5]];
    h.drag_at(screen(&h, pts[0][0], pts[0][1]));
    // Both moves and the release arrive before the next frame runs.
    h.hover_at(screen(&h, pts[1][0], pts[1][1]));
    h.hover_at(screen(&h, pts[2][0], pts[2][1]));
    h.drop_at(screen(&h, pts[2][0], pts[2][1]));
    h.run_steps(2);
    let m = map(&h);
    let active = h.state().active;
    assert_eq!(
        m.get(10, 10),
        active,
        "stroke starts where the button went down"
    );
    assert_eq!(m.get(80, 10), active, "corner visited within the frame");
    assert_eq!(m.get(80, 80), active);
    assert_eq!(m.get(45, 45), 0, "no diagonal shortcut");
}

#[test]
fn search_filters_the_palette_and_typing_does_not_switch_tools() {
    let dialogs = ScriptedDialogs::default();
    let mut opts = options(64, 64, dialogs);
    opts.palette = "ade20k".to_string();
    let mut h = harness_with(opts);
    assert!(
        h.query_by_label("wall").is_some(),
        "unfiltered list shows the first class"
    );
    h.get_by_role(egui::accesskit::Role::TextInput).focus();
    h.run_steps(1);
    h.get_by_role(egui::accesskit::Role::TextInput)
        .type_text("waterf");
    h.run_steps(2);
    assert_eq!(h.state().palette_panel.search, "waterf");
    assert_eq!(
        h.state().tool,
        Tool::Brush,
        "typed letters are not tool shortcuts"
    );
    assert!(h.query_by_label("wall").is_none(), "filtered out");
    h.get_by_label("waterfall").click();
    h.run_steps(1);
    assert_eq!(
        h.state().active,
        h.state().palette.id_for_name("waterfall").unwrap()
    );
}

/// Enter in the class search picks the first match.
#[test]
fn enter_in_the_search_picks_the_first_match() {
    let mut opts = options(64, 64, ScriptedDialogs::default());
    opts.palette = "ade20k".to_string();
    let mut h = harness_with(opts);
    let before = h.state().active;
    h.get_by_role(egui::accesskit::Role::TextInput).focus();
    h.run_steps(1);
    h.get_by_role(egui::accesskit::Role::TextInput)
        .type_text("waterf");
    h.run_steps(1);
    h.key_press(egui::Key::Enter);
    h.run_steps(2);
    let waterfall = h.state().palette.id_for_name("waterfall").unwrap();
    assert_ne!(before, waterfall);
    assert_eq!(h.state().active, waterfall);
}

#[test]
fn shift_drag_draws_a_straight_line() {
    let mut h = harness(100, 60);
    h.state_mut().brush_px = 1;
    let (a, wiggle, b) = ([10.5, 30.5], [50.5, 5.5], [90.5, 30.5]);
    let shift = Modifiers::SHIFT;
    let press = |pos, pressed| egui::Event::PointerButton {
        pos,
        button: egui::PointerButton::Primary,
        pressed,
        modifiers: shift,
    };
    h.hover_at(screen(&h, a[0], a[1]));
    h.event_modifiers(press(screen(&h, a[0], a[1]), true), shift);
    h.run_steps(1);
    h.event_modifiers(
        egui::Event::PointerMoved(screen(&h, wiggle[0], wiggle[1])),
        shift,
    );
    h.run_steps(1);
    h.event_modifiers(egui::Event::PointerMoved(screen(&h, b[0], b[1])), shift);
    h.run_steps(1);
    h.event_modifiers(press(screen(&h, b[0], b[1]), false), shift);
    h.run_steps(1);
    let m = map(&h);
    let active = h.state().active;
    assert!(
        (10..=90).all(|x| m.get(x, 30) == active),
        "straight line along y = 30"
    );
    assert_eq!(m.get(50, 5), 0, "the detour is not painted");
    assert_eq!(m.ids.iter().filter(|&&v| v == active).count(), 81);
    assert_eq!(h.state().doc.history().undo_len(), 1);
}

/// Switching palettes converts the painting by class name, says which classes have no
/// counterpart, and keeps the undo history working in the new palette's ids.
#[test]
fn switching_palettes_converts_by_class_name_and_keeps_undo() {
    let mut h = harness(60, 40);
    let ycor = h.state().palette.clone();
    let landscape = scenepaint::labels::Palette::builtin("landscape").unwrap();
    let orphan = ycor
        .classes
        .iter()
        .find(|c| c.id != ycor.background && landscape.id_for_name(&c.name).is_none())
        .expect("a ycor class landscape lacks")
        .clone();
    h.get_by_label("sky").click();
    drag(&mut h, &[[2.0, 2.0], [50.0, 2.0]]);
    h.state_mut().active = orphan.id;
    drag(&mut h, &[[2.0, 30.0], [50.0, 30.0]]);
    assert_eq!(map(&h).get(20, 30), orphan.id);

    h.get_by_label("Palette").click();
    h.run_steps(2);
    h.get_by_label("landscape").click();
    h.run_steps(3);
    assert_eq!(h.state().palette.name, "landscape");
    let sky = landscape.id_for_name("sky").unwrap();
    assert_eq!(map(&h).get(20, 2), sky, "sky stays sky, in landscape's id");
    assert_eq!(map(&h).get(20, 30), landscape.background);
    let message = h.state().message.clone().unwrap_or_default();
    assert!(message.contains(&orphan.name), "{message}");

    h.state_mut().perform(Action::Undo);
    h.run_steps(1);
    assert_eq!(map(&h).get(20, 2), sky, "the sky stroke is kept");
    h.state_mut().perform(Action::Undo);
    h.run_steps(1);
    let background = landscape.id_for_name(&ycor.class(ycor.background).unwrap().name);
    assert_eq!(
        map(&h).get(20, 2),
        background.unwrap_or(landscape.background),
        "undone to the blank canvas, in landscape's ids"
    );
}

/// A window that changes size refits the painting, unless the user zoomed or panned.
#[test]
fn the_canvas_refits_on_resize_unless_the_user_zoomed() {
    let mut h = harness(200, 100);
    let zoom = h.state().view.zoom;
    h.set_size(egui::vec2(1600.0, 1000.0));
    h.run_steps(3);
    let refitted = h.state().view.zoom;
    assert!(refitted > zoom * 1.2, "{zoom} -> {refitted}");
    h.state_mut().perform(Action::ZoomIn);
    h.run_steps(1);
    let chosen = h.state().view.zoom;
    h.set_size(egui::vec2(1000.0, 700.0));
    h.run_steps(3);
    assert_eq!(h.state().view.zoom, chosen, "the user's zoom stays");
    h.state_mut().perform(Action::ZoomFit);
    h.run_steps(1);
    h.set_size(egui::vec2(1400.0, 900.0));
    h.run_steps(3);
    assert_ne!(
        h.state().view.zoom,
        chosen,
        "after Fit, resizing fits again"
    );
}

/// The palette's number keys and the status bar's ids cannot be confused.
#[test]
fn the_status_bar_names_the_class_id_and_its_key() {
    let mut h = harness(60, 40);
    let sky = h.state().palette.id_for_name("sky").unwrap();
    h.get_by_label("sky").click();
    drag(&mut h, &[[2.0, 2.0], [50.0, 2.0]]);
    h.hover_at(screen(&h, 20.0, 2.0));
    h.run_steps(2);
    let key = scenepaint::app::palette_panel::shortcut_key(&h.state().palette, sky).unwrap();
    h.get_by_label(&format!("sky (class id {sky}, key {key})"));
    h.key_press(Key::from_name(&key.to_string()).unwrap());
    h.run_steps(1);
    assert_eq!(
        h.state().active,
        sky,
        "the key the status bar names picks the class"
    );
}

/// A shipped file missing at start (`AppOptions::with_shipped_content` says which and where it
/// looked) is shown in the status bar.
#[test]
fn a_startup_message_shows_in_the_status_bar() {
    let text = scenepaint::shipped::not_found_line("weights/gone", "the default model");
    let mut opts = options(64, 48, ScriptedDialogs::default());
    opts.startup_message = Some(text.clone());
    let h = harness_with(opts);
    h.get_by_label(&text);
}

/// Several problems at start (a shipped file missing, an unknown palette, an autosave folder
/// that cannot be made) all reach the status bar; none overwrites another.
#[test]
fn every_problem_at_start_reaches_the_status_bar() {
    let missing = scenepaint::shipped::not_found_line("weights/gone", "the default model");
    let blocker = tempfile::NamedTempFile::new().unwrap();
    let mut opts = options(64, 48, ScriptedDialogs::default());
    opts.startup_message = Some(missing.clone());
    opts.palette = "no-such-palette".to_string();
    // A file where the autosave folder should be: the folder cannot be created.
    opts.autosave_dir = Some(blocker.path().join("autosave"));
    let h = harness_with(opts);
    let status = h
        .get_by_label_contains(&missing)
        .accesskit_node()
        .value() // a label's text is its value
        .unwrap_or_default();
    assert!(
        status.contains("no-such-palette") && status.contains("autosave disabled"),
        "{status}"
    );
}

//! Drives the real painter UI headless with egui_kittest: palette clicks, strokes, fill,
//! undo/redo, shapes, navigation and keyboard shortcuts, checking the label map pixel by pixel.
#![allow(clippy::unwrap_used)] // a test that cannot go on fails; the panic is the report
#[path = "../painter_support/mod.rs"]
mod painter_support;

use egui::{Key, Modifiers};
use egui_kittest::kittest::{NodeT, Queryable};
use painter_support::*;
use scenepaint::app::canvas::CANVAS_LABEL;
use scenepaint::app::files::ScriptedDialogs;
use scenepaint::app::toolbar::Action;
use scenepaint::labelmap::LabelMap;
use scenepaint::paint::Tool;

mod controls;

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

//! Strokes of a slow frame, the palette search, straight lines, palette switches, refitting on resize, the status bar and the problems met at start.
use super::*;

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

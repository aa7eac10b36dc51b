//! Shared helpers for the painter UI tests: build the real app in a kittest harness and
//! drive the pointer in image coordinates.
#![allow(dead_code)]
use egui::Pos2;
use egui_kittest::Harness;
use scenepaint::app::files::ScriptedDialogs;
use scenepaint::app::{AppOptions, PainterApp};
use scenepaint::labelmap::LabelMap;

pub fn options(width: u32, height: u32, dialogs: ScriptedDialogs) -> AppOptions {
    AppOptions {
        palette: "ycor".to_string(),
        width,
        height,
        autosave_dir: None,
        dialogs: Box::new(dialogs),
        model_loader: None,
        model_folders: Vec::new(),
        example_scene: None,
        default_model: None,
        training_dataset: None,
        startup_message: None,
    }
}

pub fn harness_with(options: AppOptions) -> Harness<'static, PainterApp> {
    let mut harness = Harness::builder()
        .with_size([1200.0, 720.0])
        .build_eframe(move |_cc| PainterApp::new(options));
    harness.run_steps(3);
    harness
}

pub fn harness(width: u32, height: u32) -> Harness<'static, PainterApp> {
    harness_with(options(width, height, ScriptedDialogs::default()))
}

pub fn screen(h: &Harness<'_, PainterApp>, x: f32, y: f32) -> Pos2 {
    h.state().view.image_to_screen([x, y])
}

/// Presses at the first image point, moves through the others, releases at the last.
pub fn drag(h: &mut Harness<'_, PainterApp>, points: &[[f32; 2]]) {
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

pub fn click_canvas(h: &mut Harness<'_, PainterApp>, x: f32, y: f32) {
    drag(h, &[[x, y]]);
}

pub fn map(h: &Harness<'_, PainterApp>) -> LabelMap {
    h.state().doc.map().clone()
}

/// Distance from pixel centre (x, y) to segment a-b.
pub fn dist_to_segment(x: u32, y: u32, a: [f32; 2], b: [f32; 2]) -> f32 {
    let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let t = (((px - a[0]) * dx + (py - a[1]) * dy) / (dx * dx + dy * dy)).clamp(0.0, 1.0);
    ((a[0] + t * dx - px).powi(2) + (a[1] + t * dy - py).powi(2)).sqrt()
}

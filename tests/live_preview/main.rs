//! Live preview through the real painter UI (egui_kittest) with a tiny random-weight bundle:
//! load from the picker, paint a stroke and see the generated image follow it, palette switch
//! on load, export; and the translation engine's latest-wins, throttle, pause and shutdown.
#![allow(clippy::unwrap_used)] // a test that cannot go on fails; the panic is the report
#[path = "../live_support/mod.rs"]
mod live_support;
#[path = "../painter_support/mod.rs"]
mod painter_support;

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use live_support::*;
use painter_support::*;
use scenepaint::app::canvas::CANVAS_LABEL;
use scenepaint::app::files::ScriptedDialogs;
use scenepaint::app::preview::PREVIEW_IMAGE_LABEL;
use scenepaint::app::PainterApp;
use scenepaint::labelmap::LabelMap;
use scenepaint::live::{LiveTranslation, Style, MIN_STROKE_THROTTLE_S, STROKE_THROTTLE_S};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod engine;
mod follows;
mod published;
mod styles;

fn live_harness(
    palette: &str,
    size: u32,
    dialogs: ScriptedDialogs,
) -> (Harness<'static, PainterApp>, tempfile::TempDir) {
    let weights = tempfile::tempdir().unwrap();
    write_tiny_bundle(&weights.path().join("tiny"), palette, size, false);
    let mut opts = options(64, 48, dialogs);
    opts.model_loader = Some(Arc::new(TinyLoader));
    opts.model_folders = vec![weights.path().to_path_buf()];
    (harness_with(opts), weights)
}

/// Runs frames (in real time: the worker is a thread) until `done` holds.
fn run_until(h: &mut Harness<'_, PainterApp>, what: &str, done: impl Fn(&PainterApp) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done(h.state()) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        h.run_steps(1);
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn load_tiny(h: &mut Harness<'_, PainterApp>) {
    h.get_by_label("Load model").click();
    run_until(h, "the model to load", |app| app.live.is_some());
    run_until(h, "the first image", |app| {
        app.live.as_ref().unwrap().latest.is_some()
    });
    h.run_steps(1);
}

#[test]
fn a_stroke_updates_the_preview_with_the_painted_class() {
    let (mut h, weights) = live_harness("ycor", 32, ScriptedDialogs::default());
    h.get_by_label("No model loaded");
    load_tiny(&mut h);
    h.get_by_label(PREVIEW_IMAGE_LABEL);
    let (_, model) = TinyModel::load(&weights.path().join("tiny"));
    let background = h.state().palette.background;
    let blank = model.colour_of(background, &Style::default());
    {
        let image = &h
            .state()
            .live
            .as_ref()
            .unwrap()
            .latest
            .as_ref()
            .unwrap()
            .image;
        assert_eq!(image.dimensions(), (32, 32), "the model's input size");
        assert!(image.pixels().all(|p| p.0 == blank));
    }

    h.get_by_label("sky").click();
    h.state_mut().brush_px = 12;
    let before = h.state().live.as_ref().unwrap().results_received;
    drag(&mut h, &[[5.0, 24.0], [30.0, 24.0], [60.0, 24.0]]);
    let generation = h.state().doc.generation();
    run_until(&mut h, "the stroke's image", |app| {
        let live = app.live.as_ref().unwrap();
        // The stroke's end frame (in-stroke frames may be approximate).
        let final_frame = live.latest.as_ref().is_some_and(|g| !g.in_stroke);
        live.results_received > before
            && !live.is_busy()
            && final_frame
            && app.doc.generation() == generation
    });
    let sky = h.state().palette.id_for_name("sky").unwrap();
    let image = &h
        .state()
        .live
        .as_ref()
        .unwrap()
        .latest
        .as_ref()
        .unwrap()
        .image;
    // Canvas 64x48 -> model 32x32: canvas row 24 is model row 16.
    assert_eq!(
        image.get_pixel(16, 16).0,
        model.colour_of(sky, &Style::default())
    );
    assert_eq!(image.get_pixel(16, 2).0, blank, "far from the stroke");
    let latency = h.state().live.as_ref().unwrap().last_latency_ms().unwrap();
    assert!(latency >= 0.0);
    // The frame that collected the result drew it: no further frame is needed.
    h.get_by_label(&format!("{latency:.0} ms"));
}

#[test]
fn loading_a_model_switches_and_converts_the_palette() {
    let (mut h, _weights) = live_harness("landscape", 32, ScriptedDialogs::default());
    // The painting uses ycor: "sky" has a landscape counterpart, "smooth trail" has none.
    let ycor = h.state().palette.clone();
    let (sky, trail) = (
        ycor.id_for_name("sky").unwrap(),
        ycor.id_for_name("smooth trail").unwrap(),
    );
    h.state_mut().brush_px = 8;
    h.get_by_label("sky").click();
    drag(&mut h, &[[4.0, 4.0], [20.0, 4.0]]);
    h.get_by_label("smooth trail").click();
    drag(&mut h, &[[4.0, 40.0], [20.0, 40.0]]);
    assert_eq!(h.state().doc.map().get(10, 4), sky);
    load_tiny(&mut h);
    let app = h.state();
    assert_eq!(app.palette.name, "landscape");
    let map = app.doc.map();
    assert_eq!(map.get(10, 4), app.palette.id_for_name("sky").unwrap());
    assert_eq!(map.get(10, 40), app.palette.background);
    assert_ne!(map.get(10, 40), trail);
    let message = app.message.clone().unwrap();
    assert!(message.contains("smooth trail"), "{message}");
    assert!(!message.contains("sky,"), "{message}");

    // The undo history came along, in the model's ids.
    h.state_mut()
        .perform(scenepaint::app::toolbar::Action::Undo);
    h.run_steps(1);
    let landscape_sky = h.state().palette.id_for_name("sky").unwrap();
    assert_eq!(h.state().doc.map().get(10, 4), landscape_sky);
    assert_eq!(
        h.state().doc.map().get(10, 40),
        h.state().palette.background
    );

    // A palette the model cannot use: the preview says so and waits instead of painting
    // nonsense from another palette's ids.
    h.get_by_label("Palette").click();
    h.run_steps(2);
    h.get_by_label("ycor").click();
    h.run_steps(2);
    assert_eq!(h.state().palette.name, "ycor");
    assert_eq!(
        h.state().doc.map().get(10, 4),
        sky,
        "converted back by name"
    );
    // A frame submitted before the switch may still be on its way; it is not what is tested.
    run_until(&mut h, "the last frame from before the switch", |app| {
        !app.live.as_ref().unwrap().is_busy()
    });
    h.run_steps(1);
    let received = h.state().live.as_ref().unwrap().results_received;
    h.get_by_label_contains("Live preview waits");
    drag(&mut h, &[[30.0, 20.0], [50.0, 20.0]]);
    std::thread::sleep(Duration::from_millis(200));
    h.run_steps(3);
    assert_eq!(h.state().live.as_ref().unwrap().results_received, received);
}

#[test]
fn export_writes_the_image_and_the_side_by_side_at_canvas_size() {
    let out = tempfile::tempdir().unwrap();
    let (photo, both) = (out.path().join("photo.jpg"), out.path().join("both.png"));
    let dialogs = ScriptedDialogs::new([photo.clone(), both.clone()]);
    let (mut h, _weights) = live_harness("ycor", 32, dialogs);
    load_tiny(&mut h);
    h.get_by_label("Save image…").click();
    h.run_steps(2);
    h.get_by_label("Save side by side…").click();
    h.run_steps(2);
    let photo = image::open(&photo).unwrap();
    assert_eq!((photo.width(), photo.height()), (64, 48));
    let both = image::open(&both).unwrap().to_rgb8();
    assert_eq!(both.dimensions(), (128, 48));
    let palette = &h.state().palette;
    assert_eq!(both.get_pixel(3, 3).0, palette.rgb(palette.background));
}

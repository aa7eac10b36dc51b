//! Live preview through the real painter UI (egui_kittest) with a tiny random-weight bundle:
//! load from the picker, paint a stroke and see the generated image follow it, palette switch
//! on load, export; and the translation engine's latest-wins, throttle, pause and shutdown.
#![allow(clippy::unwrap_used)] // a test that cannot go on fails; the panic is the report
mod live_support;
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

fn tiny_live(delay_ms: u64) -> (LiveTranslation, TinyModel) {
    let dir = tempfile::tempdir().unwrap();
    let bundle = write_tiny_bundle(&dir.path().join("m"), "ycor", 8, true);
    let (info, mut model) = TinyModel::load(&bundle);
    let (_, reference) = TinyModel::load(&bundle);
    model.delay_ms = delay_ms;
    (
        LiveTranslation::start(info, Box::new(model), || {}).unwrap(),
        reference,
    )
}

#[test]
fn newest_map_wins_and_the_worker_stops_on_drop() {
    let (mut live, model) = tiny_live(150);
    for generation in 0..5u16 {
        // Each generation paints everything with class `generation`.
        let map = LabelMap::new(8, 8, generation);
        live.tick(&map, u64::from(generation), false, f64::from(generation));
        if generation == 0 {
            std::thread::sleep(Duration::from_millis(50)); // the worker starts request 0
        }
    }
    assert!(live.wait(Duration::from_secs(10)));
    // Request 0 was running when 1-4 arrived: 1-3 were replaced by 4.
    let first = live.latest.as_ref().unwrap().image.get_pixel(0, 0).0;
    assert_eq!(first, model.colour_of(0, &Style::default()));
    assert!(live.wait(Duration::from_secs(10)));
    let second = live.latest.as_ref().unwrap().image.get_pixel(0, 0).0;
    assert_eq!(second, model.colour_of(4, &Style::default()));
    assert!(!live.wait(Duration::from_millis(400)), "no more results");
    assert_eq!(live.results_received, 2);
    let started = Instant::now();
    live.tick(&LabelMap::new(8, 8, 1), 99, false, 10.0);
    drop(live); // joins after the running request
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn strokes_are_throttled_pause_stops_updates_and_style_retranslates() {
    // A slow model: in-stroke updates wait the longest throttle.
    let (mut slow, _) = tiny_live(200);
    let map = LabelMap::new(8, 8, 2);
    assert_eq!(
        slow.stroke_throttle_s(),
        STROKE_THROTTLE_S,
        "nothing measured yet"
    );
    assert_eq!(slow.tick(&map, 1, true, 100.0), None);
    assert!(slow.wait(Duration::from_secs(5)));
    assert!(slow.latest.as_ref().unwrap().in_stroke);
    let due = slow.tick(&map, 2, true, 100.05).expect("throttled");
    assert!((due - (STROKE_THROTTLE_S - 0.05)).abs() < 1e-9);
    assert!(!slow.wait(Duration::from_millis(300)), "nothing submitted");
    assert_eq!(
        slow.tick(&map, 2, false, 100.06),
        None,
        "stroke end submits"
    );
    assert!(slow.wait(Duration::from_secs(5)));
    assert!(
        !slow.latest.as_ref().unwrap().in_stroke,
        "the stroke's end is a full frame"
    );

    // A fast model: every display frame of a stroke sends the painting.
    let (mut live, model) = tiny_live(0);
    assert_eq!(live.tick(&map, 1, true, 100.0), None);
    assert!(live.wait(Duration::from_secs(5)));
    // The update took about nothing (a loaded machine may make it a few milliseconds).
    let throttle = live.stroke_throttle_s();
    assert!(
        (MIN_STROKE_THROTTLE_S..0.1).contains(&throttle),
        "{throttle}"
    );
    let due = live
        .tick(&map, 2, true, 100.0 + throttle / 2.0)
        .expect("throttled");
    assert!((due - throttle / 2.0).abs() < 1e-9);
    assert_eq!(
        live.tick(&map, 2, true, 100.0 + throttle + 1e-6),
        None,
        "sent at the throttle"
    );
    assert!(live.wait(Duration::from_secs(5)));
    // The stroke ends on the generation its last in-stroke update showed: sent again, exact.
    let received = live.results_received;
    assert_eq!(live.tick(&map, 2, false, 100.2), None);
    assert!(
        live.wait(Duration::from_secs(5)),
        "the stroke's end is sent again"
    );
    assert_eq!(live.results_received, received + 1);
    assert!(!live.latest.as_ref().unwrap().in_stroke);
    live.tick(&map, 2, false, 100.3);
    assert!(!live.wait(Duration::from_millis(200)), "and only once");

    live.paused = true;
    live.tick(&LabelMap::new(8, 8, 3), 3, false, 101.0);
    assert!(!live.wait(Duration::from_millis(200)), "paused");
    live.paused = false;
    live.held_by_training = true;
    live.tick(&LabelMap::new(8, 8, 3), 3, false, 101.5);
    assert!(
        !live.wait(Duration::from_millis(200)),
        "held while training shares the GPU"
    );
    live.held_by_training = false;
    live.set_style(Style {
        seed: 3,
        ..Style::default()
    });
    live.tick(&LabelMap::new(8, 8, 3), 3, false, 102.0);
    assert!(live.wait(Duration::from_secs(5)));
    let style = Style {
        seed: 3,
        ..Style::default()
    };
    let generated = live.latest.as_ref().unwrap();
    assert_eq!(generated.style, style);
    assert_eq!(
        generated.image.get_pixel(0, 0).0,
        model.colour_of(3, &style)
    );
}

/// Saves a rendered frame when SCENEPAINT_SCREENSHOTS names a folder (for checking by eye).
pub fn maybe_screenshot(h: &mut Harness<'_, PainterApp>, name: &str) {
    if let Ok(dir) = std::env::var("SCENEPAINT_SCREENSHOTS") {
        std::fs::create_dir_all(&dir).unwrap();
        let path = std::path::Path::new(&dir).join(format!("{name}.png"));
        h.render().unwrap().save(path).unwrap();
    }
}

#[test]
fn a_painted_scene_shows_every_class_in_the_preview() {
    let weights = tempfile::tempdir().unwrap();
    write_tiny_bundle(&weights.path().join("tiny-ycor"), "ycor", 64, true);
    let mut opts = options(256, 192, ScriptedDialogs::default());
    opts.model_loader = Some(Arc::new(TinyLoader));
    opts.model_folders = vec![weights.path().to_path_buf()];
    let mut h = harness_with(opts);
    load_tiny(&mut h);
    h.state_mut().brush_px = 40;
    for (class, y) in [
        ("sky", 20.0),
        ("high vegetation", 70.0),
        ("traversable grass", 120.0),
        ("smooth trail", 170.0),
    ] {
        h.get_by_label(class).click();
        drag(&mut h, &[[0.0, y], [128.0, y + 5.0], [256.0, y]]);
    }
    let generation = h.state().doc.generation();
    run_until(&mut h, "the scene's image", |app| {
        let live = app.live.as_ref().unwrap();
        !live.is_busy() && live.results_received >= 5 && app.doc.generation() == generation
    });
    h.run_steps(2);
    h.get_by_label("Random style (dice)");
    let image = &h
        .state()
        .live
        .as_ref()
        .unwrap()
        .latest
        .as_ref()
        .unwrap()
        .image;
    let colours: std::collections::HashSet<[u8; 3]> = image.pixels().map(|p| p.0).collect();
    assert!(colours.len() >= 4, "{} colours", colours.len());
    maybe_screenshot(&mut h, "painter_preview");
}

/// A copy of the pix2pixHD reference checkpoint as a published repo leaves it: a checkpoints
/// folder with `latest_net_G.pth` and, with `opt_txt`, its `opt.txt`.
fn published_checkpoint(root: &std::path::Path, opt_txt: bool) -> std::path::PathBuf {
    let reference = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/reference/pix2pixhd_global.weights.pth");
    assert!(reference.exists(), "{} is missing", reference.display());
    let folder = root.join("checkpoints/label2city");
    std::fs::create_dir_all(&folder).unwrap();
    let pth = folder.join("latest_net_G.pth");
    std::fs::copy(&reference, &pth).unwrap();
    if opt_txt {
        write_published_options(&folder.join("opt.txt"));
    }
    pth
}

/// The `opt.txt` pix2pixHD writes for the reference checkpoint's options.
fn write_published_options(path: &std::path::Path) {
    std::fs::write(
        path,
        "------------ Options -------------\ndataroot: ./datasets/cityscapes/\nlabel_nc: 6\n\
         n_blocks_global: 3\nn_downsample_global: 3\nnetG: global\nngf: 8\n\
         no_instance: False\nnorm: instance\n-------------- End ----------------\n",
    )
    .unwrap();
}

#[test]
fn a_published_checkpoint_imports_from_the_picker_and_becomes_the_live_model() {
    let tmp = tempfile::tempdir().unwrap();
    let pth = published_checkpoint(tmp.path(), true);
    let mut opts = options(64, 48, ScriptedDialogs::new([pth.clone()]));
    opts.model_loader = Some(scenepaint::app::bundle_loader::BundleLoader::shared());
    let mut h = harness_with(opts);
    h.get_by_label("Import .pth…").click();
    h.run_steps(2);
    h.get_by_label("Import published checkpoint");
    match &h.state().modal {
        Some(scenepaint::app::modal::Modal::ImportCheckpoint(form)) => {
            assert_eq!(
                form.net,
                Some(scenepaint::nets::bundle::NetKind::Pix2pixhdGlobal)
            );
            assert_eq!(form.palette, "cityscapes", "from the opt.txt's dataroot");
            assert!(form.options.as_ref().unwrap().ends_with("opt.txt"));
        }
        other => panic!("no import dialog: {other:?}"),
    }
    h.get_by_label("Import").click();
    run_until(&mut h, "the imported model", |app| app.live.is_some());
    let bundle = tmp.path().join("checkpoints/label2city-bundle");
    assert!(bundle.join("model.json").is_file());
    let app = h.state();
    assert_eq!(app.live.as_ref().unwrap().info.name, "label2city-bundle");
    assert_eq!(app.palette.name, "cityscapes", "{:?}", app.message);
    assert!(app.models.bundles.contains(&bundle), "listed in the picker");
    assert!(app.modal.is_none());
}

#[test]
fn a_checkpoint_without_options_keeps_the_dialog_open_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let pth = published_checkpoint(tmp.path(), false);
    let chosen_options = tmp.path().join("elsewhere-opt.txt");
    write_published_options(&chosen_options);
    let mut opts = options(64, 48, ScriptedDialogs::new([pth, chosen_options.clone()]));
    opts.model_loader = Some(scenepaint::app::bundle_loader::BundleLoader::shared());
    let mut h = harness_with(opts);
    h.get_by_label("Import .pth…").click();
    h.run_steps(2);
    h.get_by_label("Options: (none found)");
    h.get_by_label("Import").click();
    // The import runs on a thread of its own; the dialog shows its error when it ends.
    run_until(&mut h, "the import's answer", |app| {
        matches!(&app.modal, Some(scenepaint::app::modal::Modal::ImportCheckpoint(form)) if form.error.is_some())
            || !matches!(
                &app.modal,
                Some(scenepaint::app::modal::Modal::ImportCheckpoint(_))
            )
    });
    let app = h.state();
    assert!(app.live.is_none());
    match &app.modal {
        Some(scenepaint::app::modal::Modal::ImportCheckpoint(form)) => {
            let error = form.error.as_deref().unwrap_or_default();
            assert!(
                error.contains("opt.txt") && error.contains("latest_net_G.pth"),
                "{error}"
            );
        }
        other => panic!("the dialog closed: {other:?}"),
    }
    // "Choose…" takes an option file from elsewhere into the open form; the import then works.
    // The modal grew by the error line; egui centres it anew on the next frames.
    h.run_steps(2);
    h.get_by_label("Choose…").click();
    run_until(&mut h, "the chosen options", |app| {
        matches!(&app.modal, Some(scenepaint::app::modal::Modal::ImportCheckpoint(form))
            if form.options.as_ref() == Some(&chosen_options))
    });
    match &h.state().modal {
        Some(scenepaint::app::modal::Modal::ImportCheckpoint(form)) => {
            assert_eq!(form.error, None, "the options clear the old error");
            assert_eq!(
                form.net,
                Some(scenepaint::nets::bundle::NetKind::Pix2pixhdGlobal)
            );
        }
        other => panic!("the dialog closed: {other:?}"),
    }
    h.run_steps(2);
    h.get_by_label("Import").click();
    run_until(&mut h, "the imported model", |app| app.live.is_some());
    assert!(h.state().modal.is_none());
}

/// Loads a tiny bundle written by `write` into a painter whose file dialog answers `answers`.
fn style_harness(
    write: impl Fn(&std::path::Path),
    answers: Vec<std::path::PathBuf>,
) -> (Harness<'static, PainterApp>, tempfile::TempDir) {
    let weights = tempfile::tempdir().unwrap();
    write(&weights.path().join("tiny"));
    let mut opts = options(64, 48, ScriptedDialogs::new(answers));
    opts.model_loader = Some(Arc::new(TinyLoader));
    opts.model_folders = vec![weights.path().to_path_buf()];
    let mut h = harness_with(opts);
    load_tiny(&mut h);
    (h, weights)
}

fn seed_of(h: &Harness<'_, PainterApp>) -> u64 {
    h.state().live.as_ref().unwrap().style.seed
}

#[test]
fn style_controls_roll_lock_recall_and_read_a_photo() {
    let photo_dir = tempfile::tempdir().unwrap();
    let photo = photo_dir.path().join("style.png");
    image::RgbImage::from_pixel(8, 8, image::Rgb([200, 40, 10]))
        .save(&photo)
        .unwrap();
    let (mut h, _weights) = style_harness(
        |dir| {
            write_tiny_bundle(dir, "ycor", 16, true);
        },
        vec![photo.clone()],
    );
    let first = seed_of(&h);
    h.get_by_label(&format!("seed {first}"));
    let mut rolled = first;
    for _ in 0..4 {
        h.get_by_label("Random style (dice)").click();
        h.run_steps(2);
        rolled = seed_of(&h);
        if rolled != first {
            break;
        }
    }
    assert_ne!(rolled, first, "the dice chose a new seed");
    h.get_by_label(&format!("seed {rolled}"));
    run_until(&mut h, "the image in the new style", |app| {
        let live = app.live.as_ref().unwrap();
        live.latest.as_ref().is_some_and(|r| r.style.seed == rolled)
    });

    h.get_by_label("Lock").click();
    h.run_steps(2);
    h.get_by_label("Random style (dice)").click();
    h.run_steps(2);
    assert_eq!(seed_of(&h), rolled, "a locked seed stays");

    // The recent strip holds the seed before the dice, with a picture of what it made:
    // clicking it goes back.
    let recent = &h.state().preview.recent_styles[0];
    assert_eq!(recent.style.seed, first);
    let thumbnail = recent
        .thumbnail
        .as_ref()
        .expect("a thumbnail of the first style");
    assert_eq!(thumbnail.width(), scenepaint::app::preview::THUMBNAIL_WIDTH);
    h.get_by_label(&format!("recent: seed {first}")).click();
    h.run_steps(2);
    assert_eq!(seed_of(&h), first, "the recent strip restores a style");

    // The colour switch: on by default; off, the worker is asked for the generator's own
    // colours, and the dice and the recent strip keep it off.
    let switch = scenepaint::app::preview::STYLE_COLOURS_LABEL;
    let generator_colours =
        |h: &Harness<'_, PainterApp>| h.state().live.as_ref().unwrap().style.generator_colours;
    assert!(!generator_colours(&h));
    h.get_by_label(switch).click();
    h.run_steps(2);
    assert!(generator_colours(&h) && seed_of(&h) == first);
    run_until(&mut h, "an image with the generator's colours", |app| {
        let live = app.live.as_ref().unwrap();
        live.latest
            .as_ref()
            .is_some_and(|r| r.style.generator_colours)
    });
    h.get_by_label("Lock").click();
    h.run_steps(2);
    h.get_by_label("Random style (dice)").click();
    h.run_steps(2);
    assert!(generator_colours(&h), "the dice keeps the switch");
    let recent_seed = h.state().preview.recent_styles[0].style.seed;
    h.get_by_label(&format!("recent: seed {recent_seed}"))
        .click();
    h.run_steps(2);
    assert!(generator_colours(&h), "a recent style keeps the switch");

    h.get_by_label("Style from photo…").click();
    h.run_steps(2);
    let style = h.state().live.as_ref().unwrap().style.clone();
    let taken = style.photo.expect("the photo became the style");
    assert_eq!(taken.get_pixel(0, 0).0, [200, 40, 10]);
}

#[test]
fn models_without_style_hide_the_controls_and_without_encoder_hide_the_photo() {
    let (h, _weights) = style_harness(
        |dir| {
            write_tiny_bundle(dir, "ycor", 16, false);
        },
        Vec::new(),
    );
    assert!(h.query_by_label("Random style (dice)").is_none());
    assert!(h.query_by_label("Style from photo…").is_none());
    assert!(h
        .query_by_label(scenepaint::app::preview::STYLE_COLOURS_LABEL)
        .is_none());
    drop(h);

    let (h, _weights) = style_harness(
        |dir| {
            write_tiny_bundle_with(dir, "ycor", 16, true, false);
        },
        Vec::new(),
    );
    h.get_by_label("Random style (dice)");
    // No encoder: the photo button stays in its place, disabled, its tooltip saying why.
    let button = h.get_by_label("Style from photo…");
    use egui_kittest::kittest::NodeT as _;
    assert!(
        button.accesskit_node().is_disabled(),
        "no encoder: no photo styles"
    );
}

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

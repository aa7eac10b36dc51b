//! The translation engine without the UI: latest-wins, throttle, pause, style, shutdown; and every class of a painted scene reaching the preview.
use super::*;

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

//! The style controls: dice, lock, recent styles, style from a photo, and models without styles.
use super::*;

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

//! A SPADE VAE checkpoint with its style encoder beside it: bundled together, and style from a photo follows the photo.
use super::*;

/// A SPADE VAE checkpoint as the published repo leaves it: `latest_net_G` with its style
/// encoder `latest_net_E` beside it. `bundle` takes both, and the bundle's style from a photo
/// follows the photo.
#[test]
fn bundle_takes_the_style_encoder_beside_a_vae_generator() {
    let tmp = tempfile::tempdir().unwrap();
    let checkpoints = tmp.path().join("checkpoints/trail");
    std::fs::create_dir_all(&checkpoints).unwrap();
    let generator = checkpoints.join("latest_net_G.safetensors");
    std::fs::copy(
        reference_dir().join("spade_generator_vae.weights.safetensors"),
        &generator,
    )
    .unwrap();
    let options = tmp.path().join("opt.json");
    write_case_options("spade_generator_vae", &options, |_| {});
    let bundle = |out: &Path| bundle_spade(&generator, &options, out, &[]);
    let without = tmp.path().join("without-encoder");
    assert!(bundle(&without).status.success());
    assert!(!without.join("encoder.safetensors").exists());
    // Said at load, not at the first style photo: random styles work, photos cannot.
    let model = Model::load(&without, &Device::Cpu).unwrap();
    let why = model.style_photo_unavailable().unwrap();
    assert!(
        why.contains("encoder.safetensors") && why.contains("random styles work"),
        "{why}"
    );
    let painting = tmp.path().join("painting.png");
    let coco = Palette::builtin("coco-stuff").unwrap();
    write_colour_png(&painting, &LabelMap::new(64, 64, 0), &coco).unwrap();
    let never_written = Path::new("/dev/null/never-written.png");
    let run = translate(
        &without,
        &painting,
        never_written,
        &["--style", arg(&painting)],
    );
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        !run.status.success() && err.contains("--style") && err.contains("use_vae"),
        "{err}"
    );

    // The reference encoder case runs at crop_size 256 (6 layers, fc from 4x4): it does not
    // fit this 128-pixel generator's encoder (5 layers, fc from 8x8), and bundle says so.
    let encoder = checkpoints.join("latest_net_E.safetensors");
    std::fs::copy(
        reference_dir().join("spade_encoder.weights.safetensors"),
        &encoder,
    )
    .unwrap();
    let run = bundle(&tmp.path().join("mismatched"));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        !run.status.success() && stderr.contains("latest_net_E") && stderr.contains("fc_mu"),
        "{stderr}"
    );
    // An encoder of the generator's own options (random weights) is taken.
    let published: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&options).unwrap()).unwrap();
    let spade = scenepaint::nets::spade_options::SpadeOptions::from_json(&published).unwrap();
    let varmap = candle_nn::VarMap::new();
    let vb = candle_nn::VarBuilder::from_varmap(&varmap, candle_core::DType::F32, &Device::Cpu);
    scenepaint::nets::spade_encoder::ConvEncoder::new(&spade, vb).unwrap();
    for var in varmap.all_vars() {
        let random = Tensor::randn(0f32, 0.2, var.shape(), &Device::Cpu).unwrap();
        var.set(&random).unwrap();
    }
    varmap.save(&encoder).unwrap();
    let out = tmp.path().join("with-encoder");
    let run = bundle(&out);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success() && stdout.contains("latest_net_E"),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let model = Model::load(&out, &Device::Cpu).unwrap();
    assert!(model.has_encoder() && model.uses_style());
    let mut map = LabelMap::new(128, 64, 1);
    for y in 0..20 {
        for x in 0..128 {
            map.set(x, y, 4);
        }
    }
    let style = |colour: [u8; 3], generator_colours| TranslateOptions {
        seed: 0,
        style: Some(
            image::RgbImage::from_fn(96, 64, |x, y| {
                let shade = ((x + y) % 32) as u8 * 4;
                image::Rgb([colour[0] / 2 + shade, colour[1] / 2 + shade, colour[2] / 2])
            })
            .into(),
        ),
        generator_colours,
    };
    // Through the encoder alone (the generator's colours).
    let reddish = model.translate(&map, &style([240, 20, 20], true)).unwrap();
    let bluish = model.translate(&map, &style([20, 20, 240], true)).unwrap();
    assert_eq!(reddish.dimensions(), (128, 64));
    assert_ne!(reddish, bluish, "the photo's style reaches the image");
    // With the style's colours (no style_colours.json needed for a photo): the image takes
    // the photo's tint.
    let [red_r, _, red_b] =
        mean_colour(&model.translate(&map, &style([240, 20, 20], false)).unwrap());
    let [blue_r, _, blue_b] =
        mean_colour(&model.translate(&map, &style([20, 20, 240], false)).unwrap());
    assert!(
        red_r - red_b > 0.15 && blue_b - blue_r > 0.15,
        "reddish style: r {red_r:.3} b {red_b:.3}; bluish: r {blue_r:.3} b {blue_b:.3}"
    );

    // A bank of two photos' colours: random styles take one of them, drawn by the seed;
    // translate's --generator-colours keeps the network's own.
    let stats = |rgb: [u8; 3]| ColourStats {
        std: [0.3, 0.1, 0.1],
        ..ColourStats::of_photo(&image::RgbImage::from_pixel(4, 4, image::Rgb(rgb))).unwrap()
    };
    let (red, blue) = (stats([200, 60, 40]), stats([40, 60, 200]));
    let bank = StyleColours {
        space: "test".into(),
        photos: [("red", red), ("blue", blue)]
            .map(|(key, stats)| PhotoColours {
                key: key.into(),
                stats,
            })
            .to_vec(),
    };
    bank.write(&out).unwrap();
    let model = Model::load(&out, &Device::Cpu).unwrap();
    assert!(model.has_style_colours());
    let seed_for = |wanted: &ColourStats| {
        (0..64)
            .find(|&seed| bank.for_seed(seed) == Some(wanted))
            .unwrap()
    };
    let seeded = |seed, generator_colours| TranslateOptions {
        seed,
        style: None,
        generator_colours,
    };
    let red_seed = seed_for(&red);
    let red_image = model.translate(&map, &seeded(red_seed, false)).unwrap();
    let [r, _, b] = mean_colour(&red_image);
    let [blue_r, _, blue_b] = mean_colour(
        &model
            .translate(&map, &seeded(seed_for(&blue), false))
            .unwrap(),
    );
    assert!(
        r - b > 0.15 && blue_b - blue_r > 0.15,
        "red seed: r {r:.3} b {b:.3}; blue seed: r {blue_r:.3} b {blue_b:.3}"
    );
    let painting = tmp.path().join("trail.png");
    write_colour_png(&painting, &map, &model.palette).unwrap();
    let red_seed_arg = red_seed.to_string();
    for (extra, generator_colours) in [(None, false), (Some("--generator-colours"), true)] {
        let written = tmp.path().join(format!("seeded-{generator_colours}.png"));
        let mut args = vec!["--seed", red_seed_arg.as_str()];
        args.extend(extra);
        let run = translate(&out, &painting, &written, &args);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let expected = model
            .translate(&map, &seeded(red_seed, generator_colours))
            .unwrap();
        assert_eq!(
            image::open(&written).unwrap().to_rgb8(),
            expected,
            "{extra:?}"
        );
    }
    assert_ne!(
        red_image,
        model.translate(&map, &seeded(red_seed, true)).unwrap(),
        "the bank's colours change the image"
    );

    // A generator without a VAE has no use for an encoder: said, not ignored.
    let plain = reference_dir().join("spade_generator_seg.weights.safetensors");
    let plain_options = tmp.path().join("plain.json");
    write_case_options("spade_generator_seg", &plain_options, |_| {});
    let run = bundle_spade(
        &plain,
        &plain_options,
        &tmp.path().join("wrong"),
        &["--encoder", arg(&encoder)],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        !run.status.success() && stderr.contains("use_vae"),
        "{stderr}"
    );
}

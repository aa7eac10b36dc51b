//! End to end: a tiny random-weight bundle in a temp dir, label maps written as colour PNGs, the
//! `translate` subcommand on a file and on a directory; `bundle` from a published-format `.pth`.
#![allow(clippy::unwrap_used)] // a test that cannot go on fails; the panic is the report
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::{Device, Tensor};
use scenepaint::eval::style::mean_colour;
use scenepaint::labelmap::{write_colour_png, write_index_png, LabelMap};
use scenepaint::labels::Palette;
use scenepaint::nets::bundle::{
    write_bundle, Generator, Model, ModelManifest, NetKind, PaletteRef, TranslateOptions,
    FORMAT_VERSION,
};
use scenepaint::nets::encoding::InputEncoding;
use scenepaint::nets::style_colours::{ColourStats, PhotoColours, StyleColours};

fn scenepaint(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_scenepaint"))
        .args(args)
        .output()
        .expect("run scenepaint")
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `scenepaint translate --model BUNDLE --input INPUT --output OUTPUT EXTRA...`.
fn translate(bundle: &Path, input: &Path, output: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["translate", "--model", arg(bundle), "--input", arg(input)];
    args.extend(["--output", arg(output)]);
    args.extend_from_slice(extra);
    scenepaint(&args)
}

/// The options of the `pix2pixhd_global` reference checkpoint as pix2pixHD's opt.txt names
/// them (label_nc 6 + instance edges = its 7 input channels), written to `DIR/opt.json`.
fn hd_reference_options(dir: &Path) -> PathBuf {
    let options = dir.join("opt.json");
    let published = serde_json::json!({"label_nc": 6, "no_instance": false, "ngf": 8, "n_downsample_global": 3, "n_blocks_global": 3, "norm": "instance"});
    std::fs::write(&options, published.to_string()).unwrap();
    options
}

/// A pix2pixHD global generator (4x4 downsampling) with random weights for the cityscapes ids.
fn random_bundle(dir: &Path) -> Palette {
    let palette = Palette::builtin("cityscapes").unwrap();
    let classes = usize::from(palette.max_id()) + 1;
    let options = serde_json::json!({"input_nc": classes + 1, "ngf": 4, "n_downsample_global": 2, "n_blocks_global": 1});
    let (_, varmap) = Generator::random(NetKind::Pix2pixhdGlobal, &options, &Device::Cpu).unwrap();
    let tensors: HashMap<String, Tensor> = varmap
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
        .collect();
    let manifest = ModelManifest {
        format_version: FORMAT_VERSION,
        net: NetKind::Pix2pixhdGlobal,
        options,
        palette: PaletteRef {
            name: "cityscapes".into(),
            inline: None,
        },
        input_encoding: InputEncoding::one_hot(classes, true),
        training: serde_json::json!({"note": "random weights for a test"}),
    };
    write_bundle(dir, &manifest, &tensors).unwrap();
    palette
}

/// A temporary folder with a random-weight bundle (`model/`) and an empty `labels/` folder.
fn bundle_and_inputs() -> (tempfile::TempDir, PathBuf, Palette, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("model");
    let palette = random_bundle(&bundle);
    let inputs = tmp.path().join("labels");
    std::fs::create_dir_all(&inputs).unwrap();
    (tmp, bundle, palette, inputs)
}

/// A label map with a road below a sky-like band and a car, on the cityscapes ids.
fn label_map(width: u32, height: u32, car_x: u32) -> LabelMap {
    let mut map = LabelMap::new(width, height, 23); // sky
    for y in height / 2..height {
        for x in 0..width {
            map.set(x, y, 7); // road
        }
    }
    for y in height / 2 - 2..height / 2 + 3 {
        for x in car_x..car_x + 6 {
            map.set(x, y, 26); // car
        }
    }
    map
}

#[test]
fn translate_turns_label_pngs_into_images_of_the_same_size() {
    let (tmp, bundle, palette, inputs) = bundle_and_inputs();
    let maps = [
        ("a.png", label_map(40, 22, 3)),
        ("b.png", label_map(32, 32, 20)),
    ];
    for (name, map) in &maps {
        write_colour_png(inputs.join(name), map, &palette).unwrap();
    }

    let outputs = tmp.path().join("photos");
    let run = translate(&bundle, &inputs, &outputs, &[]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    let model = Model::load(&bundle, &Device::Cpu).unwrap();
    let mut images = Vec::new();
    for (name, map) in &maps {
        let image = image::open(outputs.join(name)).unwrap().to_rgb8();
        assert_eq!(image.dimensions(), (map.width, map.height), "{name}");
        // The CLI runs the library's translation: same pixels.
        let direct = model.translate(map, &TranslateOptions::default()).unwrap();
        assert_eq!(image.as_raw(), direct.as_raw(), "{name}");
        images.push(image);
    }
    let first = &images[0];
    assert!(
        first.pixels().any(|p| p != first.get_pixel(0, 0)),
        "output is one flat colour"
    );

    let single: PathBuf = tmp.path().join("single.png");
    let run = translate(&bundle, &inputs.join("b.png"), &single, &[]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        image::open(&single).unwrap().to_rgb8().as_raw(),
        images[1].as_raw()
    );

    let run = translate(&bundle, &inputs, &outputs, &["--style", arg(&single)]);
    assert!(
        !run.status.success(),
        "--style on a model without an encoder must fail"
    );
}

fn reference_dir() -> PathBuf {
    std::env::var_os("SCENEPAINT_REFERENCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/reference"))
        })
}

/// The published options of the reference case `case`, written as JSON to `path`.
fn write_case_options(case: &str, path: &Path, change: impl FnOnce(&mut serde_json::Value)) {
    let file = reference_dir().join(format!("{case}.json"));
    let case: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let mut options = case["options"].clone();
    change(&mut options);
    std::fs::write(path, options.to_string()).unwrap();
}

/// `scenepaint bundle` of a SPADE checkpoint with the COCO-Stuff palette, plus `extra`.
fn bundle_spade(pth: &Path, options: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "bundle",
        "--pth",
        arg(pth),
        "--net",
        "spade",
        "--options",
        arg(options),
        "--palette",
        "coco-stuff",
        "--out",
        arg(out),
    ];
    args.extend_from_slice(extra);
    scenepaint(&args)
}

/// `scenepaint bundle` of a pix2pixHD global checkpoint with the Cityscapes palette.
fn bundle_hd_global(pth: &Path, options: &Path, out: &Path) -> std::process::Output {
    scenepaint(&[
        "bundle",
        "--pth",
        arg(pth),
        "--net",
        "pix2pixhd_global",
        "--options",
        arg(options),
        "--palette",
        "cityscapes",
        "--out",
        arg(out),
    ])
}

/// A crafted 300-byte legacy checkpoint that claims a 4 TiB storage: `bundle` exits with an
/// error naming the file (it used to ask the allocator for 4 TiB and abort).
#[test]
fn bundle_refuses_a_crafted_checkpoint_with_an_error() {
    let pth = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bombs/legacy-4tib.pth");
    assert!(pth.exists(), "{} is missing", pth.display());
    let tmp = tempfile::tempdir().unwrap();
    let options = hd_reference_options(tmp.path());
    let out = tmp.path().join("hd");
    let run = bundle_hd_global(&pth, &options, &out);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("legacy-4tib.pth") && stderr.contains("bytes of the file are left"),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing written for a refused checkpoint");
}

#[test]
fn bundle_converts_a_published_pth_and_rejects_wrong_options() {
    let pth = reference_dir().join("pix2pixhd_global.weights.pth");
    assert!(pth.exists(), "{} is missing", pth.display());
    let tmp = tempfile::tempdir().unwrap();
    let options = hd_reference_options(tmp.path());
    let out = tmp.path().join("hd");
    let run = bundle_hd_global(&pth, &options, &out);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let manifest = ModelManifest::read(&out).unwrap();
    assert_eq!(manifest.input_encoding, InputEncoding::one_hot(6, true));
    assert_eq!(manifest.options["input_nc"], 7);
    assert_eq!(manifest.options["n_blocks_global"], 3);
    let model = Model::load(&out, &Device::Cpu).unwrap();
    let mut map = LabelMap::new(24, 16, 1);
    map.set(5, 5, 4);
    let image = model.translate(&map, &TranslateOptions::default()).unwrap();
    assert_eq!(image.dimensions(), (24, 16));
    // An id beyond the model's 6 classes is refused, naming the id.
    map.set(0, 0, 7);
    let err = model
        .translate(&map, &TranslateOptions::default())
        .unwrap_err();
    assert!(err.to_string().contains("class id 7"), "{err}");

    let wrong = tmp.path().join("wrong.json");
    std::fs::write(&wrong, serde_json::json!({"label_nc": 6, "ngf": 16, "n_downsample_global": 3, "n_blocks_global": 3}).to_string()).unwrap();
    let run = scenepaint(&[
        "bundle",
        "--pth",
        arg(&pth),
        "--net",
        "pix2pixhd_global",
        "--options",
        arg(&wrong),
        "--palette",
        "cityscapes",
        "--out",
        arg(&tmp.path().join("bad")),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(
        stderr.contains("model.1.weight")
            && stderr.contains("[16, 7, 7, 7]")
            && stderr.contains("[8, 7, 7, 7]"),
        "{stderr}"
    );
}

#[test]
fn pix2pix_bundle_takes_the_colour_label_image() {
    let pth = reference_dir().join("pix2pix_unet.weights.pth");
    assert!(pth.exists(), "{} is missing", pth.display());
    let tmp = tempfile::tempdir().unwrap();
    let options = tmp.path().join("opt.json");
    // pytorch-CycleGAN-and-pix2pix names: netG unet_128 = 7 downs.
    std::fs::write(
        &options,
        serde_json::json!({"netG": "unet_128", "ngf": 8, "norm": "batch", "no_dropout": true})
            .to_string(),
    )
    .unwrap();
    let out = tmp.path().join("p2p");
    let run = scenepaint(&[
        "bundle",
        "--pth",
        arg(&pth),
        "--net",
        "pix2pix_unet",
        "--options",
        arg(&options),
        "--palette",
        "cityscapes",
        "--out",
        arg(&out),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let manifest = ModelManifest::read(&out).unwrap();
    assert_eq!(manifest.input_encoding, InputEncoding::ColourImage);
    assert_eq!(
        (
            manifest.options["num_downs"].as_u64(),
            manifest.options["use_dropout"].as_bool()
        ),
        (Some(7), Some(false))
    );
    let model = Model::load(&out, &Device::Cpu).unwrap();
    let image = model
        .translate(&label_map(100, 60, 10), &TranslateOptions::default())
        .unwrap();
    assert_eq!(image.dimensions(), (100, 60));
}

#[test]
fn spade_bundle_from_published_weights_maps_coco_unlabeled_to_the_dontcare_channel() {
    let weights = reference_dir().join("spade_generator_seg.weights.safetensors");
    assert!(weights.exists(), "{} is missing", weights.display());
    let tmp = tempfile::tempdir().unwrap();
    let options = tmp.path().join("opt.json");
    write_case_options("spade_generator_seg", &options, |published| {
        published["dataset_mode"] = "coco".into()
    });
    let out = tmp.path().join("spade");
    let run = bundle_spade(&weights, &options, &out, &[]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let manifest = ModelManifest::read(&out).unwrap();
    assert_eq!(
        manifest.input_encoding,
        InputEncoding::OneHot {
            labels: scenepaint::nets::encoding::LabelChannels {
                channels: 6,
                dontcare_id: Some(255),
                shift_down: false,
            },
            instance_edges: true,
        }
    );
    let model = Model::load(&out, &Device::Cpu).unwrap();
    let mut map = LabelMap::new(128, 128, 2);
    for x in 0..64 {
        map.set(x, 10, 255);
    }
    let image = model.translate(&map, &TranslateOptions::default()).unwrap();
    assert_eq!(image.dimensions(), (128, 128));
    map.set(0, 0, 6);
    let err = model
        .translate(&map, &TranslateOptions::default())
        .unwrap_err();
    assert!(err.to_string().contains("class id 6"), "{err}");
}

#[test]
fn bundle_reads_the_published_opt_txt_beside_the_checkpoint() {
    let weights = reference_dir().join("pix2pixhd_global.weights.pth");
    assert!(weights.exists(), "{} is missing", weights.display());
    let tmp = tempfile::tempdir().unwrap();
    let checkpoints = tmp.path().join("checkpoints/label2city");
    std::fs::create_dir_all(&checkpoints).unwrap();
    let pth = checkpoints.join("latest_net_G.pth");
    std::fs::copy(&weights, &pth).unwrap();
    // pix2pixHD's BaseOptions writes `name: value` lines between these rulers.
    std::fs::write(
        checkpoints.join("opt.txt"),
        "------------ Options -------------\ndataroot: ./datasets/cityscapes/\nlabel_nc: 6\n\
         n_blocks_global: 3\nn_downsample_global: 3\nnetG: global\nngf: 8\nno_instance: False\n\
         norm: instance\n-------------- End ----------------\n",
    )
    .unwrap();
    let out = tmp.path().join("bundle");
    let run = scenepaint(&["bundle", "--pth", arg(&pth), "--out", arg(&out)]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let manifest = ModelManifest::read(&out).unwrap();
    assert_eq!(manifest.net, NetKind::Pix2pixhdGlobal);
    assert_eq!(manifest.palette.name, "cityscapes");
    assert_eq!(manifest.input_encoding, InputEncoding::one_hot(6, true));
    let model = Model::load(&out, &Device::Cpu).unwrap();
    let mut map = LabelMap::new(64, 32, 2);
    for x in 10..30 {
        map.set(x, 20, 5);
    }
    let image = model.translate(&map, &TranslateOptions::default()).unwrap();
    assert_eq!(image.dimensions(), (64, 32));

    std::fs::remove_file(checkpoints.join("opt.txt")).unwrap();
    let out = tmp.path().join("bundle without options");
    let run = scenepaint(&["bundle", "--pth", arg(&pth), "--out", arg(&out)]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        !run.status.success() && stderr.contains("opt.txt"),
        "{stderr}"
    );
}

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

#[test]
fn translate_never_writes_over_its_inputs_and_overwrites_outputs_only_with_force() {
    let (tmp, bundle, palette, inputs) = bundle_and_inputs();
    let label = inputs.join("a.png");
    write_colour_png(&label, &label_map(32, 32, 3), &palette).unwrap();
    let original = std::fs::read(&label).unwrap();
    let translate =
        |input: &Path, output: &Path, extra: &[&str]| translate(&bundle, input, output, extra);
    // The same file, the same folder (even with --force): refused, the label map kept.
    for (input, output) in [(&label, &label), (&inputs, &inputs)] {
        let run = translate(input, output, &["--force"]);
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "translate over its input succeeded");
        assert!(err.contains("would overwrite the input"), "{err}");
        assert_eq!(
            std::fs::read(&label).unwrap(),
            original,
            "the label map changed"
        );
    }
    // An existing output: refused without --force, replaced with it.
    let photo = tmp.path().join("photo.png");
    std::fs::write(&photo, b"keep me").unwrap();
    let run = translate(&label, &photo, &[]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read(&photo).unwrap(), b"keep me");
    let run = translate(&label, &photo, &["--force"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(image::open(&photo).unwrap().width(), 32);
}

#[test]
fn bundle_refuses_an_existing_bundle_folder_unless_forced() {
    let pth = reference_dir().join("pix2pixhd_global.weights.pth");
    assert!(pth.exists(), "{} is missing", pth.display());
    let tmp = tempfile::tempdir().unwrap();
    let options = hd_reference_options(tmp.path());
    let out = tmp.path().join("hd");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("model.json"), b"an earlier bundle").unwrap();
    let bundle = |extra: &[&str]| {
        let mut args = vec!["bundle", "--pth", arg(&pth), "--net", "pix2pixhd_global"];
        args.extend([
            "--options",
            arg(&options),
            "--palette",
            "cityscapes",
            "--out",
            arg(&out),
        ]);
        args.extend_from_slice(extra);
        scenepaint(&args)
    };
    let run = bundle(&[]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && err.contains("--force"), "{err}");
    assert_eq!(
        std::fs::read(out.join("model.json")).unwrap(),
        b"an earlier bundle"
    );
    let run = bundle(&["--force"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(Model::load(&out, &Device::Cpu).is_ok());
}

#[test]
fn huge_claimed_images_and_unbounded_sizes_are_clear_errors_not_aborts() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("model");
    random_bundle(&bundle);
    let bombs = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bombs");
    let out = tmp.path().join("out.png");
    let run = translate(&bundle, &bombs.join("gray-100000x100000.png"), &out, &[]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{err}");
    assert!(
        err.contains("100000x100000") && err.contains("refused before decoding"),
        "{err}"
    );
    assert!(!out.exists());
    let run = scenepaint(&[
        "dataset",
        "prepare",
        arg(tmp.path()),
        "--size",
        "100000x100000",
        "--out",
        arg(&tmp.path().join("copy")),
    ]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{err}");
    assert!(err.contains("1 to 8192"), "{err}");
    let run = scenepaint(&[
        "validate",
        "--model",
        arg(&bundle),
        "--data",
        arg(tmp.path()),
        "--tile-width",
        "100000",
    ]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && err.contains("16..=2048"), "{err}");
}

/// A real 8000x8000 label map is refused clearly, before decoding, by the shipped pix2pix
/// and SPADE models alike (it used to reach a pix2pix U-Net at full size).
#[test]
fn an_8000_pixel_label_map_is_refused_the_same_way_by_every_family() {
    let map = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bombs/gray-8000x8000.png");
    assert!(map.exists(), "{} is missing", map.display());
    let tmp = tempfile::tempdir().unwrap();
    for model in ["ycor-pix2pix", "ycor-spade"] {
        let bundle = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("weights")
            .join(model);
        let out = tmp.path().join(format!("{model}.png"));
        let run = translate(&bundle, &map, &out, &[]);
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{model}: {err}");
        assert!(
            err.contains("gray-8000x8000.png")
                && err.contains("8000x8000")
                && err.contains("limit is 1 to 4096"),
            "{model}: {err}"
        );
        assert!(!out.exists(), "{model}");
    }
}

#[test]
fn a_folder_translates_every_good_file_and_reports_the_bad_ones() {
    let (tmp, bundle, palette, inputs) = bundle_and_inputs();
    write_colour_png(inputs.join("a.png"), &label_map(32, 32, 3), &palette).unwrap();
    std::fs::write(inputs.join("b.png"), b"not a png").unwrap();
    write_colour_png(inputs.join("c.png"), &label_map(32, 32, 9), &palette).unwrap();
    let outputs = tmp.path().join("photos");
    let run = translate(&bundle, &inputs, &outputs, &[]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{err}");
    assert!(
        err.contains("1 of 3 label map(s)") && err.contains("b.png"),
        "{err}"
    );
    assert!(outputs.join("a.png").exists() && outputs.join("c.png").exists());
    assert!(!outputs.join("b.png").exists());
}

#[test]
fn bundles_with_non_finite_weights_are_refused_at_load() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("model");
    random_bundle(&bundle);
    let path = bundle.join("generator.safetensors");
    let mut tensors = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    let name = tensors.keys().min().unwrap().clone();
    let shape = tensors[&name].shape().clone();
    let mut values = vec![0.5f32; shape.elem_count()];
    values[0] = f32::NAN;
    tensors.insert(
        name.clone(),
        Tensor::from_vec(values, shape, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&tensors, &path).unwrap();
    let err = Model::load(&bundle, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains(&name) && err.contains("1 NaN or infinite"),
        "{err}"
    );
}

/// The common slips name the file and what is wrong once: a missing model folder, the folder
/// of shipped models instead of one of them, a missing label map, a missing checkpoint.
#[test]
fn mistyped_paths_get_one_clear_message_each() {
    let tmp = tempfile::tempdir().unwrap();
    let weights = Path::new(env!("CARGO_MANIFEST_DIR")).join("weights");
    let map = tmp.path().join("map.png");
    write_index_png(&map, &label_map(16, 16, 3)).unwrap();
    let out = tmp.path().join("out.png");
    let stderr = |run: std::process::Output| {
        assert_eq!(run.status.code(), Some(1));
        String::from_utf8_lossy(&run.stderr).into_owned()
    };
    let err = stderr(translate(&tmp.path().join("nope"), &map, &out, &[]));
    assert!(err.contains("nope: no such model folder"), "{err}");
    let err = stderr(translate(&weights, &map, &out, &[]));
    assert!(
        err.contains("not a model bundle") && err.contains("ycor-pix2pix, ycor-spade"),
        "{err}"
    );
    let missing = tmp.path().join("missing.png");
    let err = stderr(translate(&weights.join("ycor-spade"), &missing, &out, &[]));
    assert!(err.contains("missing.png"), "{err}");
    let os_error = err.matches("os error").count();
    assert_eq!(os_error, 1, "the cause once, not repeated: {err}");
    let err = stderr(scenepaint(&[
        "bundle",
        "--pth",
        arg(&tmp.path().join("latest_net_G.pth")),
        "--out",
        arg(&tmp.path().join("b")),
    ]));
    assert!(
        err.contains("latest_net_G.pth: no such checkpoint file"),
        "{err}"
    );
}

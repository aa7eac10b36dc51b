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

mod published;
mod refusals;
mod vae;

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

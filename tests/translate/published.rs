//! Published checkpoints become bundles: a crafted file refused, pix2pixHD, pix2pix and SPADE (COCO-Stuff's unlabeled class) converted, opt.txt read beside the checkpoint.
use super::*;

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

//! What translate and bundle refuse or report: their own inputs, existing outputs without --force, huge claimed images, non-finite weights, bad files in a folder, mistyped paths.
use super::*;

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

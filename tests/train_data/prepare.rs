//! dataset prepare: a resized copy with the same layout, outputs it refuses, and labels at another resolution or of another shape.
use super::*;

#[test]
fn prepare_writes_a_resized_copy_with_the_same_layout() {
    let out = tempfile::tempdir().unwrap();
    let written = inspect::prepare(
        &shared("datasets/cityscapes_sample"),
        out.path(),
        (128, 64),
        None,
        false,
    )
    .unwrap();
    assert_eq!(written, 2);
    let copy = Dataset::open(out.path(), None).unwrap();
    assert_eq!((copy.layout, copy.len()), (Layout::Cityscapes, 2));
    assert!(copy.has_instances());
    let report = inspect::inspect(out.path(), None).unwrap();
    assert_eq!(
        report.sizes.keys().copied().collect::<Vec<_>>(),
        vec![(128, 64)]
    );
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    // Nearest resizing keeps only ids that were in the original.
    let original = inspect::inspect(&shared("datasets/cityscapes_sample"), None).unwrap();
    assert!(report
        .class_pixels
        .keys()
        .all(|id| original.class_pixels.contains_key(id)));
}

#[test]
fn prepare_refuses_an_output_inside_its_input_and_a_full_folder_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let source = shared("datasets/cityscapes_sample");
    let sample = Dataset::open(&source, None).unwrap();
    let originals: Vec<(PathBuf, Vec<u8>)> = [&sample.pairs[0].image, &sample.pairs[0].label]
        .iter()
        .map(|p| (p.to_path_buf(), std::fs::read(p).unwrap()))
        .collect();
    // The dataset itself and a folder inside it: the photos would be replaced.
    for out in [source.clone(), source.join("resized")] {
        let err = inspect::prepare(&source, &out, (64, 32), None, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("overlaps the input"), "{err}");
        assert!(!source.join("resized").exists());
    }
    for (path, bytes) in &originals {
        assert_eq!(&std::fs::read(path).unwrap(), bytes, "{}", path.display());
    }
    // A folder that already holds something: only with force.
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let err = inspect::prepare(&source, &out, (64, 32), None, false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("--force"), "{err}");
    assert!(inspect::prepare(&source, &out, (64, 32), None, true).unwrap() > 0);
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).unwrap(),
        "mine"
    );
}

/// `dir/images/<stem>.png` of `photo` pixels and `dir/labels/<stem>.png` of `label` pixels, the
/// label's left half class 1 and right half class 7, the photo's left half dark and right
/// half light.
fn write_halves(dir: &Path, stem: &str, (pw, ph): (u32, u32), (lw, lh): (u32, u32)) {
    std::fs::create_dir_all(dir.join("images")).unwrap();
    std::fs::create_dir_all(dir.join("labels")).unwrap();
    image::RgbImage::from_fn(pw, ph, |x, _| {
        image::Rgb(if x < pw / 2 { [20; 3] } else { [230; 3] })
    })
    .save(dir.join(format!("images/{stem}.png")))
    .unwrap();
    image::GrayImage::from_fn(lw, lh, |x, _| image::Luma([if x < lw / 2 { 1 } else { 7 }]))
        .save(dir.join(format!("labels/{stem}.png")))
        .unwrap();
}

#[test]
fn prepare_resizes_labels_at_another_resolution_and_refuses_another_shape() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("data");
    // Labels shipped at half the photo's resolution: the same shape.
    write_halves(&source, "half", (32, 16), (16, 8));
    let report = inspect::inspect(&source, ycor()).unwrap();
    let why: Vec<&String> = report.problems.iter().map(|(_, why)| why).collect();
    assert_eq!(why.len(), 1, "{why:?}");
    assert!(
        why[0].contains("16x8 but its photo is 32x16 (the same shape: `dataset prepare`"),
        "{why:?}"
    );
    let out = dir.path().join("prepared");
    assert_eq!(
        inspect::prepare(&source, &out, (24, 12), ycor(), false).unwrap(),
        1
    );
    let report = inspect::inspect(&out, ycor()).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let labels = image::open(out.join("labels/half.png")).unwrap().to_luma8();
    let photo = image::open(out.join("images/half.png")).unwrap().to_rgb8();
    assert_eq!(
        (labels.dimensions(), photo.dimensions()),
        ((24, 12), (24, 12))
    );
    // Still aligned: class 1 over the dark half, class 7 over the light half.
    for (x, class, shade) in [(2, 1, 20), (21, 7, 230)] {
        assert_eq!(labels.get_pixel(x, 5).0[0], class);
        assert_eq!(photo.get_pixel(x, 5).0[0], shade);
    }

    // A label map of another shape is another crop: nothing is written.
    write_halves(&source, "crop", (32, 16), (16, 16));
    let out = dir.path().join("refused");
    let err = inspect::prepare(&source, &out, (24, 12), ycor(), false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("crop.png")
            && err.contains("label map is 16x16 but its photo is 32x16, another shape")
            && err.contains("nothing was written"),
        "{err}"
    );
    assert!(!out.join("images").exists() && !out.join("labels").exists());
}

//! Training data: layout detection on the shared samples, shared augmentation, batches, the
//! inspect report, the prepared copy, and bad data rejected with the file named.
#![allow(clippy::unwrap_used)] // a test that cannot go on fails; the panic is the report
use std::path::{Path, PathBuf};

use candle_core::Device;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use scenepaint::labels::Palette;
use scenepaint::train::data::{inspect, Augment, Dataset, Layout};

fn shared(sub: &str) -> PathBuf {
    let dir = std::env::var("SCENEPAINT_SHARED")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../shared").into());
    let path = PathBuf::from(dir).join(sub);
    assert!(path.exists(), "shared data missing: {}", path.display());
    path
}

fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(3)
}

#[test]
fn ycor_is_detected_and_batches_hold_its_nine_classes() {
    let data = Dataset::open(&shared("datasets/ycor"), None).unwrap();
    assert_eq!(
        (data.layout, data.len(), data.palette.name.as_str()),
        (Layout::Ycor, 466, "ycor")
    );
    assert_eq!(
        (
            data.label_channels.label_nc(),
            data.label_channels.contains_dontcare()
        ),
        (9, false)
    );
    assert!(!data.has_instances());
    let aug = Augment {
        load_width: 72,
        load_height: 72,
        crop_width: 64,
        crop_height: 64,
        flip: true,
    };
    let batch = data.batch(&[0, 5], &aug, &mut rng(), &Device::Cpu).unwrap();
    assert_eq!(batch.label.dims(), &[2, 1, 64, 64]);
    assert_eq!(batch.photo.dims(), &[2, 3, 64, 64]);
    let ids = batch.label.flatten_all().unwrap().to_vec1::<u32>().unwrap();
    assert!(ids.iter().all(|&id| id < 9));
    assert!(
        ids.iter().any(|&id| id != ids[0]),
        "a real scene has several classes"
    );
    let photo = batch.photo.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert!(photo.iter().all(|v| (-1.0..=1.0).contains(v)));
}

#[test]
fn coco_stuff_maps_unlabeled_255_to_the_dont_care_channel() {
    let data = Dataset::open(&shared("datasets/coco_stuff_sample"), None).unwrap();
    assert_eq!((data.layout, data.len()), (Layout::CocoStuff, 13));
    assert!(data.has_instances());
    assert_eq!(
        (data.label_channels.label_nc(), data.label_channels.channels),
        (182, 183)
    );
    assert_eq!(data.label_channels.channel(255), Some(182));
    assert_eq!(data.label_channels.raw_id(182), 255);
    let aug = Augment::resize_only(64, 64, false);
    let batch = data.batch(&[0], &aug, &mut rng(), &Device::Cpu).unwrap();
    assert!(batch.instance.is_some());
    let max = batch.label.max_all().unwrap().to_scalar::<u32>().unwrap();
    assert!(max <= 182);
}

#[test]
fn cityscapes_pairs_left_img8bit_with_gtfine_label_and_instance_ids() {
    let data = Dataset::open(&shared("datasets/cityscapes_sample"), None).unwrap();
    assert_eq!((data.layout, data.len()), (Layout::Cityscapes, 2));
    assert_eq!(data.label_channels.label_nc(), 35);
    let pair = &data.pairs[0];
    assert!(pair.label.to_string_lossy().contains("_gtFine_labelIds"));
    assert!(pair
        .instance
        .as_ref()
        .unwrap()
        .to_string_lossy()
        .contains("_gtFine_instanceIds"));
    let aug = Augment::resize_only(128, 64, false);
    let batch = data.batch(&[0], &aug, &mut rng(), &Device::Cpu).unwrap();
    // 16-bit instanceIds: object instances are label * 1000 + n.
    let inst = batch
        .instance
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<u32>()
        .unwrap();
    assert!(inst > 1000, "instance ids {inst}");
}

/// Cityscapes as its site distributes it: `leftImg8bit/train/CITY/` and `gtFine/train/CITY/`
/// (the color and polygon files beside the ids are not labels).
#[test]
fn cityscapes_as_distributed_pairs_across_the_two_trees() {
    let sample = shared("datasets/cityscapes_sample");
    let root = tempfile::tempdir().unwrap();
    let (images, labels) = (
        root.path().join("leftImg8bit/train/aachen"),
        root.path().join("gtFine/train/aachen"),
    );
    std::fs::create_dir_all(&images).unwrap();
    std::fs::create_dir_all(&labels).unwrap();
    for (from, to) in [
        ("train_img", &images),
        ("train_label", &labels),
        ("train_inst", &labels),
    ] {
        for entry in std::fs::read_dir(sample.join(from)).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
    let colour = labels.join("aachen_000000_000019_gtFine_color.png");
    image::RgbImage::new(4, 4).save(&colour).unwrap();
    let data = Dataset::open(root.path(), None).unwrap();
    assert_eq!((data.layout, data.len()), (Layout::Cityscapes, 2));
    for pair in &data.pairs {
        assert!(pair
            .label
            .to_string_lossy()
            .ends_with("_gtFine_labelIds.png"));
        assert!(pair.instance.is_some());
    }
}

/// ADE20K as distributed: `ADEChallengeData2016/images/training/*.jpg` with
/// `annotations/training/*.png`; 0 is unlabeled (the don't-care channel) and every other id
/// moves down by one, as the published loader does.
#[test]
fn ade20k_is_detected_and_its_ids_shift_down() {
    let root = tempfile::tempdir().unwrap();
    let ade = root.path().join("ADEChallengeData2016");
    let (images, labels) = (
        ade.join("images/training"),
        ade.join("annotations/training"),
    );
    std::fs::create_dir_all(&images).unwrap();
    std::fs::create_dir_all(&labels).unwrap();
    for (n, ids) in [(1, [0u8, 1, 150, 3]), (2, [5, 5, 2, 0])] {
        let stem = format!("ADE_train_{n:08}");
        image::RgbImage::from_pixel(8, 8, image::Rgb([90, 120, 60]))
            .save(images.join(format!("{stem}.jpg")))
            .unwrap();
        let plane: Vec<u8> = (0..64).map(|i| ids[i % 4]).collect();
        image::GrayImage::from_raw(8, 8, plane)
            .unwrap()
            .save(labels.join(format!("{stem}.png")))
            .unwrap();
    }
    let data = Dataset::open(root.path(), None).unwrap();
    assert_eq!((data.layout, data.len()), (Layout::Ade20k, 2));
    assert_eq!(data.palette.name, "ade20k");
    assert!(data.label_channels.shift_down);
    assert_eq!(data.label_channels.label_nc(), 150);
    let labels = data.label_channels;
    assert_eq!(labels.channel(1), Some(0), "wall (1) is channel 0");
    assert_eq!(labels.channel(150), Some(149));
    assert_eq!(
        labels.channel(0),
        Some(150),
        "unlabeled goes to the don't-care channel"
    );
    let batch = data
        .batch(
            &[0],
            &Augment::resize_only(8, 8, false),
            &mut rng(),
            &Device::Cpu,
        )
        .unwrap();
    let max = batch.label.max_all().unwrap().to_scalar::<u32>().unwrap();
    assert_eq!(max, 150);
}

/// A paired folder: `images/a.png` + `labels/a.png` of 8x8, label ids given.
fn write_pair(root: &Path, stem: &str, ids: &[u8]) {
    std::fs::create_dir_all(root.join("images")).unwrap();
    std::fs::create_dir_all(root.join("labels")).unwrap();
    image::RgbImage::from_pixel(8, 8, image::Rgb([10, 200, 30]))
        .save(root.join(format!("images/{stem}.png")))
        .unwrap();
    let plane: Vec<u8> = (0..64).map(|i| ids[i % ids.len()]).collect();
    image::GrayImage::from_raw(8, 8, plane)
        .unwrap()
        .save(root.join(format!("labels/{stem}.png")))
        .unwrap();
}

fn ycor() -> Option<Palette> {
    Some(Palette::builtin("ycor").unwrap())
}

#[test]
fn empty_and_unpaired_folders_fail_naming_the_place() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("images")).unwrap();
    std::fs::create_dir_all(dir.path().join("labels")).unwrap();
    let err = Dataset::open(dir.path(), ycor()).unwrap_err().to_string();
    assert!(
        err.contains("empty") && err.contains(&dir.path().display().to_string()),
        "{err}"
    );

    write_pair(dir.path(), "a", &[1, 2]);
    image::RgbImage::new(8, 8)
        .save(dir.path().join("images/lonely.png"))
        .unwrap();
    let err = Dataset::open(dir.path(), ycor()).unwrap_err().to_string();
    assert!(
        err.contains("lonely.png") && err.contains("without a label"),
        "{err}"
    );

    let missing = Dataset::open(&dir.path().join("nope"), ycor())
        .unwrap_err()
        .to_string();
    assert!(missing.contains("nope"), "{missing}");
}

#[test]
fn corrupt_images_and_ids_outside_the_palette_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write_pair(dir.path(), "good", &[0, 8]);
    write_pair(dir.path(), "outside", &[3, 42]);
    write_pair(dir.path(), "corrupt", &[1]);
    std::fs::write(dir.path().join("images/corrupt.png"), b"not a png at all").unwrap();
    // A photo cut off mid-file: its header is fine, its pixels are not.
    write_pair(dir.path(), "truncated", &[2]);
    let whole = std::fs::read(dir.path().join("images/truncated.png")).unwrap();
    std::fs::write(
        dir.path().join("images/truncated.png"),
        &whole[..whole.len() * 2 / 3],
    )
    .unwrap();
    let data = Dataset::open(dir.path(), ycor()).unwrap();
    let index = |stem: &str| data.pairs.iter().position(|p| p.key == stem).unwrap();
    let aug = Augment::resize_only(8, 8, false);
    assert!(data.sample(index("good"), &aug, &mut rng()).is_ok());
    let err = data
        .sample(index("outside"), &aug, &mut rng())
        .unwrap_err()
        .to_string();
    assert!(err.contains("outside.png") && err.contains("42"), "{err}");
    let err = data
        .sample(index("corrupt"), &aug, &mut rng())
        .unwrap_err()
        .to_string();
    assert!(err.contains("corrupt.png"), "{err}");

    let report = inspect::inspect(dir.path(), ycor()).unwrap();
    assert_eq!(report.pairs, 4);
    let problems: Vec<String> = report
        .problems
        .iter()
        .map(|(p, why)| format!("{}: {why}", p.display()))
        .collect();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("outside.png") && p.contains("42")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("corrupt.png")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("truncated.png")),
        "a truncated photo is found by inspect: {problems:?}"
    );
    assert_eq!(problems.len(), 3, "{problems:?}");
    let text = report.to_text(&Palette::builtin("ycor").unwrap());
    assert!(
        text.contains("sky") && text.contains("problems: 3"),
        "{text}"
    );
}

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

#[test]
fn photos_and_datasets_claiming_huge_sizes_are_refused_and_reported_by_file() {
    let bomb =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bombs/rgb-100000x100000.png");
    let err = scenepaint::train::data::read_photo(&bomb)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("100000x100000") && err.contains("8192"),
        "{err}"
    );
    // In a dataset: `inspect` names the file instead of aborting on a 30 GB allocation.
    let tmp = tempfile::tempdir().unwrap();
    for dir in ["images", "labels"] {
        std::fs::create_dir_all(tmp.path().join(dir)).unwrap();
    }
    std::fs::copy(&bomb, tmp.path().join("images/a.png")).unwrap();
    let label = scenepaint::labelmap::LabelMap::new(8, 8, 1);
    scenepaint::labelmap::write_index_png(tmp.path().join("labels/a.png"), &label).unwrap();
    let report = inspect::inspect(tmp.path(), None).unwrap();
    let problem = report
        .problems
        .iter()
        .find(|(path, _)| path.ends_with("images/a.png"))
        .unwrap_or_else(|| panic!("{:?}", report.problems));
    assert!(problem.1.contains("100000x100000"), "{}", problem.1);
}

#[test]
fn a_truncated_jpeg_is_an_error_naming_the_file_not_a_grey_photo() {
    let source = shared("datasets/ycor/train/images");
    let photo = std::fs::read_dir(&source)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "jpg"))
        .unwrap();
    let bytes = std::fs::read(&photo).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole.jpg");
    let cut = tmp.path().join("cut.jpg");
    std::fs::write(&whole, &bytes).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    assert!(scenepaint::train::data::read_photo(&whole).is_ok());
    let err = scenepaint::train::data::read_photo(&cut)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cut.jpg") && err.contains("cut short"),
        "{err}"
    );
}

/// Names that are not valid UTF-8 pair by their bytes: each photo with the label map of the
/// same name, every pair listed under a distinct key (they all used to share the key "").
#[cfg(unix)]
#[test]
fn names_that_are_not_utf8_pair_by_their_bytes() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    for (i, stem) in [&b"caf\xe9"[..], b"\xff\xfe", b"\xfe\xff"]
        .iter()
        .enumerate()
    {
        let name = [*stem, b".png"].concat();
        let name = OsStr::from_bytes(&name);
        for folder in ["images", "labels"] {
            std::fs::create_dir_all(dir.path().join(folder)).unwrap();
        }
        image::RgbImage::from_pixel(8, 8, image::Rgb([i as u8 * 50, 200, 30]))
            .save(dir.path().join("images").join(name))
            .unwrap();
        image::GrayImage::from_pixel(8, 8, image::Luma([i as u8 + 1]))
            .save(dir.path().join("labels").join(name))
            .unwrap();
    }
    let dataset = Dataset::open(dir.path(), ycor()).unwrap();
    assert_eq!(dataset.len(), 3);
    let mut keys: Vec<&str> = dataset.pairs.iter().map(|p| p.key.as_str()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(keys.contains(&"caf\\xE9"), "{keys:?}");
    for pair in &dataset.pairs {
        assert_eq!(pair.image.file_name(), pair.label.file_name(), "{pair:?}");
    }
    let report = inspect::inspect(dir.path(), ycor()).unwrap();
    assert_eq!(report.problems.len(), 0, "{:?}", report.problems);
}

#[test]
fn bmp_and_webp_photos_pair_and_train_and_a_size_mismatch_names_both_sizes() {
    let dir = tempfile::tempdir().unwrap();
    for (stem, extension) in [("bitmap", "bmp"), ("web", "webp")] {
        write_pair(dir.path(), stem, &[1, 7]);
        let png = dir.path().join(format!("images/{stem}.png"));
        image::open(&png)
            .unwrap()
            .save(png.with_extension(extension))
            .unwrap();
        std::fs::remove_file(png).unwrap();
    }
    let report = inspect::inspect(dir.path(), ycor()).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let data = Dataset::open(dir.path(), ycor()).unwrap();
    assert_eq!(data.pairs.len(), 2);
    let aug = Augment::resize_only(8, 8, false);
    for index in 0..2 {
        data.sample(index, &aug, &mut rng()).unwrap();
    }

    image::RgbImage::new(8, 6)
        .save(dir.path().join("images/web.webp"))
        .unwrap();
    let report = inspect::inspect(dir.path(), ycor()).unwrap();
    let why: Vec<&String> = report.problems.iter().map(|(_, why)| why).collect();
    assert_eq!(why.len(), 1, "{:?}", report.problems);
    assert!(
        why[0].starts_with("label map is 8x8 but its photo is 8x6, another shape"),
        "{why:?}"
    );
    // Training stops at the pair with the same words and both files.
    let data = Dataset::open(dir.path(), ycor()).unwrap();
    let index = data.pairs.iter().position(|p| p.key == "web").unwrap();
    let err = data
        .sample(index, &aug, &mut rng())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("web.png") && err.contains("web.webp") && err.contains("its photo is 8x6"),
        "{err}"
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

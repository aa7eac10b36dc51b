//! Training data: layout detection on the shared samples, shared augmentation, batches, the
//! inspect report, the prepared copy, and bad data rejected with the file named.
#![allow(clippy::unwrap_used)] // a test that cannot go on fails; the panic is the report
use std::path::{Path, PathBuf};

use candle_core::Device;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use scenepaint::labels::Palette;
use scenepaint::train::data::{inspect, Augment, Dataset, Layout};

mod files;
mod prepare;

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

//! Files that must be read right or refused by name: huge claimed sizes, a truncated JPEG, names that are not UTF-8, BMP and WebP photos, a size mismatch.
use super::*;

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

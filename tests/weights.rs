//! Loading checkpoints by PyTorch name: a wrong shape, a missing tensor and a tensor the network
//! does not use are errors that name the tensor and the shapes.
#![allow(clippy::unwrap_used)] // a test that cannot go on fails; the panic is the report
use std::path::PathBuf;

use candle_core::Device;
use scenepaint::nets::pix2pixhd::{GlobalGenerator, GlobalOptions};
use scenepaint::nets::weights::load_checked;
use scenepaint::Error;

fn global_weights(ext: &str) -> PathBuf {
    let dir = std::env::var_os("SCENEPAINT_REFERENCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/reference"))
        });
    let path = dir.join(format!("pix2pixhd_global.weights.{ext}"));
    assert!(path.exists(), "{} is missing", path.display());
    path
}

fn case_options() -> GlobalOptions {
    GlobalOptions {
        input_nc: 7,
        output_nc: 3,
        ngf: 8,
        n_downsample_global: 3,
        n_blocks_global: 3,
        ..Default::default()
    }
}

fn load(path: &std::path::Path, opts: GlobalOptions) -> scenepaint::Result<GlobalGenerator> {
    load_checked(path, &Device::Cpu, |vb| GlobalGenerator::new(&opts, vb))
}

#[test]
fn matching_options_load_from_safetensors_and_pth() {
    for ext in ["safetensors", "pth"] {
        load(&global_weights(ext), case_options()).unwrap_or_else(|e| panic!("{ext}: {e}"));
    }
}

#[test]
fn a_misshaped_tensor_names_the_tensor_and_both_shapes() {
    let path = global_weights("pth");
    let err = load(
        &path,
        GlobalOptions {
            ngf: 16,
            ..case_options()
        },
    )
    .unwrap_err();
    match &err {
        Error::TensorShape {
            name,
            expected,
            found,
            ..
        } => {
            assert_eq!(name, "model.1.weight");
            assert_eq!(expected, &vec![16, 7, 7, 7]);
            assert_eq!(found, &vec![8, 7, 7, 7]);
        }
        other => panic!("expected a shape error, got {other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("model.1.weight")
            && text.contains("[16, 7, 7, 7]")
            && text.contains("[8, 7, 7, 7]"),
        "{text}"
    );
}

#[test]
fn a_missing_tensor_is_named_with_its_expected_shape() {
    let path = global_weights("safetensors");
    let err = load(
        &path,
        GlobalOptions {
            n_blocks_global: 4,
            ..case_options()
        },
    )
    .unwrap_err();
    match err {
        Error::MissingTensor {
            name,
            expected,
            missing_count,
            ..
        } => {
            // The 4th block takes index 16, where the file has the first up-convolution.
            assert!(name.starts_with("model.16.conv_block"), "{name}");
            assert_eq!(expected, vec![64, 64, 3, 3]);
            assert!(missing_count >= 1);
        }
        other => panic!("expected a missing-tensor error, got {other}"),
    }
}

#[test]
fn unused_tensors_are_reported() {
    use std::collections::HashMap;
    let zeros =
        |n: usize| candle_core::Tensor::zeros(n, candle_core::DType::F32, &Device::Cpu).unwrap();
    let found = HashMap::from([
        ("a".to_string(), zeros(2)),
        ("b.weight".to_string(), zeros(3)),
    ]);
    let expected = vec![("a".to_string(), vec![2])];
    let err =
        scenepaint::nets::weights::check_layout(std::path::Path::new("x.pth"), &expected, &found)
            .unwrap_err();
    match err {
        Error::UnexpectedTensors { count, first, .. } => {
            assert_eq!((count, first.as_str()), (1, "b.weight"))
        }
        other => panic!("expected an unused-tensor error, got {other}"),
    }
    let found = HashMap::from([("a".to_string(), zeros(2))]);
    scenepaint::nets::weights::check_layout(std::path::Path::new("x.pth"), &expected, &found)
        .unwrap();
}

fn reference_file(name: &str) -> PathBuf {
    let path = global_weights("safetensors").with_file_name(name);
    assert!(path.exists(), "{} is missing", path.display());
    path
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pth")).join(name)
}

/// Every tensor of `pth` equals the same-named tensor of `safetensors`, bit for bit.
fn assert_same_tensors(pth: &std::path::Path, safetensors: &std::path::Path) -> usize {
    use scenepaint::nets::weights::read_tensors;
    let from_pth = read_tensors(pth).unwrap_or_else(|e| panic!("{}: {e}", pth.display()));
    let expected = read_tensors(safetensors).unwrap();
    let mut names: Vec<&String> = expected.keys().collect();
    names.sort();
    let mut found: Vec<&String> = from_pth.keys().collect();
    found.sort();
    assert_eq!(found, names, "{}", pth.display());
    for name in names {
        let (a, b) = (&from_pth[name], &expected[name]);
        assert_eq!(a.dims(), b.dims(), "{name}");
        assert_eq!(a.dtype(), b.dtype(), "{name}");
        let as_f64 = |t: &candle_core::Tensor| {
            t.to_dtype(candle_core::DType::F64)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f64>()
                .unwrap()
        };
        assert_eq!(as_f64(a), as_f64(b), "{name} differs in {}", pth.display());
    }
    expected.len()
}

/// Checkpoints PyTorch wrote in its legacy (pre-1.6, non-zip) format, as the published SPADE
/// and pix2pixHD checkpoints are (fixtures from `scripts/make_pth_fixtures.py`), and a zip-format
/// one with spectral norm's `weight_orig`/`weight_u`/`weight_v`.
#[test]
fn legacy_and_zip_pth_checkpoints_read_the_same_tensors_as_safetensors() {
    use scenepaint::nets::legacy_pth::is_legacy_pth;
    let global = reference_file("pix2pixhd_global.weights.safetensors");
    let legacy = fixture("pix2pixhd_global.legacy.pth");
    assert!(is_legacy_pth(&legacy).unwrap());
    assert!(
        !is_legacy_pth(&global_weights("pth")).unwrap(),
        "zip is not legacy"
    );
    assert_eq!(assert_same_tensors(&legacy, &global), 28);
    load(&legacy, case_options()).unwrap();

    let spade_d = reference_file("spade_discriminator.weights.safetensors");
    for name in [
        "spade_discriminator.legacy.pth",
        "spade_discriminator.zip.pth",
    ] {
        let count = assert_same_tensors(&fixture(name), &spade_d);
        assert!(count > 20, "{name}: {count} tensors");
    }
    let names = scenepaint::nets::weights::read_tensors(&fixture("spade_discriminator.legacy.pth"))
        .unwrap();
    assert!(names.keys().any(|n| n.ends_with("weight_orig")));
    assert!(names.keys().any(|n| n.ends_with("weight_u")));
}

#[test]
fn a_truncated_legacy_checkpoint_names_the_file_and_the_storage() {
    let whole = std::fs::read(fixture("pix2pixhd_global.legacy.pth")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("latest_net_G.pth");
    std::fs::write(&cut, &whole[..whole.len() - 1000]).unwrap();
    let err = scenepaint::nets::weights::read_tensors(&cut)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("latest_net_G.pth") && err.contains("storage"),
        "{err}"
    );
}

fn bomb(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bombs")).join(name)
}

/// Crafted checkpoints of a few hundred bytes (`scripts/make_bomb_fixtures.py`) whose counts
/// and shapes claim terabytes: each is refused with the file's name and the claim, before
/// anything of that size is allocated (an allocation would abort the process, not return).
#[test]
fn crafted_checkpoints_are_refused_before_allocating_what_they_claim() {
    let cases = [
        ("legacy-4tib.pth", "claims 1099511627776 elements"),
        ("legacy-overflow.pth", "claims 4611686018427387904 elements"),
        (
            "zip-4tib.pth",
            "shape [1048576, 1048576] needs 4398046511104 bytes",
        ),
        (
            "legacy-string-4gib.pth",
            "BINUNICODE at byte 2 claims 4294967295 bytes",
        ),
        (
            "zip-string-4gib.pth",
            "BINUNICODE at byte 2 claims 4294967295 bytes",
        ),
    ];
    for (name, expected) in cases {
        let path = bomb(name);
        assert!(path.exists(), "{} is missing", path.display());
        let err = scenepaint::nets::weights::read_tensors(&path)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(name) && err.contains(expected),
            "{name}: {err}"
        );
    }
}

//! Loading checkpoints by PyTorch name: a wrong shape, a missing tensor and a tensor the network
//! does not use are errors that name the tensor and the shapes.
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

fn load(path: &PathBuf, opts: GlobalOptions) -> scenepaint::Result<GlobalGenerator> {
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
    .err()
    .expect("ngf 16 must not load");
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
    .err()
    .expect("4 blocks must not load");
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

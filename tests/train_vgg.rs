//! The perceptual loss on the VGG16 weights (shipped in `weights/vgg16/`, the same file as `../shared/weights/`; Caffe BGR input).
#![allow(clippy::unwrap_used)] // a test that cannot go on fails; the panic is the report
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor, Var};
use scenepaint::train::vgg::{Vgg, VggInput};

fn shared() -> PathBuf {
    let dir = std::env::var("SCENEPAINT_SHARED")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../shared").into());
    let path = PathBuf::from(dir).join("weights/vgg16_features_to_conv5_1.fp16.safetensors");
    assert!(
        path.exists(),
        "shared VGG weights missing: {}",
        path.display()
    );
    path
}

#[test]
fn vgg16_taps_shapes_zero_on_identity_and_gradient_to_the_fake() {
    let vgg = Vgg::load(&shared(), VggInput::CaffeBgr, &Device::Cpu).unwrap();
    let real = Tensor::rand(-1f32, 1f32, (1, 3, 32, 32), &Device::Cpu).unwrap();
    let taps = vgg.taps(&real).unwrap();
    let shapes: Vec<_> = taps.iter().map(|t| t.dims().to_vec()).collect();
    assert_eq!(
        shapes,
        vec![
            vec![1, 64, 32, 32],
            vec![1, 128, 16, 16],
            vec![1, 256, 8, 8],
            vec![1, 512, 4, 4],
            vec![1, 512, 2, 2]
        ]
    );
    // Real weights on a real-valued input give non-trivial activations at every tap.
    assert!(taps.iter().all(|t| t
        .abs()
        .unwrap()
        .mean_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
        > 1e-3));
    let same = vgg.loss(&real, &real).unwrap().to_scalar::<f32>().unwrap();
    assert_eq!(same, 0.0);
    let fake = Var::from_tensor(&Tensor::zeros((1, 3, 32, 32), DType::F32, &Device::Cpu).unwrap())
        .unwrap();
    let loss = vgg.loss(fake.as_tensor(), &real).unwrap();
    assert!(loss.to_scalar::<f32>().unwrap() > 0.0);
    let grads = loss.backward().unwrap();
    let grad = grads
        .get(fake.as_tensor())
        .expect("the fake image gets a gradient");
    let norm = grad
        .sqr()
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(norm.is_finite() && norm > 0.0, "gradient norm {norm}");
}

#[test]
fn a_missing_vgg_file_names_the_path() {
    let err = Vgg::load(
        std::path::Path::new("no/such/vgg.safetensors"),
        VggInput::Raw,
        &Device::Cpu,
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("no/such/vgg.safetensors"), "{err}");
}

/// The VGG16 file shipped in `weights/vgg16/` (with its licence) is the documented shared file,
/// byte for byte, and it is what training finds by default.
#[test]
fn the_shipped_vgg16_weights_are_the_shared_file_and_are_found_by_default() {
    use scenepaint::shipped::{find, VGG16_WEIGHTS};
    let shipped = find(VGG16_WEIGHTS).expect("weights/vgg16 is found from the crate root");
    assert_eq!(
        std::fs::read(&shipped).unwrap(),
        std::fs::read(shared()).unwrap(),
        "{} differs from the shared file",
        shipped.display()
    );
    let source = std::fs::read_to_string(shipped.with_file_name("SOURCE.md")).unwrap();
    assert!(
        source.contains("CC BY 4.0"),
        "the licence ships beside the weights"
    );
}

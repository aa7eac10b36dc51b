//! The fast CPU path (`nets::fast`) must compute what the plain Candle networks compute, for
//! every generator family, on random weights (batch-norm statistics randomised too, so folding
//! is exercised), non-square and odd sizes, batch norm / instance norm / spectral norm, and
//! SPADE's sparse (one-hot label map) and dense (arbitrary input) modulation.
#![allow(clippy::unwrap_used)] // a test that cannot go on fails; the panic is the report
use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use scenepaint::nets::bundle::{Generator, NetKind};
use scenepaint::nets::fast::FastGenerator;

mod fast_support;
use fast_support::{one_hot_regions, random_input, seed_weights};

const TOLERANCE_REL_L2: f64 = 1e-4;

fn rel_l2(ours: &Tensor, reference: &Tensor) -> f64 {
    assert_eq!(ours.dims(), reference.dims(), "output shapes differ");
    let a = ours.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = reference.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let diff: f64 = a
        .iter()
        .zip(&b)
        .map(|(x, y)| f64::from(x - y).powi(2))
        .sum();
    let norm: f64 = b.iter().map(|y| f64::from(*y).powi(2)).sum();
    assert!(
        norm > 0.0,
        "reference output is all zeros: the comparison would prove nothing"
    );
    (diff / norm).sqrt()
}

fn check(net: NetKind, options: serde_json::Value, input: &Tensor, z: Option<&Tensor>, what: &str) {
    let (generator, varmap) = Generator::random(net, &options, &Device::Cpu).unwrap();
    seed_weights(&varmap, 7);
    let plain = generator.forward(input, z).unwrap();
    let fast = FastGenerator::from_generator(&generator)
        .unwrap()
        .forward(input, z)
        .unwrap();
    let rel = rel_l2(&fast, &plain);
    println!("{what}: rel_l2 {rel:.2e}");
    assert!(
        rel < TOLERANCE_REL_L2,
        "{what}: fast path differs from Candle, rel_l2 {rel:.3e}"
    );
}

#[test]
fn unet_batch_norm_non_square_matches_candle() {
    let options = json!({"input_nc": 3, "output_nc": 3, "num_downs": 5, "ngf": 4, "norm": "batch"});
    check(
        NetKind::Pix2pixUnet,
        options,
        &random_input((2, 3, 32, 64), 1),
        None,
        "unet batch 32x64",
    );
}

#[test]
fn unet_instance_norm_with_dropout_matches_candle() {
    let options = json!({"input_nc": 3, "output_nc": 3, "num_downs": 6, "ngf": 3, "norm": "instance", "use_dropout": true});
    check(
        NetKind::Pix2pixUnet,
        options,
        &random_input((1, 3, 128, 64), 2),
        None,
        "unet instance 128x64",
    );
}

#[test]
fn hierarchical_unet_matches_candle_batch_and_instance_norm() {
    // Batch norm with the global branch at half size; instance norm with dropout, a deeper
    // global U-Net at a third of the size (required multiple lcm(32, 3 * 32) = 96).
    let batch = json!({"netG": "unet_hier", "num_downs": 5, "ngf": 4, "norm": "batch",
        "global_num_downs": 5, "global_ngf": 3, "global_downsample": 2});
    check(
        NetKind::Pix2pixUnet,
        batch,
        &random_input((2, 3, 64, 128), 4),
        None,
        "unet_hier batch 64x128",
    );
    let instance = json!({"netG": "unet_hier", "num_downs": 5, "ngf": 3, "norm": "instance",
        "use_dropout": true, "global_num_downs": 5, "global_ngf": 4, "global_downsample": 3});
    check(
        NetKind::Pix2pixUnet,
        instance,
        &random_input((1, 3, 96, 192), 5),
        None,
        "unet_hier instance 96x192",
    );
}

#[test]
fn bilinear_resize_matches_candle_up_and_down() {
    use scenepaint::nets::fast::{ops, planes::Planes};
    let x = random_input((1, 3, 7, 10), 6);
    for (h, w) in [(14, 20), (21, 30), (3, 4), (7, 23)] {
        let plain = scenepaint::nets::layers::resize_bilinear(&x, h, w).unwrap();
        let planes =
            Planes::new(3, 7, 10, x.flatten_all().unwrap().to_vec1::<f32>().unwrap()).unwrap();
        let fast = ops::resize_bilinear(&planes, h, w);
        let fast = Tensor::from_vec(fast.data, (1, 3, h, w), &Device::Cpu).unwrap();
        let rel = rel_l2(&fast, &plain);
        assert!(rel < 1e-6, "{h}x{w}: rel_l2 {rel:.3e}");
    }
}

#[test]
fn global_generator_reflect_instance_odd_multiples_matches_candle() {
    let options = json!({"input_nc": 5, "output_nc": 3, "ngf": 4, "n_downsample_global": 2, "n_blocks_global": 2, "norm": "instance", "padding_type": "reflect"});
    check(
        NetKind::Pix2pixhdGlobal,
        options,
        &random_input((1, 5, 20, 28), 3),
        None,
        "global instance 20x28",
    );
}

#[test]
fn global_generator_batch_norm_zero_and_replicate_padding_match_candle() {
    for padding in ["zero", "replicate"] {
        let options = json!({"input_nc": 4, "output_nc": 3, "ngf": 5, "n_downsample_global": 3, "n_blocks_global": 1, "norm": "batch", "padding_type": padding});
        check(
            NetKind::Pix2pixhdGlobal,
            options,
            &random_input((2, 4, 24, 40), 4),
            None,
            &format!("global batch {padding}"),
        );
    }
}

#[test]
fn global_and_local_on_one_hot_labels_with_edges_match_candle() {
    // A label map with its edge channel: the first convolutions take the lookup path.
    let labels = one_hot_regions(2, 6, true, 24, 40);
    let global = json!({"input_nc": 7, "output_nc": 3, "ngf": 6, "n_downsample_global": 2, "n_blocks_global": 1, "norm": "instance", "padding_type": "reflect"});
    check(
        NetKind::Pix2pixhdGlobal,
        global,
        &labels,
        None,
        "global on labels 24x40",
    );
    let local = json!({"input_nc": 7, "output_nc": 3, "ngf": 3, "n_downsample_global": 2, "n_blocks_global": 1, "n_local_enhancers": 1, "n_blocks_local": 1, "norm": "instance"});
    check(
        NetKind::Pix2pixhdLocal,
        local,
        &labels,
        None,
        "local on labels 24x40",
    );
}

#[test]
fn local_enhancer_matches_candle() {
    let options = json!({"input_nc": 4, "output_nc": 3, "ngf": 3, "n_downsample_global": 2, "n_blocks_global": 1, "n_local_enhancers": 1, "n_blocks_local": 1, "norm": "instance"});
    check(
        NetKind::Pix2pixhdLocal,
        options,
        &random_input((1, 4, 24, 40), 5),
        None,
        "local 24x40",
    );
}

fn spade_options(
    ngf: usize,
    label_nc: usize,
    norm_g: &str,
    extra: serde_json::Value,
) -> serde_json::Value {
    let mut o = json!({"ngf": ngf, "label_nc": label_nc, "norm_G": norm_g, "spade_hidden_nc": 8,
        "no_instance": true, "contain_dontcare_label": false, "use_vae": false, "crop_size": 64,
        "aspect_ratio": 1.0});
    for (k, v) in extra.as_object().unwrap() {
        o[k] = v.clone();
    }
    o
}

#[test]
fn spade_vae_instance_spectral_non_square_one_hot_matches_candle() {
    // 64 x 128: the shipped default's layout (instance-norm SPADE, spectral norm, VAE z 256).
    let options = spade_options(
        4,
        9,
        "spectralspadeinstance3x3",
        json!({"use_vae": true, "z_dim": 256, "crop_size": 128, "aspect_ratio": 2.0}),
    );
    let seg = one_hot_regions(2, 9, false, 64, 128);
    let z = random_input((2, 256, 1, 1), 6).reshape((2, 256)).unwrap();
    check(
        NetKind::Spade,
        options,
        &seg,
        Some(&z),
        "spade vae instance 64x128",
    );
}

#[test]
fn spade_batch_norm_edges_dontcare_odd_latent_matches_candle() {
    // crop 160, aspect 1.5: a 3 x 5 latent grid, output 96 x 160; label_nc 5 + dontcare + edges.
    let options = spade_options(
        3,
        5,
        "spectralspadesyncbatch3x3",
        json!({"no_instance": false, "contain_dontcare_label": true, "crop_size": 160, "aspect_ratio": 1.5}),
    );
    let seg = one_hot_regions(1, 6, true, 96, 160);
    check(
        NetKind::Spade,
        options,
        &seg,
        None,
        "spade batch edges 96x160",
    );
}

#[test]
fn spade_dense_input_and_more_upsampling_match_candle() {
    // Arbitrary real-valued input: the dense modulation path. `more`: an extra doubling.
    let options = spade_options(
        2,
        4,
        "spadebatch3x3",
        json!({"num_upsampling_layers": "more", "crop_size": 128, "aspect_ratio": 2.0}),
    );
    check(
        NetKind::Spade,
        options,
        &random_input((1, 4, 64, 128), 8),
        None,
        "spade dense more 64x128",
    );
}

#[test]
fn spade_most_upsampling_five_by_five_kernel_matches_candle() {
    let options = spade_options(
        4,
        3,
        "spadeinstance5x5",
        json!({"num_upsampling_layers": "most", "crop_size": 256, "aspect_ratio": 2.0}),
    );
    let seg = one_hot_regions(1, 3, false, 128, 256);
    check(
        NetKind::Spade,
        options,
        &seg,
        None,
        "spade most 5x5 128x256",
    );
}

#[test]
fn spade_noise_labels_every_pixel_a_boundary_matches_candle() {
    // Every pixel a boundary: the sparse path's table is all boundary rows.
    let options = spade_options(2, 4, "spectralspadeinstance3x3", json!({}));
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let ids: Vec<usize> = (0..64 * 64).map(|_| rng.random_range(0..4)).collect();
    let mut data = vec![0f32; 4 * 64 * 64];
    for (p, &id) in ids.iter().enumerate() {
        data[id * 4096 + p] = 1.0;
    }
    let seg = Tensor::from_vec(data, (1, 4, 64, 64), &Device::Cpu).unwrap();
    check(
        NetKind::Spade,
        options,
        &seg,
        None,
        "spade noise labels 64x64",
    );
}

#[test]
fn spade_sparse_modulation_equals_dense_modulation() {
    let options = spade_options(
        3,
        6,
        "spectralspadeinstance3x3",
        json!({"crop_size": 128, "aspect_ratio": 2.0}),
    );
    let (generator, varmap) = Generator::random(NetKind::Spade, &options, &Device::Cpu).unwrap();
    seed_weights(&varmap, 11);
    let FastGenerator::Spade(sparse) = FastGenerator::from_generator(&generator).unwrap() else {
        panic!("a SPADE generator must give a fast SPADE generator")
    };
    let dense = sparse.clone().with_dense_modulation();
    let seg = one_hot_regions(1, 6, false, 64, 128);
    let planes = scenepaint::nets::fast::Planes::from_batch(&seg).unwrap();
    let a = sparse.forward_batch(&planes, None).unwrap();
    let b = dense.forward_batch(&planes, None).unwrap();
    let to_tensor = |p| scenepaint::nets::fast::Planes::to_batch(p, &Device::Cpu).unwrap();
    let rel = rel_l2(&to_tensor(a), &to_tensor(b));
    assert!(rel < 1e-5, "sparse vs dense modulation: rel_l2 {rel:.3e}");
}

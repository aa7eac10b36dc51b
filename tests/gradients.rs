//! Every trainable parameter of each pix2pix / pix2pixHD network built from a `VarMap` gets a
//! finite, non-zero gradient from one backward pass; running statistics get none. Biases of
//! convolutions followed by a normalization are cancelled by it (their exact gradient is zero),
//! so for those the test checks the gradient is negligible instead. The pix2pixHD training
//! losses (GAN, feature matching, VGG; D on the detached fake) reach every parameter too, and
//! with the global generator fixed only the outermost enhancer gets gradients.
#![allow(clippy::unwrap_used)] // a test that cannot go on fails; the panic is the report
use candle_core::{DType, Device, ModuleT, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use scenepaint::nets::layers::{is_buffer_name, NormKind};
use scenepaint::nets::{pix2pix, pix2pixhd};

fn random_input(shape: (usize, usize, usize, usize)) -> Tensor {
    Tensor::randn(0f32, 1.0, shape, &Device::Cpu).unwrap()
}

/// Runs `loss` once and checks the gradient of every variable in `varmap`.
fn check_gradients(varmap: &VarMap, loss: Tensor, cancelled_bias: impl Fn(&str) -> bool) {
    let grads = loss.backward().unwrap();
    let vars: Vec<(String, Var)> = varmap
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    assert!(!vars.is_empty());
    let mut trainable = 0;
    for (name, var) in vars {
        let grad = grads.get(var.as_tensor());
        if is_buffer_name(&name) {
            assert!(
                grad.is_none(),
                "{name}: a running statistic received a gradient"
            );
            continue;
        }
        trainable += 1;
        let grad = grad.unwrap_or_else(|| panic!("{name}: no gradient"));
        let values = grad
            .flatten_all()
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        assert!(
            values.iter().all(|v| v.is_finite()),
            "{name}: non-finite gradient"
        );
        let max_abs = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if cancelled_bias(&name) {
            assert!(
                max_abs < 1e-3,
                "{name}: bias before a normalization should get ~0 gradient, got {max_abs}"
            );
        } else {
            assert!(max_abs > 0.0, "{name}: zero gradient");
        }
    }
    assert!(trainable > 0);
}

/// A loss touching every output element with a non-constant weight.
fn weighted_sum(x: &Tensor) -> Tensor {
    let weights = Tensor::randn(0f32, 1.0, x.shape(), x.device()).unwrap();
    (x * weights).unwrap().sum_all().unwrap()
}

#[test]
fn unet_generator_gradients_reach_every_parameter() {
    for (norm, use_dropout) in [(NormKind::Batch, true), (NormKind::Instance, false)] {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let opts = pix2pix::UnetOptions {
            ngf: 4,
            num_downs: 6,
            norm,
            use_dropout,
            ..Default::default()
        };
        let net = pix2pix::UnetGenerator::new(&opts, vb).unwrap();
        let y = net.forward_t(&random_input((2, 3, 64, 64)), true).unwrap();
        // With instance norm, convs carry biases; those followed by a norm are cancelled. Not
        // cancelled: the outermost down and up convs and the innermost down conv.
        let innermost_down = format!(
            "model.model.1.model.{}1.bias",
            "3.model.".repeat(opts.num_downs - 2)
        );
        let kept = [
            "model.model.0.bias",
            "model.model.3.bias",
            innermost_down.as_str(),
        ];
        let cancelled = |name: &str| {
            norm == NormKind::Instance && name.ends_with("bias") && !kept.contains(&name)
        };
        check_gradients(&varmap, weighted_sum(&y), cancelled);
    }
}

#[test]
fn hierarchical_unet_gradients_reach_both_unets_and_the_global_phase_only_the_global_one() {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let opts = pix2pix::UnetOptions {
        net_g: pix2pix::UnetKind::UnetHier,
        ngf: 3,
        num_downs: 5,
        global_ngf: 4,
        global_num_downs: 5,
        global_downsample: 2,
        norm: NormKind::Batch,
        use_dropout: true,
        ..Default::default()
    };
    let net = pix2pix::UnetGenerator::new(&opts, vb).unwrap();
    assert_eq!(net.required_multiple(), 64);
    let names: Vec<String> = varmap.data().lock().unwrap().keys().cloned().collect();
    assert!(names
        .iter()
        .all(|n| n.starts_with("global.model.") || n.starts_with("local.model.")));
    let local_in = varmap.data().lock().unwrap()["local.model.model.0.weight"]
        .as_tensor()
        .dims()
        .to_vec();
    assert_eq!(
        local_in,
        [3, 6, 4, 4],
        "the local U-Net sees the label and global images"
    );
    let x = random_input((2, 3, 64, 128));
    let y = net.forward_t(&x, true).unwrap();
    assert_eq!(y.dims(), [2, 3, 64, 128]);
    check_gradients(&varmap, weighted_sum(&y), |_| false);
    // The global phase: the enlarged global image alone, with gradients for the global U-Net
    // and none for the local one.
    let coarse = net.forward_global(&x, true).unwrap();
    assert_eq!(coarse.dims(), [2, 3, 64, 128]);
    let grads = weighted_sum(&coarse).backward().unwrap();
    for (name, var) in varmap.data().lock().unwrap().iter() {
        let has = grads.get(var.as_tensor()).is_some();
        let trains = name.starts_with("global.") && !is_buffer_name(name);
        assert_eq!(has, trains, "{name}");
    }
    let odd = random_input((1, 3, 64, 96));
    let err = net.forward_t(&odd, false).unwrap_err().to_string();
    assert!(
        err.contains("divisible by 64") && err.contains("64x96"),
        "{err}"
    );
}

#[test]
fn patchgan_discriminator_gradients_reach_every_parameter() {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let opts = pix2pix::PatchGanOptions {
        input_nc: 6,
        ndf: 4,
        n_layers: 3,
        norm: NormKind::Batch,
    };
    let net = pix2pix::PatchGanDiscriminator::new(&opts, vb).unwrap();
    let y = net.forward_t(&random_input((2, 6, 64, 64)), true).unwrap();
    check_gradients(&varmap, weighted_sum(&y), |_| false);
}

#[test]
fn pix2pixhd_global_and_local_gradients_reach_every_parameter() {
    let global = pix2pixhd::GlobalOptions {
        input_nc: 5,
        ngf: 4,
        n_downsample_global: 2,
        n_blocks_global: 2,
        ..Default::default()
    };
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let net = pix2pixhd::GlobalGenerator::new(&global, vb).unwrap();
    let y = net.forward_t(&random_input((1, 5, 32, 48)), true).unwrap();
    // Every conv but the last (model.{last}) is followed by instance norm.
    let last = format!("model.{}.bias", 4 + 3 * 2 + 2 + 3 * 2 + 1);
    check_gradients(&varmap, weighted_sum(&y), |n| {
        n.ends_with("bias") && n != last
    });

    let local = pix2pixhd::LocalOptions {
        global,
        n_local_enhancers: 1,
        n_blocks_local: 1,
    };
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let net = pix2pixhd::LocalEnhancer::new(&local, vb).unwrap();
    let y = net.forward_t(&random_input((1, 5, 32, 64)), true).unwrap();
    check_gradients(&varmap, weighted_sum(&y), |n| {
        n.ends_with("bias") && n != "model1_2.5.bias"
    });
}

#[test]
fn multiscale_discriminator_gradients_reach_every_parameter() {
    for intermediate_features in [true, false] {
        let opts = pix2pixhd::MultiscaleOptions {
            input_nc: 4,
            ndf: 4,
            n_layers: 2,
            num_d: 2,
            intermediate_features,
            ..Default::default()
        };
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let net = pix2pixhd::MultiscaleDiscriminator::new(&opts, vb).unwrap();
        let features = net.forward_t(&random_input((2, 4, 32, 32)), true).unwrap();
        let loss = features
            .iter()
            .flatten()
            .map(weighted_sum)
            .reduce(|a, b| (a + b).unwrap())
            .unwrap();
        // Convs of layers 1..=n_layers are followed by instance norm.
        let cancelled = |n: &str| {
            let normed = if intermediate_features {
                ["_layer1.", "_layer2."]
            } else {
                ["r0.2.", "r0.5."]
            };
            let normed_flat = ["r1.2.", "r1.5."];
            n.ends_with("bias")
                && (normed
                    .iter()
                    .chain(normed_flat.iter())
                    .any(|p| n.contains(p)))
        };
        check_gradients(&varmap, loss, cancelled);
    }
}

/// A pix2pixHD training family (local enhancer, VGG loss) on a synthetic 2-image batch of
/// 5 classes with instance maps, at 32x32.
fn pix2pixhd_family() -> (
    scenepaint::train::pix2pixhd_family::Pix2pixhdFamily,
    scenepaint::train::data::Batch,
) {
    use rand::SeedableRng;
    use scenepaint::nets::encoding::LabelChannels;
    use scenepaint::train::config::{preset, TrainConfig};
    use scenepaint::train::pix2pixhd_family::Pix2pixhdFamily;
    use scenepaint::train::pix2pixhd_options::HdOptions;
    let config = TrainConfig {
        network: serde_json::json!({"netG": "local", "ngf": 4, "n_downsample_global": 2,
            "n_blocks_global": 1, "n_local_enhancers": 1, "n_blocks_local": 1,
            "ndf": 4, "num_D": 2, "n_layers_D": 2}),
        crop_width: 32,
        crop_height: 32,
        lambda_vgg: 10.0,
        ..preset("pix2pixhd-tiny").unwrap()
    };
    let encoding = LabelChannels::plain(5);
    let options = HdOptions::from_config(&config, &encoding, true).unwrap();
    assert_eq!(
        options.generator.global.input_nc, 6,
        "5 classes + the boundary map"
    );
    let vgg = scenepaint::train::build::load_vgg(&config, &Device::Cpu)
        .unwrap()
        .expect("lambda_vgg > 0 loads the VGG");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let family = Pix2pixhdFamily::new(&config, options, Some(vgg), &Device::Cpu, &mut rng).unwrap();
    // Blocks of 8x8 pixels of classes 0..5; instances split each block in halves.
    let size = 32;
    let labels: Vec<u32> = (0..2 * size * size)
        .map(|i| ((i / size / 8) * 3 + (i % size) / 8 + i / (size * size)) as u32 % 5)
        .collect();
    let instances: Vec<u32> = labels
        .iter()
        .enumerate()
        .map(|(i, &c)| c * 10 + ((i % size) % 8 < 4) as u32)
        .collect();
    let batch = scenepaint::train::data::Batch {
        label: Tensor::from_vec(labels, (2, 1, size, size), &Device::Cpu).unwrap(),
        instance: Some(Tensor::from_vec(instances, (2, 1, size, size), &Device::Cpu).unwrap()),
        photo: Tensor::rand(-1f32, 1.0, (2, 3, size, size), &Device::Cpu).unwrap(),
    };
    (family, batch)
}

fn family_varmap<'a>(
    family: &'a scenepaint::train::pix2pixhd_family::Pix2pixhdFamily,
    prefix: &str,
) -> &'a VarMap {
    use scenepaint::train::family::Family;
    family
        .networks()
        .into_iter()
        .find(|(p, _)| *p == prefix)
        .map(|(_, v)| v)
        .unwrap()
}

#[test]
fn pix2pixhd_training_losses_reach_every_parameter() {
    let (family, batch) = pix2pixhd_family();
    let step = family.step_losses(&batch, false).unwrap();
    assert!(step.g_feat.is_some() && step.g_vgg.is_some());
    // G's loss (GAN + feature matching + VGG): every conv but the output one is followed by
    // instance norm.
    check_gradients(family_varmap(&family, "G."), step.g_total().unwrap(), |n| {
        n.ends_with("bias") && n != "model1_2.5.bias"
    });
    // D's loss on the detached fake and the real image; layers 1..=n_layers_D are normalized.
    let d_total = (&step.d_fake + &step.d_real).unwrap();
    check_gradients(family_varmap(&family, "D."), d_total, |n| {
        n.ends_with("bias") && (n.contains("_layer1.") || n.contains("_layer2."))
    });
}

#[test]
fn pix2pixhd_with_the_global_generator_fixed_trains_only_the_outermost_enhancer() {
    let (family, batch) = pix2pixhd_family();
    let step = family.step_losses(&batch, true).unwrap();
    let grads = step.g_total().unwrap().backward().unwrap();
    let data = family_varmap(&family, "G.").data().lock().unwrap();
    let (mut trained, mut fixed) = (0, 0);
    for (name, var) in data.iter() {
        let grad = grads.get(var.as_tensor());
        if name.starts_with("model1_") {
            trained += 1;
            assert!(
                grad.is_some(),
                "{name}: the outermost enhancer gets a gradient"
            );
        } else {
            fixed += 1;
            assert!(grad.is_none(), "{name}: a fixed weight got a gradient");
        }
    }
    assert!(trained > 0 && fixed > 0);
}

//! Training-mode SPADE networks built from a `VarMap`: one backward pass must give every
//! trainable parameter a finite, non-zero gradient and give none to the buffers (running
//! statistics, spectral-norm u and v), and the training forward must update those buffers.
#![allow(clippy::unwrap_used)] // a test that cannot go on fails; the panic is the report
use anyhow::{ensure, Context, Result};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use scenepaint::nets::layers::is_buffer_name;
use scenepaint::nets::semantic::semantic_from_ids;
use scenepaint::nets::spade_discriminator::MultiscaleDiscriminator;
use scenepaint::nets::spade_encoder::ConvEncoder;
use scenepaint::nets::spade_generator::{gaussian_z, SpadeGenerator};
use scenepaint::nets::spade_options::SpadeOptions;

fn uniform(shape: &[usize], seed: u64) -> Result<Tensor> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let count = shape.iter().product();
    let values: Vec<f32> = (0..count).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    Ok(Tensor::from_vec(values, shape, &Device::Cpu)?)
}

/// A batch of two random label maps as the semantic input (N, semantic_nc, size, size).
fn semantics(options: &SpadeOptions, height: usize, width: usize, seed: u64) -> Result<Tensor> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut maps = Vec::new();
    for _ in 0..2 {
        // Blocks of 4x4 pixels, so the nearest-downsized maps still vary.
        let ids: Vec<u16> = (0..height * width)
            .map(|i| {
                (((i / width) / 4 * 7 + (i % width) / 4 * 3 + rng.random_range(0..2))
                    % options.label_nc) as u16
            })
            .collect();
        let instances: Vec<u32> = ids
            .iter()
            .enumerate()
            .map(|(i, &id)| u32::from(id) * 10 + (i % 2) as u32)
            .collect();
        maps.push(semantic_from_ids(
            &ids,
            Some(&instances),
            width,
            height,
            &options.semantic(),
            &Device::Cpu,
        )?);
    }
    Ok(Tensor::cat(&maps, 0)?)
}

/// A loss mixing every output element with fixed random weights, so no gradient cancels
/// by symmetry.
fn weighted_sum(outputs: &[Tensor], seed: u64) -> Result<Tensor> {
    let mut total = Tensor::zeros((), DType::F32, &Device::Cpu)?;
    for (i, out) in outputs.iter().enumerate() {
        let weights = uniform(out.dims(), seed + i as u64)?;
        total = (total + (out * weights)?.sum_all()?)?;
    }
    Ok(total)
}

fn snapshot(varmap: &VarMap) -> Vec<(String, Var, Tensor)> {
    let vars = varmap.data().lock().unwrap();
    let mut all: Vec<_> = vars
        .iter()
        .map(|(n, v)| (n.clone(), v.clone(), v.as_tensor().copy().unwrap()))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

/// Parameters whose gradient is zero by construction in the published architecture: the
/// bias of a conv whose output only feeds a normalization that subtracts the channel mean.
fn cancelled_by_norm(name: &str) -> bool {
    name.ends_with("conv_0.bias")
}

fn check_gradients(varmap: &VarMap, before: &[(String, Var, Tensor)], loss: &Tensor) -> Result<()> {
    let grads = loss.backward()?;
    let mut buffers_updated = 0;
    for (name, var, initial) in before {
        let grad = grads.get(var.as_tensor());
        if is_buffer_name(name) {
            ensure!(grad.is_none(), "buffer {name} received a gradient");
            if !name.ends_with("num_batches_tracked") {
                let changed = (var.as_tensor() - initial)?
                    .abs()?
                    .max_all()?
                    .to_scalar::<f32>()?;
                buffers_updated += usize::from(changed > 0.0);
            }
            continue;
        }
        let grad = grad.with_context(|| format!("parameter {name} received no gradient"))?;
        let values = grad.flatten_all()?.to_vec1::<f32>()?;
        ensure!(
            values.iter().all(|v| v.is_finite()),
            "parameter {name}: non-finite gradient"
        );
        let magnitude: f32 = values.iter().map(|v| v.abs()).sum();
        ensure!(
            magnitude > 0.0 || cancelled_by_norm(name),
            "parameter {name}: all-zero gradient"
        );
    }
    let buffers = before
        .iter()
        .filter(|(n, _, _)| is_buffer_name(n) && !n.ends_with("num_batches_tracked"))
        .count();
    ensure!(
        buffers_updated == buffers,
        "training forward updated {buffers_updated} of {buffers} buffers"
    );
    ensure!(
        varmap.all_vars().len() == before.len(),
        "backward created variables"
    );
    Ok(())
}

fn small_options(norm_g: &str, use_vae: bool) -> SpadeOptions {
    SpadeOptions {
        ngf: 2,
        ndf: 4,
        label_nc: 4,
        contain_dontcare_label: true,
        no_instance: false,
        use_vae,
        crop_size: 64,
        aspect_ratio: 2.0,
        norm_g: norm_g.into(),
        n_layers_d: 3,
        spade_hidden_nc: 8,
        ..Default::default()
    }
}

fn generator_gradients(options: &SpadeOptions) -> Result<()> {
    let varmap = VarMap::new();
    let generator = SpadeGenerator::new(
        options,
        VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
    )?;
    let (height, width) = options.output_size()?;
    let seg = semantics(options, height, width, 1)?;
    let z = gaussian_z(2, options.z_dim, 2, &Device::Cpu)?;
    let before = snapshot(&varmap);
    let image = generator.forward_t(&seg, Some(&z), true)?;
    ensure!(
        image.dims() == [2, 3, height, width],
        "image shape {:?}",
        image.dims()
    );
    check_gradients(&varmap, &before, &weighted_sum(&[image], 3)?)
}

#[test]
fn generator_with_batch_norm_trains_every_parameter() -> Result<()> {
    generator_gradients(&small_options("spectralspadesyncbatch3x3", false))
}

#[test]
fn vae_generator_with_instance_norm_trains_every_parameter() -> Result<()> {
    generator_gradients(&small_options("spectralspadeinstance5x5", true))
}

#[test]
fn encoder_trains_every_parameter() -> Result<()> {
    let options = SpadeOptions {
        ngf: 2,
        crop_size: 256,
        ..Default::default()
    };
    let varmap = VarMap::new();
    let encoder = ConvEncoder::new(
        &options,
        VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
    )?;
    let before = snapshot(&varmap);
    let (mu, logvar) = encoder.forward_t(&uniform(&[2, 3, 40, 48], 4)?, true)?;
    ensure!(mu.dims() == [2, options.z_dim] && logvar.dims() == [2, options.z_dim]);
    check_gradients(&varmap, &before, &weighted_sum(&[mu, logvar], 5)?)
}

#[test]
fn discriminator_trains_every_parameter() -> Result<()> {
    for norm_d in ["spectralinstance", "spectralbatch"] {
        let options = SpadeOptions {
            norm_d: norm_d.into(),
            ..small_options("spectralspadeinstance3x3", false)
        };
        let varmap = VarMap::new();
        let discriminator = MultiscaleDiscriminator::new(
            &options,
            VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
        )?;
        let seg = semantics(&options, 32, 48, 6)?;
        let input = Tensor::cat(&[seg, uniform(&[2, 3, 32, 48], 7)?], 1)?;
        let before = snapshot(&varmap);
        let features = discriminator.forward_t(&input, true)?;
        ensure!(features.len() == options.num_d);
        ensure!(features.iter().all(|f| f.len() == options.n_layers_d + 1));
        let flat: Vec<Tensor> = features.into_iter().flatten().collect();
        check_gradients(&varmap, &before, &weighted_sum(&flat, 8)?)
            .with_context(|| format!("norm_D {norm_d}"))?;
    }
    Ok(())
}

/// A segmentation discriminator's labels move with DiffAugment's translation and cutout: they
/// are the class ids of the augmented semantic maps, not of the maps as painted.
#[test]
fn segmentation_labels_follow_the_augmented_maps() -> Result<()> {
    use scenepaint::nets::spade_discriminator::DiscriminatorTask;
    use scenepaint::train::diff_augment::{Draws, Policy};
    use scenepaint::train::spade_family::SpadeNets;
    let options = small_options("spectralspadeinstance3x3", false);
    let classes = options.semantic().label_channels();
    let (g, e, d) = (VarMap::new(), VarMap::new(), VarMap::new());
    let vb = |m: &VarMap| VarBuilder::from_varmap(m, DType::F32, &Device::Cpu);
    let task = DiscriminatorTask::Segmentation { classes };
    let nets = SpadeNets::with_task(&options, task, vb(&g), vb(&e), vb(&d))?;
    let seg = semantics(&options, 32, 48, 6)?;
    let (fake, real) = (uniform(&[2, 3, 32, 48], 1)?, uniform(&[2, 3, 32, 48], 2)?);
    let draws = Draws::sample(
        Policy::parse("translation,cutout")?,
        2,
        (32, 48),
        &mut rand_chacha::ChaCha8Rng::seed_from_u64(3),
    );
    let (_, _, labels) = nets.discriminate(&seg, &fake, &real, false, Some(&draws))?;
    let labels = labels.context("a segmentation discriminator returns its labels")?;
    let ids = |t: &Tensor| -> Result<Vec<u32>> {
        Ok(t.narrow(1, 0, classes)?
            .argmax_keepdim(1)?
            .flatten_all()?
            .to_vec1()?)
    };
    let moved = draws.apply(&Tensor::cat(&[&seg, &real], 1)?, seg.dim(1)?)?;
    let expected = ids(&moved)?;
    ensure!(expected != ids(&seg)?, "the draws moved the maps");
    ensure!(labels.flatten_all()?.to_vec1::<u32>()? == expected);
    Ok(())
}

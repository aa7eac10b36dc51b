//! pix2pix training (Isola et al. 2017; junyanz/pytorch-CycleGAN-and-pix2pix
//! `models/pix2pix_model.py`): the U-Net sees the label map drawn in palette colours, the
//! PatchGAN sees cat(label image, photo); D minimizes 0.5 * (BCE(D(fake detached), 0) +
//! BCE(D(real), 1)), then G minimizes BCE(D(fake), 1) + lambda_L1 * |fake - photo|. BCE is
//! the stable with-logits form; Adam betas (0.5, 0.999), lr 2e-4; dropout and batch norm in
//! training mode; weights drawn from normal(0, 0.02). With the hierarchical U-Net (`netG:
//! unet_hier`), the first `niter_global_first` iterations generate with the global U-Net alone.
use std::sync::atomic::AtomicBool;

use candle_core::{DType, Device, ModuleT, Tensor};
use candle_nn::{VarBuilder, VarMap};
use rand_chacha::ChaCha8Rng;

use super::config::TrainConfig;
use super::data::Batch;
use super::family::{adam_config, adam_over, discriminator_step, scalar, Family, Losses};
use super::init::{
    init_varmap, load_matching, load_pretrained_discriminator, pretrained_generator_file,
    InitScheme,
};
use super::losses::{d_loss, g_loss, l1};
use super::optim::Adam;
use super::standing_stats::StandingBatches;
use crate::error::{Error, Result};
use crate::labels::Palette;
use crate::nets::encoding::LabelChannels;
use crate::nets::pix2pix::{PatchGanDiscriminator, PatchGanOptions, UnetGenerator, UnetOptions};

/// A pix2pix model in training.
pub struct Pix2pixFamily {
    generator: UnetGenerator,
    discriminator: PatchGanDiscriminator,
    g_vars: VarMap,
    d_vars: VarMap,
    opt_g: Adam,
    opt_d: Adam,
    /// (label channels, 3): the palette colour of each label channel, scaled to [-1, 1].
    colours: Tensor,
    config: TrainConfig,
}

/// The generator and discriminator options from `config.network` (published names), with
/// dropout on unless the config says `use_dropout: false` (pix2pix trains with dropout).
pub fn pix2pix_options(config: &TrainConfig) -> Result<(UnetOptions, PatchGanOptions)> {
    let mut network = config.network.clone();
    if let Some(map) = network.as_object_mut() {
        map.entry("use_dropout").or_insert(true.into());
    }
    let parse = |what: &str, e: serde_json::Error| {
        Error::msg(format!("pix2pix {what} options in {network}: {e}"))
    };
    let unet: UnetOptions =
        serde_json::from_value(network.clone()).map_err(|e| parse("generator", e))?;
    let mut patch: PatchGanOptions =
        serde_json::from_value(network.clone()).map_err(|e| parse("discriminator", e))?;
    patch.input_nc = unet.input_nc + unet.output_nc;
    if let Some(ndf) = network.get("ndf").and_then(|v| v.as_u64()) {
        patch.ndf = ndf as usize;
    }
    Ok((unet, patch))
}

/// The colour table of [`Pix2pixFamily`]: row `c` is the palette colour of channel `c`.
pub fn colour_table(
    palette: &Palette,
    label_channels: &LabelChannels,
    device: &Device,
) -> Result<Tensor> {
    let channels = label_channels.channels;
    let values: Vec<f32> = (0..channels as u32)
        .flat_map(|c| palette.rgb(label_channels.raw_id(c)))
        .map(|v| f32::from(v) / 127.5 - 1.0)
        .collect();
    Ok(Tensor::from_vec(values, (channels, 3), device)?)
}

impl Pix2pixFamily {
    pub fn new(
        config: &TrainConfig,
        colours: Tensor,
        device: &Device,
        rng: &mut ChaCha8Rng,
    ) -> Result<Self> {
        let (unet, patch) = pix2pix_options(config)?;
        let (g_vars, d_vars) = (VarMap::new(), VarMap::new());
        let generator =
            UnetGenerator::new(&unet, VarBuilder::from_varmap(&g_vars, DType::F32, device))?;
        let discriminator = PatchGanDiscriminator::new(
            &patch,
            VarBuilder::from_varmap(&d_vars, DType::F32, device),
        )?;
        for varmap in [&g_vars, &d_vars] {
            init_varmap(varmap, InitScheme::Normal { std: 0.02 }, rng)?;
        }
        if let Some(pretrained) = &config.load_pretrain {
            load_matching(&g_vars, &pretrained_generator_file(pretrained), "generator")?;
            load_pretrained_discriminator(pretrained, &d_vars)?;
        }
        let (lr_g, lr_d) = config.learning_rates(0);
        let opt_g = adam_over(&[("G.", &g_vars)], adam_config(config, lr_g))?;
        let opt_d = adam_over(&[("D.", &d_vars)], adam_config(config, lr_d))?;
        Ok(Self {
            generator,
            discriminator,
            g_vars,
            d_vars,
            opt_g,
            opt_d,
            colours,
            config: config.clone(),
        })
    }
}

/// The label map (N, 1, H, W) of channel indices drawn with `colours` (see [`colour_table`])
/// as an (N, 3, H, W) image in [-1, 1]: the U-Net input.
pub fn label_image(colours: &Tensor, label: &Tensor) -> Result<Tensor> {
    let (n, _, h, w) = label.dims4()?;
    let ids = label.flatten_all()?.to_dtype(DType::U32)?;
    let rows = colours.index_select(&ids, 0)?;
    Ok(rows
        .reshape((n, h, w, 3))?
        .permute((0, 3, 1, 2))?
        .contiguous()?)
}

impl Pix2pixFamily {
    /// True while the hierarchical U-Net's global U-Net trains alone: the first
    /// `niter_global_first` iterations. The iterations done are D's Adam steps (one per
    /// iteration, restored with the checkpoint), so a resumed run continues the same phase.
    pub fn global_first(&self) -> bool {
        self.opt_d.step_count() < self.config.niter_global_first
    }

    /// The generator's image: the global U-Net's alone during [`Self::global_first`].
    fn generate_from(&self, input: &Tensor, train: bool) -> Result<Tensor> {
        Ok(if self.global_first() {
            self.generator.forward_global(input, train)?
        } else {
            self.generator.forward_t(input, train)?
        })
    }
}

impl Family for Pix2pixFamily {
    fn train_step(
        &mut self,
        batch: &Batch,
        lr: (f64, f64),
        rng: &mut ChaCha8Rng,
        stop: &AtomicBool,
    ) -> Result<Losses> {
        self.generator.reseed_dropout(rand::Rng::random(rng))?;
        self.opt_g.set_lr(lr.0);
        self.opt_d.set_lr(lr.1);
        let mode = self.config.gan_mode;
        let input = label_image(&self.colours, &batch.label)?;
        let real = &batch.photo;
        let fake = self.generate_from(&input, true)?;
        let mut losses = Losses::new();

        let pred_fake = self
            .discriminator
            .forward_t(&Tensor::cat(&[&input, &fake.detach()], 1)?, true)?;
        let d_fake = d_loss(&pred_fake, false, mode)?;
        let pred_real = self
            .discriminator
            .forward_t(&Tensor::cat(&[&input, real], 1)?, true)?;
        let d_real = d_loss(&pred_real, true, mode)?;
        discriminator_step(&mut self.opt_d, &d_fake, &d_real, 0.5, &mut losses, stop)?;

        // D's convolution weights are constants here: G's backward needs the fake's gradient
        // only (the published code computes D's too and never applies them).
        let pred = crate::nets::layers::with_frozen_weights(|| {
            self.discriminator
                .forward_t(&Tensor::cat(&[&input, &fake], 1)?, true)
        })?;
        let g_gan = g_loss(&pred, mode)?;
        let g_l1 = l1(&fake, real)?;
        let g_total = (&g_gan + (&g_l1 * self.config.lambda_l1)?)?;
        self.opt_g.step(&g_total.backward()?)?;
        losses.insert("g_gan".into(), scalar(&g_gan)?);
        losses.insert("g_l1".into(), scalar(&g_l1)?);
        Ok(losses)
    }

    fn generate(&self, batch: &Batch, _rng: &mut ChaCha8Rng) -> Result<Tensor> {
        let input = label_image(&self.colours, &batch.label)?;
        Ok(self.generate_from(&input, false)?.detach())
    }

    fn networks(&self) -> Vec<(&'static str, &VarMap)> {
        vec![("G.", &self.g_vars), ("D.", &self.d_vars)]
    }

    fn optimizers(&mut self) -> Vec<(&'static str, &mut Adam)> {
        vec![("optG.", &mut self.opt_g), ("optD.", &mut self.opt_d)]
    }

    fn generator_options(&self) -> serde_json::Value {
        serde_json::to_value(self.generator.options()).unwrap_or_default()
    }

    fn measure_buffers(
        &self,
        generator: &VarMap,
        _encoder: Option<&VarMap>,
        batches: &mut StandingBatches,
    ) -> Result<()> {
        let device = self.colours.device().clone();
        // Built over the given map, whose variables it finds by name: the passes update its
        // batch-norm statistics in place.
        let unet = UnetGenerator::new(
            self.generator.options(),
            VarBuilder::from_varmap(generator, DType::F32, &device),
        )?;
        batches.measure(&device, |batch, rng| {
            unet.reseed_dropout(rand::Rng::random(rng))?;
            let input = label_image(&self.colours, &batch.label)?;
            if self.global_first() {
                unet.forward_global(&input, true)?;
            } else {
                unet.forward_t(&input, true)?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_image_draws_each_channel_in_its_palette_colour() {
        let palette = Palette::builtin("ycor").unwrap();
        let encoding = LabelChannels::plain(9);
        let colours = colour_table(&palette, &encoding, &Device::Cpu).unwrap();
        let label = Tensor::from_vec(vec![0u32, 3, 8, 3], (1, 1, 2, 2), &Device::Cpu).unwrap();
        let image = label_image(&colours, &label).unwrap();
        assert_eq!(image.dims(), [1, 3, 2, 2]);
        let pixels = image.squeeze(0).unwrap().to_vec3::<f32>().unwrap();
        for (pixel, id) in [(0usize, 0u16), (1, 3), (2, 8), (3, 3)] {
            let rgb = palette.rgb(id);
            for c in 0..3 {
                let want = f32::from(rgb[c]) / 127.5 - 1.0;
                let got = pixels[c][pixel / 2][pixel % 2];
                assert!(
                    (got - want).abs() < 1e-6,
                    "pixel {pixel} channel {c}: {got} vs {want}"
                );
            }
        }
    }
}

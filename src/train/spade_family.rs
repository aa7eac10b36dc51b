//! SPADE training (Park et al. 2019, NVlabs/SPADE `models/pix2pix_model.py` and
//! `trainers/pix2pix_trainer.py`): hinge GAN loss, discriminator feature matching
//! (lambda_feat / num_D per layer), VGG perceptual loss, KL divergence of the VAE encoder
//! (lambda_kld), TTUR Adam betas (0, 0.9). The discriminator sees semantics ++ image for the
//! fake and the real image in one batch, fake first.
use std::sync::atomic::AtomicBool;

use candle_core::{Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use rand_chacha::ChaCha8Rng;

use super::config::TrainConfig;
use super::data::Batch;
use super::diff_augment::{Draws, Policy};
use super::family::{adam_config, adam_over, discriminator_step, scalar, Family, Losses};
use super::init::{
    init_varmap, load_matching, load_pretrained_discriminator, pretrained_generator_file,
    standard_normal, InitScheme,
};
use super::losses::{
    d_loss_multiscale, feature_matching, g_loss_multiscale, kl_divergence, GanMode, ScaleReduce,
};
use super::optim::Adam;
use super::segmentation_loss::segmentation_loss_multiscale;
use super::standing_stats::StandingBatches;
use super::vgg::Vgg;
use crate::error::{Error, Result};
use crate::nets::semantic::semantic_input;
use crate::nets::spade_discriminator::{DiscriminatorTask, MultiscaleDiscriminator};
use crate::nets::spade_encoder::{reparameterize, ConvEncoder};
use crate::nets::spade_generator::SpadeGenerator;
use crate::nets::spade_options::SpadeOptions;

/// The SPADE networks of one model (encoder only with `use_vae`).
pub struct SpadeNets {
    pub options: SpadeOptions,
    pub generator: SpadeGenerator,
    pub encoder: Option<ConvEncoder>,
    pub discriminator: MultiscaleDiscriminator,
    /// `--gan_mode` (SPADE's default is hinge).
    pub gan_mode: GanMode,
}

/// Every quantity of one SPADE step (the `spade_losses` reference case's outputs).
pub struct SpadeStep {
    pub fake_image: Tensor,
    pub mu: Option<Tensor>,
    pub logvar: Option<Tensor>,
    pub kld: Option<Tensor>,
    pub g_gan: Tensor,
    pub g_feat: Option<Tensor>,
    pub d_fake: Tensor,
    pub d_real: Tensor,
}

/// Each discriminator's outputs, layer by layer (the last is its prediction).
pub type DiscriminatorOutputs = Vec<Vec<Tensor>>;

/// Splits each discriminator output of the fake ++ real batch into its fake and real halves.
pub fn split_fake_real(
    outputs: DiscriminatorOutputs,
) -> Result<(DiscriminatorOutputs, DiscriminatorOutputs)> {
    let mut fake = Vec::new();
    let mut real = Vec::new();
    for layers in outputs {
        let (mut f, mut r) = (Vec::new(), Vec::new());
        for t in layers {
            let half = t.dim(0)? / 2;
            f.push(t.narrow(0, 0, half)?);
            r.push(t.narrow(0, half, half)?);
        }
        fake.push(f);
        real.push(r);
    }
    Ok((fake, real))
}

impl SpadeNets {
    /// Builds the networks under `G`, `E`, `D` of the given var builders (the published
    /// conditional discriminator).
    pub fn new(
        options: &SpadeOptions,
        g: VarBuilder,
        e: VarBuilder,
        d: VarBuilder,
    ) -> Result<Self> {
        Self::with_task(options, DiscriminatorTask::Conditional, g, e, d)
    }

    /// [`Self::new`] with the discriminator doing `task`.
    pub fn with_task(
        options: &SpadeOptions,
        task: DiscriminatorTask,
        g: VarBuilder,
        e: VarBuilder,
        d: VarBuilder,
    ) -> Result<Self> {
        Ok(Self {
            options: options.clone(),
            generator: SpadeGenerator::new(options, g)?,
            encoder: if options.use_vae {
                Some(ConvEncoder::new(options, e)?)
            } else {
                None
            },
            discriminator: MultiscaleDiscriminator::for_task(options, task, d)?,
            gan_mode: GanMode::Hinge,
        })
    }

    /// `pix2pix_model.discriminate`: D on cat(fake ++ real) in one batch. A segmentation
    /// discriminator sees the images alone, and the label batch (class ids, `(N, 1, H, W)`, as
    /// augmented with the images) is returned for its loss.
    pub fn discriminate(
        &self,
        seg: &Tensor,
        fake: &Tensor,
        real: &Tensor,
        train: bool,
        augment: Option<&Draws>,
    ) -> Result<(DiscriminatorOutputs, DiscriminatorOutputs, Option<Tensor>)> {
        let fake_concat = Tensor::cat(&[seg, fake], 1)?;
        let real_concat = Tensor::cat(&[seg, real], 1)?;
        let mut both = Tensor::cat(&[fake_concat, real_concat], 0)?;
        let seg_nc = seg.dim(1)?;
        if let Some(draws) = augment {
            both = draws.apply(&both, seg_nc)?;
        }
        let (input, labels) = match self.discriminator.task() {
            DiscriminatorTask::Conditional => (both, None),
            DiscriminatorTask::Segmentation { classes } => {
                // A pair's fake and real get the same draw: the first half's labels are both's.
                let one_hot = both.narrow(0, 0, seg.dim(0)?)?.narrow(1, 0, classes)?;
                let image = both.narrow(1, seg_nc, both.dim(1)? - seg_nc)?;
                (image, Some(one_hot.argmax_keepdim(1)?))
            }
        };
        let (fake, real) = split_fake_real(self.discriminator.forward_t(&input, train)?)?;
        Ok((fake, real, labels))
    }

    /// Generator forward: with the encoder, `z = eps * exp(logvar / 2) + mu` from the photo.
    pub fn generate(
        &self,
        seg: &Tensor,
        real: &Tensor,
        eps: Option<&Tensor>,
        train: bool,
    ) -> Result<(Tensor, Option<(Tensor, Tensor)>)> {
        match (&self.encoder, eps) {
            (Some(encoder), Some(eps)) => {
                let (mu, logvar) = encoder.forward_t(real, train)?;
                let z = reparameterize(&mu, &logvar, eps)?;
                Ok((
                    self.generator.forward_t(seg, Some(&z), train)?,
                    Some((mu, logvar)),
                ))
            }
            (Some(_), None) => Err(Error::msg(
                "SPADE with use_vae needs the noise eps of the reparameterization",
            )),
            (None, _) => Ok((self.generator.forward_t(seg, None, train)?, None)),
        }
    }

    /// All losses of one step with fixed networks (as the reference computes them): the
    /// discriminator losses on the detached fake and the generator losses on the fake.
    pub fn losses(
        &self,
        seg: &Tensor,
        real: &Tensor,
        eps: Option<&Tensor>,
        lambda_feat: f64,
        lambda_kld: f64,
        train: bool,
    ) -> Result<SpadeStep> {
        let (fake_image, stats) = self.generate(seg, real, eps, train)?;
        let (d_fake, d_real) = self.discriminator_losses(seg, &fake_image, real, train, None)?;
        let (pred_fake, pred_real, labels) =
            self.discriminate(seg, &fake_image, real, train, None)?;
        let (g_gan, g_feat) =
            self.generator_gan_losses(&pred_fake, &pred_real, labels.as_ref(), lambda_feat)?;
        let kld = match &stats {
            Some((mu, logvar)) => Some((kl_divergence(mu, logvar)? * lambda_kld)?),
            None => None,
        };
        let (mu, logvar) = stats.unzip();
        Ok(SpadeStep {
            fake_image,
            mu,
            logvar,
            kld,
            g_gan,
            g_feat,
            d_fake,
            d_real,
        })
    }

    fn discriminator_losses(
        &self,
        seg: &Tensor,
        fake: &Tensor,
        real: &Tensor,
        train: bool,
        augment: Option<&Draws>,
    ) -> Result<(Tensor, Tensor)> {
        let (pred_fake, pred_real, labels) =
            self.discriminate(seg, &fake.detach(), real, train, augment)?;
        if let Some(labels) = labels {
            return Ok((
                segmentation_loss_multiscale(&pred_fake, &labels, false)?,
                segmentation_loss_multiscale(&pred_real, &labels, true)?,
            ));
        }
        let mode = self.gan_mode;
        Ok((
            d_loss_multiscale(&pred_fake, false, mode, ScaleReduce::Mean)?,
            d_loss_multiscale(&pred_real, true, mode, ScaleReduce::Mean)?,
        ))
    }

    /// G's adversarial loss (towards "real", or for a segmentation D towards the `labels`) and
    /// the feature matching.
    fn generator_gan_losses(
        &self,
        pred_fake: &[Vec<Tensor>],
        pred_real: &[Vec<Tensor>],
        labels: Option<&Tensor>,
        lambda_feat: f64,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let g_gan = match labels {
            Some(labels) => segmentation_loss_multiscale(pred_fake, labels, true)?,
            None => g_loss_multiscale(pred_fake, self.gan_mode, ScaleReduce::Mean)?,
        };
        let g_feat = if self.options.no_gan_feat_loss {
            None
        } else {
            Some(feature_matching(pred_fake, pred_real, 1.0, lambda_feat)?)
        };
        Ok((g_gan, g_feat))
    }
}

/// A SPADE model in training: networks, their variables, optimizers and the VGG loss.
pub struct SpadeFamily {
    nets: SpadeNets,
    g_vars: VarMap,
    e_vars: VarMap,
    d_vars: VarMap,
    opt_g: Adam,
    opt_d: Adam,
    vgg: Option<Vgg>,
    /// `diff_augment`'s policy, parsed.
    augment: Option<Policy>,
    config: TrainConfig,
    device: Device,
}

impl SpadeFamily {
    /// New networks with the published xavier(0.02) init drawn from `rng`.
    pub fn new(
        config: &TrainConfig,
        options: SpadeOptions,
        vgg: Option<Vgg>,
        device: &Device,
        rng: &mut ChaCha8Rng,
    ) -> Result<Self> {
        let (g_vars, e_vars, d_vars) = (VarMap::new(), VarMap::new(), VarMap::new());
        let dtype = candle_core::DType::F32;
        let task = match config.segmentation_d {
            true => DiscriminatorTask::Segmentation {
                classes: options.semantic().label_channels(),
            },
            false => DiscriminatorTask::Conditional,
        };
        let mut nets = SpadeNets::with_task(
            &options,
            task,
            VarBuilder::from_varmap(&g_vars, dtype, device),
            VarBuilder::from_varmap(&e_vars, dtype, device),
            VarBuilder::from_varmap(&d_vars, dtype, device),
        )?;
        nets.gan_mode = config.gan_mode;
        for varmap in [&g_vars, &e_vars, &d_vars] {
            init_varmap(varmap, InitScheme::Xavier { gain: 0.02 }, rng)?;
        }
        if let Some(pretrained) = &config.load_pretrain {
            load_pretrained_spade(pretrained, &g_vars, nets.encoder.as_ref().map(|_| &e_vars))?;
            load_pretrained_discriminator(pretrained, &d_vars)?;
        }
        let (lr_g, lr_d) = config.learning_rates(0);
        let opt_g = adam_over(
            &[("G.", &g_vars), ("E.", &e_vars)],
            adam_config(config, lr_g),
        )?;
        let opt_d = adam_over(&[("D.", &d_vars)], adam_config(config, lr_d))?;
        let augment = config
            .diff_augment
            .as_deref()
            .map(Policy::parse)
            .transpose()?;
        Ok(Self {
            augment,
            nets,
            g_vars,
            e_vars,
            d_vars,
            opt_g,
            opt_d,
            vgg,
            config: config.clone(),
            device: device.clone(),
        })
    }

    fn eps(&self, batch: usize, rng: &mut ChaCha8Rng) -> Result<Option<Tensor>> {
        if !self.nets.options.use_vae {
            return Ok(None);
        }
        let z_dim = self.nets.options.z_dim;
        Ok(Some(Tensor::from_vec(
            standard_normal(rng, batch * z_dim),
            (batch, z_dim),
            &self.device,
        )?))
    }

    fn semantics(&self, batch: &Batch) -> Result<Tensor> {
        semantic_input(
            &batch.label,
            batch.instance.as_ref(),
            &self.nets.options.semantic(),
        )
    }
}

/// `load_pretrain` for SPADE: the generator, and the style encoder when both this run and a
/// bundle folder have one (a bundle's `encoder.safetensors`).
fn load_pretrained_spade(
    source: &std::path::Path,
    g_vars: &VarMap,
    e_vars: Option<&VarMap>,
) -> Result<()> {
    load_matching(g_vars, &pretrained_generator_file(source), "generator")?;
    let encoder_file = source.join(crate::nets::bundle::ENCODER_FILE);
    if let (Some(e_vars), true) = (e_vars, source.is_dir() && encoder_file.exists()) {
        load_matching(e_vars, &encoder_file, "encoder")?;
    }
    Ok(())
}

impl Family for SpadeFamily {
    fn train_step(
        &mut self,
        batch: &Batch,
        lr: (f64, f64),
        rng: &mut ChaCha8Rng,
        stop: &AtomicBool,
    ) -> Result<Losses> {
        self.opt_g.set_lr(lr.0);
        self.opt_d.set_lr(lr.1);
        let seg = self.semantics(batch)?;
        let real = &batch.photo;
        let eps = self.eps(real.dim(0)?, rng)?;
        let (fake, stats) = self.nets.generate(&seg, real, eps.as_ref(), true)?;
        let mut losses = Losses::new();

        // DiffAugment draws afresh for each discriminator pass, as the paper does.
        let (pairs, height, width) = (real.dim(0)?, real.dim(2)?, real.dim(3)?);
        let draw = |rng: &mut ChaCha8Rng| {
            self.augment
                .map(|policy| Draws::sample(policy, pairs, (height, width), rng))
        };
        let d_draws = draw(rng);
        let (d_fake, d_real) =
            self.nets
                .discriminator_losses(&seg, &fake, real, true, d_draws.as_ref())?;
        discriminator_step(&mut self.opt_d, &d_fake, &d_real, 1.0, &mut losses, stop)?;

        // D's weights are constants here: the G step needs gradients for the fake only.
        let g_draws = draw(rng);
        let (pred_fake, pred_real, labels) = crate::nets::layers::with_frozen_weights(|| {
            self.nets
                .discriminate(&seg, &fake, real, true, g_draws.as_ref())
        })?;
        let (g_gan, g_feat) = self.nets.generator_gan_losses(
            &pred_fake,
            &pred_real,
            labels.as_ref(),
            self.config.lambda_feat,
        )?;
        losses.insert("g_gan".into(), scalar(&g_gan)?);
        let mut g_total = g_gan;
        if let Some(feat) = g_feat {
            losses.insert("g_feat".into(), scalar(&feat)?);
            g_total = (g_total + feat)?;
        }
        if let (Some(vgg), true) = (&self.vgg, self.config.lambda_vgg > 0.0) {
            let term = (vgg.loss(&fake, real)? * self.config.lambda_vgg)?;
            losses.insert("g_vgg".into(), scalar(&term)?);
            g_total = (g_total + term)?;
        }
        if self.config.lambda_class_l1 > 0.0 {
            let term = (super::losses::class_balanced_l1(&fake, real, &batch.label)?
                * self.config.lambda_class_l1)?;
            losses.insert("g_class_l1".into(), scalar(&term)?);
            g_total = (g_total + term)?;
        }
        if let Some((mu, logvar)) = &stats {
            let kld = (kl_divergence(mu, logvar)? * self.config.lambda_kld)?;
            losses.insert("kld".into(), scalar(&kld)?);
            g_total = (g_total + kld)?;
        }
        self.opt_g.step(&g_total.backward()?)?;
        losses.insert(
            "g_l1".into(),
            scalar(&super::losses::l1(&fake.detach(), real)?)?,
        );
        Ok(losses)
    }

    fn generate(&self, batch: &Batch, rng: &mut ChaCha8Rng) -> Result<Tensor> {
        let seg = self.semantics(batch)?;
        // Samples show the photo's own style: z = mu of the encoder (eps = 0).
        let eps = match self.eps(batch.photo.dim(0)?, rng)? {
            Some(e) => Some(e.zeros_like()?),
            None => None,
        };
        Ok(self
            .nets
            .generate(&seg, &batch.photo, eps.as_ref(), false)?
            .0
            .detach())
    }

    fn networks(&self) -> Vec<(&'static str, &VarMap)> {
        let mut nets = vec![("G.", &self.g_vars), ("D.", &self.d_vars)];
        if self.nets.encoder.is_some() {
            nets.push(("E.", &self.e_vars));
        }
        nets
    }

    fn optimizers(&mut self) -> Vec<(&'static str, &mut Adam)> {
        vec![("optG.", &mut self.opt_g), ("optD.", &mut self.opt_d)]
    }

    fn generator_options(&self) -> serde_json::Value {
        serde_json::to_value(&self.nets.options).unwrap_or_default()
    }

    fn measure_buffers(
        &self,
        generator: &VarMap,
        encoder: Option<&VarMap>,
        batches: &mut StandingBatches,
    ) -> Result<()> {
        let options = &self.nets.options;
        let dtype = candle_core::DType::F32;
        // Built over the given maps, whose variables it finds by name: the passes update
        // their buffers in place.
        let generator = SpadeGenerator::new(
            options,
            VarBuilder::from_varmap(generator, dtype, &self.device),
        )?;
        let encoder = match (encoder, options.use_vae) {
            (Some(vars), true) => Some(ConvEncoder::new(
                options,
                VarBuilder::from_varmap(vars, dtype, &self.device),
            )?),
            _ => None,
        };
        batches.measure(&self.device, |batch, rng| {
            let seg = self.semantics(batch)?;
            let z = match &encoder {
                Some(encoder) => {
                    let (mu, logvar) = encoder.forward_t(&batch.photo, true)?;
                    let eps = self.eps(batch.photo.dim(0)?, rng)?;
                    eps.map(|eps| reparameterize(&mu, &logvar, &eps))
                        .transpose()?
                }
                None => None,
            };
            generator.forward_t(&seg, z.as_ref(), true)?;
            Ok(())
        })
    }
}

//! pix2pixHD training (Wang et al. 2018; NVIDIA/pix2pixHD `models/pix2pixHD_model.py` and
//! `train.py`): the generator sees the one-hot label map (+ the instance boundary map), the
//! multi-scale discriminator sees cat(label input, image). From one forward pass, D minimizes
//! 0.5 * (LSGAN(D(fake detached), 0) + LSGAN(D(real), 1)) summed over scales, and G minimizes
//! LSGAN(D(fake), 1) + feature matching (lambda_feat * 4 / (n_layers_D + 1) / num_D per layer)
//! plus lambda_vgg * VGG loss. Both gradients are taken before either network changes, as the
//! published step computes both losses in one forward. Adam betas (0.5, 0.999); weights from
//! normal(0, 0.02) with PyTorch's default conv biases.
//!
//! With a local enhancer, the first `niter_fix_global` iterations train only the outermost
//! enhancer (`model{n}_*`); then the global generator and inner enhancers join. They have their
//! own Adam (`optG_global.`), stepped only once they train: per-parameter Adam state, as
//! PyTorch keeps it, instead of the published fresh optimizer at the switch.
use std::sync::atomic::AtomicBool;

use candle_core::{DType, Device, ModuleT, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use rand_chacha::ChaCha8Rng;

use super::config::TrainConfig;
use super::data::Batch;
use super::family::{adam_config, discriminator_step, scalar, Family, Losses};
use super::init::{
    init_varmap, load_matching, load_pretrained_discriminator, pretrained_generator_file,
    InitScheme,
};
use super::losses::{d_loss_multiscale, feature_matching, g_loss_multiscale, l1, ScaleReduce};
use super::optim::Adam;
use super::pix2pixhd_options::HdOptions;
use super::standing_stats::StandingBatches;
use super::vgg::Vgg;
use crate::error::Result;
use crate::nets::norms::NormKind;
use crate::nets::pix2pixhd::{
    GlobalGenerator, LocalEnhancer, LocalOptions, MultiscaleDiscriminator,
};
use crate::nets::semantic::semantic_input;

/// The generator of either kind.
// One per training run: the size difference of the variants costs nothing.
#[allow(clippy::large_enum_variant)]
enum HdGenerator {
    Global(GlobalGenerator),
    Local(LocalEnhancer),
}

impl HdGenerator {
    /// The generator `options` describe, its variables under `vb`.
    fn new(options: &LocalOptions, vb: VarBuilder) -> Result<Self> {
        Ok(if options.n_local_enhancers == 0 {
            Self::Global(GlobalGenerator::new(&options.global, vb)?)
        } else {
            Self::Local(LocalEnhancer::new(options, vb)?)
        })
    }

    fn forward(&self, input: &Tensor, train: bool, fix_global: bool) -> Result<Tensor> {
        Ok(match self {
            Self::Global(g) => g.forward_t(input, train)?,
            Self::Local(g) if fix_global => g.forward_fixing_global(input, train)?,
            Self::Local(g) => g.forward_t(input, train)?,
        })
    }
}

/// Every quantity of one pix2pixHD step, before any update.
pub struct HdStep {
    pub fake: Tensor,
    pub d_fake: Tensor,
    pub d_real: Tensor,
    pub g_gan: Tensor,
    pub g_feat: Option<Tensor>,
    pub g_vgg: Option<Tensor>,
}

impl HdStep {
    /// `loss_G` of the published `train.py`: GAN + feature matching + VGG.
    pub fn g_total(&self) -> Result<Tensor> {
        let mut total = self.g_gan.clone();
        for term in [&self.g_feat, &self.g_vgg].into_iter().flatten() {
            total = (total + term)?;
        }
        Ok(total)
    }
}

/// A pix2pixHD model in training.
pub struct Pix2pixhdFamily {
    options: HdOptions,
    generator: HdGenerator,
    discriminator: MultiscaleDiscriminator,
    g_vars: VarMap,
    d_vars: VarMap,
    /// The outermost enhancer (local) or the whole generator (global alone).
    opt_g: Adam,
    /// The global generator and inner enhancers of a local model.
    opt_g_global: Option<Adam>,
    opt_d: Adam,
    vgg: Option<Vgg>,
    config: TrainConfig,
}

/// The trainable generator variables whose names satisfy `keep`, named `G.{name}`.
fn generator_params(g_vars: &VarMap, keep: impl Fn(&str) -> bool) -> Result<Vec<(String, Var)>> {
    Ok(Adam::trainable(g_vars, "")?
        .into_iter()
        .filter(|(name, _)| keep(name))
        .map(|(name, var)| (format!("G.{name}"), var))
        .collect())
}

impl Pix2pixhdFamily {
    /// New networks initialised from `rng` (generator first, then discriminator).
    pub fn new(
        config: &TrainConfig,
        options: HdOptions,
        vgg: Option<Vgg>,
        device: &Device,
        rng: &mut ChaCha8Rng,
    ) -> Result<Self> {
        let (g_vars, d_vars) = (VarMap::new(), VarMap::new());
        let generator = HdGenerator::new(
            &options.generator,
            VarBuilder::from_varmap(&g_vars, DType::F32, device),
        )?;
        let discriminator = MultiscaleDiscriminator::new(
            &options.discriminator,
            VarBuilder::from_varmap(&d_vars, DType::F32, device),
        )?;
        for varmap in [&g_vars, &d_vars] {
            init_varmap(varmap, InitScheme::NormalDefaultBias { std: 0.02 }, rng)?;
        }
        if let Some(pretrained) = &config.load_pretrain {
            load_matching(&g_vars, &pretrained_generator_file(pretrained), "generator")?;
            load_pretrained_discriminator(pretrained, &d_vars)?;
        }
        let (lr_g, lr_d) = config.learning_rates(0);
        let (opt_g, opt_g_global) = if options.generator.n_local_enhancers == 0 {
            (
                Adam::new(
                    generator_params(&g_vars, |_| true)?,
                    adam_config(config, lr_g),
                )?,
                None,
            )
        } else {
            let outermost = options.generator.outermost_prefix();
            let local = generator_params(&g_vars, |n| n.starts_with(&outermost))?;
            let rest = generator_params(&g_vars, |n| !n.starts_with(&outermost))?;
            (
                Adam::new(local, adam_config(config, lr_g))?,
                Some(Adam::new(rest, adam_config(config, lr_g))?),
            )
        };
        let opt_d = Adam::new(
            Adam::trainable(&d_vars, "")?
                .into_iter()
                .map(|(name, var)| (format!("D.{name}"), var))
                .collect(),
            adam_config(config, lr_d),
        )?;
        Ok(Self {
            options,
            generator,
            discriminator,
            g_vars,
            d_vars,
            opt_g,
            opt_g_global,
            opt_d,
            vgg,
            config: config.clone(),
        })
    }

    pub fn options(&self) -> &HdOptions {
        &self.options
    }

    /// True while only the outermost enhancer trains: a local model in its first
    /// `niter_fix_global` iterations. The iterations done are D's Adam steps (one per
    /// iteration, restored with the checkpoint), so a resumed run fixes the same ones.
    pub fn global_fixed(&self) -> bool {
        self.opt_g_global.is_some() && self.opt_d.step_count() < self.config.niter_fix_global
    }

    /// The generator input: one-hot labels (+ instance boundaries).
    pub fn input(&self, batch: &Batch) -> Result<Tensor> {
        semantic_input(
            &batch.label,
            batch.instance.as_ref(),
            &self.options.semantic,
        )
    }

    /// All losses of one step from the current weights (`pix2pixHD_model.forward`), the
    /// generator fixed below its outermost enhancer when `fix_global`.
    pub fn step_losses(&self, batch: &Batch, fix_global: bool) -> Result<HdStep> {
        let mode = self.config.gan_mode;
        let input = self.input(batch)?;
        let real = &batch.photo;
        let fake = self.generator.forward(&input, true, fix_global)?;
        let discriminate = |image: &Tensor| -> Result<Vec<Vec<Tensor>>> {
            Ok(self
                .discriminator
                .forward_t(&Tensor::cat(&[&input, image], 1)?, true)?)
        };
        let pred_fake_detached = discriminate(&fake.detach())?;
        let d_fake = d_loss_multiscale(&pred_fake_detached, false, mode, ScaleReduce::Sum)?;
        let pred_real = discriminate(real)?;
        let d_real = d_loss_multiscale(&pred_real, true, mode, ScaleReduce::Sum)?;
        // D's convolution weights are constants for the generator's terms.
        let pred_fake = crate::nets::layers::with_frozen_weights(|| discriminate(&fake))?;
        let g_gan = g_loss_multiscale(&pred_fake, mode, ScaleReduce::Sum)?;
        let lambda_feat = self.config.lambda_feat;
        let g_feat = if self.options.discriminator.intermediate_features && lambda_feat > 0.0 {
            let weight = self.options.feature_layer_weight();
            Some(feature_matching(
                &pred_fake,
                &pred_real,
                weight,
                lambda_feat,
            )?)
        } else {
            None
        };
        let g_vgg = match (&self.vgg, self.config.lambda_vgg > 0.0) {
            (Some(vgg), true) => Some((vgg.loss(&fake, real)? * self.config.lambda_vgg)?),
            _ => None,
        };
        Ok(HdStep {
            fake,
            d_fake,
            d_real,
            g_gan,
            g_feat,
            g_vgg,
        })
    }
}

impl Family for Pix2pixhdFamily {
    fn train_step(
        &mut self,
        batch: &Batch,
        lr: (f64, f64),
        _rng: &mut ChaCha8Rng,
        stop: &AtomicBool,
    ) -> Result<Losses> {
        let fix_global = self.global_fixed();
        self.opt_g.set_lr(lr.0);
        if let Some(opt) = &mut self.opt_g_global {
            opt.set_lr(lr.0);
        }
        self.opt_d.set_lr(lr.1);
        let step = self.step_losses(batch, fix_global)?;
        // G's gradient first: D's update rewrites its weights in place, and G's loss must be
        // differentiated through the discriminator that produced it.
        let g_grads = step.g_total()?.backward()?;
        let mut losses = Losses::new();
        discriminator_step(
            &mut self.opt_d,
            &step.d_fake,
            &step.d_real,
            0.5,
            &mut losses,
            stop,
        )?;
        self.opt_g.step(&g_grads)?;
        if let (Some(opt), false) = (&mut self.opt_g_global, fix_global) {
            opt.step(&g_grads)?;
        }
        losses.insert("g_gan".into(), scalar(&step.g_gan)?);
        if let Some(feat) = &step.g_feat {
            losses.insert("g_feat".into(), scalar(feat)?);
        }
        if let Some(vgg) = &step.g_vgg {
            losses.insert("g_vgg".into(), scalar(vgg)?);
        }
        losses.insert(
            "g_l1".into(),
            scalar(&l1(&step.fake.detach(), &batch.photo)?)?,
        );
        Ok(losses)
    }

    fn generate(&self, batch: &Batch, _rng: &mut ChaCha8Rng) -> Result<Tensor> {
        let input = self.input(batch)?;
        Ok(self.generator.forward(&input, false, false)?.detach())
    }

    fn networks(&self) -> Vec<(&'static str, &VarMap)> {
        vec![("G.", &self.g_vars), ("D.", &self.d_vars)]
    }

    fn optimizers(&mut self) -> Vec<(&'static str, &mut Adam)> {
        let mut optimizers = vec![("optG.", &mut self.opt_g)];
        if let Some(opt) = &mut self.opt_g_global {
            optimizers.push(("optG_global.", opt));
        }
        optimizers.push(("optD.", &mut self.opt_d));
        optimizers
    }

    fn generator_options(&self) -> serde_json::Value {
        self.options.generator_json().unwrap_or_default()
    }

    fn measure_buffers(
        &self,
        generator: &VarMap,
        _encoder: Option<&VarMap>,
        batches: &mut StandingBatches,
    ) -> Result<()> {
        // Instance norm (the published default) keeps no running statistics.
        if self.options.generator.global.norm != NormKind::Batch {
            return Ok(());
        }
        let device = super::standing_stats::device_of(generator);
        // Built over the given map, whose variables it finds by name: the passes update its
        // batch-norm statistics in place.
        let hd = HdGenerator::new(
            &self.options.generator,
            VarBuilder::from_varmap(generator, DType::F32, &device),
        )?;
        let fix_global = self.global_fixed();
        batches.measure(&device, |batch, _| {
            hd.forward(&self.input(batch)?, true, fix_global)?;
            Ok(())
        })
    }
}

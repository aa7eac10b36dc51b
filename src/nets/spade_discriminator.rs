//! SPADE's discriminator (`MultiscaleDiscriminator` of `NLayerDiscriminator`s, NVlabs/SPADE
//! `models/networks/discriminator.py`): PatchGAN discriminators at successively halved
//! scales, each returning every layer's output so the generator can use a feature-matching
//! loss. The input is the semantic map concatenated with a real or generated image; or, as a
//! segmentation discriminator (OASIS, `train::segmentation_loss`), the image alone, with a score
//! per class plus "fake" for each patch ([`DiscriminatorTask`]).
use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;

use super::layers::{avg_pool3_s2_exclude_pad, Conv2d, ConvGeometry};
use super::spade::{NormConv2d, LEAKY_SLOPE};
use super::spade_options::{NonSpadeNormConfig, SpadeOptions};
use crate::{Error, Result};

/// Kernel 4, padding ceil((4 - 1) / 2) = 2 as in the published PatchGAN.
const KERNEL: usize = 4;
const PADDING: usize = 2;
/// Channel cap of the published discriminator.
const MAX_CHANNELS: usize = 512;

/// What a discriminator sees and predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscriminatorTask {
    /// The published SPADE discriminator: semantics ++ image in, one real/fake score per patch.
    Conditional,
    /// OASIS's: the image alone in, per patch a score for each of `classes` classes (channel
    /// `id + 1`) and for "fake" (channel 0).
    Segmentation { classes: usize },
}

impl DiscriminatorTask {
    pub fn input_nc(self, options: &SpadeOptions) -> usize {
        match self {
            Self::Conditional => options.discriminator_input_nc(),
            Self::Segmentation { .. } => options.output_nc,
        }
    }

    pub fn output_nc(self) -> usize {
        match self {
            Self::Conditional => 1,
            Self::Segmentation { classes } => classes + 1,
        }
    }
}

/// One PatchGAN: `model0` (conv + leaky ReLU), `model1..n-1` (normed conv + leaky ReLU),
/// `model{n}` (conv to the per-patch prediction: one channel, or classes + 1).
#[derive(Debug, Clone)]
pub struct NLayerDiscriminator {
    first: Conv2d,
    middle: Vec<NormConv2d>,
    last: Conv2d,
}

impl NLayerDiscriminator {
    pub fn new(options: &SpadeOptions, task: DiscriminatorTask, vb: VarBuilder) -> Result<Self> {
        if options.net_d_subarch != "n_layer" {
            return Err(Error::msg(format!(
                "netD_subarch '{}' is not supported; only 'n_layer' exists in SPADE",
                options.net_d_subarch
            )));
        }
        if options.n_layers_d == 0 {
            return Err(Error::msg("n_layers_D must be at least 1".to_string()));
        }
        let norm = NonSpadeNormConfig::parse(&options.norm_d)?;
        let mut nf = options.ndf;
        let first_geometry = ConvGeometry::new(task.input_nc(options), nf, KERNEL, 2, PADDING);
        let first = Conv2d::new(first_geometry, true, vb.pp("model0.0"))?;
        let mut middle = Vec::with_capacity(options.n_layers_d - 1);
        for n in 1..options.n_layers_d {
            let nf_prev = nf;
            nf = (2 * nf).min(MAX_CHANNELS);
            let stride = if n == options.n_layers_d - 1 { 1 } else { 2 };
            let geometry = ConvGeometry::new(nf_prev, nf, KERNEL, stride, PADDING);
            middle.push(NormConv2d::new(
                geometry,
                norm,
                vb.pp(format!("model{n}.0")),
            )?);
        }
        let last_geometry = ConvGeometry::new(nf, task.output_nc(), KERNEL, 1, PADDING);
        let last = Conv2d::new(
            last_geometry,
            true,
            vb.pp(format!("model{}.0", options.n_layers_d)),
        )?;
        Ok(Self {
            first,
            middle,
            last,
        })
    }

    /// Every layer's output; the last one is the prediction.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Vec<Tensor>> {
        let mut features = Vec::with_capacity(self.middle.len() + 2);
        let mut h = self.first.forward_leaky(x, LEAKY_SLOPE)?;
        features.push(h.clone());
        for layer in &self.middle {
            h = layer.forward_act(&h, train, LEAKY_SLOPE)?;
            features.push(h.clone());
        }
        features.push(self.last.forward(&h)?);
        Ok(features)
    }
}

/// `num_D` PatchGANs (`discriminator_0` at full scale, each next one on the previous input
/// average-pooled by 2).
#[derive(Debug, Clone)]
pub struct MultiscaleDiscriminator {
    task: DiscriminatorTask,
    input_nc: usize,
    discriminators: Vec<NLayerDiscriminator>,
}

impl MultiscaleDiscriminator {
    /// The published (conditional) discriminator.
    pub fn new(options: &SpadeOptions, vb: VarBuilder) -> Result<Self> {
        Self::for_task(options, DiscriminatorTask::Conditional, vb)
    }

    pub fn for_task(
        options: &SpadeOptions,
        task: DiscriminatorTask,
        vb: VarBuilder,
    ) -> Result<Self> {
        let discriminators = (0..options.num_d)
            .map(|i| NLayerDiscriminator::new(options, task, vb.pp(format!("discriminator_{i}"))))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            task,
            input_nc: task.input_nc(options),
            discriminators,
        })
    }

    pub fn task(&self) -> DiscriminatorTask {
        self.task
    }

    /// `input`: semantic map ++ image, (N, semantic_nc + output_nc, H, W) (the image alone for
    /// a segmentation discriminator). Returns, per
    /// discriminator (full scale first), every layer's output with the prediction last.
    pub fn forward_t(&self, input: &Tensor, train: bool) -> Result<Vec<Vec<Tensor>>> {
        let channels = input.dim(1)?;
        if channels != self.input_nc {
            return Err(Error::msg(format!(
                "SPADE discriminator: expected {} input channels ({}), found shape {:?}",
                self.input_nc,
                match self.task {
                    DiscriminatorTask::Conditional => "semantics ++ image",
                    DiscriminatorTask::Segmentation { .. } => "the image",
                },
                input.dims()
            )));
        }
        let mut x = input.clone();
        let mut outputs = Vec::with_capacity(self.discriminators.len());
        for (i, discriminator) in self.discriminators.iter().enumerate() {
            if i > 0 {
                x = avg_pool3_s2_exclude_pad(&x)?;
            }
            outputs.push(discriminator.forward_t(&x, train)?);
        }
        Ok(outputs)
    }
}

//! SPADE's generator (`spade_generator.rs`, after NVlabs/SPADE `SPADEGenerator`) on the fast
//! path: the latent grid from `z` (VAE) or the downsized map, SPADE residual blocks with their
//! norms on the shared per-resolution semantic context (`seg.rs`, `spade_norm.rs`), spectral
//! norm applied once at load, the block's residual sum and the final leaky ReLU fused into
//! `conv_1`.
use candle_core::Tensor;

use super::conv::{Activation, Conv2d, Epilogue};
use super::gather::PadMode;
use super::gemm::{sgemm_into, MatRef};
use super::ops;
use super::planes::Planes;
use super::seg::SegContext;
use super::spade_norm::{FastSpadeNorm, ParamFree};
use super::{conv_from, maybe_spectral_from, values, FastError};
use crate::nets::spade::{SpadeResnetBlock, LEAKY_SLOPE};
use crate::nets::spade_generator::{LatentInput, SpadeGenerator};
use crate::nets::spade_options::{SpadeNormConfig, UpsamplingLayers};

const LEAKY: Activation = Activation::LeakyRelu(LEAKY_SLOPE as f32);

#[derive(Debug, Clone)]
pub(super) struct Block {
    norm_0: FastSpadeNorm,
    conv_0: Conv2d,
    norm_1: FastSpadeNorm,
    conv_1: Conv2d,
    shortcut: Option<(FastSpadeNorm, Conv2d)>,
    /// Doubles the grid (nearest) before the block.
    pub(super) upsample: bool,
}

impl Block {
    fn new(block: &SpadeResnetBlock, upsample: bool) -> Result<Self, FastError> {
        let shortcut = match &block.shortcut {
            Some((norm, conv)) => Some((FastSpadeNorm::new(norm)?, maybe_spectral_from(conv)?)),
            None => None,
        };
        Ok(Self {
            norm_0: FastSpadeNorm::new(&block.norm_0)?,
            conv_0: maybe_spectral_from(&block.conv_0)?,
            norm_1: FastSpadeNorm::new(&block.norm_1)?,
            conv_1: maybe_spectral_from(&block.conv_1)?,
            shortcut,
            upsample,
        })
    }

    /// Multiply-accumulates of the block's convolutions per pixel of its level.
    pub(super) fn macs_per_pixel(&self) -> usize {
        let conv_macs = |c: &Conv2d| c.in_channels * c.out_channels * c.kernel * c.kernel;
        conv_macs(&self.conv_0)
            + conv_macs(&self.conv_1)
            + self.shortcut.as_ref().map_or(0, |(_, c)| conv_macs(c))
    }

    /// The block on `x` (already at the level's size); `post` runs after the residual sum.
    pub(super) fn forward(
        &self,
        x: &Planes,
        seg: &mut SegContext,
        post: Activation,
    ) -> Result<Planes, FastError> {
        Ok(self.forward_stats(x, seg, post, None)?.0)
    }

    /// [`Self::forward`], with the instance statistics of another frame when `frozen` is given
    /// (an in-stroke window of an instance-norm model); returns those it used.
    pub(super) fn forward_stats(
        &self,
        x: &Planes,
        seg: &mut SegContext,
        post: Activation,
        frozen: Option<&BlockStats>,
    ) -> Result<(Planes, BlockStats), FastError> {
        let sparse = seg.signatures().is_some();
        let index = seg.prepare(x.height, x.width, !sparse);
        let (level, signatures) = (seg.level(index), seg.signatures());
        let is_instance = matches!(self.norm_0.param_free, ParamFree::Instance);
        // norm_0 and norm_s normalize the same x: one set of instance statistics.
        let instance = match frozen.and_then(|f| f.x.clone()) {
            Some(stats) => Some(stats),
            None => is_instance.then(|| ops::instance_norm_affine(x, ops::NORM_EPS)),
        };
        let shortcut = match &self.shortcut {
            Some((norm, conv)) => {
                let affine = norm.affine(x, instance.as_deref());
                let normed = norm.forward(x, &affine, level, signatures, Activation::Identity)?;
                Some(conv.forward(&normed, Epilogue::activation(Activation::Identity))?)
            }
            None => None,
        };
        let affine = self.norm_0.affine(x, instance.as_deref());
        let dx = self.norm_0.forward(x, &affine, level, signatures, LEAKY)?;
        let dx = self
            .conv_0
            .forward(&dx, Epilogue::activation(Activation::Identity))?;
        let affine = self
            .norm_1
            .affine(&dx, frozen.and_then(|f| f.dx.as_deref()));
        let dx_stats =
            matches!(self.norm_1.param_free, ParamFree::Instance).then(|| affine.clone());
        let dx = self
            .norm_1
            .forward(&dx, &affine, level, signatures, LEAKY)?;
        let epilogue = Epilogue {
            residual: Some(shortcut.as_ref().unwrap_or(x)),
            activation: post,
        };
        let stats = BlockStats {
            x: instance,
            dx: dx_stats,
        };
        Ok((self.conv_1.forward(&dx, epilogue)?, stats))
    }
}

/// The instance statistics a block's norms used (none for batch-norm SPADE): `norm_0` and
/// `norm_s` on the block's input, `norm_1` on `conv_0`'s output.
#[derive(Debug, Clone, Default)]
pub(super) struct BlockStats {
    x: Option<Vec<ops::ChannelNorm>>,
    dx: Option<Vec<ops::ChannelNorm>>,
}

#[derive(Debug, Clone)]
enum Latent {
    /// `Linear(z_dim, 16 ngf sh sw)`: weight (out, z_dim), bias.
    Vae {
        weight: Vec<f32>,
        bias: Vec<f32>,
        z_dim: usize,
    },
    Semantic(Conv2d),
}

/// `SPADEGenerator` (eval mode) on the fast path.
#[derive(Debug, Clone)]
pub struct FastSpade {
    latent: Latent,
    /// (height, width) of the latent grid.
    latent_size: (usize, usize),
    latent_channels: usize,
    semantic_nc: usize,
    kernel: usize,
    blocks: Vec<Block>,
    conv_img: Conv2d,
    /// The Candle generator's linear layer, only to sample `z` like it does when none is given.
    z_dim: usize,
    use_sparse: bool,
}

impl FastSpade {
    pub fn new(generator: &SpadeGenerator) -> Result<Self, FastError> {
        let options = generator.options();
        let config = SpadeNormConfig::parse(&options.norm_g)
            .map_err(|e| FastError::Unsupported(format!("SPADE norm_G: {e}")))?;
        let latent = match &generator.fc {
            LatentInput::Vae(linear) => Latent::Vae {
                weight: values(linear.weight())?,
                bias: match linear.bias() {
                    Some(b) => values(b)?,
                    None => vec![0.0; linear.weight().dim(0)?],
                },
                z_dim: options.z_dim,
            },
            LatentInput::Semantic(conv) => {
                Latent::Semantic(conv_from(conv, (conv.geometry().padding, PadMode::Zero))?)
            }
        };
        let more = options.num_upsampling_layers != UpsamplingLayers::Normal;
        let mut blocks = vec![
            Block::new(&generator.head_0, false)?,
            Block::new(&generator.g_middle_0, true)?,
            Block::new(&generator.g_middle_1, more)?,
        ];
        for block in &generator.up {
            blocks.push(Block::new(block, true)?);
        }
        let g = generator.conv_img.geometry();
        Ok(Self {
            latent,
            latent_size: (generator.latent_height, generator.latent_width),
            latent_channels: 16 * options.ngf,
            semantic_nc: options.semantic_nc(),
            kernel: config.kernel,
            blocks,
            conv_img: conv_from(&generator.conv_img, (g.padding, PadMode::Zero))?,
            z_dim: options.z_dim,
            use_sparse: true,
        })
    }

    /// Computes SPADE's modulation densely everywhere (the sparse path's reference).
    pub fn with_dense_modulation(mut self) -> Self {
        self.use_sparse = false;
        self
    }

    /// One image per sample; `z` (N, z_dim) for VAE models, sampled when `None`.
    pub fn forward_batch(
        &self,
        seg: &[Planes],
        z: Option<&Tensor>,
    ) -> Result<Vec<Planes>, FastError> {
        let z_rows = match (&self.latent, z) {
            (Latent::Vae { .. }, Some(z)) => {
                let dims = z.dims2()?;
                if dims != (seg.len(), self.z_dim) {
                    return Err(FastError::shape(
                        "SPADE z",
                        format!("({}, {})", seg.len(), self.z_dim),
                        format!("{dims:?}"),
                    ));
                }
                Some(values(z)?)
            }
            (Latent::Vae { .. }, None) => {
                // Like the published (and the Candle) generator: z ~ N(0, 1) when not given.
                let z = Tensor::randn(
                    0f32,
                    1f32,
                    (seg.len(), self.z_dim),
                    &candle_core::Device::Cpu,
                )?;
                Some(values(&z)?)
            }
            (Latent::Semantic(_), _) => None,
        };
        seg.iter()
            .enumerate()
            .map(|(i, s)| {
                let z = z_rows
                    .as_ref()
                    .map(|z| &z[i * self.z_dim..(i + 1) * self.z_dim]);
                self.forward(s, z)
            })
            .collect()
    }

    /// One sample: `seg` (semantic_nc, H, W) at the output size, `z` its style code.
    pub fn forward(&self, seg: &Planes, z: Option<&[f32]>) -> Result<Planes, FastError> {
        if seg.channels != self.semantic_nc {
            return Err(FastError::shape(
                "SPADE semantic input channels",
                self.semantic_nc,
                seg.channels,
            ));
        }
        let mut context = SegContext::new(seg, self.radius(), self.use_sparse);
        let mut x = self.latent(seg, z)?;
        for (i, block) in self.blocks.iter().enumerate() {
            x = self.block_input(i, x);
            x = block.forward(&x, &mut context, self.block_post(i))?;
        }
        self.conv_img
            .forward(&x, Epilogue::activation(Activation::Tanh))
    }

    /// `x` as block `i` takes it: doubled (nearest) when the block upsamples.
    pub(super) fn block_input(&self, i: usize, x: Planes) -> Planes {
        match self.blocks[i].upsample {
            true => ops::resize_nearest(&x, 2 * x.height, 2 * x.width),
            false => x,
        }
    }

    /// What runs after block `i`'s residual sum: the image head starts with a leaky ReLU,
    /// fused into the last block.
    pub(super) fn block_post(&self, i: usize) -> Activation {
        match i + 1 == self.blocks.len() {
            true => LEAKY,
            false => Activation::Identity,
        }
    }

    pub(super) fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    pub(super) fn conv_img(&self) -> &Conv2d {
        &self.conv_img
    }

    /// (height, width) of the latent grid.
    pub(super) fn latent_size(&self) -> (usize, usize) {
        self.latent_size
    }

    /// Half the SPADE kernel: how far `mlp_shared` and `mlp_gamma` each reach.
    pub(super) fn radius(&self) -> usize {
        self.kernel / 2
    }

    /// SPADE's modulation by signature tables (else dense convolutions).
    pub(super) fn sparse(&self) -> bool {
        self.use_sparse
    }

    /// The latent grid comes from the label map (no VAE style code).
    pub(super) fn latent_reads_map(&self) -> bool {
        matches!(self.latent, Latent::Semantic(_))
    }

    /// The norms inside SPADE are instance norms (statistics over the whole frame).
    pub(super) fn uses_instance_norm(&self) -> bool {
        self.blocks
            .iter()
            .any(|b| matches!(b.norm_0.param_free, ParamFree::Instance))
    }

    pub(super) fn latent(&self, seg: &Planes, z: Option<&[f32]>) -> Result<Planes, FastError> {
        let (h, w) = self.latent_size;
        match (&self.latent, z) {
            (
                Latent::Vae {
                    weight,
                    bias,
                    z_dim,
                },
                Some(z),
            ) => {
                let out_len = bias.len();
                let mut out = bias.clone();
                let lhs = MatRef::row_major(weight, out_len, *z_dim);
                sgemm_into(&mut out, lhs, MatRef::row_major(z, *z_dim, 1), true);
                Planes::new(self.latent_channels, h, w, out)
            }
            (Latent::Vae { .. }, None) => Err(FastError::shape("SPADE z", "a style code", "none")),
            (Latent::Semantic(conv), _) => {
                let small = ops::resize_nearest(seg, h, w);
                conv.forward(&small, Epilogue::activation(Activation::Identity))
            }
        }
    }
}

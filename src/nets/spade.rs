//! SPADE (Park et al., "Semantic Image Synthesis with Spatially-Adaptive Normalization",
//! CVPR 2019): the SPADE normalization layer, the SPADE residual block and the non-SPADE
//! "spectral + sub-norm" convolution shared by the encoder and the discriminator.
//! Follows NVlabs/SPADE `models/networks/{normalization,architecture}.py`; tensor names match
//! its `state_dict`, so published checkpoints load unchanged.
//!
//! The options and the norm strings they configure these layers with are in
//! `spade_options.rs`; the generator, encoder and discriminator live in `spade_generator.rs`,
//! `spade_encoder.rs` and `spade_discriminator.rs`.
use candle_core::{Module, ModuleT, Tensor};
use candle_nn::VarBuilder;

use super::fast::train_modulation;
use super::fast::train_norm as fast;
use super::layers::{
    instance_norm, leaky_relu, resize_nearest, BatchNorm2d, Conv2d, ConvGeometry,
    MaybeSpectralConv2d,
};
use super::spade_options::{
    NonSpadeNormConfig, ParamFreeNorm, SpadeNormConfig, SpadeOptions, SubNorm,
};
use crate::Result;

/// `nn.InstanceNorm2d` / `nn.BatchNorm2d` default epsilon.
const NORM_EPS: f64 = 1e-5;
/// Slope of every leaky ReLU in SPADE.
pub const LEAKY_SLOPE: f64 = 0.2;

/// A convolution wrapped like `get_nonspade_norm_layer`: optional spectral norm, and when a
/// sub-norm follows, the conv loses its bias and sits at `.0` with the norm at `.1`.
#[derive(Debug, Clone)]
pub struct NormConv2d {
    conv: MaybeSpectralConv2d,
    batch_norm: Option<BatchNorm2d>,
    instance_norm: bool,
}

impl NormConv2d {
    pub fn new(
        geometry: ConvGeometry,
        norm: NonSpadeNormConfig,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        if norm.sub == SubNorm::None {
            let conv = MaybeSpectralConv2d::new(geometry, true, norm.spectral, vb)?;
            return Ok(Self {
                conv,
                batch_norm: None,
                instance_norm: false,
            });
        }
        let conv = MaybeSpectralConv2d::new(geometry, false, norm.spectral, vb.pp("0"))?;
        let batch_norm = match norm.sub {
            SubNorm::Batch => Some(BatchNorm2d::new(geometry.out_channels, true, vb.pp("1"))?),
            _ => None,
        };
        Ok(Self {
            conv,
            batch_norm,
            instance_norm: norm.sub == SubNorm::Instance,
        })
    }
}

impl NormConv2d {
    /// `leaky_relu(self.forward_t(x), slope)`, the norm and the activation fused into one op
    /// when training on the fast path.
    pub fn forward_act(&self, x: &Tensor, train: bool, slope: f64) -> candle_core::Result<Tensor> {
        let y = self.conv.forward_t(x, train)?;
        if fast::fused_for(&y) {
            match &self.batch_norm {
                Some(bn) if train => return bn.forward_train_fused(&y, Some(slope)),
                None if self.instance_norm => {
                    return Ok(fast::normalize(
                        &y,
                        fast::NormGroups::Instance,
                        NORM_EPS,
                        Some(slope),
                    )?
                    .0)
                }
                _ => {}
            }
        }
        let y = match &self.batch_norm {
            Some(bn) => bn.forward_t(&y, train)?,
            None if self.instance_norm => instance_norm(&y, NORM_EPS)?,
            None => y,
        };
        leaky_relu(&y, slope)
    }
}

impl ModuleT for NormConv2d {
    fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let y = self.conv.forward_t(x, train)?;
        match &self.batch_norm {
            Some(bn) => bn.forward_t(&y, train),
            None if self.instance_norm => instance_norm(&y, NORM_EPS),
            None => Ok(y),
        }
    }
}

/// The SPADE layer: parameter-free norm of `x`, then a per-pixel scale and shift predicted
/// from the semantic map: `norm(x) * (1 + gamma(seg)) + beta(seg)`.
#[derive(Debug, Clone)]
pub struct Spade {
    pub(crate) batch_norm: Option<BatchNorm2d>,
    pub(crate) mlp_shared: Conv2d,
    pub(crate) mlp_gamma: Conv2d,
    pub(crate) mlp_beta: Conv2d,
}

impl Spade {
    /// `norm_nc`: channels of `x`; `label_nc`: channels of the semantic map.
    pub fn new(
        config: SpadeNormConfig,
        norm_nc: usize,
        label_nc: usize,
        hidden_nc: usize,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let (k, pad) = (config.kernel, config.kernel / 2);
        let batch_norm = match config.param_free {
            ParamFreeNorm::Batch => {
                Some(BatchNorm2d::new(norm_nc, false, vb.pp("param_free_norm"))?)
            }
            ParamFreeNorm::Instance => None,
        };
        let mlp_shared = Conv2d::new(
            ConvGeometry::new(label_nc, hidden_nc, k, 1, pad),
            true,
            vb.pp("mlp_shared.0"),
        )?;
        let mlp_gamma = Conv2d::new(
            ConvGeometry::new(hidden_nc, norm_nc, k, 1, pad),
            true,
            vb.pp("mlp_gamma"),
        )?;
        let mlp_beta = Conv2d::new(
            ConvGeometry::new(hidden_nc, norm_nc, k, 1, pad),
            true,
            vb.pp("mlp_beta"),
        )?;
        Ok(Self {
            batch_norm,
            mlp_shared,
            mlp_gamma,
            mlp_beta,
        })
    }

    /// `seg` is resized (nearest) to `x`'s size; passing it already at that size skips that.
    pub fn forward_t(&self, x: &Tensor, seg: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.forward_act(x, seg, train, None)
    }

    /// [`Self::forward_t`] followed by `leaky_relu(slope)` when given; on the fast training
    /// path the norm, the modulation and the activation are one op
    /// ([`fast::spade_modulate`]).
    pub fn forward_act(
        &self,
        x: &Tensor,
        seg: &Tensor,
        train: bool,
        slope: Option<f64>,
    ) -> candle_core::Result<Tensor> {
        let groups = match &self.batch_norm {
            Some(_) if train => Some(fast::NormGroups::Batch),
            Some(_) => None,
            None => Some(fast::NormGroups::Instance),
        };
        if let (Some(groups), true) = (groups, fast::fused_for(x)) {
            let (gamma, beta) = self.gamma_beta(x, seg)?;
            let (y, stats) = fast::spade_modulate(x, &gamma, &beta, groups, NORM_EPS, slope)?;
            if let Some(bn) = &self.batch_norm {
                bn.update_from_fused(x, &stats)?;
            }
            return Ok(y);
        }
        let normalized = match &self.batch_norm {
            Some(bn) => bn.forward_t(x, train)?,
            None => instance_norm(x, NORM_EPS)?,
        };
        let (gamma, beta) = self.gamma_beta(x, seg)?;
        let y = normalized
            .broadcast_mul(&(gamma + 1.0)?)?
            .broadcast_add(&beta)?;
        match slope {
            Some(slope) => leaky_relu(&y, slope),
            None => Ok(y),
        }
    }

    /// The per-pixel scale and shift predicted from `seg` at `x`'s size.
    fn gamma_beta(&self, x: &Tensor, seg: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let (n, _, h, w) = x.dims4()?;
        let full_seg = seg;
        let seg = resize_nearest(seg, h, w)?;
        if fast::fused_for(x) && !seg.track_op() {
            if let Some(pair) = self.sparse_gamma_beta(full_seg, &seg, n * h * w)? {
                return Ok(pair);
            }
        }
        let actv = self.mlp_shared.forward_leaky(&seg, 0.0)?;
        Ok((
            self.mlp_gamma.forward(&actv)?,
            self.mlp_beta.forward(&actv)?,
        ))
    }
}

impl Spade {
    /// Training on the fast path: gamma and beta computed per label neighbourhood
    /// ([`train_modulation`]), when `seg` (`full_seg` at `x`'s size) has large enough
    /// regions.
    fn sparse_gamma_beta(
        &self,
        full_seg: &Tensor,
        seg: &Tensor,
        pixels: usize,
    ) -> candle_core::Result<Option<(Tensor, Tensor)>> {
        let g = self.mlp_gamma.geometry();
        let Some(map) = train_modulation::SparseSeg::prepare_cached(full_seg, seg, g.kernel)?
        else {
            return Ok(None);
        };
        let shape = train_modulation::ModulationShape {
            label_nc: self.mlp_shared.geometry().in_channels,
            hidden: g.in_channels,
            out: g.out_channels,
            kernel: g.kernel,
        };
        let convs = [&self.mlp_shared, &self.mlp_gamma, &self.mlp_beta];
        let (Some(shared), Some(gamma), Some(beta)) =
            (convs[0].packed()?, convs[1].packed()?, convs[2].packed()?)
        else {
            return Ok(None);
        };
        convs.iter().for_each(|c| c.record_dense_macs(pixels));
        let modulation =
            |output: &Tensor| train_modulation::modulation(&map, shape, &shared, output);
        Ok(Some((modulation(&gamma)?, modulation(&beta)?)))
    }
}

/// `SPADEResnetBlock`: two SPADE-norm + leaky-ReLU + 3x3 conv steps, and a shortcut that is
/// learned (SPADE norm + 1x1 conv without bias) when the channel count changes.
#[derive(Debug, Clone)]
pub struct SpadeResnetBlock {
    pub(crate) norm_0: Spade,
    pub(crate) conv_0: MaybeSpectralConv2d,
    pub(crate) norm_1: Spade,
    pub(crate) conv_1: MaybeSpectralConv2d,
    pub(crate) shortcut: Option<(Spade, MaybeSpectralConv2d)>,
}

impl SpadeResnetBlock {
    pub fn new(fin: usize, fout: usize, options: &SpadeOptions, vb: VarBuilder) -> Result<Self> {
        let config = SpadeNormConfig::parse(&options.norm_g)?;
        let (label_nc, hidden) = (options.semantic_nc(), options.spade_hidden_nc);
        let fmiddle = fin.min(fout);
        let conv = |g: ConvGeometry, bias: bool, name: &str| {
            MaybeSpectralConv2d::new(g, bias, config.spectral, vb.pp(name))
        };
        let spade = |channels: usize, name: &str| {
            Spade::new(config, channels, label_nc, hidden, vb.pp(name))
        };
        let shortcut = if fin != fout {
            Some((
                spade(fin, "norm_s")?,
                conv(ConvGeometry::new(fin, fout, 1, 1, 0), false, "conv_s")?,
            ))
        } else {
            None
        };
        Ok(Self {
            norm_0: spade(fin, "norm_0")?,
            conv_0: conv(ConvGeometry::new(fin, fmiddle, 3, 1, 1), true, "conv_0")?,
            norm_1: spade(fmiddle, "norm_1")?,
            conv_1: conv(ConvGeometry::new(fmiddle, fout, 3, 1, 1), true, "conv_1")?,
            shortcut,
        })
    }

    pub fn forward_t(&self, x: &Tensor, seg: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let x_s = match &self.shortcut {
            Some((norm_s, conv_s)) => conv_s.forward_t(&norm_s.forward_t(x, seg, train)?, train)?,
            None => x.clone(),
        };
        let dx = self.norm_0.forward_act(x, seg, train, Some(LEAKY_SLOPE))?;
        let dx = self.conv_0.forward_t(&dx, train)?;
        let dx = self
            .norm_1
            .forward_act(&dx, seg, train, Some(LEAKY_SLOPE))?;
        let dx = self.conv_1.forward_t(&dx, train)?;
        x_s + dx
    }
}

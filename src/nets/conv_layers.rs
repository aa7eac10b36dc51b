//! The convolution layers, written once for all three families: `nn.Conv2d`,
//! `spectral_norm(nn.Conv2d)` (Miyato et al. 2018, as `torch.nn.utils.spectral_norm` computes
//! it), `nn.ConvTranspose2d`, their shared geometry and initialisation, and the FLOP counter
//! the benchmark reads. Weight names mirror the PyTorch modules (`weight`, `bias`,
//! `weight_orig`, `weight_u`, `weight_v`) so published checkpoints load unchanged.
//!
//! Training (a weight that is a variable, or an input that needs a gradient) runs on the fast
//! CPU ops of [`super::fast::train_conv`] with the bias and a following (leaky) ReLU inside
//! the op; inference runs on Candle's conv2d, the plain baseline of the fast path.
use candle_core::{Module, ModuleT, Result, Tensor};
use candle_nn::VarBuilder;

use super::layers::{leaky_relu, per_channel, relu, update_buffer};

/// A convolution's geometry, shared by the plain and spectral-norm variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl ConvGeometry {
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> Self {
        Self {
            in_channels,
            out_channels,
            kernel,
            stride,
            padding,
        }
    }
}

fn conv_init(geometry: ConvGeometry) -> candle_nn::Init {
    let fan_in = (geometry.in_channels * geometry.kernel * geometry.kernel) as f64;
    // PyTorch's default conv init (kaiming uniform with a = sqrt(5)): bound = 1 / sqrt(fan_in).
    let bound = 1.0 / fan_in.sqrt();
    candle_nn::Init::Uniform {
        lo: -bound,
        up: bound,
    }
}

fn load_conv_bias(geometry: ConvGeometry, bias: bool, vb: &VarBuilder) -> Result<Option<Tensor>> {
    if !bias {
        return Ok(None);
    }
    let bound = 1.0 / ((geometry.in_channels * geometry.kernel * geometry.kernel) as f64).sqrt();
    vb.get_with_hints(
        geometry.out_channels,
        "bias",
        candle_nn::Init::Uniform {
            lo: -bound,
            up: bound,
        },
    )
    .map(Some)
}

thread_local! {
    static WEIGHTS_FROZEN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with every convolution's weight and bias taken as constants (detached): a
/// backward pass through what `f` builds gives input gradients only. The generator step runs
/// the discriminator this way; D's weight gradients there were computed and thrown away.
pub fn with_frozen_weights<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            WEIGHTS_FROZEN.with(|frozen| frozen.set(self.0));
        }
    }
    let _restore = Restore(WEIGHTS_FROZEN.with(|frozen| frozen.replace(true)));
    f()
}

fn conv_with_bias(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    geometry: ConvGeometry,
) -> Result<Tensor> {
    conv_bias_act(x, weight, bias, geometry, None)
}

/// `leaky_relu(conv(x) + bias, slope)` when `slope` is given (0: ReLU). Training (the weight
/// is a variable, or computed from one as spectral norm does, or the input needs a gradient)
/// runs on the fast CPU op, bias and activation inside it; inference stays on Candle's conv2d,
/// the plain baseline of the fast path.
fn conv_bias_act(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    geometry: ConvGeometry,
    slope: Option<f64>,
) -> Result<Tensor> {
    let (weight, bias) = match WEIGHTS_FROZEN.with(std::cell::Cell::get) {
        true => (weight.detach(), bias.map(Tensor::detach)),
        false => (weight.clone(), bias.cloned()),
    };
    let (padding, stride) = (geometry.padding, geometry.stride);
    let record = |y: &Tensor| {
        record_conv_macs(y.elem_count() * weight.elem_count() / geometry.out_channels.max(1))
    };
    if weight.track_op() || x.track_op() {
        let fast = super::fast::train_conv::conv2d_bias_act;
        let y = fast(x, &weight, bias.as_ref(), (padding, stride), slope)?;
        record(&y);
        return Ok(y);
    }
    let y = x.conv2d(&weight, padding, stride, 1, 1)?;
    record(&y);
    let y = match bias {
        Some(b) => add_channel_bias(&y, &b)?,
        None => y,
    };
    match slope {
        Some(0.0) => relu(&y),
        Some(s) => leaky_relu(&y, s),
        None => Ok(y),
    }
}

/// `y + b` per channel of NCHW: one fused op when training on the fast path.
pub fn add_channel_bias(y: &Tensor, b: &Tensor) -> Result<Tensor> {
    if super::fast::train_norm::fused_for(y) {
        return super::fast::train_ops::bias_add(y, b);
    }
    y.broadcast_add(&per_channel(b)?)
}

/// `nn.Conv2d` (zero padding), weight (out, in, k, k) and optional bias.
#[derive(Debug, Clone)]
pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    geometry: ConvGeometry,
}

impl Conv2d {
    pub fn new(geometry: ConvGeometry, bias: bool, vb: VarBuilder) -> Result<Self> {
        let g = geometry;
        let weight = vb.get_with_hints(
            (g.out_channels, g.in_channels, g.kernel, g.kernel),
            "weight",
            conv_init(g),
        )?;
        let bias = load_conv_bias(g, bias, &vb)?;
        Ok(Self {
            weight,
            bias,
            geometry,
        })
    }

    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    pub fn geometry(&self) -> ConvGeometry {
        self.geometry
    }
}

impl Conv2d {
    /// Counts this convolution's dense multiply-adds over `pixels` output pixels (N x H x W)
    /// for the benchmark's FLOP count, when an op computes it with fewer (the fast path's
    /// fused SPADE modulation).
    pub(crate) fn record_dense_macs(&self, pixels: usize) {
        record_conv_macs(pixels * self.weight.elem_count());
    }

    /// `[weight.flatten(), bias]` as one vector (detached under [`with_frozen_weights`]), the
    /// form the fast path's fused SPADE modulation takes; None without a bias.
    pub(crate) fn packed(&self) -> Result<Option<Tensor>> {
        let Some(bias) = &self.bias else {
            return Ok(None);
        };
        let packed = Tensor::cat(&[&self.weight.flatten_all()?, bias], 0)?;
        Ok(Some(match WEIGHTS_FROZEN.with(std::cell::Cell::get) {
            true => packed.detach(),
            false => packed,
        }))
    }

    /// `leaky_relu(self.forward(x), slope)` (0: ReLU), one op when training on the fast path.
    pub fn forward_leaky(&self, x: &Tensor, slope: f64) -> Result<Tensor> {
        conv_bias_act(
            x,
            &self.weight,
            self.bias.as_ref(),
            self.geometry,
            Some(slope),
        )
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        conv_with_bias(x, &self.weight, self.bias.as_ref(), self.geometry)
    }
}

/// `spectral_norm(nn.Conv2d)`: the weight is `weight_orig / sigma`, sigma = u . (W v) with
/// W = weight_orig reshaped to (out, -1). Eval uses the stored u, v; training runs one power
/// iteration first (v = normalize(W^T u), u = normalize(W v)) and stores the new u, v.
#[derive(Debug, Clone)]
pub struct SpectralConv2d {
    weight_orig: Tensor,
    weight_u: Tensor,
    weight_v: Tensor,
    bias: Option<Tensor>,
    geometry: ConvGeometry,
}

/// `F.normalize(x, dim=0, eps)`: x / max(||x||, eps).
fn normalize(x: &Tensor, eps: f64) -> Result<Tensor> {
    let norm = x.sqr()?.sum_all()?.sqrt()?.maximum(eps)?;
    x.broadcast_div(&norm)
}

impl SpectralConv2d {
    pub fn new(geometry: ConvGeometry, bias: bool, vb: VarBuilder) -> Result<Self> {
        let g = geometry;
        let weight_orig = vb.get_with_hints(
            (g.out_channels, g.in_channels, g.kernel, g.kernel),
            "weight_orig",
            conv_init(g),
        )?;
        let normal = candle_nn::Init::Randn {
            mean: 0.0,
            stdev: 1.0,
        };
        let weight_u = vb.get_with_hints(g.out_channels, "weight_u", normal)?;
        let weight_v =
            vb.get_with_hints(g.in_channels * g.kernel * g.kernel, "weight_v", normal)?;
        let bias = load_conv_bias(g, bias, &vb)?;
        Ok(Self {
            weight_orig,
            weight_u,
            weight_v,
            bias,
            geometry,
        })
    }

    /// The normalized weight; in training mode after one power iteration that updates u and v.
    pub fn weight_t(&self, train: bool) -> Result<Tensor> {
        let out = self.geometry.out_channels;
        let matrix = self.weight_orig.reshape((out, ()))?;
        let (u, v) = if train {
            let detached = matrix.detach();
            let u_prev = self.weight_u.detach();
            let v = normalize(
                &detached.t()?.matmul(&u_prev.unsqueeze(1)?)?.squeeze(1)?,
                1e-12,
            )?;
            let u = normalize(&detached.matmul(&v.unsqueeze(1)?)?.squeeze(1)?, 1e-12)?;
            update_buffer(&self.weight_u, &u)?;
            update_buffer(&self.weight_v, &v)?;
            (u, v)
        } else {
            // u and v are buffers: detached so a VarMap-built model gives them no gradient.
            (self.weight_u.detach(), self.weight_v.detach())
        };
        let wv = matrix.matmul(&v.unsqueeze(1)?)?;
        let sigma = u.unsqueeze(0)?.matmul(&wv)?.reshape(())?;
        self.weight_orig.broadcast_div(&sigma)
    }

    pub fn geometry(&self) -> ConvGeometry {
        self.geometry
    }

    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }
}

impl ModuleT for SpectralConv2d {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        conv_with_bias(x, &self.weight_t(train)?, self.bias.as_ref(), self.geometry)
    }
}

/// A convolution that may or may not carry spectral norm (chosen by a `norm_*` option string).
#[derive(Debug, Clone)]
pub enum MaybeSpectralConv2d {
    Plain(Conv2d),
    Spectral(SpectralConv2d),
}

impl MaybeSpectralConv2d {
    pub fn new(geometry: ConvGeometry, bias: bool, spectral: bool, vb: VarBuilder) -> Result<Self> {
        Ok(if spectral {
            Self::Spectral(SpectralConv2d::new(geometry, bias, vb)?)
        } else {
            Self::Plain(Conv2d::new(geometry, bias, vb)?)
        })
    }
}

impl MaybeSpectralConv2d {
    /// The weight an eval-mode forward uses (W / sigma from the stored u, v for spectral
    /// norm, computed exactly as [`SpectralConv2d::weight_t`] does) and the bias.
    pub fn eval_weight_bias(&self) -> Result<(Tensor, Option<Tensor>, ConvGeometry)> {
        Ok(match self {
            Self::Plain(conv) => (conv.weight().clone(), conv.bias().cloned(), conv.geometry()),
            Self::Spectral(conv) => (conv.weight_t(false)?, conv.bias().cloned(), conv.geometry()),
        })
    }
}

impl ModuleT for MaybeSpectralConv2d {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        match self {
            Self::Plain(conv) => conv.forward(x),
            Self::Spectral(conv) => conv.forward_t(x, train),
        }
    }
}

thread_local! {
    static CONV_MACS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Adds a convolution's multiply-accumulates to this thread's counter (read by
/// [`count_conv_flops`]; the benchmark's FLOP count).
fn record_conv_macs(macs: usize) {
    CONV_MACS.with(|c| c.set(c.get() + macs as u64));
}

/// Runs `f` and returns its result with the convolution FLOPs (2 per multiply-accumulate) of
/// every `Conv2d`, `SpectralConv2d` and `ConvTranspose2d` it ran on this thread.
pub fn count_conv_flops<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = CONV_MACS.with(|c| c.get());
    let result = f();
    let after = CONV_MACS.with(|c| c.get());
    (result, 2 * (after - before))
}

/// `nn.ConvTranspose2d`: weight (in, out, k, k) as PyTorch stores it, optional bias.
#[derive(Debug, Clone)]
pub struct ConvTranspose2d {
    weight: Tensor,
    bias: Option<Tensor>,
    geometry: ConvGeometry,
    output_padding: usize,
}

impl ConvTranspose2d {
    pub fn new(
        geometry: ConvGeometry,
        output_padding: usize,
        bias: bool,
        vb: VarBuilder,
    ) -> Result<Self> {
        let g = geometry;
        // PyTorch computes the transposed conv's fan-in from weight dim 1 (out_channels).
        let bound = 1.0 / ((g.out_channels * g.kernel * g.kernel) as f64).sqrt();
        let init = candle_nn::Init::Uniform {
            lo: -bound,
            up: bound,
        };
        let weight = vb.get_with_hints(
            (g.in_channels, g.out_channels, g.kernel, g.kernel),
            "weight",
            init,
        )?;
        let bias = if bias {
            Some(vb.get_with_hints(g.out_channels, "bias", init)?)
        } else {
            None
        };
        Ok(Self {
            weight,
            bias,
            geometry,
            output_padding,
        })
    }

    pub fn geometry(&self) -> ConvGeometry {
        self.geometry
    }

    /// (in, out, k, k) as PyTorch stores it.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    pub fn output_padding(&self) -> usize {
        self.output_padding
    }
}

impl Module for ConvTranspose2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let g = self.geometry;
        // As in `conv_with_bias`: training runs on the fast CPU op, inference on Candle's.
        let (w, pads) = (&self.weight, (g.padding, self.output_padding, g.stride));
        record_conv_macs(x.elem_count() * w.elem_count() / g.in_channels.max(1));
        let fast = super::fast::train_conv::conv_transpose2d;
        match (w.track_op(), &self.bias) {
            (true, Some(b)) => super::fast::train_conv::conv_transpose2d_bias(x, w, b, pads),
            (true, None) => fast(x, w, g.padding, self.output_padding, g.stride),
            (false, bias) => {
                let y = x.conv_transpose2d(w, g.padding, self.output_padding, g.stride, 1)?;
                match bias {
                    Some(b) => add_channel_bias(&y, b),
                    None => Ok(y),
                }
            }
        }
    }
}

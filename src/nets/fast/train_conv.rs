//! Convolutions for training on the fast path's kernels, inside Candle's autograd (issue 13):
//! `conv2d(x, w)` (zero padding, square kernel) as a Candle `CustomOp2` whose CPU forward is
//! the inference product ([`super::conv::convolve_into`]: im2col tiles into `gemm` on the
//! rayon pool) and whose backward runs on the same tiles: `dW = dY col(x)^T` and `dX = col2im(W^T dY)`. Candle's own
//! CPU input gradient is a direct transposed-convolution loop without GEMM
//! (`../shared/notes/candle-0.11-facts.md`), which is where most of a training step went.
//! `conv2d_bias` adds the bias in the same op (the product's epilogue) and its gradient is
//! the per-channel sum. `conv_transpose2d` is this op read backwards
//! ([`super::train_conv_transpose`]). Norms and activations are separate ops; other devices
//! keep Candle's conv2d; a weight that is not a variable (the frozen VGG) gets no gradient.
//! Which kernel runs a given shape is [`super::train_conv_geometry`]'s choice.
use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Shape, Tensor};

use super::conv::Activation;
use super::train_conv_geometry::Geometry;
pub use super::train_conv_transpose::{conv_transpose2d, conv_transpose2d_bias};
use super::train_ops::{bias_gradient, leaky_relu_gradient};
use super::train_storage::{storage_values, with_values};
use super::training_path::{training_path, TrainingPath};

/// Whether the fast conv ops take `x` and `weight`: f32 CPU tensors with fast training on.
pub(super) fn usable(x: &Tensor, weight: &Tensor) -> bool {
    x.device().is_cpu()
        && x.dtype() == candle_core::DType::F32
        && weight.dtype() == candle_core::DType::F32
        && training_path() == TrainingPath::Fast
}

/// `x.conv2d(weight, padding, stride, 1, 1)` through our kernels when `x` is an f32 CPU
/// tensor and fast training is enabled; Candle's conv2d otherwise.
pub fn conv2d(
    x: &Tensor,
    weight: &Tensor,
    padding: usize,
    stride: usize,
) -> candle_core::Result<Tensor> {
    if !usable(x, weight) {
        return x.conv2d(weight, padding, stride, 1, 1);
    }
    x.apply_op2(
        weight,
        Conv2dOp::new(x, weight, None, (padding, stride), None),
    )
}

/// `conv2d(x, weight) + bias` per output channel as one op: the bias is added as each tile of
/// the product is placed and its gradient is the output gradient's per-channel sum, so no
/// separate bias node (an output-sized pass forward, an output-sized gradient backward) enters
/// Candle's graph. Candle's conv2d and a broadcast add where the fast ops do not apply.
pub fn conv2d_bias(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    padding: usize,
    stride: usize,
) -> candle_core::Result<Tensor> {
    conv2d_bias_act(x, weight, Some(bias), (padding, stride), None)
}

/// `leaky_relu(conv2d(x, weight) + bias, slope)` (`slope` 0 is ReLU; `None` no activation) as
/// one op: the activation is applied in the product's epilogue, and its backward masks the
/// output gradient by the sign of the op's own output (positive exactly where the
/// pre-activation is, for any slope >= 0), so neither the pre-activation nor the activation's
/// output gradient is kept. Candle's ops where the fast ones do not apply.
pub fn conv2d_bias_act(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    (padding, stride): (usize, usize),
    slope: Option<f64>,
) -> candle_core::Result<Tensor> {
    let f32_bias = bias.is_none_or(|b| b.dtype() == candle_core::DType::F32);
    if !usable(x, weight) || !f32_bias || slope.is_some_and(|s| s < 0.0) {
        let mut y = x.conv2d(weight, padding, stride, 1, 1)?;
        if let Some(b) = bias {
            y = y.broadcast_add(&b.reshape((1, (), 1, 1))?)?;
        }
        return match slope {
            Some(0.0) => y.relu(),
            Some(slope) => y.maximum(&(&y * slope)?),
            None => Ok(y),
        };
    }
    let op = Conv2dOp::new(x, weight, bias, (padding, stride), slope);
    match bias {
        Some(b) => x.apply_op3(weight, b, op),
        None => x.apply_op2(weight, op),
    }
}

/// The custom op: arguments (input (N, C, H, W), weight (O, C, k, k)) and, as a `CustomOp3`,
/// bias (O); a leaky ReLU of `slope` after it when given.
#[derive(Debug, Clone, Copy)]
struct Conv2dOp {
    geometry: Geometry,
    slope: Option<f32>,
    weight_grad: bool,
    input_grad: bool,
    bias_grad: bool,
}

impl Conv2dOp {
    /// The op for these arguments: a gradient for each that needs one.
    fn new(
        x: &Tensor,
        weight: &Tensor,
        bias: Option<&Tensor>,
        (padding, stride): (usize, usize),
        slope: Option<f64>,
    ) -> Self {
        Self {
            geometry: Geometry { stride, padding },
            slope: slope.map(|s| s as f32),
            weight_grad: weight.track_op(),
            input_grad: x.track_op(),
            bias_grad: bias.is_some_and(Tensor::track_op),
        }
    }

    fn activation(&self) -> Activation {
        match self.slope {
            None => Activation::Identity,
            Some(0.0) => Activation::Relu,
            Some(slope) => Activation::LeakyRelu(slope),
        }
    }

    /// `activation(conv(x, weight) + bias)`, checked.
    fn run_forward(
        &self,
        (s1, l1): (&CpuStorage, &Layout),
        (s2, l2): (&CpuStorage, &Layout),
        bias: Option<(&CpuStorage, &Layout)>,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let d = self.geometry.conv_dims(l1.dims(), l2.dims())?;
        let bias = match bias {
            Some((s3, l3)) => storage_values(s3, l3)?.into_owned(),
            None => vec![0.0; d.o],
        };
        if bias.len() != d.o {
            candle_core::bail!(
                "fast conv2d: {} biases for weight {:?}",
                bias.len(),
                l2.dims()
            )
        }
        let (x, weight) = (storage_values(s1, l1)?, storage_values(s2, l2)?);
        let out = self
            .geometry
            .forward_with(&d, &x, &weight, &bias, self.activation())?;
        Ok((CpuStorage::F32(out), Shape::from((d.n, d.o, d.oh, d.ow))))
    }

    /// The gradient before the activation: `grad` itself, or `grad` scaled by the slope where
    /// the op's output `res` is not positive.
    fn pre_activation_grad(&self, res: &Tensor, grad: &Tensor) -> candle_core::Result<Tensor> {
        let Some(slope) = self.slope else {
            return Ok(grad.clone());
        };
        let g = with_values(res, |y| {
            with_values(grad, |g| leaky_relu_gradient(y, g, slope))
        })??;
        Tensor::from_vec(g, grad.shape(), grad.device())
    }

    /// `(dX, dW)` of the convolution for the gradient `grad` of its (pre-activation) output.
    fn input_weight_grads(
        &self,
        x: &Tensor,
        weight: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let d = self.geometry.conv_dims(x.dims(), weight.dims())?;
        let wants = (self.weight_grad, self.input_grad);
        let (dw, dx) = with_values(x, |xs| {
            with_values(weight, |ws| {
                with_values(grad, |gs| {
                    self.geometry.backward(&d, Some(xs), ws, gs, wants)
                })
            })
        })????;
        let dx = dx
            .map(|v| Tensor::from_vec(v, x.shape(), x.device()))
            .transpose()?;
        let dw = dw
            .map(|v| Tensor::from_vec(v, weight.shape(), weight.device()))
            .transpose()?;
        Ok((dx, dw))
    }
}

impl CustomOp2 for Conv2dOp {
    fn name(&self) -> &'static str {
        "scenepaint-fast-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.run_forward((s1, l1), (s2, l2), None)
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = self.pre_activation_grad(res, grad)?;
        self.input_weight_grads(x, weight, &grad)
    }
}

impl CustomOp3 for Conv2dOp {
    fn name(&self) -> &'static str {
        "scenepaint-fast-conv2d-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.run_forward((s1, l1), (s2, l2), Some((s3, l3)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = self.pre_activation_grad(res, grad)?;
        let (dx, dw) = self.input_weight_grads(x, weight, &grad)?;
        let db = bias_gradient(&grad, bias, self.bias_grad)?;
        Ok((dx, dw, db))
    }
}

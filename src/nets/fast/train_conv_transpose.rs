//! `conv_transpose2d` for training on the fast path (issue 13): the convolution op of
//! [`super::train_conv`] read backwards. A transposed convolution is the input gradient of
//! the convolution whose weight it holds, so its forward is that convolution's col2im, its
//! input gradient the convolution and its weight gradient the same `dW` product; the bias,
//! when given, is added after col2im and its gradient is the per-channel sum. pix2pix's U-Net
//! decoder (`UnetSkipConnectionBlock`, k4 s2 p1) and pix2pixHD's upsampler (k3 s2 p1, output
//! padding 1) use it.
use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Shape, Tensor};

use super::train_conv::usable;
use super::train_conv_geometry::{Dims, Geometry};
use super::train_ops::{add_channel_bias_in_place, bias_gradient};
use super::train_storage::{storage_values, with_values};

/// `x.conv_transpose2d(weight, padding, output_padding, stride, 1)` (weight (in, out, k, k))
/// through our kernels when `x` is an f32 CPU tensor and fast training is enabled.
pub fn conv_transpose2d(
    x: &Tensor,
    weight: &Tensor,
    padding: usize,
    output_padding: usize,
    stride: usize,
) -> candle_core::Result<Tensor> {
    if !usable(x, weight) || output_padding >= stride.max(1) {
        return x.conv_transpose2d(weight, padding, output_padding, stride, 1);
    }
    let op = ConvTranspose2dOp::new(x, weight, None, (padding, output_padding, stride));
    x.apply_op2(weight, op)
}

/// [`conv_transpose2d`] `+ bias` per output channel as one op (as [`super::train_conv::conv2d_bias`]).
pub fn conv_transpose2d_bias(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    (padding, output_padding, stride): (usize, usize, usize),
) -> candle_core::Result<Tensor> {
    if !usable(x, weight)
        || output_padding >= stride.max(1)
        || bias.dtype() != candle_core::DType::F32
    {
        let y = x.conv_transpose2d(weight, padding, output_padding, stride, 1)?;
        return y.broadcast_add(&bias.reshape((1, (), 1, 1))?);
    }
    let op = ConvTranspose2dOp::new(x, weight, Some(bias), (padding, output_padding, stride));
    x.apply_op3(weight, bias, op)
}

/// `conv_transpose2d(x, w)`: arguments (input (N, Cin, H, W), weight (Cin, Cout, k, k)).
#[derive(Debug, Clone, Copy)]
struct ConvTranspose2dOp {
    geometry: Geometry,
    output_padding: usize,
    weight_grad: bool,
    input_grad: bool,
    bias_grad: bool,
}

impl ConvTranspose2dOp {
    /// The op for these arguments: a gradient for each that needs one.
    fn new(
        x: &Tensor,
        weight: &Tensor,
        bias: Option<&Tensor>,
        (padding, output_padding, stride): (usize, usize, usize),
    ) -> Self {
        Self {
            geometry: Geometry { stride, padding },
            output_padding,
            weight_grad: weight.track_op(),
            input_grad: x.track_op(),
            bias_grad: bias.is_some_and(Tensor::track_op),
        }
    }

    /// The convolution this op is the input gradient of: from the (N, Cout, H', W') output to
    /// the (N, Cin, H, W) input, with the weight read as (O = Cin, C = Cout, k, k).
    fn adjoint_dims(&self, x: &[usize], w: &[usize]) -> candle_core::Result<Dims> {
        let (&[n, cin, h, wd], &[wi, cout, kh, kw]) = (x, w) else {
            candle_core::bail!(
                "fast conv_transpose2d: expected 4-d input and weight, found {x:?} and {w:?}"
            )
        };
        let g = self.geometry;
        let side = |len: usize| {
            ((len.max(1) - 1) * g.stride + kh + self.output_padding).checked_sub(2 * g.padding)
        };
        let (Some(oh), Some(ow)) = (side(h), side(wd)) else {
            candle_core::bail!("fast conv_transpose2d: input {x:?} with weight {w:?} has no output")
        };
        if wi != cin || kh != kw || h == 0 || wd == 0 {
            candle_core::bail!("fast conv_transpose2d: input {x:?} and weight {w:?} do not fit")
        }
        let d = g.conv_dims(&[n, cout, oh, ow], &[cin, cout, kh, kw])?;
        if (d.oh, d.ow) != (h, wd) {
            candle_core::bail!("fast conv_transpose2d: input {x:?} does not invert to {oh}x{ow}")
        }
        Ok(d)
    }
}

impl CustomOp2 for ConvTranspose2dOp {
    fn name(&self) -> &'static str {
        "scenepaint-fast-conv-transpose2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let d = self.adjoint_dims(l1.dims(), l2.dims())?;
        let (x, weight) = (storage_values(s1, l1)?, storage_values(s2, l2)?);
        let (_, y) = self
            .geometry
            .backward(&d, None, &weight, &x, (false, true))?;
        let y = y.unwrap_or_default();
        Ok((CpuStorage::F32(y), Shape::from((d.n, d.c, d.h, d.w))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let d = self.adjoint_dims(x.dims(), weight.dims())?;
        let (dx, dw) = with_values(weight, |ws| {
            with_values(grad, |gs| -> candle_core::Result<_> {
                let dx = if self.input_grad {
                    let dx = self.geometry.forward(&d, gs, ws)?;
                    Some(Tensor::from_vec(dx, x.shape(), x.device())?)
                } else {
                    None
                };
                let dw = if self.weight_grad {
                    let (dw, _) = with_values(x, |xs| {
                        self.geometry.backward(&d, Some(gs), ws, xs, (true, false))
                    })??;
                    dw.map(|v| Tensor::from_vec(v, weight.shape(), weight.device()))
                        .transpose()?
                } else {
                    None
                };
                Ok((dx, dw))
            })
        })???;
        Ok((dx, dw))
    }
}

impl CustomOp3 for ConvTranspose2dOp {
    fn name(&self) -> &'static str {
        "scenepaint-fast-conv-transpose2d-bias"
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
        let (storage, shape) = CustomOp2::cpu_fwd(self, s1, l1, s2, l2)?;
        let (CpuStorage::F32(mut y), bias) = (storage, storage_values(s3, l3)?) else {
            candle_core::bail!("fast conv_transpose2d: expected f32 values")
        };
        let (_, c, h, w) = shape.dims4()?;
        if bias.len() != c {
            candle_core::bail!(
                "fast conv_transpose2d: {} biases for {c} channels",
                bias.len()
            )
        }
        add_channel_bias_in_place(&mut y, &bias, h * w);
        Ok((CpuStorage::F32(y), shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dx, dw) = CustomOp2::bwd(self, x, weight, res, grad)?;
        let db = bias_gradient(grad, bias, self.bias_grad)?;
        Ok((dx, dw, db))
    }
}

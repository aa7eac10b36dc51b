//! The frozen layers of the VGG perceptual loss (pix2pixHD's and SPADE's `VGGLoss`) on the
//! fast CPU kernels (issue 13). The loss needs only input gradients through VGG, never weight
//! gradients, so each `conv -> bias -> ReLU` is one op: the bias and ReLU are applied as the
//! convolution's tiles are placed, the autograd graph keeps one activation per layer instead
//! of three, and the backward is the convolution's input gradient of the output gradient
//! masked by `y > 0` (the ReLU's own rule, read from its output). The 2x2 max pool is one op
//! too, with the gradient rule of the plain path it replaces (`train::vgg::max_pool2x2`, a
//! max over column pairs then over row pairs, each sending the gradient to every tied
//! maximum). Both give the plain path's numbers: the same products, sums and comparisons.
use std::sync::{Arc, OnceLock};

use candle_core::{CpuStorage, CustomOp1, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::conv::Activation;
use super::train_conv_geometry::{Dims, Geometry};
use super::train_ops::leaky_relu_gradient;
use super::train_storage::{storage_values, with_values};
use super::training_path::{training_path, TrainingPath};

/// Whether the frozen ops serve `x`: an f32 CPU tensor with fast training enabled.
pub fn usable_for(x: &Tensor) -> bool {
    x.device().is_cpu()
        && x.dtype() == candle_core::DType::F32
        && training_path() == TrainingPath::Fast
}

/// The flipped kernels of one frozen layer's weight (see [`FrozenConvRelu::input_gradient`]),
/// computed at the layer's first backward and kept: for VGG's 512-channel layers the flip is
/// a pass over 9.4 MB, 1.6-2.1 ms per call. The owner of the weight keeps one per layer.
#[derive(Debug, Clone, Default)]
pub struct FlippedKernels(Arc<OnceLock<(Dims, Vec<f32>)>>);

/// `relu(conv2d(x, weight, padding, stride 1) + bias)` with `weight` and `bias` frozen: only
/// `x` gets a gradient. Call it where [`usable_for`] holds; a weight or bias that is a
/// variable (which would need a gradient) is an error. `flipped` belongs to `weight`.
pub fn conv_bias_relu(
    x: &Tensor,
    (weight, bias, flipped): (&Tensor, &Tensor, &FlippedKernels),
    padding: usize,
) -> candle_core::Result<Tensor> {
    if weight.track_op() || bias.track_op() {
        candle_core::bail!(
            "frozen conv: weight {:?} and bias {:?} must be constants, not variables",
            weight.dims(),
            bias.dims()
        )
    }
    x.apply_op3(weight, bias, FrozenConvRelu::new(padding, flipped.clone()))
}

/// 2x2 max pool, stride 2, floor mode, of an NCHW tensor. Call it where [`usable_for`] holds.
pub fn max_pool2x2(x: &Tensor) -> candle_core::Result<Tensor> {
    x.apply_op1(MaxPool2x2)
}

#[derive(Debug, Clone)]
struct FrozenConvRelu {
    geometry: Geometry,
    flipped: FlippedKernels,
}

impl FrozenConvRelu {
    fn new(padding: usize, flipped: FlippedKernels) -> Self {
        Self {
            geometry: Geometry { stride: 1, padding },
            flipped,
        }
    }

    /// `dX` for the output gradient `grad` (already masked by the ReLU): the convolution of
    /// `grad` with the kernels flipped and their channels swapped, padded by `k - 1 - padding`,
    /// on the forward's kernels (im2col tiles, or Winograd's where they apply). The generic
    /// backward, `W^T dY` scattered back through im2col, writes a `kk`-row column gradient per
    /// pixel and streams the whole weight per step of pixels: VGG's 512 -> 512 layer at 16x16
    /// (a 9.4 MB weight) took 8.0-8.2 ms that way against 3.5-3.6 ms here plus the flip
    /// (minimum of 21 runs, 2 threads, Intel Xeon), the flip kept from the first call
    /// ([`FlippedKernels`]). The trained layers keep `Geometry::backward`, whose split by
    /// input channels (`train_conv_input_grad.rs`) measured 4.1-4.8 ms on that layer, still
    /// above this path's forward product, and needs no flipped copy.
    fn input_gradient(
        &self,
        d: &Dims,
        weight: &[f32],
        grad: &[f32],
    ) -> candle_core::Result<Option<Vec<f32>>> {
        let Some(padding) = (d.k - 1).checked_sub(self.geometry.padding) else {
            let (_, dx) = self
                .geometry
                .backward(d, None, weight, grad, (false, true))?;
            return Ok(dx);
        };
        let (kept_for, flipped) = self.flipped.0.get_or_init(|| (*d, flip_kernels(weight, d)));
        if (kept_for.o, kept_for.c, kept_for.k) != (d.o, d.c, d.k) {
            candle_core::bail!(
                "frozen conv: flipped kernels kept for a {}x{}x{k}x{k} weight, used with {d:?}",
                kept_for.o,
                kept_for.c,
                k = kept_for.k
            )
        }
        let swapped = Geometry { stride: 1, padding };
        let d_swapped = swapped.conv_dims(&[d.n, d.o, d.oh, d.ow], &[d.c, d.o, d.k, d.k])?;
        Ok(Some(swapped.forward(&d_swapped, grad, flipped)?))
    }
}

/// `weight` (o, c, k, k) as (c, o, k, k) with each kernel turned by 180 degrees, in blocks of
/// input channels so that both the reads and the writes run along rows.
pub(super) fn flip_kernels(weight: &[f32], d: &Dims) -> Vec<f32> {
    const BLOCK: usize = 16;
    let taps = d.k * d.k;
    let mut flipped = vec![0f32; weight.len()];
    flipped
        .par_chunks_mut(BLOCK * d.o * taps)
        .enumerate()
        .for_each(|(b, rows)| {
            let c0 = b * BLOCK;
            for o in 0..d.o {
                let src = &weight[(o * d.c + c0) * taps..];
                for (dc, kernel) in src
                    .chunks_exact(taps)
                    .take(rows.len() / (d.o * taps))
                    .enumerate()
                {
                    let dst = &mut rows[(dc * d.o + o) * taps..][..taps];
                    dst.iter_mut()
                        .zip(kernel.iter().rev())
                        .for_each(|(a, b)| *a = *b);
                }
            }
        });
    flipped
}

impl CustomOp3 for FrozenConvRelu {
    fn name(&self) -> &'static str {
        "scenepaint-frozen-conv-bias-relu"
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
        let d = self.geometry.conv_dims(l1.dims(), l2.dims())?;
        let bias = storage_values(s3, l3)?;
        if bias.len() != d.o {
            candle_core::bail!(
                "frozen conv: bias of {} values for {} output channels",
                bias.len(),
                d.o
            )
        }
        let out = self.geometry.forward_with(
            &d,
            &storage_values(s1, l1)?,
            &storage_values(s2, l2)?,
            &bias,
            Activation::Relu,
        )?;
        Ok((CpuStorage::F32(out), Shape::from((d.n, d.o, d.oh, d.ow))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _bias: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let d = self.geometry.conv_dims(x.dims(), weight.dims())?;
        let masked = with_values(res, |y| {
            with_values(grad, |g| leaky_relu_gradient(y, g, 0.0))
        })??;
        let dx = with_values(weight, |w| self.input_gradient(&d, w, &masked))??;
        let dx = dx
            .map(|v| Tensor::from_vec(v, x.shape(), x.device()))
            .transpose()?;
        Ok((dx, None, None))
    }
}

#[derive(Debug, Clone, Copy)]
struct MaxPool2x2;

/// Shapes of a pool: `planes` (n * c) of `h x w` in, `oh x ow` out.
fn pool_dims(dims: &[usize]) -> candle_core::Result<(usize, usize, usize, usize, usize)> {
    let &[n, c, h, w] = dims else {
        candle_core::bail!("max pool 2x2: expected an NCHW tensor, found {dims:?}")
    };
    Ok((n * c, h, w, h / 2, w / 2))
}

impl CustomOp1 for MaxPool2x2 {
    fn name(&self) -> &'static str {
        "scenepaint-max-pool-2x2"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (planes, h, w, oh, ow) = pool_dims(l.dims())?;
        let x = storage_values(s, l)?;
        let mut out = vec![0f32; planes * oh * ow];
        if oh * ow > 0 {
            out.par_chunks_mut(oh * ow)
                .zip(x.par_chunks(h * w))
                .for_each(|(o, x)| {
                    for oy in 0..oh {
                        let (top, bottom) = (&x[2 * oy * w..], &x[(2 * oy + 1) * w..]);
                        for ox in 0..ow {
                            let upper = top[2 * ox].max(top[2 * ox + 1]);
                            let lower = bottom[2 * ox].max(bottom[2 * ox + 1]);
                            o[oy * ow + ox] = upper.max(lower);
                        }
                    }
                });
        }
        let (n, c) = (l.dims()[0], l.dims()[1]);
        Ok((CpuStorage::F32(out), Shape::from((n, c, oh, ow))))
    }

    fn bwd(&self, x: &Tensor, res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let (planes, h, w, oh, ow) = pool_dims(x.dims())?;
        let dx = with_values(x, |x| {
            with_values(res, |y| {
                with_values(grad, |g| {
                    let mut dx = vec![0f32; planes * h * w];
                    if oh * ow == 0 {
                        return dx;
                    }
                    dx.par_chunks_mut(h * w)
                        .zip(x.par_chunks(h * w))
                        .zip(y.par_chunks(oh * ow).zip(g.par_chunks(oh * ow)))
                        .for_each(|((dx, x), (y, g))| pool_plane_backward(x, y, g, w, dx));
                    dx
                })
            })
        })???;
        Ok(Some(Tensor::from_vec(dx, x.shape(), x.device())?))
    }
}

/// One plane's pool gradient: each row pair's column maximum that equals the window's maximum
/// gets the gradient, and within it each element equal to that row's maximum (ties all get it,
/// as the plain path's two `max` reductions do).
fn pool_plane_backward(x: &[f32], y: &[f32], g: &[f32], w: usize, dx: &mut [f32]) {
    let ow = w / 2;
    for (oy, (y_row, g_row)) in y.chunks_exact(ow).zip(g.chunks_exact(ow)).enumerate() {
        for row in [2 * oy, 2 * oy + 1] {
            let (x_row, dx_row) = (&x[row * w..], &mut dx[row * w..(row + 1) * w]);
            for ox in 0..ow {
                let (a, b) = (x_row[2 * ox], x_row[2 * ox + 1]);
                let row_max = a.max(b);
                if row_max != y_row[ox] {
                    continue;
                }
                if a == row_max {
                    dx_row[2 * ox] += g_row[ox];
                }
                if b == row_max {
                    dx_row[2 * ox + 1] += g_row[ox];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::train_testing::{max_diff, random, weighted_sum};
    use super::*;
    use candle_core::Var;

    /// Candle's own conv + bias + ReLU.
    fn plain_conv_relu(x: &Tensor, w: &Tensor, b: &Tensor, padding: usize) -> Tensor {
        let y = x.conv2d(w, padding, 1, 1, 1).unwrap();
        y.broadcast_add(&b.reshape((1, b.dim(0).unwrap(), 1, 1)).unwrap())
            .unwrap()
            .relu()
            .unwrap()
    }

    /// Output and input gradient of `op(x)` against `reference(x)` under a weighted sum.
    fn assert_same(
        x: &Var,
        op: impl Fn(&Tensor) -> Tensor,
        reference: impl Fn(&Tensor) -> Tensor,
        what: &str,
    ) {
        // Relative to the largest value (at least 1): sums of a few hundred products differ in
        // their last bits with the summation order, Winograd's transforms by a few 1e-6.
        let close = |a: &Tensor, b: &Tensor| {
            let scale = b.abs().unwrap().flatten_all().unwrap().max(0).unwrap();
            max_diff(a, b) <= 1e-5 * scale.to_scalar::<f32>().unwrap().max(1.0)
        };
        let (y, y_ref) = (op(x.as_tensor()), reference(x.as_tensor()));
        assert_eq!(y.dims(), y_ref.dims(), "{what}: shape");
        assert!(close(&y, &y_ref), "{what}: output differs");
        let r = random(y.dims4().unwrap(), 99);
        let dx = weighted_sum(&y, r.as_tensor()).backward().unwrap();
        let dx_ref = weighted_sum(&y_ref, r.as_tensor()).backward().unwrap();
        let (dx, dx_ref) = (
            dx.get(x.as_tensor()).unwrap(),
            dx_ref.get(x.as_tensor()).unwrap(),
        );
        assert!(close(dx, dx_ref), "{what}: input gradient differs");
    }

    #[test]
    fn frozen_conv_relu_equals_candle_on_awkward_shapes() {
        // Odd sizes, batch > 1, channel counts off the SIMD width, both paddings.
        for (n, c, h, w, o, k, padding) in [
            (3, 5, 7, 9, 13, 3, 1),
            (1, 3, 11, 6, 17, 3, 0),
            (2, 16, 8, 8, 4, 1, 0),
            // dX as a convolution with flipped kernels: channel blocks of 16 with a remainder,
            // a 5x5 kernel, Winograd's tiles (32 -> 33 at 32x36), and padding wider than
            // `k - 1` (the generic backward).
            (2, 37, 9, 10, 21, 3, 1),
            (1, 7, 8, 11, 18, 5, 2),
            (2, 32, 32, 36, 33, 3, 1),
            (1, 6, 5, 7, 5, 1, 1),
        ] {
            let x = random((n, c, h, w), 1);
            let weight = random((o, c, k, k), 2).as_tensor().detach();
            let bias = random((1, 1, 1, o), 3)
                .as_tensor()
                .flatten_all()
                .unwrap()
                .detach();
            assert_same(
                &x,
                |x| {
                    let flipped = FlippedKernels::default();
                    conv_bias_relu(x, (&weight, &bias, &flipped), padding).unwrap()
                },
                |x| plain_conv_relu(x, &weight, &bias, padding),
                &format!("conv {n}x{c}x{h}x{w} -> {o}, k {k}, padding {padding}"),
            );
        }
    }

    #[test]
    fn max_pool_equals_the_plain_pool_with_ties_and_odd_sizes() {
        for (shape, seed) in [((2, 3, 7, 9), 4), ((1, 17, 6, 4), 5), ((3, 2, 5, 5), 6)] {
            let x = random(shape, seed);
            // Values on a coarse grid: many windows hold tied maxima.
            let coarse =
                Var::from_tensor(&(x.as_tensor() * 2.0).unwrap().round().unwrap()).unwrap();
            for (input, what) in [(&x, "distinct values"), (&coarse, "tied values")] {
                assert_same(
                    input,
                    |x| max_pool2x2(x).unwrap(),
                    |x| crate::train::vgg::max_pool2x2(x).unwrap(),
                    &format!("pool {shape:?}, {what}"),
                );
            }
        }
    }
}

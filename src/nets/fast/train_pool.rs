//! `nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)` for training on the fast
//! path (issue 13): the downsampling between the scales of pix2pixHD's and SPADE's
//! multi-scale discriminators (pix2pixHD `models/networks.py`, `MultiscaleDiscriminator`).
//!
//! Candle has no average pool that leaves the padding out of the count, so the plain path
//! builds it from two depthwise convolutions. Their backward is Candle's transposed
//! convolution plus a weight gradient of the constant ones kernel, both serial on the calling
//! thread (about 0.1 s of a `ycor-spade-256` step, measured with perf). Here it is one op:
//! forward and backward run per plane on the rayon pool, and the backward spreads each
//! output gradient over its window divided by the window's count of real pixels.
use std::ops::Range;

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::train_storage::{storage_values, with_values};

/// The pooled size of one side: PyTorch's `floor((len + 2 - 3) / 2) + 1`.
fn pooled_len(len: usize) -> usize {
    (len + 2).saturating_sub(3) / 2 + 1
}

/// The input indices of output index `out` along a side of `len` (the padding cut away).
fn window(out: usize, len: usize) -> Range<usize> {
    (2 * out).saturating_sub(1)..(2 * out + 2).min(len)
}

/// Every output position of a pooled `h x w` plane: its index in the output plane, the input
/// rows and columns of its window, and the window's count of real pixels (forward and
/// backward walk the same windows).
fn windows(h: usize, w: usize) -> impl Iterator<Item = (usize, Range<usize>, Range<usize>, f32)> {
    let ow = pooled_len(w);
    (0..pooled_len(h)).flat_map(move |oy| {
        (0..ow).map(move |ox| {
            let (rows, cols) = (window(oy, h), window(ox, w));
            let count = (rows.len() * cols.len()) as f32;
            (oy * ow + ox, rows, cols, count)
        })
    })
}

/// `nn.AvgPool2d(3, 2, 1, count_include_pad=False)` of an (N, C, H, W) f32 CPU tensor, as one
/// op with its own backward.
pub fn avg_pool3_s2_exclude_pad(x: &Tensor) -> candle_core::Result<Tensor> {
    x.apply_op1(AvgPool3S2)
}

#[derive(Debug, Clone, Copy)]
struct AvgPool3S2;

impl CustomOp1 for AvgPool3S2 {
    fn name(&self) -> &'static str {
        "scenepaint-fast-avg-pool3-s2-exclude-pad"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = l.shape().dims4()?;
        let (oh, ow) = (pooled_len(h), pooled_len(w));
        let x = storage_values(s, l)?;
        let mut out = vec![0f32; n * c * oh * ow];
        if !out.is_empty() && h * w > 0 {
            out.par_chunks_mut(oh * ow)
                .zip(x.par_chunks(h * w))
                .for_each(|(dst, src)| {
                    for (o, rows, cols, count) in windows(h, w) {
                        let sum: f32 = rows
                            .map(|iy| {
                                src[iy * w + cols.start..iy * w + cols.end]
                                    .iter()
                                    .sum::<f32>()
                            })
                            .sum();
                        dst[o] = sum / count;
                    }
                });
        }
        Ok((CpuStorage::F32(out), Shape::from((n, c, oh, ow))))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let (n, c, h, w) = x.dims4()?;
        let (oh, ow) = (pooled_len(h), pooled_len(w));
        let dx = with_values(grad, |g| {
            let mut dx = vec![0f32; n * c * h * w];
            if !dx.is_empty() && oh * ow > 0 {
                dx.par_chunks_mut(h * w)
                    .zip(g.par_chunks(oh * ow))
                    .for_each(|(d, g)| {
                        for (o, rows, cols, count) in windows(h, w) {
                            let share = g[o] / count;
                            for iy in rows {
                                for v in &mut d[iy * w + cols.start..iy * w + cols.end] {
                                    *v += share;
                                }
                            }
                        }
                    });
            }
            dx
        })?;
        Ok(Some(Tensor::from_vec(dx, x.shape(), x.device())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nets::fast::train_testing::{assert_same_op, random, weighted_sum};

    /// Values and input gradients equal the plain path's two depthwise convolutions, on odd
    /// and even sides (the last window cut by the border or not) with batch and channels > 1.
    #[test]
    fn avg_pool_matches_the_plain_convolutions() {
        for (shape, seed) in [((2, 3, 8, 10), 1), ((1, 5, 7, 5), 3), ((3, 2, 2, 4), 5)] {
            assert_same_op(
                &random(shape, seed),
                seed + 1,
                avg_pool3_s2_exclude_pad,
                crate::nets::layers::avg_pool3_s2_exclude_pad_plain,
            );
        }
    }

    /// Height and width of different parity, where Candle's own convolution backward fails
    /// (it takes one output padding for both sides): the pool is linear, so its gradient is
    /// its adjoint, `<pool(x), w> = <x, pool^T(w)>`.
    #[test]
    fn avg_pool_gradient_is_the_adjoint_on_mixed_parity() {
        let x = random((2, 3, 7, 10), 21);
        let pooled = avg_pool3_s2_exclude_pad(&x).unwrap();
        assert_eq!(pooled.dims(), &[2, 3, 4, 5]);
        let weights = random((2, 3, 4, 5), 22).as_tensor().detach();
        let loss = weighted_sum(&pooled, &weights);
        let dx = loss.backward().unwrap().get(&x).unwrap().clone();
        let adjoint = weighted_sum(x.as_tensor(), &dx);
        let (a, b) = (
            loss.to_scalar::<f32>().unwrap(),
            adjoint.to_scalar::<f32>().unwrap(),
        );
        assert!(
            a.abs() > 0.1 && (a - b).abs() < 1e-5 * a.abs().max(1.0),
            "{a} vs {b}"
        );
        // The corner output averages the 2 x 2 real pixels only.
        let corner = pooled.flatten_all().unwrap().to_vec1::<f32>().unwrap()[0];
        let v = x
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!((corner - (v[0] + v[1] + v[10] + v[11]) / 4.0).abs() < 1e-6);
    }
}

//! Stride-1 convolutions with at most four output channels for training (issue 13): the discriminators' last layer (one channel, 4x4, padding 2), pix2pixHD's output layer
//! (three channels, 7x7) and SPADE's `conv_img` (three channels, 3x3). As products of im2col
//! their GEMMs have one to four rows (or, for `dX`, a sum of one to four terms), the shapes
//! where the `gemm` crate is slowest: pix2pixHD's 32 -> 3 7x7 layer at 128x128 took 3.7 ms
//! forward and 18 ms backward for 77 M multiply-adds each way, SPADE's discriminator's
//! 128 -> 1 layer ran at 4 G multiply-adds per second.
//!
//! Here every product is a sum of shifted rows, each contiguous: the forward adds, for every
//! input channel and tap, an input row times the weight into an output row; `dX` adds output
//! gradient rows into input-gradient rows the same way; `dW` is, per weight, a sum of dot
//! products of output-gradient rows with input rows. Zero padding only shortens the rows.
//! Sums run in a fixed order (16 lanes for the dot products), independent of the thread count.
use rayon::prelude::*;

use super::conv::Activation;
use super::simd::simd_dispatch;
use super::train_conv_geometry::Dims;

/// Whether [`forward`] computes a convolution of `d` with `stride` (and [`input_gradient`] its
/// `dX`, the same sums of rows read backwards): one output channel at stride 1. With three
/// (SPADE's `conv_img`, pix2pixHD's output layer) the GEMM's transposed product was as fast
/// or faster (minimum of 21 runs, 2 threads, Intel Xeon: 16 -> 3 3x3 at 128x128 forward 0.27
/// against 0.39-0.55 ms; 32 -> 3 7x7 at 128x128 `dX` 4.1 against 4.3-4.9 ms), while the
/// discriminators' 4x4 256 -> 1 at 18x18 went 0.42 -> 0.27-0.29 ms forward and 0.55 ->
/// 0.29-0.31 ms `dX`. Two to four output channels now go to `train_conv_direct.rs`.
pub(super) fn takes_forward(d: &Dims, stride: usize) -> bool {
    stride == 1 && d.o == 1
}

/// Whether [`input_gradient`] computes `dX` (see [`takes_forward`]).
pub(super) fn takes_input_gradient(d: &Dims, stride: usize) -> bool {
    takes_forward(d, stride)
}

/// Whether [`weight_gradient`] computes `dW`: at most 4 output channels at stride 1. Measured
/// as above: 32 -> 3 7x7 at 128x128, 7.1 -> 3.8 ms; 16 -> 3 3x3 at 128x128, 0.76 -> 0.47-0.56
/// ms; 256 -> 1 4x4 at 18x18, 0.50 -> 0.20-0.31 ms.
pub(super) fn takes_weight_gradient(d: &Dims, stride: usize) -> bool {
    const MAX_OUTPUTS: usize = 4;
    stride == 1 && d.o <= MAX_OUTPUTS
}

/// One axis of a tap: output `q` reads input `q + tap - pad`, for `q` in the returned range.
pub(super) fn reach(out_len: usize, in_len: usize, tap: usize, pad: usize) -> (usize, usize) {
    let lo = pad.saturating_sub(tap).min(out_len);
    let hi = (in_len + pad).saturating_sub(tap).min(out_len);
    (lo, hi.max(lo))
}

/// The shapes and padding of one convolution, shared by the kernels' rows.
#[derive(Clone, Copy)]
struct Layer<'a> {
    d: &'a Dims,
    pad: usize,
}

impl Layer<'_> {
    fn plane_in(&self) -> usize {
        self.d.h * self.d.w
    }

    fn plane_out(&self) -> usize {
        self.d.oh * self.d.ow
    }

    fn weight_at(&self, o: usize, c: usize, ty: usize, tx: usize) -> usize {
        ((o * self.d.c + c) * self.d.k + ty) * self.d.k + tx
    }
}

/// Calls `fill((sample, channel, row), values)` for every row of `data`, (n, channels, height,
/// width), the rows spread over the rayon pool.
fn for_each_row(
    data: &mut [f32],
    (channels, height, width): (usize, usize, usize),
    fill: impl Fn((usize, usize, usize), &mut [f32]) + Sync,
) {
    data.par_chunks_mut(width.max(1))
        .enumerate()
        .for_each(|(r, row)| {
            let (plane, y) = (r / height, r % height);
            fill((plane / channels, plane % channels, y), row);
        });
}

/// `activation(conv(x, weight) + bias)`, (n, o, oh, ow).
pub(super) fn forward(
    d: &Dims,
    pad: usize,
    (x, weight, bias): (&[f32], &[f32], &[f32]),
    activation: Activation,
) -> Vec<f32> {
    let layer = Layer { d, pad };
    let mut out = vec![0f32; d.n * d.o * layer.plane_out()];
    for_each_row(&mut out, (d.o, d.oh, d.ow), |(i, o, oy), row| {
        row.fill(bias[o]);
        forward_row(&layer, x, weight, (i, o, oy), row);
        activation.apply_slice(row);
    });
    out
}

simd_dispatch! {
    /// Output row `oy` of sample `i`, channel `o`, without bias or activation, added to `row`.
    fn forward_row(layer: &Layer, x: &[f32], weight: &[f32], at: (usize, usize, usize), row: &mut [f32]) {
        let (d, pad) = (layer.d, layer.pad);
        let (i, o, oy) = at;
        for c in 0..d.c {
            let plane = &x[(i * d.c + c) * layer.plane_in()..][..layer.plane_in()];
            for ty in 0..d.k {
                let (y0, y1) = reach(d.oh, d.h, ty, pad);
                if oy < y0 || oy >= y1 {
                    continue;
                }
                let input = &plane[(oy + ty - pad) * d.w..][..d.w];
                for tx in 0..d.k {
                    let (x0, x1) = reach(d.ow, d.w, tx, pad);
                    let w = weight[layer.weight_at(o, c, ty, tx)];
                    let src = &input[x0 + tx - pad..x1 + tx - pad];
                    for (y, v) in row[x0..x1].iter_mut().zip(src) {
                        *y += w * v;
                    }
                }
            }
        }
    }
}

/// `dX` (n, c, h, w) of the convolution for the output gradient `grad` (n, o, oh, ow).
pub(super) fn input_gradient(d: &Dims, pad: usize, weight: &[f32], grad: &[f32]) -> Vec<f32> {
    let layer = Layer { d, pad };
    let mut dx = vec![0f32; d.n * d.c * layer.plane_in()];
    for_each_row(&mut dx, (d.c, d.h, d.w), |at, row| {
        input_gradient_row(&layer, weight, grad, at, row);
    });
    dx
}

simd_dispatch! {
    /// Input-gradient row `iy` of sample `i`, channel `c`, added to `row`: output row
    /// `oy = iy + pad - ty` sends `w * grad[.., ox]` to input column `ox + tx - pad`.
    fn input_gradient_row(layer: &Layer, weight: &[f32], grad: &[f32], at: (usize, usize, usize), row: &mut [f32]) {
        let (d, pad) = (layer.d, layer.pad);
        let (i, c, iy) = at;
        for o in 0..d.o {
            let plane = &grad[(i * d.o + o) * layer.plane_out()..][..layer.plane_out()];
            for ty in 0..d.k {
                let (y0, y1) = reach(d.oh, d.h, ty, pad);
                let Some(oy) = (iy + pad).checked_sub(ty).filter(|oy| (y0..y1).contains(oy)) else {
                    continue;
                };
                let g = &plane[oy * d.ow..][..d.ow];
                for tx in 0..d.k {
                    let (x0, x1) = reach(d.ow, d.w, tx, pad);
                    let w = weight[layer.weight_at(o, c, ty, tx)];
                    let dst = &mut row[x0 + tx - pad..x1 + tx - pad];
                    for (v, gv) in dst.iter_mut().zip(&g[x0..x1]) {
                        *v += w * gv;
                    }
                }
            }
        }
    }
}

/// `dW` (o, c, k, k) of the convolution, summed over the batch.
pub(super) fn weight_gradient(d: &Dims, pad: usize, x: &[f32], grad: &[f32]) -> Vec<f32> {
    let layer = Layer { d, pad };
    let taps = d.k * d.k;
    let mut dw = vec![0f32; d.o * d.c * taps];
    dw.par_chunks_mut(taps.max(1))
        .enumerate()
        .for_each(|(kernel, sums)| {
            let (o, c) = (kernel / d.c, kernel % d.c);
            kernel_gradient(&layer, x, grad, (o, c), sums);
        });
    dw
}

/// Lanes of the dot products' partial sums.
const LANES: usize = 16;

simd_dispatch! {
    /// The `k x k` weight gradients of output channel `o`, input channel `c` into `sums`.
    fn kernel_gradient(layer: &Layer, x: &[f32], grad: &[f32], at: (usize, usize), sums: &mut [f32]) {
        let (d, pad) = (layer.d, layer.pad);
        let (o, c) = at;
        for ty in 0..d.k {
            let (y0, y1) = reach(d.oh, d.h, ty, pad);
            for tx in 0..d.k {
                let (x0, x1) = reach(d.ow, d.w, tx, pad);
                let mut acc = [0f32; LANES];
                let mut tail = 0f32;
                for i in 0..d.n {
                    let g_plane = &grad[(i * d.o + o) * layer.plane_out()..][..layer.plane_out()];
                    let x_plane = &x[(i * d.c + c) * layer.plane_in()..][..layer.plane_in()];
                    for oy in y0..y1 {
                        let g = &g_plane[oy * d.ow + x0..oy * d.ow + x1];
                        let iy = oy + ty - pad;
                        let v = &x_plane[iy * d.w + x0 + tx - pad..iy * d.w + x1 + tx - pad];
                        let (g_lanes, g_rest) = g.split_at(g.len() / LANES * LANES);
                        let (v_lanes, v_rest) = v.split_at(g_lanes.len());
                        for (gc, vc) in g_lanes.chunks_exact(LANES).zip(v_lanes.chunks_exact(LANES)) {
                            for l in 0..LANES {
                                acc[l] += gc[l] * vc[l];
                            }
                        }
                        for (a, b) in g_rest.iter().zip(v_rest) {
                            tail += a * b;
                        }
                    }
                }
                sums[ty * d.k + tx] = acc.iter().sum::<f32>() + tail;
            }
        }
    }
}

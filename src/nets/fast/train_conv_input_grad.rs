//! The input gradient of the fast training convolution (`train_conv.rs`, issue 13) for
//! layers with many input channels on few pixels: `dX = col2im(W^T dY)`, each task of the
//! rayon pool owning a block of input channels.
//!
//! The pixel split of `train_conv_backward.rs` gives each thread a range of output rows and
//! multiplies the whole `W^T` (kk x o, kk = c * k * k) by that range's `dY` in steps that fit
//! the cache; on a 16 x 16 map of 256 channels each thread has 8 rows, cut into two steps, so
//! the 2.4 MB weight is packed four times for 151 M multiply-adds, and the column gradient of
//! all kk rows is written and scattered per step. Split by input channels instead, a task's
//! rows of `W^T` are packed once per pixel step, its column gradient is the kk-th of its
//! channels, and it scatters into whole planes of `dX` that no other task touches: no shared
//! rows set aside and added at the end. [`splits_by_channels`] says which layers take it.
//!
//! Measured against the pixel split (minimum of 21 runs, alternating, 2 threads, Intel Xeon,
//! 3x3 unless said): pix2pixHD's residual block (256 channels, 18x18 padded to 16x16) 1.36-1.58
//! -> 1.05-1.22 ms (its forward: 0.91-1.01), the same at batch 4 5.6-5.8 -> 4.2-4.6, 512
//! channels at 16x16 7.9-8.5 -> 4.1, its discriminator's 128 -> 256 4x4 at 17x17 1.35-1.46 ->
//! 1.32-1.37; no gain at 64x64 (128 channels: 5.5-5.8 either way), a loss at 128x128 (64
//! channels: 5.8-6.1 -> 6.3-6.6) and at stride 2 (128 -> 256 at 32x32: 0.66 -> 0.70). One task
//! per thread took 0.80 of the pixel split's time on the residual block, four or eight per
//! thread 0.69-0.82.
use std::ops::Range;

use rayon::prelude::*;

use super::conv::scratch_slice;
use super::gather::AxisTable;
use super::gemm::{sgemm_into, MatRef, SharedMut};
use super::train_conv_geometry::{split_ranges, Dims};

/// The most column-gradient values one step of a task writes (its pixel rows are cut to
/// fit): 256 Ki values, 1 MiB, half this machine's L2.
const STEP_VALUES: usize = 256 * 1024;

/// Tasks per thread of the pool: smaller blocks of channels fit a whole sample's pixels in
/// one step, so that each weight value is packed once per sample.
const TASKS_PER_THREAD: usize = 8;

/// Input channels per task at least, so that a task's product is not thin.
const MIN_CHANNELS_PER_TASK: usize = 8;

/// Whether [`input_gradient`] computes this layer's `dX` (the caller also asks for stride 1):
/// at least 64 input and 64 output channels, and at most 1024 output pixels per sample, where
/// the pixel split's threads get so few rows that the weight's packing and the shared rows
/// dominate.
pub(super) fn splits_by_channels(d: &Dims) -> bool {
    const MIN_CHANNELS: usize = 64;
    const MAX_PIXELS: usize = 1024;
    d.c >= MIN_CHANNELS && d.o >= MIN_CHANNELS && d.oh * d.ow <= MAX_PIXELS
}

/// `dX` (n, c, h, w) of `conv(x, W)` for the output gradient `grad` (n, o, oh, ow); `weight`
/// is (o, c, k, k).
pub(super) fn input_gradient(
    d: &Dims,
    rows: &AxisTable,
    cols: &AxisTable,
    weight: &[f32],
    grad: &[f32],
) -> Vec<f32> {
    let plane_in = d.h * d.w;
    let mut dx = vec![0f32; d.n * d.c * plane_in];
    if d.n * d.oh * d.ow == 0 || d.c == 0 || d.o == 0 || plane_in == 0 {
        return dx;
    }
    let out = SharedMut(dx.as_mut_ptr());
    channel_ranges(d.c).into_par_iter().for_each(|channels| {
        let mut dcol = Vec::new();
        for i in 0..d.n {
            let first_plane = i * d.c + channels.start;
            // SAFETY: planes `first_plane ..` of this task's channels lie inside `dx` (n * c
            // planes of h * w) and no other task writes them (`channel_ranges` are disjoint).
            let planes = unsafe {
                std::slice::from_raw_parts_mut(
                    out.ptr().add(first_plane * plane_in),
                    channels.len() * plane_in,
                )
            };
            for (q0, q1) in d.output_row_steps(channels.len() * d.k * d.k, STEP_VALUES) {
                scatter_step(
                    d,
                    (rows, cols),
                    (weight, grad),
                    (i, q0, q1),
                    channels.clone(),
                    planes,
                    &mut dcol,
                );
            }
        }
    });
    dx
}

/// One step: the column gradient of sample `i`'s output rows `[q0, q1)` for input channels
/// `channels`, added into their `planes` through the adjoint of im2col.
fn scatter_step(
    d: &Dims,
    (rows, cols): (&AxisTable, &AxisTable),
    (weight, grad): (&[f32], &[f32]),
    (i, q0, q1): (usize, usize, usize),
    channels: Range<usize>,
    planes: &mut [f32],
    dcol: &mut Vec<f32>,
) {
    let (kk, taps) = (d.c * d.k * d.k, d.k * d.k);
    let nt = (q1 - q0) * d.ow;
    let height = channels.len() * taps;
    let w_t = MatRef {
        data: &weight[channels.start * taps..],
        rows: height,
        cols: d.o,
        row_stride: 1,
        col_stride: kk,
    };
    let g = d.output_rows(grad, i, (q0, q1));
    let dcol = scratch_slice(dcol, height * nt);
    sgemm_into(dcol, w_t, g, false);
    let mut sources = dcol.chunks_exact(nt);
    for plane in planes.chunks_exact_mut(d.h * d.w) {
        for ty in 0..rows.taps {
            for tx in 0..cols.taps {
                let Some(src) = sources.next() else { return };
                for (q, src_row) in (q0..q1).zip(src.chunks_exact(d.ow)) {
                    if let Some(iy) = rows.at(ty, q) {
                        cols.scatter_add(tx, src_row, &mut plane[iy * d.w..(iy + 1) * d.w]);
                    }
                }
            }
        }
    }
}

/// `channels` cut into [`TASKS_PER_THREAD`] contiguous ranges per thread of the pool (fewer
/// when there are too few channels for [`MIN_CHANNELS_PER_TASK`] each).
fn channel_ranges(channels: usize) -> Vec<Range<usize>> {
    let most = (channels / MIN_CHANNELS_PER_TASK).max(1);
    split_ranges(
        channels,
        (TASKS_PER_THREAD * rayon::current_num_threads()).min(most),
    )
}

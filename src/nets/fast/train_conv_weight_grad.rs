//! The weight gradient of the fast training convolution (`train_conv.rs`, issue 13):
//! `dW = sum over the batch of dY col(x)^T`, (o x kk) with `kk = c * k * k`.
//!
//! Each task of the rayon pool owns a range of `dW`'s columns (a range of the (channel, row
//! tap, column tap) rows of im2col) and runs over every pixel of every sample, writing its
//! columns of the result in place. So the threads share no sum: no per-thread `dW` partials to
//! zero, add and transpose. Those were measured under `perf` on pix2pixHD's residual-block
//! convolution (256 -> 256 channels at 16 x 16, a 2304 x 256 `dW`): the GEMM was 52 % of its
//! weight gradient, the element-wise final transpose 24 %, zeroing the partials 9 %, adding
//! them 4 % (each a pass over megabytes that do not stay in cache).
//!
//! The product of a task's pixel step is `dY (o x nt) * col^T (nt x kk_t)`, a column-major
//! right-hand side, with which the `gemm` crate is slow when `o` is small (see `gemm.rs`);
//! and with few columns per task the tasks' products are thin. So this split serves the
//! layers with many output channels and a large `dW` ([`splits_by_columns`]); the others keep
//! the per-thread pixel ranges of `train_conv_backward.rs`, whose partials are small. Measured
//! on the layers of `pix2pixhd-compact` (minimum of 21 runs, alternating with the pixel
//! split, 2 threads, Intel Xeon): 256 -> 256 channels 3x3 at 16x16, 2.9-3.0 -> 1.8 ms;
//! pix2pixHD's discriminator 128 -> 256 4x4 at 17x17, 3.2-3.3 -> 1.4-2.1 ms; 9 -> 32 7x7 at
//! 128x128 (a 32 x 441 `dW`), 3.4-3.5 -> 6.2-6.9 ms, hence the rule.
use std::ops::Range;

use rayon::prelude::*;

use super::conv::scratch_slice;
use super::gather::{im2col_taps, AxisTable};
use super::gemm::{sgemm, MatPtr, MatRef, SharedMut};
use super::train_conv_geometry::{split_ranges, Dims};

/// The most im2col values one step of a task gathers (its pixel rows are cut to fit): 1 MiB,
/// half this machine's L2.
const STEP_VALUES: usize = 256 * 1024;

/// Whether [`weight_gradient`] computes this layer's `dW`: at least 64 output channels and a
/// `dW` of at least 32 Ki values (smaller ones: the pixel split, `train_conv_backward.rs`).
pub(super) fn splits_by_columns(d: &Dims) -> bool {
    const MIN_OUTPUTS: usize = 64;
    const MIN_VALUES: usize = 32 * 1024;
    d.o >= MIN_OUTPUTS && d.o * d.c * d.k * d.k >= MIN_VALUES
}

/// `dW` (o x kk, row-major) of `conv(x, W)` for the output gradient `grad`, summed over the
/// batch; `x` is (n, c, h, w), `grad` (n, o, oh, ow).
pub(super) fn weight_gradient(
    d: &Dims,
    rows: &AxisTable,
    cols: &AxisTable,
    x: &[f32],
    grad: &[f32],
) -> Vec<f32> {
    let kk = d.c * d.k * d.k;
    let mut dw = vec![0f32; d.o * kk];
    if d.n * d.oh * d.ow == 0 || kk == 0 || d.o == 0 {
        return dw;
    }
    let out = SharedMut(dw.as_mut_ptr());
    split_ranges(kk, rayon::current_num_threads())
        .into_par_iter()
        .for_each(|taps| {
            let mut col = Vec::new();
            let dst = MatPtr {
                // SAFETY: `taps.start < kk`, inside `dw` (o x kk values).
                ptr: unsafe { out.ptr().add(taps.start) },
                row_stride: kk,
                col_stride: 1,
            };
            for i in 0..d.n {
                for (q0, q1) in d.output_row_steps(taps.len(), STEP_VALUES) {
                    let first = i == 0 && q0 == 0;
                    add_step(
                        d,
                        (rows, cols),
                        (x, grad),
                        (i, q0, q1),
                        taps.clone(),
                        dst,
                        first,
                        &mut col,
                    );
                }
            }
        });
    dw
}

/// One step's product: sample `i`, output rows `[q0, q1)`, im2col rows `taps`, written
/// (`first`) or added into the task's columns `dst`.
#[allow(clippy::too_many_arguments)]
fn add_step(
    d: &Dims,
    (rows, cols): (&AxisTable, &AxisTable),
    (x, grad): (&[f32], &[f32]),
    (i, q0, q1): (usize, usize, usize),
    taps: Range<usize>,
    dst: MatPtr,
    first: bool,
    col: &mut Vec<f32>,
) {
    let per_in = d.c * d.h * d.w;
    let nt = (q1 - q0) * d.ow;
    let width = taps.len();
    let col = scratch_slice(col, width * nt);
    im2col_taps(
        d.view(&x[i * per_in..(i + 1) * per_in]),
        rows,
        cols,
        (q0, q1),
        taps,
        col,
    );
    let g = d.output_rows(grad, i, (q0, q1));
    let rhs = MatRef::row_major(col, width, nt).transposed();
    // SAFETY: `dst` is this task's `width` columns of every one of the o rows of the result,
    // which no other task touches (`split_ranges` are disjoint).
    unsafe { sgemm(dst, g, rhs, !first) };
}

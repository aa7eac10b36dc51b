//! The backward products of the fast training convolution (`train_conv.rs`, issue 13), for
//! one sample at a time: `dW = dY col(x)^T` summed over the batch, and `dX` as `W^T dY`
//! scattered back through the adjoint of im2col, one contiguous range of output rows per
//! thread of the rayon pool.
use rayon::prelude::*;

use super::conv::{im2col, AxisTable, Tile};
use super::gemm::{sgemm_into, MatRef};
use super::planes::PlaneView;
use super::train_conv::Dims;

/// One thread's `(dW, dX)` sums, added up at the end.
type Partial = (Vec<f32>, Vec<f32>);

/// How the weight gradient is summed.
///
/// `dW = dY col(x)^T` has both factors running along the pixels, the one layout where the
/// `gemm` crate is 2-40x slower (see `gemm.rs`), worst for the few output channels of SPADE's
/// layers. `dW^T = col(x) dY^T` costs a transpose of each tile of `dY` (a `kk`-th of the
/// product) and one of the summed `dW^T` at the end (o x kk values): worth it unless the
/// layer has so few output pixels that the product itself is that small (the innermost
/// layers of a U-Net).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WeightGradLayout {
    /// Summed as (o x kk).
    Direct,
    /// Summed as (kk x o), transposed at the end.
    Transposed,
}

impl WeightGradLayout {
    /// The layout for a layer with `pixels` output pixels over the batch.
    pub(super) fn for_pixels(pixels: usize) -> Self {
        /// Below this, the final transpose is more than a few percent of the product.
        const MIN_PIXELS: usize = 256;
        if pixels >= MIN_PIXELS {
            Self::Transposed
        } else {
            Self::Direct
        }
    }
}

/// One sample's part of `Geometry::backward`.
pub(super) struct SampleBackward<'a> {
    pub(super) d: &'a Dims,
    pub(super) dw_layout: WeightGradLayout,
    pub(super) rows: &'a AxisTable,
    pub(super) cols: &'a AxisTable,
    pub(super) weight: &'a [f32],
    pub(super) grad: &'a [f32],
}

impl SampleBackward<'_> {
    /// Adds one sample's `dW` (when `x` is given, in `self.dw_layout`) to `dw_sum` and writes
    /// its `dX` into `dx_out` (zeros on entry), one range of output rows per thread
    /// ([`row_steps`]); each thread accumulates its own copies, summed at the end (the ranges'
    /// input windows overlap, so `dX` cannot be shared).
    pub(super) fn run(&self, x: Option<PlaneView>, dw_sum: &mut [f32], dx_out: Option<&mut [f32]>) {
        let d = self.d;
        let kk = d.c * d.k * d.k;
        let plane_out = d.oh * d.ow;
        let input_len = d.c * d.h * d.w;
        let want_dx = dx_out.is_some();
        let partials: Vec<Partial> = row_steps(d)
            .par_iter()
            .map(|steps| {
                let mut dw = vec![0.0f32; if x.is_some() { kk * d.o } else { 0 }];
                let mut dx = vec![0.0f32; if want_dx { input_len } else { 0 }];
                let (mut col, mut dcol, mut g_t) = (Vec::new(), Vec::new(), Vec::new());
                for tile in steps {
                    let nt = (tile.q1 - tile.q0) * d.ow;
                    let g = MatRef {
                        data: &self.grad[tile.q0 * d.ow..],
                        rows: d.o,
                        cols: nt,
                        row_stride: plane_out,
                        col_stride: 1,
                    };
                    if let Some(x) = x {
                        col.resize(kk * nt, 0.0);
                        im2col(x, self.rows, self.cols, tile.q0, tile.q1, &mut col);
                        let col = MatRef::row_major(&col, kk, nt);
                        match self.dw_layout {
                            WeightGradLayout::Direct => {
                                sgemm_into(&mut dw, g, col.transposed(), true)
                            }
                            WeightGradLayout::Transposed => {
                                transpose_into(g, &mut g_t);
                                let g_t = MatRef::row_major(&g_t, nt, d.o);
                                sgemm_into(&mut dw, col, g_t, true)
                            }
                        }
                    }
                    if want_dx {
                        let w_t = MatRef {
                            data: self.weight,
                            rows: kk,
                            cols: d.o,
                            row_stride: 1,
                            col_stride: kk,
                        };
                        dcol.resize(kk * nt, 0.0);
                        sgemm_into(&mut dcol, w_t, g, false);
                        col2im_add(
                            &dcol,
                            (d.c, d.h, d.w),
                            self.rows,
                            self.cols,
                            (tile.q0, tile.q1),
                            &mut dx,
                        );
                    }
                }
                (dw, dx)
            })
            .collect();
        if x.is_some() {
            add_partials(dw_sum, partials.iter().map(|(dw, _)| dw.as_slice()));
        }
        if let Some(out) = dx_out {
            add_partials(out, partials.iter().map(|(_, dx)| dx.as_slice()));
        }
    }
}

/// Values of one step's im2col (and of its `dW^T` operand): 1 MiB of f32, half this machine's
/// L2. Bigger than the forward's cache tiles because each step's weight-gradient product sums
/// over the step's pixels into the whole (kk x o) partial: with the forward's 64-pixel tiles,
/// a pix2pixHD residual block (kk 2304, o 256, 16x16 pixels) read and wrote that 2.4 MB
/// partial once per 64 pixels.
const STEP_VALUES: usize = 256 * 1024;

/// The output rows of one sample split into one contiguous range per thread, each range cut
/// into steps of at most [`STEP_VALUES`] im2col values (at least one row).
fn row_steps(d: &Dims) -> Vec<Vec<Tile>> {
    let threads = rayon::current_num_threads().max(1);
    let rows_per_thread = d.oh.div_ceil(threads).max(1);
    let kk = d.c * d.k * d.k;
    let rows_per_step = (STEP_VALUES / (kk * d.ow).max(1)).clamp(1, rows_per_thread);
    (0..d.oh)
        .step_by(rows_per_thread)
        .map(|r0| {
            let r1 = (r0 + rows_per_thread).min(d.oh);
            (r0..r1)
                .step_by(rows_per_step)
                .map(|q0| Tile {
                    q0,
                    q1: (q0 + rows_per_step).min(r1),
                    m0: 0,
                    m1: d.o,
                })
                .collect()
        })
        .collect()
}

/// Adds every partial sum into `total`, in chunks on the rayon pool: summed on the calling
/// thread, the partials of a large layer's `dX` kept the other cores waiting.
fn add_partials<'a>(total: &mut [f32], partials: impl Iterator<Item = &'a [f32]> + Clone + Sync) {
    const CHUNK: usize = 16 * 1024;
    total
        .par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(i, chunk)| {
            for partial in partials.clone() {
                let part = &partial[i * CHUNK..i * CHUNK + chunk.len()];
                chunk.iter_mut().zip(part).for_each(|(a, b)| *a += b);
            }
        });
}

/// `m`'s transpose (m.cols x m.rows) as a dense row-major matrix in `out`, in square blocks so
/// that the reads and the writes both stay in cache.
pub(super) fn transpose_into(m: MatRef, out: &mut Vec<f32>) {
    out.clear();
    out.resize(m.rows * m.cols, 0.0);
    transpose_rows(m, 0, out);
}

/// [`transpose_into`] with bands of output rows on the rayon pool: the summed `dW^T` of a
/// large layer (2304 x 256 values in pix2pixHD's residual blocks) was transposed on the
/// calling thread while the pool waited.
pub(super) fn transpose_par(m: MatRef, out: &mut Vec<f32>) {
    out.clear();
    out.resize(m.rows * m.cols, 0.0);
    if m.rows == 0 {
        return;
    }
    out.par_chunks_mut(TRANSPOSE_BLOCK * m.rows)
        .enumerate()
        .for_each(|(band, rows)| transpose_rows(m, band * TRANSPOSE_BLOCK, rows));
}

const TRANSPOSE_BLOCK: usize = 32;

/// Output rows `j0..` of `m`'s transpose (columns `j0..` of `m`) into `out`, which holds
/// whole rows of `m.rows` values.
fn transpose_rows(m: MatRef, j0: usize, out: &mut [f32]) {
    let cols = out.len() / m.rows.max(1);
    for i0 in (0..m.rows).step_by(TRANSPOSE_BLOCK) {
        for jb in (0..cols).step_by(TRANSPOSE_BLOCK) {
            for i in i0..(i0 + TRANSPOSE_BLOCK).min(m.rows) {
                for j in jb..(jb + TRANSPOSE_BLOCK).min(cols) {
                    out[j * m.rows + i] = m.data[i * m.row_stride + (j0 + j) * m.col_stride];
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds each column value of output rows `[q0, q1)` back into the
/// input position it was gathered from (`dx` is one (channels, height, width) sample).
fn col2im_add(
    dcol: &[f32],
    (channels, height, width): (usize, usize, usize),
    rows: &AxisTable,
    cols: &AxisTable,
    (q0, q1): (usize, usize),
    dx: &mut [f32],
) {
    let w_out = cols.out_len;
    let tile = (q1 - q0) * w_out;
    let plane_len = height * width;
    let mut chunks = dcol.chunks_exact(tile);
    for c in 0..channels {
        let plane = &mut dx[c * plane_len..(c + 1) * plane_len];
        for ty in 0..rows.taps {
            for tx in 0..cols.taps {
                let Some(src) = chunks.next() else { return };
                for (q, src_row) in (q0..q1).zip(src.chunks_exact(w_out)) {
                    if let Some(iy) = rows.at(ty, q) {
                        cols.scatter_add(tx, src_row, &mut plane[iy * width..(iy + 1) * width]);
                    }
                }
            }
        }
    }
}

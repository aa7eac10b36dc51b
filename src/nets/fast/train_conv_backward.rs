//! The backward products of the fast training convolution (`train_conv.rs`, issue 13):
//! `dW = dY col(x)^T` summed over the batch, and `dX` as `W^T dY` scattered back through the
//! adjoint of im2col. Each thread of the rayon pool takes one contiguous range of output rows
//! of every sample; it writes `dX` straight into the input rows it owns and keeps aside only
//! the few rows its window shares with a neighbour (per-thread copies of the whole `dX`,
//! zeroed and summed, were 3-5 % of a SPADE step), and sums its own `dW` partial, added to the
//! others' at the end. Layers with a large `dW` and many output channels compute it split by
//! columns instead, with no partials (`train_conv_weight_grad.rs`), and layers with many
//! channels on few pixels compute `dX` split by input channels (`train_conv_input_grad.rs`).
use rayon::prelude::*;

use super::conv::{scratch_slice, Tile};
use super::gather::{im2col, AxisTable};
use super::gemm::{sgemm_into, MatRef};
use super::mat_transpose::{transpose_into, transpose_sum_par};
use super::planes::PlaneView;
use super::train_conv_geometry::Dims;

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
    /// Summed as (kk x o), transposed as the threads' partials are added.
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

/// The batch's part of `Geometry::backward`.
pub(super) struct BatchBackward<'a> {
    pub(super) d: &'a Dims,
    pub(super) dw_layout: WeightGradLayout,
    pub(super) rows: &'a AxisTable,
    pub(super) cols: &'a AxisTable,
    pub(super) weight: &'a [f32],
    /// The output gradient of every sample, (n, o, oh, ow).
    pub(super) grad: &'a [f32],
}

impl BatchBackward<'_> {
    /// Returns the batch's `dW` (o x kk, when `x`, every sample, is given) and adds its `dX`
    /// into `dx_out`. Each thread of the pool takes one range of
    /// output rows ([`row_steps`]) of every sample, so its `dW` partial is summed once per
    /// batch; it adds `dX` straight into the input rows it owns ([`DxShare`]) and keeps the
    /// few rows its window shares with a neighbour aside, added at the end.
    pub(super) fn run(&self, x: Option<&[f32]>, dx_out: Option<&mut [f32]>) -> Option<Vec<f32>> {
        let d = self.d;
        let kk = d.c * d.k * d.k;
        let per_in = d.c * d.h * d.w;
        let steps = row_steps(d);
        let windows: Vec<(usize, usize)> = steps.iter().map(|s| self.input_window(s)).collect();
        let owned = owned_bands(&windows, d.h);
        let want_dx = dx_out.is_some();
        let mut dx_out = dx_out;
        let shares = match dx_out.as_deref_mut() {
            Some(dx) => DxShare::split(dx, d, &windows, &owned),
            None => (0..steps.len()).map(|_| DxShare::empty(d.w)).collect(),
        };
        let partials: Vec<(Vec<f32>, AsideRows)> = steps
            .par_iter()
            .zip(shares)
            .map(|(steps, mut share)| {
                let mut dw = vec![0.0f32; if x.is_some() { kk * d.o } else { 0 }];
                let mut scratch = Scratch::default();
                for i in 0..d.n {
                    let sample = x.map(|x| d.view(&x[i * per_in..(i + 1) * per_in]));
                    for tile in steps {
                        self.tile(
                            i,
                            *tile,
                            sample,
                            &mut dw,
                            want_dx.then_some(&mut share),
                            &mut scratch,
                        );
                    }
                }
                (dw, share.aside)
            })
            .collect();
        let (dws, asides): (Vec<Vec<f32>>, Vec<AsideRows>) = partials.into_iter().unzip();
        if let Some(out) = dx_out {
            for aside in &asides {
                aside.add_into(out, d);
            }
        }
        x.is_some().then(|| self.sum_weight_grads(dws))
    }

    /// The batch's `dW` (o x kk) from the threads' partials (in `self.dw_layout`).
    fn sum_weight_grads(&self, partials: Vec<Vec<f32>>) -> Vec<f32> {
        let kk = self.d.c * self.d.k * self.d.k;
        match self.dw_layout {
            WeightGradLayout::Direct => {
                // The first thread's partial holds the sum: no zeroed total, one pass fewer.
                let mut partials = partials.into_iter();
                let mut sum = partials.next().unwrap_or_else(|| vec![0.0; kk * self.d.o]);
                let rest: Vec<Vec<f32>> = partials.collect();
                add_partials(&mut sum, rest.iter().map(Vec::as_slice));
                sum
            }
            WeightGradLayout::Transposed => {
                let parts: Vec<MatRef> = partials
                    .iter()
                    .map(|p| MatRef::row_major(p, kk, self.d.o))
                    .collect();
                if parts.is_empty() {
                    return vec![0.0; kk * self.d.o];
                }
                transpose_sum_par(&parts)
            }
        }
    }

    /// One step of sample `i`: its `dW` into `dw`, its `dX` into `share`.
    fn tile(
        &self,
        i: usize,
        tile: Tile,
        x: Option<PlaneView>,
        dw: &mut [f32],
        share: Option<&mut DxShare>,
        scratch: &mut Scratch,
    ) {
        let d = self.d;
        let kk = d.c * d.k * d.k;
        let nt = (tile.q1 - tile.q0) * d.ow;
        let g = d.output_rows(self.grad, i, (tile.q0, tile.q1));
        if let Some(x) = x {
            let col = scratch_slice(&mut scratch.col, kk * nt);
            im2col(x, self.rows, self.cols, tile.q0, tile.q1, col);
            let col = MatRef::row_major(col, kk, nt);
            match self.dw_layout {
                WeightGradLayout::Direct => sgemm_into(dw, g, col.transposed(), true),
                WeightGradLayout::Transposed => {
                    let g_t = MatRef::row_major(transpose_into(g, &mut scratch.g_t), nt, d.o);
                    sgemm_into(dw, col, g_t, true)
                }
            }
        }
        if let Some(share) = share {
            let w_t = MatRef {
                data: self.weight,
                rows: kk,
                cols: d.o,
                row_stride: 1,
                col_stride: kk,
            };
            let dcol = scratch_slice(&mut scratch.dcol, kk * nt);
            sgemm_into(dcol, w_t, g, false);
            col2im_add(
                dcol,
                i,
                d.c,
                self.rows,
                self.cols,
                (tile.q0, tile.q1),
                share,
            );
        }
    }

    /// The input rows `[lo, hi)` that the output rows of `steps` read (empty: `(0, 0)`).
    fn input_window(&self, steps: &[Tile]) -> (usize, usize) {
        let (Some(first), Some(last)) = (steps.first(), steps.last()) else {
            return (0, 0);
        };
        let read = (first.q0..last.q1)
            .flat_map(|q| (0..self.rows.taps).filter_map(move |t| self.rows.at(t, q)));
        let (lo, hi) = read.fold((usize::MAX, 0), |(lo, hi), iy| (lo.min(iy), hi.max(iy + 1)));
        if lo < hi {
            (lo, hi)
        } else {
            (0, 0)
        }
    }
}

/// One thread's buffers, grown to the largest step and reused.
#[derive(Default)]
struct Scratch {
    col: Vec<f32>,
    dcol: Vec<f32>,
    g_t: Vec<f32>,
}

/// The input rows each thread owns: consecutive bands `[b_t, b_t+1)` covering `[0, height)`,
/// each starting where its thread's window starts (kept monotone).
fn owned_bands(windows: &[(usize, usize)], height: usize) -> Vec<(usize, usize)> {
    let mut starts = Vec::with_capacity(windows.len());
    let mut previous = 0;
    for (t, &(lo, hi)) in windows.iter().enumerate() {
        let start = if t == 0 || lo >= hi {
            previous
        } else {
            lo.clamp(previous, height)
        };
        starts.push(start);
        previous = start;
    }
    let ends = starts
        .iter()
        .skip(1)
        .copied()
        .chain(std::iter::once(height));
    starts.iter().copied().zip(ends).collect()
}

/// One thread's view of `dX`: the input rows it owns, in every sample and channel, borrowed
/// from the result, and the rows of its window that other threads own, kept aside.
struct DxShare<'a> {
    /// `own[i * channels + c]`: rows `aside.own_rows` of sample `i`, channel `c`.
    own: Vec<&'a mut [f32]>,
    aside: AsideRows,
}

impl<'a> DxShare<'a> {
    fn empty(width: usize) -> Self {
        Self {
            own: Vec::new(),
            aside: AsideRows {
                width,
                own_rows: (0, 0),
                window: (0, 0),
                values: Vec::new(),
            },
        }
    }

    /// Splits `dx` (n, c, h, w) into the threads' owned bands.
    fn split(
        dx: &'a mut [f32],
        d: &Dims,
        windows: &[(usize, usize)],
        owned: &[(usize, usize)],
    ) -> Vec<Self> {
        let mut shares: Vec<Self> = windows
            .iter()
            .zip(owned)
            .map(|(&window, &own_rows)| {
                let mut share = Self::empty(d.w);
                share.aside.own_rows = own_rows;
                share.aside.window = window;
                share.aside.values = vec![0.0; d.n * d.c * share.aside.rows() * d.w];
                share
            })
            .collect();
        for plane in dx.chunks_exact_mut(d.h * d.w) {
            let mut rest = plane;
            for (share, &(b0, b1)) in shares.iter_mut().zip(owned) {
                let (band, tail) = rest.split_at_mut((b1 - b0) * d.w);
                share.own.push(band);
                rest = tail;
            }
        }
        shares
    }

    /// Input row `iy` of sample `i`, channel `c`, `channels` per sample.
    fn row(&mut self, i: usize, c: usize, channels: usize, iy: usize) -> &mut [f32] {
        let w = self.aside.width;
        let (b0, b1) = self.aside.own_rows;
        if (b0..b1).contains(&iy) {
            let start = (iy - b0) * w;
            return &mut self.own[i * channels + c][start..start + w];
        }
        self.aside.row(i * channels + c, iy)
    }
}

/// The rows of one thread's input window outside the band it owns: those below the band,
/// then those above, per sample and channel.
struct AsideRows {
    width: usize,
    own_rows: (usize, usize),
    window: (usize, usize),
    values: Vec<f32>,
}

impl AsideRows {
    /// (rows below the owned band, rows above it).
    fn split(&self) -> (usize, usize) {
        let (lo, hi) = self.window;
        let (b0, b1) = self.own_rows;
        (
            b0.saturating_sub(lo).min(hi - lo),
            hi.saturating_sub(b1.max(lo)),
        )
    }

    fn rows(&self) -> usize {
        let (below, above) = self.split();
        below + above
    }

    /// The input rows kept, in order.
    fn input_rows(&self) -> impl Iterator<Item = usize> + Clone {
        let (below, above) = self.split();
        let (lo, b1) = (self.window.0, self.own_rows.1.max(self.window.0));
        (lo..lo + below).chain(b1..b1 + above)
    }

    /// Row `iy` (outside the owned band) of plane `p` (sample * channels + channel).
    fn row(&mut self, p: usize, iy: usize) -> &mut [f32] {
        let (below, _) = self.split();
        let r = if iy < self.own_rows.0 {
            iy - self.window.0
        } else {
            below + iy - self.own_rows.1.max(self.window.0)
        };
        let start = (p * self.rows() + r) * self.width;
        &mut self.values[start..start + self.width]
    }

    /// Adds the rows into `dx` (n, c, h, w).
    fn add_into(&self, dx: &mut [f32], d: &Dims) {
        let rows = self.rows();
        if rows == 0 {
            return;
        }
        for (p, plane) in dx.chunks_exact_mut(d.h * d.w).enumerate() {
            let aside = &self.values[p * rows * d.w..(p + 1) * rows * d.w];
            for (iy, src) in self.input_rows().zip(aside.chunks_exact(d.w)) {
                let dst = &mut plane[iy * d.w..(iy + 1) * d.w];
                dst.iter_mut().zip(src).for_each(|(a, b)| *a += b);
            }
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
/// thread, the partials of a large layer kept the other cores waiting.
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

/// The adjoint of [`im2col`]: adds each column value of output rows `[q0, q1)` of sample
/// `i` back into the input position it was gathered from, through `share`.
fn col2im_add(
    dcol: &[f32],
    i: usize,
    channels: usize,
    rows: &AxisTable,
    cols: &AxisTable,
    (q0, q1): (usize, usize),
    share: &mut DxShare,
) {
    let w_out = cols.out_len;
    let tile = (q1 - q0) * w_out;
    let mut chunks = dcol.chunks_exact(tile);
    for c in 0..channels {
        for ty in 0..rows.taps {
            for tx in 0..cols.taps {
                let Some(src) = chunks.next() else { return };
                for (q, src_row) in (q0..q1).zip(src.chunks_exact(w_out)) {
                    if let Some(iy) = rows.at(ty, q) {
                        cols.scatter_add(tx, src_row, share.row(i, c, channels, iy));
                    }
                }
            }
        }
    }
}

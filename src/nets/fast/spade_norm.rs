//! SPADE's normalization layer (`Spade` in `spade.rs`, after NVlabs/SPADE
//! `normalization.py`) on the fast path: `norm(x) * (1 + gamma(seg)) + beta(seg)`, with the
//! leaky ReLU that follows it fused in.
//!
//! With a sparse semantic map (`seg.rs`) `gamma`/`beta` form a table: one row per signature
//! (pixels inside a region) plus one per boundary pixel. `mlp_shared` over signature vectors is
//! a sum over kernel taps of per-signature columns, computed once per distinct label window
//! (`seg_hidden.rs`); `mlp_gamma`/`mlp_beta` (gamma rows then beta rows) are, per kernel tap, a
//! product with those few activations, summed at each boundary pixel over the taps (at coarse
//! levels, nearly all boundary, one product over each pixel's gathered activations). A dense
//! map takes two convolutions.
use rayon::prelude::*;

use super::conv::{Activation, Conv2d, Epilogue};
use super::gather::PadMode;
use super::gemm::{sgemm, sgemm_into, MatPtr, MatRef, SharedMut};
use super::ops::ChannelNorm;
use super::planes::Planes;
use super::region::Rect;
use super::seg::{Level, Signatures, SparseLevel, TableRun};
use super::seg_hidden::NO_PIXEL;
use super::{batch_norm_from, conv_from, values, FastError};
use crate::nets::spade::Spade;

/// The parameter-free normalization inside SPADE.
#[derive(Debug, Clone)]
pub(crate) enum ParamFree {
    Instance,
    /// Batch norm in eval mode: a fixed per-channel (scale, shift).
    Batch(Vec<ChannelNorm>),
}

#[derive(Debug, Clone)]
pub(crate) struct FastSpadeNorm {
    pub param_free: ParamFree,
    norm_nc: usize,
    hidden: usize,
    kernel: usize,
    /// `mlp_shared` for dense maps, and its OIHW weights for the tap sums.
    shared: Conv2d,
    shared_weight: Vec<f32>,
    shared_bias: Vec<f32>,
    /// `mlp_gamma` and `mlp_beta` stacked (2 norm_nc outputs), for dense maps.
    modulation: Conv2d,
    /// The same weights per kernel tap, (taps, hidden, 2 norm_nc): each tap's right-hand side
    /// of the products with distinct activations, row-major (the `gemm` crate's fast layout).
    modulation_by_tap: Vec<f32>,
    /// The same weights as (2 norm_nc, taps x hidden): the left-hand side of the product with
    /// boundary pixels' gathered activations.
    modulation_tap_major: Vec<f32>,
    /// Summed over taps: the product with a constant activation.
    modulation_tap_sum: Vec<f32>,
    modulation_bias: Vec<f32>,
}

impl FastSpadeNorm {
    pub fn new(spade: &Spade) -> Result<Self, FastError> {
        let param_free = match &spade.batch_norm {
            Some(bn) => ParamFree::Batch(batch_norm_from(bn)?),
            None => ParamFree::Instance,
        };
        let g = spade.mlp_shared.geometry();
        let (hidden, kernel) = (g.out_channels, g.kernel);
        let norm_nc = spade.mlp_gamma.geometry().out_channels;
        let shared = conv_from(&spade.mlp_shared, (g.padding, PadMode::Zero))?;
        let shared_weight = values(spade.mlp_shared.weight())?;
        let shared_bias = match spade.mlp_shared.bias() {
            Some(b) => values(b)?,
            None => vec![0.0; hidden],
        };
        let bias_of = |c: &crate::nets::layers::Conv2d| match c.bias() {
            Some(b) => values(b),
            None => Ok(vec![0.0; norm_nc]),
        };
        let mut weight = values(spade.mlp_gamma.weight())?;
        weight.extend(values(spade.mlp_beta.weight())?);
        let mut bias = bias_of(&spade.mlp_gamma)?;
        bias.extend(bias_of(&spade.mlp_beta)?);
        let taps = kernel * kernel;
        let mut by_tap = vec![0.0; weight.len()];
        let mut tap_major = vec![0.0; weight.len()];
        let mut tap_sum = vec![0.0; 2 * norm_nc * hidden];
        for m in 0..2 * norm_nc {
            for j in 0..hidden {
                for t in 0..taps {
                    let w = weight[(m * hidden + j) * taps + t];
                    by_tap[(t * hidden + j) * 2 * norm_nc + m] = w;
                    tap_major[(m * taps + t) * hidden + j] = w;
                    tap_sum[m * hidden + j] += w;
                }
            }
        }
        let modulation = Conv2d::new(
            hidden,
            2 * norm_nc,
            kernel,
            1,
            (kernel / 2, PadMode::Zero),
            weight,
            Some(bias.clone()),
        )?;
        Ok(Self {
            param_free,
            norm_nc,
            hidden,
            kernel,
            shared,
            shared_weight,
            shared_bias,
            modulation,
            modulation_by_tap: by_tap,
            modulation_tap_major: tap_major,
            modulation_tap_sum: tap_sum,
            modulation_bias: bias,
        })
    }

    /// The normalization's per-channel (scale, shift) for `x`; `instance` is `x`'s instance
    /// statistics when the caller already has them.
    pub fn affine(&self, x: &Planes, instance: Option<&[ChannelNorm]>) -> Vec<ChannelNorm> {
        match (&self.param_free, instance) {
            (ParamFree::Batch(affine), _) => affine.clone(),
            (ParamFree::Instance, Some(stats)) => stats.to_vec(),
            (ParamFree::Instance, None) => {
                super::ops::instance_norm_affine(x, super::ops::NORM_EPS)
            }
        }
    }

    /// `act(norm(x) * (1 + gamma) + beta)` with `affine` from [`Self::affine`].
    pub fn forward(
        &self,
        x: &Planes,
        affine: &[ChannelNorm],
        level: &Level,
        signatures: Option<&Signatures>,
        activation: Activation,
    ) -> Result<Planes, FastError> {
        if x.channels != self.norm_nc || (x.height, x.width) != (level.height, level.width) {
            return Err(FastError::shape(
                "SPADE norm input",
                format!("{}x{}x{}", self.norm_nc, level.height, level.width),
                format!("{}x{}x{}", x.channels, x.height, x.width),
            ));
        }
        match (&level.sparse, signatures) {
            (Some(sparse), Some(signatures)) => {
                let table = self.modulation_table(sparse, signatures);
                let rows = sparse.signature_count + sparse.boundary.len();
                Ok(modulate(x, affine, activation, |c| {
                    let gamma = &table[c * rows..(c + 1) * rows];
                    let beta = &table[(self.norm_nc + c) * rows..(self.norm_nc + c + 1) * rows];
                    Source::Table(&sparse.runs, gamma, beta)
                }))
            }
            _ => {
                let seg = level.dense.as_ref().ok_or_else(|| {
                    FastError::Unsupported("a SPADE level without its resized map".into())
                })?;
                let actv = self
                    .shared
                    .forward(seg, Epilogue::activation(Activation::Relu))?;
                let gb = self
                    .modulation
                    .forward(&actv, Epilogue::activation(Activation::Identity))?;
                let gb = match level.inner == Rect::full(gb.width, gb.height) {
                    true => gb,
                    false => super::region::crop(&gb, level.inner),
                };
                Ok(modulate(x, affine, activation, |c| {
                    Source::Planes(gb.channel(c), gb.channel(self.norm_nc + c))
                }))
            }
        }
    }

    /// The (2 norm_nc) x (signatures + boundary pixels) table of gamma then beta rows.
    fn modulation_table(&self, level: &SparseLevel, signatures: &Signatures) -> Vec<f32> {
        let (hidden, taps) = (self.hidden, self.kernel * self.kernel);
        let nsig = level.signature_count;
        let label_nc = self.shared.in_channels;
        // columns[t][v]: the tap-t contribution of signature v to mlp_shared.
        let mut columns = vec![0.0f32; taps * nsig * hidden];
        for (v, vector) in signatures.vectors.iter().enumerate() {
            for (c, &value) in vector.iter().enumerate().filter(|(_, &x)| x != 0.0) {
                for j in 0..hidden {
                    let w = &self.shared_weight[(j * label_nc + c) * taps..][..taps];
                    for (t, &wt) in w.iter().enumerate() {
                        columns[(t * nsig + v) * hidden + j] += wt * value;
                    }
                }
            }
        }
        let constant_actv: Vec<f32> = (0..nsig)
            .flat_map(|v| {
                let columns = &columns;
                (0..hidden).map(move |j| {
                    let sum: f32 = (0..taps)
                        .map(|t| columns[(t * nsig + v) * hidden + j])
                        .sum();
                    (self.shared_bias[j] + sum).max(0.0)
                })
            })
            .collect();
        let rows = nsig + level.boundary.len();
        let m = 2 * self.norm_nc;
        let mut table = vec![0.0f32; m * rows];
        // Inside regions: bias + (weights summed over taps) . constant activation.
        for (mi, row) in table.chunks_exact_mut(rows).enumerate() {
            let w = &self.modulation_tap_sum[mi * hidden..(mi + 1) * hidden];
            for (v, slot) in row[..nsig].iter_mut().enumerate() {
                let a = &constant_actv[v * hidden..(v + 1) * hidden];
                *slot = self.modulation_bias[mi] + w.iter().zip(a).map(|(w, a)| w * a).sum::<f32>();
            }
        }
        if !level.boundary.is_empty() {
            let actv = self.window_activations(level, &columns, &constant_actv);
            self.boundary_rows(level, &actv, &mut table, rows);
        }
        table
    }

    /// `relu(mlp_shared(seg))` of every distinct window of the level (`seg_hidden.rs`):
    /// (activations x hidden), the signatures' `constant` ones first.
    fn window_activations(
        &self,
        level: &SparseLevel,
        columns: &[f32],
        constant: &[f32],
    ) -> Vec<f32> {
        let (hidden, taps, nsig) = (
            self.hidden,
            self.kernel * self.kernel,
            level.signature_count,
        );
        let windows = level.hidden();
        let count = windows.activation_count(nsig);
        let mut actv = Vec::with_capacity(count * hidden);
        actv.extend_from_slice(constant);
        let mut sum = vec![0f32; hidden];
        for i in 0..count - nsig {
            sum.copy_from_slice(&self.shared_bias);
            for t in 0..taps {
                if let Some(s) = windows.window_tap(i, t) {
                    let col = &columns[(t * nsig + usize::from(s)) * hidden..][..hidden];
                    sum.iter_mut().zip(col).for_each(|(d, c)| *d += c);
                }
            }
            actv.extend(sum.iter().map(|v| v.max(0.0)));
        }
        actv
    }

    /// `mlp_gamma`/`mlp_beta` at the boundary pixels, written into the table's boundary rows.
    /// Where a level has at least twice as many boundary pixels as distinct activations (the
    /// finer levels: YCOR's 256x128 has 6300 for 600), by products per activation; else (a
    /// coarse level, nearly all boundary) by one product per pixel, which the `gemm` crate runs
    /// faster there (16x8 with 256 channels: 0.53 against 0.8 ms on this session's Zen 3).
    fn boundary_rows(&self, level: &SparseLevel, actv: &[f32], table: &mut [f32], rows: usize) {
        let count = actv.len() / self.hidden.max(1);
        match 2 * count <= level.boundary.len() {
            true => self.boundary_rows_by_activation(level, actv, table, rows),
            false => self.boundary_rows_by_pixel(level, actv, table, rows),
        }
    }

    /// [`Self::boundary_rows`] as one product of the weights with the activations each
    /// boundary pixel's taps name, gathered (im2col) per pixel.
    fn boundary_rows_by_pixel(
        &self,
        level: &SparseLevel,
        actv: &[f32],
        table: &mut [f32],
        rows: usize,
    ) {
        let (hidden, taps, m) = (self.hidden, self.kernel * self.kernel, 2 * self.norm_nc);
        let inner = taps * hidden;
        let threads = rayon::current_num_threads().max(1);
        let chunk = (96 * 1024 / inner.max(m)).clamp(32, 1024);
        let chunk = chunk.min(level.boundary.len().div_ceil(2 * threads)).max(8);
        let (nsig, ids) = (level.signature_count, &level.hidden().boundary_taps);
        let dst = SharedMut(table.as_mut_ptr());
        let weight = MatRef::row_major(&self.modulation_tap_major, m, inner);
        ids.par_chunks(taps * chunk)
            .enumerate()
            .for_each_init(Vec::new, |columns, (i, ids)| {
                let pixels = ids.len() / taps;
                columns.clear();
                columns.resize(pixels * inner, 0.0);
                for (column, ids) in columns.chunks_exact_mut(inner).zip(ids.chunks_exact(taps)) {
                    for (t, &id) in ids.iter().enumerate().filter(|(_, &id)| id != NO_PIXEL) {
                        let a = &actv[id as usize * hidden..][..hidden];
                        column[t * hidden..][..hidden].copy_from_slice(a);
                    }
                }
                let rhs = MatRef {
                    data: columns,
                    rows: inner,
                    cols: pixels,
                    row_stride: 1,
                    col_stride: inner,
                };
                let first = nsig + i * chunk;
                let out = MatPtr {
                    // SAFETY (offset): `first + pixels <= rows`, inside the table.
                    ptr: unsafe { dst.ptr().add(first) },
                    row_stride: rows,
                    col_stride: 1,
                };
                // SAFETY: this chunk alone writes columns [first, first + pixels) of every
                // table row; the table outlives the parallel loop.
                unsafe { sgemm(out, weight, rhs, false) };
            });
        for (row, &bias) in table.chunks_exact_mut(rows).zip(&self.modulation_bias) {
            row[nsig..].iter_mut().for_each(|v| *v += bias);
        }
    }

    /// [`Self::boundary_rows`] as, per kernel tap, the products of its weights with every
    /// distinct activation, then per pixel the sum over taps of the products its neighbours'
    /// activations name.
    fn boundary_rows_by_activation(
        &self,
        level: &SparseLevel,
        actv: &[f32],
        table: &mut [f32],
        rows: usize,
    ) {
        const PIXELS_PER_TASK: usize = 64;
        let (hidden, taps, m) = (self.hidden, self.kernel * self.kernel, 2 * self.norm_nc);
        let count = actv.len() / hidden.max(1);
        let mut products = vec![0f32; taps * count * m];
        products
            .par_chunks_mut(count * m)
            .zip(self.modulation_by_tap.par_chunks(hidden * m))
            .for_each(|(dst, weight)| {
                let lhs = MatRef::row_major(actv, count, hidden);
                sgemm_into(dst, lhs, MatRef::row_major(weight, hidden, m), false);
            });
        let (nsig, ids) = (level.signature_count, &level.hidden().boundary_taps);
        let dst = SharedMut(table.as_mut_ptr());
        ids.par_chunks(taps * PIXELS_PER_TASK)
            .enumerate()
            .for_each_init(Vec::new, |sums, (chunk, ids)| {
                let pixels = ids.len() / taps;
                sums.clear();
                sums.resize(pixels * m, 0.0);
                for (sum, ids) in sums.chunks_exact_mut(m).zip(ids.chunks_exact(taps)) {
                    for (t, &id) in ids.iter().enumerate().filter(|(_, &id)| id != NO_PIXEL) {
                        let product = &products[(t * count + id as usize) * m..][..m];
                        sum.iter_mut().zip(product).for_each(|(s, p)| *s += p);
                    }
                }
                let first = nsig + chunk * PIXELS_PER_TASK;
                for (mi, &bias) in self.modulation_bias.iter().enumerate() {
                    // SAFETY: this task alone writes columns [first, first + pixels) of the
                    // table's rows, which lie inside it and outlive the loop.
                    let row = unsafe {
                        std::slice::from_raw_parts_mut(dst.ptr().add(mi * rows + first), pixels)
                    };
                    for (r, sum) in row.iter_mut().zip(sums.chunks_exact(m)) {
                        *r = sum[mi] + bias;
                    }
                }
            });
    }
}

/// Where one channel's gamma and beta come from.
enum Source<'a> {
    /// The pixels' rows into the gamma and beta rows, as runs.
    Table(&'a [TableRun], &'a [f32], &'a [f32]),
    Planes(&'a [f32], &'a [f32]),
}

/// `act((x * scale + shift) * (1 + gamma) + beta)` per channel. Why by runs and the
/// activation in a second pass: loops over slices with the same arithmetic vectorise; a
/// per-pixel row lookup and a per-value match on the activation did not (a third of a
/// 256x128 frame was spent here).
fn modulate<'a>(
    x: &Planes,
    affine: &[ChannelNorm],
    activation: Activation,
    source: impl Fn(usize) -> Source<'a> + Sync,
) -> Planes {
    let n = x.plane_len().max(1);
    let mut out = Planes::zeros(x.channels, x.height, x.width);
    out.data
        .par_chunks_mut(n)
        .zip(x.data.par_chunks(n))
        .enumerate()
        .for_each(|(c, (dst, src))| {
            let norm = affine[c];
            match source(c) {
                Source::Table(runs, gamma, beta) => {
                    for run in runs {
                        let (start, len) = (run.start as usize, run.len as usize);
                        let (dst, src) = (&mut dst[start..start + len], &src[start..start + len]);
                        let row = run.row as usize;
                        match run.consecutive {
                            true => modulate_slice(
                                dst,
                                src,
                                norm,
                                &gamma[row..row + len],
                                &beta[row..row + len],
                            ),
                            false => {
                                let (scale, shift) = (1.0 + gamma[row], beta[row]);
                                for (d, &v) in dst.iter_mut().zip(src) {
                                    *d = norm.apply(v) * scale + shift;
                                }
                            }
                        }
                    }
                }
                Source::Planes(gamma, beta) => modulate_slice(dst, src, norm, gamma, beta),
            }
            activation.apply_slice(dst);
        });
    out
}

fn modulate_slice(dst: &mut [f32], src: &[f32], norm: ChannelNorm, gamma: &[f32], beta: &[f32]) {
    for (((d, &v), g), b) in dst.iter_mut().zip(src).zip(gamma).zip(beta) {
        *d = norm.apply(v) * (1.0 + g) + b;
    }
}

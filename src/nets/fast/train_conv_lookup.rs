//! The weight gradient of a training convolution over a binary input with few distinct
//! per-pixel vectors (a one-hot label map, maybe with pix2pixHD's instance-edge channel) as a
//! scatter-add by signature, the issue 13 idea "a convolution that reads a one-hot label map
//! is a lookup forward and a scatter-add by class backward".
//!
//! `dW`: per signature and tap, the output gradient summed over the pixels whose input at that
//! tap carries the signature, then `dW[o][c][tap] = sum_s vector_s[c] * G[s][tap][o]`.
//! pix2pixHD's first layer (9 one-hot classes -> 32, 7x7, 128x128 output, AMD EPYC Zen 4, 2
//! threads): backward 1.57-1.72 ms (min of 201) against 3.44-3.56 through the dense kernels. The
//! forward stays dense: the inference path's lookup (`lookup.rs`), tried here with the table
//! rows summed in registers, took 2.5-5.0 ms (min) against the dense kernels' 2.6-3.0 ms,
//! which run near the CPU's peak on 441-long sums (`docs/bench/train-lookup-2026-12-06-s12.txt`).
//! A label map needs no gradient, so `dX` stays dense too. Sums run in a fixed order (a fixed
//! number of row tasks per sample, added in order), so the result does not depend on the
//! thread count; it equals the dense gradient up to the order of float additions.
use rayon::prelude::*;

use super::lookup::lookup_pays;
use super::seg::Signatures;
use super::simd::simd_dispatch;
use super::train_conv_few::reach;
use super::train_conv_geometry::{split_ranges, Dims};

/// Row tasks per sample of the weight gradient, each with its own per-signature sums.
const WEIGHT_GRAD_TASKS_PER_SAMPLE: usize = 8;

/// Each sample's signatures when `x` (n, c, h, w) is binary (every value 0 or 1: one-hot
/// classes, edge maps) and a sum by signature pays at stride 1 with a kernel of 3 or more
/// (the inference lookup's rule, [`lookup_pays`]); `None`
/// otherwise. The scan stops at the first other value, so a dense activation costs a read of
/// a few values.
pub(super) fn label_signatures(d: &Dims, stride: usize, x: &[f32]) -> Option<Vec<Signatures>> {
    let plane = d.h * d.w;
    if stride != 1 || d.k < 3 || d.c < 2 || plane == 0 || x.len() != d.n * d.c * plane {
        return None;
    }
    if !x.iter().all(|&v| v == 0.0 || v == 1.0) {
        return None;
    }
    x.chunks_exact(d.c * plane)
        .map(|sample| {
            Signatures::find_in(sample, d.c, plane)
                .filter(|s| lookup_pays(d.c, s.vectors.len(), plane))
        })
        .collect()
}

/// `dW` (o, c, k, k) summed over the batch, for the output gradient `grad` (n, o, oh, ow).
pub(super) fn weight_gradient(
    d: &Dims,
    pad: usize,
    signatures: &[Signatures],
    grad: &[f32],
) -> Vec<f32> {
    let tasks: Vec<(usize, std::ops::Range<usize>)> = (0..d.n)
        .flat_map(|n| {
            split_ranges(d.oh, WEIGHT_GRAD_TASKS_PER_SAMPLE)
                .into_iter()
                .map(move |rows| (n, rows))
        })
        .collect();
    let partials: Vec<Vec<f32>> = tasks
        .into_par_iter()
        .map(|(n, rows)| weight_gradient_rows(d, pad, &signatures[n], grad_of(d, grad, n), rows))
        .collect();
    let mut dw = vec![0f32; d.o * d.c * d.k * d.k];
    for partial in &partials {
        for (a, b) in dw.iter_mut().zip(partial) {
            *a += b;
        }
    }
    dw
}

/// Sample `n`'s output gradient (o, oh, ow).
fn grad_of<'a>(d: &Dims, grad: &'a [f32], n: usize) -> &'a [f32] {
    let per = d.o * d.oh * d.ow;
    &grad[n * per..(n + 1) * per]
}

/// One sample's `dW` over output rows `rows`.
fn weight_gradient_rows(
    d: &Dims,
    pad: usize,
    signatures: &Signatures,
    grad: &[f32],
    rows: std::ops::Range<usize>,
) -> Vec<f32> {
    let (m, taps, plane_out) = (d.o, d.k * d.k, d.oh * d.ow);
    let ids = signatures.ids();
    let mut sums = vec![0f32; signatures.vectors.len() * taps * m];
    let mut pixels = vec![0f32; d.ow * m];
    for q in rows {
        for (o, plane) in grad.chunks_exact(plane_out).enumerate() {
            for (xo, v) in plane[q * d.ow..(q + 1) * d.ow].iter().enumerate() {
                pixels[xo * m + o] = *v;
            }
        }
        for (ty, tx, iy) in taps_over_row(d, pad, q) {
            let (lo, hi) = reach(d.ow, d.w, tx, pad);
            if lo >= hi {
                continue;
            }
            let line = &ids[iy * d.w + lo + tx - pad..iy * d.w + hi + tx - pad];
            let tap_offset = (ty * d.k + tx) * m;
            let stride = taps * m;
            let run = &pixels[lo * m..hi * m];
            scatter_row(&mut sums, line, run, stride, tap_offset, m);
        }
    }
    let mut dw = vec![0f32; m * d.c * taps];
    for (s, vector) in signatures.vectors.iter().enumerate() {
        for (c, &value) in vector.iter().enumerate().filter(|(_, v)| **v != 0.0) {
            for tap in 0..taps {
                let sum = &sums[(s * taps + tap) * m..(s * taps + tap + 1) * m];
                for (o, g) in sum.iter().enumerate() {
                    dw[(o * d.c + c) * taps + tap] += value * g;
                }
            }
        }
    }
    dw
}

/// The taps `(ty, tx)` of output row `q` whose input row `iy` lies inside the input (the
/// columns inside are [`reach`]'s range).
fn taps_over_row(
    d: &Dims,
    pad: usize,
    q: usize,
) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    (0..d.k)
        .filter_map(move |ty| {
            let iy = (q + ty).checked_sub(pad).filter(|&iy| iy < d.h)?;
            Some((ty, iy))
        })
        .flat_map(move |(ty, iy)| (0..d.k).map(move |tx| (ty, tx, iy)))
}

simd_dispatch! {
    /// `sums[ids[i] * stride + tap_offset..][..m] += run[i * m..][..m]` for every pixel `i` of
    /// the run. Neighbouring pixels mostly carry the same signature, so with whole blocks of
    /// [`LANES`] channels each block is summed in a register along a stretch of one signature
    /// and added to `sums` once per stretch.
    fn scatter_row(
        sums: &mut [f32],
        ids: &[u16],
        run: &[f32],
        stride: usize,
        tap_offset: usize,
        m: usize,
    ) {
        if !m.is_multiple_of(LANES) {
            for (values, &id) in run.chunks_exact(m).zip(ids) {
                let start = usize::from(id) * stride + tap_offset;
                add_into(&mut sums[start..start + m], values);
            }
            return;
        }
        for first in (0..m).step_by(LANES) {
            let mut acc = [0f32; LANES];
            let mut current = ids.first().copied();
            for (values, &id) in run.chunks_exact(m).zip(ids) {
                if Some(id) != current {
                    if let Some(c) = current {
                        let start = usize::from(c) * stride + tap_offset + first;
                        add_into(&mut sums[start..start + LANES], &acc);
                    }
                    acc = [0f32; LANES];
                    current = Some(id);
                }
                add_block(&mut acc, &values[first..first + LANES]);
            }
            if let Some(c) = current {
                let start = usize::from(c) * stride + tap_offset + first;
                add_into(&mut sums[start..start + LANES], &acc);
            }
        }
    }
}

/// Output channels summed per register block.
const LANES: usize = 16;

/// `acc += values` in one register; `values` must be [`LANES`] long (nothing is added
/// otherwise). A loop over a slice whose length is known only at run time took 8-lane steps.
#[inline(always)]
fn add_block(acc: &mut [f32; LANES], values: &[f32]) {
    if let Ok(values) = <&[f32; LANES]>::try_from(values) {
        for (a, v) in acc.iter_mut().zip(values) {
            *a += v;
        }
    }
}

/// `acc += values`, element by element.
#[inline(always)]
fn add_into(acc: &mut [f32], values: &[f32]) {
    for (a, v) in acc.iter_mut().zip(values) {
        *a += v;
    }
}

//! The modulation op's backward for one sample (see the parent module for the split of the
//! pixels): gradients of both convolutions' weights and biases, summed in f64 over the batch.
use rayon::prelude::*;

use super::{
    hidden_columns, needed_hidden, ModulationShape, SampleMap, SignatureHidden, SparseSeg, Weights,
    PIXELS_PER_TASK,
};
use crate::nets::fast::gemm::{sgemm_into, MatRef};

/// One output channel's sums over its gradient plane.
struct ChannelSums {
    total: f64,
    /// Per signature, over the pixels that read its table row.
    table: Vec<f64>,
    /// (signature, tap): over the pixels that read, through the tap, a hidden activation
    /// inside the signature's regions.
    region_taps: Vec<f64>,
}

fn channel_sums(
    seg: &SparseSeg,
    map: &SampleMap,
    plane: &[f32],
    shape: &ModulationShape,
) -> ChannelSums {
    let (signatures, t_count, width) = (map.vectors.len(), shape.taps(), seg.width);
    let mut table = vec![0f64; signatures];
    for run in map
        .level
        .runs
        .iter()
        .filter(|r| (r.row as usize) < signatures)
    {
        let values = &plane[run.start as usize..(run.start + run.len) as usize];
        table[run.row as usize] += f64::from(lane_sum(values));
    }
    let total = plane
        .chunks(width)
        .map(|row| f64::from(lane_sum(row)))
        .sum();
    let mut region_taps = vec![0f64; signatures * t_count];
    let (r, k) = (shape.radius(), shape.kernel);
    for run in &map.region_runs {
        // Region pixels have their whole window inside the image, so every pixel reading
        // them is too: tap (ky, kx) is read from row y + r - ky, columns shifted by r - kx,
        // all inside `lo..hi`.
        let (lo, hi) = (run.x0 - r, run.x1 + r);
        for ky in 0..k {
            let row = &plane[(run.y + r - ky) * width..][..width];
            let all = lane_sum(&row[lo..hi]);
            for kx in 0..k {
                let (start, end) = (run.x0 + r - kx, run.x1 + r - kx);
                let outside = lane_sum(&row[lo..start]) + lane_sum(&row[end..hi]);
                region_taps[run.sig * t_count + ky * k + kx] += f64::from(all - outside);
            }
        }
    }
    ChannelSums {
        total,
        table,
        region_taps,
    }
}

/// The sum of `values` over 16 lanes, so that it vectorises.
fn lane_sum(values: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut lanes = [0f32; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().sum();
    for chunk in chunks {
        lanes.iter_mut().zip(chunk).for_each(|(l, v)| *l += v);
    }
    lanes.iter().sum::<f32>() + tail
}

/// Adds `a`'s values to `acc`.
fn add_into(acc: &mut [f64], a: &[f32]) {
    acc.iter_mut().zip(a).for_each(|(s, &v)| *s += f64::from(v));
}

/// The output convolution's weight gradient over the boundary pixels, (out, hidden x taps).
fn boundary_weight_gradient(
    seg: &SparseSeg,
    map: &SampleMap,
    hidden: &[f32],
    g: &[f32],
    shape: &ModulationShape,
) -> Vec<f32> {
    let (c_out, k, hw) = (shape.out, shape.hidden * shape.taps(), seg.plane_len());
    map.level
        .boundary
        .par_chunks(PIXELS_PER_TASK)
        .fold(
            || vec![0f32; c_out * k],
            |mut acc, pixels| {
                let col = hidden_columns(seg, map, hidden, pixels, shape);
                let mut grads = Vec::with_capacity(c_out * pixels.len());
                for o in 0..c_out {
                    grads.extend(pixels.iter().map(|&p| g[o * hw + p as usize]));
                }
                let lhs = MatRef::row_major(&grads, c_out, pixels.len());
                let rhs = MatRef::row_major(&col, pixels.len(), k);
                sgemm_into(&mut acc, lhs, rhs, true);
                acc
            },
        )
        .reduce(
            || vec![0f32; c_out * k],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                a
            },
        )
}

/// `mlp_shared`'s pre-activation gradient at the off-region pixels, summed per (signature of
/// the input pixel, tap) and for the bias: (signature, tap, hidden) then (hidden).
fn off_region_gradient(
    seg: &SparseSeg,
    map: &SampleMap,
    sh: &SignatureHidden,
    w: &Weights,
    g: &[f32],
    shape: &ModulationShape,
) -> (Vec<f32>, Vec<f32>) {
    let (c_out, hid, t_count, hw) = (shape.out, shape.hidden, shape.taps(), seg.plane_len());
    // (tap x out, hidden): the transposed convolution's weight.
    let mut w_t = vec![0f32; t_count * c_out * hid];
    for o in 0..c_out {
        for c in 0..hid {
            for t in 0..t_count {
                w_t[(t * c_out + o) * hid + c] = w.out_w[(o * hid + c) * t_count + t];
            }
        }
    }
    let sums_len = map.vectors.len() * t_count * hid;
    map.off_region
        .par_chunks(PIXELS_PER_TASK)
        .fold(
            || (vec![0f32; sums_len], vec![0f32; hid]),
            |(mut sums, mut bias), pixels| {
                let mut gathered = vec![0f32; pixels.len() * t_count * c_out];
                for (row, &q) in gathered.chunks_mut(t_count * c_out).zip(pixels) {
                    let (y, x) = (q as usize / seg.width, q as usize % seg.width);
                    for t in 0..t_count {
                        if let Some(p) = seg.reader_pixel(y, x, t, shape) {
                            for o in 0..c_out {
                                row[t * c_out + o] = g[o * hw + p];
                            }
                        }
                    }
                }
                let mut d_hidden = vec![0f32; pixels.len() * hid];
                let lhs = MatRef::row_major(&gathered, pixels.len(), t_count * c_out);
                let rhs = MatRef::row_major(&w_t, t_count * c_out, hid);
                sgemm_into(&mut d_hidden, lhs, rhs, false);
                let mut pre = vec![0f32; hid];
                for (dh, &q) in d_hidden.chunks_mut(hid).zip(pixels) {
                    sh.pre_at(seg, map, q as usize, w, shape, &mut pre);
                    dh.iter_mut()
                        .zip(&pre)
                        .filter(|(_, &p)| p <= 0.0)
                        .for_each(|(d, _)| *d = 0.0);
                    bias.iter_mut().zip(dh.iter()).for_each(|(b, d)| *b += d);
                    let (y, x) = (q as usize / seg.width, q as usize % seg.width);
                    for t in 0..t_count {
                        if let Some(s) = seg.tap_pixel(y, x, t, shape) {
                            let v = usize::from(map.level.sig[s]);
                            let dst = &mut sums[(v * t_count + t) * hid..][..hid];
                            dst.iter_mut().zip(dh.iter()).for_each(|(a, d)| *a += d);
                        }
                    }
                }
                (sums, bias)
            },
        )
        .reduce(
            || (vec![0f32; sums_len], vec![0f32; hid]),
            |(mut s, mut b), (s2, b2)| {
                s.iter_mut().zip(&s2).for_each(|(a, v)| *a += v);
                b.iter_mut().zip(&b2).for_each(|(a, v)| *a += v);
                (s, b)
            },
        )
}

/// Adds one sample's gradients to `d_shared` (`[weight (hidden, label_nc, taps), bias]`) and
/// `d_output` (`[weight (out, hidden, taps), bias]`); `g` is its output gradient planes.
pub(super) fn backward_sample(
    seg: &SparseSeg,
    map: &SampleMap,
    w: &Weights,
    shape: &ModulationShape,
    g: &[f32],
    d_shared: &mut [f64],
    d_output: &mut [f64],
) {
    let (c_out, hid, t_count, labels) = (shape.out, shape.hidden, shape.taps(), shape.label_nc);
    let hw = seg.plane_len();
    let signatures = map.vectors.len();
    let sh = SignatureHidden::new(map, w, shape);
    let hidden = needed_hidden(seg, map, &sh, w, shape);
    let channels: Vec<ChannelSums> = (0..c_out)
        .into_par_iter()
        .map(|o| channel_sums(seg, map, &g[o * hw..(o + 1) * hw], shape))
        .collect();
    // The output convolution: bias, region rows (the same hidden vector under every tap),
    // boundary pixels.
    let k = hid * t_count;
    for (o, sums) in channels.iter().enumerate() {
        d_output[c_out * k + o] += sums.total;
        for c in 0..hid {
            let grad: f64 = (0..signatures)
                .map(|v| sums.table[v] * f64::from(sh.pre[v * hid + c].max(0.0)))
                .sum();
            d_output[o * k + c * t_count..][..t_count]
                .iter_mut()
                .for_each(|d| *d += grad);
        }
    }
    add_into(
        &mut d_output[..c_out * k],
        &boundary_weight_gradient(seg, map, &hidden, g, shape),
    );
    // `mlp_shared`: per (signature, tap) sums of the pre-activation gradient.
    let (off_sums, off_bias) = off_region_gradient(seg, map, &sh, w, g, shape);
    let mut sums: Vec<f64> = off_sums.iter().map(|&v| f64::from(v)).collect();
    let bias_start = hid * labels * t_count;
    add_into(&mut d_shared[bias_start..], &off_bias);
    for v in 0..signatures {
        for c in 0..hid {
            if sh.pre[v * hid + c] <= 0.0 {
                continue;
            }
            let mut grad = 0f64;
            for (o, sums) in channels.iter().enumerate() {
                let weights = &w.out_w[(o * hid + c) * t_count..][..t_count];
                let taps = &sums.region_taps[v * t_count..][..t_count];
                grad += weights
                    .iter()
                    .zip(taps)
                    .map(|(&w, &s)| f64::from(w) * s)
                    .sum::<f64>();
            }
            d_shared[bias_start + c] += grad;
            for t in 0..t_count {
                sums[(v * t_count + t) * hid + c] += grad;
            }
        }
    }
    for (v, vector) in map.vectors.iter().enumerate() {
        for (l, &value) in vector.iter().enumerate().filter(|(_, &x)| x != 0.0) {
            for c in 0..hid {
                for t in 0..t_count {
                    d_shared[(c * labels + l) * t_count + t] +=
                        sums[(v * t_count + t) * hid + c] * f64::from(value);
                }
            }
        }
    }
}

//! Element-wise and per-channel operations of the fast path, parallel over channels: instance
//! and batch normalization (as a per-channel scale and shift), activations, nearest doubling,
//! concatenation, residual sums and pix2pixHD's `count_include_pad=False` average pool.
use rayon::prelude::*;

use super::conv::Activation;
use super::planes::Planes;
use super::FastError;

/// `nn.InstanceNorm2d` / `nn.BatchNorm2d` epsilon.
pub const NORM_EPS: f64 = 1e-5;

/// A per-channel normalization `(x - center) * scale + offset`; centring first keeps the
/// precision of values far from zero (as `(x - mean) / std` does).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelNorm {
    pub center: f32,
    pub scale: f32,
    pub offset: f32,
}

impl ChannelNorm {
    #[inline(always)]
    pub fn apply(self, v: f32) -> f32 {
        (v - self.center) * self.scale + self.offset
    }

    /// The same map as `x * scale + shift` (for folding into a convolution).
    pub fn as_scale_shift(self) -> (f32, f32) {
        let shift = f64::from(self.offset) - f64::from(self.center) * f64::from(self.scale);
        (self.scale, shift as f32)
    }
}

/// Per-channel instance normalization of `x` (biased variance, like `nn.InstanceNorm2d`).
/// Sums run in f64.
pub fn instance_norm_affine(x: &Planes, eps: f64) -> Vec<ChannelNorm> {
    let n = x.plane_len().max(1) as f64;
    x.data
        .par_chunks(x.plane_len().max(1))
        .map(|plane| {
            let mean = plane.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
            let var = plane
                .iter()
                .map(|&v| (f64::from(v) - mean).powi(2))
                .sum::<f64>()
                / n;
            ChannelNorm {
                center: mean as f32,
                scale: (1.0 / (var + eps).sqrt()) as f32,
                offset: 0.0,
            }
        })
        .collect()
}

/// Batch norm in eval mode, with optional affine weight/bias.
pub fn batch_norm_affine(
    running_mean: &[f32],
    running_var: &[f32],
    weight: Option<&[f32]>,
    bias: Option<&[f32]>,
    eps: f64,
) -> Vec<ChannelNorm> {
    running_mean
        .iter()
        .zip(running_var)
        .enumerate()
        .map(|(c, (&mean, &var))| {
            let inv_std = 1.0 / (f64::from(var) + eps).sqrt();
            ChannelNorm {
                center: mean,
                scale: (weight.map_or(1.0, |w| f64::from(w[c])) * inv_std) as f32,
                offset: bias.map_or(0.0, |b| b[c]),
            }
        })
        .collect()
}

/// `x = act(norm_c(x))` in place.
pub fn affine_activate(x: &mut Planes, norms: &[ChannelNorm], activation: Activation) {
    let n = x.plane_len().max(1);
    x.data
        .par_chunks_mut(n)
        .zip(norms.par_iter())
        .for_each(|(plane, &norm)| {
            plane
                .iter_mut()
                .for_each(|v| *v = activation.apply(norm.apply(*v)));
        });
}

/// Instance norm then `activation`, in place.
pub fn instance_norm_activate(x: &mut Planes, activation: Activation) {
    let affine = instance_norm_affine(x, NORM_EPS);
    affine_activate(x, &affine, activation);
}

/// `activation` on every value, in place.
pub fn activate(x: &mut Planes, activation: Activation) {
    if activation == Activation::Identity {
        return;
    }
    let chunk = x.plane_len().max(1024);
    x.data
        .par_chunks_mut(chunk)
        .for_each(|c| activation.apply_slice(c));
}

/// `x += other`, in place.
pub fn add_in_place(x: &mut Planes, other: &Planes) -> Result<(), FastError> {
    if x.data.len() != other.data.len() {
        return Err(FastError::shape(
            "sum",
            format!("{}x{}x{}", x.channels, x.height, x.width),
            format!("{}x{}x{}", other.channels, other.height, other.width),
        ));
    }
    let chunk = x.plane_len().max(1024);
    x.data
        .par_chunks_mut(chunk)
        .zip(other.data.par_chunks(chunk))
        .for_each(|(a, b)| a.iter_mut().zip(b).for_each(|(a, b)| *a += b));
    Ok(())
}

/// Nearest-neighbour resize to `(height, width)` with PyTorch's `floor(dst * in / out)`.
pub fn resize_nearest(x: &Planes, height: usize, width: usize) -> Planes {
    if (x.height, x.width) == (height, width) {
        return x.clone();
    }
    let rows: Vec<usize> = (0..height).map(|y| y * x.height / height).collect();
    let cols: Vec<usize> = (0..width).map(|c| c * x.width / width).collect();
    let mut out = Planes::zeros(x.channels, height, width);
    out.data
        .par_chunks_mut((height * width).max(1))
        .zip(x.data.par_chunks(x.plane_len().max(1)))
        .for_each(|(dst, src)| {
            for (dst_row, &sy) in dst.chunks_exact_mut(width).zip(&rows) {
                let src_row = &src[sy * x.width..(sy + 1) * x.width];
                for (d, &sx) in dst_row.iter_mut().zip(&cols) {
                    *d = src_row[sx];
                }
            }
        });
    out
}

/// `F.interpolate(x, (height, width), mode="bilinear", align_corners=False)`, as
/// `layers::resize_bilinear` computes it (along the width, then the height).
pub fn resize_bilinear(x: &Planes, height: usize, width: usize) -> Planes {
    if (x.height, x.width) == (height, width) {
        return x.clone();
    }
    let rows = crate::nets::layers::bilinear_taps(x.height, height);
    let cols = crate::nets::layers::bilinear_taps(x.width, width);
    let mut out = Planes::zeros(x.channels, height, width);
    out.data
        .par_chunks_mut((height * width).max(1))
        .zip(x.data.par_chunks(x.plane_len().max(1)))
        .for_each(|(dst, src)| {
            let along_w: Vec<f32> = src
                .chunks_exact(x.width)
                .flat_map(|row| {
                    cols.iter()
                        .map(|&(c0, c1, f)| row[c0] * (1.0 - f) + row[c1] * f)
                })
                .collect();
            for (dst_row, &(r0, r1, f)) in dst.chunks_exact_mut(width).zip(&rows) {
                let (a, b) = (
                    &along_w[r0 * width..(r0 + 1) * width],
                    &along_w[r1 * width..(r1 + 1) * width],
                );
                for ((d, &a), &b) in dst_row.iter_mut().zip(a).zip(b) {
                    *d = a * (1.0 - f) + b * f;
                }
            }
        });
    out
}

/// `act(cat([a, b], channels))`.
pub fn concat_activate(
    a: &Planes,
    b: &Planes,
    activation: Activation,
) -> Result<Planes, FastError> {
    let mut out = concat_channels(&[a, b])?;
    activate(&mut out, activation);
    Ok(out)
}

/// `cat(parts, channels)`.
pub fn concat_channels(parts: &[&Planes]) -> Result<Planes, FastError> {
    let Some(first) = parts.first() else {
        return Err(FastError::shape("concatenation", "at least one input", 0));
    };
    let mut data = Vec::with_capacity(parts.iter().map(|p| p.data.len()).sum());
    for part in parts {
        if (part.height, part.width) != (first.height, first.width) {
            return Err(FastError::shape(
                "concatenation",
                format!("{}x{}", first.height, first.width),
                format!("{}x{}", part.height, part.width),
            ));
        }
        data.extend_from_slice(&part.data);
    }
    let channels = parts.iter().map(|p| p.channels).sum();
    Planes::new(channels, first.height, first.width, data)
}

/// What a 3x3 pooling window computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pool {
    /// The largest value (padding never wins).
    Max,
    /// The mean of the values inside the input (`count_include_pad=False`).
    MeanExcludePad,
}

/// `nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)`.
pub fn avg_pool3_s2_exclude_pad(x: &Planes) -> Planes {
    pool3(x, 2, 1, Pool::MeanExcludePad)
}

/// 3x3 pooling with `stride` and `pad` (PyTorch's output size, floor mode).
pub fn pool3(x: &Planes, stride: usize, pad: usize, pool: Pool) -> Planes {
    let side = |len: usize| (len + 2 * pad).saturating_sub(3) / stride + 1;
    let (h, w) = (side(x.height), side(x.width));
    let window = |out: usize, len: usize| {
        (out * stride).saturating_sub(pad)..(out * stride + 3 - pad).min(len)
    };
    let mut out = Planes::zeros(x.channels, h, w);
    out.data
        .par_chunks_mut((h * w).max(1))
        .zip(x.data.par_chunks(x.plane_len().max(1)))
        .for_each(|(dst, src)| {
            for oy in 0..h {
                for ox in 0..w {
                    let (mut sum, mut count, mut max) = (0.0f32, 0.0f32, f32::NEG_INFINITY);
                    for iy in window(oy, x.height) {
                        for ix in window(ox, x.width) {
                            let v = src[iy * x.width + ix];
                            sum += v;
                            count += 1.0;
                            max = max.max(v);
                        }
                    }
                    dst[oy * w + ox] = match pool {
                        Pool::Max => max,
                        Pool::MeanExcludePad => sum / count,
                    };
                }
            }
        });
    out
}

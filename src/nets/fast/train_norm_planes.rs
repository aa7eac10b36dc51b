//! The planes of the fused training norm (`train_norm.rs`): their grouping (per sample and
//! channel for instance norm, per channel for batch norm) and statistics, and the per-plane
//! loops of its backward pass, one copy per modulation kind so each is straight-line code:
//! the four sums a plane contributes are kept in eight lanes (independent additions instead
//! of one chain), and one pass writes the input gradient together with SPADE's gamma and
//! beta gradients.
use candle_core::Shape;
use rayon::prelude::*;

use super::train_norm::{GroupStats, NormGroups};

/// The (N, C, plane) geometry of a normalisation.
#[derive(Debug, Clone, Copy)]
pub(super) struct Planes {
    pub(super) n: usize,
    pub(super) c: usize,
    pub(super) hw: usize,
    pub(super) groups: NormGroups,
}

impl Planes {
    pub(super) fn of(shape: &Shape, groups: NormGroups) -> candle_core::Result<Self> {
        let (n, c, h, w) = shape.dims4()?;
        if n * h * w == 0 || c == 0 {
            candle_core::bail!("fast norm: empty input {shape:?}")
        }
        Ok(Self {
            n,
            c,
            hw: h * w,
            groups,
        })
    }

    pub(super) fn group_count(&self) -> usize {
        match self.groups {
            NormGroups::Instance => self.n * self.c,
            NormGroups::Batch => self.c,
        }
    }

    pub(super) fn group_of(&self, plane: usize) -> usize {
        match self.groups {
            NormGroups::Instance => plane,
            NormGroups::Batch => plane % self.c,
        }
    }

    /// The planes (index into N x C) of `group`.
    pub(super) fn planes_of(&self, group: usize) -> impl Iterator<Item = usize> + '_ {
        let (first, count, step) = match self.groups {
            NormGroups::Instance => (group, 1, 1),
            NormGroups::Batch => (group, self.n, self.c),
        };
        (0..count).map(move |i| first + i * step)
    }

    pub(super) fn group_len(&self) -> usize {
        match self.groups {
            NormGroups::Instance => self.hw,
            NormGroups::Batch => self.n * self.hw,
        }
    }

    pub(super) fn stats(&self, x: &[f32], eps: f64) -> GroupStats {
        let count = self.group_len() as f64;
        let (mean, var): (Vec<f32>, Vec<f32>) = (0..self.group_count())
            .into_par_iter()
            .map(|g| {
                let planes = || {
                    self.planes_of(g)
                        .map(|p| &x[p * self.hw..(p + 1) * self.hw])
                };
                let sum: f64 = planes()
                    .map(|v| v.iter().map(|&v| v as f64).sum::<f64>())
                    .sum();
                let mean = sum / count;
                let sq: f64 = planes()
                    .map(|v| v.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>())
                    .sum();
                (mean as f32, (sq / count) as f32)
            })
            .unzip();
        let inv_std = var
            .iter()
            .map(|&v| (1.0 / (v as f64 + eps).sqrt()) as f32)
            .collect();
        GroupStats { mean, var, inv_std }
    }
}

/// The scale and shift applied after normalising, at element `i` of one plane.
pub(super) trait ScaleShift {
    fn at(&self, i: usize) -> (f32, f32);
}

/// No modulation: `y`.
pub(super) struct Unit;

impl ScaleShift for Unit {
    #[inline(always)]
    fn at(&self, _: usize) -> (f32, f32) {
        (1.0, 0.0)
    }
}

/// One scale and shift for the whole plane (batch norm's affine of the plane's channel).
pub(super) struct Constant(pub f32, pub f32);

impl ScaleShift for Constant {
    #[inline(always)]
    fn at(&self, _: usize) -> (f32, f32) {
        (self.0, self.1)
    }
}

/// SPADE: `y * (1 + gamma[i]) + beta[i]`.
pub(super) struct PerElement<'a> {
    pub gamma: &'a [f32],
    pub beta: &'a [f32],
}

impl ScaleShift for PerElement<'_> {
    #[inline(always)]
    fn at(&self, i: usize) -> (f32, f32) {
        (1.0 + self.gamma[i], self.beta[i])
    }
}

/// One plane of the forward's input and of the output's gradient, with its group statistics.
pub(super) struct PlaneInput<'a> {
    pub x: &'a [f32],
    pub grad: &'a [f32],
    pub mean: f32,
    pub inv_std: f32,
    /// The leaky ReLU's negative slope, when one follows.
    pub slope: Option<f32>,
}

impl PlaneInput<'_> {
    /// At element `i`: the gradient of the normalised value `y`, `y`, and the gradient before
    /// the activation.
    #[inline(always)]
    fn terms(&self, modulation: &impl ScaleShift, i: usize) -> (f32, f32, f32) {
        let y = (self.x[i] - self.mean) * self.inv_std;
        let (scale, shift) = modulation.at(i);
        let slope = match self.slope {
            Some(k) if y * scale + shift <= 0.0 => k,
            _ => 1.0,
        };
        let g_pre = self.grad[i] * slope;
        (g_pre * scale, y, g_pre)
    }
}

/// The plane's sums of `dy`, `dy * y`, `g_pre * y` and `g_pre`.
pub(super) fn plane_sums(input: &PlaneInput, modulation: &impl ScaleShift) -> [f32; 4] {
    const LANES: usize = 8;
    let n = input.x.len();
    let full = n - n % LANES;
    let mut lanes = [[0f32; LANES]; 4];
    for base in (0..full).step_by(LANES) {
        for (lane, i) in (base..base + LANES).enumerate() {
            let (dy, y, g_pre) = input.terms(modulation, i);
            lanes[0][lane] += dy;
            lanes[1][lane] += dy * y;
            lanes[2][lane] += g_pre * y;
            lanes[3][lane] += g_pre;
        }
    }
    let mut sums = lanes.map(|lane| lane.iter().sum::<f32>());
    for i in full..n {
        let (dy, y, g_pre) = input.terms(modulation, i);
        sums[0] += dy;
        sums[1] += dy * y;
        sums[2] += g_pre * y;
        sums[3] += g_pre;
    }
    sums
}

/// Writes the plane's input gradient from the group means of `dy` and `dy * y`, and SPADE's
/// gamma and beta gradients (`g_pre * y`, `g_pre`) when `spade` is given.
pub(super) fn plane_gradients(
    input: &PlaneInput,
    modulation: &impl ScaleShift,
    (mean_dy, mean_dyy): (f32, f32),
    dx: &mut [f32],
    spade: Option<(&mut [f32], &mut [f32])>,
) {
    let inv_std = input.inv_std;
    match spade {
        Some((d_gamma, d_beta)) => {
            for (i, ((d, dg), db)) in dx.iter_mut().zip(d_gamma).zip(d_beta).enumerate() {
                let (dy, y, g_pre) = input.terms(modulation, i);
                *d = inv_std * (dy - mean_dy - y * mean_dyy);
                *dg = g_pre * y;
                *db = g_pre;
            }
        }
        None => {
            for (i, d) in dx.iter_mut().enumerate() {
                let (dy, y, _) = input.terms(modulation, i);
                *d = inv_std * (dy - mean_dy - y * mean_dyy);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lanes and the tail give the same sums as one running sum, for a length that is not
    /// a multiple of the lane count, with the leaky ReLU's both sides.
    #[test]
    fn lane_sums_equal_a_plain_running_sum() {
        let x: Vec<f32> = (0..21).map(|i| (i as f32 * 0.37).sin()).collect();
        let grad: Vec<f32> = (0..21).map(|i| (i as f32 * 0.11).cos()).collect();
        let gamma: Vec<f32> = (0..21).map(|i| 0.1 * i as f32 - 1.0).collect();
        let beta: Vec<f32> = (0..21).map(|i| 0.05 * i as f32).collect();
        let input = PlaneInput {
            x: &x,
            grad: &grad,
            mean: 0.1,
            inv_std: 1.3,
            slope: Some(0.2),
        };
        let modulation = PerElement {
            gamma: &gamma,
            beta: &beta,
        };
        let mut plain = [0f64; 4];
        for i in 0..21 {
            let (dy, y, g_pre) = input.terms(&modulation, i);
            let terms = [dy * y, g_pre * y, g_pre].map(f64::from);
            plain[0] += f64::from(dy);
            for (s, t) in plain[1..].iter_mut().zip(terms) {
                *s += t;
            }
        }
        let lanes = plane_sums(&input, &modulation);
        for (a, b) in lanes.iter().zip(plain) {
            assert!((f64::from(*a) - b).abs() < 1e-5, "{lanes:?} vs {plain:?}");
        }
        let (mut dx, mut dg, mut db) = (vec![0f32; 21], vec![0f32; 21], vec![0f32; 21]);
        plane_gradients(
            &input,
            &modulation,
            (0.5, 0.25),
            &mut dx,
            Some((&mut dg, &mut db)),
        );
        let (dy, y, g_pre) = input.terms(&modulation, 7);
        assert_eq!(dx[7], 1.3 * (dy - 0.5 - y * 0.25));
        assert_eq!((dg[7], db[7]), (g_pre * y, g_pre));
    }
}

//! Normalisation and activations for training on the fast path (issue 13), each one Candle
//! custom op with its own backward instead of the five to ten elementwise ops (and as many
//! full-size saved tensors) that Candle's autograd records for them:
//!
//! - `norm_act`: instance norm (per sample and channel, `nn.InstanceNorm2d`) or batch norm
//!   (per channel over the batch, `nn.BatchNorm2d` in training mode), then optionally SPADE's
//!   modulation `y * (1 + gamma) + beta` (SPADE, Park et al. 2019, `models/networks/
//!   normalization.py`) or batch norm's per-channel affine, then optionally a leaky ReLU.
//!   Backward recomputes the normalised values from the input and the statistics kept from the
//!   forward, so nothing of the output's size is saved: `dx = (dy - mean(dy) - y mean(dy y)) /
//!   sigma` over each normalisation group.
//!
//! They run when fast training is selected ([`super::training_path::training_path`]) on an f32
//! CPU tensor that needs a gradient; anything else (inference, other devices, the Candle
//! baseline) keeps Candle's ops, so both paths stay comparable in `scenepaint bench --train`.
use std::sync::{Arc, OnceLock};

use candle_core::{CpuStorage, CustomOp1, CustomOp3, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::train_norm_planes::{
    plane_gradients, plane_sums, Constant, PerElement, PlaneInput, Planes, Unit,
};
use super::train_storage::{storage_values, with_values};
use super::training_path::{training_path, TrainingPath};

/// Over which values one mean and variance are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormGroups {
    /// Per sample and channel (instance norm).
    Instance,
    /// Per channel over the whole batch (batch norm, training mode).
    Batch,
}

/// What follows the normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Modulation {
    /// Nothing: `y`.
    Plain,
    /// `y * (1 + gamma) + beta` with gamma and beta of the input's shape (SPADE).
    Spade,
    /// `y * weight[c] + bias[c]` (batch norm's affine; needs [`NormGroups::Batch`]).
    Affine,
}

/// The biased mean and variance of each group, as the forward computed them.
#[derive(Debug, Clone)]
pub struct GroupStats {
    pub mean: Vec<f32>,
    pub var: Vec<f32>,
    pub(super) inv_std: Vec<f32>,
}

/// Whether `x` takes the fused ops: fast training, an f32 CPU tensor, a gradient to compute.
pub fn fused_for(x: &Tensor) -> bool {
    x.device().is_cpu()
        && x.dtype() == DType::F32
        && x.track_op()
        && training_path() == TrainingPath::Fast
}

/// Normalises `x` (N, C, H, W) over `groups` and applies `slope`'s leaky ReLU when given.
/// Returns the statistics too (batch norm updates its running ones from them).
pub fn normalize(
    x: &Tensor,
    groups: NormGroups,
    eps: f64,
    slope: Option<f64>,
) -> candle_core::Result<(Tensor, Arc<OnceLock<GroupStats>>)> {
    let op = NormActOp::new(groups, eps, slope, Modulation::Plain);
    let stats = op.stats.clone();
    Ok((x.apply_op1(op)?, stats))
}

/// SPADE's `norm(x) * (1 + gamma) + beta`, then `slope`'s leaky ReLU when given; `gamma` and
/// `beta` have `x`'s shape. Returns the statistics too.
pub fn spade_modulate(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    groups: NormGroups,
    eps: f64,
    slope: Option<f64>,
) -> candle_core::Result<(Tensor, Arc<OnceLock<GroupStats>>)> {
    let op = NormActOp::new(groups, eps, slope, Modulation::Spade);
    let stats = op.stats.clone();
    Ok((x.apply_op3(gamma, beta, op)?, stats))
}

/// Batch norm in training mode with its per-channel `weight` and `bias`, then `slope`'s
/// leaky ReLU when given. Returns the batch statistics for the running ones.
pub fn batch_norm_affine(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
    slope: Option<f64>,
) -> candle_core::Result<(Tensor, Arc<OnceLock<GroupStats>>)> {
    let op = NormActOp::new(NormGroups::Batch, eps, slope, Modulation::Affine);
    let stats = op.stats.clone();
    Ok((x.apply_op3(weight, bias, op)?, stats))
}

/// The per-element scale and shift after normalising, read from the op's extra inputs.
#[derive(Clone, Copy)]
struct Modulator<'a> {
    kind: Modulation,
    first: &'a [f32],
    second: &'a [f32],
    slope: Option<f32>,
}

impl Modulator<'_> {
    /// (scale, shift) of element `i` of plane `p` (channel `c`).
    #[inline(always)]
    fn scale_shift(&self, p: usize, c: usize, hw: usize, i: usize) -> (f32, f32) {
        match self.kind {
            Modulation::Plain => (1.0, 0.0),
            Modulation::Spade => (1.0 + self.first[p * hw + i], self.second[p * hw + i]),
            Modulation::Affine => (self.first[c], self.second[c]),
        }
    }

    #[inline(always)]
    fn activate(&self, v: f32) -> f32 {
        match self.slope {
            Some(slope) if v <= 0.0 => v * slope,
            _ => v,
        }
    }
}

/// The fused normalisation; its statistics are shared with the caller and with backward.
#[derive(Debug, Clone)]
struct NormActOp {
    groups: NormGroups,
    eps: f64,
    slope: Option<f32>,
    modulation: Modulation,
    stats: Arc<OnceLock<GroupStats>>,
}

impl NormActOp {
    fn new(groups: NormGroups, eps: f64, slope: Option<f64>, modulation: Modulation) -> Self {
        Self {
            groups,
            eps,
            slope: slope.map(|s| s as f32),
            modulation,
            stats: Arc::new(OnceLock::new()),
        }
    }

    fn check_modulation(
        &self,
        planes: &Planes,
        first: usize,
        second: usize,
    ) -> candle_core::Result<()> {
        let expected = match self.modulation {
            Modulation::Plain => 0,
            Modulation::Spade => planes.n * planes.c * planes.hw,
            Modulation::Affine if self.groups == NormGroups::Batch => planes.c,
            Modulation::Affine => {
                candle_core::bail!("fast norm: an affine instance norm is not fused")
            }
        };
        if first != expected || second != expected {
            candle_core::bail!(
                "fast norm: modulation of {first} and {second} values for an input of {} x {} planes of {}; expected {expected} each",
                planes.n,
                planes.c,
                planes.hw
            )
        }
        Ok(())
    }

    fn forward(&self, planes: &Planes, x: &[f32], m: Modulator) -> Vec<f32> {
        let stats = self.stats.get_or_init(|| planes.stats(x, self.eps));
        let hw = planes.hw;
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(hw).enumerate().for_each(|(p, out)| {
            let g = planes.group_of(p);
            let (mean, inv_std, c) = (stats.mean[g], stats.inv_std[g], p % planes.c);
            for (i, (o, &v)) in out.iter_mut().zip(&x[p * hw..(p + 1) * hw]).enumerate() {
                let (scale, shift) = m.scale_shift(p, c, hw, i);
                *o = m.activate((v - mean) * inv_std * scale + shift);
            }
        });
        out
    }

    /// The gradients of x and of the modulation's two inputs (empty for `Plain`).
    fn backward(&self, planes: &Planes, x: &[f32], m: Modulator, g: &[f32]) -> [Vec<f32>; 3] {
        let stats = self.stats.get_or_init(|| planes.stats(x, self.eps));
        let hw = planes.hw;
        let input = |p: usize| {
            let group = planes.group_of(p);
            PlaneInput {
                x: &x[p * hw..(p + 1) * hw],
                grad: &g[p * hw..(p + 1) * hw],
                mean: stats.mean[group],
                inv_std: stats.inv_std[group],
                slope: m.slope,
            }
        };
        let spade_of = |p: usize| PerElement {
            gamma: &m.first[p * hw..(p + 1) * hw],
            beta: &m.second[p * hw..(p + 1) * hw],
        };
        let affine_of = |p: usize| Constant(m.first[p % planes.c], m.second[p % planes.c]);
        // Per group: sum dy, sum dy*y and (affine) the channel's weight and bias gradients.
        let sums: Vec<[f64; 4]> = (0..planes.group_count())
            .into_par_iter()
            .map(|group| {
                let mut s = [0f64; 4];
                for p in planes.planes_of(group) {
                    let part = match m.kind {
                        Modulation::Plain => plane_sums(&input(p), &Unit),
                        Modulation::Affine => plane_sums(&input(p), &affine_of(p)),
                        Modulation::Spade => plane_sums(&input(p), &spade_of(p)),
                    };
                    for (s, part) in s.iter_mut().zip(part) {
                        *s += part as f64;
                    }
                }
                s
            })
            .collect();
        let count = planes.group_len() as f64;
        let mut dx = vec![0f32; x.len()];
        let spade = m.kind == Modulation::Spade;
        let extra = if spade { x.len() } else { 0 };
        let (mut d_first, mut d_second) = (vec![0f32; extra], vec![0f32; extra]);
        let (firsts, seconds) = if spade {
            (
                plane_chunks(&mut d_first, hw),
                plane_chunks(&mut d_second, hw),
            )
        } else {
            let none = || (0..planes.n * planes.c).map(|_| None).collect::<Vec<_>>();
            (none(), none())
        };
        dx.par_chunks_mut(hw)
            .zip(firsts.into_par_iter().zip(seconds))
            .enumerate()
            .for_each(|(p, (dx, (d_first, d_second)))| {
                let group = planes.group_of(p);
                let means = (
                    (sums[group][0] / count) as f32,
                    (sums[group][1] / count) as f32,
                );
                let input = input(p);
                match (m.kind, d_first, d_second) {
                    (Modulation::Spade, Some(d_gamma), Some(d_beta)) => {
                        let spade = Some((d_gamma, d_beta));
                        plane_gradients(&input, &spade_of(p), means, dx, spade)
                    }
                    (Modulation::Affine, ..) => {
                        plane_gradients(&input, &affine_of(p), means, dx, None)
                    }
                    _ => plane_gradients(&input, &Unit, means, dx, None),
                }
            });
        if m.kind == Modulation::Affine {
            d_first = sums.iter().map(|s| s[2] as f32).collect();
            d_second = sums.iter().map(|s| s[3] as f32).collect();
        }
        [dx, d_first, d_second]
    }
}

/// `values` split into planes of `hw`, each wrapped for zipping with optional outputs.
fn plane_chunks(values: &mut [f32], hw: usize) -> Vec<Option<&mut [f32]>> {
    values.chunks_mut(hw).map(Some).collect()
}

impl CustomOp1 for NormActOp {
    fn name(&self) -> &'static str {
        "scenepaint-fast-norm"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let planes = Planes::of(l.shape(), self.groups)?;
        self.check_modulation(&planes, 0, 0)?;
        let x = storage_values(s, l)?;
        let m = self.modulator(&[], &[]);
        Ok((
            CpuStorage::F32(self.forward(&planes, &x, m)),
            l.shape().clone(),
        ))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let planes = Planes::of(x.shape(), self.groups)?;
        let m = self.modulator(&[], &[]);
        let [dx, _, _] = with_values(x, |xs| {
            with_values(grad, |g| self.backward(&planes, xs, m, g))
        })??;
        Ok(Some(Tensor::from_vec(dx, x.shape(), x.device())?))
    }
}

impl NormActOp {
    fn modulator<'a>(&self, first: &'a [f32], second: &'a [f32]) -> Modulator<'a> {
        Modulator {
            kind: self.modulation,
            first,
            second,
            slope: self.slope,
        }
    }
}

impl CustomOp3 for NormActOp {
    fn name(&self) -> &'static str {
        "scenepaint-fast-norm-modulated"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let planes = Planes::of(l1.shape(), self.groups)?;
        let (first, second) = (storage_values(s2, l2)?, storage_values(s3, l3)?);
        self.check_modulation(&planes, first.len(), second.len())?;
        let x = storage_values(s1, l1)?;
        let m = self.modulator(&first, &second);
        Ok((
            CpuStorage::F32(self.forward(&planes, &x, m)),
            l1.shape().clone(),
        ))
    }

    fn bwd(
        &self,
        x: &Tensor,
        first: &Tensor,
        second: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let planes = Planes::of(x.shape(), self.groups)?;
        let [dx, d_first, d_second] = with_values(first, |f| {
            with_values(second, |s| {
                with_values(x, |xs| {
                    with_values(grad, |g| {
                        self.backward(&planes, xs, self.modulator(f, s), g)
                    })
                })
            })
        })????;
        let device = x.device();
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), device)?),
            Some(Tensor::from_vec(d_first, first.shape(), device)?),
            Some(Tensor::from_vec(d_second, second.shape(), device)?),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::train_testing::{max_diff, plain_lrelu, random, weighted_sum};
    use super::*;
    use candle_core::{Device, Var};

    fn plain_norm(x: &Tensor, groups: NormGroups, eps: f64) -> Tensor {
        let dims: &[usize] = match groups {
            NormGroups::Instance => &[2, 3],
            NormGroups::Batch => &[0, 2, 3],
        };
        let mut mean = x.clone();
        for &d in dims.iter().rev() {
            mean = mean.mean_keepdim(d).unwrap();
        }
        let centered = x.broadcast_sub(&mean).unwrap();
        let mut var = centered.sqr().unwrap();
        for &d in dims.iter().rev() {
            var = var.mean_keepdim(d).unwrap();
        }
        centered
            .broadcast_div(&(var + eps).unwrap().sqrt().unwrap())
            .unwrap()
    }

    #[test]
    fn spade_modulation_matches_candle_forward_and_backward() {
        for groups in [NormGroups::Instance, NormGroups::Batch] {
            let shape = (3, 5, 7, 6);
            let (x, gamma, beta) = (random(shape, 1), random(shape, 2), random(shape, 3));
            let weights = random(shape, 4).as_tensor().detach();
            let (fused, _) = spade_modulate(&x, &gamma, &beta, groups, 1e-5, Some(0.2)).unwrap();
            let plain = plain_lrelu(
                &plain_norm(&x, groups, 1e-5)
                    .broadcast_mul(&(gamma.as_tensor() + 1.0).unwrap())
                    .unwrap()
                    .broadcast_add(&beta)
                    .unwrap(),
                0.2,
            );
            assert!(max_diff(&fused, &plain) < 1e-5, "{groups:?} forward");
            let gf = weighted_sum(&fused, &weights).backward().unwrap();
            let gp = weighted_sum(&plain, &weights).backward().unwrap();
            for (name, var) in [("x", &x), ("gamma", &gamma), ("beta", &beta)] {
                let (a, b) = (gf.get(var).unwrap(), gp.get(var).unwrap());
                let scale = max_diff(b, &b.zeros_like().unwrap());
                assert!(scale > 1e-3, "{groups:?} {name}: a gradient to compare");
                assert!(max_diff(a, b) < 1e-4 * scale.max(1.0), "{groups:?} d{name}");
            }
        }
    }

    #[test]
    fn plain_and_affine_norms_match_candle() {
        let shape = (2, 4, 5, 9);
        let x = random(shape, 5);
        let weights = random(shape, 6).as_tensor().detach();
        let (fused, stats) = normalize(&x, NormGroups::Instance, 1e-5, None).unwrap();
        let plain = plain_norm(&x, NormGroups::Instance, 1e-5);
        assert!(max_diff(&fused, &plain) < 1e-5);
        assert_eq!(stats.get().unwrap().mean.len(), 8);
        let gf = weighted_sum(&fused, &weights).backward().unwrap();
        let gp = weighted_sum(&plain, &weights).backward().unwrap();
        assert!(max_diff(gf.get(&x).unwrap(), gp.get(&x).unwrap()) < 1e-4);

        let (w, b) = (
            Var::from_vec(vec![0.5f32, -1.0, 2.0, 1.5], 4, &Device::Cpu).unwrap(),
            Var::from_vec(vec![0.1f32, 0.2, -0.3, 0.0], 4, &Device::Cpu).unwrap(),
        );
        let (fused, stats) = batch_norm_affine(&x, &w, &b, 1e-5, Some(0.0)).unwrap();
        let per = |t: &Var| t.as_tensor().reshape((1, 4, 1, 1)).unwrap();
        let plain = plain_lrelu(
            &plain_norm(&x, NormGroups::Batch, 1e-5)
                .broadcast_mul(&per(&w))
                .unwrap()
                .broadcast_add(&per(&b))
                .unwrap(),
            0.0,
        );
        assert!(max_diff(&fused, &plain) < 1e-5);
        assert_eq!(stats.get().unwrap().var.len(), 4);
        let gf = weighted_sum(&fused, &weights).backward().unwrap();
        let gp = weighted_sum(&plain, &weights).backward().unwrap();
        for var in [&x, &w, &b] {
            assert!(max_diff(gf.get(var).unwrap(), gp.get(var).unwrap()) < 1e-4);
        }
    }
}

//! Element-wise ops for training on the fast path (issue 13), each one Candle custom op with
//! its own backward where Candle records several ops (and their saved tensors) or reduces on
//! one thread:
//!
//! - `leaky_relu` / `relu`: `max(x, slope x)`, gradient `g` or `slope g`.
//! - `bias_add`: a convolution's per-channel bias; its gradient is the per-channel sum of the
//!   output gradient, computed on the rayon pool (Candle's CPU sum over the batch and both
//!   spatial axes runs on one thread).
//! - `upsample_nearest2x`: SPADE's `nn.Upsample(scale_factor=2)`; its gradient sums each 2x2
//!   block (Candle's two `index_select`s and their `index_add` backward run on one thread).
//!
//! - `adam_update`: one Adam step (`torch.optim.Adam`'s rule) in place on a parameter and its
//!   two moments, one parallel pass instead of a dozen Candle ops that allocate.
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::simd::simd_dispatch;
use super::train_storage::{collect_par, storage_values, with_values, with_values_mut};

/// Elements per parallel chunk of the element-wise ops.
const CHUNK: usize = 1 << 14;

/// `leaky_relu(x, slope)` (`slope` 0 is ReLU) as one op with its own backward.
pub fn leaky_relu(x: &Tensor, slope: f64) -> candle_core::Result<Tensor> {
    x.apply_op1(LeakyReluOp {
        slope: slope as f32,
    })
}

/// One Adam step's constants: `step_size = lr / (1 - beta1^t)`, `bias_correction2_sqrt =
/// sqrt(1 - beta2^t)`.
#[derive(Debug, Clone, Copy)]
pub struct AdamStep {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub step_size: f64,
    pub bias_correction2_sqrt: f64,
}

/// `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g^2`, `p -= step_size m / (sqrt(v) / bc2 +
/// eps)`, each in place. All four are contiguous f32 CPU tensors of one shape; `false` (and
/// nothing changed) when they are not, for the caller's Candle version.
pub fn adam_update(
    param: &Tensor,
    grad: &Tensor,
    exp_avg: &Tensor,
    exp_avg_sq: &Tensor,
    step: AdamStep,
) -> candle_core::Result<bool> {
    let fits = |t: &Tensor| {
        t.device().is_cpu()
            && t.dtype() == candle_core::DType::F32
            && t.is_contiguous()
            && t.dims() == param.dims()
    };
    if ![param, grad, exp_avg, exp_avg_sq].into_iter().all(fits) {
        return Ok(false);
    }
    // One pass over the four tensors (7 floats moved per parameter where three passes moved
    // 10): Adam is memory-bound, 10-15 % of a pix2pix-compact step.
    with_values(grad, |g| {
        with_values_mut(exp_avg, |m| {
            with_values_mut(exp_avg_sq, |v| {
                with_values_mut(param, |p| adam_pass(p, m, v, g, step))
            })
        })
    })????;
    Ok(true)
}

/// Adam's rule on matching chunks of the parameter, its moments and its gradient: the f32
/// operations of the three passes this replaced, in their order, so the values are theirs.
fn adam_pass(p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], step: AdamStep) {
    let coefficients = AdamCoefficients {
        keep1: step.beta1 as f32,
        take1: (1.0 - step.beta1) as f32,
        keep2: step.beta2 as f32,
        take2: (1.0 - step.beta2) as f32,
        eps: step.eps as f32,
        step_size: step.step_size as f32,
        bc2: step.bias_correction2_sqrt as f32,
    };
    p.par_chunks_mut(CHUNK)
        .zip(m.par_chunks_mut(CHUNK))
        .zip(v.par_chunks_mut(CHUNK))
        .zip(g.par_chunks(CHUNK))
        .for_each(|(((p, m), v), g)| adam_chunk(p, m, v, g, coefficients));
}

/// [`AdamStep`] in the f32 the update computes in.
#[derive(Debug, Clone, Copy)]
struct AdamCoefficients {
    keep1: f32,
    take1: f32,
    keep2: f32,
    take2: f32,
    eps: f32,
    step_size: f32,
    bc2: f32,
}

simd_dispatch! {
    /// One chunk of [`adam_pass`], compiled for the CPU's vector width: its square root and
    /// division made it 3 % of a pix2pixHD step on 4-wide SSE. Each operation is IEEE-rounded
    /// at any width and none is fused, so the values do not depend on the width.
    fn adam_chunk(p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], k: AdamCoefficients) {
        for (((p, m), v), &g) in p.iter_mut().zip(m).zip(v).zip(g) {
            *m = k.keep1 * *m + k.take1 * g;
            *v = k.keep2 * *v + k.take2 * (g * g);
            *p -= k.step_size * *m / (v.sqrt() / k.bc2 + k.eps);
        }
    }
}

/// `y + bias` with `y` (N, C, H, W) and `bias` (C), as one op with its own backward.
pub fn bias_add(y: &Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
    y.apply_op2(bias, BiasAddOp)
}

/// `nn.Upsample(scale_factor=2, mode="nearest")` of an (N, C, H, W) tensor as one op with
/// its own backward.
pub fn upsample_nearest2x(x: &Tensor) -> candle_core::Result<Tensor> {
    x.apply_op1(Upsample2xOp)
}

/// Nearest 2x upsampling: output (y, x) reads input (y / 2, x / 2).
#[derive(Debug, Clone, Copy)]
struct Upsample2xOp;

impl CustomOp1 for Upsample2xOp {
    fn name(&self) -> &'static str {
        "scenepaint-fast-upsample-nearest-2x"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = l.shape().dims4()?;
        let x = storage_values(s, l)?;
        let mut out = vec![0f32; x.len() * 4];
        if !x.is_empty() {
            out.par_chunks_mut(4 * h * w)
                .zip(x.par_chunks(h * w))
                .for_each(|(o, x)| {
                    for (pair, row) in o.chunks_exact_mut(4 * w).zip(x.chunks_exact(w)) {
                        let (top, bottom) = pair.split_at_mut(2 * w);
                        for (dst, &v) in top.chunks_exact_mut(2).zip(row) {
                            dst.fill(v);
                        }
                        bottom.copy_from_slice(top);
                    }
                });
        }
        Ok((CpuStorage::F32(out), Shape::from((n, c, 2 * h, 2 * w))))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let (_, _, h, w) = x.dims4()?;
        let dx = with_values(grad, |g| {
            let mut dx = vec![0f32; g.len() / 4];
            if !dx.is_empty() {
                dx.par_chunks_mut(h * w)
                    .zip(g.par_chunks(4 * h * w))
                    .for_each(|(d, g)| {
                        for (row, pair) in d.chunks_exact_mut(w).zip(g.chunks_exact(4 * w)) {
                            let (top, bottom) = pair.split_at(2 * w);
                            for (i, v) in row.iter_mut().enumerate() {
                                *v =
                                    top[2 * i] + top[2 * i + 1] + bottom[2 * i] + bottom[2 * i + 1];
                            }
                        }
                    });
            }
            dx
        })?;
        Ok(Some(Tensor::from_vec(dx, x.shape(), x.device())?))
    }
}

/// The element-wise leaky ReLU with its derivative.
#[derive(Debug, Clone, Copy)]
struct LeakyReluOp {
    slope: f32,
}

impl CustomOp1 for LeakyReluOp {
    fn name(&self) -> &'static str {
        "scenepaint-fast-leaky-relu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = storage_values(s, l)?;
        let slope = self.slope;
        let out = collect_par(x.len(), |r| {
            x[r].iter().map(|&v| if v > 0.0 { v } else { v * slope })
        });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let dx = with_values(x, |x| {
            with_values(grad, |g| leaky_relu_gradient(x, g, self.slope))
        })??;
        Ok(Some(Tensor::from_vec(dx, x.shape(), x.device())?))
    }
}

/// The input gradient of `max(x, slope x)` for the output gradient `g`: `g` where `x > 0`,
/// `slope g` elsewhere. With slope 0 it can read the ReLU's output for `x` (`y > 0` iff `x > 0`).
pub(super) fn leaky_relu_gradient(x: &[f32], g: &[f32], slope: f32) -> Vec<f32> {
    collect_par(x.len(), |r| {
        x[r.clone()]
            .iter()
            .zip(&g[r])
            .map(|(&v, &g)| if v > 0.0 { g } else { g * slope })
    })
}

/// The per-channel sums of an (N, C, H, W) gradient (a bias's gradient), each channel on the
/// rayon pool and summed in f64.
fn channel_sums(grad: &Tensor) -> candle_core::Result<Vec<f32>> {
    let (n, c, h, w) = grad.dims4()?;
    let hw = (h * w).max(1);
    with_values(grad, |g| {
        (0..c)
            .into_par_iter()
            .map(|ch| {
                (0..n)
                    .map(|i| {
                        let plane = &g[(i * c + ch) * hw..(i * c + ch + 1) * hw];
                        plane.iter().map(|&v| v as f64).sum::<f64>()
                    })
                    .sum::<f64>() as f32
            })
            .collect::<Vec<f32>>()
    })
}

/// `y += bias[c]` over NCHW values with `plane_len` values per (sample, channel) plane.
pub(super) fn add_channel_bias_in_place(y: &mut [f32], bias: &[f32], plane_len: usize) {
    let c = bias.len().max(1);
    y.par_chunks_mut(plane_len.max(1))
        .enumerate()
        .for_each(|(p, plane)| {
            let b = bias[p % c];
            for v in plane {
                *v += b;
            }
        });
}

/// The gradient of a per-channel `bias` for the output gradient `grad` (its per-channel
/// sums), when `wanted`.
pub(super) fn bias_gradient(
    grad: &Tensor,
    bias: &Tensor,
    wanted: bool,
) -> candle_core::Result<Option<Tensor>> {
    if !wanted {
        return Ok(None);
    }
    let sums = channel_sums(grad)?;
    Ok(Some(Tensor::from_vec(sums, bias.shape(), bias.device())?))
}

/// A per-channel bias over NCHW.
#[derive(Debug, Clone, Copy)]
struct BiasAddOp;

impl CustomOp2 for BiasAddOp {
    fn name(&self) -> &'static str {
        "scenepaint-fast-bias-add"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (_, c, h, w) = l1.shape().dims4()?;
        let (y, bias) = (storage_values(s1, l1)?, storage_values(s2, l2)?);
        if bias.len() != c {
            candle_core::bail!("fast bias add: {} biases for {:?}", bias.len(), l1.dims())
        }
        let mut out = y.into_owned();
        add_channel_bias_in_place(&mut out, &bias, h * w);
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _y: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(grad.clone()), bias_gradient(grad, bias, true)?))
    }
}

#[cfg(test)]
mod tests {
    use super::super::train_testing::{max_diff, plain_lrelu, random, weighted_sum};
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn adam_update_follows_the_pytorch_rule() {
        let (beta1, beta2, lr, eps) = (0.5, 0.999, 0.1, 1e-8);
        let start = [1.0f32, -2.0, 0.5];
        let param = Var::from_vec(start.to_vec(), 3, &Device::Cpu).unwrap();
        let (m, v) = (param.zeros_like().unwrap(), param.zeros_like().unwrap());
        let mut expected: Vec<f64> = start.iter().map(|&p| p as f64).collect();
        let (mut em, mut ev) = (vec![0f64; 3], vec![0f64; 3]);
        for t in 1..=3 {
            // The gradient of sum(p^2).
            let grad = (param.as_tensor() * 2.0).unwrap();
            let step = AdamStep {
                beta1,
                beta2,
                eps,
                step_size: lr / (1.0 - beta1.powi(t)),
                bias_correction2_sqrt: (1.0 - beta2.powi(t)).sqrt(),
            };
            assert!(adam_update(&param, &grad, &m, &v, step).unwrap());
            for i in 0..3 {
                let g = 2.0 * expected[i];
                em[i] = beta1 * em[i] + (1.0 - beta1) * g;
                ev[i] = beta2 * ev[i] + (1.0 - beta2) * g * g;
                let denom = ev[i].sqrt() / step.bias_correction2_sqrt + eps;
                expected[i] -= step.step_size * em[i] / denom;
            }
        }
        let found = param.as_tensor().to_vec1::<f32>().unwrap();
        for (f, e) in found.iter().zip(&expected) {
            assert!((*f as f64 - e).abs() < 1e-5, "{found:?} vs {expected:?}");
        }
        assert!((found[0] as f64 - 1.0).abs() > 0.1, "the parameter moved");
        // Not f32 or not one shape: left to the caller.
        let other = Var::from_vec(vec![1f64, 2.0, 3.0], 3, &Device::Cpu).unwrap();
        let step = AdamStep {
            beta1,
            beta2,
            eps,
            step_size: lr,
            bias_correction2_sqrt: 1.0,
        };
        assert!(!adam_update(&other, &other, &other, &other, step).unwrap());
    }

    #[test]
    fn bias_add_matches_candle() {
        let shape = (3, 4, 5, 6);
        let y = random(shape, 9);
        let bias = Var::from_vec(vec![0.5f32, -1.0, 2.0, 0.25], 4, &Device::Cpu).unwrap();
        let weights = random(shape, 10).as_tensor().detach();
        let fused = bias_add(&y, &bias).unwrap();
        let plain = y
            .broadcast_add(&bias.as_tensor().reshape((1, 4, 1, 1)).unwrap())
            .unwrap();
        assert!(max_diff(&fused, &plain) < 1e-7);
        let gf = weighted_sum(&fused, &weights).backward().unwrap();
        let gp = weighted_sum(&plain, &weights).backward().unwrap();
        for var in [&y, &bias] {
            let expected = gp.get(var).unwrap();
            assert!(max_diff(expected, &expected.zeros_like().unwrap()) > 0.1);
            assert!(max_diff(gf.get(var).unwrap(), expected) < 1e-5);
        }
    }
    #[test]
    fn leaky_relu_matches_candle() {
        let x = random((2, 3, 4, 5), 7);
        let weights = random((2, 3, 4, 5), 8).as_tensor().detach();
        for slope in [0.0, 0.2] {
            let fused = leaky_relu(&x, slope).unwrap();
            let plain = plain_lrelu(&x, slope);
            assert!(max_diff(&fused, &plain) < 1e-7);
            let gf = weighted_sum(&fused, &weights).backward().unwrap();
            let gp = weighted_sum(&plain, &weights).backward().unwrap();
            assert!(max_diff(gf.get(&x).unwrap(), gp.get(&x).unwrap()) < 1e-7);
        }
    }

    #[test]
    fn upsample_nearest2x_matches_candle() {
        // Odd sizes, batch and channels above 1.
        let x = random((2, 3, 5, 7), 11);
        let weights = random((2, 3, 10, 14), 12).as_tensor().detach();
        let fused = upsample_nearest2x(&x).unwrap();
        let plain = crate::nets::layers::resize_nearest(&x, 10, 14).unwrap();
        assert_eq!(fused.dims(), &[2, 3, 10, 14]);
        assert!(max_diff(&fused, &plain) == 0.0);
        let gf = weighted_sum(&fused, &weights).backward().unwrap();
        let gp = weighted_sum(&plain, &weights).backward().unwrap();
        assert!(max_diff(gf.get(&x).unwrap(), gp.get(&x).unwrap()) < 1e-6);
    }
}

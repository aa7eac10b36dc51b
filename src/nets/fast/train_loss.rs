//! The mean absolute difference `mean(|a - b|)` of the perceptual and feature-matching losses
//! as one Candle custom op (issue 13). Candle records it as a subtraction, an absolute value
//! and a mean, and its backward as a dozen more full-size tensors (zeros, ones, a comparison,
//! a select, products), all on the main thread while the rayon pool waits; the VGG loss alone
//! runs that on about 16 million values per `ycor-spade-256` step. Here it is one parallel
//! pass each way.
//!
//! The gradient is PyTorch's, `sign(a - b) / n` with `sign(0) = 0` (`torch.abs`'s backward),
//! where Candle's plain `abs` gives `+1` at 0. The two differ only where `a == b` exactly,
//! which in these losses happens where both are ReLU features clamped to 0, and the ReLU's own
//! backward zeroes the gradient there either way.
use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::train_storage::{collect_par, storage_values, with_values};
use super::training_path::{training_path, TrainingPath};

/// Elements per parallel chunk.
const CHUNK: usize = 1 << 14;

/// `mean(|a - b|)` over every element, a scalar; our op for f32 CPU tensors of one shape on
/// the fast path, Candle's ops otherwise.
pub fn l1_mean(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let usable = a.device().is_cpu()
        && b.device().is_cpu()
        && a.dtype() == candle_core::DType::F32
        && b.dtype() == candle_core::DType::F32
        && a.dims() == b.dims()
        && a.elem_count() > 0
        && training_path() == TrainingPath::Fast;
    if !usable {
        return (a - b)?.abs()?.mean_all();
    }
    a.apply_op2(
        b,
        L1MeanOp {
            a_grad: a.track_op(),
            b_grad: b.track_op(),
        },
    )
}

#[derive(Debug, Clone, Copy)]
struct L1MeanOp {
    a_grad: bool,
    b_grad: bool,
}

impl CustomOp2 for L1MeanOp {
    fn name(&self) -> &'static str {
        "scenepaint-fast-l1-mean"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (a, b) = (storage_values(s1, l1)?, storage_values(s2, l2)?);
        if a.len() != b.len() || a.is_empty() {
            candle_core::bail!("fast l1: {} and {} values", a.len(), b.len())
        }
        let sum: f64 = a
            .par_chunks(CHUNK)
            .zip(b.par_chunks(CHUNK))
            .map(|(a, b)| {
                let chunk: f32 = a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum();
                chunk as f64
            })
            .sum();
        let mean = (sum / a.len() as f64) as f32;
        Ok((CpuStorage::F32(vec![mean]), Shape::from(())))
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        if !self.a_grad && !self.b_grad {
            return Ok((None, None));
        }
        let scale =
            grad.to_dtype(candle_core::DType::F32)?.to_scalar::<f32>()? / a.elem_count() as f32;
        // Branch-free so that it vectorises: `scale` with the sign of `a - b`, 0 where equal.
        let da = with_values(a, |a| {
            with_values(b, |b| {
                collect_par(a.len(), |r| {
                    a[r.clone()].iter().zip(&b[r]).map(|(x, y)| {
                        let diff = x - y;
                        if diff == 0.0 {
                            0.0
                        } else {
                            scale.copysign(diff)
                        }
                    })
                })
            })
        })??;
        let da = Tensor::from_vec(da, a.shape(), a.device())?;
        let db = if self.b_grad { Some(da.neg()?) } else { None };
        Ok((self.a_grad.then_some(da), db))
    }
}

#[cfg(test)]
mod tests {
    use super::super::train_testing::max_diff;
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn value_and_gradients_equal_candles_ops_away_from_ties() {
        let device = Device::Cpu;
        // An odd count over several chunks; no a == b ties (see the module header).
        let n = 3 * CHUNK + 7;
        let a_values: Vec<f32> = (0..n)
            .map(|i| ((i * 37) % 101) as f32 * 0.1 - 5.0)
            .collect();
        let b_values: Vec<f32> = (0..n)
            .map(|i| ((i * 53) % 97) as f32 * 0.1 - 4.85)
            .collect();
        let a = Var::from_vec(a_values, n, &device).unwrap();
        let b = Var::from_vec(b_values, a.shape(), &device).unwrap();
        let fused = l1_mean(a.as_tensor(), b.as_tensor()).unwrap();
        let plain = (a.as_tensor() - b.as_tensor())
            .unwrap()
            .abs()
            .unwrap()
            .mean_all()
            .unwrap();
        let (f, p) = (
            fused.to_scalar::<f32>().unwrap(),
            plain.to_scalar::<f32>().unwrap(),
        );
        assert!((f - p).abs() <= 1e-5 * p.abs(), "{f} != {p}");
        let (fg, pg) = (
            (fused * 3.0).unwrap().backward().unwrap(),
            (plain * 3.0).unwrap().backward().unwrap(),
        );
        for v in [&a, &b] {
            let diff = max_diff(fg.get(v).unwrap(), pg.get(v).unwrap());
            assert!(diff <= 1e-9, "gradients differ by {diff}");
        }
    }

    #[test]
    fn a_tie_has_no_gradient_and_a_detached_side_none() {
        let device = Device::Cpu;
        let a = Var::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], (2, 2), &device).unwrap();
        let b = Tensor::from_vec(vec![1.0f32, 0.0, 5.0, 4.0], (2, 2), &device).unwrap();
        let loss = l1_mean(a.as_tensor(), &b).unwrap();
        assert_eq!(loss.to_scalar::<f32>().unwrap(), 1.0);
        let grads = loss.backward().unwrap();
        let da = grads
            .get(&a)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(da, vec![0.0, 0.25, -0.25, 0.0]);
        assert!(grads.get(&b).is_none());
    }
}

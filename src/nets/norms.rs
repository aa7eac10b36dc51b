//! Normalization and dropout layers Candle lacks, as the published networks use them:
//! `nn.InstanceNorm2d` (affine off), `nn.BatchNorm2d` with running statistics (eval) and batch
//! statistics that update them (training, PyTorch's momentum and unbiased running variance),
//! the `--norm` choice between them, and `nn.Dropout` with a seedable mask.
use candle_core::{DType, ModuleT, Result, Tensor, Var, D};
use candle_nn::VarBuilder;

use super::fast::train_norm as fast;

/// Overwrites a buffer in place. The buffer must be variable storage (a `VarMap`-built model);
/// a model loaded read-only from a file cannot be trained and says so.
pub(crate) fn update_buffer(buffer: &Tensor, value: &Tensor) -> Result<()> {
    if !buffer.is_variable() {
        candle_core::bail!(
            "cannot update a running statistic of a model loaded read-only; build it from a VarMap to train"
        )
    }
    Var::from_tensor(buffer)?.set(&value.detach())
}

thread_local! {
    static STANDING_PASS: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` as pass `pass` (from 0) of a measurement of running statistics: batch norm's
/// running mean and variance become the mean over passes `0..=pass` (momentum
/// `1 / (pass + 1)`) instead of moving by momentum 0.1, so a measurement over many batches
/// weighs each the same (`train::standing_stats`).
pub fn with_statistics_pass<T>(pass: usize, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<usize>);
    impl Drop for Restore {
        fn drop(&mut self) {
            STANDING_PASS.with(|p| p.set(self.0));
        }
    }
    let _restore = Restore(STANDING_PASS.with(|p| p.replace(Some(pass))));
    f()
}

/// Per-sample, per-channel normalization with the biased variance (`nn.InstanceNorm2d`,
/// `affine=False`, no running statistics).
pub fn instance_norm(x: &Tensor, eps: f64) -> Result<Tensor> {
    if fast::fused_for(x) {
        return Ok(fast::normalize(x, fast::NormGroups::Instance, eps, None)?.0);
    }
    let mean = x.mean_keepdim(D::Minus1)?.mean_keepdim(D::Minus2)?;
    let centered = x.broadcast_sub(&mean)?;
    let var = centered
        .sqr()?
        .mean_keepdim(D::Minus1)?
        .mean_keepdim(D::Minus2)?;
    centered.broadcast_div(&(var + eps)?.sqrt()?)
}

/// Reshapes a per-channel vector to (1, C, 1, 1) for broadcasting over NCHW.
pub(crate) fn per_channel(t: &Tensor) -> Result<Tensor> {
    t.reshape((1, t.elem_count(), 1, 1))
}

/// `nn.BatchNorm2d` with running statistics: eval normalizes with them, training uses the
/// batch statistics and updates them (momentum 0.1, unbiased running variance) like PyTorch.
#[derive(Debug, Clone)]
pub struct BatchNorm2d {
    weight: Option<Tensor>,
    bias: Option<Tensor>,
    running_mean: Tensor,
    running_var: Tensor,
    num_batches_tracked: Option<Tensor>,
    eps: f64,
    momentum: f64,
}

impl BatchNorm2d {
    /// Loads `weight`, `bias` (when `affine`), `running_mean`, `running_var` and
    /// `num_batches_tracked` under `vb`, initialised like PyTorch when the builder creates them.
    pub fn new(channels: usize, affine: bool, vb: VarBuilder) -> Result<Self> {
        let (weight, bias) = if affine {
            let weight = vb.get_with_hints(channels, "weight", candle_nn::Init::Const(1.0))?;
            let bias = vb.get_with_hints(channels, "bias", candle_nn::Init::Const(0.0))?;
            (Some(weight), Some(bias))
        } else {
            (None, None)
        };
        let running_mean =
            vb.get_with_hints(channels, "running_mean", candle_nn::Init::Const(0.0))?;
        let running_var =
            vb.get_with_hints(channels, "running_var", candle_nn::Init::Const(1.0))?;
        // PyTorch stores it as int64; it is bookkeeping only, so its absence is not an error.
        let num_batches_tracked = vb
            .get_with_hints_dtype(
                (),
                "num_batches_tracked",
                candle_nn::Init::Const(0.0),
                DType::I64,
            )
            .ok();
        Ok(Self {
            weight,
            bias,
            running_mean,
            running_var,
            num_batches_tracked,
            eps: 1e-5,
            momentum: 0.1,
        })
    }

    /// The eval-mode parts: running mean, running variance, optional (weight, bias), epsilon.
    pub fn eval_parts(&self) -> (&Tensor, &Tensor, Option<(&Tensor, &Tensor)>, f64) {
        let affine = match (&self.weight, &self.bias) {
            (Some(w), Some(b)) => Some((w, b)),
            _ => None,
        };
        (&self.running_mean, &self.running_var, affine, self.eps)
    }

    /// The running mean and variance as plain values.
    #[cfg(test)]
    fn eval_parts_values(&self) -> (Vec<f32>, Vec<f32>) {
        let values = |t: &Tensor| t.to_dtype(DType::F32).and_then(|t| t.to_vec1::<f32>());
        (
            values(&self.running_mean).unwrap_or_default(),
            values(&self.running_var).unwrap_or_default(),
        )
    }

    fn affine(&self, normalized: Tensor) -> Result<Tensor> {
        match (&self.weight, &self.bias) {
            (Some(w), Some(b)) => normalized
                .broadcast_mul(&per_channel(w)?)?
                .broadcast_add(&per_channel(b)?),
            _ => Ok(normalized),
        }
    }

    fn update_running_stats(
        &self,
        batch_mean: &Tensor,
        batch_var_biased: &Tensor,
        count: usize,
    ) -> Result<()> {
        let unbiased = (batch_var_biased * (count as f64 / (count.max(2) - 1) as f64))?;
        let momentum = STANDING_PASS
            .with(|p| p.get())
            .map_or(self.momentum, |pass| 1.0 / (pass as f64 + 1.0));
        let keep = 1.0 - momentum;
        let mean = ((&self.running_mean * keep)? + (batch_mean * momentum)?)?;
        let var = ((&self.running_var * keep)? + (unbiased * momentum)?)?;
        update_buffer(&self.running_mean, &mean)?;
        update_buffer(&self.running_var, &var)?;
        if let Some(tracked) = &self.num_batches_tracked {
            if tracked.is_variable() {
                update_buffer(
                    tracked,
                    &(tracked.to_dtype(DType::F64)? + 1.0)?.to_dtype(DType::I64)?,
                )?;
            }
        }
        Ok(())
    }
}

impl BatchNorm2d {
    /// Training mode on the fused op ([`fast::batch_norm_affine`] / [`fast::normalize`]),
    /// with `slope`'s leaky ReLU fused in when given.
    pub(crate) fn forward_train_fused(&self, x: &Tensor, slope: Option<f64>) -> Result<Tensor> {
        let (y, stats) = match (&self.weight, &self.bias) {
            (Some(w), Some(b)) => fast::batch_norm_affine(x, w, b, self.eps, slope)?,
            _ => fast::normalize(x, fast::NormGroups::Batch, self.eps, slope)?,
        };
        self.update_from_fused(x, &stats)?;
        Ok(y)
    }

    /// Updates the running statistics from a fused op's batch statistics.
    pub(crate) fn update_from_fused(
        &self,
        x: &Tensor,
        stats: &std::sync::OnceLock<fast::GroupStats>,
    ) -> Result<()> {
        let (n, c, h, w) = x.dims4()?;
        let Some(stats) = stats.get() else {
            candle_core::bail!(
                "batch norm: the fused op kept no statistics for {:?}",
                x.dims()
            )
        };
        let device = x.device();
        let mean =
            Tensor::from_slice(&stats.mean, c, device)?.to_dtype(self.running_mean.dtype())?;
        let var = Tensor::from_slice(&stats.var, c, device)?.to_dtype(self.running_var.dtype())?;
        self.update_running_stats(&mean, &var, n * h * w)
    }
}

impl ModuleT for BatchNorm2d {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        if !train {
            // Running statistics are buffers: detached so backward never reaches them.
            let centered = x.broadcast_sub(&per_channel(&self.running_mean.detach())?)?;
            let std = (per_channel(&self.running_var.detach())? + self.eps)?.sqrt()?;
            return self.affine(centered.broadcast_div(&std)?);
        }
        if fast::fused_for(x) {
            return self.forward_train_fused(x, None);
        }
        let (n, c, h, w) = x.dims4()?;
        let mean = x.mean_keepdim(3)?.mean_keepdim(2)?.mean_keepdim(0)?;
        let centered = x.broadcast_sub(&mean)?;
        let var = centered
            .sqr()?
            .mean_keepdim(3)?
            .mean_keepdim(2)?
            .mean_keepdim(0)?;
        self.update_running_stats(&mean.reshape(c)?, &var.reshape(c)?, n * h * w)?;
        self.affine(centered.broadcast_div(&(var + self.eps)?.sqrt()?)?)
    }
}

/// Which normalization a published network was built with (their `--norm` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NormKind {
    /// `nn.BatchNorm2d(affine=True)` with running statistics.
    Batch,
    /// `nn.InstanceNorm2d(affine=False)`, no running statistics.
    Instance,
    /// No normalization (PyTorch's `Identity`, which still takes a slot in a `Sequential`).
    None,
}

/// A normalization layer chosen by [`NormKind`].
#[derive(Debug, Clone)]
pub enum Norm2d {
    Batch(BatchNorm2d),
    Instance,
    Identity,
}

impl Norm2d {
    pub fn new(kind: NormKind, channels: usize, vb: VarBuilder) -> Result<Self> {
        Ok(match kind {
            NormKind::Batch => Self::Batch(BatchNorm2d::new(channels, true, vb)?),
            NormKind::Instance => Self::Instance,
            NormKind::None => Self::Identity,
        })
    }
}

impl Norm2d {
    /// The norm followed by `leaky_relu(slope)` (0: ReLU) as one fused op when `x` trains on
    /// the fast path; `None` when it cannot be fused (the caller runs the two layers).
    pub fn forward_act(&self, x: &Tensor, train: bool, slope: f64) -> Option<Result<Tensor>> {
        if !fast::fused_for(x) {
            return None;
        }
        match self {
            Self::Batch(bn) if train => Some(bn.forward_train_fused(x, Some(slope))),
            Self::Instance => Some(
                fast::normalize(x, fast::NormGroups::Instance, 1e-5, Some(slope)).map(|(y, _)| y),
            ),
            _ => None,
        }
    }
}

impl ModuleT for Norm2d {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        match self {
            Self::Batch(bn) => bn.forward_t(x, train),
            Self::Instance => instance_norm(x, 1e-5),
            Self::Identity => Ok(x.clone()),
        }
    }
}

/// `nn.Dropout(p)`: active only in training. Candle's CPU RNG cannot be seeded, so the mask
/// comes from a seeded Rust RNG owned by the layer; a trainer reseeds it every step from the
/// step's own RNG ([`Dropout::reseed`]) so a resumed run draws the same masks.
#[derive(Debug, Clone)]
pub struct Dropout {
    drop_probability: f64,
    rng: std::sync::Arc<std::sync::Mutex<rand_chacha::ChaCha8Rng>>,
}

impl Dropout {
    pub fn new(drop_probability: f64, seed: u64) -> Self {
        use rand::SeedableRng;
        let rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        Self {
            drop_probability,
            rng: std::sync::Arc::new(std::sync::Mutex::new(rng)),
        }
    }
}

impl Dropout {
    /// Restarts the mask sequence from `seed`.
    pub fn reseed(&self, seed: u64) -> Result<()> {
        use rand::SeedableRng;
        let mut rng = self
            .rng
            .lock()
            .map_err(|_| candle_core::Error::Msg("dropout RNG lock poisoned".into()))?;
        *rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        Ok(())
    }
}

impl ModuleT for Dropout {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        if !train || self.drop_probability <= 0.0 {
            return Ok(x.clone());
        }
        use rand::Rng;
        let keep = 1.0 - self.drop_probability;
        let mut rng = self
            .rng
            .lock()
            .map_err(|_| candle_core::Error::Msg("dropout RNG lock poisoned".into()))?;
        let scale = (1.0 / keep) as f32;
        let mask: Vec<f32> = (0..x.elem_count())
            .map(|_| {
                if rng.random::<f64>() < keep {
                    scale
                } else {
                    0.0
                }
            })
            .collect();
        let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
        x.mul(&mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// nn.BatchNorm2d in training: output normalised by the batch's biased variance; running
    /// statistics move by momentum 0.1 towards the batch mean and the unbiased variance;
    /// num_batches_tracked counts the step.
    #[test]
    fn batch_norm_training_updates_running_statistics_as_pytorch() {
        let varmap = candle_nn::VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let bn = BatchNorm2d::new(2, true, vb).unwrap();
        // Channel 0 holds 1..=8 over a batch of 2 and 2x2 pixels; channel 1 is constant 5.
        let values: Vec<f32> = (0..16)
            .map(|i| {
                let (n, c, p) = (i / 8, (i / 4) % 2, i % 4);
                if c == 0 {
                    (n * 4 + p + 1) as f32
                } else {
                    5.0
                }
            })
            .collect();
        let x = Tensor::from_vec(values, (2, 2, 2, 2), &Device::Cpu).unwrap();
        let y = bn.forward_t(&x, true).unwrap();
        // Channel 0: mean 4.5, biased variance 5.25, unbiased 6.0.
        let (mean, var) = bn.eval_parts_values();
        assert!((mean[0] - 0.45).abs() < 1e-6, "{mean:?}");
        assert!((var[0] - (0.9 + 0.6)).abs() < 1e-6, "{var:?}");
        assert!((mean[1] - 0.5).abs() < 1e-6 && (var[1] - 0.9).abs() < 1e-6);
        let first = y.flatten_all().unwrap().to_vec1::<f32>().unwrap()[0];
        let expected = ((1.0 - 4.5) / (5.25f64 + 1e-5).sqrt()) as f32;
        assert!((first - expected).abs() < 1e-5, "{first} vs {expected}");
        let tracked = varmap.data().lock().unwrap()["num_batches_tracked"]
            .as_tensor()
            .to_scalar::<i64>()
            .unwrap();
        assert_eq!(tracked, 1);
    }

    /// Passes of a measurement weigh every batch the same: after passes 0, 1, 2 the running
    /// mean is the mean of the three batch means and the running variance the mean of the
    /// three unbiased variances, whatever the statistics were before; outside a measurement
    /// the momentum is 0.1 again.
    #[test]
    fn measurement_passes_average_the_batch_statistics_equally() {
        let varmap = candle_nn::VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let bn = BatchNorm2d::new(1, false, vb).unwrap();
        // One channel, two values per batch: (m - d, m + d), unbiased variance 2 d^2.
        let batch = |m: f32, d: f32| {
            Tensor::from_vec(vec![m - d, m + d], (2, 1, 1, 1), &Device::Cpu).unwrap()
        };
        bn.forward_t(&batch(100.0, 9.0), true).unwrap();
        for (pass, (m, d)) in [(1.0, 1.0), (2.0, 2.0), (6.0, 3.0)].into_iter().enumerate() {
            with_statistics_pass(pass, || bn.forward_t(&batch(m, d), true)).unwrap();
        }
        let (mean, var) = bn.eval_parts_values();
        assert!((mean[0] - 3.0).abs() < 1e-5, "{mean:?}");
        let expected_var = (2.0 + 8.0 + 18.0) / 3.0;
        assert!((var[0] - expected_var).abs() < 1e-4, "{var:?}");
        bn.forward_t(&batch(13.0, 0.0), true).unwrap();
        let (mean, _) = bn.eval_parts_values();
        assert!(
            (mean[0] - (0.9 * 3.0 + 0.1 * 13.0)).abs() < 1e-5,
            "{mean:?}"
        );
    }

    #[test]
    fn instance_norm_gives_zero_mean_unit_biased_variance() {
        let x = Tensor::arange(0f32, 32.0, &Device::Cpu)
            .unwrap()
            .reshape((1, 2, 4, 4))
            .unwrap();
        let y = instance_norm(&x, 0.0).unwrap();
        let mean = y.mean_all().unwrap().to_scalar::<f32>().unwrap();
        let var = y
            .sqr()
            .unwrap()
            .mean_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(
            mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4,
            "mean {mean} var {var}"
        );
    }
}

//! Adam with state this program owns, so a checkpoint can carry the moments and the step count
//! and `--resume` continues exactly. Follows `torch.optim.Adam` (Kingma and Ba, 2015) with
//! `weight_decay = 0`, `amsgrad = False`: the update of every parameter is
//! `p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`. Candle's own AdamW keeps its
//! moments private, hence this type.
use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::VarMap;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::nets::fast::train_ops::{adam_update, AdamStep};
use crate::nets::fast::training_path::{training_path, TrainingPath};
use crate::nets::layers::is_buffer_name;

/// Learning rate, betas and epsilon, with PyTorch's names and defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

struct Slot {
    name: String,
    param: Var,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
}

/// Adam over named parameters. Slots are sorted by name so the state file is stable.
pub struct Adam {
    slots: Vec<Slot>,
    config: AdamConfig,
    step: u64,
}

impl Adam {
    /// Optimizes `params` (name, variable); moments start at zero.
    pub fn new(mut params: Vec<(String, Var)>, config: AdamConfig) -> Result<Self> {
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let slots = params
            .into_iter()
            .map(|(name, param)| {
                // Two allocations: the fast step updates each moment in place.
                let zeros = || param.as_tensor().zeros_like();
                Ok(Slot {
                    exp_avg: zeros()?,
                    exp_avg_sq: zeros()?,
                    name,
                    param,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            slots,
            config,
            step: 0,
        })
    }

    /// Every trainable variable of `varmap` whose name starts with `prefix` (running statistics
    /// and spectral-norm vectors are state, not parameters, and are left out).
    pub fn trainable(varmap: &VarMap, prefix: &str) -> Result<Vec<(String, Var)>> {
        let data = varmap
            .data()
            .lock()
            .map_err(|_| Error::msg("variable map lock poisoned"))?;
        Ok(data
            .iter()
            .filter(|(name, var)| {
                name.starts_with(prefix) && !is_buffer_name(name) && var.dtype().is_float()
            })
            .map(|(name, var)| (name.clone(), var.clone()))
            .collect())
    }

    pub fn config(&self) -> AdamConfig {
        self.config
    }

    pub fn set_lr(&mut self, lr: f64) {
        self.config.lr = lr;
    }

    pub fn step_count(&self) -> u64 {
        self.step
    }

    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.slots.iter().map(|slot| slot.name.as_str())
    }

    /// One update. Parameters without a gradient are left untouched (as PyTorch does for a
    /// parameter whose `.grad` is None), so a frozen sub-network simply gets none.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step += 1;
        let AdamConfig {
            lr,
            beta1,
            beta2,
            eps,
        } = self.config;
        let t = self.step as i32;
        let step_size = lr / (1.0 - beta1.powi(t));
        let bias_correction2_sqrt = (1.0 - beta2.powi(t)).sqrt();
        for slot in &mut self.slots {
            let Some(grad) = grads.get(slot.param.as_tensor()) else {
                continue;
            };
            // Candle's backward leaves a variable's gradient attached to the forward graph
            // (e.g. a conv weight's gradient is an op on the layer input). Moments built from it
            // would chain every step's whole graph to the next: memory grew ~1.2 GB per
            // spade-compact step. Detached, each step's graph is freed when its loss is dropped.
            let grad = grad.detach();
            let grad = &grad;
            let fused = TrainingPath::Fast == training_path()
                && adam_update(
                    slot.param.as_tensor(),
                    grad,
                    &slot.exp_avg,
                    &slot.exp_avg_sq,
                    AdamStep {
                        beta1,
                        beta2,
                        eps,
                        step_size,
                        bias_correction2_sqrt,
                    },
                )?;
            if fused {
                continue;
            }
            let exp_avg = ((&slot.exp_avg * beta1)? + (grad * (1.0 - beta1))?)?;
            let exp_avg_sq = ((&slot.exp_avg_sq * beta2)? + (grad.sqr()? * (1.0 - beta2))?)?;
            let denom = ((exp_avg_sq.sqrt()? / bias_correction2_sqrt)? + eps)?;
            let update = ((&exp_avg / &denom)? * step_size)?;
            slot.param.set(&slot.param.as_tensor().sub(&update)?)?;
            slot.exp_avg = exp_avg.detach();
            slot.exp_avg_sq = exp_avg_sq.detach();
        }
        Ok(())
    }

    /// The moments as named tensors: `{prefix}exp_avg.{param}` and `{prefix}exp_avg_sq.{param}`.
    pub fn state_tensors(&self, prefix: &str) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for slot in &self.slots {
            out.insert(
                format!("{prefix}exp_avg.{}", slot.name),
                slot.exp_avg.clone(),
            );
            out.insert(
                format!("{prefix}exp_avg_sq.{}", slot.name),
                slot.exp_avg_sq.clone(),
            );
        }
        out
    }

    /// Restores what `state_tensors` wrote, plus the step count. Every parameter must have
    /// both moments with its own shape: a checkpoint of another network is refused.
    pub fn load_state(
        &mut self,
        tensors: &HashMap<String, Tensor>,
        prefix: &str,
        step: u64,
    ) -> Result<()> {
        for slot in &mut self.slots {
            for (kind, target) in [
                ("exp_avg", &mut slot.exp_avg),
                ("exp_avg_sq", &mut slot.exp_avg_sq),
            ] {
                let key = format!("{prefix}{kind}.{}", slot.name);
                let found = tensors
                    .get(&key)
                    .ok_or_else(|| Error::msg(format!("optimizer state: missing tensor {key}")))?;
                if found.dims() != slot.param.dims() {
                    return Err(Error::msg(format!(
                        "optimizer state {key}: expected shape {:?}, found {:?}",
                        slot.param.dims(),
                        found.dims()
                    )));
                }
                *target = found
                    .to_device(slot.param.device())?
                    .to_dtype(slot.param.dtype())?
                    .copy()?;
            }
        }
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    /// Reference values from torch.optim.Adam(lr=0.1, betas=(0.5, 0.999)) minimizing
    /// sum(p^2) from p = [1, -2], computed by hand from the update rule for three steps.
    fn scalar_adam(p0: f64, beta1: f64, beta2: f64, lr: f64, steps: usize) -> f64 {
        let (mut p, mut m, mut v) = (p0, 0.0, 0.0);
        for t in 1..=steps as i32 {
            let g = 2.0 * p;
            m = beta1 * m + (1.0 - beta1) * g;
            v = beta2 * v + (1.0 - beta2) * g * g;
            let denom = v.sqrt() / (1.0 - beta2.powi(t)).sqrt() + 1e-8;
            p -= lr / (1.0 - beta1.powi(t)) * m / denom;
        }
        p
    }

    #[test]
    fn matches_the_pytorch_update_rule_including_beta1_zero() {
        for (beta1, beta2) in [(0.5, 0.999), (0.0, 0.9)] {
            let var = Var::from_vec(vec![1f64, -2.0], 2, &Device::Cpu).unwrap();
            let config = AdamConfig {
                lr: 0.1,
                beta1,
                beta2,
                eps: 1e-8,
            };
            let mut adam = Adam::new(vec![("p".into(), var.clone())], config).unwrap();
            for _ in 0..3 {
                let loss = var.as_tensor().sqr().unwrap().sum_all().unwrap();
                adam.step(&loss.backward().unwrap()).unwrap();
            }
            let got = var.as_tensor().to_vec1::<f64>().unwrap();
            let want = [
                scalar_adam(1.0, beta1, beta2, 0.1, 3),
                scalar_adam(-2.0, beta1, beta2, 0.1, 3),
            ];
            for (g, w) in got.iter().zip(want) {
                assert!(
                    (g - w).abs() < 1e-12,
                    "betas ({beta1},{beta2}): got {g}, want {w}"
                );
            }
            // The first Adam step moves every coordinate by about lr, whatever the gradient scale.
            assert!((want[0] - 1.0).abs() > 0.05);
        }
    }

    #[test]
    fn moments_do_not_keep_the_forward_graph_alive() {
        // The weight's gradient is an op on the (tracked) input, as for a conv or matmul layer.
        let w = Var::from_vec(vec![0.5f32, -0.5], (2, 1), &Device::Cpu).unwrap();
        let x = Var::from_vec(vec![1f32, 2.0, 3.0, 4.0], (2, 2), &Device::Cpu).unwrap();
        let hidden = (x.as_tensor() * 2.0).unwrap();
        let loss = hidden
            .matmul(w.as_tensor())
            .unwrap()
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap();
        let grads = loss.backward().unwrap();
        assert!(
            grads.get(w.as_tensor()).unwrap().track_op(),
            "candle now detaches variable gradients itself; this guard may be unnecessary"
        );
        let mut adam = Adam::new(vec![("w".into(), w)], AdamConfig::default()).unwrap();
        adam.step(&grads).unwrap();
        for (name, moment) in adam.state_tensors("") {
            assert!(!moment.track_op(), "{name} is attached to the step's graph");
        }
    }

    #[test]
    fn saved_state_resumes_exactly() {
        // `split`: restart the optimizer before step i, restoring its state or not.
        let run = |split: Option<(usize, bool)>| {
            let var = Var::from_vec(vec![0.3f64, -0.7, 1.1], 3, &Device::Cpu).unwrap();
            let config = AdamConfig {
                lr: 0.05,
                beta1: 0.5,
                beta2: 0.999,
                eps: 1e-8,
            };
            let mut adam = Adam::new(vec![("w".into(), var.clone())], config).unwrap();
            for i in 0..6 {
                if let Some((at, restore)) = split.filter(|(at, _)| *at == i) {
                    assert_eq!(at, i);
                    let state = adam.state_tensors("opt.");
                    let step = adam.step_count();
                    adam = Adam::new(vec![("w".into(), var.clone())], config).unwrap();
                    if restore {
                        adam.load_state(&state, "opt.", step).unwrap();
                    }
                }
                let loss = var.as_tensor().powf(4.0).unwrap().sum_all().unwrap();
                adam.step(&loss.backward().unwrap()).unwrap();
            }
            var.as_tensor().to_vec1::<f64>().unwrap()
        };
        assert_eq!(run(None), run(Some((3, true))));
        // A restart without the moments diverges: the state matters.
        assert_ne!(run(None), run(Some((3, false))));
    }

    #[test]
    fn load_state_rejects_wrong_shapes_and_missing_tensors() {
        let var = Var::zeros(4, DType::F32, &Device::Cpu).unwrap();
        let mut adam = Adam::new(vec![("w".into(), var)], AdamConfig::default()).unwrap();
        let err = adam
            .load_state(&HashMap::new(), "o.", 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("o.exp_avg.w"), "{err}");
        let mut bad = HashMap::new();
        bad.insert(
            "o.exp_avg.w".to_string(),
            Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap(),
        );
        let err = adam.load_state(&bad, "o.", 1).unwrap_err().to_string();
        assert!(err.contains("[4]") && err.contains("[3]"), "{err}");
    }
}

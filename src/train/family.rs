//! What the trainer needs from a network family: one training iteration (discriminator step
//! on a detached fake, then generator step), image generation for sample grids, and the
//! networks and optimizers a checkpoint holds.
use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

use candle_core::Tensor;
use candle_nn::VarMap;
use rand_chacha::ChaCha8Rng;

use super::config::TrainConfig;
use super::data::Batch;
use super::optim::{Adam, AdamConfig};
use super::standing_stats::StandingBatches;
use crate::error::Result;

/// Loss values of one iteration by name (`g_gan`, `d_real`, ...).
pub type Losses = BTreeMap<String, f64>;

pub trait Family {
    /// One iteration with learning rates `(lr_g, lr_d)`; `rng` draws the iteration's noise.
    /// `stop` is looked at once the first backward pass is done and before any weight
    /// changes (see [`discriminator_step`]): raised, the step returns
    /// [`Error::Interrupted`](crate::Error::Interrupted) with every network untouched, so a
    /// long step answers a stop request early and a resumed run redoes the iteration exactly.
    fn train_step(
        &mut self,
        batch: &Batch,
        lr: (f64, f64),
        rng: &mut ChaCha8Rng,
        stop: &AtomicBool,
    ) -> Result<Losses>;

    /// Generated images (N, 3, H, W) in [-1, 1] for `batch`, evaluation mode, no gradient.
    fn generate(&self, batch: &Batch, rng: &mut ChaCha8Rng) -> Result<Tensor>;

    /// The networks by checkpoint prefix (`G.`, `D.`, `E.`); `G.` (and `E.`) go into the bundle.
    fn networks(&self) -> Vec<(&'static str, &VarMap)>;

    /// The optimizers by checkpoint prefix (`optG.`, `optD.`).
    fn optimizers(&mut self) -> Vec<(&'static str, &mut Adam)>;

    /// The generator's options with the published names, for the model bundle.
    fn generator_options(&self) -> serde_json::Value;

    /// Measures the buffers forward passes keep (batch-norm running statistics, spectral
    /// norm's u and v) for the generator weights in `generator` (and the style encoder's in
    /// `encoder`), which need not be this family's own: training-mode passes over `batches`,
    /// gradients off (see [`super::standing_stats`]). Families whose generator keeps no such
    /// buffer change nothing.
    fn measure_buffers(
        &self,
        _generator: &VarMap,
        _encoder: Option<&VarMap>,
        _batches: &mut StandingBatches,
    ) -> Result<()> {
        Ok(())
    }

    /// The weight average's networks by the prefix of the networks they average (`G.`,
    /// `E.`), copied, with their buffers measured for them over `batches`; empty for a family
    /// that keeps no average. The copies leave the run untouched, so a resumed run stays exact.
    fn measured_average(
        &self,
        _batches: &mut StandingBatches,
    ) -> Result<Vec<(&'static str, VarMap)>> {
        Ok(Vec::new())
    }
}

/// Scalar value of a loss tensor, as f64.
pub fn scalar(loss: &Tensor) -> Result<f64> {
    Ok(loss.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?)
}

/// Adam over a network's trainable variables, names prefixed so that several networks can
/// share one optimizer (SPADE's encoder trains with the generator).
pub fn adam_over(networks: &[(&str, &VarMap)], config: AdamConfig) -> Result<Adam> {
    let mut params = Vec::new();
    for (prefix, varmap) in networks {
        params.extend(
            Adam::trainable(varmap, "")?
                .into_iter()
                .map(|(name, var)| (format!("{prefix}{name}"), var)),
        );
    }
    Adam::new(params, config)
}

/// The Adam settings of a run (`beta1`, `beta2` of the config, PyTorch's eps) at rate `lr`.
pub fn adam_config(config: &TrainConfig, lr: f64) -> AdamConfig {
    AdamConfig {
        lr,
        beta1: config.beta1,
        beta2: config.beta2,
        eps: 1e-8,
    }
}

use crate::error::check_stop;

/// The discriminator update of every family: `scale * (d_fake + d_real)`, the losses of D on
/// the detached fake and on the real image, backpropagated and applied by `opt_d`; both
/// terms are recorded as `d_fake` and `d_real`. pix2pix and pix2pixHD halve the sum
/// (`scale` 0.5), SPADE does not (1). The first weight change of every family's iteration, so
/// `stop` is checked here, after the backward pass and before the update.
pub fn discriminator_step(
    opt_d: &mut Adam,
    d_fake: &Tensor,
    d_real: &Tensor,
    scale: f64,
    losses: &mut Losses,
    stop: &AtomicBool,
) -> Result<()> {
    let total = ((d_fake + d_real)? * scale)?;
    let grads = total.backward()?;
    check_stop(stop)?;
    opt_d.step(&grads)?;
    losses.insert("d_fake".into(), scalar(d_fake)?);
    losses.insert("d_real".into(), scalar(d_real)?);
    Ok(())
}

/// Copies of a family's buffers (running statistics, spectral norm's `weight_u`/`weight_v`),
/// which a training forward pass updates before any optimizer step; restoring them undoes
/// everything an interrupted iteration changed.
pub struct BufferSnapshot(Vec<(candle_core::Var, Tensor)>);

impl BufferSnapshot {
    pub fn take(family: &dyn Family) -> Result<Self> {
        let mut saved = Vec::new();
        for (_, varmap) in family.networks() {
            let vars = varmap
                .data()
                .lock()
                .map_err(|_| crate::Error::msg("variable map lock poisoned"))?;
            for (name, var) in vars.iter() {
                if crate::nets::layers::is_buffer_name(name) {
                    saved.push((var.clone(), var.as_tensor().copy()?));
                }
            }
        }
        Ok(Self(saved))
    }

    pub fn restore(self) -> Result<()> {
        for (var, value) in self.0 {
            var.set(&value)?;
        }
        Ok(())
    }
}

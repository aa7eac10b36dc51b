//! A running average of the generator's weights (an exponential moving average: Karras et al.,
//! "Progressive Growing of GANs", ICLR 2018; Yazici et al., "The Unusual Effectiveness of
//! Averaging in GAN Training", ICLR 2019), kept beside any family's networks: after every
//! iteration `avg = decay * avg + (1 - decay) * weight` for the generator's and the style
//! encoder's trainable weights, and their buffers (batch-norm statistics, spectral norm's
//! vectors) are copied; the bundle gets a copy of the average whose buffers are measured for
//! it (`standing_stats`). The bundle stores the average (`build::write_bundle`); training, the
//! sample grids and the discriminator use the current weights. Checkpoints hold the average
//! under `avgG.` / `avgE.`, so `--resume` continues it exactly.
use std::sync::atomic::AtomicBool;

use candle_core::Tensor;
use candle_nn::VarMap;
use rand_chacha::ChaCha8Rng;

use super::data::Batch;
use super::family::{Family, Losses};
use super::optim::Adam;
use super::standing_stats::StandingBatches;
use crate::error::{Error, Result};
use crate::nets::layers::is_buffer_name;

/// The decay the shipped runs and the training panel's switch use (an average over about the
/// last thousand iterations).
pub const USUAL_DECAY: f64 = 0.999;

/// The averaged networks: (the network's checkpoint prefix, the average's).
const AVERAGED: [(&str, &str); 2] = [("G.", "avgG."), ("E.", "avgE.")];

/// A family whose generator (and style encoder) weights are also averaged.
pub struct AveragedFamily {
    inner: Box<dyn Family>,
    decay: f64,
    /// (network prefix, average prefix, the average).
    averages: Vec<(&'static str, &'static str, VarMap)>,
}

/// A new variable map holding copies of `source`'s variables.
fn copy_of(source: &VarMap) -> Result<VarMap> {
    let copy = VarMap::new();
    {
        let from = source.data().lock().map_err(|_| poisoned())?;
        let mut to = copy.data().lock().map_err(|_| poisoned())?;
        for (name, var) in from.iter() {
            to.insert(
                name.clone(),
                candle_core::Var::from_tensor(&var.as_tensor().copy()?)?,
            );
        }
    }
    Ok(copy)
}

fn poisoned() -> Error {
    Error::msg("variable map lock poisoned")
}

impl AveragedFamily {
    /// Starts the averages at `inner`'s current weights (fresh or `load_pretrain`'s).
    pub fn wrap(inner: Box<dyn Family>, decay: f64) -> Result<Self> {
        let mut averages = Vec::new();
        for (prefix, varmap) in inner.networks() {
            if let Some((prefix, average)) = AVERAGED.iter().find(|(p, _)| *p == prefix) {
                averages.push((*prefix, *average, copy_of(varmap)?));
            }
        }
        Ok(Self {
            inner,
            decay,
            averages,
        })
    }

    fn update(&self) -> Result<()> {
        let networks = self.inner.networks();
        for (prefix, _, average) in &self.averages {
            let Some((_, source)) = networks.iter().find(|(p, _)| p == prefix) else {
                continue;
            };
            let source = source.data().lock().map_err(|_| poisoned())?;
            let average = average.data().lock().map_err(|_| poisoned())?;
            for (name, var) in average.iter() {
                let current = source.get(name).ok_or_else(|| {
                    Error::msg(format!("weight average: {prefix}{name} left the network"))
                })?;
                let current = current.as_tensor();
                if is_buffer_name(name) {
                    var.set(current)?;
                } else {
                    let mixed =
                        ((var.as_tensor() * self.decay)? + (current * (1.0 - self.decay))?)?;
                    var.set(&mixed)?;
                }
            }
        }
        Ok(())
    }
}

/// The average of the network under `prefix` (`G.`, `E.`) among `networks`, if one is kept.
pub fn average_of<'a>(prefix: &str, networks: &[(&'static str, &'a VarMap)]) -> Option<&'a VarMap> {
    let (_, average) = AVERAGED.iter().find(|(p, _)| *p == prefix)?;
    networks
        .iter()
        .find(|(p, _)| p == average)
        .map(|(_, varmap)| *varmap)
}

impl Family for AveragedFamily {
    fn train_step(
        &mut self,
        batch: &Batch,
        lr: (f64, f64),
        rng: &mut ChaCha8Rng,
        stop: &AtomicBool,
    ) -> Result<Losses> {
        let losses = self.inner.train_step(batch, lr, rng, stop)?;
        self.update()?;
        Ok(losses)
    }

    fn generate(&self, batch: &Batch, rng: &mut ChaCha8Rng) -> Result<Tensor> {
        self.inner.generate(batch, rng)
    }

    fn networks(&self) -> Vec<(&'static str, &VarMap)> {
        let mut networks = self.inner.networks();
        networks.extend(
            self.averages
                .iter()
                .map(|(_, prefix, varmap)| (*prefix, varmap)),
        );
        networks
    }

    fn optimizers(&mut self) -> Vec<(&'static str, &mut Adam)> {
        self.inner.optimizers()
    }

    fn generator_options(&self) -> serde_json::Value {
        self.inner.generator_options()
    }

    fn measured_average(
        &self,
        batches: &mut StandingBatches,
    ) -> Result<Vec<(&'static str, VarMap)>> {
        let copies = self
            .averages
            .iter()
            .map(|(prefix, _, average)| Ok((*prefix, copy_of(average)?)))
            .collect::<Result<Vec<_>>>()?;
        let copy = |prefix: &str| copies.iter().find(|(p, _)| *p == prefix).map(|(_, v)| v);
        if let Some(generator) = copy("G.") {
            self.inner.measure_buffers(generator, copy("E."), batches)?;
        }
        Ok(copies)
    }
}

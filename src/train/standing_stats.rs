//! The buffers of a weight average, measured for the average itself ("standing statistics":
//! Brock et al., "Large Scale GAN Training for High Fidelity Natural Image Synthesis", ICLR
//! 2019, appendix C). The average mixes the weights of the last ~1/(1 - decay) iterations; the
//! batch-norm running means and variances the current weights collected describe another
//! network's activations, and spectral norm's u and v belong to another matrix. Before an
//! average is written as a bundle, training batches run through a copy of it in training mode,
//! gradients off: the running statistics become the mean over the passes of each batch's
//! statistics (`nets::norms::with_statistics_pass`), and each pass takes one power iteration.
//!
//! Measured on run r10's average at iteration 2100 (`docs/bench/standing-stats-2026-12-07-s16.txt`):
//! held-out FID 189.2 with the copied buffers, 179.1-180.7 with measured ones (three draws of
//! batches). The current weights' own buffers, collected while training, are kept: measuring
//! them anew scored no better (183.7 against 179.0).
use candle_core::Device;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::config::TrainConfig;
use super::data::{Augment, Batch, Dataset};
use super::schedule::augment_of;
use crate::error::Result;

/// Forward passes per measurement (the batches of the run's batch size).
pub const STANDING_BATCHES: usize = 30;

/// Training batches for a measurement, drawn by an RNG of their own (seeded from the run's
/// seed and iteration) so that measuring never changes the run's data order or noise: a
/// resumed run stays exact.
pub struct StandingBatches<'a> {
    dataset: &'a Dataset,
    augment: Augment,
    batch_size: usize,
    left: usize,
    rng: ChaCha8Rng,
}

impl<'a> StandingBatches<'a> {
    pub fn new(dataset: &'a Dataset, config: &TrainConfig, iteration: u64) -> Self {
        Self {
            dataset,
            augment: augment_of(config),
            batch_size: config.batch_size.max(1),
            left: STANDING_BATCHES,
            rng: ChaCha8Rng::seed_from_u64(config.seed ^ iteration.rotate_left(32) ^ 0x5747),
        }
    }

    /// Runs `forward` (a network's training-mode forward, given the noise its passes draw
    /// from) over every batch on `device` with gradients off, each call one pass of the
    /// measurement: batch norm's running statistics become the mean over the passes.
    pub fn measure(
        &mut self,
        device: &Device,
        mut forward: impl FnMut(&Batch, &mut ChaCha8Rng) -> Result<()>,
    ) -> Result<()> {
        crate::nets::layers::with_frozen_weights(|| {
            let mut pass = 0;
            while let Some(batch) = self.next_batch(device)? {
                crate::nets::norms::with_statistics_pass(pass, || forward(&batch, &mut self.rng))?;
                pass += 1;
            }
            Ok(())
        })
    }

    /// The next batch on `device`, or `None` after [`STANDING_BATCHES`]. A pair that cannot
    /// be read is replaced by the next readable one, as in training.
    fn next_batch(&mut self, device: &Device) -> Result<Option<Batch>> {
        if self.left == 0 || self.dataset.is_empty() {
            return Ok(None);
        }
        self.left -= 1;
        let pairs = self.dataset.len();
        let indices: Vec<usize> = (0..self.batch_size)
            .map(|_| self.rng.random_range(0..pairs))
            .collect();
        let never = std::sync::atomic::AtomicBool::new(false);
        let (batch, _skipped) = self.dataset.batch_skipping_bad(
            &indices,
            &self.augment,
            &mut self.rng,
            device,
            &never,
        )?;
        Ok(Some(batch))
    }
}

/// The device `varmap`'s variables live on (the CPU for an empty map).
pub fn device_of(varmap: &candle_nn::VarMap) -> Device {
    varmap
        .all_vars()
        .first()
        .map_or(Device::Cpu, |var| var.device().clone())
}

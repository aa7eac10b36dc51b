//! What a training run does: network family and its options, optimisation, losses, data sizes,
//! logging cadence. Presets give the published configurations (SPADE `train.py` defaults,
//! pix2pixHD `train_options.py`, pix2pix `train_options.py`) and compact ones sized to train
//! in hours on a laptop CPU. A run folder keeps the resolved config as `config.json`.
mod presets;
mod resolve;
pub use presets::{default_preset, preset, preset_description, presets_of, PRESETS};
pub use resolve::{read_overrides, resolve, with_overrides, ConfigChoice, Resolved};

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::losses::GanMode;
use super::vgg::VggInput;
use crate::error::{Error, Result};

/// Which published network family is trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetFamily {
    Spade,
    Pix2pixhd,
    Pix2pix,
}

impl std::str::FromStr for NetFamily {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self> {
        match text {
            "spade" => Ok(Self::Spade),
            "pix2pixhd" => Ok(Self::Pix2pixhd),
            "pix2pix" => Ok(Self::Pix2pix),
            other => Err(Error::msg(format!(
                "unknown network '{other}': expected spade, pix2pixhd or pix2pix"
            ))),
        }
    }
}

/// A full training configuration (serialised to `RUN_DIR/config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// The family trained: spade, pix2pixhd or pix2pix.
    pub net: NetFamily,
    /// The preset the config started from (recorded in the bundle).
    pub preset: String,
    /// Network options with the published option names (e.g. SPADE's `ngf`, `norm_G`); the
    /// label options (`label_nc`, `contain_dontcare_label`, `no_instance`) come from the data.
    pub network: serde_json::Value,
    /// Iterations (batches) in all.
    pub iters: u64,
    /// Linear decay of the learning rates to 0 starts here (default: half of `iters`).
    pub decay_start: Option<u64>,
    /// Pairs per iteration.
    pub batch_size: usize,
    /// Width each pair is resized to before cropping (the published load_size; labels nearest).
    pub load_width: u32,
    /// Height each pair is resized to before cropping.
    pub load_height: u32,
    /// Width of the random crop trained on (the published crop_size).
    pub crop_width: u32,
    /// Height of the random crop.
    pub crop_height: u32,
    /// Mirror each pair left-right with probability one half (the published default).
    pub flip: bool,
    /// Adam's learning rate (0.0002 in all three papers).
    pub lr: f64,
    /// Adam's first-moment decay (0.5 as published; SPADE's TTUR uses 0).
    pub beta1: f64,
    /// Adam's second-moment decay (0.999; SPADE's TTUR uses 0.9).
    pub beta2: f64,
    /// SPADE's two time-scale update rule: lr_G = lr / 2, lr_D = 2 lr.
    pub ttur: bool,
    /// The adversarial loss: hinge (SPADE), lsgan (pix2pixHD) or vanilla (pix2pix).
    pub gan_mode: GanMode,
    /// Weight of the discriminator feature-matching loss.
    pub lambda_feat: f64,
    /// Weight of the VGG perceptual loss (0: off, no VGG weights needed).
    pub lambda_vgg: f64,
    /// Weight of the VAE encoder's KL divergence (SPADE with use_vae).
    pub lambda_kld: f64,
    /// Weight of pix2pix's L1 loss to the photo.
    pub lambda_l1: f64,
    /// SPADE: weight of a class-balanced L1 to the photo (`train::losses::class_balanced_l1`:
    /// each class in the batch weighs the same in total, so rare classes take their photo's
    /// colour); 0 is the published SPADE, without it.
    pub lambda_class_l1: f64,
    /// SPADE: OASIS's segmentation discriminator (`train::segmentation_loss`): D sees the image
    /// alone and labels each patch with its class or "fake"; a class-balanced cross-entropy
    /// replaces the GAN loss (`gan_mode` is not used). False: the published conditional D.
    pub segmentation_d: bool,
    /// VGG16/VGG19 `features.*` safetensors; default: the shared VGG16 file.
    pub vgg_weights: Option<PathBuf>,
    /// How images are normalised before the VGG (as each published loss does).
    pub vgg_input: VggInput,
    /// pix2pixHD: iterations during which only the local enhancer trains (global part frozen).
    pub niter_fix_global: u64,
    /// pix2pix with `netG: unet_hier`: the first N iterations train the global U-Net alone (the
    /// generated image is its enlarged output), then both U-Nets train together: global first,
    /// then the pair (the reverse of pix2pixHD's `niter_fix_global`).
    pub niter_global_first: u64,
    /// pix2pixHD's `--load_pretrain`, for every family: a trained generator (a bundle folder,
    /// or a `.safetensors` / `.pth` state dict) whose weights start this run where names and
    /// shapes match, e.g. a global generator under a local enhancer, or an earlier run's bundle
    /// (with its style encoder and discriminators when it has them).
    pub load_pretrain: Option<PathBuf>,
    /// Decay of a running average of the generator's (and style encoder's) weights, which the
    /// bundle then stores (`train::average`), e.g. 0.999; none ships the last weights. With
    /// `eval_every`, the current weights are scored too (`RUN_DIR/current/`).
    pub average_decay: Option<f64>,
    /// Seeds every random draw of the run (weights, data order, crops, noise).
    pub seed: u64,
    /// Every n-th pair (sorted by name, starting with the first) is held out for validation
    /// and never trained on; 0 trains on every pair. The held-out names go to `holdout.txt`.
    pub holdout_every: u32,
    /// Iterations between lines of losses.jsonl.
    pub log_every: u64,
    /// Iterations between sample grids in samples/.
    pub sample_every: u64,
    /// Iterations between checkpoints (each also refreshes the bundle in model/).
    pub checkpoint_every: u64,
    /// Every n iterations (and at the end), FID and KID of the current generator on the
    /// held-out pairs (needs `holdout_every`), written to `losses.jsonl` and the bundle's
    /// `model.json`; 0 never evaluates.
    pub eval_every: u64,
    /// Evaluation size WxH (default: 512 wide at the data's aspect, as `scenepaint evaluate`).
    pub eval_size: Option<(u32, u32)>,
    /// The FID network, `inception-2015-12-05.pt` (default: `scenepaint::eval::find_network`).
    pub fid_network: Option<PathBuf>,
    /// Keep a copy of the bundle with the lowest FID so far in `RUN_DIR/best/`.
    pub keep_best_fid: bool,
    /// DiffAugment before the discriminator (`train::diff_augment`), a comma-separated
    /// policy of `color`, `translation`, `cutout`; none: the images as they are. SPADE only.
    pub diff_augment: Option<String>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            net: NetFamily::Spade,
            preset: "spade-compact".into(),
            network: json!({}),
            iters: 20_000,
            decay_start: None,
            batch_size: 1,
            load_width: 286,
            load_height: 286,
            crop_width: 256,
            crop_height: 256,
            flip: true,
            lr: 2e-4,
            beta1: 0.0,
            beta2: 0.9,
            ttur: true,
            gan_mode: GanMode::Hinge,
            lambda_feat: 10.0,
            lambda_vgg: 10.0,
            lambda_kld: 0.05,
            lambda_l1: 0.0,
            lambda_class_l1: 0.0,
            segmentation_d: false,
            vgg_weights: None,
            vgg_input: VggInput::CaffeBgr,
            niter_fix_global: 0,
            niter_global_first: 0,
            load_pretrain: None,
            average_decay: None,
            seed: 0,
            holdout_every: 0,
            log_every: 10,
            sample_every: 500,
            checkpoint_every: 500,
            eval_every: 0,
            eval_size: None,
            fid_network: None,
            keep_best_fid: false,
            diff_augment: None,
        }
    }
}

impl TrainConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_str(&text).map_err(|e| Error::Json {
            path: path.into(),
            message: e.to_string(),
        })
    }

    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| Error::msg(format!("config: {e}")))
    }

    pub fn decay_start(&self) -> u64 {
        self.decay_start.unwrap_or(self.iters / 2)
    }

    /// The learning-rate factor at `iteration`: 1, then linear to 0 from `decay_start` to `iters`.
    pub fn lr_factor(&self, iteration: u64) -> f64 {
        let start = self.decay_start();
        if iteration < start || self.iters <= start {
            return 1.0;
        }
        1.0 - (iteration - start) as f64 / (self.iters - start) as f64
    }

    /// (lr_G, lr_D) at `iteration`, with TTUR when enabled.
    pub fn learning_rates(&self, iteration: u64) -> (f64, f64) {
        let lr = self.lr * self.lr_factor(iteration);
        if self.ttur {
            (lr / 2.0, lr * 2.0)
        } else {
            (lr, lr)
        }
    }

    /// Rejects settings that cannot train, naming the field.
    pub fn validate(&self) -> Result<()> {
        let fail = |what: &str| Err(Error::msg(format!("training config: {what}")));
        if self.batch_size == 0 || self.iters == 0 {
            return fail("batch_size and iters must be at least 1");
        }
        if let Some(decay) = self.average_decay.filter(|d| !(0.0..1.0).contains(d)) {
            return fail(&format!("average_decay must be in [0, 1), found {decay}"));
        }
        let max = crate::image_limits::MAX_PHOTO_SIDE;
        for (name, side) in [
            ("crop_width", self.crop_width),
            ("crop_height", self.crop_height),
            ("load_width", self.load_width),
            ("load_height", self.load_height),
        ] {
            if !(16..=max).contains(&side) {
                return fail(&format!("{name} is {side}; it must be 16 to {max} pixels"));
            }
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return fail(&format!("lr is {}; it must be a positive number", self.lr));
        }
        for (name, beta) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&beta) {
                return fail(&format!("{name} is {beta}; it must be in [0, 1)"));
            }
        }
        for (name, weight) in [
            ("lambda_feat", self.lambda_feat),
            ("lambda_vgg", self.lambda_vgg),
            ("lambda_kld", self.lambda_kld),
            ("lambda_l1", self.lambda_l1),
            ("lambda_class_l1", self.lambda_class_l1),
        ] {
            if !(weight.is_finite() && weight >= 0.0) {
                return fail(&format!("{name} is {weight}; it must be 0 or more"));
            }
        }
        if self.crop_width > self.load_width || self.crop_height > self.load_height {
            return fail("crop size must not exceed the load size");
        }
        if self.log_every == 0 || self.sample_every == 0 || self.checkpoint_every == 0 {
            return fail("log_every, sample_every and checkpoint_every must be at least 1");
        }
        if self.eval_every > 0 && self.holdout_every == 0 {
            return fail("eval_every needs held-out pairs to evaluate on: set holdout_every too");
        }
        let hierarchical = self.net == NetFamily::Pix2pix
            && self.network.get("netG").and_then(|v| v.as_str()) == Some("unet_hier");
        if self.niter_global_first > 0 && !hierarchical {
            return fail(&format!(
                "niter_global_first is {}, but only pix2pix with netG unet_hier has a global U-Net to train first",
                self.niter_global_first
            ));
        }
        if self.keep_best_fid && self.eval_every == 0 {
            return fail("keep_best_fid needs eval_every > 0");
        }
        if let Some(policy) = &self.diff_augment {
            crate::train::diff_augment::Policy::parse(policy)?;
            if self.net != NetFamily::Spade {
                return fail("diff_augment is implemented for the SPADE family only");
            }
        }
        if self.lambda_class_l1 > 0.0 && self.net != NetFamily::Spade {
            return fail("lambda_class_l1 is implemented for the SPADE family only");
        }
        if self.segmentation_d && self.net != NetFamily::Spade {
            return fail("segmentation_d is implemented for the SPADE family only");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_settings_per_family() {
        let spade = preset("spade").unwrap();
        assert_eq!(
            (spade.beta1, spade.beta2, spade.ttur, spade.gan_mode),
            (0.0, 0.9, true, GanMode::Hinge)
        );
        assert_eq!(spade.learning_rates(0), (1e-4, 4e-4));
        let p2p = preset("pix2pix").unwrap();
        assert_eq!(
            (p2p.beta1, p2p.lr, p2p.lambda_l1, p2p.gan_mode),
            (0.5, 2e-4, 100.0, GanMode::Vanilla)
        );
        let hd = preset("pix2pixhd").unwrap();
        assert_eq!(
            (hd.gan_mode, hd.beta1, hd.beta2, hd.lr, hd.ttur),
            (GanMode::LeastSquares, 0.5, 0.999, 2e-4, false)
        );
        assert_eq!((hd.lambda_feat, hd.lambda_vgg), (10.0, 10.0));
        for name in PRESETS {
            assert!(
                !preset_description(name).is_empty(),
                "{name} has no description"
            );
        }
        for name in PRESETS {
            preset(name).unwrap().validate().unwrap();
        }
        for net in [NetFamily::Spade, NetFamily::Pix2pixhd, NetFamily::Pix2pix] {
            let names = presets_of(net);
            let expected = if net == NetFamily::Pix2pix { 4 } else { 3 };
            assert_eq!(names.len(), expected, "{net:?}: {names:?}");
            assert!(names.contains(&default_preset(net)));
        }
        assert!(preset("nope")
            .unwrap_err()
            .to_string()
            .contains("spade-compact"));
    }

    #[test]
    fn linear_decay_over_the_second_half() {
        let config = TrainConfig {
            iters: 100,
            ttur: false,
            ..TrainConfig::default()
        };
        assert_eq!(config.lr_factor(0), 1.0);
        assert_eq!(config.lr_factor(49), 1.0);
        assert_eq!(config.lr_factor(50), 1.0);
        assert!((config.lr_factor(75) - 0.5).abs() < 1e-12);
        assert!((config.lr_factor(99) - 0.02).abs() < 1e-12);
    }
}

//! The options of a pix2pixHD run (NVIDIA/pix2pixHD `options/base_options.py` and
//! `train_options.py`, the published names): the generator (global, or local enhancers
//! around it), the multi-scale discriminator and the label input, read from a training
//! config's `network` object and checked against its crop.
use super::config::TrainConfig;
use crate::error::{Error, Result};
use crate::nets::encoding::LabelChannels;
use crate::nets::pix2pixhd::{LocalOptions, MultiscaleOptions};
use crate::nets::semantic::SemanticOptions;

/// The options of a pix2pixHD run: generator, discriminator and the label input.
#[derive(Debug, Clone, PartialEq)]
pub struct HdOptions {
    /// The generator; `n_local_enhancers` 0 means the global generator alone.
    pub generator: LocalOptions,
    pub discriminator: MultiscaleOptions,
    pub semantic: SemanticOptions,
}

fn parse<T: serde::de::DeserializeOwned>(network: &serde_json::Value, what: &str) -> Result<T> {
    serde_json::from_value(network.clone())
        .map_err(|e| Error::msg(format!("pix2pixHD {what} options in {network}: {e}")))
}

/// The number of local enhancers: published `netG` (`global`, the default, or `local`), else
/// `n_local_enhancers` as given (0 when absent, the published `netG global`).
fn local_enhancers(network: &serde_json::Value, generator: &LocalOptions) -> Result<usize> {
    let given = network.get("n_local_enhancers").is_some();
    match network.get("netG").and_then(|v| v.as_str()) {
        Some("global") => Ok(0),
        Some("local") => Ok(generator.n_local_enhancers),
        None if given => Ok(generator.n_local_enhancers),
        None => Ok(0),
        Some(other) => Err(Error::msg(format!(
            "pix2pixHD netG `{other}`: expected global or local"
        ))),
    }
}

impl HdOptions {
    /// The options of `config.network` (published names: `ngf`, `n_downsample_global`,
    /// `n_blocks_global`, `n_local_enhancers`, `n_blocks_local`, `norm`, `ndf`, `n_layers_D`,
    /// `num_D`, `no_ganFeat_loss`, `no_instance`) with the label channels of the data.
    pub fn from_config(
        config: &TrainConfig,
        label_channels: &LabelChannels,
        has_instances: bool,
    ) -> Result<Self> {
        let network = &config.network;
        let flag = |name: &str| network.get(name).and_then(|v| v.as_bool());
        let no_instance = flag("no_instance").unwrap_or(!has_instances);
        if !no_instance && !has_instances {
            return Err(Error::msg(
                "pix2pixHD: no_instance is false but the dataset has no instance maps",
            ));
        }
        let semantic = SemanticOptions::for_labels(label_channels, no_instance);
        let mut generator: LocalOptions = parse(network, "generator")?;
        generator.n_local_enhancers = local_enhancers(network, &generator)?;
        generator.global.input_nc = semantic.semantic_nc();
        generator.global.output_nc = 3;
        let mut discriminator: MultiscaleOptions = parse(network, "discriminator")?;
        discriminator.input_nc = semantic.semantic_nc() + 3;
        discriminator.intermediate_features = !flag("no_ganFeat_loss").unwrap_or(false);
        // The losses take logits: `bce_with_logits` is the published sigmoid + BCE.
        discriminator.use_sigmoid = false;
        let options = Self {
            generator,
            discriminator,
            semantic,
        };
        options.check(config)?;
        Ok(options)
    }

    fn check(&self, config: &TrainConfig) -> Result<()> {
        let n_local = self.generator.n_local_enhancers;
        let multiple = 1u32 << (self.generator.global.n_downsample_global + n_local);
        if !config.crop_width.is_multiple_of(multiple)
            || !config.crop_height.is_multiple_of(multiple)
        {
            return Err(Error::msg(format!(
                "pix2pixHD with {} downsamplings and {n_local} local enhancer(s) needs crop sides divisible by {multiple}, found {}x{}",
                self.generator.global.n_downsample_global, config.crop_width, config.crop_height
            )));
        }
        if config.niter_fix_global > 0 && n_local == 0 {
            return Err(Error::msg(format!(
                "pix2pixHD: niter_fix_global {} fixes the global generator while a local enhancer trains, but n_local_enhancers is 0",
                config.niter_fix_global
            )));
        }
        Ok(())
    }

    /// The generator's options as the bundle stores them: `GlobalOptions` for the global
    /// generator alone (`pix2pixhd_global`), `LocalOptions` with a local enhancer.
    pub fn generator_json(&self) -> Result<serde_json::Value> {
        let value = if self.generator.n_local_enhancers == 0 {
            serde_json::to_value(&self.generator.global)
        } else {
            serde_json::to_value(&self.generator)
        };
        value.map_err(|e| Error::msg(format!("pix2pixHD generator options: {e}")))
    }

    /// The weight of each discriminator layer in feature matching: `4 / (n_layers_D + 1)`.
    pub fn feature_layer_weight(&self) -> f64 {
        4.0 / (self.discriminator.n_layers as f64 + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::config::preset;
    use serde_json::json;

    fn ycor_encoding() -> LabelChannels {
        LabelChannels::plain(9)
    }

    fn with_network(name: &str, network: serde_json::Value) -> TrainConfig {
        TrainConfig {
            network,
            ..preset(name).unwrap()
        }
    }

    #[test]
    fn presets_resolve_to_the_published_networks() {
        let full =
            HdOptions::from_config(&preset("pix2pixhd").unwrap(), &ycor_encoding(), false).unwrap();
        assert_eq!(full.generator.n_local_enhancers, 1);
        assert_eq!(
            (
                full.generator.global.ngf,
                full.generator.global.n_blocks_global
            ),
            (32, 9)
        );
        assert_eq!(full.generator.global.input_nc, 9);
        assert_eq!(
            (
                full.discriminator.num_d,
                full.discriminator.ndf,
                full.discriminator.input_nc
            ),
            (3, 64, 12)
        );
        assert!(full.discriminator.intermediate_features);
        assert_eq!(full.generator_json().unwrap()["n_local_enhancers"], 1);
        for name in ["pix2pixhd-compact", "pix2pixhd-tiny"] {
            let options =
                HdOptions::from_config(&preset(name).unwrap(), &ycor_encoding(), true).unwrap();
            assert_eq!(options.generator.n_local_enhancers, 0, "{name}");
            // Instances in the data: one boundary channel after the 9 classes.
            assert_eq!(options.generator.global.input_nc, 10, "{name}");
            let json = options.generator_json().unwrap();
            assert!(json.get("n_local_enhancers").is_none(), "{json}");
            assert_eq!(json["input_nc"], 10);
        }
        assert!((full.feature_layer_weight() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn net_g_and_n_local_enhancers_choose_the_generator() {
        let count = |network| {
            HdOptions::from_config(
                &with_network("pix2pixhd-tiny", network),
                &ycor_encoding(),
                false,
            )
            .map(|o| o.generator.n_local_enhancers)
        };
        assert_eq!(count(json!({})).unwrap(), 0);
        assert_eq!(count(json!({"netG": "local"})).unwrap(), 1);
        assert_eq!(count(json!({"n_local_enhancers": 2})).unwrap(), 2);
        assert_eq!(
            count(json!({"netG": "global", "n_local_enhancers": 2})).unwrap(),
            0
        );
        assert!(count(json!({"netG": "unet"}))
            .unwrap_err()
            .to_string()
            .contains("unet"));
    }

    #[test]
    fn impossible_settings_are_refused_with_the_reason() {
        let hd = |config: TrainConfig, instances| {
            HdOptions::from_config(&config, &ycor_encoding(), instances)
                .unwrap_err()
                .to_string()
        };
        let odd_crop = TrainConfig {
            crop_width: 60,
            ..preset("pix2pixhd-tiny").unwrap()
        };
        assert!(hd(odd_crop, false).contains("divisible by 8"));
        let fixed_without_local = TrainConfig {
            niter_fix_global: 5,
            ..preset("pix2pixhd-tiny").unwrap()
        };
        assert!(hd(fixed_without_local, false).contains("n_local_enhancers is 0"));
        let instances = with_network("pix2pixhd-tiny", json!({"no_instance": false}));
        assert!(hd(instances, false).contains("no instance maps"));
    }
}

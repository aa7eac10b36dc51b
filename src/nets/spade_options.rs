//! SPADE's options (Park et al., CVPR 2019; NVlabs/SPADE `options/base_options.py`, the same
//! names and defaults) and the normalization strings they hold (`norm_G` such as
//! `spectralspadesyncbatch3x3`, `norm_D` / `norm_E` such as `spectralinstance`), parsed as
//! `models/networks/normalization.py` reads them. The layers they configure are in `spade.rs`.
use serde::{Deserialize, Serialize};

use super::semantic::SemanticOptions;
use crate::{Error, Result};

/// `--num_upsampling_layers`: how many times the generator doubles its latent grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpsamplingLayers {
    /// 5 doublings.
    #[default]
    Normal,
    /// 6: an extra doubling between the two middle blocks.
    More,
    /// 7: also an extra block `up_4` at the end.
    Most,
}

impl UpsamplingLayers {
    pub fn count(self) -> u32 {
        match self {
            Self::Normal => 5,
            Self::More => 6,
            Self::Most => 7,
        }
    }
}

/// The published SPADE options (same names and defaults as `options/base_options.py` with
/// the SPADE generator), plus `spade_hidden_nc`, the width of SPADE's shared MLP (hard-coded
/// 128 in the published code) so that compact models can shrink it. Options the networks do
/// not use (losses, training) are ignored when deserializing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SpadeOptions {
    /// Generator width: channels of its last layers (the first have 16x as many).
    pub ngf: usize,
    /// Discriminator width: channels of each discriminator's first layer.
    pub ndf: usize,
    /// Label classes, without the "don't care" class.
    pub label_nc: usize,
    /// Channels of the generated image (3: RGB).
    pub output_nc: usize,
    /// The labels have a "don't care" class: one more input channel.
    pub contain_dontcare_label: bool,
    /// No instance maps: the boundary channel is left out of the input.
    pub no_instance: bool,
    /// A style code z from a VAE encoder (random or from a photo) feeds the generator.
    pub use_vae: bool,
    /// Length of the style code z.
    pub z_dim: usize,
    /// Width of the generated image, in pixels.
    pub crop_size: usize,
    /// Width over height of the generated image.
    pub aspect_ratio: f64,
    /// normal, more or most: how many upsampling steps (5, 6 or 7), i.e. how small the starting grid is.
    pub num_upsampling_layers: UpsamplingLayers,
    /// The generator's norms: spectral norm on its convs and the SPADE parameter-free norm (spectralspadesyncbatch3x3, spectralspadeinstance3x3, ...).
    #[serde(rename = "norm_G")]
    pub norm_g: String,
    /// The discriminators' norm (spectralinstance: spectral norm and instance norm).
    #[serde(rename = "norm_D")]
    pub norm_d: String,
    /// The VAE encoder's norm.
    #[serde(rename = "norm_E")]
    pub norm_e: String,
    /// Discriminators at successively halved resolutions.
    #[serde(rename = "num_D")]
    pub num_d: usize,
    /// Strided layers of each discriminator.
    #[serde(rename = "n_layers_D")]
    pub n_layers_d: usize,
    /// Discriminator architecture (n_layer: the PatchGAN of pix2pixHD).
    #[serde(rename = "netD_subarch")]
    pub net_d_subarch: String,
    /// Leave out the discriminator feature-matching loss.
    #[serde(rename = "no_ganFeat_loss")]
    pub no_gan_feat_loss: bool,
    /// Channels of the shared convolution inside each SPADE norm.
    pub spade_hidden_nc: usize,
}

impl Default for SpadeOptions {
    fn default() -> Self {
        Self {
            ngf: 64,
            ndf: 64,
            label_nc: 182,
            output_nc: 3,
            contain_dontcare_label: false,
            no_instance: false,
            use_vae: false,
            z_dim: 256,
            crop_size: 256,
            aspect_ratio: 1.0,
            num_upsampling_layers: UpsamplingLayers::Normal,
            norm_g: "spectralspadesyncbatch3x3".into(),
            norm_d: "spectralinstance".into(),
            norm_e: "spectralinstance".into(),
            num_d: 2,
            n_layers_d: 4,
            net_d_subarch: "n_layer".into(),
            no_gan_feat_loss: false,
            spade_hidden_nc: 128,
        }
    }
}

impl SpadeOptions {
    /// Parses an `options` object (a reference case, a checkpoint's config).
    pub fn from_json(value: &serde_json::Value) -> Result<Self> {
        Self::deserialize(value).map_err(|e| Error::msg(format!("SPADE options: {e}")))
    }

    pub fn semantic(&self) -> SemanticOptions {
        SemanticOptions {
            label_nc: self.label_nc,
            contain_dontcare_label: self.contain_dontcare_label,
            no_instance: self.no_instance,
        }
    }

    /// Channels of the generator's semantic input (`opt.semantic_nc`).
    pub fn semantic_nc(&self) -> usize {
        self.semantic().semantic_nc()
    }

    /// Channels the discriminator sees: the semantic input concatenated with an image.
    pub fn discriminator_input_nc(&self) -> usize {
        self.semantic_nc() + self.output_nc
    }

    /// The latent grid (sw, sh): `sw = crop_size / 2^n`, `sh = round(sw / aspect_ratio)` with
    /// Python's round-half-to-even.
    pub fn latent_size(&self) -> Result<(usize, usize)> {
        let sw = self.crop_size >> self.num_upsampling_layers.count();
        let sh = (sw as f64 / self.aspect_ratio).round_ties_even();
        if sw == 0 || sh.is_nan() || sh < 1.0 {
            return Err(Error::msg(format!(
                "SPADE: crop_size {} with {} upsampling layers and aspect_ratio {} gives an empty latent grid ({sw} x {sh})",
                self.crop_size,
                self.num_upsampling_layers.count(),
                self.aspect_ratio
            )));
        }
        Ok((sw, sh as usize))
    }

    /// Output size (height, width) of the generator.
    pub fn output_size(&self) -> Result<(usize, usize)> {
        let (sw, sh) = self.latent_size()?;
        let scale = 1usize << self.num_upsampling_layers.count();
        Ok((sh * scale, sw * scale))
    }
}

/// The parameter-free normalization inside SPADE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamFreeNorm {
    Instance,
    /// `batch` and `syncbatch` (batch norm on a single device).
    Batch,
}

/// A parsed `norm_G` string such as `spectralspadesyncbatch3x3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpadeNormConfig {
    pub spectral: bool,
    pub param_free: ParamFreeNorm,
    pub kernel: usize,
}

impl SpadeNormConfig {
    pub fn parse(norm_g: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::msg(format!(
                "norm_G '{norm_g}': {why}; expected e.g. 'spectralspadesyncbatch3x3'"
            ))
        };
        let spectral = norm_g.contains("spectral");
        let spade = norm_g.replace("spectral", "");
        let rest = spade
            .strip_prefix("spade")
            .ok_or_else(|| bad("does not start with 'spade'"))?;
        let digits_at = rest
            .find(|c: char| c.is_ascii_digit())
            .ok_or_else(|| bad("no kernel size"))?;
        let param_free = match &rest[..digits_at] {
            "instance" => ParamFreeNorm::Instance,
            "batch" | "syncbatch" => ParamFreeNorm::Batch,
            other => return Err(bad(&format!("unknown parameter-free norm '{other}'"))),
        };
        let kernel = rest[digits_at..digits_at + 1]
            .parse::<usize>()
            .map_err(|_| bad("bad kernel size"))?;
        if kernel % 2 == 0 || !rest[digits_at + 1..].starts_with('x') {
            return Err(bad("kernel size must be odd and written KxK"));
        }
        Ok(Self {
            spectral,
            param_free,
            kernel,
        })
    }
}

/// The norm after a non-SPADE convolution (`get_nonspade_norm_layer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubNorm {
    None,
    Instance,
    /// `batch` or `sync_batch`: affine batch norm.
    Batch,
}

/// A parsed `norm_D` / `norm_E` string such as `spectralinstance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NonSpadeNormConfig {
    pub spectral: bool,
    pub sub: SubNorm,
}

impl NonSpadeNormConfig {
    pub fn parse(norm: &str) -> Result<Self> {
        let (spectral, sub) = match norm.strip_prefix("spectral") {
            Some(rest) => (true, rest),
            None => (false, norm),
        };
        let sub = match sub {
            "" | "none" => SubNorm::None,
            "instance" => SubNorm::Instance,
            "batch" | "sync_batch" | "syncbatch" => SubNorm::Batch,
            other => {
                return Err(Error::msg(format!(
                "norm '{norm}': unknown normalization '{other}'; expected e.g. 'spectralinstance'"
            )))
            }
        };
        Ok(Self { spectral, sub })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn norm_g_strings_parse_like_the_published_regex() {
        let c = SpadeNormConfig::parse("spectralspadesyncbatch3x3").unwrap();
        assert_eq!(
            c,
            SpadeNormConfig {
                spectral: true,
                param_free: ParamFreeNorm::Batch,
                kernel: 3
            }
        );
        let c = SpadeNormConfig::parse("spadeinstance5x5").unwrap();
        assert_eq!(
            c,
            SpadeNormConfig {
                spectral: false,
                param_free: ParamFreeNorm::Instance,
                kernel: 5
            }
        );
        assert!(SpadeNormConfig::parse("spectralinstance").is_err());
        assert!(SpadeNormConfig::parse("spadegroup3x3").is_err());
    }

    #[test]
    fn non_spade_norms_parse() {
        let c = NonSpadeNormConfig::parse("spectralinstance").unwrap();
        assert_eq!(
            c,
            NonSpadeNormConfig {
                spectral: true,
                sub: SubNorm::Instance
            }
        );
        let c = NonSpadeNormConfig::parse("batch").unwrap();
        assert_eq!(
            c,
            NonSpadeNormConfig {
                spectral: false,
                sub: SubNorm::Batch
            }
        );
        assert!(NonSpadeNormConfig::parse("spectralgroup").is_err());
    }

    #[test]
    fn latent_size_follows_crop_and_aspect_ratio() {
        let mut o = SpadeOptions {
            crop_size: 256,
            aspect_ratio: 2.0,
            ..Default::default()
        };
        assert_eq!(o.latent_size().unwrap(), (8, 4));
        assert_eq!(o.output_size().unwrap(), (128, 256));
        o.num_upsampling_layers = UpsamplingLayers::Most;
        o.aspect_ratio = 1.0;
        assert_eq!(o.latent_size().unwrap(), (2, 2));
        // Python rounds halves to even: round(2.5) == 2.
        o.num_upsampling_layers = UpsamplingLayers::Normal;
        o.crop_size = 160;
        o.aspect_ratio = 2.0;
        assert_eq!(o.latent_size().unwrap(), (5, 2));
        o.crop_size = 16;
        assert!(o.latent_size().is_err());
    }

    #[test]
    fn options_read_published_names_and_ignore_others() {
        let json = serde_json::json!({"ngf": 4, "norm_G": "spectralspadebatch3x3", "num_D": 3,
            "num_upsampling_layers": "most", "gan_mode": "hinge"});
        let o = SpadeOptions::from_json(&json).unwrap();
        assert_eq!(
            (o.ngf, o.num_d, o.norm_g.as_str()),
            (4, 3, "spectralspadebatch3x3")
        );
        assert_eq!(o.num_upsampling_layers, UpsamplingLayers::Most);
        assert_eq!(o.spade_hidden_nc, 128);
    }
}

//! The generator networks a model bundle can hold, as one type: [`NetKind`] names the family
//! (`model.json`'s `net`), [`Generator`] is a built Candle generator of any family
//! (`pix2pix.rs`, `pix2pixhd.rs`, `spade_generator.rs`) with the calls inference needs.
use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, ModuleT, Tensor};
use serde::{Deserialize, Serialize};

use super::spade_generator::SpadeGenerator;
use super::spade_options::SpadeOptions;
use super::{pix2pix, pix2pixhd, weights};
use crate::{Error, Result};

/// The generator family of a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetKind {
    Pix2pixUnet,
    Pix2pixhdGlobal,
    Pix2pixhdLocal,
    Spade,
}

impl std::str::FromStr for NetKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| {
            Error::msg(format!("unknown net `{s}`; expected pix2pix_unet, pix2pixhd_global, pix2pixhd_local or spade"))
        })
    }
}

/// A loaded generator of any family.
// One exists per loaded model: the variants' size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Generator {
    Pix2pixUnet(pix2pix::UnetGenerator),
    Pix2pixhdGlobal(pix2pixhd::GlobalGenerator),
    Pix2pixhdLocal(pix2pixhd::LocalEnhancer),
    /// SPADE's output size is fixed by its options (crop_size, aspect_ratio).
    Spade(SpadeGenerator),
}

pub(crate) fn parse_options<T: serde::de::DeserializeOwned>(
    options: &serde_json::Value,
    what: &str,
) -> Result<T> {
    serde_json::from_value(options.clone()).map_err(|e| Error::msg(format!("{what} options: {e}")))
}

impl Generator {
    /// Builds the generator of `net` with `options`, its weights from `vb`.
    pub fn build(
        net: NetKind,
        options: &serde_json::Value,
        vb: candle_nn::VarBuilder,
    ) -> Result<Self> {
        Ok(match net {
            NetKind::Pix2pixUnet => {
                let opts: pix2pix::UnetOptions = parse_options(options, "pix2pix_unet")?;
                Self::Pix2pixUnet(pix2pix::UnetGenerator::new(&opts, vb)?)
            }
            NetKind::Pix2pixhdGlobal => {
                let opts: pix2pixhd::GlobalOptions = parse_options(options, "pix2pixhd_global")?;
                Self::Pix2pixhdGlobal(pix2pixhd::GlobalGenerator::new(&opts, vb)?)
            }
            NetKind::Pix2pixhdLocal => {
                let opts: pix2pixhd::LocalOptions = parse_options(options, "pix2pixhd_local")?;
                Self::Pix2pixhdLocal(pix2pixhd::LocalEnhancer::new(&opts, vb)?)
            }
            NetKind::Spade => {
                let opts = SpadeOptions::from_json(options)?;
                Self::Spade(SpadeGenerator::new(&opts, vb)?)
            }
        })
    }

    /// Builds the generator from tensors read out of `path`, after checking they are exactly
    /// the ones it needs.
    pub fn from_tensors(
        net: NetKind,
        options: &serde_json::Value,
        path: &Path,
        tensors: HashMap<String, Tensor>,
        device: &Device,
    ) -> Result<Self> {
        weights::load_from_tensors(path, tensors, device, |vb| Self::build(net, options, vb))
    }

    /// A generator with PyTorch's default random init, its weights in the returned `VarMap`.
    pub fn random(
        net: NetKind,
        options: &serde_json::Value,
        device: &Device,
    ) -> Result<(Self, candle_nn::VarMap)> {
        let varmap = candle_nn::VarMap::new();
        let vb = candle_nn::VarBuilder::from_varmap(&varmap, candle_core::DType::F32, device);
        Ok((Self::build(net, options, vb)?, varmap))
    }

    /// Input sides must be multiples of this.
    pub fn required_multiple(&self) -> usize {
        match self {
            Self::Pix2pixUnet(g) => g.required_multiple(),
            Self::Pix2pixhdGlobal(g) => g.required_multiple(),
            Self::Pix2pixhdLocal(g) => g.required_multiple(),
            Self::Spade(_) => 1,
        }
    }

    /// The (width, height) the generator needs, for families whose size is fixed.
    pub fn fixed_size(&self) -> Result<Option<(usize, usize)>> {
        match self {
            Self::Spade(g) => g.options().output_size().map(|(h, w)| Some((w, h))),
            _ => Ok(None),
        }
    }

    /// Eval-mode forward of an encoded (N, C, H, W) input; the image in [-1, 1]. `z` is the
    /// style code of SPADE VAE models and is ignored by the other families.
    pub fn forward(&self, input: &Tensor, z: Option<&Tensor>) -> Result<Tensor> {
        Ok(match self {
            Self::Pix2pixUnet(g) => g.forward_t(input, false)?,
            Self::Pix2pixhdGlobal(g) => g.forward_t(input, false)?,
            Self::Pix2pixhdLocal(g) => g.forward_t(input, false)?,
            Self::Spade(g) => g.forward_t(input, z, false)?,
        })
    }

    /// SPADE's options when this is a SPADE generator.
    pub fn spade_options(&self) -> Option<&SpadeOptions> {
        match self {
            Self::Spade(g) => Some(g.options()),
            _ => None,
        }
    }
}

//! Model bundles: a directory holding `model.json` (network kind, its complete options, the
//! palette it expects, how labels become its input, a free-form training record) and
//! `generator.safetensors` (+ `encoder.safetensors` for SPADE VAE models), weights under their
//! PyTorch names. [`Model`] loads one and turns a label map into an image. Format: docs/bundle.md.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::encoding::{self, InputEncoding};
use super::fast::{FastGenerator, InferencePath};
use super::spade_encoder::ConvEncoder;
use super::style_colours::{match_colours, ColourStats, StyleColours};

mod style;
use super::weights;
use crate::labelmap::LabelMap;
use crate::labels::Palette;
use crate::{Error, Result};
pub use style::PreparedStyle;

pub use super::generator::{Generator, NetKind};

pub const MANIFEST_FILE: &str = "model.json";
pub const GENERATOR_FILE: &str = "generator.safetensors";
pub const ENCODER_FILE: &str = "encoder.safetensors";
/// The discriminator(s) of the run that wrote the bundle: inference ignores it; `load_pretrain`
/// seeds a new run's discriminator from it, so a continued run need not start D afresh.
pub const DISCRIMINATOR_FILE: &str = "discriminator.safetensors";
pub const FORMAT_VERSION: u32 = 1;

/// The palette a model was trained with: a built-in name, or the palette JSON inline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PaletteRef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<serde_json::Value>,
}

impl PaletteRef {
    /// A reference that stores `palette` inline (for palettes that are not built in).
    pub fn inline(palette: &Palette) -> Result<Self> {
        let value = serde_json::to_value(palette)
            .map_err(|e| Error::msg(format!("palette {}: {e}", palette.name)))?;
        Ok(Self {
            name: palette.name.clone(),
            inline: Some(value),
        })
    }

    pub fn resolve(&self) -> Result<Palette> {
        match &self.inline {
            Some(value) => Palette::from_json(
                &value.to_string(),
                &format!("inline palette `{}`", self.name),
            ),
            None => Palette::builtin(&self.name),
        }
    }
}

/// `model.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelManifest {
    pub format_version: u32,
    pub net: NetKind,
    /// The network's complete options (our option structs, PyTorch option names).
    pub options: serde_json::Value,
    pub palette: PaletteRef,
    pub input_encoding: InputEncoding,
    /// Free-form: where the weights came from, dataset, epochs, losses...
    #[serde(default)]
    pub training: serde_json::Value,
}

impl ModelManifest {
    /// The manifest of a network made in memory (benchmarks, tests): a built-in palette by
    /// name, no training record.
    pub fn in_memory(
        net: NetKind,
        options: serde_json::Value,
        palette: &str,
        input_encoding: InputEncoding,
    ) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            net,
            options,
            palette: PaletteRef {
                name: palette.into(),
                inline: None,
            },
            input_encoding,
            training: serde_json::Value::Null,
        }
    }

    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let manifest: Self = serde_json::from_str(&text).map_err(|e| Error::Json {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if manifest.format_version != FORMAT_VERSION {
            return Err(Error::msg(format!(
                "{}: format_version {} is not supported (expected {FORMAT_VERSION})",
                path.display(),
                manifest.format_version
            )));
        }
        Ok(manifest)
    }

    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let path = dir.join(MANIFEST_FILE);
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::msg(format!("{}: {e}", path.display())))?;
        crate::atomic_file::write_text_atomic(&path, &text)
    }
}

/// Per-call choices of [`Model::translate`].
#[derive(Debug, Clone, Default)]
pub struct TranslateOptions {
    /// Seed of the random style code (SPADE VAE models); other families are deterministic.
    pub seed: u64,
    /// A photo whose style a SPADE VAE model copies (its encoder must be in the bundle);
    /// shared, as the painter passes the same photo with every frame.
    pub style: Option<std::sync::Arc<image::RgbImage>>,
    /// Keep the generator's own colours: no style colours (`nets::style_colours`) even where
    /// the model has them.
    pub generator_colours: bool,
}

/// A bundle loaded for inference.
#[derive(Debug, Clone)]
pub struct Model {
    pub manifest: ModelManifest,
    pub palette: Palette,
    generator: Generator,
    /// The generator rebuilt for the fast CPU path (`nets::fast`), used when present.
    fast: Option<FastGenerator>,
    /// The VAE style encoder of SPADE models trained with `use_vae`.
    encoder: Option<ConvEncoder>,
    /// Why style from a photo is unavailable, when the model has styles but no encoder.
    no_style_photo: Option<String>,
    /// The training photos' colour statistics random styles take (`style_colours.json`).
    style_colours: Option<StyleColours>,
    device: Device,
}

impl Model {
    /// Loads a bundle; on the CPU, inference takes the fast path unless
    /// `SCENEPAINT_INFERENCE=candle` is set.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        Self::load_with(dir, device, InferencePath::from_env())
    }

    /// Loads a bundle with an explicit choice of inference path.
    pub fn load_with(dir: &Path, device: &Device, inference: InferencePath) -> Result<Self> {
        check_is_bundle(dir)?;
        let manifest = ModelManifest::read(dir)?;
        let palette = manifest.palette.resolve()?;
        let path = dir.join(GENERATOR_FILE);
        let tensors = weights::read_tensors(&path)?;
        check_finite(&path, &tensors)?;
        let generator =
            Generator::from_tensors(manifest.net, &manifest.options, &path, tensors, device)?;
        let channels = manifest.input_encoding.channels();
        let expected = expected_input_channels(&manifest.options);
        if expected.is_some_and(|c| c != channels) {
            return Err(Error::msg(format!(
                "{}: input_encoding gives {channels} channels but the network's input_nc is {}",
                dir.join(MANIFEST_FILE).display(),
                expected.unwrap_or_default()
            )));
        }
        let encoder = load_encoder(dir, &generator, device)?;
        let uses_style = generator.spade_options().is_some_and(|o| o.use_vae);
        let no_style_photo = (uses_style && encoder.is_none()).then(|| {
            format!(
                "{}: the model has styles (use_vae) but no {ENCODER_FILE} beside it, so style from a photo is unavailable; random styles work",
                dir.display()
            )
        });
        let style_colours = match uses_style {
            true => StyleColours::read(dir)?,
            false => None,
        };
        let mut model = Self {
            manifest,
            palette,
            generator,
            fast: None,
            encoder,
            no_style_photo,
            style_colours,
            device: device.clone(),
        };
        model.set_inference_path(inference)?;
        Ok(model)
    }

    /// A model from a manifest and a built generator (no style encoder).
    pub fn from_generator(
        manifest: ModelManifest,
        generator: Generator,
        device: &Device,
        path: InferencePath,
    ) -> Result<Self> {
        let palette = manifest.palette.resolve()?;
        let mut model = Self {
            manifest,
            palette,
            generator,
            fast: None,
            encoder: None,
            no_style_photo: None,
            style_colours: None,
            device: device.clone(),
        };
        model.set_inference_path(path)?;
        Ok(model)
    }

    /// Switches between the fast CPU path and the plain Candle networks.
    pub fn set_inference_path(&mut self, path: InferencePath) -> Result<()> {
        self.fast = if path.uses_fast(&self.device) {
            Some(FastGenerator::from_generator(&self.generator)?)
        } else {
            None
        };
        Ok(())
    }

    /// "fast CPU" or "Candle": which implementation [`Self::translate`] runs.
    pub fn inference_path_name(&self) -> &'static str {
        if self.fast.is_some() {
            "fast CPU"
        } else {
            "Candle"
        }
    }

    /// True when the model has a style encoder (style from a photo).
    pub fn has_encoder(&self) -> bool {
        self.encoder.is_some()
    }

    /// Why style from a photo is unavailable for a model that has styles (a SPADE VAE
    /// bundle without its encoder), to say at load rather than at the first style photo.
    pub fn style_photo_unavailable(&self) -> Option<&str> {
        self.no_style_photo.as_deref()
    }

    /// True when the output depends on a style seed (SPADE VAE models).
    pub fn uses_style(&self) -> bool {
        self.generator.spade_options().is_some_and(|o| o.use_vae)
    }

    /// A generator output (1 x 3 x H x W) as the image of a `width` x `height` label map: given
    /// the style's colours (`target`) and resized (cubic, `output_resize`).
    pub fn output_image(
        &self,
        output: &Tensor,
        target: Option<&ColourStats>,
        (width, height): (usize, usize),
    ) -> Result<image::RgbImage> {
        let coloured;
        let output = match target {
            Some(target) => {
                coloured = match_colours(output, target)?;
                &coloured
            }
            None => output,
        };
        let resized = super::output_resize::resize_cubic(output, height, width)?;
        encoding::to_rgb_image(&resized)
    }

    /// The (width, height) the network runs at for a label map of `width` x `height`.
    pub fn network_size(&self, width: usize, height: usize) -> Result<(usize, usize)> {
        if let Some(size) = self.generator.fixed_size()? {
            return Ok(size);
        }
        let multiple = self.generator.required_multiple();
        Ok((
            encoding::nearest_multiple(width, multiple),
            encoding::nearest_multiple(height, multiple),
        ))
    }

    /// The fast SPADE generator, when inference takes the fast path on a SPADE model.
    pub fn fast_spade(&self) -> Option<&super::fast::spade_generator::FastSpade> {
        match &self.fast {
            Some(FastGenerator::Spade(g)) => Some(g),
            _ => None,
        }
    }

    /// The generator's input for `labels`, resized (nearest) to `(width, height)`.
    pub fn encode_labels(
        &self,
        labels: &LabelMap,
        (width, height): (usize, usize),
    ) -> Result<Tensor> {
        let ids = labels.resize_nearest(width as u32, height as u32).ids;
        encoding::encode(
            &ids,
            width,
            height,
            &self.manifest.input_encoding,
            |id| self.palette.rgb(id),
            &self.device,
        )
    }

    pub fn generator(&self) -> &Generator {
        &self.generator
    }

    /// Runs the generator on a label map. The map is resized (nearest) to the nearest sides the
    /// network accepts and the image is resized (cubic) back to the map's size.
    pub fn translate(
        &self,
        labels: &LabelMap,
        options: &TranslateOptions,
    ) -> Result<image::RgbImage> {
        self.translate_with(labels, &self.prepare_style(options)?)
    }

    /// [`Model::translate`] with a style prepared once ([`Model::prepare_style`]), for many
    /// label maps in the same style.
    pub fn translate_with(
        &self,
        labels: &LabelMap,
        style: &PreparedStyle,
    ) -> Result<image::RgbImage> {
        let (width, height) = (labels.width as usize, labels.height as usize);
        let input = self.encode_labels(labels, self.network_size(width, height)?)?;
        let output = match &self.fast {
            Some(fast) => fast.forward(&input, style.code.as_ref())?,
            None => self.generator.forward(&input, style.code.as_ref())?,
        };
        self.output_image(&output, style.colours.as_ref(), (width, height))
    }
}

/// A clear error for a folder that is not a bundle: missing, a file, or a folder of bundles
/// (naming them).
fn check_is_bundle(dir: &Path) -> Result<()> {
    if dir.join(MANIFEST_FILE).is_file() {
        return Ok(());
    }
    if !dir.exists() {
        return Err(Error::msg(format!(
            "{}: no such model folder",
            dir.display()
        )));
    }
    let mut inside: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join(MANIFEST_FILE).is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    inside.sort();
    let hint = if inside.is_empty() {
        "a model is the folder `scenepaint train` or `scenepaint bundle` writes".to_string()
    } else {
        format!(
            "it holds the model folder(s) {}: pass one of them",
            inside.join(", ")
        )
    };
    Err(Error::msg(format!(
        "{}: not a model bundle (no {MANIFEST_FILE}); {hint}",
        dir.display()
    )))
}

/// `encoder.safetensors` beside a SPADE VAE generator, checked against the encoder's layout.
fn load_encoder(dir: &Path, generator: &Generator, device: &Device) -> Result<Option<ConvEncoder>> {
    let Some(options) = generator.spade_options().filter(|o| o.use_vae) else {
        return Ok(None);
    };
    let path = dir.join(ENCODER_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let tensors = weights::read_tensors(&path)?;
    check_finite(&path, &tensors)?;
    weights::load_from_tensors(&path, tensors, device, |vb| ConvEncoder::new(options, vb)).map(Some)
}

/// Refuses weights with NaN or infinite values (a diverged or damaged file would translate
/// every painting to black).
fn check_finite(path: &Path, tensors: &HashMap<String, Tensor>) -> Result<()> {
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    for name in names {
        let tensor = &tensors[name];
        if !tensor.dtype().is_float() {
            continue;
        }
        let values = tensor
            .flatten_all()?
            .to_dtype(candle_core::DType::F32)?
            .to_vec1::<f32>()?;
        let bad = values.iter().filter(|v| !v.is_finite()).count();
        if bad > 0 {
            return Err(Error::Weights {
                path: path.to_path_buf(),
                message: format!(
                    "tensor {name} has {bad} NaN or infinite value(s) of {}; the weights are damaged (a diverged run?): use an earlier bundle or retrain",
                    values.len()
                ),
            });
        }
    }
    Ok(())
}

/// `input_nc` from the options, when the family has one.
fn expected_input_channels(options: &serde_json::Value) -> Option<usize> {
    options
        .get("input_nc")
        .and_then(|v| v.as_u64())
        .map(|v| v as usize)
}

/// Writes a bundle: `model.json` and the generator's tensors (already checked by loading them).
pub fn write_bundle(
    dir: &Path,
    manifest: &ModelManifest,
    generator_tensors: &HashMap<String, Tensor>,
) -> Result<PathBuf> {
    manifest.write(dir)?;
    let path = dir.join(GENERATOR_FILE);
    candle_core::safetensors::save(generator_tensors, &path).map_err(|e| Error::Weights {
        path: path.clone(),
        message: e.to_string(),
    })?;
    Ok(path)
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| Error::msg(format!("cannot serialise options: {e}")))
}

//! Connects model bundles (`nets::bundle`, docs/bundle.md) to the live preview: the real
//! program's [`ModelLoader`], and [`Translator`] for a loaded [`Model`].
use std::path::Path;
use std::sync::Arc;

use candle_core::Device;
use image::RgbImage;

use super::models::ModelLoader;
use crate::labelmap::LabelMap;
use crate::live::{ModelInfo, Style, Translator};
use crate::nets::bundle::{Model, TranslateOptions};
use crate::nets::fast::spade_incremental::Approximation;
use crate::nets::live_frames::{LiveFrames, STROKE_APPROXIMATION};
use crate::Result;

/// Loads any bundle the `nets::bundle` module understands.
pub struct BundleLoader;

impl BundleLoader {
    pub fn shared() -> Arc<dyn ModelLoader> {
        Arc::new(BundleLoader)
    }
}

impl ModelLoader for BundleLoader {
    fn load(&self, dir: &Path, device: &Device) -> Result<(ModelInfo, Box<dyn Translator>)> {
        let model = Model::load(dir, device)?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        // SPADE runs at one size; the other families accept any size and resize themselves.
        let input_size = model
            .generator()
            .fixed_size()?
            .map(|(w, h)| (w as u32, h as u32));
        let info = ModelInfo {
            name,
            palette: model.palette.clone(),
            input_size,
            uses_style: model.uses_style(),
            has_encoder: model.has_encoder(),
            style_photo_unavailable: model.style_photo_unavailable().map(str::to_owned),
            has_style_colours: model.has_style_colours(),
        };
        let live = LiveModel {
            model,
            frames: LiveFrames::default(),
        };
        Ok((info, Box::new(live)))
    }
}

/// A loaded model and its live frames (incremental where the model allows).
struct LiveModel {
    model: Model,
    frames: LiveFrames,
}

impl Translator for LiveModel {
    fn translate(&mut self, labels: &LabelMap, style: &Style, in_stroke: bool) -> Result<RgbImage> {
        let options = TranslateOptions {
            seed: style.seed,
            style: style.photo.clone(),
            generator_colours: style.generator_colours,
        };
        let approximation = match in_stroke {
            true => STROKE_APPROXIMATION,
            false => Approximation::EXACT,
        };
        let (image, _) = self
            .frames
            .frame(&self.model, labels, &options, approximation)?;
        Ok(image)
    }
}

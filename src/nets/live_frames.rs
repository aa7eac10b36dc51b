//! Live-preview frames of a loaded [`Model`] (issue 16): for a fast-path SPADE model, each frame
//! reuses the last one's activations where the label map did not change
//! (`nets::fast::spade_incremental`: exact for batch-norm SPADE, in-stroke frames only for
//! instance-norm SPADE); every other model runs [`Model::translate`].
//! The style code and the style's colours are kept between frames too, so a style photo goes
//! through the encoder and is measured once.
use candle_core::Device;
use image::RgbImage;

use super::bundle::{Model, TranslateOptions};
use super::fast::spade_incremental::{Approximation, FrameWork, SpadeFrameCache};
use super::fast::Planes;
use super::style_colours::ColourStats;
use crate::labelmap::LabelMap;
use crate::Result;

/// How in-stroke frames approximate, chosen with `scenepaint bench --stroke` (which measures
/// the difference from exact frames); the stroke's last frame is exact.
///
/// Measured on the shipped 256x128 model (`docs/bench/stroke-2026-12-05.txt`): tolerance 0.05
/// alone, 13.1 ms per update; keeping the levels from 1/32, 1/16 or 1/8 of the output, 13.1,
/// 10.8 and 7.1 ms, at a mean difference from the exact image of 0.4-0.6 grey levels.
pub const STROKE_APPROXIMATION: Approximation = Approximation {
    tolerance: 0.05,
    frozen_from_factor: 8,
};

/// One model's frame cache and style.
#[derive(Debug, Default)]
pub struct LiveFrames {
    cache: Option<SpadeFrameCache>,
    style: Option<CachedStyle>,
}

/// The options a style was made for, its code and its colours.
#[derive(Debug)]
struct CachedStyle {
    seed: u64,
    photo: Option<std::sync::Arc<RgbImage>>,
    generator_colours: bool,
    code: Option<Vec<f32>>,
    colours: Option<ColourStats>,
}

impl CachedStyle {
    fn made_for(&self, options: &TranslateOptions) -> bool {
        self.seed == options.seed
            && self.photo == options.style
            && self.generator_colours == options.generator_colours
    }
}

impl LiveFrames {
    /// Bytes the cached activations hold.
    pub fn cache_bytes(&self) -> usize {
        self.cache.as_ref().map_or(0, SpadeFrameCache::bytes)
    }

    /// Forgets the cached frame (the next one is full).
    pub fn clear(&mut self) {
        self.cache = None;
    }

    /// `model` on `labels`, like [`Model::translate`], exact or approximate (an in-stroke frame,
    /// see `spade_incremental`). The work done is `None` when the model has no incremental
    /// frames.
    pub fn frame(
        &mut self,
        model: &Model,
        labels: &LabelMap,
        options: &TranslateOptions,
        approximation: Approximation,
    ) -> Result<(RgbImage, Option<FrameWork>)> {
        let Some(spade) = model.fast_spade() else {
            self.cache = None;
            return Ok((model.translate(labels, options)?, None));
        };
        let (width, height) = (labels.width as usize, labels.height as usize);
        let input = model.encode_labels(labels, model.network_size(width, height)?)?;
        let seg = Planes::from_batch(&input)?.swap_remove(0);
        let style = cached_style(&mut self.style, model, options)?;
        let (planes, work) = spade.forward_incremental(
            &seg,
            style.code.as_deref(),
            &mut self.cache,
            approximation,
        )?;
        let output = Planes::to_batch(vec![planes], &Device::Cpu)?;
        let image = model.output_image(&output, style.colours.as_ref(), (width, height))?;
        Ok((image, Some(work)))
    }
}

/// The style in `cache` when it was made for `options`, else a new one put there.
fn cached_style<'a>(
    cache: &'a mut Option<CachedStyle>,
    model: &Model,
    options: &TranslateOptions,
) -> Result<&'a CachedStyle> {
    let style = match cache.take() {
        Some(cached) if cached.made_for(options) => cached,
        _ => {
            let prepared = model.prepare_style(options)?;
            CachedStyle {
                seed: options.seed,
                photo: options.style.clone(),
                generator_colours: options.generator_colours,
                code: match prepared.code {
                    Some(z) => Some(z.flatten_all()?.to_vec1::<f32>()?),
                    None => None,
                },
                colours: prepared.colours,
            }
        }
    };
    Ok(cache.insert(style))
}

//! Live translation: a [`LatestWinsWorker`] thread owns the loaded generator; the painter hands it
//! the newest label map (throttled during a stroke, at once when a stroke ends) and shows the
//! latest image. The UI never waits: it submits, polls and repaints when the worker notifies.
//!
//! The generator sits behind [`Translator`] so the painter does not depend on one network
//! family; model bundles (`nets::bundle`) implement it. No egui here: the painter (`app`)
//! drives it, and it would serve any other front end as it is.
use crate::infer::LatestWinsWorker;
use crate::labelmap::LabelMap;
use crate::labels::Palette;
use crate::Result;
use image::RgbImage;
use std::sync::Arc;

/// Seconds between two submissions while a stroke is in progress, at most.
pub const STROKE_THROTTLE_S: f64 = 0.15;
/// ... and at least: one display frame, reached when in-stroke updates take less than that.
pub const MIN_STROKE_THROTTLE_S: f64 = 1.0 / 60.0;

/// The style a generator is asked for (only models with a VAE encoder use it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Style {
    /// Seed of the random style code.
    pub seed: u64,
    /// A photo whose style the encoder copies; takes precedence over the seed.
    pub photo: Option<Arc<RgbImage>>,
    /// Keep the generator's own colours instead of the style's (`nets::style_colours`).
    pub generator_colours: bool,
}

/// A loaded generator, owned by the worker thread.
pub trait Translator: Send {
    /// Runs the generator on a label map of `input_size()`; returns the image at that size.
    /// `in_stroke`: a stroke is still being painted, so the image may be approximate (the
    /// stroke's last frame is asked for with `false` and must be exact).
    fn translate(&mut self, labels: &LabelMap, style: &Style, in_stroke: bool) -> Result<RgbImage>;
}

/// What the UI knows about a loaded model (the generator itself lives on the worker).
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub name: String,
    pub palette: Palette,
    /// The model's input resolution (width, height); `None` = any size (fully convolutional).
    pub input_size: Option<(u32, u32)>,
    /// The output depends on a style code (SPADE with a VAE): the dice, seed and recent
    /// styles are shown.
    pub uses_style: bool,
    /// A style encoder is present: "Style from photo" is shown too.
    pub has_encoder: bool,
    /// Why "Style from photo" is unavailable for a model with styles (its tooltip).
    pub style_photo_unavailable: Option<String>,
    /// Random styles take a training photo's colours (the bundle has `style_colours.json`).
    pub has_style_colours: bool,
}

/// One request to the worker.
pub struct Request {
    pub labels: LabelMap,
    pub style: Style,
    pub in_stroke: bool,
}

/// The latest generated image and how it was made.
pub struct Generated {
    /// At the model's resolution.
    pub image: RgbImage,
    pub latency_ms: f64,
    pub style: Style,
    /// Made while a stroke was in progress (an in-stroke update).
    pub in_stroke: bool,
}

/// The painter's side of live translation.
pub struct LiveTranslation {
    worker: LatestWinsWorker<Request, (Style, bool, Result<RgbImage>)>,
    pub info: ModelInfo,
    /// Live updates paused (the current image stays).
    pub paused: bool,
    /// Updates wait while training runs on this model's GPU (the training panel's setting).
    pub held_by_training: bool,
    /// The painting's palette, when it is not this model's: updates wait for a switch back
    /// (a model given another palette's ids would paint nonsense).
    pub foreign_palette: Option<String>,
    /// The device the worker's model runs on.
    pub device: crate::device::DeviceChoice,
    pub style: Style,
    pub latest: Option<Generated>,
    pub error: Option<String>,
    /// Document generation last submitted; `None` forces the next submission.
    submitted_generation: Option<u64>,
    /// The last submission was an in-stroke one (maybe approximate): the stroke's end sends
    /// the same generation again for an exact image.
    submitted_in_stroke: bool,
    last_submit_s: f64,
    /// How long the last in-stroke update took: sets the throttle of the next ones.
    last_stroke_ms: Option<f64>,
    /// Results received (tests and the status line).
    pub results_received: u64,
}

impl LiveTranslation {
    /// Starts the worker thread with `translator`; `notify` repaints the UI.
    pub fn start(
        info: ModelInfo,
        mut translator: Box<dyn Translator>,
        notify: impl Fn() + Send + 'static,
    ) -> Result<Self> {
        let worker = LatestWinsWorker::spawn(
            "scenepaint-translate",
            move |request: Request| {
                let image =
                    translator.translate(&request.labels, &request.style, request.in_stroke);
                (request.style, request.in_stroke, image)
            },
            notify,
        )
        .map_err(|e| crate::Error::msg(format!("cannot start the translation thread: {e}")))?;
        Ok(Self {
            worker,
            info,
            paused: false,
            held_by_training: false,
            foreign_palette: None,
            device: crate::device::DeviceChoice::Cpu,
            style: Style::default(),
            latest: None,
            error: None,
            submitted_generation: None,
            submitted_in_stroke: false,
            last_submit_s: f64::NEG_INFINITY,
            last_stroke_ms: None,
            results_received: 0,
        })
    }

    pub fn is_busy(&self) -> bool {
        self.worker.is_busy()
    }

    pub fn last_latency_ms(&self) -> Option<f64> {
        self.latest.as_ref().map(|g| g.latency_ms)
    }

    /// Forces the next [`Self::tick`] to translate again (style or model changed).
    pub fn invalidate(&mut self) {
        self.submitted_generation = None;
    }

    /// Sets the style and translates again.
    pub fn set_style(&mut self, style: Style) {
        if style != self.style {
            self.style = style;
            self.invalidate();
        }
    }

    /// Called every frame after painting: submits the map when it changed (throttled during a
    /// stroke). Returns seconds until a throttled submission is due. Finished images are taken
    /// by [`Self::collect`] before the frame draws, never here: one that arrived while the
    /// frame drew waits for the next frame (the worker's notification asks for it), so a
    /// collected image is always the one the frame shows.
    pub fn tick(
        &mut self,
        map: &LabelMap,
        generation: u64,
        in_stroke: bool,
        now_s: f64,
    ) -> Option<f64> {
        let waiting = self.paused || self.held_by_training || self.foreign_palette.is_some();
        let done = self.submitted_generation == Some(generation)
            && (in_stroke || !self.submitted_in_stroke);
        if waiting || done {
            return None;
        }
        let since_s = now_s - self.last_submit_s;
        let throttle_s = self.stroke_throttle_s();
        if in_stroke && since_s < throttle_s {
            return Some(throttle_s - since_s);
        }
        self.submit(map, generation, in_stroke, now_s);
        None
    }

    /// Seconds between in-stroke submissions: as often as the last in-stroke update allows,
    /// between one display frame and [`STROKE_THROTTLE_S`].
    pub fn stroke_throttle_s(&self) -> f64 {
        self.last_stroke_ms.map_or(STROKE_THROTTLE_S, |ms| {
            (ms / 1e3).clamp(MIN_STROKE_THROTTLE_S, STROKE_THROTTLE_S)
        })
    }

    fn submit(&mut self, map: &LabelMap, generation: u64, in_stroke: bool, now_s: f64) {
        self.submitted_generation = Some(generation);
        self.submitted_in_stroke = in_stroke;
        // Said in canvas pixels, before the map is resized to the model's input.
        if let Some((x, y, id)) = first_id_outside(map, &self.info.palette) {
            self.error = Some(format!(
                "class id {id} at canvas pixel ({x}, {y}) is not a class of the model's \
                 palette '{}'",
                self.info.palette.name
            ));
            return;
        }
        let labels = match self.info.input_size {
            Some((w, h)) if (w, h) != (map.width, map.height) => map.resize_nearest(w, h),
            _ => map.clone(),
        };
        self.worker.submit(Request {
            labels,
            style: self.style.clone(),
            in_stroke,
        });
        self.last_submit_s = now_s;
    }

    /// Takes the newest finished result, if any. True when a new image arrived.
    pub fn collect(&mut self) -> bool {
        let Some(done) = self.worker.poll() else {
            return false;
        };
        let (style, in_stroke, result) = done.output;
        self.results_received += 1;
        match result {
            Ok(image) => {
                self.error = None;
                if in_stroke {
                    self.last_stroke_ms = Some(done.elapsed_ms);
                }
                self.latest = Some(Generated {
                    image,
                    latency_ms: done.elapsed_ms,
                    style,
                    in_stroke,
                });
                true
            }
            Err(e) => {
                self.error = Some(e.to_string());
                false
            }
        }
    }

    /// Blocks until the worker delivers (tests and the CLI only).
    pub fn wait(&mut self, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if self.collect() || (!self.is_busy() && self.error.is_some()) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        false
    }
}

/// The first pixel (x, y) whose id `palette` does not know, with that id.
fn first_id_outside(map: &LabelMap, palette: &Palette) -> Option<(u32, u32, u16)> {
    let width = map.width.max(1) as usize;
    let known: Vec<bool> = (0..=palette.max_id())
        .map(|id| palette.contains(id))
        .collect();
    map.ids
        .iter()
        .position(|&id| !known.get(usize::from(id)).copied().unwrap_or(false))
        .map(|i| ((i % width) as u32, (i / width) as u32, map.ids[i]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_outside_the_palette_is_found_at_its_canvas_pixel() {
        let palette = Palette::builtin("ycor").unwrap();
        let mut map = LabelMap::new(7, 5, palette.background);
        assert_eq!(first_id_outside(&map, &palette), None);
        map.set(4, 3, 250);
        assert_eq!(first_id_outside(&map, &palette), Some((4, 3, 250)));
    }
}

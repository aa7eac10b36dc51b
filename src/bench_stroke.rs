//! `scenepaint bench --stroke`: the live preview while a brush stroke is painted (issue 16).
//! Seeded strokes of the default brush are painted on a 512x256 canvas, event by event as the
//! painter sends them; each event's preview frame is timed three ways in the same run: a full
//! frame (`Model::translate`), an exact incremental frame, and an in-stroke frame with the
//! painter's [`STROKE_APPROXIMATION`] or another one (whose stroke ends with an exact frame, as in
//! the painter). The in-stroke frames' difference from the exact image is measured in grey
//! levels.
use std::time::Instant;

use image::RgbImage;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::labelmap::LabelMap;
use crate::nets::bundle::{Model, TranslateOptions};
use crate::nets::fast::spade_incremental::Approximation;
use crate::nets::live_frames::LiveFrames;
#[cfg(doc)]
use crate::nets::live_frames::STROKE_APPROXIMATION;
use crate::paint::raster::brush_segment;
use crate::Result;

/// The painter's default brush, in canvas pixels.
const BRUSH_PX: u32 = 16;
/// Canvas pixels the pointer moves between two throttled events.
const EVENT_STEP_PX: f32 = 18.0;

/// What the stroke bench measured for one model.
#[derive(Debug, Clone, Serialize)]
pub struct StrokeResult {
    pub name: String,
    /// The model's input (width, height); the canvas is resized to it, as the painter does.
    pub model_size: (usize, usize),
    pub canvas: (u32, u32),
    pub strokes: usize,
    pub events: usize,
    /// Mean share of the canvas one stroke changed, in percent.
    pub stroke_percent: f64,
    /// The in-stroke frames' tolerance and the coarsest level factor they recompute below.
    pub tolerance: f32,
    pub frozen_from_factor: Option<usize>,
    pub full_median_ms: f64,
    pub exact_median_ms: f64,
    pub stroke_median_ms: f64,
    /// Mean share of a full frame's block work the exact / in-stroke updates did.
    pub exact_work: f64,
    pub stroke_work: f64,
    /// In-stroke image minus the exact one: mean and largest absolute difference, grey levels.
    pub stroke_error_mean: f64,
    pub stroke_error_max: u8,
    /// Cached activations, MiB.
    pub cache_mib: f64,
    pub threads: usize,
}

/// One stroke: the events' label maps at the model's size, and the canvas pixels it changed.
struct Stroke {
    maps: Vec<LabelMap>,
    changed_px: usize,
}

/// `count` seeded strokes of the default brush on `canvas`, each of `events` throttled events.
fn paint_strokes(
    canvas: &mut LabelMap,
    model_size: (usize, usize),
    count: usize,
    events: usize,
    classes: &[u16],
) -> Vec<Stroke> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(16);
    let (width, height) = (canvas.width as f32, canvas.height as f32);
    (0..count)
        .map(|_| {
            let before = canvas.ids.clone();
            let id = classes[rng.random_range(0..classes.len())];
            let mut at = [
                rng.random_range(0.2..0.8) * width,
                rng.random_range(0.2..0.8) * height,
            ];
            let angle: f32 = rng.random_range(0.0..std::f32::consts::TAU);
            let mut maps = Vec::with_capacity(events);
            for _ in 0..events {
                let next = [
                    (at[0] + EVENT_STEP_PX * angle.cos()).clamp(0.0, width - 1.0),
                    (at[1] + EVENT_STEP_PX * angle.sin()).clamp(0.0, height - 1.0),
                ];
                brush_segment(canvas, at, next, BRUSH_PX, id);
                at = next;
                maps.push(canvas.resize_nearest(model_size.0 as u32, model_size.1 as u32));
            }
            let changed_px = before
                .iter()
                .zip(&canvas.ids)
                .filter(|(a, b)| a != b)
                .count();
            Stroke { maps, changed_px }
        })
        .collect()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    crate::bench::median(&values)
}

fn timed<T>(f: impl FnOnce() -> Result<T>) -> Result<(T, f64)> {
    let start = Instant::now();
    let value = f()?;
    Ok((value, start.elapsed().as_secs_f64() * 1e3))
}

/// The mean and largest per-channel difference of two images of one size.
fn image_difference(a: &RgbImage, b: &RgbImage) -> (f64, u8) {
    let (mut sum, mut max) = (0u64, 0u8);
    for (x, y) in a.as_raw().iter().zip(b.as_raw()) {
        let d = x.abs_diff(*y);
        sum += u64::from(d);
        max = max.max(d);
    }
    (sum as f64 / a.as_raw().len().max(1) as f64, max)
}

/// Runs the stroke bench on `model` with a painting `canvas` (the painter's size).
pub fn run(
    name: &str,
    model: &Model,
    canvas: LabelMap,
    strokes: usize,
    approximation: Approximation,
) -> Result<StrokeResult> {
    let exact_frame = Approximation::EXACT;
    let canvas_size = (canvas.width, canvas.height);
    let model_size = model.network_size(canvas.width as usize, canvas.height as usize)?;
    let classes: Vec<u16> = model.palette.classes.iter().map(|c| c.id).collect();
    let options = TranslateOptions::default();
    let (mut exact, mut in_stroke) = (LiveFrames::default(), LiveFrames::default());
    let start = canvas.resize_nearest(model_size.0 as u32, model_size.1 as u32);
    exact.frame(model, &start, &options, exact_frame)?;
    in_stroke.frame(model, &start, &options, exact_frame)?;
    let mut painted = canvas;
    let painted_strokes = paint_strokes(&mut painted, model_size, strokes, 8, &classes);
    let (mut full_ms, mut exact_ms, mut stroke_ms) = (Vec::new(), Vec::new(), Vec::new());
    let (mut exact_work, mut stroke_work, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    let mut error_max = 0u8;
    for stroke in &painted_strokes {
        for (i, map) in stroke.maps.iter().enumerate() {
            let last = i + 1 == stroke.maps.len();
            let (_, ms) = timed(|| model.translate(map, &options))?;
            full_ms.push(ms);
            let ((exact_image, work), ms) =
                timed(|| exact.frame(model, map, &options, exact_frame))?;
            exact_ms.push(ms);
            exact_work.push(work.map_or(1.0, |w| w.fraction));
            let frame = if last { exact_frame } else { approximation };
            let ((image, work), ms) = timed(|| in_stroke.frame(model, map, &options, frame))?;
            if !last {
                stroke_ms.push(ms);
                stroke_work.push(work.map_or(1.0, |w| w.fraction));
                let (mean, max) = image_difference(&image, &exact_image);
                errors.push(mean);
                error_max = error_max.max(max);
            }
        }
    }
    let canvas_px = f64::from(canvas_size.0) * f64::from(canvas_size.1);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let percents: Vec<f64> = painted_strokes
        .iter()
        .map(|s| 100.0 * s.changed_px as f64 / canvas_px)
        .collect();
    Ok(StrokeResult {
        name: name.to_string(),
        model_size,
        canvas: canvas_size,
        strokes,
        events: full_ms.len(),
        stroke_percent: mean(&percents),
        tolerance: approximation.tolerance,
        frozen_from_factor: (approximation.frozen_from_factor != usize::MAX)
            .then_some(approximation.frozen_from_factor),
        full_median_ms: median(full_ms),
        exact_median_ms: median(exact_ms),
        stroke_median_ms: median(stroke_ms),
        exact_work: mean(&exact_work),
        stroke_work: mean(&stroke_work),
        stroke_error_mean: mean(&errors),
        stroke_error_max: error_max,
        cache_mib: exact.cache_bytes() as f64 / (1024.0 * 1024.0),
        threads: rayon::current_num_threads(),
    })
}

/// One line of the human-readable table.
pub fn format_row(r: &StrokeResult) -> String {
    format!(
        "{:<40} {}x{} on {}x{} canvas, strokes {:.1}% | full {:>6.1} ms | exact {:>6.1} ms x{:.2} (work {:>3.0}%) | in-stroke (tolerance {}, coarse levels {}) {:>6.1} ms x{:.2} (work {:>3.0}%, error mean {:.2} max {} grey levels) | cache {:.1} MiB",
        r.name,
        r.model_size.0,
        r.model_size.1,
        r.canvas.0,
        r.canvas.1,
        r.stroke_percent,
        r.full_median_ms,
        r.exact_median_ms,
        r.full_median_ms / r.exact_median_ms,
        100.0 * r.exact_work,
        r.tolerance,
        r.frozen_from_factor
            .map_or("recomputed".to_string(), |f| format!("from 1/{f} kept")),
        r.stroke_median_ms,
        r.full_median_ms / r.stroke_median_ms,
        100.0 * r.stroke_work,
        r.stroke_error_mean,
        r.stroke_error_max,
        r.cache_mib,
    )
}

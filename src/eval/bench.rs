//! `scenepaint bench --fid`: the cost of an evaluation. Features of `images` generated and
//! `images` real images at the evaluation size through the fast path (the median per image,
//! and the whole set with FID and KID), and the Candle executor's median per image on a few
//! of them in the same run, with the ratio. The images are synthetic (smooth colour fields
//! with noise, so the resizes and the network see photo-like variation); the translation of
//! label maps is the generator's preview frame, timed by the other bench cases.
use std::path::Path;
use std::time::Instant;

use image::RgbImage;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::{resize_for_eval, scores, FeatureSet, FidNetwork};
use crate::bench::median;
use crate::error::Result;
use crate::nets::fast::InferencePath;

/// What [`run`] measured.
#[derive(Debug, Clone, Serialize)]
pub struct EvalBench {
    pub images_per_set: usize,
    pub width: u32,
    pub height: u32,
    /// Wall time of the whole evaluation: resize, features of both sets, FID and KID.
    pub total_s: f64,
    /// Median features time of one image, fast path.
    pub fast_ms_per_image: f64,
    /// Median of the Candle executor on `candle_images` images, if measured.
    pub candle_ms_per_image: Option<f64>,
    pub candle_images: usize,
    pub speedup: Option<f64>,
    pub fid_kid_s: f64,
}

fn synthetic_image(rng: &mut ChaCha8Rng, width: u32, height: u32) -> RgbImage {
    let base: [f32; 3] = std::array::from_fn(|_| rng.random_range(40.0..200.0));
    let slope: [f32; 3] = std::array::from_fn(|_| rng.random_range(-60.0..60.0));
    RgbImage::from_fn(width * 2, height * 2, |x, y| {
        let t = (x as f32 / width as f32 + y as f32 / height as f32) / 4.0;
        image::Rgb(std::array::from_fn(|c| {
            (base[c] + slope[c] * t + rng.random_range(-25.0..25.0)).clamp(0.0, 255.0) as u8
        }))
    })
}

/// Times an evaluation of `images` against `images` at `width x height`.
pub fn run(
    network_path: &Path,
    images: usize,
    (width, height): (u32, u32),
    candle_images: usize,
) -> Result<EvalBench> {
    let fast = FidNetwork::load(network_path, InferencePath::Auto)?;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let sets: Vec<Vec<RgbImage>> = (0..2)
        .map(|_| {
            (0..images)
                .map(|_| synthetic_image(&mut rng, width, height))
                .collect()
        })
        .collect();
    let started = Instant::now();
    let mut per_image = Vec::with_capacity(2 * images);
    let mut features = Vec::with_capacity(2);
    for set in &sets {
        let mut rows = Vec::with_capacity(set.len());
        for image in set {
            let t = Instant::now();
            rows.push(fast.features(&resize_for_eval(image, (width, height)))?);
            per_image.push(t.elapsed().as_secs_f64() * 1e3);
        }
        features.push(FeatureSet::new(&rows)?);
    }
    let stats_started = Instant::now();
    scores(&features[0], &features[1], (width, height))?;
    let fid_kid_s = stats_started.elapsed().as_secs_f64();
    let total_s = started.elapsed().as_secs_f64();
    per_image.sort_by(f64::total_cmp);
    let fast_ms = median(&per_image);
    let candle_ms = if candle_images > 0 {
        let candle = FidNetwork::load(network_path, InferencePath::Candle)?;
        let mut times = Vec::new();
        for image in sets[0].iter().take(candle_images) {
            let t = Instant::now();
            candle.features(&resize_for_eval(image, (width, height)))?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        Some(median(&times))
    } else {
        None
    };
    Ok(EvalBench {
        images_per_set: images,
        width,
        height,
        total_s,
        fast_ms_per_image: fast_ms,
        candle_ms_per_image: candle_ms,
        candle_images: candle_images.min(images),
        speedup: candle_ms.map(|c| c / fast_ms),
        fid_kid_s,
    })
}

/// One line for the terminal.
pub fn format(result: &EvalBench) -> String {
    let candle = match (result.candle_ms_per_image, result.speedup) {
        (Some(ms), Some(x)) => format!(
            "; Candle {ms:.0} ms/image (median of {}), x{x:.2}",
            result.candle_images
        ),
        _ => String::new(),
    };
    format!(
        "evaluate {n} generated vs {n} real images at {w}x{h}: {total:.1} s in all ({fast:.0} ms/image median, FID+KID {stats:.2} s){candle}",
        n = result.images_per_set,
        w = result.width,
        h = result.height,
        total = result.total_s,
        fast = result.fast_ms_per_image,
        stats = result.fid_kid_s,
    )
}

//! Whether every painted class shows (issue 15): how much each class stands out from what
//! surrounds it, in the model's images against the real photos.
//!
//! For one image and class, the **contrast** is the distance between the mean RGB (0..1 per
//! channel) of the class's pixels and the mean RGB of the other pixels within a band around
//! them. A class the model paints as "a blur of its neighbours" has a contrast near 0 where
//! the photo's is not. Per class, the contrasts are averaged over the label maps the class
//! appears in, for the translations and for the photos; the ratio of the two is 1 where the
//! model separates the class from its surroundings as much as real photos do.
//! Mean colours miss texture (a class that differs only in grain scores low), so this is a
//! floor on visibility, not a full measure of it.
use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::{chosen_pairs, resize_for_eval, PairChoice, Progress};
use crate::error::{Error, Result};
use crate::labelmap::{read_label_map, LabelMap};
use crate::labels::Palette;
use crate::nets::bundle::{Model, TranslateOptions};
use crate::train::data::{read_photo, Dataset};

/// One class's contrast with its surroundings, in the translations and in the photos.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassContrast {
    pub id: u16,
    pub name: String,
    /// Label maps the class appears in (with surroundings to compare against).
    pub label_maps: usize,
    /// Mean share of those maps' pixels the class covers.
    pub coverage: f64,
    /// Mean contrast in the real photos (RGB distance, 0..1 per channel).
    pub photo: f64,
    /// Mean contrast in the model's translations of the same label maps.
    pub generated: f64,
}

impl ClassContrast {
    /// The translations' contrast as a fraction of the photos' (0 where the photos show none).
    pub fn ratio(&self) -> f64 {
        if self.photo > 0.0 {
            self.generated / self.photo
        } else {
            0.0
        }
    }
}

/// Every class of a model's palette that appears in the evaluated label maps.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassContrasts {
    pub classes: Vec<ClassContrast>,
    /// The width of the band of surroundings, pixels at the evaluation size.
    pub band_px: u32,
    pub size: (u32, u32),
}

impl std::fmt::Display for ClassContrasts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "class contrast with its surroundings ({} px band, at {}x{}; mean RGB distance, 0..1):",
            self.band_px, self.size.0, self.size.1
        )?;
        writeln!(
            f,
            "  {:<24} {:>5} {:>9} {:>7} {:>9} {:>6}",
            "class", "maps", "coverage", "photos", "generated", "ratio"
        )?;
        for c in &self.classes {
            writeln!(
                f,
                "  {:<24} {:>5} {:>8.1}% {:>7.3} {:>9.3} {:>6.2}",
                format!("{} {}", c.id, c.name),
                c.label_maps,
                100.0 * c.coverage,
                c.photo,
                c.generated,
                c.ratio()
            )?;
        }
        Ok(())
    }
}

/// A class and its contrast ratio: an evaluation's least visible class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassRatio {
    /// The class's id in the model's palette.
    pub id: u16,
    pub ratio: f64,
}

impl ClassContrasts {
    /// The class whose contrast is the smallest fraction of the photos' (`None` without
    /// classes): the one that shows least.
    pub fn least_visible(&self) -> Option<ClassRatio> {
        self.classes
            .iter()
            .map(|c| ClassRatio {
                id: c.id,
                ratio: c.ratio(),
            })
            .min_by(|a, b| a.ratio.total_cmp(&b.ratio))
    }
}

/// Band width for an evaluation size: 1/64 of the width, at least 2 pixels.
pub fn band_for(width: u32) -> u32 {
    (width / 64).max(2)
}

/// Per pixel: is it within `band` pixels (Chebyshev distance) of a pixel of `mask`?
pub fn dilate(mask: &[bool], width: usize, height: usize, band: usize) -> Vec<bool> {
    // Separable: a row pass then a column pass, each a sliding count over 2 * band + 1.
    let along = |get: &dyn Fn(usize) -> bool, len: usize, out: &mut dyn FnMut(usize, bool)| {
        let mut prefix = vec![0u32; len + 1];
        for i in 0..len {
            prefix[i + 1] = prefix[i] + u32::from(get(i));
        }
        for i in 0..len {
            let (lo, hi) = (i.saturating_sub(band), (i + band + 1).min(len));
            out(i, prefix[hi] > prefix[lo]);
        }
    };
    let mut rows = vec![false; mask.len()];
    for y in 0..height {
        let line = &mask[y * width..(y + 1) * width];
        along(&|x| line[x], width, &mut |x, v| rows[y * width + x] = v);
    }
    let mut out = vec![false; mask.len()];
    for x in 0..width {
        along(&|y| rows[y * width + x], height, &mut |y, v| {
            out[y * width + x] = v
        });
    }
    out
}

/// The contrast of `class` in `image` (the label map's size): the RGB distance (0..1 per
/// channel) between its pixels' mean colour and the mean colour of the other pixels within
/// `band` of them. `None` when the class is absent, has no such surroundings, or the image is
/// not the label map's size.
pub fn contrast(labels: &LabelMap, image: &RgbImage, class: u16, band: u32) -> Option<f64> {
    let (width, height) = (labels.width as usize, labels.height as usize);
    if (image.width(), image.height()) != (labels.width, labels.height) {
        return None;
    }
    let mask: Vec<bool> = labels.ids.iter().map(|&id| id == class).collect();
    if !mask.contains(&true) {
        return None;
    }
    let near = dilate(&mask, width, height, band as usize);
    let (mut inside, mut around) = (([0f64; 3], 0u64), ([0f64; 3], 0u64));
    for (p, pixel) in image.pixels().enumerate() {
        let sums = match (mask[p], near[p]) {
            (true, _) => &mut inside,
            (false, true) => &mut around,
            (false, false) => continue,
        };
        for (s, &v) in sums.0.iter_mut().zip(&pixel.0) {
            *s += f64::from(v) / 255.0;
        }
        sums.1 += 1;
    }
    if around.1 == 0 {
        return None;
    }
    let squared: f64 = (0..3)
        .map(|c| (inside.0[c] / inside.1 as f64 - around.0[c] / around.1 as f64).powi(2))
        .sum();
    Some(squared.sqrt())
}

/// The photos' side of [`class_contrasts`]: each chosen pair's label map at the evaluation
/// size and its photo's contrast per palette class. A training run computes it once.
#[derive(Debug, Clone)]
pub struct PhotoContrasts {
    size: (u32, u32),
    band: u32,
    /// The palette's classes, in order.
    classes: Vec<(u16, String)>,
    /// Per pair: its label map at `size` and, per class, the photo's contrast.
    maps: Vec<(LabelMap, Vec<Option<f64>>)>,
}

/// [`PhotoContrasts`] of `dataset`'s chosen pairs, label maps (nearest) and photos (as FID
/// resizes them) resized to `size`, for the classes of `palette`.
pub fn photo_contrasts(
    palette: &Palette,
    dataset: &Dataset,
    choice: &PairChoice,
    size: (u32, u32),
    progress: Progress,
) -> Result<PhotoContrasts> {
    let pairs = chosen_pairs(dataset, choice)?;
    if pairs.is_empty() {
        return Err(Error::msg("class contrasts: no pairs to evaluate"));
    }
    let band = band_for(size.0);
    let mut maps = Vec::with_capacity(pairs.len());
    for (i, pair) in pairs.iter().enumerate() {
        let labels = read_label_map(&pair.label, palette)?.resize_nearest(size.0, size.1);
        let photo = resize_for_eval(&read_photo(&pair.image)?, size);
        let contrasts = palette
            .classes
            .iter()
            .map(|class| contrast(&labels, &photo, class.id, band))
            .collect();
        maps.push((labels, contrasts));
        progress("photos' class contrasts", i + 1, pairs.len());
    }
    let classes = palette
        .classes
        .iter()
        .map(|c| (c.id, c.name.clone()))
        .collect();
    Ok(PhotoContrasts {
        size,
        band,
        classes,
        maps,
    })
}

/// Running sums of one class over the label maps.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    maps: usize,
    coverage: f64,
    photo: f64,
    generated: f64,
}

/// [`ClassContrasts`] of `model` on `dataset`'s chosen pairs, label maps (nearest) and photos
/// (as FID resizes them) resized to `size` and translated with the default style.
pub fn class_contrasts(
    model: &Model,
    dataset: &Dataset,
    choice: &PairChoice,
    size: (u32, u32),
    progress: Progress,
) -> Result<ClassContrasts> {
    let photos = photo_contrasts(&model.palette, dataset, choice, size, progress)?;
    class_contrasts_against(model, &photos, progress)
}

/// [`ClassContrasts`] of `model`'s translations of the label maps of `photos`, against their
/// photos' contrasts.
pub fn class_contrasts_against(
    model: &Model,
    photos: &PhotoContrasts,
    progress: Progress,
) -> Result<ClassContrasts> {
    let mut sums = vec![Sums::default(); photos.classes.len()];
    for (i, (labels, photo_contrasts)) in photos.maps.iter().enumerate() {
        let generated = model.translate(labels, &TranslateOptions::default())?;
        let per_class = photos
            .classes
            .iter()
            .zip(photo_contrasts)
            .zip(sums.iter_mut());
        for (((id, _), photo), sum) in per_class {
            let measured = photo.zip(contrast(labels, &generated, *id, photos.band));
            if let Some((photo, generated)) = measured {
                let covered = labels.ids.iter().filter(|&&l| l == *id).count();
                sum.maps += 1;
                sum.coverage += covered as f64 / labels.ids.len() as f64;
                sum.photo += photo;
                sum.generated += generated;
            }
        }
        progress("class contrasts", i + 1, photos.maps.len());
    }
    let classes = photos
        .classes
        .iter()
        .zip(sums)
        .filter(|(_, s)| s.maps > 0)
        .map(|((id, name), s)| {
            let n = s.maps as f64;
            ClassContrast {
                id: *id,
                name: name.clone(),
                label_maps: s.maps,
                coverage: s.coverage / n,
                photo: s.photo / n,
                generated: s.generated / n,
            }
        })
        .collect();
    Ok(ClassContrasts {
        classes,
        band_px: photos.band,
        size: photos.size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 12x8 map of class 0 with a 4x4 square of class 1 at (4, 2).
    fn square_map() -> LabelMap {
        let (width, height) = (12u32, 8u32);
        let ids = (0..width * height)
            .map(|p| {
                let (x, y) = (p % width, p / width);
                u16::from((4..8).contains(&x) && (2..6).contains(&y))
            })
            .collect();
        LabelMap { width, height, ids }
    }

    #[test]
    fn dilation_reaches_band_pixels_in_every_direction() {
        let (width, height) = (7, 5);
        let mut mask = vec![false; width * height];
        mask[2 * width + 3] = true;
        let near = dilate(&mask, width, height, 1);
        let expected: Vec<bool> = (0..width * height)
            .map(|p| (p % width).abs_diff(3) <= 1 && (p / width).abs_diff(2) <= 1)
            .collect();
        assert_eq!(near, expected);
        assert!(dilate(&mask, width, height, 0) == mask);
    }

    #[test]
    fn contrast_is_the_distance_between_the_class_and_its_band() {
        let labels = square_map();
        let grey = image::Rgb([102, 102, 102]);
        let mut image = RgbImage::from_pixel(labels.width, labels.height, grey);
        // A class painted like its surroundings does not show.
        assert!(contrast(&labels, &image, 1, 2).is_some_and(|c| c.abs() < 1e-12));
        for (p, &id) in labels.ids.iter().enumerate() {
            if id == 1 {
                image.put_pixel(
                    p as u32 % labels.width,
                    p as u32 / labels.width,
                    image::Rgb([255, 102, 0]),
                );
            }
        }
        // Far pixels do not count: paint them white, the band stays grey.
        image.put_pixel(0, 0, image::Rgb([255, 255, 255]));
        let expected = ((153.0f64 / 255.0).powi(2) + (102.0f64 / 255.0).powi(2)).sqrt();
        let found = contrast(&labels, &image, 1, 2).unwrap();
        assert!(
            (found - expected).abs() < 1e-12,
            "{found} against {expected}"
        );
        // An absent class, or one with nothing around it, has no contrast.
        assert_eq!(contrast(&labels, &image, 5, 2), None);
        let all_one = LabelMap {
            ids: vec![1; labels.ids.len()],
            ..labels.clone()
        };
        assert_eq!(contrast(&all_one, &image, 1, 2), None);
    }

    #[test]
    fn the_ratio_is_generated_over_photos() {
        let class = ClassContrast {
            id: 4,
            name: "non-traversable".into(),
            label_maps: 3,
            coverage: 0.05,
            photo: 0.2,
            generated: 0.05,
        };
        assert!((class.ratio() - 0.25).abs() < 1e-12);
        assert_eq!(
            ClassContrast {
                photo: 0.0,
                ..class
            }
            .ratio(),
            0.0
        );
    }
}

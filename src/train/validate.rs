//! Validation of a model bundle on the pairs its training run held out (`holdout_every`,
//! recorded in `model.json` under `training.held_out`): the mean L1 distance between the
//! generated images and the photos, and a grid (label | generated | photo) per pair for the
//! weights README. Translation goes through [`Model::translate`], the painter's own path.
use std::path::Path;

use image::{imageops, RgbImage};

use super::data::{read_photo, Dataset};
use crate::error::{Error, Result};
use crate::labelmap::{read_label_map, LabelMap};
use crate::nets::bundle::{Model, TranslateOptions};

/// What [`validate`] measured.
#[derive(Debug, Clone)]
pub struct Validation {
    /// Names of the pairs used, in order.
    pub keys: Vec<String>,
    /// Mean absolute difference per channel, 0..1 scale, over all validated pairs.
    pub mean_l1: f64,
    /// Rows of label | generated | photo, each `thumb_width` wide.
    pub grid: RgbImage,
}

/// The held-out pair names recorded in a bundle's `model.json`.
pub fn held_out_keys(model: &Model, bundle: &Path) -> Result<Vec<String>> {
    let keys: Vec<String> = model.manifest.training["held_out"]
        .as_array()
        .map(|keys| {
            keys.iter()
                .filter_map(|key| key.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if keys.is_empty() {
        return Err(Error::msg(format!(
            "{}: model.json records no held-out pairs (train with holdout_every > 0)",
            bundle.display()
        )));
    }
    Ok(keys)
}

/// Translates the first `count` pairs of `keys` found in `dataset` and compares them with
/// their photos.
pub fn validate(
    model: &Model,
    dataset: &Dataset,
    keys: &[String],
    count: usize,
    thumb_width: u32,
    options: &TranslateOptions,
) -> Result<Validation> {
    let mut rows = Vec::new();
    let mut used = Vec::new();
    let mut l1_sum = 0.0;
    let style = model.prepare_style(options)?;
    for key in keys.iter().take(count) {
        let pair = dataset
            .pairs
            .iter()
            .find(|p| &p.key == key)
            .ok_or_else(|| {
                Error::msg(format!(
                    "{}: held-out pair '{key}' is not in this dataset",
                    dataset.root.display()
                ))
            })?;
        let labels = read_label_map(&pair.label, &model.palette)?;
        let photo = read_photo(&pair.image)?;
        if photo.dimensions() != (labels.width, labels.height) {
            return Err(Error::msg(format!(
                "{}: {} ({})",
                pair.label.display(),
                super::data::inspect::size_mismatch(
                    "label map",
                    (labels.width, labels.height),
                    photo.dimensions()
                ),
                pair.image.display()
            )));
        }
        let generated = model.translate_with(&labels, &style)?;
        l1_sum += mean_abs_difference(&generated, &photo);
        rows.push(grid_row(&labels, &generated, &photo, model, thumb_width));
        used.push(key.clone());
    }
    if used.is_empty() {
        return Err(Error::msg("validation: no held-out pairs to translate"));
    }
    Ok(Validation {
        mean_l1: l1_sum / used.len() as f64,
        keys: used,
        grid: stack_rows(&rows),
    })
}

/// Mean |a - b| over all channels, in 0..1.
pub fn mean_abs_difference(a: &RgbImage, b: &RgbImage) -> f64 {
    let total: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    total as f64 / (a.as_raw().len().max(1) as f64 * 255.0)
}

fn grid_row(
    labels: &LabelMap,
    generated: &RgbImage,
    photo: &RgbImage,
    model: &Model,
    thumb_width: u32,
) -> RgbImage {
    let coloured = RgbImage::from_raw(labels.width, labels.height, labels.to_rgb(&model.palette))
        .unwrap_or_else(|| RgbImage::new(labels.width, labels.height));
    let thumb_height =
        (u64::from(thumb_width) * u64::from(labels.height) / u64::from(labels.width)).max(1) as u32;
    let thumb =
        |image: &RgbImage, filter| imageops::resize(image, thumb_width, thumb_height, filter);
    let mut row = RgbImage::new(3 * thumb_width, thumb_height);
    let tiles = [
        thumb(&coloured, imageops::FilterType::Nearest),
        thumb(generated, imageops::FilterType::Triangle),
        thumb(photo, imageops::FilterType::Triangle),
    ];
    for (column, tile) in tiles.iter().enumerate() {
        imageops::replace(&mut row, tile, i64::from(column as u32 * thumb_width), 0);
    }
    row
}

fn stack_rows(rows: &[RgbImage]) -> RgbImage {
    let width = rows.iter().map(|r| r.width()).max().unwrap_or(1);
    let height = rows.iter().map(|r| r.height()).sum::<u32>().max(1);
    let mut grid = RgbImage::new(width, height);
    let mut top = 0;
    for row in rows {
        imageops::replace(&mut grid, row, 0, i64::from(top));
        top += row.height();
    }
    grid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_abs_difference_is_zero_for_equal_images_and_one_for_opposites() {
        let black = RgbImage::new(4, 2);
        let white = RgbImage::from_pixel(4, 2, image::Rgb([255, 255, 255]));
        assert_eq!(mean_abs_difference(&black, &black), 0.0);
        assert!((mean_abs_difference(&black, &white) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn rows_stack_top_to_bottom() {
        let rows = [
            RgbImage::from_pixel(6, 2, image::Rgb([10, 0, 0])),
            RgbImage::from_pixel(6, 3, image::Rgb([0, 20, 0])),
        ];
        let grid = stack_rows(&rows);
        assert_eq!(grid.dimensions(), (6, 5));
        assert_eq!(grid.get_pixel(0, 1).0, [10, 0, 0]);
        assert_eq!(grid.get_pixel(5, 4).0, [0, 20, 0]);
    }
}

//! How far a model's styles move an image's global colour and light (issue 15's "styles that
//! visibly work"), measured against how far real photos differ from each other.
//!
//! Each chosen label map is translated with `styles` style seeds (the painter's dice: seeds
//! 0, 1, ...); the mean RGB of each translation (0..1 per channel) is its global colour. Per
//! label map, the spread of those colours is their root-mean-square distance from their mean;
//! the **style spread** is the mean of that over the label maps. The **photo spread** is the
//! same statistic over the chosen pairs' photos: how much real light and colour vary across
//! the data (sunny, overcast, autumn). A model whose styles change only texture scores near 0
//! against it; one whose styles span the data's looks scores near the photos' spread.
use image::RgbImage;

use super::{chosen_pairs, PairChoice, Progress};
use crate::error::{Error, Result};
use crate::labelmap::read_label_map;
use crate::nets::bundle::{Model, TranslateOptions};
use crate::train::data::{read_photo, Dataset};

/// The style spread of a model on a dataset's chosen pairs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StyleSpread {
    /// Style seeds per label map.
    pub styles: usize,
    /// Label maps translated.
    pub label_maps: usize,
    /// Mean over label maps of the RMS distance of the styles' mean colours (RGB, 0..1).
    pub style_spread: f64,
    /// RMS distance of the photos' mean colours from their mean (RGB, 0..1).
    pub photo_spread: f64,
}

impl StyleSpread {
    /// The style spread as a fraction of the photos' (0 where the photos do not differ).
    pub fn ratio(&self) -> f64 {
        if self.photo_spread > 0.0 {
            self.style_spread / self.photo_spread
        } else {
            0.0
        }
    }
}

impl std::fmt::Display for StyleSpread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "style spread {:.4} against the photos' {:.4} (ratio {:.2}): {} label maps x {} styles, mean colours in RGB 0..1",
            self.style_spread,
            self.photo_spread,
            self.ratio(),
            self.label_maps,
            self.styles
        )
    }
}

/// The mean of each channel of `image`, each in 0..1.
pub fn mean_colour(image: &RgbImage) -> [f64; 3] {
    let mut sum = [0u64; 3];
    for pixel in image.pixels() {
        for (s, &v) in sum.iter_mut().zip(&pixel.0) {
            *s += u64::from(v);
        }
    }
    let n = (image.width() as f64 * image.height() as f64).max(1.0) * 255.0;
    sum.map(|s| s as f64 / n)
}

/// Root-mean-square distance of `colours` from their mean (0 for fewer than two).
pub fn spread(colours: &[[f64; 3]]) -> f64 {
    if colours.len() < 2 {
        return 0.0;
    }
    let n = colours.len() as f64;
    let mut mean = [0.0; 3];
    for colour in colours {
        for (m, c) in mean.iter_mut().zip(colour) {
            *m += c / n;
        }
    }
    let squared: f64 = colours
        .iter()
        .map(|c| {
            c.iter()
                .zip(&mean)
                .map(|(c, m)| (c - m).powi(2))
                .sum::<f64>()
        })
        .sum();
    (squared / n).sqrt()
}

/// [`StyleSpread`] of `model` on `dataset`'s chosen pairs with `styles` seeds per label map.
pub fn style_spread(
    model: &Model,
    dataset: &Dataset,
    choice: &PairChoice,
    styles: usize,
    progress: Progress,
) -> Result<StyleSpread> {
    if styles < 2 {
        return Err(Error::msg(format!(
            "a style spread needs at least 2 styles per label map, {styles} asked for"
        )));
    }
    let pairs = chosen_pairs(dataset, choice)?;
    let mut per_map = Vec::with_capacity(pairs.len());
    let mut photos = Vec::with_capacity(pairs.len());
    for (i, pair) in pairs.iter().enumerate() {
        let labels = read_label_map(&pair.label, &model.palette)?;
        let colours = (0..styles as u64)
            .map(|seed| {
                let options = TranslateOptions {
                    seed,
                    ..TranslateOptions::default()
                };
                Ok(mean_colour(&model.translate(&labels, &options)?))
            })
            .collect::<Result<Vec<_>>>()?;
        per_map.push(spread(&colours));
        photos.push(mean_colour(&read_photo(&pair.image)?));
        progress("styles", i + 1, pairs.len());
    }
    Ok(StyleSpread {
        styles,
        label_maps: pairs.len(),
        style_spread: per_map.iter().sum::<f64>() / per_map.len().max(1) as f64,
        photo_spread: spread(&photos),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_colour_and_spread_follow_their_definitions() {
        let mut image = RgbImage::from_pixel(2, 1, image::Rgb([255, 0, 51]));
        image.put_pixel(1, 0, image::Rgb([0, 0, 153]));
        let mean = mean_colour(&image);
        assert!((mean[0] - 0.5).abs() < 1e-12 && mean[1] == 0.0 && (mean[2] - 0.4).abs() < 1e-12);
        // Two colours 0.6 apart in one channel: each is 0.3 from their mean.
        assert!((spread(&[[0.2, 0.5, 0.5], [0.8, 0.5, 0.5]]) - 0.3).abs() < 1e-12);
        assert!(spread(&[[0.1, 0.2, 0.3]; 3]) < 1e-12);
        assert_eq!(spread(&[[0.1, 0.2, 0.3]]), 0.0);
    }

    #[test]
    fn the_ratio_is_the_style_spread_over_the_photos() {
        let spread = StyleSpread {
            styles: 4,
            label_maps: 3,
            style_spread: 0.01,
            photo_spread: 0.08,
        };
        assert!((spread.ratio() - 0.125).abs() < 1e-12);
        assert_eq!(
            StyleSpread {
                photo_spread: 0.0,
                ..spread
            }
            .ratio(),
            0.0
        );
    }
}

//! Style colours (issue 15's "styles that visibly work"): a style sets the image's global colour
//! and light by matching the generated image's colour statistics to a photo's.
//!
//! The generator largely ignores its style code for global colour (`eval::style` measures it),
//! so after the generator each channel of the image in YCbCr (ITU-R BT.601, on RGB in -1..1) gets
//! the mean of the style's photo, and a spread halfway (the geometric mean) between its own and
//! the photo's: the photo chosen with "style from photo", or for a random style one of the
//! training photos, drawn by the seed from the bank the bundle carries (`style_colours.json`).
//! This is Reinhard et al. 2001's colour transfer ("Color Transfer between Images") in a
//! luma/chroma space instead of lαβ: there the transfer is one affine map of RGB, so it commutes
//! with the resize to the painting's size (`output_resize`) and costs 12 operations a pixel.
//! Measured against no transfer, the mean alone and the full spread in weights/README.md (FID,
//! KID, style spread).
use std::path::{Path, PathBuf};

use candle_core::Tensor;
use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The bank of photo statistics inside a bundle.
pub const STYLE_COLOURS_FILE: &str = "style_colours.json";
/// Photos are measured at most this wide (the generators' output width), so a 4000-pixel style
/// photo and a 256-pixel translation are compared at the same scale of detail.
pub const MEASURE_WIDTH_PX: u32 = 256;
/// How far a channel's spread moves from the generated image's towards the photo's, as an
/// exponent of their ratio: 0 keeps the generator's contrast, 1 takes the photo's. The full
/// spread cost 2.8 held-out FID on average over three draws of bank photos, half of it 0.9,
/// while the mean colour (what the style spread measures) moves fully either way
/// (weights/README.md, "styles that set the colour and light").
pub const SPREAD_STRENGTH: f32 = 0.5;
/// A channel's spread is scaled by at most this factor (and at least its inverse): a flat
/// generated channel must not amplify noise, nor a flat photo erase all shading.
pub const MAX_SPREAD_SCALE: f32 = 2.0;

/// RGB -> YCbCr (BT.601 luma and scaled colour differences), rows Y, Cb, Cr.
const TO_YCBCR: [[f32; 3]; 3] = [
    [0.299, 0.587, 0.114],
    [-0.168_736, -0.331_264, 0.5],
    [0.5, -0.418_688, -0.081_312],
];
/// YCbCr -> RGB, the inverse of [`TO_YCBCR`].
const TO_RGB: [[f32; 3]; 3] = [
    [1.0, 0.0, 1.402],
    [1.0, -0.344_136, -0.714_136],
    [1.0, 1.772, 0.0],
];

/// Mean and standard deviation of each YCbCr channel of an image with RGB in -1..1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ColourStats {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl ColourStats {
    /// Statistics of three planes (R, G, B, each `plane` values in -1..1).
    pub fn of_planes(rgb: &[f32], plane: usize) -> Result<Self> {
        if plane == 0 || rgb.len() != 3 * plane {
            return Err(Error::msg(format!(
                "colour statistics need 3 planes of {plane} values, got {} values",
                rgb.len()
            )));
        }
        let mut sum = [0f64; 3];
        let mut squares = [0f64; 3];
        for i in 0..plane {
            let pixel = [rgb[i], rgb[plane + i], rgb[2 * plane + i]];
            for (c, row) in TO_YCBCR.iter().enumerate() {
                let v = f64::from(dot(row, pixel));
                sum[c] += v;
                squares[c] += v * v;
            }
        }
        let n = plane as f64;
        let mean = sum.map(|s| s / n);
        let std = [0, 1, 2].map(|c| (squares[c] / n - mean[c] * mean[c]).max(0.0).sqrt() as f32);
        Ok(Self {
            mean: mean.map(|m| m as f32),
            std,
        })
    }

    /// The mean colour as RGB in -1..1.
    pub fn mean_rgb(&self) -> [f32; 3] {
        TO_RGB.map(|row| dot(&row, self.mean))
    }

    /// Statistics of a photo, measured at most [`MEASURE_WIDTH_PX`] wide.
    pub fn of_photo(photo: &RgbImage) -> Result<Self> {
        let (width, height) = photo.dimensions();
        let resized;
        let image = if width > MEASURE_WIDTH_PX {
            let scaled_height =
                (u64::from(height) * u64::from(MEASURE_WIDTH_PX) / u64::from(width)).max(1) as u32;
            resized = image::imageops::resize(
                photo,
                MEASURE_WIDTH_PX,
                scaled_height,
                image::imageops::FilterType::Triangle,
            );
            &resized
        } else {
            photo
        };
        let plane = (image.width() * image.height()) as usize;
        let mut rgb = vec![0f32; 3 * plane];
        for (i, pixel) in image.pixels().enumerate() {
            for c in 0..3 {
                rgb[c * plane + i] = f32::from(pixel.0[c]) / 127.5 - 1.0;
            }
        }
        Self::of_planes(&rgb, plane)
    }
}

fn dot(row: &[f32; 3], v: [f32; 3]) -> f32 {
    row[0] * v[0] + row[1] * v[1] + row[2] * v[2]
}

/// The affine map of RGB that gives an image with statistics `from` the mean of `to` and a
/// spread [`SPREAD_STRENGTH`] of the way to `to`'s: `rgb' = matrix * rgb + offset`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColourTransfer {
    pub matrix: [[f32; 3]; 3],
    pub offset: [f32; 3],
}

impl ColourTransfer {
    pub fn between(from: &ColourStats, to: &ColourStats) -> Self {
        let scale = [0, 1, 2].map(|c| {
            let ratio = to.std[c] / from.std[c].max(1e-6);
            ratio
                .powf(SPREAD_STRENGTH)
                .clamp(1.0 / MAX_SPREAD_SCALE, MAX_SPREAD_SCALE)
        });
        // In YCbCr: y' = to.mean + scale * (y - from.mean); back in RGB through TO_RGB.
        let shift = [0, 1, 2].map(|c| to.mean[c] - scale[c] * from.mean[c]);
        let mut matrix = [[0f32; 3]; 3];
        for (r, row) in matrix.iter_mut().enumerate() {
            for (c, value) in row.iter_mut().enumerate() {
                *value = (0..3)
                    .map(|k| TO_RGB[r][k] * scale[k] * TO_YCBCR[k][c])
                    .sum();
            }
        }
        Self {
            matrix,
            offset: [0, 1, 2].map(|r| dot(&TO_RGB[r], shift)),
        }
    }

    /// Applies the map to three planes of `plane` values each, in place.
    pub fn apply(&self, rgb: &mut [f32], plane: usize) {
        let (r, rest) = rgb.split_at_mut(plane);
        let (g, b) = rest.split_at_mut(plane);
        for ((r, g), b) in r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()) {
            let pixel = [*r, *g, *b];
            *r = dot(&self.matrix[0], pixel) + self.offset[0];
            *g = dot(&self.matrix[1], pixel) + self.offset[1];
            *b = dot(&self.matrix[2], pixel) + self.offset[2];
        }
    }
}

/// A generator output (1 x 3 x H x W, -1..1) given the statistics `target`.
pub fn match_colours(output: &Tensor, target: &ColourStats) -> Result<Tensor> {
    let (batch, channels, height, width) = output.dims4()?;
    if (batch, channels) != (1, 3) {
        return Err(Error::msg(format!(
            "style colours need one RGB image (1 x 3 x H x W), got {batch} x {channels} x {height} x {width}"
        )));
    }
    let plane = height * width;
    let mut rgb = output.flatten_all()?.to_vec1::<f32>()?;
    let from = ColourStats::of_planes(&rgb, plane)?;
    ColourTransfer::between(&from, target).apply(&mut rgb, plane);
    Ok(Tensor::from_vec(rgb, output.shape(), output.device())?)
}

/// One training photo's statistics, named by its pair's key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhotoColours {
    pub key: String,
    #[serde(flatten)]
    pub stats: ColourStats,
}

/// `style_colours.json`: the statistics random styles draw from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StyleColours {
    /// What the numbers are, for a reader of the file.
    pub space: String,
    pub photos: Vec<PhotoColours>,
}

impl StyleColours {
    /// The bank of `photos` (pair key, photo path; `Dataset::photos` lists a dataset's), each
    /// read and measured; photos that cannot be read are left out and returned with why
    /// (training skips those pairs too). An error when none can be read.
    pub fn of_photos<'a>(
        photos: impl IntoIterator<Item = (&'a str, &'a Path)>,
    ) -> Result<(Self, Vec<(PathBuf, Error)>)> {
        let mut measured = Vec::new();
        let mut unreadable = Vec::new();
        let mut count = 0;
        for (key, path) in photos {
            count += 1;
            let stats = crate::image_limits::open_limited(
                path,
                "photo",
                crate::image_limits::MAX_PHOTO_SIDE,
            )
            .and_then(|photo| ColourStats::of_photo(&photo.to_rgb8()));
            match stats {
                Ok(stats) => measured.push(PhotoColours {
                    key: key.to_string(),
                    stats,
                }),
                Err(e) => unreadable.push((path.to_path_buf(), e)),
            }
        }
        if measured.is_empty() {
            return Err(Error::msg(format!(
                "style colours: none of {count} photo(s) could be read{}",
                unreadable
                    .first()
                    .map(|(path, e)| format!(" ({}: {e})", path.display()))
                    .unwrap_or_default()
            )));
        }
        let bank = Self {
            space: "mean and std of YCbCr (BT.601) of RGB in -1..1, per training photo".into(),
            photos: measured,
        };
        Ok((bank, unreadable))
    }

    /// The statistics random style `seed` takes: a photo drawn by a hash of the seed, so that
    /// neighbouring seeds (0, 1, 2...) reach photos far apart in the data's order.
    pub fn for_seed(&self, seed: u64) -> Option<&ColourStats> {
        let n = self.photos.len() as u64;
        (n > 0).then(|| &self.photos[(splitmix64(seed) % n) as usize].stats)
    }

    /// The bank in bundle `dir`, or `None` when it has none.
    pub fn read(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(STYLE_COLOURS_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let bank: Self = serde_json::from_str(&text).map_err(|e| Error::Json {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let bad = bank.photos.iter().find(|p| {
            let values = p.stats.mean.iter().chain(&p.stats.std);
            values.clone().any(|v| !v.is_finite()) || p.stats.std.iter().any(|&s| s < 0.0)
        });
        match (bank.photos.is_empty(), bad) {
            (true, _) => Err(Error::msg(format!(
                "{}: no photos in the bank",
                path.display()
            ))),
            (_, Some(p)) => Err(Error::msg(format!(
                "{}: photo {} has a non-finite value or a negative std: {:?}",
                path.display(),
                p.key,
                p.stats
            ))),
            _ => Ok(Some(bank)),
        }
    }

    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(STYLE_COLOURS_FILE);
        let text = serde_json::to_string(self)
            .map_err(|e| Error::msg(format!("{}: {e}", path.display())))?;
        crate::atomic_file::write_text_atomic(&path, &text)
    }
}

/// Sebastiano Vigna's SplitMix64 finaliser: a seed's well-mixed 64-bit hash.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three planes of `plane` values in -1..1 from a simple generator of varied values.
    fn planes(plane: usize, salt: u64) -> Vec<f32> {
        (0..3 * plane as u64)
            .map(|i| {
                let h = splitmix64(i ^ (salt << 32));
                (h % 2001) as f32 / 1000.0 - 1.0
            })
            .map(|v| v * 0.6)
            .collect()
    }

    fn close(a: [f32; 3], b: [f32; 3], tolerance: f32) -> bool {
        a.iter().zip(&b).all(|(a, b)| (a - b).abs() < tolerance)
    }

    #[test]
    fn the_colour_matrices_are_inverse() {
        for (r, row) in TO_RGB.iter().enumerate() {
            for c in 0..3 {
                let product: f32 = row.iter().zip(&TO_YCBCR).map(|(v, y)| v * y[c]).sum();
                let identity = if r == c { 1.0 } else { 0.0 };
                assert!((product - identity).abs() < 1e-5, "({r},{c}): {product}");
            }
        }
    }

    #[test]
    fn pure_red_has_bt601_luma_and_full_red_difference() {
        let red = RgbImage::from_pixel(8, 4, image::Rgb([255, 0, 0]));
        let stats = ColourStats::of_photo(&red).unwrap();
        assert!(
            close(stats.mean, [-0.402, -0.337_472, 1.0], 1e-5),
            "{stats:?}"
        );
        assert!(close(stats.std, [0.0; 3], 1e-3), "{stats:?}");
        assert!(
            close(stats.mean_rgb(), [1.0, -1.0, -1.0], 1e-5),
            "{stats:?}"
        );
    }

    #[test]
    fn a_transfer_gives_the_target_mean_and_a_spread_halfway_to_its_own() {
        let plane = 37 * 23;
        let mut rgb = planes(plane, 1);
        let target = ColourStats {
            mean: [0.2, -0.05, 0.08],
            std: [0.3, 0.2, 0.15],
        };
        let from = ColourStats::of_planes(&rgb, plane).unwrap();
        assert!(from
            .std
            .iter()
            .zip(&target.std)
            .all(|(f, t)| t / f < 2.0 && t / f > 0.5));
        ColourTransfer::between(&from, &target).apply(&mut rgb, plane);
        let after = ColourStats::of_planes(&rgb, plane).unwrap();
        assert!(close(after.mean, target.mean, 1e-4), "{after:?}");
        let halfway = [0, 1, 2].map(|c| (from.std[c] * target.std[c]).sqrt());
        assert!(close(after.std, halfway, 1e-4), "{after:?} vs {halfway:?}");
        assert!(!close(after.std, target.std, 1e-2), "{after:?}");
        assert!(!close(after.std, from.std, 1e-2), "{after:?}");
    }

    #[test]
    fn equal_statistics_leave_the_image_alone() {
        let stats = ColourStats::of_planes(&planes(64, 2), 64).unwrap();
        let transfer = ColourTransfer::between(&stats, &stats);
        for (r, row) in transfer.matrix.iter().enumerate() {
            let identity = [0, 1, 2].map(|c| if r == c { 1.0 } else { 0.0 });
            assert!(close(*row, identity, 1e-5), "{transfer:?}");
        }
        assert!(close(transfer.offset, [0.0; 3], 1e-5), "{transfer:?}");
    }

    #[test]
    fn a_spread_is_scaled_by_at_most_the_limit() {
        let plane = 100;
        let mut rgb: Vec<f32> = planes(plane, 3).iter().map(|v| v * 0.01).collect();
        let from = ColourStats::of_planes(&rgb, plane).unwrap();
        let target = ColourStats {
            mean: [0.0; 3],
            std: [0.5; 3],
        };
        ColourTransfer::between(&from, &target).apply(&mut rgb, plane);
        let after = ColourStats::of_planes(&rgb, plane).unwrap();
        let limited = from.std.map(|s| s * MAX_SPREAD_SCALE);
        assert!(close(after.std, limited, 1e-5), "{after:?} vs {limited:?}");
        assert!(close(after.mean, target.mean, 1e-5), "{after:?}");
    }

    #[test]
    fn matching_a_generator_output_keeps_its_shape_and_takes_the_target() {
        let (height, width) = (6, 10);
        let output = Tensor::from_vec(
            planes(height * width, 4),
            (1, 3, height, width),
            &candle_core::Device::Cpu,
        )
        .unwrap();
        let target = ColourStats {
            mean: [-0.3, 0.05, -0.02],
            std: [0.4, 0.15, 0.12],
        };
        let matched = match_colours(&output, &target).unwrap();
        assert_eq!(matched.dims(), output.dims());
        let values = matched.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let after = ColourStats::of_planes(&values, height * width).unwrap();
        assert!(close(after.mean, target.mean, 1e-4), "{after:?}");
        let two = Tensor::zeros(
            (2, 3, 4, 4),
            candle_core::DType::F32,
            &candle_core::Device::Cpu,
        )
        .unwrap();
        let err = match_colours(&two, &target).unwrap_err().to_string();
        assert!(err.contains("2 x 3 x 4 x 4"), "{err}");
    }

    fn bank(n: usize) -> StyleColours {
        StyleColours {
            space: "test".into(),
            photos: (0..n)
                .map(|i| PhotoColours {
                    key: format!("p{i}"),
                    stats: ColourStats {
                        mean: [i as f32 / n as f32, 0.0, 0.0],
                        std: [0.3; 3],
                    },
                })
                .collect(),
        }
    }

    #[test]
    fn neighbouring_seeds_reach_photos_far_apart() {
        let bank = bank(100);
        let picked: Vec<f32> = (0..4).map(|s| bank.for_seed(s).unwrap().mean[0]).collect();
        assert_eq!(bank.for_seed(2), bank.for_seed(2));
        let mut sorted = picked.clone();
        sorted.sort_by(f32::total_cmp);
        sorted.dedup();
        assert_eq!(sorted.len(), 4, "{picked:?}");
        assert!(sorted[3] - sorted[0] > 0.3, "seeds 0-3 picked {picked:?}");
    }

    #[test]
    fn a_bank_round_trips_and_a_damaged_one_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(StyleColours::read(dir.path()).unwrap(), None);
        let written = bank(3);
        written.write(dir.path()).unwrap();
        assert_eq!(
            StyleColours::read(dir.path()).unwrap(),
            Some(written.clone())
        );
        let mut damaged = written;
        damaged.photos[1].stats.std[2] = -0.1;
        damaged.write(dir.path()).unwrap();
        let err = StyleColours::read(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains(STYLE_COLOURS_FILE) && err.contains("p1") && err.contains("negative"),
            "{err}"
        );
        bank(0).write(dir.path()).unwrap();
        let err = StyleColours::read(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no photos"), "{err}");
        std::fs::write(dir.path().join(STYLE_COLOURS_FILE), "{\"photos\": 3}").unwrap();
        let err = StyleColours::read(dir.path()).unwrap_err().to_string();
        assert!(err.contains(STYLE_COLOURS_FILE), "{err}");
    }

    #[test]
    fn unreadable_photos_are_left_out_and_none_readable_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.png");
        RgbImage::from_pixel(600, 300, image::Rgb([10, 200, 30]))
            .save(&good)
            .unwrap();
        let bad = dir.path().join("bad.jpg");
        std::fs::write(&bad, b"not a jpeg").unwrap();
        let photos = [("good", good.as_path()), ("bad", bad.as_path())];
        let (bank, unreadable) = StyleColours::of_photos(photos).unwrap();
        assert_eq!(bank.photos.len(), 1);
        assert_eq!(bank.photos[0].key, "good");
        assert!(
            bank.photos[0].stats.mean[2] < -0.5,
            "green: {:?}",
            bank.photos[0]
        );
        assert_eq!(unreadable.len(), 1);
        assert_eq!(unreadable[0].0, bad);
        let err = StyleColours::of_photos(photos[1..].iter().copied())
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.jpg"), "{err}");
    }
}

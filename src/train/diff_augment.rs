//! DiffAugment (Zhao, Liu, Lin, Zhu and Han, "Differentiable Augmentation for Data-Efficient
//! GAN Training", NeurIPS 2020): the discriminator sees real and generated images through the
//! same random transforms, made of differentiable tensor ops, so it cannot memorise a small
//! training set while the generator still gets its gradient through them. The paper's three
//! policies: `color` (brightness, saturation, contrast), `translation` (up to 1/8 of each side,
//! zero fill) and `cutout` (a zeroed rectangle of half each side), applied in that order.
//!
//! A conditional discriminator reads label map ++ image: the spatial transforms move both
//! together (the pair stays aligned), colour changes the image channels only. One draw serves
//! a pair: a generated image and its photo get the same transform, so SPADE's feature matching
//! still compares aligned features.
use candle_core::Tensor;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};

/// Which transforms are on: the paper's policy string, e.g. `"color,translation,cutout"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy {
    pub color: bool,
    pub translation: bool,
    pub cutout: bool,
}

impl Policy {
    /// Parses a comma-separated policy; an unknown or empty part is an error naming it.
    pub fn parse(text: &str) -> Result<Self> {
        let mut policy = Self::default();
        for part in text.split(',').map(str::trim) {
            match part {
                "color" => policy.color = true,
                "translation" => policy.translation = true,
                "cutout" => policy.cutout = true,
                other => {
                    return Err(Error::msg(format!(
                        "diff_augment: unknown policy {other:?} in {text:?}; expected a \
                         comma-separated list of color, translation, cutout"
                    )))
                }
            }
        }
        Ok(policy)
    }
}

/// The paper's full policy, which its small-data results used (the training panel's switch).
pub const ALL_POLICIES: &str = "color,translation,cutout";

/// Translation reaches this fraction of a side; cutout zeroes this fraction of each side.
const TRANSLATION_RATIO: f64 = 0.125;
const CUTOUT_RATIO: f64 = 0.5;

/// One pair's random parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Draw {
    /// Added to every image value, in [-0.5, 0.5).
    brightness: f64,
    /// Scales the distance from the pixel's channel mean, in [0, 2).
    saturation: f64,
    /// Scales the distance from the image's mean, in [0.5, 1.5).
    contrast: f64,
    /// Output pixel (y, x) reads input (y - dy, x - dx).
    shift: (i64, i64),
    /// The zeroed rows `[y0, y1)` and columns `[x0, x1)`.
    cutout: ((usize, usize), (usize, usize)),
}

/// The draws of one discriminator call: pair `i` transforms batch samples `i`, `i + pairs`, ...
#[derive(Debug, Clone, PartialEq)]
pub struct Draws {
    policy: Policy,
    pairs: Vec<Draw>,
}

impl Draws {
    /// Fresh parameters for `pairs` pairs of `height x width` images.
    pub fn sample(
        policy: Policy,
        pairs: usize,
        (height, width): (usize, usize),
        rng: &mut ChaCha8Rng,
    ) -> Self {
        let mut reach = |side: usize| {
            let s = (side as f64 * TRANSLATION_RATIO + 0.5) as i64;
            rng.random_range(-s..=s)
        };
        let shifts: Vec<(i64, i64)> = (0..pairs).map(|_| (reach(height), reach(width))).collect();
        let mut cut = |side: usize| {
            let size = (side as f64 * CUTOUT_RATIO + 0.5) as usize;
            let centre = rng.random_range(0..side.max(1));
            let start = centre.saturating_sub(size / 2);
            (start, (centre + size.div_ceil(2)).min(side))
        };
        let cutouts: Vec<_> = (0..pairs).map(|_| (cut(height), cut(width))).collect();
        let pairs = shifts
            .into_iter()
            .zip(cutouts)
            .map(|(shift, cutout)| Draw {
                brightness: rng.random::<f64>() - 0.5,
                saturation: rng.random::<f64>() * 2.0,
                contrast: rng.random::<f64>() + 0.5,
                shift,
                cutout,
            })
            .collect();
        Self { policy, pairs }
    }

    /// `x` (N, C, H, W) with sample `i` transformed by pair `i % pairs`; channels from
    /// `image_from` on are the image (the ones colour changes).
    pub fn apply(&self, x: &Tensor, image_from: usize) -> Result<Tensor> {
        let (n, channels) = (x.dim(0)?, x.dim(1)?);
        if self.pairs.is_empty() || n % self.pairs.len() != 0 || image_from >= channels {
            return Err(Error::msg(format!(
                "diff_augment: {} draws for a batch of shape {:?} with the image from channel {image_from}",
                self.pairs.len(),
                x.dims()
            )));
        }
        let samples = (0..n)
            .map(|i| {
                self.apply_one(
                    &x.narrow(0, i, 1)?,
                    &self.pairs[i % self.pairs.len()],
                    image_from,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Tensor::cat(&samples, 0)?)
    }

    fn apply_one(&self, x: &Tensor, draw: &Draw, image_from: usize) -> Result<Tensor> {
        let mut x = x.clone();
        if self.policy.color {
            let image = x.narrow(1, image_from, x.dim(1)? - image_from)?;
            let image = (image + draw.brightness)?;
            let mean = image.mean_keepdim(1)?;
            let image = (image.broadcast_sub(&mean)? * draw.saturation)?.broadcast_add(&mean)?;
            let mean = image.mean_keepdim(3)?.mean_keepdim(2)?.mean_keepdim(1)?;
            let image = (image.broadcast_sub(&mean)? * draw.contrast)?.broadcast_add(&mean)?;
            x = match image_from {
                0 => image,
                _ => Tensor::cat(&[&x.narrow(1, 0, image_from)?, &image], 1)?,
            };
        }
        if self.policy.translation {
            x = shift_axis(&shift_axis(&x, 2, draw.shift.0)?, 3, draw.shift.1)?;
        }
        if self.policy.cutout {
            let (h, w) = (x.dim(2)?, x.dim(3)?);
            let ((y0, y1), (x0, x1)) = draw.cutout;
            let mask: Vec<f32> = (0..h * w)
                .map(|p| {
                    let (y, x) = (p / w, p % w);
                    if (y0..y1).contains(&y) && (x0..x1).contains(&x) {
                        0.0
                    } else {
                        1.0
                    }
                })
                .collect();
            let mask = Tensor::from_vec(mask, (1, 1, h, w), x.device())?;
            x = x.broadcast_mul(&mask)?;
        }
        Ok(x)
    }
}

/// `x` moved by `by` along `dim` (output `j` reads input `j - by`), zeros where nothing moves in.
fn shift_axis(x: &Tensor, dim: usize, by: i64) -> Result<Tensor> {
    let len = x.dim(dim)?;
    let n = by.unsigned_abs() as usize;
    Ok(match by {
        0 => x.clone(),
        _ if n >= len => x.zeros_like()?,
        1.. => x.pad_with_zeros(dim, n, 0)?.narrow(dim, 0, len)?,
        _ => x.pad_with_zeros(dim, 0, n)?.narrow(dim, n, len)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};
    use rand::SeedableRng;

    fn ramp(n: usize, c: usize, h: usize, w: usize) -> Tensor {
        let values: Vec<f32> = (0..n * c * h * w)
            .map(|i| (i % 97) as f32 / 97.0 - 0.3)
            .collect();
        Tensor::from_vec(values, (n, c, h, w), &Device::Cpu).unwrap()
    }

    fn values(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    }

    fn only(policy: &str, draw: Draw) -> Draws {
        Draws {
            policy: Policy::parse(policy).unwrap(),
            pairs: vec![draw],
        }
    }

    const NEUTRAL: Draw = Draw {
        brightness: 0.0,
        saturation: 0.5,
        contrast: 0.5,
        shift: (0, 0),
        cutout: ((0, 0), (0, 0)),
    };

    #[test]
    fn policy_parses_the_papers_names_and_names_what_it_rejects() {
        let all = Policy::parse("color, translation,cutout").unwrap();
        assert!(all.color && all.translation && all.cutout);
        assert_eq!(
            Policy::parse("cutout").unwrap(),
            Policy {
                cutout: true,
                ..Policy::default()
            }
        );
        let err = Policy::parse("color,flip").unwrap_err().to_string();
        assert!(err.contains("\"flip\""), "{err}");
    }

    #[test]
    fn translation_moves_label_and_image_together_with_zero_fill() {
        let x = ramp(1, 3, 5, 6);
        let draws = only(
            "translation",
            Draw {
                shift: (2, -1),
                ..NEUTRAL
            },
        );
        let y = draws.apply(&x, 1).unwrap();
        let (xs, ys) = (values(&x), values(&y));
        for c in 0..3 {
            for r in 0..5 {
                for q in 0..6 {
                    let got = ys[(c * 5 + r) * 6 + q];
                    let (sr, sq) = (r as i64 - 2, q as i64 + 1);
                    let want = if (0..5).contains(&sr) && (0..6).contains(&sq) {
                        xs[(c * 5 + sr as usize) * 6 + sq as usize]
                    } else {
                        0.0
                    };
                    assert_eq!(got, want, "channel {c} row {r} column {q}");
                }
            }
        }
    }

    #[test]
    fn colour_changes_the_image_channels_only() {
        let x = ramp(1, 4, 3, 3);
        let draws = only(
            "color",
            Draw {
                brightness: 0.25,
                saturation: 1.5,
                contrast: 1.2,
                ..NEUTRAL
            },
        );
        let y = draws.apply(&x, 2).unwrap();
        let channels = |t: &Tensor, from| values(&t.narrow(1, from, 2).unwrap());
        assert_eq!(channels(&x, 0), channels(&y, 0));
        let image = |t: &Tensor| channels(t, 2);
        let (before, after) = (image(&x), image(&y));
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
        // Brightness moves the mean; saturation and contrast keep it.
        assert!((mean(&after) - mean(&before) - 0.25).abs() < 1e-5);
        assert!(before
            .iter()
            .zip(&after)
            .any(|(a, b)| (a - b - 0.25).abs() > 1e-3));
    }

    #[test]
    fn pairs_share_a_draw_and_cutout_stops_the_gradient_where_it_cuts() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let policy = Policy::parse("color,translation,cutout").unwrap();
        let draws = Draws::sample(policy, 2, (8, 8), &mut rng);
        assert_ne!(draws.pairs[0], draws.pairs[1]);
        // A batch of 4 = the same 2 samples twice (fake ++ real): each pair gets one transform.
        let half = ramp(2, 2, 8, 8);
        let x = Var::from_tensor(&Tensor::cat(&[&half, &half], 0).unwrap()).unwrap();
        let y = draws.apply(x.as_tensor(), 1).unwrap();
        let rows = |t: &Tensor, i| values(&t.narrow(0, i, 1).unwrap());
        assert_eq!(rows(&y, 0), rows(&y, 2));
        assert_eq!(rows(&y, 1), rows(&y, 3));
        assert_ne!(rows(&y, 0), rows(&y, 1));
        let only_cut = only(
            "cutout",
            Draw {
                cutout: ((1, 5), (2, 6)),
                ..NEUTRAL
            },
        );
        let grads = only_cut
            .apply(x.as_tensor(), 1)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let g = grads.get(x.as_tensor()).unwrap().narrow(0, 0, 1).unwrap();
        let g = values(&g);
        for (p, v) in g.iter().enumerate() {
            let (r, q) = ((p / 8) % 8, p % 8);
            let cut = (1..5).contains(&r) && (2..6).contains(&q);
            assert_eq!(*v, if cut { 0.0 } else { 1.0 }, "pixel {p}");
        }
    }

    #[test]
    fn the_config_names_a_bad_policy_and_a_family_without_it() {
        use crate::train::config::{preset, TrainConfig};
        let with = |name: &str, policy: &str| TrainConfig {
            diff_augment: Some(policy.into()),
            ..preset(name).unwrap()
        };
        assert!(with("spade-tiny", "translation,cutout").validate().is_ok());
        let err = with("spade-tiny", "translate")
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"translate\""), "{err}");
        let err = with("pix2pix-tiny", "cutout")
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("SPADE family only"), "{err}");
    }

    #[test]
    fn a_batch_that_is_not_whole_pairs_is_refused() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let draws = Draws::sample(Policy::parse("translation").unwrap(), 3, (4, 4), &mut rng);
        let err = draws.apply(&ramp(4, 2, 4, 4), 1).unwrap_err().to_string();
        assert!(
            err.contains("3 draws") && err.contains("[4, 2, 4, 4]"),
            "{err}"
        );
    }
}

//! A model's FID and KID over several draws of its random styles. One draw at 47 held-out
//! pairs moves FID by about ±2.5 with the seeds alone (weights/README.md), as large as the
//! gains a training run makes between evaluations; the mean of a few draws tells two bundles
//! apart where one cannot. Draw `d` translates label map `i` in the style of seed
//! `d * pairs + i`: draw 0 is the single evaluation's (`score_model`, a training run's), and no
//! seed repeats across draws.
use super::{chosen_pairs, scores, translation_features, FeatureSet, FidNetwork, PairChoice};
use super::{Progress, Scores};
use crate::error::{Error, Result};
use crate::nets::bundle::Model;
use crate::train::data::Dataset;

/// One draw's scores and the seed of its first label map.
#[derive(Debug, Clone, PartialEq)]
pub struct Draw {
    pub first_seed: u64,
    pub scores: Scores,
}

/// The scores of every draw, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct DrawScores {
    pub draws: Vec<Draw>,
}

impl DrawScores {
    pub fn mean_fid(&self) -> f64 {
        self.mean(|s| s.fid)
    }

    pub fn mean_kid(&self) -> f64 {
        self.mean(|s| s.kid)
    }

    /// The lowest and highest FID of the draws.
    pub fn fid_range(&self) -> (f64, f64) {
        self.draws
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), d| {
                (lo.min(d.scores.fid), hi.max(d.scores.fid))
            })
    }

    fn mean(&self, of: impl Fn(&Scores) -> f64) -> f64 {
        let sum: f64 = self.draws.iter().map(|d| of(&d.scores)).sum();
        sum / self.draws.len().max(1) as f64
    }
}

impl std::fmt::Display for DrawScores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (d, draw) in self.draws.iter().enumerate() {
            writeln!(
                f,
                "draw {d} (seeds from {}): {}",
                draw.first_seed, draw.scores
            )?;
        }
        let (lo, hi) = self.fid_range();
        write!(
            f,
            "mean of {} draws: FID {:.2} (draws {lo:.2} to {hi:.2})  KID {:.5}",
            self.draws.len(),
            self.mean_fid(),
            self.mean_kid()
        )
    }
}

/// Whether `draws` draws of styles can be scored for `model` (callers check before their other
/// measurements, so that a mistake fails at once).
pub fn check_draws(model: &Model, draws: usize) -> Result<()> {
    if draws == 0 {
        return Err(Error::msg("at least one draw of styles is needed, 0 asked"));
    }
    if draws > 1 && !model.uses_style() {
        return Err(Error::msg(format!(
            "{draws} draws of styles asked, but this model has no random styles (a SPADE VAE \
             model's): its images do not change with the seed, so one draw is its score"
        )));
    }
    Ok(())
}

/// `draws` evaluations of `model` on `dataset`'s chosen pairs against their photos' features
/// `real`, each with its own style seeds. Needs a model whose images change with the seed.
#[allow(clippy::too_many_arguments)] // the evaluation's inputs, as `score_model` takes them
pub fn score_draws(
    network: &FidNetwork,
    model: &Model,
    dataset: &Dataset,
    choice: &PairChoice,
    size: (u32, u32),
    real: &FeatureSet,
    draws: usize,
    progress: Progress,
) -> Result<DrawScores> {
    check_draws(model, draws)?;
    let pairs = chosen_pairs(dataset, choice)?.len() as u64;
    let mut all = Vec::with_capacity(draws);
    for d in 0..draws as u64 {
        let first_seed = d * pairs;
        let fake =
            translation_features(network, model, dataset, choice, size, first_seed, progress)?;
        all.push(Draw {
            first_seed,
            scores: scores(real, &fake, size)?,
        });
    }
    Ok(DrawScores { draws: all })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draw(first_seed: u64, fid: f64, kid: f64) -> Draw {
        Draw {
            first_seed,
            scores: Scores {
                fid,
                kid,
                real_images: 47,
                generated_images: 47,
                width: 512,
                height: 272,
            },
        }
    }

    #[test]
    fn the_mean_and_range_of_three_draws() {
        let all = DrawScores {
            draws: vec![
                draw(0, 156.0, 0.03),
                draw(47, 152.0, 0.02),
                draw(94, 155.0, 0.04),
            ],
        };
        assert!((all.mean_fid() - 154.333_333).abs() < 1e-5);
        assert!((all.mean_kid() - 0.03).abs() < 1e-12);
        assert_eq!(all.fid_range(), (152.0, 156.0));
        let text = all.to_string();
        assert!(
            text.contains("draw 1 (seeds from 47): FID 152.00"),
            "{text}"
        );
        assert!(
            text.ends_with("mean of 3 draws: FID 154.33 (draws 152.00 to 156.00)  KID 0.03000"),
            "{text}"
        );
    }
}

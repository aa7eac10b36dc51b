//! The score of real photos: the held-out photos against as many *other* photos of the same
//! dataset, through the same FID and KID. With a few dozen images FID is biased far above 0
//! (the covariance of 2048 features from N images has rank at most N - 1): on ycor's 47
//! held-out pairs, disjoint sets of real photos score FID 104-118 and KID -0.004 to 0.005
//! (`docs/bench/fid-floor-2026-12-06-s13.txt`). A model's FID is read against this floor,
//! not against 0; KID is unbiased, so real photos score about 0 there.
use serde::{Deserialize, Serialize};

use super::{photo_features, scores, FeatureSet, FidNetwork, PairChoice, Progress};
use crate::error::Result;
use crate::train::data::Dataset;

/// Real photos against real photos: the held-out photos against `pairs` other photos of the
/// data, the level a perfect model could not beat by much at this count.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RealReference {
    pub fid: f64,
    pub kid: f64,
    pub pairs: usize,
}

/// `count` keys of `dataset`'s pairs outside `held_out`, spread evenly over them (sorted by
/// key, as the dataset lists them); `None` when fewer than `count` are left.
pub fn other_pairs(dataset: &Dataset, held_out: &[String], count: usize) -> Option<Vec<String>> {
    let others: Vec<&String> = dataset
        .pairs
        .iter()
        .map(|p| &p.key)
        .filter(|key| !held_out.contains(key))
        .collect();
    if count == 0 || others.len() < count {
        return None;
    }
    Some(
        (0..count)
            .map(|i| others[i * others.len() / count].clone())
            .collect(),
    )
}

/// FID and KID of the held-out photos (`held_out_photos`, their features at `size`) against
/// as many other photos of `dataset`; `None` when the choice is every pair or too few are left.
pub fn real_reference(
    network: &FidNetwork,
    dataset: &Dataset,
    held_out: &PairChoice,
    held_out_photos: &FeatureSet,
    size: (u32, u32),
    progress: Progress,
) -> Result<Option<RealReference>> {
    let PairChoice::Keys(keys) = held_out else {
        return Ok(None);
    };
    let Some(others) = other_pairs(dataset, keys, keys.len()) else {
        return Ok(None);
    };
    let other_photos = photo_features(network, dataset, &PairChoice::Keys(others), size, progress)?;
    let scores = scores(held_out_photos, &other_photos, size)?;
    Ok(Some(RealReference {
        fid: scores.fid,
        kid: scores.kid,
        pairs: scores.generated_images,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::data::dataset_of;

    #[test]
    fn other_pairs_are_disjoint_from_the_held_out_and_spread_evenly() {
        let keys: Vec<String> = (0..20).map(|i| format!("p{i:02}")).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let dataset = dataset_of(&refs);
        let held_out: Vec<String> = keys.iter().step_by(5).cloned().collect(); // 4 of 20
        let others = other_pairs(&dataset, &held_out, 4).unwrap();
        assert_eq!(others, ["p01", "p06", "p11", "p16"]);
        assert!(others.iter().all(|k| !held_out.contains(k)));
        assert_eq!(
            other_pairs(&dataset, &held_out, 16).map(|o| o.len()),
            Some(16)
        );
        assert_eq!(
            other_pairs(&dataset, &held_out, 17),
            None,
            "only 16 are left"
        );
        assert_eq!(other_pairs(&dataset, &held_out, 0), None);
    }
}

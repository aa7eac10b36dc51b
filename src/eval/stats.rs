//! FID and KID from Inception features, in f64.
//!
//! FID (Heusel et al. 2017, "GANs trained by a two time-scale update rule"): the Fréchet
//! distance between Gaussians fitted to the two feature sets,
//! `|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))`, with the unbiased covariances
//! (`np.cov`). The matrix square root's trace is computed without a general `sqrtm`:
//! with `X1`, `X2` the centred features scaled by `1/sqrt(n - 1)` (so `S = X^T X`), the
//! eigenvalues of `S1 S2` are those of the symmetric positive semi-definite `C C^T`, where
//! `C = X1 X2^T` (n1 x n2), plus zeros, so `tr((S1 S2)^(1/2))` is the sum of the singular values
//! of `C`: the square roots of the eigenvalues of a symmetric matrix, which a symmetric
//! eigensolver (nalgebra's Householder tridiagonalisation + implicit QR) gives reliably even
//! when the covariances are singular, as they are with fewer images than 2048 features. Sets
//! larger than the feature length use the same identity in feature space:
//! `eig(S1 S2) = eig(S1^(1/2) S2 S1^(1/2))`, again symmetric.
//!
//! KID (Bińkowski et al. 2018, "Demystifying MMD GANs"): the unbiased MMD² with the cubic
//! polynomial kernel `k(x, y) = (x·y / d + 1)^3`, averaged over `subsets` random subsets of
//! `min(max_subset, n1, n2)` images per set, as StyleGAN2-ADA's `metrics/kernel_inception_distance.py`
//! computes it.
use nalgebra::{DMatrix, DVector, SymmetricEigen};
use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};

/// Feature vectors of one image set, one row per image.
#[derive(Debug, Clone)]
pub struct FeatureSet {
    pub rows: DMatrix<f64>,
}

impl FeatureSet {
    /// Rows from per-image feature vectors, all of one length.
    pub fn new(features: &[Vec<f32>]) -> Result<Self> {
        let dim = features.first().map_or(0, Vec::len);
        if let Some(bad) = features.iter().find(|f| f.len() != dim) {
            return Err(Error::msg(format!(
                "feature vectors of different lengths: {dim} and {}",
                bad.len()
            )));
        }
        let rows = DMatrix::from_fn(features.len(), dim, |i, j| f64::from(features[i][j]));
        Ok(Self { rows })
    }

    pub fn len(&self) -> usize {
        self.rows.nrows()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dim(&self) -> usize {
        self.rows.ncols()
    }

    fn mean(&self) -> DVector<f64> {
        self.rows.row_mean().transpose()
    }

    /// The rows minus their mean, over `sqrt(n - 1)`: `X^T X` is the unbiased covariance.
    fn centred_scaled(&self) -> DMatrix<f64> {
        let mean = self.rows.row_mean();
        let scale = 1.0 / ((self.len() - 1) as f64).sqrt();
        let mut x = self.rows.clone();
        for mut row in x.row_iter_mut() {
            row -= &mean;
            row *= scale;
        }
        x
    }
}

fn check_sets(real: &FeatureSet, fake: &FeatureSet, need: usize) -> Result<()> {
    if real.len() < need || fake.len() < need {
        return Err(Error::msg(format!(
            "FID/KID need at least {need} images per set; found {} real and {} generated",
            real.len(),
            fake.len()
        )));
    }
    if real.dim() != fake.dim() {
        return Err(Error::msg(format!(
            "feature lengths differ: {} real, {} generated",
            real.dim(),
            fake.dim()
        )));
    }
    Ok(())
}

/// Sum of the square roots of a symmetric PSD matrix's eigenvalues (tiny negative rounding
/// errors count as 0).
fn trace_sqrt_symmetric(m: DMatrix<f64>) -> f64 {
    SymmetricEigen::new(m)
        .eigenvalues
        .iter()
        .map(|&l| l.max(0.0).sqrt())
        .sum()
}

/// `tr((S1 S2)^(1/2))` for `S = X^T X` (see the module header), in the smaller space.
fn trace_sqrt_product(x1: &DMatrix<f64>, x2: &DMatrix<f64>) -> f64 {
    if x1.nrows().min(x2.nrows()) <= x1.ncols() {
        trace_sqrt_sample_space(x1, x2)
    } else {
        trace_sqrt_feature_space(x1, x2)
    }
}

/// The singular values of `C = X1 X2^T`, summed.
fn trace_sqrt_sample_space(x1: &DMatrix<f64>, x2: &DMatrix<f64>) -> f64 {
    let c = x1 * x2.transpose();
    let gram = if c.nrows() <= c.ncols() {
        &c * c.transpose()
    } else {
        c.transpose() * &c
    };
    trace_sqrt_symmetric(symmetrised(gram))
}

/// `tr((S1^(1/2) S2 S1^(1/2))^(1/2))` with `S1^(1/2)` from `S1`'s eigenvectors.
fn trace_sqrt_feature_space(x1: &DMatrix<f64>, x2: &DMatrix<f64>) -> f64 {
    let eigen = SymmetricEigen::new(x1.transpose() * x1);
    let roots = eigen.eigenvalues.map(|l| l.max(0.0).sqrt());
    let sqrt_s1 =
        &eigen.eigenvectors * DMatrix::from_diagonal(&roots) * eigen.eigenvectors.transpose();
    trace_sqrt_symmetric(symmetrised(&sqrt_s1 * (x2.transpose() * x2) * &sqrt_s1))
}

/// `(m + m^T) / 2`: removes the rounding asymmetry of a product that is symmetric in theory.
fn symmetrised(m: DMatrix<f64>) -> DMatrix<f64> {
    (&m + m.transpose()) * 0.5
}

/// The Fréchet Inception Distance between two feature sets (at least 2 images each).
pub fn fid(real: &FeatureSet, fake: &FeatureSet) -> Result<f64> {
    check_sets(real, fake, 2)?;
    let mean_term = (real.mean() - fake.mean()).norm_squared();
    let (x1, x2) = (real.centred_scaled(), fake.centred_scaled());
    let traces = x1.norm_squared() + x2.norm_squared();
    let value = mean_term + traces - 2.0 * trace_sqrt_product(&x1, &x2);
    // Rounding can take identical sets a hair below zero.
    Ok(value.max(0.0))
}

/// How KID draws its subsets.
#[derive(Debug, Clone, Copy)]
pub struct KidOptions {
    pub subsets: usize,
    pub max_subset: usize,
    pub seed: u64,
}

impl Default for KidOptions {
    fn default() -> Self {
        Self {
            subsets: 100,
            max_subset: 1000,
            seed: 0,
        }
    }
}

/// The Kernel Inception Distance (unbiased MMD², cubic polynomial kernel).
pub fn kid(real: &FeatureSet, fake: &FeatureSet, options: KidOptions) -> Result<f64> {
    check_sets(real, fake, 2)?;
    let d = real.dim() as f64;
    let m = options.max_subset.min(real.len()).min(fake.len());
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let kernel =
        |a: &DMatrix<f64>, b: &DMatrix<f64>| (a * b.transpose()).map(|v| (v / d + 1.0).powi(3));
    let mut total = 0.0;
    for _ in 0..options.subsets.max(1) {
        let pick = |set: &FeatureSet, rng: &mut ChaCha8Rng| {
            set.rows.select_rows(
                sample(rng, set.len(), m)
                    .iter()
                    .collect::<Vec<_>>()
                    .as_slice(),
            )
        };
        let x = pick(fake, &mut rng);
        let y = pick(real, &mut rng);
        let a = kernel(&x, &x) + kernel(&y, &y);
        let b = kernel(&x, &y);
        let off_diagonal = a.sum() - a.trace();
        total += off_diagonal / (m - 1) as f64 - b.sum() * 2.0 / m as f64;
    }
    Ok(total / options.subsets.max(1) as f64 / m as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(rows: &[&[f32]]) -> FeatureSet {
        FeatureSet::new(&rows.iter().map(|r| r.to_vec()).collect::<Vec<_>>()).unwrap()
    }

    /// Gaussians with known statistics: FID has a closed form for commuting covariances.
    #[test]
    fn fid_of_shifted_scaled_sets_matches_the_closed_form() {
        // Set A: points (+-1, 0), (0, +-1): mean 0, covariance diag(2/3, 2/3).
        let a = set(&[&[1.0, 0.0], &[-1.0, 0.0], &[0.0, 1.0], &[0.0, -1.0]]);
        // Set B: A scaled by 2 in x and shifted by (3, 0): covariance diag(8/3, 2/3).
        let b = set(&[&[5.0, 0.0], &[1.0, 0.0], &[3.0, 1.0], &[3.0, -1.0]]);
        let (s1, s2): ([f64; 2], [f64; 2]) = ([2.0 / 3.0, 2.0 / 3.0], [8.0 / 3.0, 2.0 / 3.0]);
        let want: f64 = 9.0
            + (0..2)
                .map(|i| s1[i] + s2[i] - 2.0 * (s1[i] * s2[i]).sqrt())
                .sum::<f64>();
        let got = fid(&a, &b).unwrap();
        assert!((got - want).abs() < 1e-9, "{got} vs {want}");
        assert!(fid(&a, &a).unwrap().abs() < 1e-9);
    }

    /// The sample-space and the feature-space forms of the trace agree, with fewer and with
    /// more images than features.
    #[test]
    fn both_forms_of_the_trace_agree() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut random = |n: usize, d: usize| {
            DMatrix::from_fn(n, d, |_, _| rand::Rng::random_range(&mut rng, -1.0..1.0))
        };
        for (n1, n2, d) in [(3, 2, 4), (9, 7, 4), (5, 5, 5)] {
            let (x1, x2) = (random(n1, d), random(n2, d));
            let (a, b) = (
                trace_sqrt_sample_space(&x1, &x2),
                trace_sqrt_feature_space(&x1, &x2),
            );
            // With fewer images than features the feature-space form takes square roots of
            // rounding-level eigenvalues (~1e-16 -> ~1e-8); the sample-space form has none.
            assert!(
                (a - b).abs() < 1e-6 * a.abs().max(1.0),
                "{n1}x{n2}x{d}: {a} vs {b}"
            );
        }
    }

    #[test]
    fn kid_is_near_zero_for_one_set_and_positive_for_different_sets() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let rows = |n: usize, shift: f32, rng: &mut ChaCha8Rng| -> Vec<Vec<f32>> {
            (0..n)
                .map(|_| {
                    (0..8)
                        .map(|_| rand::Rng::random_range(rng, 0.0..1.0) + shift)
                        .collect()
                })
                .collect()
        };
        let a = FeatureSet::new(&rows(40, 0.0, &mut rng)).unwrap();
        let b = FeatureSet::new(&rows(40, 0.5, &mut rng)).unwrap();
        let options = KidOptions {
            subsets: 20,
            max_subset: 30,
            seed: 1,
        };
        let same = kid(&a, &a, options).unwrap();
        let different = kid(&a, &b, options).unwrap();
        // The unbiased estimate of a zero MMD scatters around 0; a shifted set is far above.
        assert!(different > 0.0, "{different}");
        assert!(different > 10.0 * same.abs(), "{different} vs {same}");
    }

    #[test]
    fn too_few_images_is_an_error() {
        let one = set(&[&[1.0, 2.0]]);
        let err = fid(&one, &one).unwrap_err().to_string();
        assert!(err.contains("at least 2"), "{err}");
    }
}

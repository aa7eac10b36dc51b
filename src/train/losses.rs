//! GAN and reconstruction losses of pix2pix (Isola et al. 2017), pix2pixHD (Wang et al. 2018) and
//! SPADE (Park et al. 2019), following `models/networks/loss.py` of NVlabs/SPADE and
//! `models/networks.py` of NVIDIA/pix2pixHD; and an optional class-balanced L1 with OASIS's
//! class weights (Schönfeld et al. 2021), ours, for rare classes.
//!
//! Discriminator outputs are nested like the published multi-scale discriminators return them:
//! one `Vec<Tensor>` per discriminator, intermediate features first, the prediction last.
use candle_core::{Result, Tensor};
use serde::{Deserialize, Serialize};

/// Which adversarial objective (`--gan_mode` in SPADE; `no_lsgan` in pix2pixHD/pix2pix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GanMode {
    /// SPADE's default: D minimizes relu(1 - real) + relu(1 + fake); G minimizes -fake.
    Hinge,
    /// pix2pixHD's LSGAN: mean squared distance to 1 (real) or 0 (fake).
    LeastSquares,
    /// pix2pix's BCE with logits, written so large logits stay finite.
    Vanilla,
}

/// How the per-discriminator losses are combined across scales.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleReduce {
    /// SPADE divides the sum by the number of discriminators.
    Mean,
    /// pix2pixHD adds them.
    Sum,
}

/// `mean(max(x, 0) - x * target + log(1 + exp(-|x|)))`: BCE with logits without the overflow
/// of `log(sigmoid(x))` (Candle's version is inf/NaN for a confident discriminator).
pub fn bce_with_logits(logits: &Tensor, target: f64) -> Result<Tensor> {
    let softplus_neg_abs = (logits.abs()?.neg()?.exp()? + 1.0)?.log()?;
    let loss = ((logits.relu()? - (logits * target)?)? + softplus_neg_abs)?;
    loss.mean_all()
}

/// The loss of one discriminator prediction for the discriminator (`target_is_real`).
pub fn d_loss(pred: &Tensor, target_is_real: bool, mode: GanMode) -> Result<Tensor> {
    match mode {
        GanMode::Hinge => {
            let margin = if target_is_real {
                (1.0 - pred)?
            } else {
                (pred + 1.0)?
            };
            margin.relu()?.mean_all()
        }
        GanMode::LeastSquares => {
            let target = if target_is_real { 1.0 } else { 0.0 };
            (pred - target)?.sqr()?.mean_all()
        }
        GanMode::Vanilla => bce_with_logits(pred, if target_is_real { 1.0 } else { 0.0 }),
    }
}

/// The generator's adversarial loss on one prediction of the fake image.
pub fn g_loss(pred: &Tensor, mode: GanMode) -> Result<Tensor> {
    match mode {
        GanMode::Hinge => pred.mean_all()?.neg(),
        GanMode::LeastSquares | GanMode::Vanilla => d_loss(pred, true, mode),
    }
}

fn prediction(outputs: &[Tensor]) -> Result<&Tensor> {
    outputs
        .last()
        .ok_or_else(|| candle_core::Error::Msg("a discriminator returned no output".into()))
}

fn reduce_scales(losses: Vec<Tensor>, reduce: ScaleReduce) -> Result<Tensor> {
    let count = losses.len();
    if count == 0 {
        candle_core::bail!("no discriminator outputs to compute a loss from")
    }
    let sum = Tensor::stack(&losses, 0)?.sum_all()?;
    match reduce {
        ScaleReduce::Mean => sum / count as f64,
        ScaleReduce::Sum => Ok(sum),
    }
}

/// Discriminator loss over all scales (the last output of each discriminator).
pub fn d_loss_multiscale(
    outputs: &[Vec<Tensor>],
    real: bool,
    mode: GanMode,
    reduce: ScaleReduce,
) -> Result<Tensor> {
    let losses = outputs
        .iter()
        .map(|o| d_loss(prediction(o)?, real, mode))
        .collect::<Result<Vec<_>>>()?;
    reduce_scales(losses, reduce)
}

/// Generator adversarial loss over all scales.
pub fn g_loss_multiscale(
    outputs: &[Vec<Tensor>],
    mode: GanMode,
    reduce: ScaleReduce,
) -> Result<Tensor> {
    let losses = outputs
        .iter()
        .map(|o| g_loss(prediction(o)?, mode))
        .collect::<Result<Vec<_>>>()?;
    reduce_scales(losses, reduce)
}

/// Mean absolute difference (one parallel op on the fast CPU path).
pub fn l1(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    crate::nets::fast::train_loss::l1_mean(a, b)
}

/// Per-pixel weights that give every channel id present in a `(N, 1, H, W)` u32 label batch
/// the same total weight (OASIS's class balancing, Schönfeld et al., "You Only Need
/// Adversarial Supervision for Semantic Image Synthesis", ICLR 2021, there for its
/// segmentation discriminator): a class on `count` of `total` pixels, one of `present`
/// classes, weighs `total / (present * count)` per pixel. The weights average to 1, and a
/// batch of one class weighs every pixel 1.
pub fn class_balance_weights(label: &Tensor) -> Result<Tensor> {
    let ids = label.flatten_all()?.to_vec1::<u32>()?;
    let mut counts = std::collections::HashMap::<u32, usize>::new();
    for &id in &ids {
        *counts.entry(id).or_default() += 1;
    }
    let scale = ids.len() as f32 / counts.len().max(1) as f32;
    let weights: Vec<f32> = ids
        .iter()
        .map(|id| scale / counts.get(id).copied().unwrap_or(1) as f32)
        .collect();
    Tensor::from_vec(weights, label.shape(), label.device())
}

/// Class-balanced L1 between generated and real images `(N, C, H, W)`: the mean over pixels
/// and channels of `|fake - real|` weighted by [`class_balance_weights`] of the label batch,
/// so a class on a few pixels (ycor's puddles, 0.15 % of them) pulls towards its photo
/// colours as hard as the forest around it.
pub fn class_balanced_l1(fake: &Tensor, real: &Tensor, label: &Tensor) -> Result<Tensor> {
    let weights = class_balance_weights(label)?.to_device(fake.device())?;
    (fake - real)?.abs()?.broadcast_mul(&weights)?.mean_all()
}

/// Discriminator feature matching: for every discriminator i and every layer j but the last,
/// `L1(fake_ij, real_ij.detach()) * layer_weight * lambda_feat / num_D`. SPADE uses
/// `layer_weight = 1`; pix2pixHD uses `4 / (n_layers_D + 1)`.
pub fn feature_matching(
    fake: &[Vec<Tensor>],
    real: &[Vec<Tensor>],
    layer_weight: f64,
    lambda_feat: f64,
) -> Result<Tensor> {
    if fake.len() != real.len() || fake.is_empty() {
        candle_core::bail!(
            "feature matching: {} fake vs {} real discriminator outputs",
            fake.len(),
            real.len()
        )
    }
    let scale = layer_weight * lambda_feat / fake.len() as f64;
    let mut terms = Vec::new();
    for (f, r) in fake.iter().zip(real) {
        if f.len() != r.len() {
            candle_core::bail!(
                "feature matching: {} fake vs {} real layers",
                f.len(),
                r.len()
            )
        }
        for (fj, rj) in f.iter().zip(r).take(f.len().saturating_sub(1)) {
            terms.push(l1(fj, &rj.detach())?);
        }
    }
    if terms.is_empty() {
        candle_core::bail!("feature matching needs discriminators with intermediate features")
    }
    Tensor::stack(&terms, 0)?.sum_all()? * scale
}

/// `-0.5 * sum(1 + logvar - mu^2 - exp(logvar))`, the VAE's KL divergence to N(0, I) summed over
/// batch and latent (SPADE's `KLDLoss`; the caller multiplies by `lambda_kld`).
pub fn kl_divergence(mu: &Tensor, logvar: &Tensor) -> Result<Tensor> {
    let inner = (((logvar + 1.0)? - mu.sqr()?)? - logvar.exp()?)?;
    inner.sum_all()? * -0.5
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn t(values: &[f32]) -> Tensor {
        Tensor::new(values, &Device::Cpu).unwrap()
    }

    fn scalar(x: Tensor) -> f32 {
        x.to_scalar::<f32>().unwrap()
    }

    #[test]
    fn hinge_matches_the_spade_definition() {
        let pred = t(&[-2.0, 0.5, 3.0]);
        // real: mean(relu(1 - x)) = (3 + 0.5 + 0) / 3; fake: mean(relu(1 + x)) = (0 + 1.5 + 4) / 3.
        assert!((scalar(d_loss(&pred, true, GanMode::Hinge).unwrap()) - 3.5 / 3.0).abs() < 1e-6);
        assert!((scalar(d_loss(&pred, false, GanMode::Hinge).unwrap()) - 5.5 / 3.0).abs() < 1e-6);
        assert!((scalar(g_loss(&pred, GanMode::Hinge).unwrap()) + 0.5).abs() < 1e-6);
    }

    #[test]
    fn least_squares_targets_one_and_zero() {
        let pred = t(&[0.0, 2.0]);
        assert!((scalar(d_loss(&pred, true, GanMode::LeastSquares).unwrap()) - 1.0).abs() < 1e-6);
        assert!((scalar(d_loss(&pred, false, GanMode::LeastSquares).unwrap()) - 2.0).abs() < 1e-6);
        assert!((scalar(g_loss(&pred, GanMode::LeastSquares).unwrap()) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn bce_with_logits_is_exact_and_finite_for_confident_logits() {
        let x = t(&[0.0, 2.0, -3.0]);
        let want: f32 = [0f32, 2.0, -3.0]
            .iter()
            .map(|v| (1.0 + (-v).exp()).ln())
            .sum::<f32>()
            / 3.0;
        assert!((scalar(bce_with_logits(&x, 1.0).unwrap()) - want).abs() < 1e-6);
        // A confident discriminator: log(sigmoid(-200)) overflows, the stable form gives 200.
        let var = Var::new(&[-200f32, 200.0], &Device::Cpu).unwrap();
        let loss = bce_with_logits(var.as_tensor(), 1.0).unwrap();
        assert!((scalar(loss.clone()) - 100.0).abs() < 1e-3);
        let grad = loss
            .backward()
            .unwrap()
            .get(var.as_tensor())
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        // d/dx = (sigmoid(x) - 1) / n: -0.5 and 0.
        assert!(
            (grad[0] + 0.5).abs() < 1e-6 && grad[1].abs() < 1e-6,
            "{grad:?}"
        );
    }

    #[test]
    fn multiscale_mean_and_sum_differ_by_the_number_of_discriminators() {
        let outputs = vec![vec![t(&[9.0]), t(&[0.0])], vec![t(&[9.0]), t(&[2.0])]];
        let mean = scalar(
            d_loss_multiscale(&outputs, true, GanMode::LeastSquares, ScaleReduce::Mean).unwrap(),
        );
        let sum = scalar(
            d_loss_multiscale(&outputs, true, GanMode::LeastSquares, ScaleReduce::Sum).unwrap(),
        );
        assert!(
            (mean - 1.0).abs() < 1e-6 && (sum - 2.0).abs() < 1e-6,
            "{mean} {sum}"
        );
        let g = scalar(g_loss_multiscale(&outputs, GanMode::Hinge, ScaleReduce::Mean).unwrap());
        assert!((g + 1.0).abs() < 1e-6);
    }

    #[test]
    fn feature_matching_skips_predictions_and_detaches_real() {
        let fake_feat = Var::new(&[1f32, 1.0], &Device::Cpu).unwrap();
        let real_feat = Var::new(&[0f32, 3.0], &Device::Cpu).unwrap();
        let fake = vec![vec![fake_feat.as_tensor().clone(), t(&[100.0])]];
        let real = vec![vec![real_feat.as_tensor().clone(), t(&[-100.0])]];
        let loss = feature_matching(&fake, &real, 0.5, 10.0).unwrap();
        // L1 = (1 + 2) / 2 = 1.5, times 0.5 * 10 / 1.
        assert!((scalar(loss.clone()) - 7.5).abs() < 1e-5);
        let grads = loss.backward().unwrap();
        assert!(grads.get(fake_feat.as_tensor()).is_some());
        assert!(
            grads.get(real_feat.as_tensor()).is_none(),
            "real features must not get a gradient"
        );
    }

    #[test]
    fn kl_is_zero_at_the_prior_and_positive_elsewhere() {
        let zeros = t(&[0.0, 0.0]);
        assert!(scalar(kl_divergence(&zeros, &zeros).unwrap()).abs() < 1e-7);
        // mu = 1, logvar = 0: 0.5 per element.
        let kl = scalar(kl_divergence(&t(&[1.0, 1.0]), &zeros).unwrap());
        assert!((kl - 1.0).abs() < 1e-6);
    }

    #[test]
    fn class_balance_gives_each_present_class_the_same_total_weight() {
        // Batch of two 2x2 maps: class 0 on 5 pixels, class 3 on 2, class 7 on 1.
        let ids = [0u32, 0, 0, 3, 0, 0, 7, 3];
        let label = Tensor::from_vec(ids.to_vec(), (2, 1, 2, 2), &Device::Cpu).unwrap();
        let weights = class_balance_weights(&label).unwrap();
        assert_eq!(weights.dims(), [2, 1, 2, 2]);
        let w = weights.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for class in [0u32, 3, 7] {
            let total: f32 = ids
                .iter()
                .zip(&w)
                .filter(|(id, _)| **id == class)
                .map(|(_, w)| w)
                .sum();
            assert!((total - 8.0 / 3.0).abs() < 1e-5, "class {class}: {total}");
        }
        let mean = w.iter().sum::<f32>() / w.len() as f32;
        assert!((mean - 1.0).abs() < 1e-6, "{mean}");
        let one_class = Tensor::from_vec(vec![4u32; 6], (1, 1, 2, 3), &Device::Cpu).unwrap();
        let ones = class_balance_weights(&one_class).unwrap();
        assert_eq!(
            ones.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            vec![1.0; 6]
        );
    }

    #[test]
    fn class_balanced_l1_weighs_the_rare_class_and_its_gradient_follows() {
        // One 1x4 map: class 1 on a single pixel of four (weight 2), class 0 on three (2/3).
        let label = Tensor::from_vec(vec![0u32, 0, 0, 1], (1, 1, 1, 4), &Device::Cpu).unwrap();
        let fake = Var::from_vec(
            vec![0.5f32, -0.5, 0.0, 1.0, 0.0, 0.0, 0.0, -1.0],
            (1, 2, 1, 4),
            &Device::Cpu,
        )
        .unwrap();
        let real = Tensor::zeros((1, 2, 1, 4), candle_core::DType::F32, &Device::Cpu).unwrap();
        let loss = class_balanced_l1(fake.as_tensor(), &real, &label).unwrap();
        // Channel 0: (0.5 + 0.5 + 0) * 2/3 + 1 * 2; channel 1: 1 * 2; over 8 values.
        let expected = ((1.0 * 2.0 / 3.0) + 2.0 + 2.0) / 8.0;
        assert!(
            (scalar(loss.clone()) - expected).abs() < 1e-6,
            "{}",
            scalar(loss.clone())
        );
        let grad = loss.backward().unwrap();
        let g = grad
            .get(&fake)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let (common, rare) = (2.0 / 3.0 / 8.0, 2.0 / 8.0);
        let expected = [common, -common, 0.0, rare, 0.0, 0.0, 0.0, -rare];
        for (got, want) in g.iter().zip(expected) {
            if want != 0.0 {
                assert!((got - want).abs() < 1e-6, "{g:?}");
            }
        }
    }
}

//! GAN and reconstruction losses of pix2pix (Isola et al. 2017), pix2pixHD (Wang et al. 2018) and
//! SPADE (Park et al. 2019), following `models/networks/loss.py` of NVlabs/SPADE and
//! `models/networks.py` of NVIDIA/pix2pixHD.
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
}

//! OASIS's adversarial loss through a segmentation discriminator (Schönfeld et al., "You Only
//! Need Adversarial Supervision for Semantic Image Synthesis", ICLR 2021; `models/losses.py` of
//! the published OASIS code): the discriminator sees an image alone and labels each of its
//! output cells with one of N + 1 classes, the label map's N classes (channel `id + 1`) or
//! "fake" (channel 0). Real images are pushed towards their labels, generated ones towards
//! "fake"; the generator is pushed towards the labels. The cross-entropy of real labels is
//! class-balanced (`losses::class_balance_weights`), so a class on a few pixels counts as much
//! as the forest around it: what is meant to make rare classes (ycor's puddles) show.
//!
//! Ours keeps SPADE's multiscale PatchGAN with N + 1 output channels where OASIS has a U-Net at
//! full resolution (`nets::spade_discriminator::DiscriminatorTask`); the labels are taken at
//! each scale's output size, nearest.
use candle_core::Tensor;

use super::losses::class_balance_weights;
use crate::error::{Error, Result};

/// The N + 1 cross-entropy of one discriminator's prediction `(N, classes + 1, h, w)` against
/// a label batch `(N, 1, H, W)` of class ids (u32): towards `id + 1` (class-balanced) with
/// `for_real`, else towards 0 ("fake", unweighted), as OASIS's `loss(input, label, for_real)`.
pub fn segmentation_loss(prediction: &Tensor, label: &Tensor, for_real: bool) -> Result<Tensor> {
    let (n, channels, height, width) = prediction.dims4()?;
    let ids = labels_at(label, n, (height, width))?;
    let plane = height * width;
    let mut target = vec![0f32; n * channels * plane];
    for (i, &id) in ids.iter().enumerate() {
        let channel = if for_real { id as usize + 1 } else { 0 };
        if channel >= channels {
            return Err(Error::msg(format!(
                "segmentation loss: class id {id} needs channel {channel}, the discriminator has {channels} ({} classes + fake)",
                channels - 1
            )));
        }
        let (sample, pixel) = (i / plane, i % plane);
        target[(sample * channels + channel) * plane + pixel] = 1.0;
    }
    let device = prediction.device();
    let target = Tensor::from_vec(target, (n, channels, height, width), device)?;
    let per_cell = (target * log_softmax_channels(prediction)?)?
        .sum_keepdim(1)?
        .neg()?;
    if !for_real {
        return Ok(per_cell.mean_all()?);
    }
    let ids = Tensor::from_vec(ids, (n, 1, height, width), device)?;
    Ok(per_cell.mul(&class_balance_weights(&ids)?)?.mean_all()?)
}

/// [`segmentation_loss`] of each discriminator's prediction (the last of its outputs),
/// averaged over the scales as SPADE averages its GAN losses.
pub fn segmentation_loss_multiscale(
    outputs: &[Vec<Tensor>],
    label: &Tensor,
    for_real: bool,
) -> Result<Tensor> {
    let losses = outputs
        .iter()
        .map(|layers| {
            let prediction = layers
                .last()
                .ok_or_else(|| Error::msg("segmentation loss: a discriminator gave no output"))?;
            segmentation_loss(prediction, label, for_real)
        })
        .collect::<Result<Vec<_>>>()?;
    let count = losses.len();
    if count == 0 {
        return Err(Error::msg("segmentation loss: no discriminators"));
    }
    Ok((Tensor::stack(&losses, 0)?.sum_all()? / count as f64)?)
}

/// `x - log(sum(exp(x)))` over channels, shifted by the (constant) channel maximum so that
/// confident logits stay finite.
fn log_softmax_channels(x: &Tensor) -> Result<Tensor> {
    let shifted = x.broadcast_sub(&x.max_keepdim(1)?.detach())?;
    let log_sum = shifted.exp()?.sum_keepdim(1)?.log()?;
    Ok(shifted.broadcast_sub(&log_sum)?)
}

/// The ids of an `(n, 1, H, W)` label batch at `(height, width)`, nearest (PyTorch's
/// `interpolate(mode="nearest")`: source index `floor(i * H / height)`).
fn labels_at(label: &Tensor, n: usize, (height, width): (usize, usize)) -> Result<Vec<u32>> {
    let (label_n, channels, source_h, source_w) = label.dims4()?;
    if (label_n, channels) != (n, 1) {
        return Err(Error::msg(format!(
            "segmentation loss: labels of shape {:?} for a prediction of batch {n}",
            label.dims()
        )));
    }
    let source = label.flatten_all()?.to_vec1::<u32>()?;
    let mut ids = Vec::with_capacity(n * height * width);
    for sample in 0..n {
        for y in 0..height {
            let sy = y * source_h / height;
            for x in 0..width {
                let sx = x * source_w / width;
                ids.push(source[(sample * source_h + sy) * source_w + sx]);
            }
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn label(ids: &[u32], n: usize, h: usize, w: usize) -> Tensor {
        Tensor::from_vec(ids.to_vec(), (n, 1, h, w), &Device::Cpu).unwrap()
    }

    fn value(t: &Tensor) -> f32 {
        t.to_scalar::<f32>().unwrap()
    }

    #[test]
    fn the_loss_is_the_balanced_cross_entropy_of_the_shifted_labels() {
        // One sample, 1 x 2 cells, 2 classes + fake; ids 0 and 1 (one cell each: weights 1).
        let logits = [0.5f32, -1.0, 2.0, 0.0, 0.3, 1.5];
        let prediction = Tensor::from_vec(logits.to_vec(), (1, 3, 1, 2), &Device::Cpu).unwrap();
        let ids = label(&[0, 1], 1, 1, 2);
        let log_p = |cell: usize, channel: usize| {
            let z: Vec<f32> = (0..3).map(|c| logits[c * 2 + cell]).collect();
            let sum: f32 = z.iter().map(|v| v.exp()).sum();
            z[channel] - sum.ln()
        };
        let real = value(&segmentation_loss(&prediction, &ids, true).unwrap());
        let expected_real = -(log_p(0, 1) + log_p(1, 2)) / 2.0;
        assert!(
            (real - expected_real).abs() < 1e-5,
            "{real} vs {expected_real}"
        );
        let fake = value(&segmentation_loss(&prediction, &ids, false).unwrap());
        let expected_fake = -(log_p(0, 0) + log_p(1, 0)) / 2.0;
        assert!(
            (fake - expected_fake).abs() < 1e-5,
            "{fake} vs {expected_fake}"
        );
    }

    #[test]
    fn a_rare_class_weighs_as_much_as_a_common_one() {
        // Three cells of class 0, one of class 1; uniform logits except the rare cell's.
        let mut logits = vec![0f32; 3 * 4];
        logits[2 * 4 + 3] = -2.0; // channel 2 (class 1) of cell 3: the rare cell is wrong
        let prediction = Tensor::from_vec(logits, (1, 3, 2, 2), &Device::Cpu).unwrap();
        let ids = label(&[0, 0, 0, 1], 1, 2, 2);
        let loss = value(&segmentation_loss(&prediction, &ids, true).unwrap());
        let uniform = 3f32.ln();
        let rare = 2.0 + (2.0 + (-2f32).exp()).ln();
        // Weights: 4 / (2 * 3) for the common cells, 4 / (2 * 1) for the rare one.
        let expected = (3.0 * uniform * 4.0 / 6.0 + rare * 2.0) / 4.0;
        assert!((loss - expected).abs() < 1e-5, "{loss} vs {expected}");
    }

    #[test]
    fn labels_follow_the_prediction_size_and_bad_ids_are_named() {
        // A 4 x 4 label with class 1 in its right half, at a 2 x 2 prediction.
        let ids: Vec<u32> = (0..16).map(|i| u32::from(i % 4 >= 2)).collect();
        assert_eq!(
            labels_at(&label(&ids, 1, 4, 4), 1, (2, 2)).unwrap(),
            vec![0, 1, 0, 1]
        );
        let prediction =
            Tensor::zeros((1, 2, 2, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
        let err = segmentation_loss(&prediction, &label(&ids, 1, 4, 4), true)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("class id 1") && err.contains("1 classes + fake"),
            "{err}"
        );
    }

    #[test]
    fn the_gradient_matches_finite_differences() {
        let start: Vec<f32> = (0..2 * 4 * 3 * 2)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.3)
            .collect();
        let shape = (2, 4, 3, 2);
        let ids = label(&[0, 1, 2, 2, 1, 0, 2, 2, 2, 2, 0, 1], 2, 3, 2);
        let loss_at = |values: &[f32], for_real| {
            let t = Tensor::from_vec(values.to_vec(), shape, &Device::Cpu).unwrap();
            f64::from(value(&segmentation_loss(&t, &ids, for_real).unwrap()))
        };
        for for_real in [true, false] {
            let var =
                Var::from_tensor(&Tensor::from_vec(start.clone(), shape, &Device::Cpu).unwrap())
                    .unwrap();
            let loss = segmentation_loss(var.as_tensor(), &ids, for_real).unwrap();
            let grad = loss.backward().unwrap();
            let analytic = grad
                .get(var.as_tensor())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            for i in [0, 5, 13, 22, 47] {
                let (mut up, mut down) = (start.clone(), start.clone());
                up[i] += 1e-2;
                down[i] -= 1e-2;
                let numeric = (loss_at(&up, for_real) - loss_at(&down, for_real)) / 2e-2;
                assert!(
                    (numeric - f64::from(analytic[i])).abs() < 2e-3,
                    "for_real {for_real}, logit {i}: numeric {numeric}, backward {}",
                    analytic[i]
                );
            }
        }
    }
}

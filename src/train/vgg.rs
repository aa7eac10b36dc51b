//! VGG perceptual loss of pix2pixHD and SPADE (`VGGLoss`: L1 between VGG19 activations at
//! relu1_1 .. relu5_1 with weights 1/32, 1/16, 1/8, 1/4, 1), on the VGG16 file in
//! `weights/vgg16/` (shipped, CC BY 4.0) or a user-given torchvision-named VGG16/VGG19 `features.*` file.
//!
//! The 2x2 max pool is written from reshape + max because Candle's `max_pool2d` backward is
//! scaled by 1/(k*k) (see `../shared/notes/candle-0.11-facts.md`). On the CPU's fast training
//! path each conv + bias + ReLU and each pool is one op of `nets::fast::train_frozen` (the
//! weights are frozen: input gradients only), with the same numbers.
use std::path::Path;

use candle_core::{DType, Device, Result, Tensor, D};
use candle_nn::{Conv2d, Conv2dConfig, VarBuilder};

use crate::nets::fast::train_frozen as frozen;
use serde::{Deserialize, Serialize};

/// Caffe-convention activations are in 0..255 pixel units; dividing the loss by the ImageNet
/// standard deviation in those units (0.226 * 255) brings it to the scale of the torchvision
/// VGG the published code uses, so `lambda_vgg = 10` keeps its published weight.
pub const CAFFE_LOSS_SCALE: f64 = 1.0 / (0.226 * 255.0);

/// Layer weights of the five taps, as in the published `VGGLoss`.
pub const TAP_WEIGHTS: [f64; 5] = [1.0 / 32.0, 1.0 / 16.0, 1.0 / 8.0, 1.0 / 4.0, 1.0];

/// What the weights expect as input. Images arrive in [-1, 1] RGB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VggInput {
    /// Caffe/Keras weights (the shared VGG16 file): BGR, 0..255, minus the (B, G, R) mean.
    CaffeBgr,
    /// torchvision weights fed as pix2pixHD/SPADE do: the [-1, 1] image unchanged.
    Raw,
    /// torchvision weights with ImageNet normalisation of the [0, 1] image.
    ImagenetRgb,
}

/// VGG features up to relu5_1, returning the five tap activations.
pub struct Vgg {
    /// Convolutions grouped per block; each block ends where a 2x2 max pool follows.
    blocks: Vec<Vec<Conv2d>>,
    /// Per convolution, its flipped kernels for the fast path's input gradient.
    flipped: Vec<Vec<frozen::FlippedKernels>>,
    input: VggInput,
}

/// Max pool with kernel 2 and stride 2 (floor mode) from ops whose gradient is right: the
/// gradient of each window goes to its maximum (to all tied maxima, as Candle's `max` does).
pub fn max_pool2x2(x: &Tensor) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let (oh, ow) = (h / 2, w / 2);
    let x = if h % 2 == 1 || w % 2 == 1 {
        x.narrow(2, 0, oh * 2)?.narrow(3, 0, ow * 2)?
    } else {
        x.clone()
    };
    let windows = x.contiguous()?.reshape((n, c, oh, 2, ow, 2))?;
    windows.max(D::Minus1)?.max(3)
}

fn torchvision_indices(convs_per_block: &[usize]) -> Vec<Vec<usize>> {
    // Each conv takes two indices (conv, ReLU) and each block is followed by a pool.
    let mut index = 0;
    let mut blocks = Vec::new();
    for (block, &count) in convs_per_block.iter().enumerate() {
        // Block 5 is only needed up to relu5_1.
        let used = if block == 4 { 1 } else { count };
        blocks.push((0..used).map(|i| index + 2 * i).collect());
        index += 2 * count + 1;
    }
    blocks
}

impl Vgg {
    /// Loads VGG16 or VGG19 (`features.N.weight/bias`, torchvision indices), told apart by the
    /// presence of `features.16.weight` (a conv in VGG19, a pool in VGG16).
    pub fn load(path: &Path, input: VggInput, device: &Device) -> crate::Result<Self> {
        let tensors = candle_core::safetensors::load(path, device).map_err(|e| {
            crate::Error::msg(format!("{}: cannot read VGG weights: {e}", path.display()))
        })?;
        let is_vgg19 = tensors.contains_key("features.16.weight");
        let convs_per_block: &[usize] = if is_vgg19 {
            &[2, 2, 4, 4, 4]
        } else {
            &[2, 2, 3, 3, 3]
        };
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        let mut in_channels = 3;
        let mut blocks = Vec::new();
        for (block, indices) in torchvision_indices(convs_per_block).into_iter().enumerate() {
            let out_channels = [64, 128, 256, 512, 512][block];
            let mut convs = Vec::new();
            for index in indices {
                let config = Conv2dConfig {
                    padding: 1,
                    ..Default::default()
                };
                let conv = candle_nn::conv2d(
                    in_channels,
                    out_channels,
                    3,
                    config,
                    vb.pp(format!("features.{index}")),
                )
                .map_err(|e| {
                    crate::Error::msg(format!(
                        "{}: VGG layer features.{index}: {e}",
                        path.display()
                    ))
                })?;
                convs.push(conv);
                in_channels = out_channels;
            }
            blocks.push(convs);
        }
        let flipped = blocks
            .iter()
            .map(|convs| {
                convs
                    .iter()
                    .map(|_| frozen::FlippedKernels::default())
                    .collect()
            })
            .collect();
        Ok(Self {
            blocks,
            flipped,
            input,
        })
    }

    fn preprocess(&self, image: &Tensor) -> Result<Tensor> {
        let device = image.device();
        match self.input {
            VggInput::Raw => Ok(image.clone()),
            VggInput::CaffeBgr => {
                let bgr = image.index_select(&Tensor::new(&[2u32, 1, 0], device)?, 1)?;
                let mean =
                    Tensor::new(&[103.939f32, 116.779, 123.68], device)?.to_dtype(image.dtype())?;
                ((bgr + 1.0)? * 127.5)?.broadcast_sub(&mean.reshape((1, 3, 1, 1))?)
            }
            VggInput::ImagenetRgb => {
                let mean =
                    Tensor::new(&[0.485f32, 0.456, 0.406], device)?.to_dtype(image.dtype())?;
                let std =
                    Tensor::new(&[0.229f32, 0.224, 0.225], device)?.to_dtype(image.dtype())?;
                ((image + 1.0)? * 0.5)?
                    .broadcast_sub(&mean.reshape((1, 3, 1, 1))?)?
                    .broadcast_div(&std.reshape((1, 3, 1, 1))?)
            }
        }
    }

    /// relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 of an RGB image in [-1, 1].
    pub fn taps(&self, image: &Tensor) -> Result<Vec<Tensor>> {
        self.taps_on(image, frozen::usable_for(image))
    }

    /// [`Vgg::taps`] through the fused frozen ops or through one op per step (`fused`).
    fn taps_on(&self, image: &Tensor, fused: bool) -> Result<Vec<Tensor>> {
        let mut x = self.preprocess(image)?;
        let mut taps = Vec::with_capacity(5);
        for (block, (convs, flipped)) in self.blocks.iter().zip(&self.flipped).enumerate() {
            if block > 0 {
                x = if fused {
                    frozen::max_pool2x2(&x)?
                } else {
                    max_pool2x2(&x)?
                };
            }
            for (i, (conv, flipped)) in convs.iter().zip(flipped).enumerate() {
                x = match (fused, conv.bias()) {
                    (true, Some(bias)) => {
                        frozen::conv_bias_relu(&x, (conv.weight(), bias, flipped), 1)?
                    }
                    _ => {
                        // Frozen weights: the fast CPU op computes only the input gradient.
                        let y = crate::nets::fast::train_conv::conv2d(&x, conv.weight(), 1, 1)?;
                        crate::nets::layers::relu(&match conv.bias() {
                            Some(b) => crate::nets::layers::add_channel_bias(&y, b)?,
                            None => y,
                        })?
                    }
                };
                if i == 0 {
                    taps.push(x.clone());
                }
            }
        }
        Ok(taps)
    }

    /// `sum_i w_i * L1(vgg_i(fake), vgg_i(real).detach())`; the caller multiplies by lambda_vgg.
    pub fn loss(&self, fake: &Tensor, real: &Tensor) -> Result<Tensor> {
        self.loss_on(fake, real, frozen::usable_for(fake))
    }

    fn loss_on(&self, fake: &Tensor, real: &Tensor, fused: bool) -> Result<Tensor> {
        let fake_taps = self.taps_on(fake, fused)?;
        let real_taps = self.taps_on(&real.detach(), fused)?;
        let mut total: Option<Tensor> = None;
        for ((f, r), weight) in fake_taps.iter().zip(&real_taps).zip(TAP_WEIGHTS) {
            let term = (super::losses::l1(f, &r.detach())? * weight)?;
            total = Some(match total {
                Some(t) => (t + term)?,
                None => term,
            });
        }
        let total = total.ok_or_else(|| candle_core::Error::Msg("VGG produced no taps".into()))?;
        match self.input {
            VggInput::CaffeBgr => total * CAFFE_LOSS_SCALE,
            VggInput::Raw | VggInput::ImagenetRgb => Ok(total),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Var;

    #[test]
    fn max_pool_forward_and_gradient_go_to_the_window_maximum() {
        let values: Vec<f32> = vec![
            1.0, 5.0, 2.0, 0.0, 9.0, //
            3.0, 4.0, 8.0, 1.0, 9.0, //
            0.0, 0.0, 7.0, 6.0, 9.0, //
            2.0, 1.0, 3.0, 4.0, 9.0, //
            9.0, 9.0, 9.0, 9.0, 9.0,
        ];
        let x = Var::from_vec(values, (1, 1, 5, 5), &Device::Cpu).unwrap();
        let y = max_pool2x2(x.as_tensor()).unwrap();
        assert_eq!(
            y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            vec![5.0, 8.0, 2.0, 7.0]
        );
        // Weighted sum so each window's gradient is distinguishable; PyTorch gives each window's
        // argmax the full upstream gradient (not 1/4 of it, as Candle's max_pool2d does).
        let weights = Tensor::new(&[[[[1f32, 2.0], [3.0, 4.0]]]], &Device::Cpu).unwrap();
        let grads = (y * weights)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let grad = grads
            .get(x.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let mut want = vec![0f32; 25];
        want[1] = 1.0; // 5 at (0, 1)
        want[7] = 2.0; // 8 at (1, 2)
        want[15] = 3.0; // 2 at (3, 0)
        want[12] = 4.0; // 7 at (2, 2)
        assert_eq!(grad, want);
    }

    /// The fused frozen ops give the loss and the image gradient of one op per step, on the
    /// shipped VGG16 at an odd size with a batch of 2.
    #[test]
    fn fused_frozen_layers_give_the_same_loss_and_gradient() {
        let path = crate::shipped::find(crate::shipped::VGG16_WEIGHTS).unwrap();
        let vgg = Vgg::load(&path, VggInput::CaffeBgr, &Device::Cpu).unwrap();
        let image = |seed: u64| {
            let t = crate::nets::fast::train_testing::random((2, 3, 37, 45), seed);
            t.as_tensor().tanh().unwrap()
        };
        let (fake, real) = (Var::from_tensor(&image(1)).unwrap(), image(2));
        let run = |fused: bool| {
            let loss = vgg.loss_on(fake.as_tensor(), &real, fused).unwrap();
            let grad = loss.backward().unwrap();
            let grad = grad.get(fake.as_tensor()).unwrap().clone();
            (loss.to_scalar::<f32>().unwrap(), grad)
        };
        let ((loss, grad), (plain_loss, plain_grad)) = (run(true), run(false));
        assert!(
            (loss - plain_loss).abs() <= 1e-5 * plain_loss.abs(),
            "{loss} vs {plain_loss}"
        );
        let scale = plain_grad
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let diff = crate::nets::fast::train_testing::max_diff(&grad, &plain_grad);
        assert!(
            scale > 0.0 && diff <= 1e-4 * scale,
            "gradient differs by {diff} of {scale}"
        );
    }

    #[test]
    fn torchvision_indices_of_vgg16_and_vgg19() {
        assert_eq!(
            torchvision_indices(&[2, 2, 3, 3, 3]),
            vec![
                vec![0, 2],
                vec![5, 7],
                vec![10, 12, 14],
                vec![17, 19, 21],
                vec![24]
            ]
        );
        assert_eq!(
            torchvision_indices(&[2, 2, 4, 4, 4]),
            vec![
                vec![0, 2],
                vec![5, 7],
                vec![10, 12, 14, 16],
                vec![19, 21, 23, 25],
                vec![28]
            ]
        );
    }
}

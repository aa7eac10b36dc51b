//! SPADE's generator (`SPADEGenerator` of NVlabs/SPADE `models/networks/generator.py`): a
//! latent grid (from `z` through a linear layer with `use_vae`, else from the downsized
//! semantic map through a 3x3 conv) upsampled through SPADE residual blocks to a tanh image.
use candle_core::{Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder};
use rand::{Rng, SeedableRng};

use super::layers::{leaky_relu, resize_nearest, upsample_nearest2x, Conv2d, ConvGeometry};
use super::spade::{SpadeResnetBlock, LEAKY_SLOPE};
use super::spade_options::{SpadeOptions, UpsamplingLayers};
use crate::{Error, Result};

/// Where the latent grid comes from.
#[derive(Debug, Clone)]
pub(crate) enum LatentInput {
    /// `use_vae`: `fc` is `Linear(z_dim, 16 ngf sw sh)`.
    Vae(Linear),
    /// `fc` is `Conv2d(semantic_nc, 16 ngf, 3, padding 1)` on the semantic map at (sh, sw).
    Semantic(Conv2d),
}

#[derive(Debug, Clone)]
// Fields are crate-visible for the fast inference path (`nets::fast::spade_generator`).
pub struct SpadeGenerator {
    options: SpadeOptions,
    pub(crate) latent_width: usize,
    pub(crate) latent_height: usize,
    pub(crate) fc: LatentInput,
    pub(crate) head_0: SpadeResnetBlock,
    pub(crate) g_middle_0: SpadeResnetBlock,
    pub(crate) g_middle_1: SpadeResnetBlock,
    /// `up_0` .. `up_3`, and `up_4` with `num_upsampling_layers == most`.
    pub(crate) up: Vec<SpadeResnetBlock>,
    pub(crate) conv_img: Conv2d,
}

fn linear_init(fan_in: usize) -> candle_nn::Init {
    let bound = 1.0 / (fan_in as f64).sqrt();
    candle_nn::Init::Uniform {
        lo: -bound,
        up: bound,
    }
}

/// `nn.Linear` loaded (or created with PyTorch's default init) under `vb`.
pub(crate) fn linear(in_dim: usize, out_dim: usize, vb: VarBuilder) -> candle_core::Result<Linear> {
    let weight = vb.get_with_hints((out_dim, in_dim), "weight", linear_init(in_dim))?;
    let bias = vb.get_with_hints(out_dim, "bias", linear_init(in_dim))?;
    Ok(Linear::new(weight, Some(bias)))
}

impl SpadeGenerator {
    pub fn new(options: &SpadeOptions, vb: VarBuilder) -> Result<Self> {
        let nf = options.ngf;
        let (sw, sh) = options.latent_size()?;
        let fc = if options.use_vae {
            LatentInput::Vae(linear(options.z_dim, 16 * nf * sw * sh, vb.pp("fc"))?)
        } else {
            let geometry = ConvGeometry::new(options.semantic_nc(), 16 * nf, 3, 1, 1);
            LatentInput::Semantic(Conv2d::new(geometry, true, vb.pp("fc"))?)
        };
        let block = |fin: usize, fout: usize, name: &str| {
            SpadeResnetBlock::new(fin, fout, options, vb.pp(name))
        };
        let mut widths = vec![16 * nf, 8 * nf, 4 * nf, 2 * nf, nf];
        if options.num_upsampling_layers == UpsamplingLayers::Most {
            widths.push(nf / 2);
        }
        let up = widths
            .windows(2)
            .enumerate()
            .map(|(i, pair)| block(pair[0], pair[1], &format!("up_{i}")))
            .collect::<Result<Vec<_>>>()?;
        let final_nc = *widths.last().unwrap_or(&nf);
        let conv_img = Conv2d::new(
            ConvGeometry::new(final_nc, 3, 3, 1, 1),
            true,
            vb.pp("conv_img"),
        )?;
        Ok(Self {
            options: options.clone(),
            latent_width: sw,
            latent_height: sh,
            fc,
            head_0: block(16 * nf, 16 * nf, "head_0")?,
            g_middle_0: block(16 * nf, 16 * nf, "G_middle_0")?,
            g_middle_1: block(16 * nf, 16 * nf, "G_middle_1")?,
            up,
            conv_img,
        })
    }

    pub fn options(&self) -> &SpadeOptions {
        &self.options
    }

    /// The latent grid (N, 16 ngf, sh, sw).
    fn latent(&self, seg: &Tensor, z: Option<&Tensor>) -> Result<Tensor> {
        let (n, _, _, _) = seg.dims4()?;
        let (sh, sw) = (self.latent_height, self.latent_width);
        match &self.fc {
            LatentInput::Vae(fc) => {
                let sampled;
                let z = match z {
                    Some(z) => z,
                    None => {
                        // The published generator samples z itself; Candle's CPU RNG cannot be
                        // seeded, so callers wanting reproducible images pass `gaussian_z`.
                        sampled = Tensor::randn(0f32, 1f32, (n, self.options.z_dim), seg.device())?;
                        &sampled
                    }
                };
                let expected = (n, self.options.z_dim);
                if z.dims2()? != expected {
                    return Err(Error::msg(format!(
                        "SPADE generator: z must be {expected:?}, found {:?}",
                        z.dims()
                    )));
                }
                Ok(fc.forward(z)?.reshape((n, 16 * self.options.ngf, sh, sw))?)
            }
            LatentInput::Semantic(fc) => Ok(fc.forward(&resize_nearest(seg, sh, sw)?)?),
        }
    }

    /// Doubles the grid (`nn.Upsample(scale_factor=2)`, nearest) and applies `block` with the
    /// semantic map resized once to the new size.
    fn up_block(
        &self,
        x: &Tensor,
        seg: &Tensor,
        block: &SpadeResnetBlock,
        train: bool,
    ) -> Result<Tensor> {
        let x = upsample_nearest2x(x)?;
        let (_, _, h, w) = x.dims4()?;
        Ok(block.forward_t(&x, &resize_nearest(seg, h, w)?, train)?)
    }

    /// `seg`: the semantic input (N, semantic_nc, H, W) at the output size (see
    /// `SpadeOptions::output_size`); `z`: (N, z_dim) with `use_vae` (sampled when `None`),
    /// ignored otherwise. Returns the image (N, 3, H, W) in [-1, 1].
    pub fn forward_t(&self, seg: &Tensor, z: Option<&Tensor>, train: bool) -> Result<Tensor> {
        let channels = seg.dim(1)?;
        if channels != self.options.semantic_nc() {
            return Err(Error::msg(format!(
                "SPADE generator: semantic input needs {} channels, found {channels} (shape {:?})",
                self.options.semantic_nc(),
                seg.dims()
            )));
        }
        let x = self.latent(seg, z)?;
        let (_, _, h, w) = x.dims4()?;
        let x = self
            .head_0
            .forward_t(&x, &resize_nearest(seg, h, w)?, train)?;
        let mut x = self.up_block(&x, seg, &self.g_middle_0, train)?;
        x = if self.options.num_upsampling_layers == UpsamplingLayers::Normal {
            let (_, _, h, w) = x.dims4()?;
            self.g_middle_1
                .forward_t(&x, &resize_nearest(seg, h, w)?, train)?
        } else {
            self.up_block(&x, seg, &self.g_middle_1, train)?
        };
        for block in &self.up {
            x = self.up_block(&x, seg, block, train)?;
        }
        Ok(self
            .conv_img
            .forward(&leaky_relu(&x, LEAKY_SLOPE)?)?
            .tanh()?)
    }
}

/// A reproducible standard-normal `z` (N, z_dim) from a seed (Box-Muller on ChaCha8), for
/// the VAE generator's style noise.
pub fn gaussian_z(batch: usize, z_dim: usize, seed: u64, device: &Device) -> Result<Tensor> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let values = standard_normal(&mut rng, batch * z_dim);
    Ok(Tensor::from_vec(values, (batch, z_dim), device)?)
}

/// Standard normal draws (Box-Muller), shared by style noise and training's weight init.
pub fn standard_normal(rng: &mut rand_chacha::ChaCha8Rng, count: usize) -> Vec<f32> {
    let mut values = Vec::with_capacity(count + 1);
    while values.len() < count {
        // 1 - u lies in (0, 1], so the log is finite.
        let u1: f64 = 1.0 - rng.random::<f64>();
        let u2: f64 = rng.random::<f64>();
        let radius = (-2.0 * u1.ln()).sqrt();
        let angle = std::f64::consts::TAU * u2;
        values.push((radius * angle.cos()) as f32);
        values.push((radius * angle.sin()) as f32);
    }
    values.truncate(count);
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussian_z_is_reproducible_and_standard() {
        let a = gaussian_z(4, 256, 7, &Device::Cpu).unwrap();
        let b = gaussian_z(4, 256, 7, &Device::Cpu).unwrap();
        let c = gaussian_z(4, 256, 8, &Device::Cpu).unwrap();
        let diff = |x: &Tensor, y: &Tensor| {
            (x - y)
                .unwrap()
                .abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        assert_eq!(diff(&a, &b), 0.0);
        assert!(diff(&a, &c) > 1.0);
        let mean = a.mean_all().unwrap().to_scalar::<f32>().unwrap();
        let var = a
            .sqr()
            .unwrap()
            .mean_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(
            mean.abs() < 0.1 && (var - 1.0).abs() < 0.15,
            "mean {mean} var {var}"
        );
    }
}

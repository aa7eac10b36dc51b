//! SPADE's image encoder for the VAE variant (`ConvEncoder` of NVlabs/SPADE
//! `models/networks/encoder.py`): stride-2 3x3 convolutions with the `norm_E` wrapping, then
//! two linear heads for the mean and log-variance of the style code.
use candle_core::{Module, Tensor};
use candle_nn::{Linear, VarBuilder};

use super::layers::{resize_bilinear, ConvGeometry};
use super::spade::{NormConv2d, LEAKY_SLOPE};
use super::spade_generator::linear;
use super::spade_options::{NonSpadeNormConfig, SpadeOptions};
use crate::{Error, Result};

/// The encoder always sees 256x256 images (others are resized bilinearly first).
pub const ENCODER_INPUT_SIZE: usize = 256;

#[derive(Debug, Clone)]
pub struct ConvEncoder {
    /// `layer1` .. `layer5`, and `layer6` when `crop_size >= 256`.
    layers: Vec<NormConv2d>,
    fc_mu: Linear,
    fc_var: Linear,
}

impl ConvEncoder {
    pub fn new(options: &SpadeOptions, vb: VarBuilder) -> Result<Self> {
        let norm = NonSpadeNormConfig::parse(&options.norm_e)?;
        let ndf = options.ngf;
        let mut widths = vec![3, ndf, 2 * ndf, 4 * ndf, 8 * ndf, 8 * ndf];
        if options.crop_size >= 256 {
            widths.push(8 * ndf);
        }
        let layers = widths
            .windows(2)
            .enumerate()
            .map(|(i, pair)| {
                let geometry = ConvGeometry::new(pair[0], pair[1], 3, 2, 1);
                NormConv2d::new(geometry, norm, vb.pp(format!("layer{}", i + 1)))
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        // The published code assumes a 4x4 grid (6 layers); with 5 layers the grid is 8x8 and
        // the published heads would not fit, so the heads follow the real grid.
        let grid = ENCODER_INPUT_SIZE >> layers.len();
        let flat = 8 * ndf * grid * grid;
        // The published heads are hard-coded to 256 outputs, the default z_dim.
        let fc_mu = linear(flat, options.z_dim, vb.pp("fc_mu"))?;
        let fc_var = linear(flat, options.z_dim, vb.pp("fc_var"))?;
        Ok(Self {
            layers,
            fc_mu,
            fc_var,
        })
    }

    /// `image` (N, 3, H, W) in [-1, 1] -> (mu, logvar), each (N, z_dim).
    pub fn forward_t(&self, image: &Tensor, train: bool) -> Result<(Tensor, Tensor)> {
        let (n, c, _, _) = image.dims4()?;
        if c != 3 {
            return Err(Error::msg(format!(
                "SPADE encoder: expected an RGB image (N, 3, H, W), found {:?}",
                image.dims()
            )));
        }
        let mut x = resize_bilinear(image, ENCODER_INPUT_SIZE, ENCODER_INPUT_SIZE)?;
        for layer in &self.layers {
            x = layer.forward_act(&x, train, LEAKY_SLOPE)?;
        }
        let x = x.reshape((n, ()))?;
        Ok((self.fc_mu.forward(&x)?, self.fc_var.forward(&x)?))
    }
}

/// The reparameterization trick: `z = eps * exp(logvar / 2) + mu`, `eps` ~ N(0, 1) given by
/// the caller (see `gaussian_z`) so that a training step is reproducible.
pub fn reparameterize(mu: &Tensor, logvar: &Tensor, eps: &Tensor) -> Result<Tensor> {
    let std = (logvar * 0.5)?.exp()?;
    Ok(eps.mul(&std)?.add(mu)?)
}

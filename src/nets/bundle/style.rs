//! A [`Model`]'s styles (SPADE VAE models): the code the generator takes (the style photo
//! through the encoder, or a seed's normal noise, as the published SPADE's `--use_vae`) and
//! the colours the image is given (`nets::style_colours`), each made once per style.
use candle_core::Tensor;

use super::{encoding, Model, TranslateOptions};
use crate::nets::spade_encoder::reparameterize;
use crate::nets::spade_generator::gaussian_z;
use crate::nets::style_colours::{ColourStats, StyleColours};
use crate::{Error, Result};

/// A style made ready for the generator: translating many label maps in one style (a folder,
/// the held-out pairs, the painter's frames) runs the encoder and measures the photo once.
#[derive(Debug, Clone, Default)]
pub struct PreparedStyle {
    /// The style code (1 x z_dim); `None` for models without styles.
    pub code: Option<Tensor>,
    /// The colour statistics the image is given; `None` keeps the generator's colours.
    pub colours: Option<ColourStats>,
}

impl Model {
    /// The code and colours of `options`' style, after [`Model::check_style`].
    pub fn prepare_style(&self, options: &TranslateOptions) -> Result<PreparedStyle> {
        self.check_style(options)?;
        Ok(PreparedStyle {
            code: self.style_code(options)?,
            colours: self.style_colour_target(options)?,
        })
    }

    /// Replaces the colours random styles take (`style_colours.json`'s); `None`: random styles
    /// keep the generator's colours (`evaluate --generator-colours` compares the two).
    pub fn set_style_colours(&mut self, bank: Option<StyleColours>) {
        self.style_colours = bank;
    }

    /// True when random styles set the image's colour and light from the training photos
    /// (the bundle has `style_colours.json`).
    pub fn has_style_colours(&self) -> bool {
        self.style_colours.is_some()
    }

    /// The colour statistics the image is given (`nets::style_colours`): the style photo's,
    /// else the bank's photo for the seed; `None` for a model without styles, a seed of a
    /// model without a bank, or with `generator_colours`.
    pub fn style_colour_target(&self, options: &TranslateOptions) -> Result<Option<ColourStats>> {
        if options.generator_colours || !self.uses_style() {
            return Ok(None);
        }
        match &options.style {
            Some(photo) => ColourStats::of_photo(photo).map(Some),
            None => Ok(self
                .style_colours
                .as_ref()
                .and_then(|bank| bank.for_seed(options.seed))
                .copied()),
        }
    }

    /// The style code: from the photo through the encoder, else standard normal from the seed.
    pub fn style_code(&self, options: &TranslateOptions) -> Result<Option<Tensor>> {
        let Some(spade) = self.generator.spade_options().filter(|o| o.use_vae) else {
            return Ok(None);
        };
        let noise = gaussian_z(1, spade.z_dim, options.seed, &self.device)?;
        let Some(photo) = &options.style else {
            return Ok(Some(noise));
        };
        let encoder = self.encoder.as_ref().ok_or_else(|| {
            Error::msg(
                "style from a photo needs the bundle's encoder.safetensors, which is missing",
            )
        })?;
        let (mu, logvar) =
            encoder.forward_t(&encoding::from_rgb_image(photo, &self.device)?, false)?;
        Ok(Some(reparameterize(&mu, &logvar, &noise)?))
    }

    /// A style photo for a model that cannot take one is an error that says why.
    pub fn check_style(&self, options: &TranslateOptions) -> Result<()> {
        if options.style.is_some() && self.encoder.is_none() {
            return Err(Error::msg(self.no_style_photo.clone().unwrap_or_else(|| {
                "style from a photo needs a SPADE VAE model with an encoder; this model has no styles".into()
            })));
        }
        Ok(())
    }
}

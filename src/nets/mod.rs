//! The generator/discriminator families (pix2pix, pix2pixHD, SPADE) ported to Candle.

pub mod layers;
pub mod semantic;
pub mod spade;
pub mod spade_cases;
pub mod spade_discriminator;
pub mod spade_encoder;
pub mod spade_generator;

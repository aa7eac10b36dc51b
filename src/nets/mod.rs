//! The generator/discriminator families (pix2pix, pix2pixHD, SPADE) ported to Candle.

pub mod layers;

//! The generator/discriminator families (pix2pix, pix2pixHD, SPADE) ported to Candle.

pub mod bundle;
mod conv_layers;
pub mod encoding;
pub mod fast;
pub mod generator;
pub mod inception;
pub mod layers;
pub mod legacy_pth;
pub mod live_frames;
pub mod norms;
pub mod output_resize;
pub mod pickle_scan;
pub mod pix2pix;
pub mod pix2pixhd;
pub mod published;
pub mod reference;
pub mod seeded;
pub mod semantic;
pub mod sequential;
pub mod spade;
pub mod spade_discriminator;
pub mod spade_encoder;
pub mod spade_generator;
pub mod spade_options;
pub mod style_colours;
pub mod torchscript;
pub mod weights;

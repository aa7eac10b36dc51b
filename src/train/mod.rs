//! GAN training: optimizer with owned state, losses, VGG perceptual loss, checkpoints,
//! datasets and the trainer loop of pix2pix, pix2pixHD and SPADE.

pub mod average;
pub mod bench;
pub mod build;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod diff_augment;
pub mod evaluation;
pub mod family;
pub mod init;
pub mod losses;
pub mod optim;
pub mod pix2pix_family;
pub mod pix2pixhd_family;
pub mod pix2pixhd_options;
pub mod run_files;
pub mod samples;
pub mod schedule;
pub mod segmentation_loss;
pub mod spade_family;
pub mod standing_stats;
pub mod trainer;
pub mod validate;
pub mod vgg;

//! The built-in presets: the published configurations (SPADE `train.py` defaults, pix2pixHD
//! and pix2pix `train_options.py`) and compact ones sized to train in hours on a laptop CPU,
//! each with a one-line description for the training panel.
use serde_json::json;

use super::{NetFamily, TrainConfig};
use crate::error::{Error, Result};
use crate::train::losses::GanMode;

fn sized(mut config: TrainConfig, crop: u32, load: u32) -> TrainConfig {
    (
        config.crop_width,
        config.crop_height,
        config.load_width,
        config.load_height,
    ) = (crop, crop, load, load);
    config
}

fn spade(preset: &str, network: serde_json::Value, crop: u32, load: u32) -> TrainConfig {
    sized(
        TrainConfig {
            net: NetFamily::Spade,
            preset: preset.into(),
            network,
            ..TrainConfig::default()
        },
        crop,
        load,
    )
}

fn pix2pix_like(
    net: NetFamily,
    preset: &str,
    network: serde_json::Value,
    crop: u32,
    load: u32,
) -> TrainConfig {
    let base = TrainConfig {
        net,
        preset: preset.into(),
        network,
        beta1: 0.5,
        beta2: 0.999,
        ttur: false,
        gan_mode: if net == NetFamily::Pix2pix {
            GanMode::Vanilla
        } else {
            GanMode::LeastSquares
        },
        lambda_vgg: if net == NetFamily::Pix2pix { 0.0 } else { 10.0 },
        lambda_feat: if net == NetFamily::Pix2pix { 0.0 } else { 10.0 },
        lambda_kld: 0.0,
        lambda_l1: if net == NetFamily::Pix2pix {
            100.0
        } else {
            0.0
        },
        ..TrainConfig::default()
    };
    sized(base, crop, load)
}

/// Names of the built-in presets.
pub const PRESETS: [&str; 10] = [
    "spade",
    "spade-compact",
    "spade-tiny",
    "pix2pixhd",
    "pix2pixhd-compact",
    "pix2pixhd-tiny",
    "pix2pix",
    "pix2pix-compact",
    "pix2pix-hier-compact",
    "pix2pix-tiny",
];

/// One line on what a preset is for (the training panel shows it beside the choice).
pub fn preset_description(name: &str) -> &'static str {
    match name {
        "spade" => "SPADE as published (256x256, 64 channels): for a GPU",
        "spade-compact" => "SPADE with a quarter of the channels at 128x128: hours on a CPU",
        "spade-tiny" => "A tiny SPADE at 64x64: seconds per step, for trying a dataset",
        "pix2pixhd" => "pix2pixHD as published (local enhancer, 512x512): for a GPU",
        "pix2pixhd-compact" => "pix2pixHD's global generator, half the channels, 128x128: CPU",
        "pix2pixhd-tiny" => "A tiny pix2pixHD at 64x64: seconds per step, for trying a dataset",
        "pix2pix" => "pix2pix as published (U-Net 256, 64 channels): a GPU or a patient CPU",
        "pix2pix-compact" => "pix2pix with half the channels at 128x128: hours on a CPU",
        "pix2pix-hier-compact" => {
            "pix2pix-compact with a global U-Net at half size under it, trained first: CPU"
        }
        "pix2pix-tiny" => "A tiny pix2pix at 64x64: seconds per step, for trying a dataset",
        _ => "",
    }
}

/// A built-in preset: the published settings, or a compact variant for CPUs.
pub fn preset(name: &str) -> Result<TrainConfig> {
    let config = match name {
        // SPADE train.py defaults: ngf/ndf 64, spectralspadesyncbatch3x3, 2 D of 4 layers.
        "spade" => spade(
            name,
            json!({"ngf": 64, "ndf": 64, "spade_hidden_nc": 128}),
            256,
            286,
        ),
        // Hours on a laptop CPU at 128x128: a quarter of the channels, instance norm.
        "spade-compact" => spade(
            name,
            json!({"ngf": 32, "ndf": 32, "spade_hidden_nc": 64, "norm_G": "spectralspadeinstance3x3"}),
            128,
            143,
        ),
        // Seconds per step at 64x64: tests and smoke runs.
        "spade-tiny" => spade(
            name,
            json!({"ngf": 8, "ndf": 8, "spade_hidden_nc": 16, "norm_G": "spectralspadeinstance3x3", "n_layers_D": 3}),
            64,
            72,
        ),
        // pix2pixHD's full model as its train_1024p script sets it: local enhancer, ngf 32 (the
        // global generator inside gets 64, 4 downsamplings, 9 blocks), 3 D of 3 layers, ndf 64.
        // The script's niter_fix_global goes with --load_pretrain (a trained global
        // generator); from scratch the published default 0 applies.
        "pix2pixhd" => pix2pix_like(
            NetFamily::Pix2pixhd,
            name,
            json!({"netG": "local", "ngf": 32, "n_local_enhancers": 1, "n_blocks_local": 3, "num_D": 3, "n_layers_D": 3, "ndf": 64}),
            512,
            512,
        ),
        // Hours on a laptop CPU at 128x128: the global generator alone with half the channels,
        // 3 downsamplings and 6 blocks; 2 D of 3 layers, ndf 32.
        "pix2pixhd-compact" => pix2pix_like(
            NetFamily::Pix2pixhd,
            name,
            json!({"netG": "global", "ngf": 32, "n_downsample_global": 3, "n_blocks_global": 6, "ndf": 32, "num_D": 2, "n_layers_D": 3}),
            128,
            143,
        ),
        // Seconds per step at 64x64: tests and smoke runs.
        "pix2pixhd-tiny" => pix2pix_like(
            NetFamily::Pix2pixhd,
            name,
            json!({"netG": "global", "ngf": 8, "n_downsample_global": 3, "n_blocks_global": 2, "ndf": 8, "num_D": 2, "n_layers_D": 3}),
            64,
            72,
        ),
        "pix2pix" => pix2pix_like(
            NetFamily::Pix2pix,
            name,
            json!({"ngf": 64, "ndf": 64, "num_downs": 8}),
            256,
            286,
        ),
        "pix2pix-compact" => pix2pix_like(
            NetFamily::Pix2pix,
            name,
            json!({"ngf": 32, "ndf": 32, "num_downs": 7}),
            128,
            143,
        ),
        // The hierarchical U-Net: pix2pix-compact's U-Net as the local one, a global U-Net
        // of half its width on the half-size label image (as measured in weights/README.md);
        // the first quarter of the iterations trains the global U-Net alone.
        "pix2pix-hier-compact" => {
            let mut config = pix2pix_like(
                NetFamily::Pix2pix,
                name,
                json!({"netG": "unet_hier", "ngf": 32, "ndf": 32, "num_downs": 7,
                    "global_ngf": 16, "global_num_downs": 6, "global_downsample": 2}),
                128,
                143,
            );
            config.niter_global_first = config.iters / 4;
            config
        }
        "pix2pix-tiny" => pix2pix_like(
            NetFamily::Pix2pix,
            name,
            json!({"ngf": 8, "ndf": 8, "num_downs": 6}),
            64,
            72,
        ),
        other => {
            return Err(Error::msg(format!(
                "unknown preset '{other}'; presets: {}",
                PRESETS.join(", ")
            )))
        }
    };
    Ok(config)
}

/// The presets that train `net`, in [`PRESETS`] order.
pub fn presets_of(net: NetFamily) -> Vec<&'static str> {
    PRESETS
        .into_iter()
        .filter(|name| preset(name).is_ok_and(|config| config.net == net))
        .collect()
}

/// The default preset of a family.
pub fn default_preset(net: NetFamily) -> &'static str {
    match net {
        NetFamily::Spade => "spade-compact",
        NetFamily::Pix2pixhd => "pix2pixhd-compact",
        NetFamily::Pix2pix => "pix2pix-compact",
    }
}

//! Building a family's networks for a run from its config and dataset, and writing the model
//! bundle (`RUN_DIR/model/`, the format of `nets::bundle`) that translate and the painter load.
use std::path::{Path, PathBuf};

use candle_core::Device;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::checkpoint;
use super::config::{NetFamily, TrainConfig};
use super::data::Dataset;
use super::family::Family;
use super::pix2pix_family::{colour_table, Pix2pixFamily};
use super::pix2pixhd_family::Pix2pixhdFamily;
use super::pix2pixhd_options::HdOptions;
use super::spade_family::SpadeFamily;
use super::standing_stats::StandingBatches;
use super::vgg::Vgg;
use crate::error::{Error, Result};
use crate::nets::spade_options::SpadeOptions;

use crate::nets::bundle::{
    ModelManifest, NetKind, PaletteRef, DISCRIMINATOR_FILE, ENCODER_FILE, FORMAT_VERSION,
    GENERATOR_FILE,
};
use crate::nets::encoding::InputEncoding;
use crate::nets::style_colours::{StyleColours, STYLE_COLOURS_FILE};

/// The VGG network when the config uses the perceptual loss.
pub fn load_vgg(config: &TrainConfig, device: &Device) -> Result<Option<Vgg>> {
    if config.lambda_vgg <= 0.0 {
        return Ok(None);
    }
    let path = match &config.vgg_weights {
        Some(path) => path.clone(),
        None => crate::shipped::find(crate::shipped::VGG16_WEIGHTS).ok_or_else(|| {
            Error::msg(format!(
                "{} (lambda_vgg is {}); give vgg_weights in the config or set lambda_vgg to 0",
                crate::shipped::not_found(crate::shipped::VGG16_WEIGHTS, "VGG16 weights"),
                config.lambda_vgg
            ))
        })?,
    };
    if !path.exists() {
        return Err(Error::msg(format!(
            "{}: VGG weights not found (lambda_vgg is {}); give vgg_weights in the config or set lambda_vgg to 0",
            path.display(),
            config.lambda_vgg
        )));
    }
    Ok(Some(Vgg::load(&path, config.vgg_input, device)?))
}

/// The network options of `config` with the label options of `dataset` and the crop size.
pub fn spade_options(config: &TrainConfig, dataset: &Dataset) -> Result<SpadeOptions> {
    let mut network = config.network.clone();
    if let Some(map) = network.as_object_mut() {
        map.insert("label_nc".into(), dataset.label_channels.label_nc().into());
        map.insert(
            "contain_dontcare_label".into(),
            dataset.label_channels.contains_dontcare().into(),
        );
        map.entry("no_instance")
            .or_insert((!dataset.has_instances()).into());
        map.insert("crop_size".into(), config.crop_width.into());
        map.insert(
            "aspect_ratio".into(),
            (f64::from(config.crop_width) / f64::from(config.crop_height)).into(),
        );
    }
    let options = SpadeOptions::from_json(&network)?;
    if !options.no_instance && !dataset.has_instances() {
        return Err(Error::msg(format!(
            "{}: no_instance is false but the dataset has no instance maps",
            dataset.root.display()
        )));
    }
    let (h, w) = options.output_size()?;
    if (w as u32, h as u32) != (config.crop_width, config.crop_height) {
        return Err(Error::msg(format!(
            "SPADE generates {w}x{h} for crop {}x{}: choose a crop whose width is a multiple of 2^{} with a matching aspect ratio",
            config.crop_width,
            config.crop_height,
            options.num_upsampling_layers.count()
        )));
    }
    Ok(options)
}

/// The family of `config.net`, initialised from `config.seed`.
pub fn build_family(
    config: &TrainConfig,
    dataset: &Dataset,
    device: &Device,
) -> Result<Box<dyn Family>> {
    let family = build_networks(config, dataset, device)?;
    Ok(match config.average_decay {
        Some(decay) => Box::new(super::average::AveragedFamily::wrap(family, decay)?),
        None => family,
    })
}

/// The family's own networks and optimizers.
fn build_networks(
    config: &TrainConfig,
    dataset: &Dataset,
    device: &Device,
) -> Result<Box<dyn Family>> {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    match config.net {
        NetFamily::Spade => {
            let options = spade_options(config, dataset)?;
            Ok(Box::new(SpadeFamily::new(
                config,
                options,
                load_vgg(config, device)?,
                device,
                &mut rng,
            )?))
        }
        NetFamily::Pix2pix => {
            let colours = colour_table(&dataset.palette, &dataset.label_channels, device)?;
            Ok(Box::new(Pix2pixFamily::new(
                config, colours, device, &mut rng,
            )?))
        }
        NetFamily::Pix2pixhd => {
            let options =
                HdOptions::from_config(config, &dataset.label_channels, dataset.has_instances())?;
            Ok(Box::new(Pix2pixhdFamily::new(
                config,
                options,
                load_vgg(config, device)?,
                device,
                &mut rng,
            )?))
        }
    }
}

/// How a run got to the weights in a bundle: enough to repeat it.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub command: Option<String>,
    pub device: String,
    /// Iterations completed.
    pub iteration: u64,
    /// Training time, summed over resumed sessions.
    pub elapsed_s: f64,
    /// Pairs held out for validation (never trained on).
    pub held_out: Vec<String>,
    /// FID/KID evaluations so far (`eval_every`), oldest first.
    pub evaluations: Vec<super::evaluation::EvalRecord>,
    /// Real photos against real photos at the held-out count (with `eval_every`).
    pub real_reference: Option<super::evaluation::RealReference>,
    /// The training photos' colours random styles take (SPADE VAE models), written beside the
    /// weights as `style_colours.json`.
    pub style_colours: Option<std::sync::Arc<StyleColours>>,
}

/// For a model with styles (SPADE with `use_vae`), the colours of `dataset`'s photos (its
/// training pairs, once the held-out ones are taken out). Photos that cannot be read are left
/// out: training reports those pairs when it meets them.
pub fn training_style_colours(
    family: &dyn Family,
    dataset: &Dataset,
) -> Result<Option<StyleColours>> {
    if family.generator_options()["use_vae"].as_bool() != Some(true) {
        return Ok(None);
    }
    StyleColours::of_photos(dataset.photos()).map(|(bank, _unreadable)| Some(bank))
}

/// Writes `RUN_DIR/model/` in the bundle format of `nets::bundle` (docs/bundle.md):
/// `model.json` (format_version 1, net, options, palette, input_encoding, training record),
/// `generator.safetensors` (the weight average when the run keeps one), for SPADE VAE models
/// `encoder.safetensors`, and `discriminator.safetensors` (to seed a later run).
pub fn write_bundle(
    run_dir: &Path,
    family: &dyn Family,
    config: &TrainConfig,
    dataset: &Dataset,
    run: &RunRecord,
) -> Result<PathBuf> {
    write_bundle_to(run_dir.join("model"), family, (config, dataset, run), true)
}

/// The folder of [`write_current_bundle`].
pub const CURRENT_DIR: &str = "current";

/// For a run that averages its generator: `RUN_DIR/current/`, a bundle of the current
/// (not averaged) weights, so an evaluation can score both. `None` for a run without an
/// average, whose `model/` already holds its current weights.
pub fn write_current_bundle(
    run_dir: &Path,
    family: &dyn Family,
    config: &TrainConfig,
    dataset: &Dataset,
    run: &RunRecord,
) -> Result<Option<PathBuf>> {
    let networks = family.networks();
    if super::average::average_of("G.", &networks).is_none() {
        return Ok(None);
    }
    let dir = run_dir.join(CURRENT_DIR);
    write_bundle_to(dir, family, (config, dataset, run), false).map(Some)
}

/// The bundle of `family` in `dir`; `average`: ship the weight average where one is kept.
fn write_bundle_to(
    dir: PathBuf,
    family: &dyn Family,
    (config, dataset, run): (&TrainConfig, &Dataset, &RunRecord),
    average: bool,
) -> Result<PathBuf> {
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let options = family.generator_options();
    let one_hot = |instance_edges: bool| InputEncoding::OneHot {
        labels: dataset.label_channels,
        instance_edges,
    };
    let (net, input_encoding) = match config.net {
        NetFamily::Spade => (
            NetKind::Spade,
            one_hot(!options["no_instance"].as_bool().unwrap_or(true)),
        ),
        NetFamily::Pix2pix => (NetKind::Pix2pixUnet, InputEncoding::ColourImage),
        NetFamily::Pix2pixhd => (
            if options.get("n_local_enhancers").is_some() {
                NetKind::Pix2pixhdLocal
            } else {
                NetKind::Pix2pixhdGlobal
            },
            // The generator's input has the boundary channel after the one-hot classes.
            one_hot(
                options["input_nc"].as_u64() == Some(dataset.label_channels.channels as u64 + 1),
            ),
        ),
    };
    let measured_average = match average {
        true => {
            family.measured_average(&mut StandingBatches::new(dataset, config, run.iteration))?
        }
        false => Vec::new(),
    };
    let networks = family.networks();
    for &(prefix, varmap) in &networks {
        let file = match prefix {
            "G." => GENERATOR_FILE,
            "E." => ENCODER_FILE,
            "D." => DISCRIMINATOR_FILE,
            _ => continue,
        };
        // A run that averages its generator ships the average (unless asked for the current
        // weights).
        let varmap = measured_average
            .iter()
            .find(|(p, _)| *p == prefix)
            .map_or(varmap, |(_, average)| average);
        let tensors = checkpoint::varmap_tensors(varmap, "")?;
        let path = dir.join(file);
        crate::atomic_file::write_atomic(&path, |tmp| {
            candle_core::safetensors::save(&tensors, tmp)
                .map_err(|e| Error::msg(format!("{}: {e}", tmp.display())))
        })?;
    }
    let mut training = json!({
        "preset": config.preset,
        "dataset": dataset.root.display().to_string(),
        "layout": dataset.layout,
        "label_encoding": dataset.label_channels,
        "command": run.command,
        "device": run.device,
        "iterations": run.iteration,
        "seed": config.seed,
        "elapsed_s": (run.elapsed_s * 10.0).round() / 10.0,
        "training_pairs": dataset.len(),
        "held_out": run.held_out,
        "config": config,
    });
    if !run.evaluations.is_empty() {
        training["evaluations"] = json!(run.evaluations);
        training["best_fid"] = json!(super::evaluation::best(&run.evaluations));
    }
    if let Some(reference) = run.real_reference {
        training["real_reference"] = json!(reference);
    }
    let manifest = ModelManifest {
        format_version: FORMAT_VERSION,
        net,
        options,
        palette: PaletteRef::inline(&dataset.palette)?,
        input_encoding,
        training,
    };
    match &run.style_colours {
        Some(bank) => bank.write(&dir)?,
        None => remove_stale(&dir.join(STYLE_COLOURS_FILE))?,
    }
    manifest.write(&dir)?;
    Ok(dir)
}

/// Removes a file an earlier bundle in the same folder left (absent is fine).
fn remove_stale(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path, e)),
        _ => Ok(()),
    }
}

//! Importing checkpoints saved by the published repositories (SPADE, pix2pixHD,
//! pytorch-CycleGAN-and-pix2pix): their option files (`opt.txt` / `train_opt.txt`, written by
//! each repo's `BaseOptions`, or the same values as JSON), the network and palette those
//! options imply, and [`bundle_checkpoint`], which turns `latest_net_G.pth` plus its options
//! into a model bundle. The CLI's `bundle` and the painter's "Import .pth…" both call this.
use std::path::{Path, PathBuf};

use candle_core::Device;

use super::bundle::{
    to_json, write_bundle, Generator, ModelManifest, NetKind, PaletteRef, FORMAT_VERSION,
};
use super::encoding::{InputEncoding, LabelChannels};
use super::generator::parse_options;
use super::spade_options::SpadeOptions;
use super::{pix2pix, pix2pixhd, weights};
use crate::{Error, Result};

/// Option file names the published repos write beside their checkpoints, in search order.
pub const OPTION_FILE_NAMES: [&str; 4] = ["opt.txt", "train_opt.txt", "opt.json", "options.json"];

/// The option file next to `checkpoint`, if the repo left one there.
pub fn options_beside(checkpoint: &Path) -> Option<PathBuf> {
    let dir = checkpoint.parent()?;
    OPTION_FILE_NAMES
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
}

/// Reads published options: a JSON object, or an `opt.txt` as the repos print it.
pub fn read_options(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    if text.trim_start().starts_with('{') {
        return serde_json::from_str(&text)
            .map_err(|e| Error::msg(format!("{}: invalid JSON: {e}", path.display())));
    }
    parse_opt_txt(&text).map_err(|e| Error::msg(format!("{}: {e}", path.display())))
}

/// Parses `opt.txt`: one `name: value` per line (SPADE and pix2pix pad the name and append
/// `[default: ...]` when the value differs), between dashed header and footer lines.
/// Values become JSON booleans, numbers, null (`None`) or strings.
pub fn parse_opt_txt(text: &str) -> Result<serde_json::Value> {
    let mut options = serde_json::Map::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with("---") {
            continue;
        }
        let Some((name, rest)) = line.split_once(':') else {
            return Err(Error::msg(format!(
                "line {}: expected `name: value`, found `{line}`",
                number + 1
            )));
        };
        let value = rest.split("[default:").next().unwrap_or("").trim();
        options.insert(name.trim().to_string(), opt_value(value));
    }
    if options.is_empty() {
        return Err(Error::msg("no `name: value` lines: not an opt.txt"));
    }
    Ok(serde_json::Value::Object(options))
}

fn opt_value(text: &str) -> serde_json::Value {
    match text {
        "True" => true.into(),
        "False" => false.into(),
        "None" => serde_json::Value::Null,
        _ => text
            .parse::<i64>()
            .map(Into::into)
            .or_else(|_| text.parse::<f64>().map(Into::into))
            .unwrap_or_else(|_| text.into()),
    }
}

/// The generator family the options describe (`netG`: spade, global, local, unet_*).
pub fn net_from_options(options: &serde_json::Value) -> Option<NetKind> {
    match options.get("netG")?.as_str()? {
        "spade" => Some(NetKind::Spade),
        "global" => Some(NetKind::Pix2pixhdGlobal),
        "local" => Some(NetKind::Pix2pixhdLocal),
        name if name.starts_with("unet") => Some(NetKind::Pix2pixUnet),
        _ => None,
    }
}

/// The built-in palette of the dataset the options name (`dataset_mode`, else `dataroot`).
pub fn palette_from_options(options: &serde_json::Value) -> Option<&'static str> {
    let text = |key: &str| options.get(key).and_then(|v| v.as_str()).unwrap_or("");
    let mode = text("dataset_mode");
    let root = text("dataroot").to_ascii_lowercase();
    [
        ("ade20k", "ade20k"),
        ("coco", "coco-stuff"),
        ("cityscapes", "cityscapes"),
    ]
    .into_iter()
    .find(|(key, _)| mode == *key || root.contains(key))
    .map(|(_, palette)| palette)
}

/// Resolves published option files (`opt.txt` values as JSON) into our option struct and the
/// input encoding: pix2pix's `netG` (`unet_128`/`unet_256`) and `no_dropout`, pix2pixHD's
/// `label_nc` (0 = RGB input) and `no_instance`.
pub fn resolve_options(
    net: NetKind,
    raw: &serde_json::Value,
) -> Result<(serde_json::Value, InputEncoding)> {
    let mut options = raw.clone();
    let object = options
        .as_object_mut()
        .ok_or_else(|| Error::msg("options must be a JSON object"))?;
    match net {
        NetKind::Pix2pixUnet => {
            if !object.contains_key("num_downs") {
                let downs = match object.get("netG").and_then(|v| v.as_str()) {
                    Some("unet_128") => 7,
                    Some("unet_256") | None => 8,
                    Some(other) => {
                        return Err(Error::msg(format!(
                            "pix2pix netG `{other}` is not ported (unet_128, unet_256 are)"
                        )))
                    }
                };
                object.insert("num_downs".into(), downs.into());
            }
            if let Some(no_dropout) = object.get("no_dropout").and_then(|v| v.as_bool()) {
                object.insert("use_dropout".into(), (!no_dropout).into());
            }
            let opts: pix2pix::UnetOptions = parse_options(&options, "pix2pix_unet")?;
            if opts.input_nc != 3 {
                return Err(Error::msg(format!(
                    "pix2pix bundles take the colour label image: input_nc must be 3, found {}",
                    opts.input_nc
                )));
            }
            Ok((to_json(&opts)?, InputEncoding::ColourImage))
        }
        NetKind::Pix2pixhdGlobal | NetKind::Pix2pixhdLocal => {
            let label_nc = object
                .get("label_nc")
                .and_then(|v| v.as_u64())
                .unwrap_or(35) as usize;
            let no_instance = object
                .get("no_instance")
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            let encoding = if label_nc == 0 {
                InputEncoding::ColourImage
            } else {
                InputEncoding::one_hot(label_nc, !no_instance)
            };
            object.insert("input_nc".into(), encoding.channels().into());
            let json = if net == NetKind::Pix2pixhdGlobal {
                to_json(&parse_options::<pix2pixhd::GlobalOptions>(
                    &options,
                    "pix2pixhd_global",
                )?)?
            } else {
                to_json(&parse_options::<pix2pixhd::LocalOptions>(
                    &options,
                    "pix2pixhd_local",
                )?)?
            };
            Ok((json, encoding))
        }
        NetKind::Spade => {
            let spade = SpadeOptions::from_json(&options)?;
            let (dontcare_id, shift_down) = published_id_mapping(raw, spade.contain_dontcare_label);
            let encoding = InputEncoding::OneHot {
                labels: LabelChannels {
                    channels: spade.label_nc + usize::from(spade.contain_dontcare_label),
                    dontcare_id,
                    shift_down,
                },
                instance_edges: !spade.no_instance,
            };
            Ok((to_json(&spade)?, encoding))
        }
    }
}

/// The published SPADE data loaders' id mapping, from `dataset_mode`: ADE20K moves ids down
/// by one with 0 unlabeled, COCO-Stuff marks 255 unlabeled; others use ids as channels.
fn published_id_mapping(raw: &serde_json::Value, dontcare: bool) -> (Option<u16>, bool) {
    match raw.get("dataset_mode").and_then(|v| v.as_str()) {
        Some("ade20k") if dontcare => (Some(0), true),
        Some("ade20k") => (None, true),
        Some("coco") if dontcare => (Some(255), false),
        _ => (None, false),
    }
}

/// The VAE encoder SPADE saves beside a generator: `latest_net_E.pth` for `latest_net_G.pth`.
pub fn encoder_beside(checkpoint: &Path) -> Option<PathBuf> {
    let name = checkpoint.file_name()?.to_str()?;
    let encoder = checkpoint.with_file_name(name.replace("_net_G.", "_net_E."));
    (encoder != checkpoint && encoder.is_file()).then_some(encoder)
}

/// Builds a bundle in `out` from a published generator checkpoint (`.pth` or `.safetensors`)
/// and, for SPADE VAE models, its style encoder (`latest_net_E.pth`): the weights are checked
/// against the networks `options` describe, then written unchanged.
pub fn bundle_checkpoint(
    checkpoint: &Path,
    encoder: Option<&Path>,
    net: NetKind,
    raw_options: &serde_json::Value,
    palette: PaletteRef,
    out: &Path,
) -> Result<ModelManifest> {
    let (options, input_encoding) = resolve_options(net, raw_options)?;
    let tensors = weights::read_tensors(checkpoint)?;
    let generator =
        Generator::from_tensors(net, &options, checkpoint, tensors.clone(), &Device::Cpu)?;
    let encoder_tensors = match (encoder, generator.spade_options()) {
        (None, _) => None,
        (Some(path), Some(spade)) if spade.use_vae => {
            let encoder_tensors = weights::read_tensors(path)?;
            weights::load_from_tensors(path, encoder_tensors.clone(), &Device::Cpu, |vb| {
                super::spade_encoder::ConvEncoder::new(spade, vb)
            })?;
            Some(encoder_tensors)
        }
        (Some(path), _) => {
            return Err(Error::msg(format!(
                "{}: a style encoder needs a SPADE generator with use_vae; {} has none",
                path.display(),
                checkpoint.display()
            )))
        }
    };
    let source = checkpoint
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let manifest = ModelManifest {
        format_version: FORMAT_VERSION,
        net,
        options,
        palette,
        input_encoding,
        training: serde_json::json!({
            "source": source,
            "converted_by": "scenepaint bundle",
            "published_options": raw_options,
        }),
    };
    write_bundle(out, &manifest, &tensors)?;
    if let Some(encoder_tensors) = encoder_tensors {
        let path = out.join(super::bundle::ENCODER_FILE);
        candle_core::safetensors::save(&encoder_tensors, &path).map_err(|e| Error::Weights {
            path: path.clone(),
            message: e.to_string(),
        })?;
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout SPADE's and pix2pix's `BaseOptions.print_options` write.
    const SPADE_OPT_TXT: &str = "----------------- Options ---------------
               aspect_ratio: 1.0                           
                  batchSize: 1                             
     contain_dontcare_label: True                          	[default: False]
                   dataroot: ./datasets/ADEChallengeData2016/	[default: ./datasets/cityscapes/]
               dataset_mode: ade20k                        	[default: coco]
                   label_nc: 150                           	[default: 182]
                       netG: spade                         
                        ngf: 64                            
                     norm_G: spectralspadesyncbatch3x3     
                     use_vae: False                         
                   which_epoch: latest                        
                    gpu_ids: 0                             
                   load_from_opt_file: None
----------------- End -------------------
";

    #[test]
    fn opt_txt_values_become_typed_json_without_their_defaults() {
        let options = parse_opt_txt(SPADE_OPT_TXT).unwrap();
        assert_eq!(options["aspect_ratio"], 1.0);
        assert_eq!(options["label_nc"], 150);
        assert_eq!(options["contain_dontcare_label"], true);
        assert_eq!(options["use_vae"], false);
        assert_eq!(options["dataroot"], "./datasets/ADEChallengeData2016/");
        assert_eq!(options["norm_G"], "spectralspadesyncbatch3x3");
        assert!(options["load_from_opt_file"].is_null());
        assert_eq!(net_from_options(&options), Some(NetKind::Spade));
        assert_eq!(palette_from_options(&options), Some("ade20k"));
        let spade = SpadeOptions::from_json(&options).unwrap();
        assert_eq!((spade.label_nc, spade.ngf), (150, 64));
    }

    #[test]
    fn pix2pixhd_and_pix2pix_option_files_name_their_network() {
        let hd = parse_opt_txt(
            "------------ Options -------------\nnetG: local\nngf: 32\n\
             dataroot: ./datasets/cityscapes/\nlabel_nc: 35\n-------------- End ----------------\n",
        )
        .unwrap();
        assert_eq!(net_from_options(&hd), Some(NetKind::Pix2pixhdLocal));
        assert_eq!(palette_from_options(&hd), Some("cityscapes"));
        let unet = parse_opt_txt("netG: unet_256\ndataroot: ./datasets/facades\n").unwrap();
        assert_eq!(net_from_options(&unet), Some(NetKind::Pix2pixUnet));
        assert_eq!(palette_from_options(&unet), None);
    }

    #[test]
    fn a_file_without_options_is_an_error_naming_the_line() {
        let error = parse_opt_txt("hello world\n").unwrap_err().to_string();
        assert!(error.contains("line 1"), "{error}");
        assert!(parse_opt_txt("---\n\n").is_err());
    }
}

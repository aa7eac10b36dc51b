//! Runs the reference cases of `../shared/reference` (see its README): each case names a
//! published network (`net`), its options, a PyTorch `state_dict` and input/output tensors.
//! [`run_case`] builds our port from the case's options, loads the weights by their PyTorch
//! names, runs the inputs and pairs every output with the reference.
//!
//! A family adds its cases with one arm in [`runner_for`] (the runners: `spade_cases.rs`,
//! `pix2pix_cases.rs`, `spectral_case.rs`). Generator cases run twice, on the
//! Candle network and on the fast CPU path (`nets::fast`); both must match the reference.
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::bundle::Generator;
use super::fast::FastGenerator;
use super::weights;

mod pix2pix_cases;
pub mod spade_cases;
mod spectral_case;
use crate::{Error, Result};

/// One `NAME.json` case file.
#[derive(Debug, Clone, Deserialize)]
pub struct ReferenceCase {
    pub case: String,
    pub net: String,
    #[serde(default)]
    pub options: serde_json::Value,
    #[serde(default)]
    pub mode: String,
    #[serde(default)]
    pub weights: Option<String>,
    #[serde(default)]
    pub weights_pth: Option<String>,
    pub inputs: BTreeMap<String, Vec<usize>>,
    pub outputs: BTreeMap<String, Vec<usize>>,
    pub tolerance_rel_l2: f64,
    #[serde(default)]
    pub notes: String,
}

/// What a case runner sees: the case, its input tensors (without the `input.` prefix).
pub struct CaseContext<'a> {
    pub dir: &'a Path,
    pub case: &'a ReferenceCase,
    pub inputs: HashMap<String, Tensor>,
    pub device: Device,
}

impl CaseContext<'_> {
    /// The case's `options` as a network's option struct (unknown keys are ignored).
    pub fn options<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(self.case.options.clone()).map_err(|e| {
            Error::msg(format!(
                "case {}: options do not fit {}: {e}",
                self.case.case,
                std::any::type_name::<T>()
            ))
        })
    }

    pub fn input(&self, name: &str) -> Result<&Tensor> {
        self.inputs.get(name).ok_or_else(|| {
            Error::msg(format!(
                "case {}: no tensor `input.{name}` in its io file",
                self.case.case
            ))
        })
    }

    /// Builds a network from `weights` (required for this case).
    pub fn load<T>(
        &self,
        weights: Option<&Path>,
        build: impl Fn(candle_nn::VarBuilder) -> candle_core::Result<T>,
    ) -> Result<T> {
        let path = weights
            .ok_or_else(|| Error::msg(format!("case {}: needs a weights file", self.case.case)))?;
        weights::load_checked(path, &self.device, build)
    }
}

/// Computes our outputs (by output name) for a case, from the given weights file.
pub type CaseRunner = fn(&CaseContext, Option<&Path>) -> Result<Vec<(String, Tensor)>>;

/// The runner for a case's `net`, or `None` for a net this library does not port.
pub fn runner_for(net: &str) -> Option<CaseRunner> {
    Some(match net {
        "pix2pix_unet_generator" => pix2pix_cases::run_pix2pix_unet,
        "pix2pix_patchgan_discriminator" => pix2pix_cases::run_pix2pix_patchgan,
        "pix2pixhd_global_generator" => pix2pix_cases::run_pix2pixhd_global,
        "pix2pixhd_local_enhancer" => pix2pix_cases::run_pix2pixhd_local,
        "pix2pixhd_multiscale_discriminator" => pix2pix_cases::run_pix2pixhd_multiscale,
        "spectral_norm_conv_train" => spectral_case::run_spectral_norm_train_step,
        "spade_losses" => run_spade_losses,
        net if spade_cases::SPADE_CASE_NETS.contains(&net) => run_spade,
        _ => return None,
    })
}

/// The SPADE family's cases (generator, encoder, discriminator, semantic input).
fn run_spade(ctx: &CaseContext, weights: Option<&Path>) -> Result<Vec<(String, Tensor)>> {
    let tensors = weights.map(weights::read_tensors).transpose()?;
    let vb = tensors.map(|t| candle_nn::VarBuilder::from_tensors(t, DType::F32, &ctx.device));
    let net = &ctx.case.net;
    spade_cases::run_spade_case(net, &ctx.case.options, vb, &ctx.inputs)?.ok_or_else(|| {
        Error::msg(format!(
            "case {}: SPADE has no runner for `{net}`",
            ctx.case.case
        ))
    })
}

/// The case's `gan_mode` as SPADE's options name it (`hinge` when absent).
fn published_gan_mode(ctx: &CaseContext) -> Result<crate::train::losses::GanMode> {
    use crate::train::losses::GanMode;
    match ctx.case.options["gan_mode"].as_str().unwrap_or("hinge") {
        "hinge" => Ok(GanMode::Hinge),
        "ls" => Ok(GanMode::LeastSquares),
        "original" => Ok(GanMode::Vanilla),
        other => Err(Error::msg(format!(
            "case {}: gan_mode `{other}` is not supported (expected hinge, ls or original)",
            ctx.case.case
        ))),
    }
}

/// One SPADE training step's losses (weights prefixed `G.`, `E.`, `D.`), all nets in eval mode.
fn run_spade_losses(ctx: &CaseContext, weights: Option<&Path>) -> Result<Vec<(String, Tensor)>> {
    let path = weights
        .ok_or_else(|| Error::msg(format!("case {}: needs a weights file", ctx.case.case)))?;
    let tensors = weights::read_tensors(path)?;
    let mut outputs = spade_losses_with(
        ctx,
        candle_nn::VarBuilder::from_tensors(tensors.clone(), DType::F32, &ctx.device),
    )?;
    if ctx.device.is_cpu() {
        // As training holds them: the weights as variables, so every convolution runs on the
        // fast training op (`nets::fast::train_conv`).
        let varmap = candle_nn::VarMap::new();
        {
            let mut data = varmap
                .data()
                .lock()
                .map_err(|_| Error::msg("spade_losses: variable map lock poisoned"))?;
            for (name, tensor) in tensors {
                data.insert(
                    name,
                    candle_core::Var::from_tensor(&tensor.to_device(&ctx.device)?)?,
                );
            }
        }
        let vb = candle_nn::VarBuilder::from_varmap(&varmap, DType::F32, &ctx.device);
        let fast = spade_losses_with(ctx, vb)?
            .into_iter()
            .map(|(name, t)| (format!("{name}{FAST_PATH_SUFFIX}"), t));
        outputs.extend(fast);
    }
    Ok(outputs)
}

fn spade_losses_with(
    ctx: &CaseContext,
    vb: candle_nn::VarBuilder,
) -> Result<Vec<(String, Tensor)>> {
    let options = super::spade_options::SpadeOptions::from_json(&ctx.case.options)?;
    let lambda = |name: &str, default: f64| ctx.case.options[name].as_f64().unwrap_or(default);
    let mut nets =
        crate::train::spade_family::SpadeNets::new(&options, vb.pp("G"), vb.pp("E"), vb.pp("D"))?;
    nets.gan_mode = published_gan_mode(ctx)?;
    let step = nets.losses(
        ctx.input("seg")?,
        ctx.input("real_image")?,
        ctx.inputs.get("eps"),
        lambda("lambda_feat", 10.0),
        lambda("lambda_kld", 0.05),
        false,
    )?;
    // The case stores each scalar loss as a one-element vector.
    let as_vector = |t: Tensor| t.reshape(1);
    let optional = [
        ("g_feat", step.g_feat.map(as_vector).transpose()?),
        ("kld", step.kld.map(as_vector).transpose()?),
        ("mu", step.mu),
        ("logvar", step.logvar),
    ];
    let mut outputs = vec![
        ("fake_image".to_string(), step.fake_image),
        ("g_gan".to_string(), as_vector(step.g_gan)?),
        ("d_fake".to_string(), as_vector(step.d_fake)?),
        ("d_real".to_string(), as_vector(step.d_real)?),
    ];
    outputs.extend(
        optional
            .into_iter()
            .filter_map(|(name, t)| t.map(|t| (name.to_string(), t))),
    );
    Ok(outputs)
}

/// Names multiscale discriminator outputs as the cases do: `features.d{i}.f{j}`.
pub fn feature_outputs(features: Vec<Vec<Tensor>>) -> Vec<(String, Tensor)> {
    features
        .into_iter()
        .enumerate()
        .flat_map(|(i, layers)| {
            layers
                .into_iter()
                .enumerate()
                .map(move |(j, t)| (format!("features.d{i}.f{j}"), t))
        })
        .collect()
}

/// What an output computed on the fast CPU path appends to the output's name.
pub const FAST_PATH_SUFFIX: &str = "@fast";

/// A generator's eval forward on the Candle network (`image`) and on the fast CPU path
/// (`image@fast`).
pub fn generator_outputs(
    generator: Generator,
    input: &Tensor,
    z: Option<&Tensor>,
) -> Result<Vec<(String, Tensor)>> {
    let mut outputs = vec![("image".into(), generator.forward(input, z)?)];
    if input.device().is_cpu() {
        let fast = FastGenerator::from_generator(&generator)?.forward(input, z)?;
        outputs.push((format!("image{FAST_PATH_SUFFIX}"), fast));
    }
    Ok(outputs)
}

/// One output of ours next to the tensor it must match.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub output: String,
    pub ours: Tensor,
    pub reference: Tensor,
    pub tolerance_rel_l2: f64,
}

impl Comparison {
    /// `||ours - reference|| / ||reference||` (the plain distance when the reference is zero).
    pub fn rel_l2(&self) -> Result<f64> {
        let ours = self.ours.to_dtype(candle_core::DType::F64)?;
        let reference = self.reference.to_dtype(candle_core::DType::F64)?;
        let diff = (ours - &reference)?
            .sqr()?
            .sum_all()?
            .sqrt()?
            .to_scalar::<f64>()?;
        let norm = reference.sqr()?.sum_all()?.sqrt()?.to_scalar::<f64>()?;
        Ok(if norm > 0.0 { diff / norm } else { diff })
    }

    pub fn passes(&self) -> Result<bool> {
        Ok(self.rel_l2()? <= self.tolerance_rel_l2)
    }
}

pub fn load_case(path: &Path) -> Result<ReferenceCase> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::Json {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Every case file in `dir`: those `MANIFEST.json` lists (each must exist) plus any other
/// `*.json` file, sorted by name.
pub fn list_cases(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut cases = std::collections::BTreeSet::new();
    let manifest = dir.join("MANIFEST.json");
    if manifest.exists() {
        let text = std::fs::read_to_string(&manifest).map_err(|e| Error::io(&manifest, e))?;
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Json {
            path: manifest.clone(),
            message: e.to_string(),
        })?;
        for name in value["cases"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
        {
            let path = dir.join(format!("{name}.json"));
            if !path.exists() {
                return Err(Error::msg(format!(
                    "{}: lists case `{name}` but {} is missing",
                    manifest.display(),
                    path.display()
                )));
            }
            cases.insert(path);
        }
    }
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let is_json = path.extension().is_some_and(|e| e == "json");
        if is_json && path.file_name().is_some_and(|n| n != "MANIFEST.json") {
            cases.insert(path);
        }
    }
    Ok(cases.into_iter().collect())
}

/// Runs the case in `case_path` (its io file is `<stem>.io.safetensors` beside it) and pairs
/// each declared output with the reference. With a `.pth` checkpoint too, the `.pth` outputs are
/// compared with the safetensors ones at tolerance 0 (they must be identical).
pub fn run_case(case_path: &Path, case: &ReferenceCase) -> Result<Vec<Comparison>> {
    run_case_on(case_path, case, &Device::Cpu)
}

/// [`run_case`] with the network, its weights and inputs on `device` (the fast CPU path's
/// extra comparisons only run on the CPU).
pub fn run_case_on(
    case_path: &Path,
    case: &ReferenceCase,
    device: &Device,
) -> Result<Vec<Comparison>> {
    let runner = runner_for(&case.net).ok_or_else(|| {
        Error::msg(format!(
            "{}: unknown net `{}`: no port in this library",
            case_path.display(),
            case.net
        ))
    })?;
    // Networks run in eval mode (batch norm on running statistics, no dropout); a case
    // recorded in training mode would be compared against the wrong computation.
    if case.mode != "eval" && case.net != "spectral_norm_conv_train" {
        return Err(Error::msg(format!(
            "{}: mode `{}` is not supported for `{}` (the ported networks are checked in eval mode)",
            case_path.display(),
            case.mode,
            case.net
        )));
    }
    let dir = case_path.parent().unwrap_or(Path::new("."));
    let stem = case_path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(&case.case);
    let io_path = dir.join(format!("{stem}.io.safetensors"));
    let mut io = weights::read_tensors(&io_path)?;
    let inputs = io
        .iter()
        .filter_map(|(k, t)| {
            k.strip_prefix("input.")
                .map(|n| Ok((n.to_string(), t.to_device(device)?)))
        })
        .collect::<Result<_>>()?;
    let ctx = CaseContext {
        dir,
        case,
        inputs,
        device: device.clone(),
    };
    let ours: HashMap<String, Tensor> =
        runner(&ctx, case.weights.as_ref().map(|w| dir.join(w)).as_deref())?
            .into_iter()
            .map(|(k, t)| Ok((k, t.to_device(&Device::Cpu)?)))
            .collect::<Result<_>>()?;
    let mut comparisons = Vec::new();
    for (name, shape) in &case.outputs {
        let mine = declared_output(&ours, name, shape, case_path)?;
        let reference = io.remove(&format!("output.{name}")).ok_or_else(|| {
            Error::msg(format!("{}: no tensor `output.{name}`", io_path.display()))
        })?;
        let fast_name = format!("{name}{FAST_PATH_SUFFIX}");
        if ours.contains_key(&fast_name) {
            comparisons.push(Comparison {
                output: format!("{name} (fast CPU path)"),
                ours: declared_output(&ours, &fast_name, shape, case_path)?,
                reference: reference.clone(),
                tolerance_rel_l2: case.tolerance_rel_l2,
            });
        }
        comparisons.push(Comparison {
            output: name.clone(),
            ours: mine,
            reference,
            tolerance_rel_l2: case.tolerance_rel_l2,
        });
    }
    if let Some(pth) = &case.weights_pth {
        let from_pth: HashMap<String, Tensor> = runner(&ctx, Some(&dir.join(pth)))?
            .into_iter()
            .map(|(k, t)| Ok((k, t.to_device(&Device::Cpu)?)))
            .collect::<Result<_>>()?;
        for (name, shape) in &case.outputs {
            comparisons.push(Comparison {
                output: format!("{name} (.pth vs .safetensors)"),
                ours: declared_output(&from_pth, name, shape, case_path)?,
                reference: declared_output(&ours, name, shape, case_path)?,
                tolerance_rel_l2: 0.0,
            });
        }
    }
    Ok(comparisons)
}

fn declared_output(
    ours: &HashMap<String, Tensor>,
    name: &str,
    shape: &[usize],
    case_path: &Path,
) -> Result<Tensor> {
    let tensor = ours.get(name).ok_or_else(|| {
        Error::msg(format!(
            "{}: our port produced no output `{name}`",
            case_path.display()
        ))
    })?;
    if tensor.dims() != shape {
        return Err(Error::msg(format!(
            "{}: output `{name}` has shape {:?}, expected {shape:?}",
            case_path.display(),
            tensor.dims()
        )));
    }
    Ok(tensor.clone())
}
